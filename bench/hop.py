# The floor for any network hop on this machine: `zfs send` -> loopback TCP -> `zfs recv` with
# nothing else (no HTTP, no checksum): copying through user space (copy), with splice(2) at both
# ends (splice, what dm does), with the socket itself as zfs's stdout and stdin (direct), or
# direct on the sending end and splice on the receiving one (mixed). Measured against the raw
# pipe in docs/benchmarks.md.
# usage: python3 bench/hop.py copy|splice|direct|mixed POOL/FS@SNAP POOL/NEWFS
import os, socket, subprocess, sys, threading, fcntl
mode, snap, target = sys.argv[1:4]
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
port = srv.getsockname()[1]
def receiver():
    c, _ = srv.accept()
    if mode == "direct":
        subprocess.run(["zfs", "recv", target], stdin=c.fileno(), check=True); c.close(); return
    p = subprocess.Popen(["zfs", "recv", target], stdin=subprocess.PIPE)
    w = p.stdin.fileno(); fcntl.fcntl(w, 1031, 1 << 20)
    if mode in ("splice", "mixed"):
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
if mode in ("direct", "mixed"):
    subprocess.run(["zfs", "send", snap], stdout=s.fileno(), check=True)
    s.shutdown(socket.SHUT_WR); t.join(); s.close(); sys.exit(0)
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
