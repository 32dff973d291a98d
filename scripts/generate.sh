#!/usr/bin/env bash
# Regenerates completions/ and man/ from the clap tree of the built binary.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet
bin=target/debug/dm
mkdir -p completions man
"$bin" completions bash > completions/dm.bash
"$bin" completions zsh > completions/_dm
"$bin" completions fish > completions/dm.fish
rm -f man/*.1
"$bin" generate-man man
