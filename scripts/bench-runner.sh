#!/usr/bin/env bash
# Measures what the runner costs (see xtask/BENCHMARKS.md for the figures):
#  (a) a warm `cargo xtask verify N` against a warm plain `cargo test -p <crate>`;
#  (b) in `watch`: a save → the "checking…" line → the verdict.
# Runs on a fixture course (two tiny exercises) and, when the kit has a built
# exercise, on the kit's exercise 01 too. Usage: scripts/bench-runner.sh [runs]
set -euo pipefail
runs=${1:-10}
kit=$(cd "$(dirname "$0")/.." && pwd)
export NO_COLOR=1 RUST_BACKTRACE=0

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# median of the numbers on stdin
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2))}'; }

# time_cmd <runs> <command...>: prints the median wall time in ms
time_cmd() {
  local n=$1; shift
  "$@" >/dev/null 2>&1 || true # warm-up
  for _ in $(seq "$n"); do
    local t0; t0=$(now_ms)
    "$@" >/dev/null 2>&1 || true
    echo $(( $(now_ms) - t0 ))
  done | median
}

cd "$kit"
cargo build --quiet -p xtask
xtask="$kit/target/debug/xtask"

fixture=$(mktemp -d)
trap 'kill "${watch_pid:-0}" 2>/dev/null || true; rm -rf "$fixture"' EXIT
"$kit/scripts/fixture-course.sh" "$fixture"

echo "== (a) warm verify vs plain cargo test, median of $runs runs (ms)"
(
  cd "$fixture"
  export CARGO_TARGET_DIR="$fixture/target"
  plain=$(time_cmd "$runs" cargo test -p ex01-add-one)
  same=$(time_cmd "$runs" cargo test -p ex01-add-one --no-fail-fast --test '*')
  verify=$(time_cmd "$runs" "$xtask" verify 1)
  echo "fixture 01-add-one: cargo test -p: $plain | cargo test -p --test '*': $same | xtask verify 1: $verify | runner overhead vs cargo test -p: $((verify - plain))"
)
if grep -q 'planned = false' "$kit/course.toml" && [ -d "$kit/exercises" ] && ls "$kit/exercises" | grep -q '^01-'; then
  dir=$(ls "$kit/exercises" | grep '^01-' | head -1)
  plain=$(time_cmd "$runs" cargo test -p "ex$dir")
  verify=$(time_cmd "$runs" cargo xtask verify 1)
  binary=$(time_cmd "$runs" "$xtask" verify 1)
  alias_list=$(time_cmd "$runs" cargo xtask list)
  binary_list=$(time_cmd "$runs" "$xtask" list)
  echo "kit $dir: cargo test -p: $plain | cargo xtask verify 1: $verify | runner overhead: $((verify - plain))"
  echo "  of which the cargo xtask alias (cargo run): cargo xtask list $alias_list vs xtask list $binary_list; xtask verify 1 without the alias: $binary"
fi

echo "== (b) watch: save → \"checking…\" → verdict (ms), fixture exercise 01"
cd "$fixture"
export CARGO_TARGET_DIR="$fixture/target"
log="$fixture/watch.log"
lib=exercises/01-add-one/src/lib.rs
# Stamp every line of watch's output with the time it arrived.
mkfifo "$fixture/keys"
( "$xtask" watch 1 <"$fixture/keys" 2>&1 | while IFS= read -r line; do echo "$(now_ms) $line"; done >"$log" ) &
watch_pid=$!
exec 3>"$fixture/keys" # keep watch's stdin open
wait_line() { # wait_line <after-line-count> <pattern>: prints the stamp of the first match
  for _ in $(seq 600); do
    local hit; hit=$(tail -n +"$1" "$log" | grep -m1 -- "$2" || true)
    if [ -n "$hit" ]; then echo "${hit%% *}"; return; fi
    sleep 0.05
  done
  echo "timeout waiting for $2" >&2; exit 1
}
wait_line 1 "tests pass" >/dev/null
for i in $(seq 5); do
  sleep 1
  start=$(( $(wc -l <"$log") + 1 ))
  if (( i % 2 )); then from='x - 1'; to='x + 1'; want='2/2 tests pass'; else from='x + 1'; to='x - 1'; want='1/2 tests pass'; fi
  t0=$(now_ms)
  sed -i "s/$from/$to/" "$lib"
  checking=$(wait_line "$start" "checking…")
  verdict=$(wait_line "$start" "$want")
  echo "save $i: checking… after $((checking - t0)), verdict ($want) after $((verdict - t0))"
done
echo q >&3
