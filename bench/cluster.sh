#!/usr/bin/env bash
# Benchmarks of issue #5, on a throw-away two-node cluster (own pools, state dirs, loopback
# addresses 127.0.0.2 and 127.0.0.3, random ports):
#   1. handoff of 1 MiB of uncommitted data on top of SIZE_MIB committed (default 1024), timed
#      as `dm dot path` on the new node, ÷ a raw full `zfs send | zfs recv` of the committed data
#   2. replication lag: from `dm commit` returning on A to the snapshot existing on B (median of 20)
#   3. request routing: `dm commit` asked of the master vs of another node (forwarded over HTTP)
# Usage: bench/cluster.sh [SIZE_MIB]
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${1:-1024}
source bench/lib.sh
bench_start
p1=dmbA$$; p2=dmbB$$
pools="$p1 $p2"
cleanup() {
    [ -n "${DM_BENCH_LOGS:-}" ] && cp "$work/a/dm.log" "$DM_BENCH_LOGS/a.log" && cp "$work/b/dm.log" "$DM_BENCH_LOGS/b.log"
    teardown
}
trap cleanup EXIT
size=$((SIZE * 3 / 1024 + 2))G
node_args() { # name pool addr
    echo --pool "$2" --pool-file "$work/$1.img" --pool-size "$size" --state-dir "$work/$1" \
        --bind "$3" --port "$(port)" --etcd-client-port "$(port)" --etcd-peer-port "$(port)" \
        --no-docker-plugin
}
A() { DM_CONFIG=$work/a.cfg "$BIN" "$@"; }
B() { DM_CONFIG=$work/b.cfg "$BIN" "$@"; }
# shellcheck disable=SC2046
A cluster init --no-flexvolume $(node_args a "$p1" 127.0.0.2) >/dev/null 2>&1
token=$(awk -F'"' '/api_key/ {print $2}' "$work/a.cfg")
aport=$(awk -F' = ' '/^port/ {print $2}' "$work/a.cfg")
# shellcheck disable=SC2046
B cluster join --no-flexvolume "127.0.0.2:$aport" --token "$token" $(node_args b "$p2" 127.0.0.3) >/dev/null 2>&1

fsid() { "$@" dot show --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["branches"][0]["filesystem_id"])'; }
wait_snap() { until zfs list -H -o name -t snapshot "$1" >/dev/null 2>&1; do sleep 0.005; done; }

# 1. Handoff vs full send.
A init big >/dev/null
dir=$(A dot path)
dd if=/dev/urandom of="$dir/data" bs=1M count="$SIZE" status=none
A commit -m big >/dev/null
fs=$(fsid A)
commit=$(A log --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
wait_snap "$p2/dmfs/$fs@$commit"
dd if=/dev/urandom of="$dir/dirty" bs=1M count=1 status=none
settle() { sync; sleep 10; }  # let zfs-fuse flush the big writes before timing anything
settle
B switch big >/dev/null
t0=$(now); B dot path >/dev/null; t1=$(now)
handoff=$((t1 - t0))
settle
t0=$(now); zfs send "$p1/dmfs/$fs@$commit" | zfs recv "$p1/rawcopy"; t1=$(now)
full=$((t1 - t0))

# 2. Replication lag: poll B's snapshot count right after each `dm commit` returns.
A init lag >/dev/null
ldir=$(A dot path)
lfs=$(fsid A)
count() { zfs list -H -o name -t snapshot -r "$p2/dmfs/$lfs" 2>/dev/null | wc -l; }
: > "$work/lag"
for i in $(seq 20); do
    echo "$i" > "$ldir/f"
    A commit -m "l$i" >/dev/null
    t0=$(now)
    until [ "$(count)" -ge "$i" ]; do sleep 0.002; done
    echo $(( $(now) - t0 )) >> "$work/lag"
done
lag=$(median < "$work/lag")

# 3. Routing: the master (A) vs forwarded from B.
B switch lag >/dev/null
: > "$work/direct"; : > "$work/fwd"
for i in $(seq 10); do
    echo "d$i" > "$ldir/f"
    t0=$(now); A commit -m "d$i" >/dev/null; echo $(( $(now) - t0 )) >> "$work/direct"
    echo "f$i" > "$ldir/f"
    t0=$(now); B commit -m "f$i" >/dev/null; echo $(( $(now) - t0 )) >> "$work/fwd"
done

echo "full send+recv of ${SIZE} MiB: $(ms "$full") ms"
echo "handoff of 1 MiB dirty:   $(ms "$handoff") ms"
echo "handoff ratio:            $(awk -v a="$handoff" -v b="$full" 'BEGIN {printf "%.3f", a/b}') (goal <= 0.1)"
echo "replication lag median:   $(ms "$lag") ms (20 commits)"
echo "commit on master median:  $(ms "$(median < "$work/direct")") ms"
echo "commit via other node:    $(ms "$(median < "$work/fwd")") ms (forwarded over HTTP)"
