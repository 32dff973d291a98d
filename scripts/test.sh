#!/usr/bin/env bash
# Runs every test: unit tests and the integration tests against real zfs-fuse, etcd, dockerd and
# Kubernetes (API server, controller manager and kubelet 1.20, built once from Debian's source
# package into /var/cache/dm-kube: about 12 minutes the first time).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
scripts/kube-build.sh
cargo build --all-targets --quiet
cargo test --all-targets 2>&1
