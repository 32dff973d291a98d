#!/usr/bin/env bash
# Benchmarks of issue #6, on two throw-away single-node clusters (own pools, state dirs,
# loopback addresses 127.0.0.2 and 127.0.0.3, random ports):
#   1. `dm push` of SIZE_MIB (default 1024) of new data vs a raw `zfs send | zfs recv` pipe of
#      the same commit on the same machine (throughput ratio, goal >= 0.85)
#   2. bytes on the wire between the client and the remote for a push of an unchanged dot,
#      counted by a relay in front of the remote's API (goal <= 4 KiB)
# Usage: bench/remote.sh [SIZE_MIB]; TLS=1 serves both APIs over TLS, where streams are copied
# through the daemons instead of spliced.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${1:-1024}
source bench/lib.sh
bench_start
p1=dmrA$$; p2=dmrB$$
pools="$p1 $p2"
trap teardown EXIT
size=$((SIZE * 4 / 1024 + 2))G
init() { # name pool addr
    DM_CONFIG=$work/$1.cfg "$BIN" cluster init --no-flexvolume --pool "$2" --pool-file "$work/$1.img" \
        --pool-size "$size" --state-dir "$work/$1" --bind "$3" --port "$(port)" \
        --etcd-client-port "$(port)" --etcd-peer-port "$(port)" --no-docker-plugin \
        ${TLS:+--tls} >/dev/null 2>&1
}
A() { DM_CONFIG=$work/a.cfg "$BIN" "$@"; }
init a "$p1" 127.0.0.2
init b "$p2" 127.0.0.3
python3 -c "import tomllib;print(tomllib.load(open('$work/b.cfg','rb'))['remotes']['local']['api_key'])" > "$work/b.key"
bport=$(python3 -c "import tomllib;print(tomllib.load(open('$work/b.cfg','rb'))['remotes']['local']['port'])")
fp=()
if [ -n "${TLS:-}" ]; then
    fp=(--fingerprint "$(python3 -c 'import base64,hashlib,sys
pem = open(sys.argv[1]).read().split("-----")[2]
print("SHA256:" + hashlib.sha256(base64.b64decode(pem)).hexdigest())' "$work/b/tls/cert.pem")")
fi
A remote add b "admin@127.0.0.3:$bport" --api-key-file "$work/b.key" "${fp[@]}" >/dev/null


A init big >/dev/null
dd if=/dev/urandom of="$(A dot path)/data" bs=1M count="$SIZE" status=none
A commit -m big >/dev/null
fs=$(A dot show --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["branches"][0]["filesystem_id"])')
commit=$(A log --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
B() { DM_CONFIG=$work/b.cfg "$BIN" "$@"; }
# Alternate the two, emptying B after each run: a pool gets slower as it fills, so whichever ran
# second would otherwise look slower. Medians of ROUNDS runs each.
ROUNDS=${ROUNDS:-3}
: > "$work/raw"; : > "$work/push"
for _ in $(seq "$ROUNDS"); do
    sync; sleep 5
    t0=$(now); zfs send "$p1/dmfs/$fs@$commit" | zfs recv "$p2/raw"; t1=$(now)
    echo $((t1 - t0)) >> "$work/raw"
    zfs destroy -r "$p2/raw"
    sync; sleep 5
    t0=$(now); A push b >/dev/null 2>&1; t1=$(now)
    echo $((t1 - t0)) >> "$work/push"
    B dot delete -y big >/dev/null
done
raw=$(median < "$work/raw")
push=$(median < "$work/push")
A push b >/dev/null 2>&1

# Bytes between this machine's client and the remote, counted by a relay in front of B's API.
proxy_port=$(port)
cat > "$work/relay.py" <<'PY'
import socket, sys, threading
listen, target, counter = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
total = [0]
lock = threading.Lock()
def pipe(a, b):
    while True:
        try: data = a.recv(65536)
        except OSError: break
        if not data:
            break
        with lock:
            total[0] += len(data)
            open(counter, "w").write(str(total[0]))
        b.sendall(data)
    try: b.shutdown(socket.SHUT_WR)
    except OSError: pass
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.3", listen)); srv.listen(16)
while True:
    c, _ = srv.accept()
    u = socket.create_connection(("127.0.0.3", target))
    threading.Thread(target=pipe, args=(c, u), daemon=True).start()
    threading.Thread(target=pipe, args=(u, c), daemon=True).start()
PY
echo 0 > "$work/relayed"
python3 "$work/relay.py" "$proxy_port" "$bport" "$work/relayed" &
relay=$!
sleep 0.5
A remote add relay "admin@127.0.0.3:$proxy_port" --api-key-file "$work/b.key" "${fp[@]}" >/dev/null
# A history of HISTORY commits, pushed, so the count shows whether it grows with the log.
HISTORY=${HISTORY:-100}
for i in $(seq "$HISTORY"); do
    echo "$i" > "$(A dot path)/n"
    A commit -m "history $i" >/dev/null
done
A push b >/dev/null 2>&1
: > "$work/wire"
for _ in $(seq 5); do
    before=$(cat "$work/relayed"); A push relay >/dev/null; sleep 0.2
    echo $(( $(cat "$work/relayed") - before )) >> "$work/wire"
done
kill "$relay"
wire=$(median < "$work/wire")

echo "raw send|recv of ${SIZE} MiB:   $(ms "$raw") ms (median of $ROUNDS: $(tr '\n' ' ' < "$work/raw"| awk '{for(i=1;i<=NF;i++) printf "%.0f ", $i/1e6}')ms)"
echo "dm push of ${SIZE} MiB:         $(ms "$push") ms (median of $ROUNDS: $(tr '\n' ' ' < "$work/push"| awk '{for(i=1;i<=NF;i++) printf "%.0f ", $i/1e6}')ms)"
echo "throughput ratio (raw/push): $(awk -v a="$raw" -v b="$push" 'BEGIN {printf "%.2f", a/b}') (goal >= 0.85)"
echo "unchanged push on the wire:  ${wire} bytes between client and remote, both ways, with $((HISTORY + 1)) commits (goal <= 4096)"
