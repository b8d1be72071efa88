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
# Every figure is wall time and CPU time (user + system, of the command and
# everything it ran), with the load average before it: on a shared machine the
# wall time says how busy the machine was, the CPU time what the work cost.
# Usage: scripts/measure-layout.sh <before-commit> <after-commit>
# Env: RUNS (default 5), EXERCISES (default "1 4 6 9"), SKIP_CI=1 to skip step 2,
#      SKIP_SETUP=1 to skip step 1 (step 3 then reuses step 2's build),
#      ONLY=ci to run step 2 alone (then ONLY=verify for step 3 alone),
#      SIDES=after (or before) to measure one side, e.g. in a second run
#      started beside the first so that both see the same load,
#      UPTO=N to measure the after side with exercises N+1 and later removed
#      (their folders deleted, marked planned in course.toml): the same course
#      as a before-commit that had only N exercises.
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

load() { cut -d' ' -f1 /proc/loadavg 2>/dev/null; }
# timed <file> <command...>: runs the command; <file> gets "<wall s> <cpu s>"
timed() {
  local out=$1; shift
  /usr/bin/time -f "%e %U %S" -o "$out.time" "$@"
  local rc=$?
  tail -1 "$out.time" | awk '{printf "%s %.2f\n", $1, $2 + $3}' >"$out"
  return $rc
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2))}'; }

# clone <commit> <dir>: a fresh clone at <commit>, with ../shared beside it.
clone() {
  git clone --quiet "$kit" "$2" && git -C "$2" checkout --quiet "$1"
  [ -e "$(dirname "$2")/shared" ] || ln -s "$kit/../shared" "$(dirname "$2")/shared"
}

# upto <dir> <N>: removes exercises N+1 and later from the clone, as planned.
upto() {
  local dir=$1 last=$2 folder n
  for folder in "$dir"/exercises/[0-9][0-9]-* "$dir"/checkpoints/[0-9][0-9]-* "$dir"/solutions/[0-9][0-9]-*; do
    n=$(basename "$folder" | cut -c1-2)
    [ $((10#$n)) -gt "$last" ] && rm -rf "$folder"
  done
  # course.toml lists exercises in order: every `planned = false` after the
  # N-th [[exercise]] becomes `planned = true`.
  awk -v last="$last" '/^\[\[exercise\]\]/ {seen++} seen > last && /^planned = false/ {$0 = "planned = true"} {print}' \
    "$dir/course.toml" >"$dir/course.toml.new" && mv "$dir/course.toml.new" "$dir/course.toml"
  git -C "$dir" commit --quiet -am "measure-layout: exercises after $last removed" --allow-empty
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
  if [ "$label" = after ] && [ -n "${UPTO:-}" ]; then
    upto "$dir" "$UPTO"
    echo "   (exercises after $UPTO removed: $(grep -c '^planned = false' "$dir/course.toml") built)"
  fi
  cd "$dir"
  local rc wall cpu
  if [ -z "${ONLY:-}" ] && [ "${SKIP_SETUP:-0}" != 1 ]; then
    local l; l=$(load)
    timed "$work/$label/setup.t" cargo xtask setup >"$work/$label/setup.log" 2>&1; rc=$?
    read -r wall cpu <"$work/$label/setup.t"
    echo "setup (cold): ${wall} s wall, ${cpu} s CPU, load $l, exit $rc, target/ $(du -sh target | cut -f1)"
    # CI starts cold: the setup's build is put aside, then dropped.
    [ "${SKIP_CI:-0}" = 1 ] || mv target "$work/$label/target-setup"
  fi
  if [ "${SKIP_CI:-0}" != 1 ] && [ "${ONLY:-ci}" = ci ]; then
    local l; l=$(load)
    timed "$work/$label/ci.t" bash .ci/run >"$work/$label/ci.log" 2>&1; rc=$?
    read -r wall cpu <"$work/$label/ci.t"
    echo "bash .ci/run (cold): ${wall} s wall, ${cpu} s CPU, load $l, exit $rc, $(grep -E '[0-9]+ passed, [0-9]+ failed' "$work/$label/ci.log" | tail -1)"
    grep -E '\([0-9.]+ s\)' "$work/$label/ci.log" | sed 's/^/    /' # the slow rows, when check shows times
    [ "$rc" = 0 ] || grep -E '✗' -A12 "$work/$label/ci.log" | head -60
    rm -rf "$work/$label/target-setup"
  fi
  [ "${ONLY:-}" = ci ] && { cd "$kit"; return; }
  for n in $exercises; do
    local file; file=$(lesson_file "$dir" "$n")
    cargo xtask verify "$n" >/dev/null 2>&1 # warm
    local l; l=$(load)
    for i in $(seq "$runs"); do
      echo "// edit $i" >>"$file"
      timed "$work/$label/verify.t" cargo xtask verify "$n" >/dev/null 2>&1
      cat "$work/$label/verify.t"
    done >"$work/$label/verify-$n.times"
    local wall cpu
    wall=$(awk '{print int($1 * 1000)}' "$work/$label/verify-$n.times" | median)
    cpu=$(awk '{print int($2 * 1000)}' "$work/$label/verify-$n.times" | median)
    echo "verify $n after an edit of ${file#"$dir"/} (warm, median of $runs): $wall ms wall, $cpu ms CPU, load $l"
  done
  echo "lines of Rust in exercises/, checkpoints/, solutions/: $(find exercises checkpoints solutions -name '*.rs' | xargs cat | wc -l)"
  cd "$kit"
}

# Each side builds a whole kit in its own target/ (about 5 GB); a full disk
# fails the build half-way and wastes the run (and others' builds with it).
free_gb=$(df -Pk "$work" | awk 'NR == 2 {print int($4 / 1048576)}')
if [ "$free_gb" -lt $(( 6 * $(wc -w <<<"${SIDES:-before after}") + 10 )) ]; then
  echo "only $free_gb GB free under $work: each side needs about 6 GB, and others need room too" >&2
  exit 2
fi
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
for side in ${SIDES:-before after}; do
  case $side in
    before) measure before "$before" ;;
    after) measure after "$after" ;;
  esac
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
