#!/usr/bin/env bash
# Benchmarks of issue #3, measured in one run on a throw-away node (own pool, state dir, ports):
#   1. `dm commit` median wall time ÷ raw `zfs snapshot` median (20 runs each, same pool)
#   2. `dm list` median wall time with 1,000 dots
#   3. daemon RSS when idle (before and after the 1,000 dots)
# Usage: bench/bench.sh [DOTS]   (DOTS defaults to 1000)
set -euo pipefail
cd "$(dirname "$0")/.."
DOTS=${1:-1000}
source bench/lib.sh
bench_start
pool=dmbench$$
export DM_CONFIG=$work/config
pools=$pool
trap teardown EXIT
"$BIN" cluster init --no-flexvolume --pool "$pool" --pool-file "$work/pool.img" --pool-size 4G \
    --state-dir "$work/state" --bind 127.0.0.1 --port "$(port)" \
    --etcd-client-port "$(port)" --etcd-peer-port "$(port)" >/dev/null 2>&1

rss() { awk '/VmRSS/ {print $2}' "/proc/$(cat "$work/state/dm.pid")/status"; }

"$BIN" init bench >/dev/null
dir=$("$BIN" dot path)
fs=$pool/dmfs/$("$BIN" dot show --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["branches"][0]["filesystem_id"])')

: > "$work/dm"; : > "$work/raw"
for i in $(seq 20); do
    echo "$i" > "$dir/f"
    t0=$(now); "$BIN" commit -m "c$i" >/dev/null; t1=$(now)
    echo $((t1 - t0)) >> "$work/dm"
    echo "r$i" > "$dir/f"
    t0=$(now); zfs snapshot "$fs@raw$i"; t1=$(now)
    echo $((t1 - t0)) >> "$work/raw"
done
dm_med=$(median < "$work/dm"); raw_med=$(median < "$work/raw")
sleep 3
rss_idle=$(rss)

seq "$DOTS" | xargs -P 4 -I{} "$BIN" init "d{}" >/dev/null || echo "warning: some dm init failed" >&2
"$BIN" list >/dev/null
: > "$work/list"
for _ in $(seq 10); do
    t0=$(now); "$BIN" list >/dev/null; t1=$(now)
    echo $((t1 - t0)) >> "$work/list"
done
list_med=$(median < "$work/list")
sleep 3
rss_after=$(rss)

echo "dm commit median:        $(ms "$dm_med") ms"
echo "zfs snapshot median:     $(ms "$raw_med") ms"
echo "commit ratio:            $(awk -v a="$dm_med" -v b="$raw_med" 'BEGIN {printf "%.2f", a/b}') (goal <= 1.3)"
echo "dm list, $((DOTS + 1)) dots:     $(ms "$list_med") ms (goal <= 50 ms)"
echo "daemon idle RSS:         $((rss_idle / 1024)) MiB (goal <= 30 MiB); after $DOTS dots: $((rss_after / 1024)) MiB"
