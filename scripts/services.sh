#!/usr/bin/env bash
# Installs (when missing) and starts what dm and its tests need: zfs-fuse, etcd, protoc,
# dockerd (with a tiny local/busybox image for the Docker tests), and the tools the tests use
# (ip, nsenter, openssl, pgrep, systemd-analyze, systemd-socket-activate, man).
# Idempotent: safe to run on every test run and on a machine that already has everything.
set -euo pipefail

pkgs=()
command -v zfs-fuse >/dev/null || pkgs+=(zfs-fuse)
command -v etcd >/dev/null || pkgs+=(etcd-server)
command -v etcdctl >/dev/null || pkgs+=(etcd-client)
command -v protoc >/dev/null || pkgs+=(protobuf-compiler)
# The well-known .proto files the CSI protocol imports (build.rs).
[ -f /usr/include/google/protobuf/descriptor.proto ] || pkgs+=(libprotobuf-dev)
command -v dockerd >/dev/null || pkgs+=(docker.io)
[ -x /bin/busybox ] || pkgs+=(busybox-static)
# Used by the tests: network namespaces (partition test), certificates, process lookups.
command -v ip >/dev/null || pkgs+=(iproute2)
command -v nsenter >/dev/null || pkgs+=(util-linux)
command -v openssl >/dev/null || pkgs+=(openssl)
command -v pgrep >/dev/null || pkgs+=(procps)
# The systemd units are checked with systemd-analyze, socket activation with
# systemd-socket-activate; `man` finds the pages the units name.
command -v systemd-analyze >/dev/null || pkgs+=(systemd)
command -v systemd-socket-activate >/dev/null || pkgs+=(systemd)
command -v man >/dev/null || pkgs+=(man-db)
if ((${#pkgs[@]})); then
    echo "services: installing ${pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi

zfs_up() { zpool list >/dev/null 2>&1; }

if ! zfs_up; then
    # A zfs-fuse that died (or was killed with -9) leaves dead FUSE mounts behind; unmount
    # them deepest first and let the old process exit before starting a new one.
    if pgrep -x zfs-fuse >/dev/null; then
        pkill -x zfs-fuse || true
        for _ in $(seq 50); do pgrep -x zfs-fuse >/dev/null || break; sleep 0.2; done
    fi
    awk '$3 == "fuse.zfs" {print $2}' /proc/mounts | sort -r | while read -r m; do
        umount -l "$m" || true
    done
    echo "services: starting zfs-fuse"
    # Its end goes into the log too: a crash (status 128+signal) otherwise leaves no trace.
    setsid nohup sh -c 'zfs-fuse --no-daemon; echo "zfs-fuse exited with status $?"' \
        >/var/log/zfs-fuse.log 2>&1 </dev/null &
    for _ in $(seq 100); do zfs_up && break; sleep 0.2; done
    zfs_up || { echo "zfs-fuse did not start; see /var/log/zfs-fuse.log" >&2; exit 1; }
    # Pools come back unmounted after a restart.
    zfs mount -a 2>/dev/null || true
fi
if ! docker info >/dev/null 2>&1; then
    echo "services: starting dockerd"
    setsid nohup dockerd --iptables=false --bridge=none >/var/log/dockerd.log 2>&1 </dev/null &
    for _ in $(seq 150); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
    docker info >/dev/null 2>&1 || { echo "dockerd did not start; see /var/log/dockerd.log" >&2; exit 1; }
fi
# A tiny image for the tests, made offline from busybox-static.
if ! docker image inspect local/busybox >/dev/null 2>&1; then
    root=$(mktemp -d)
    mkdir -p "$root/bin"
    cp /bin/busybox "$root/bin/"
    for c in sh ls cat echo sleep mkdir rm sync test; do ln -s busybox "$root/bin/$c"; done
    tar -C "$root" -c . | docker import - local/busybox >/dev/null
    rm -rf "$root"
fi

echo "services: zfs-fuse $(pgrep -x zfs-fuse | head -1), etcd $(etcd --version 2>/dev/null | head -1 | awk '{print $3}')"
