#!/usr/bin/env bash
# Runs every test: unit tests and the integration tests against real zfs-fuse and etcd.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
cargo build --all-targets --quiet
cargo test --all-targets 2>&1
