#!/usr/bin/env bash
# The soak of exercise 17: the solution's whole system over many seeds
# (1,000 by default), every fault profile at once, in release mode, in a
# target directory of its own under the repo's target/ (so that it never
# rebuilds the debug build the exercises use). Prints the lost / duplicate /
# ghost / garbage / parked counts and the time, and exits with 1 if any
# seed was inconsistent. Usage: scripts/soak-17.sh [seeds] [carts per seed]
set -euo pipefail
seeds=${1:-1000}
carts=${2:-8}
kit=$(cd "$(dirname "$0")/.." && pwd)
cd "$kit"
export CARGO_TARGET_DIR="$kit/target/soak-17"
cargo build --quiet --release -p sol17-whole-system --example demo
started=$(date +%s)
status=0
"$CARGO_TARGET_DIR/release/examples/demo" --soak "$seeds" --carts "$carts" || status=$?
echo "soak-17: $seeds seeds in $(( $(date +%s) - started )) s wall time (build apart)"
exit $status
