#!/usr/bin/env bash
# The main job on a fresh machine: install what is missing, build dm, make this machine a
# single-node cluster on the file-backed pool, and run a short dot session that ends with `dm log`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
cargo build --release --quiet
install -m 0755 target/release/dm /usr/local/bin/dm

if [ -f /var/lib/dotmesh/node.toml ]; then
    echo "This node is already initialised; using it."
else
    dm cluster init
fi

dot=demo
dm init "$dot" 2>/dev/null || dm switch "$dot"
dm checkout master >/dev/null
dir=$(dm dot path)
date > "$dir/hello.txt"
dm status
dm commit -m "Say hello" --metadata source=demo
dm checkout -b experiment 2>/dev/null || dm checkout experiment
echo "an experiment" > "$(dm dot path)/experiment.txt"
dm commit -m "Try something on a branch"
dm diff master experiment --stat
dm checkout master
dm list
dm branch
dm log
