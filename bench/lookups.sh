#!/usr/bin/env bash
# Benchmark of issue #13 §4: what making files that arrive under a mount readable costs.
#   1. one incremental `dm push` of a small commit into a mounted branch (the far side unmounts
#      it for the stream and mounts it again on confirmation) vs a raw
#      `zfs send -i | zfs recv -F` into a mounted copy (median of ROUNDS each; ratio raw ÷ push)
#   2. dropping cached lookups (`drop_caches` 2, what a receive into a mounted copy does on
#      zfs-fuse) with FILES files' entries cached, and the first `find` over them afterwards
#      vs one with a warm cache (what other programs pay once)
#   3. `dm commit` is unaffected (no receive): not measured here, see bench/bench.sh.
# Usage: bench/lookups.sh [FILES] (default 100000); ROUNDS=N (default 10)
set -euo pipefail
cd "$(dirname "$0")/.."
FILES=${1:-100000}
ROUNDS=${ROUNDS:-10}
source bench/lib.sh
bench_start
p1=dmlA$$; p2=dmlB$$
pools="$p1 $p2"
trap teardown EXIT
init() { # name pool addr
    DM_CONFIG=$work/$1.cfg "$BIN" cluster init --no-flexvolume --pool "$2" --pool-file "$work/$1.img" \
        --pool-size 2G --state-dir "$work/$1" --bind "$3" --port "$(port)" \
        --etcd-client-port "$(port)" --etcd-peer-port "$(port)" --no-docker-plugin >/dev/null 2>&1
}
A() { DM_CONFIG=$work/a.cfg "$BIN" "$@"; }
B() { DM_CONFIG=$work/b.cfg "$BIN" "$@"; }
init a "$p1" 127.0.0.2
init b "$p2" 127.0.0.3
python3 -c "import tomllib;print(tomllib.load(open('$work/b.cfg','rb'))['remotes']['local']['api_key'])" > "$work/b.key"
bport=$(python3 -c "import tomllib;print(tomllib.load(open('$work/b.cfg','rb'))['remotes']['local']['port'])")
A remote add b "admin@127.0.0.3:$bport" --api-key-file "$work/b.key" --insecure >/dev/null

A init small >/dev/null
echo 0 > "$(A dot path)/f"
A commit -m c0 >/dev/null
A push b >/dev/null 2>&1
B dot path small >/dev/null   # mounted on B, as a reader would have it
# The raw pipe's target: a mounted copy of the same commit.
fs=$(A dot show --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["branches"][0]["filesystem_id"])')
c0=$(A log --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
zfs send "$p1/dmfs/$fs@$c0" | zfs recv -u "$p2/raw"
zfs set mountpoint="$work/raw" "$p2/raw"
zfs mount "$p2/raw" 2>/dev/null || true
prev=$c0
: > "$work/t_raw"; : > "$work/t_push"
for i in $(seq "$ROUNDS"); do
    echo "$i" > "$(A dot path)/f"
    A commit -m "c$i" >/dev/null
    cur=$(A log --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
    t0=$(now); zfs send -i "@$prev" "$p1/dmfs/$fs@$cur" | zfs recv -F "$p2/raw"; t1=$(now)
    echo $((t1 - t0)) >> "$work/t_raw"
    t0=$(now); A push b >/dev/null 2>&1; t1=$(now)
    echo $((t1 - t0)) >> "$work/t_push"
    prev=$cur
done
raw=$(median < "$work/t_raw"); push=$(median < "$work/t_push")
echo "incremental push of a small commit into a mounted branch: push $(ms "$push") ms, raw send|recv $(ms "$raw") ms, ratio raw/push $(awk -v r="$raw" -v p="$push" 'BEGIN{printf "%.2f", r/p}')"

# 2: cached lookups.
mkdir -p "$work/files"
python3 - "$work/files" "$FILES" <<'EOF'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    sub = os.path.join(d, str(i % 100))
    os.makedirs(sub, exist_ok=True)
    open(os.path.join(sub, str(i)), "w").close()
EOF
find "$work/files" >/dev/null
t0=$(now); find "$work/files" >/dev/null; t1=$(now); warm=$((t1 - t0))
t0=$(now); echo 2 > /proc/sys/vm/drop_caches; t1=$(now); drop=$((t1 - t0))
t0=$(now); find "$work/files" >/dev/null; t1=$(now); cold=$((t1 - t0))
echo "drop_caches 2 with $FILES entries cached: $(ms "$drop") ms; find over them after: $(ms "$cold") ms (warm: $(ms "$warm") ms)"
