#!/usr/bin/env bash
# Stops what scripts/kube-up.sh DIR started, by the pids it wrote: kubelet first (so it
# unmounts nothing it no longer tracks), then containerd's containers, then the control plane.
# Usage: scripts/kube-down.sh DIR
set -uo pipefail
dir=$(realpath -m "$1")
[ -f "$dir/pids" ] || exit 0
for name in kubelet containerd kube-controller-manager kube-apiserver etcd; do
    pid=$(awk -v n="$name" '$2 == n {print $1}' "$dir/pids")
    [ -n "$pid" ] || continue
    if [ "$name" = containerd ] && [ -S "$dir/containerd/containerd.sock" ]; then
        # Its shims outlive it: kill the pod processes through it first.
        for t in $(ctr --address "$dir/containerd/containerd.sock" -n k8s.io tasks ls -q 2>/dev/null); do
            ctr --address "$dir/containerd/containerd.sock" -n k8s.io tasks kill -s KILL "$t" >/dev/null 2>&1
        done
        sleep 1
    fi
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
done
pkill -KILL -f "containerd-shim.*$dir/containerd" 2>/dev/null
# Mounts kubelet and containerd left under DIR, deepest first.
grep -F " $dir/" /proc/mounts | awk '{print $2}' | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null
done
rm -f "$dir/pids"
