#!/usr/bin/env bash
# Soak of issue #13's fault injection: the fault tests of tests/it/faults.rs with many more kills
# per operation (commit, branch, delete, reset, re-clone, receive, handoff), each round a fresh
# random seed (printed, so a failure can be replayed with DM_FAULT_SEED=…).
# Usage: bench/soak-faults.sh [KILLS_PER_OPERATION] [ROUNDS]   (defaults 100, 1)
set -euo pipefail
cd "$(dirname "$0")/.."
KILLS=${1:-100}
ROUNDS=${2:-1}
scripts/services.sh >/dev/null
for r in $(seq "$ROUNDS"); do
    echo "round $r: $KILLS kills per operation"
    DM_FAULT_KILLS=$KILLS cargo test --quiet --test it -- faults:: --test-threads 2 --nocapture 2>&1 |
        grep -E "fault seed|panicked|test result|FAILED" || true
done
