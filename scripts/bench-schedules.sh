#!/usr/bin/env bash
# Schedules per second of the explored SQL exercises (issue 13 item 3), this
# tree against an earlier commit, measured side by side in one run.
#
# Builds the test binaries of exercises 11 and 09's solutions
# (`sol11-interleavings`, `sol09-generic-outbox`) in the test profile twice:
# from <before-commit> (a git worktree with a target dir of its own, since
# the profiles may differ) and from this tree. Counts each binary's explored
# schedules (the "<name>: N schedules" lines its tests print), then runs the
# before and after binaries in turn, $RUNS times each, with
# `--test-threads 2`, and prints every run (wall, user, system seconds), the
# median CPU time (user + system), the schedules per CPU second and the ratio.
# The schedule counts of both sides must be equal: each schedule is the same
# run (see harness/BENCHMARKS.md for how that was checked).
#
# Usage: scripts/bench-schedules.sh <before-commit>   (e.g. 492f44e)
# Env:   RUNS (default 5); CARGO_TARGET_DIR (this tree's target, default
#        target/); BEFORE_TARGET_DIR (default "$CARGO_TARGET_DIR-before": a
#        first build there compiles everything, about five minutes on 2 cores);
#        BEFORE_TREE (the worktree, default "$BEFORE_TARGET_DIR/tree").
# Needs GNU time (/usr/bin/time). The worktree is left in place for the next
# run; remove it with `git worktree remove --force <BEFORE_TREE>`.
set -euo pipefail
[ $# -eq 1 ] || { sed -n '2,22p' "$0"; exit 2; }
kit=$(cd "$(dirname "$0")/.." && pwd)
cd "$kit"
before=$(git rev-parse --short "$1")
runs=${RUNS:-5}
target=${CARGO_TARGET_DIR:-$kit/target}
before_target=${BEFORE_TARGET_DIR:-$target-before}
before_tree=${BEFORE_TREE:-$before_target/tree}
bins=$target/bench-schedules
export RUST_BACKTRACE=0 NO_COLOR=1
packages=(-p sol11-interleavings -p sol09-generic-outbox)
mkdir -p "$bins"

# build <tree> <target dir> <name>: the two test binaries, copied to $bins/<name>-NN
build() {
  local tree=$1 dir=$2 name=$3 log
  log=$(cd "$tree" && CARGO_TARGET_DIR=$dir cargo test "${packages[@]}" --no-run 2>&1) ||
    { echo "$log" >&2; exit 1; }
  for test in interleavings:11 generic_outbox:09; do
    local path
    path=$(echo "$log" | sed -n "s|.*Executable tests/${test%%:*}.rs (\(.*\))\$|\1|p" | head -1)
    [ -n "$path" ] || { echo "no test binary tests/${test%%:*}.rs in $tree" >&2; exit 1; }
    cp "$path" "$bins/$name-${test##*:}"
  done
}

if [ ! -d "$before_tree" ]; then
  mkdir -p "$before_target"
  git worktree add --detach "$before_tree" "$before" >/dev/null
fi
git -C "$before_tree" checkout --quiet --detach "$before"
echo "building $before (in $before_tree, target $before_target) ..."
build "$before_tree" "$before_target" before
echo "building this tree ($(git log -1 --format=%h), target $target) ..."
build "$kit" "$target" after

crate_dir() { # <tree> <NN>: where the binary runs (its crate, as cargo test runs it)
  ls -d "$1"/solutions/"$2"-* | head -1
}
schedules() { # <binary> <dir>: the schedules its explorations ran, summed
  (cd "$2" && "$1" --test-threads 2 --nocapture 2>/dev/null) |
    sed -n 's/.*: \([0-9][0-9]*\) schedules$/\1/p' | awk '{s += $1} END {print s + 0}'
}
median() { sort -n | awk '{a[NR]=$1} END {printf "%.2f", (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo "machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
for nn in 11 09; do
  dir_before=$(crate_dir "$before_tree" "$nn")
  dir_after=$(crate_dir "$kit" "$nn")
  count_before=$(schedules "$bins/before-$nn" "$dir_before")
  count_after=$(schedules "$bins/after-$nn" "$dir_after")
  echo
  echo "exercise $nn's solution tests: $count_before schedules before, $count_after after"
  [ "$count_before" = "$count_after" ] || echo "  NOTE: the schedule counts differ"
  : >"$bins/cpu-before"
  : >"$bins/cpu-after"
  for i in $(seq "$runs"); do
    for side in before after; do
      dir=$dir_before
      [ $side = after ] && dir=$dir_after
      (cd "$dir" && /usr/bin/time -f "%e %U %S" -o "$bins/time" "$bins/$side-$nn" --test-threads 2 >/dev/null 2>&1) ||
        echo "  ($side run $i failed)"
      read -r wall user system <"$bins/time"
      awk -v u="$user" -v s="$system" 'BEGIN {printf "%.2f\n", u + s}' >>"$bins/cpu-$side"
      printf '  run %d %-6s wall %5.2f s  user %5.2f s  sys %4.2f s  load %s\n' \
        "$i" "$side" "$wall" "$user" "$system" "$(cut -d' ' -f1 /proc/loadavg)"
    done
  done
  cpu_before=$(median <"$bins/cpu-before")
  cpu_after=$(median <"$bins/cpu-after")
  awk -v cb="$cpu_before" -v ca="$cpu_after" -v nb="$count_before" -v na="$count_after" -v b="$before" 'BEGIN {
    printf "  median CPU: %s %.2f s (%.0f schedules per CPU s), now %.2f s (%.0f schedules per CPU s): %.2fx\n",
      b, cb, nb / cb, ca, na / ca, (na / ca) / (nb / cb) }'
done
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
