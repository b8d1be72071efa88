#!/usr/bin/env bash
# Measures what the repository's layout costs, for two commits side by side in
# one run (issue 11: "one shop, small exercises"). For each commit, in a fresh
# clone with its own target/ (crates come from the shared cargo cache):
#   1. cold `cargo xtask setup`: wall time, then the size of target/;
#   2. cold `bash .ci/run` in another fresh target/: wall time and verdict;
#   3. warm edit-to-verdict of `cargo xtask verify N` for each N in $EXERCISES:
#      append a comment to the exercise's lesson file (the first .rs file that
#      differs between its checkpoint and solution), then time verify; median
#      of $RUNS edits.
# Usage: scripts/measure-layout.sh <before-commit> <after-commit>
# Env: RUNS (default 5), EXERCISES (default "1 4 6 9"), SKIP_CI=1 to skip step 2,
#      ONLY=ci to run step 2 alone (then ONLY=verify for step 3 alone).
set -uo pipefail
before=${1:?usage: $0 <before-commit> <after-commit>}
after=${2:?usage: $0 <before-commit> <after-commit>}
runs=${RUNS:-5}
exercises=${EXERCISES:-"1 4 6 9"}
kit=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export NO_COLOR=1 RUST_BACKTRACE=0
unset CARGO_TARGET_DIR

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2))}'; }

# clone <commit> <dir>: a fresh clone at <commit>, with ../shared beside it.
clone() {
  git clone --quiet "$kit" "$2" && git -C "$2" checkout --quiet "$1"
  [ -e "$(dirname "$2")/shared" ] || ln -s "$kit/../shared" "$(dirname "$2")/shared"
}

lesson_file() { # <clone> <n>: the exercise copy of its lesson file
  local n; n=$(printf '%02d' "$2")
  local cp; cp=$(ls -d "$1"/checkpoints/"$n"-* | head -1)
  local slug; slug=$(basename "$cp")
  local rel
  rel=$(cd "$1" && diff -rq "checkpoints/$slug" "solutions/$slug" -x mutants -x Cargo.toml -x '*.md' \
        | awk '/\.rs and/ {print $2}' | head -1 | sed "s|checkpoints/$slug/||")
  echo "$1/exercises/$slug/$rel"
}

measure() { # <label> <commit>
  local label=$1 commit=$2
  echo "== $label: $(git -C "$kit" log -1 --format='%h %s' "$commit" | cut -c1-90)"
  local dir="$work/$label/kit"
  mkdir -p "$work/$label"
  clone "$commit" "$dir"
  cd "$dir"
  local t0 rc
  if [ -z "${ONLY:-}" ]; then
    t0=$(now_ms)
    cargo xtask setup >"$work/$label/setup.log" 2>&1; rc=$?
    echo "setup (cold): $(( ($(now_ms) - t0) / 1000 )) s, exit $rc, target/ $(du -sh target | cut -f1)"
    # CI starts cold: the setup's build is put aside, then dropped.
    [ "${SKIP_CI:-0}" = 1 ] || mv target "$work/$label/target-setup"
  fi
  if [ "${SKIP_CI:-0}" != 1 ] && [ "${ONLY:-ci}" = ci ]; then
    t0=$(now_ms)
    bash .ci/run >"$work/$label/ci.log" 2>&1; rc=$?
    echo "bash .ci/run (cold): $(( ($(now_ms) - t0) / 1000 )) s, exit $rc, $(grep -E '[0-9]+ passed, [0-9]+ failed' "$work/$label/ci.log" | tail -1)"
    grep -E '\([0-9.]+ s\)' "$work/$label/ci.log" | sed 's/^/    /' # the slow rows, when check shows times
    [ "$rc" = 0 ] || grep -E '✗' -A12 "$work/$label/ci.log" | head -60
    rm -rf "$work/$label/target-setup"
  fi
  [ "${ONLY:-}" = ci ] && { cd "$kit"; return; }
  for n in $exercises; do
    local file; file=$(lesson_file "$dir" "$n")
    cargo xtask verify "$n" >/dev/null 2>&1 # warm
    local ms
    ms=$(for i in $(seq "$runs"); do
      echo "// edit $i" >>"$file"
      t0=$(now_ms)
      cargo xtask verify "$n" >/dev/null 2>&1
      echo $(( $(now_ms) - t0 ))
    done | median)
    echo "verify $n after an edit of ${file#"$dir"/} (warm, median of $runs): $ms ms"
  done
  echo "lines of Rust in exercises/, checkpoints/, solutions/: $(find exercises checkpoints solutions -name '*.rs' | xargs cat | wc -l)"
  cd "$kit"
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
measure before "$before"
measure after "$after"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
