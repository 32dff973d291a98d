#!/usr/bin/env bash
# Benchmark of issue #12 §4 / #14: latency of `GET /v1/dots` (what `dm list` asks) on a
# throw-away single-node cluster while 200 connections sit stalled half-way through a request
# head and 16 commit streams are being sent from the node to slow readers. Prints p50 and p99
# of 200 requests, with and without the load (goal: p99 <= 100 ms under load).
# Usage: bench/api-latency.sh [STREAM_MIB] (size of the commit each stream sends, default 256)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${1:-256}
source bench/lib.sh
bench_start
p1=dmlat$$
pools="$p1"
trap teardown EXIT
api=$(port)
DM_CONFIG=$work/a.cfg "$BIN" cluster init --no-flexvolume --pool "$p1" --pool-file "$work/a.img" \
    --pool-size 2G --state-dir "$work/a" --bind 127.0.0.2 --port "$api" \
    --etcd-client-port "$(port)" --etcd-peer-port "$(port)" --no-docker-plugin >/dev/null 2>&1
A() { DM_CONFIG=$work/a.cfg "$BIN" "$@"; }
A init big >/dev/null
dd if=/dev/urandom of="$(A dot path)/data" bs=1M count="$SIZE" status=none
A commit -m big >/dev/null
commit=$(A log --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
key=$(python3 -c "import tomllib;print(tomllib.load(open('$work/a.cfg','rb'))['remotes']['local']['api_key'])")

python3 - "$api" "$key" "$commit" <<'EOF'
import base64, socket, statistics, sys, threading, time, http.client
port, key, commit = int(sys.argv[1]), sys.argv[2], sys.argv[3]
host = "127.0.0.2"
auth = "Basic " + base64.b64encode(f"admin:{key}".encode()).decode()

def latencies(n=200):
    out = []
    c = http.client.HTTPConnection(host, port, timeout=30)
    for _ in range(n):
        t = time.perf_counter()
        c.request("GET", "/v1/dots", headers={"Authorization": auth})
        r = c.getresponse(); r.read()
        assert r.status == 200, r.status
        out.append((time.perf_counter() - t) * 1000)
    return out

def report(what, xs):
    xs = sorted(xs)
    p50 = statistics.median(xs)
    p99 = xs[int(len(xs) * 0.99) - 1]
    print(f"{what:<44} p50 {p50:7.1f} ms   p99 {p99:7.1f} ms")

report("GET /v1/dots, idle", latencies())

stalled = []
for _ in range(200):
    s = socket.create_connection((host, port))
    s.sendall(b"GET /v1/dots HTTP/1.1\r\nHost: x\r\n")
    stalled.append(s)

stop = threading.Event()
def slow_reader():
    s = socket.create_connection((host, port))
    s.sendall((f"GET /v1/dots/admin/big/branches/master/send?to={commit} HTTP/1.1\r\n"
               f"Host: x\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n").encode())
    while not stop.is_set():
        if not s.recv(256 << 10):
            break
        time.sleep(0.02)
    s.close()
readers = [threading.Thread(target=slow_reader) for _ in range(16)]
for t in readers: t.start()
time.sleep(1)
report("GET /v1/dots, 200 stalled + 16 streams", latencies())
stop.set()
for t in readers: t.join()
for s in stalled: s.close()
EOF
