#!/usr/bin/env bash
# Runs an exercise's demo many times per chaos profile with one seed and
# checks that every run prints the same bytes and exits the same way: the
# demo is a deterministic simulation, even over a loopback socket.
#
# Usage: scripts/demo-determinism.sh <package> <runs> <seed> <profile>... [-- <more demo args>]
#   scripts/demo-determinism.sh sol15-http-exactly-once 20 7 none http database broker duplicates late all -- --face b
#   scripts/demo-determinism.sh sol16-claim-check 20 7 none duplicates database broker late all
# Prints one line per profile (runs, distinct outputs, exit code) and exits
# with 1 if any profile gave two different outputs.
set -euo pipefail
package=$1 runs=$2 seed=$3
shift 3
profiles=()
while [[ $# -gt 0 && $1 != "--" ]]; do profiles+=("$1"); shift; done
[[ ${1:-} == "--" ]] && shift
extra=("$@")
cd "$(dirname "$0")/.."
export NO_COLOR=1
cargo build --quiet -p "$package" --example demo
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
status=0
for profile in "${profiles[@]}"; do
  for run in $(seq "$runs"); do
    code=0
    cargo run --quiet -p "$package" --example demo -- --seed "$seed" --chaos "$profile" \
      "${extra[@]}" >"$out/$run.txt" 2>&1 || code=$?
    echo "exit $code" >>"$out/$run.txt"
  done
  distinct=$(sha256sum "$out"/*.txt | cut -d' ' -f1 | sort -u | wc -l)
  last=$(tail -n1 "$out/1.txt")
  echo "$package --chaos $profile ${extra[*]}: $runs runs, $distinct distinct output(s), $last"
  [[ $distinct -eq 1 ]] || status=1
  rm -f "$out"/*.txt
done
exit $status
