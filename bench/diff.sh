#!/usr/bin/env bash
# Benchmark of `dm diff` (issue #16): a dot of FILES small files (default 100,000) in 100
# directories, a commit, then 100 files rewritten at the same size, 100 at another size, 50
# added, 50 deleted and 50 renamed, and a second commit. Compares `dm diff A B` with
# `diff -rq` of the same two commits, each mounted as a clone (what `dm diff` reads too).
# Prints both medians (3 runs each, each from cold caches) and their ratio.
# Usage: bench/diff.sh [FILES]
set -euo pipefail
cd "$(dirname "$0")/.."
FILES=${1:-100000}
source bench/lib.sh
bench_start
pool=dmbenchd$$
export DM_CONFIG=$work/config
pools=$pool
trap teardown EXIT
"$BIN" cluster init --no-flexvolume --pool "$pool" --pool-file "$work/pool.img" --pool-size 8G \
    --state-dir "$work/state" --bind 127.0.0.1 --port "$(port)" \
    --etcd-client-port "$(port)" --etcd-peer-port "$(port)" >/dev/null 2>&1
"$BIN" init big >/dev/null
dir=$("$BIN" dot path)
fs=$pool/dmfs/$("$BIN" dot show --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["branches"][0]["filesystem_id"])')

echo "making $FILES files..."
python3 - "$dir" "$FILES" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for d in range(100):
    os.makedirs(f"{root}/d{d:02}", exist_ok=True)
for i in range(n):
    with open(f"{root}/d{i % 100:02}/f{i}", "w") as f:
        f.write(f"file {i} " * 8)
PY
"$BIN" commit -m A >/dev/null
a=$("$BIN" log --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
sleep 1
python3 - "$dir" "$FILES" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
p = lambda i: f"{root}/d{i % 100:02}/f{i}"
for i in range(0, 100):
    old = open(p(i)).read()
    open(p(i), "w").write(old.replace("file", "FILE"))      # same size
for i in range(100, 200):
    open(p(i), "a").write("more")                           # other size
for i in range(n, n + 50):
    open(p(i), "w").write("new")
for i in range(200, 250):
    os.remove(p(i))
for i in range(250, 300):
    os.rename(p(i), p(i) + ".moved")
PY
"$BIN" commit -m B >/dev/null
b=$("$BIN" log --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')

zfs clone -o readonly=on -o mountpoint="$work/ca" "$fs@$a" "$pool/benchca"
zfs clone -o readonly=on -o mountpoint="$work/cb" "$fs@$b" "$pool/benchcb"
zfs mount "$pool/benchca" 2>/dev/null || true
zfs mount "$pool/benchcb" 2>/dev/null || true

: > "$work/dm"; : > "$work/raw"
# Both start cold: the kernel's caches of names and attributes are dropped before each run
# (dm's views are fresh mounts anyway; the clones diff -rq reads would otherwise stay cached).
cold() { sync; echo 3 > /proc/sys/vm/drop_caches; }
for _ in 1 2 3; do
    cold
    t0=$(now); "$BIN" diff "$a" "$b" --json > "$work/dm.json"; t1=$(now)
    echo $((t1 - t0)) >> "$work/dm"
    cold
    t0=$(now); diff -rq "$work/ca" "$work/cb" > "$work/raw.txt" || true; t1=$(now)
    echo $((t1 - t0)) >> "$work/raw"
done
changed=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["changes"]))' "$work/dm.json")
dm_med=$(median < "$work/dm"); raw_med=$(median < "$work/raw")
grep -E "daemon::(diff|tree)" "$work/state/dm.log" | tail -4 || true
echo "files:                   $FILES"
echo "dm diff A B median:      $(ms "$dm_med") ms ($changed changes)"
echo "diff -rq median:         $(ms "$raw_med") ms ($(wc -l < "$work/raw.txt") lines)"
echo "ratio dm / diff -rq:     $(awk -v a="$dm_med" -v b="$raw_med" 'BEGIN {printf "%.2f", a/b}') (goal < 1)"
zfs destroy -f "$pool/benchca" 2>/dev/null || true
zfs destroy -f "$pool/benchcb" 2>/dev/null || true
