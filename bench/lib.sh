# Shared by the bench scripts (sourced): a free port, timing helpers, and tearing down the
# throw-away nodes in $work with pools $pools.
# Starts zfs-fuse and dockerd if needed, builds the release binary and makes a work dir: sets
# $BIN and $work.
bench_start() {
    scripts/services.sh >/dev/null
    cargo build --release --quiet
    BIN=$PWD/target/release/dm
    work=$(mktemp -d /tmp/dmbench.XXXXXX)
}

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ms() { awk -v ns="$1" 'BEGIN {printf "%.1f", ns/1e6}'; }

# Kills every daemon under $work, destroys the pools named in $pools (retrying while FUSE
# mounts drain), removes $work.
teardown() {
    for pid in "$work"/*/dm.pid; do
        [ -f "$pid" ] && kill -9 "$(cat "$pid")" 2>/dev/null || true
    done
    for p in $pools; do
        for _ in $(seq 20); do
            zpool list "$p" >/dev/null 2>&1 || break
            zpool destroy -f "$p" 2>/dev/null || sleep 0.5
        done
    done
    rm -rf "$work"
}
