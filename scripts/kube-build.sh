#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager and kubelet 1.20.2 from Debian's `kubernetes`
# source package (no binaries of them are in any registry this machine reaches) into a cache
# outside the work tree, once: later runs find them there. About 12 minutes cold on 2 cores.
# Also installs what running them needs: kubectl (Debian's kubernetes-client) and containerd.
# Usage: scripts/kube-build.sh   (DM_KUBE_CACHE, default /var/cache/dm-kube)
set -euo pipefail
cache=${DM_KUBE_CACHE:-/var/cache/dm-kube}
bins=(kube-apiserver kubelet kube-controller-manager)
export DEBIAN_FRONTEND=noninteractive
need=()
command -v kubectl >/dev/null || need+=(kubernetes-client)
command -v containerd >/dev/null || need+=(containerd)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
fi
have=1
for b in "${bins[@]}"; do [ -x "$cache/bin/$b" ] || have=0; done
if [ "$have" = 1 ]; then
    echo "kube binaries cached in $cache/bin"
    exit 0
fi
# `apt-get source` needs a deb-src entry: made from the deb ones, in either format.
if ! grep -rqsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list.d/ /etc/apt/sources.list; then
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
            > /etc/apt/sources.list.d/dm-debian-src.sources
    else
        grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | sed 's/^deb /deb-src /' > /etc/apt/sources.list.d/dm-debian-src.list
    fi
fi
apt-get update -qq
apt-get install -y -qq golang-go rsync dpkg-dev >/dev/null
mkdir -p "$cache/build" "$cache/bin"
cd "$cache/build"
if [ ! -d src ]; then
    apt-get source --download-only kubernetes >/dev/null
    dpkg-source -x kubernetes_*.dsc src >/dev/null
fi
cd src
mkdir -p .go/src/k8s.io
[ -e .go/src/k8s.io/kubernetes ] || ln -s ../../.. .go/src/k8s.io/kubernetes
HOME=$cache/build/home KUBE_BUILD_PLATFORMS=linux/amd64 \
    make WHAT="cmd/kube-apiserver cmd/kubelet cmd/kube-controller-manager"
for b in "${bins[@]}"; do
    found=$(find _output -type f -name "$b" -perm -u+x | head -1)
    [ -n "$found" ] || { echo "build produced no $b" >&2; exit 1; }
    install -m 0755 "$found" "$cache/bin/$b.tmp"
    mv "$cache/bin/$b.tmp" "$cache/bin/$b"
done
echo "kube binaries built into $cache/bin"
