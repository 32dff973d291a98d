# The floor for any network hop on this machine: `zfs send` -> loopback TCP -> `zfs recv` with
# nothing else (no HTTP, no checksum), copying through user space (copy) or with splice(2)
# (splice). Measured against the raw pipe in docs/benchmarks.md.
# usage: python3 bench/hop.py copy|splice POOL/FS@SNAP POOL/NEWFS
import os, socket, subprocess, sys, threading, fcntl
mode, snap, target = sys.argv[1:4]
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
port = srv.getsockname()[1]
def receiver():
    c, _ = srv.accept()
    p = subprocess.Popen(["zfs", "recv", target], stdin=subprocess.PIPE)
    w = p.stdin.fileno(); fcntl.fcntl(w, 1031, 1 << 20)
    if mode == "splice":
        r2, w2 = os.pipe(); fcntl.fcntl(w2, 1031, 1 << 20)
        while True:
            n = os.splice(c.fileno(), w2, 1 << 20)
            if n == 0: break
            while n:
                n -= os.splice(r2, w, n)
    else:
        while True:
            b = c.recv(1 << 20)
            if not b: break
            p.stdin.write(b)
    p.stdin.close(); p.wait()
t = threading.Thread(target=receiver); t.start()
s = socket.create_connection(("127.0.0.1", port))
send = subprocess.Popen(["zfs", "send", snap], stdout=subprocess.PIPE)
r = send.stdout.fileno(); fcntl.fcntl(r, 1031, 1 << 20)
if mode == "splice":
    while True:
        n = os.splice(r, s.fileno(), 1 << 20)
        if n == 0: break
else:
    while True:
        b = os.read(r, 1 << 20)
        if not b: break
        s.sendall(b)
s.shutdown(socket.SHUT_WR); send.wait(); t.join(); s.close()
