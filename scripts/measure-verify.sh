#!/usr/bin/env bash
# Measures the attendee's loop: edit the lesson file, run `cargo xtask verify N`,
# read the verdict (issue 11: at most 0.6 s for 01, 04, 06, 09; issue 15: under
# one second for 12, 13, 14). Runs in this clone, warm (its target/ or
# $CARGO_TARGET_DIR already built), and puts every lesson file back as it was.
#
# For each exercise: a warm-up verify, then $RUNS times: append a comment to the
# exercise's lesson file (the first .rs file that differs between checkpoint and
# solution) and time `cargo xtask verify N`. Then, unless BREAKDOWN=0, where that
# time goes, each part measured on its own ($RUNS runs each):
#   alias    `cargo xtask list`: cargo run checks that xtask is fresh, then execs it;
#   cargo    `cargo test -p <crate> --test '*' --no-run` with nothing to do: cargo
#            loads the workspace, resolves it against Cargo.lock and checks fingerprints;
#   build    the same after an edit, minus `cargo`: rustc on the lesson crate, then
#            on its test file, then the link of the test binary;
#   test     of build, the test file's rustc run, link included, as `cargo test
#            --timings` reports it (wall only; needs python3, "-" without it);
#   run      the test binary run on its own, as the runner runs it (RUST_BACKTRACE=0).
# The parts overlap little, so alias + cargo + build + run is about the total.
# Every figure is the median wall time, then the median CPU time (user + system of
# the command and all it ran): on a shared machine the wall time says how busy it
# was, the CPU time what the work cost. The load average is printed beside.
#
# With PERF=1 (needs Linux perf), $RUNS more edits and verifies under `perf record`
# say how the CPU time of one verify splits between the processes it runs: cargo
# (both: the alias and the runner's `cargo test`), rustc, the linker, the tests.
#
# With IR=1 (needs valgrind), cargo's own work, counted in instructions by
# callgrind: the same on a busy machine as on a quiet one, where its CPU time
# is not. "alias" is `cargo build -p xtask` with nothing to do (what `cargo
# xtask` does before it starts the runner), "cargo" the no-op `cargo test`
# above. Compare two commits with it, not two machines.
#
# Usage: scripts/measure-verify.sh [N...]   (default: 1 4 6 9 12 13 14)
# Env:   RUNS (default 7), BREAKDOWN=0 to time the loop only, PERF=1, IR=1 (see above).
set -uo pipefail
kit=$(cd "$(dirname "$0")/.." && pwd)
cd "$kit"
runs=${RUNS:-7}
exercises=${*:-1 4 6 9 12 13 14}
export NO_COLOR=1 RUST_BACKTRACE=0
target=${CARGO_TARGET_DIR:-$kit/target}
scratch=$(mktemp -d)
restore=()
cleanup() {
  local pair
  for pair in "${restore[@]}"; do cp "${pair%%|*}" "${pair#*|}"; done
  rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

load() { cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo "?"; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR) printf "%.2f", (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2); else printf "-"}'; }
# timed <command...>: runs it quietly, appends "<wall> <cpu>" to $scratch/t
timed() {
  /usr/bin/time -f "%e %U %S" -o "$scratch/time" "$@" >/dev/null 2>&1
  tail -1 "$scratch/time" | awk '{printf "%s %.2f\n", $1, $2 + $3}' >>"$scratch/t"
}
# summary: "<wall> <cpu>" medians of $scratch/t, which it empties
summary() {
  local w c
  w=$(awk '{print $1}' "$scratch/t" | median)
  c=$(awk '{print $2}' "$scratch/t" | median)
  : >"$scratch/t"
  echo "$w $c"
}

slug_of() { basename "$(ls -d checkpoints/"$(printf '%02d' "$1")"-* | head -1)"; }
lesson_file() { # <slug>: the exercise copy of its lesson file
  local rel
  rel=$(diff -rq "checkpoints/$1" "solutions/$1" -x mutants -x Cargo.toml -x '*.md' \
    | awk '/\.rs and/ {print $2}' | head -1 | sed "s|checkpoints/$1/||")
  echo "exercises/$1/$rel"
}
package_of() { sed -n 's/^name *= *"\(.*\)"/\1/p' "exercises/$1/Cargo.toml" | head -1; }

# test_unit_seconds <timings html>: seconds of the test-file units (rustc + link)
test_unit_seconds() {
  command -v python3 >/dev/null || { echo "-"; return; }
  python3 - "$1" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read()
units = json.loads(re.search(r"const UNIT_DATA = (\[.*?\]);", text, re.S).group(1))
tests = [u for u in units if "(test)" in u["target"] and u["duration"] > 0]
print(sum(u["duration"] for u in tests) if tests else "-")
PY
}

# instructions <command...>: millions of instructions it ran (callgrind)
instructions() {
  valgrind --tool=callgrind --callgrind-out-file="$scratch/cg.%p" "$@" >/dev/null 2>&1
  cat "$scratch"/cg.* | awk '/^totals:/ {s += $2} END {printf "%.0f", s / 1e6}'
  rm -f "$scratch"/cg.*
}

touch "$scratch/start"
edit() { echo "// measure-verify $RANDOM" >>"$1"; }

echo "measure-verify: $(git log -1 --format='%h %s' | cut -c1-80)"
echo "machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null), $(rustc --version)"
echo "times: median of $runs, wall / CPU seconds"
printf '\n%-22s %-13s %-6s' "exercise" "verify" "load"
[ "${BREAKDOWN:-1}" = 1 ] && printf ' | %-11s %-11s %-11s %-6s %-11s %s' alias cargo build test run "binary"
echo
for n in $exercises; do
  slug=$(slug_of "$n")
  file=$(lesson_file "$slug")
  package=$(package_of "$slug")
  cp "$file" "$scratch/$slug.orig"
  restore+=("$scratch/$slug.orig|$file")
  : >"$scratch/t"
  edit "$file"
  cargo xtask verify "$n" >/dev/null 2>&1 # warm-up
  l=$(load)
  for _ in $(seq "$runs"); do
    edit "$file"
    timed cargo xtask verify "$n"
  done
  read -r vw vc < <(summary)
  printf '%-22s %-13s %-6s' "$slug" "$vw / $vc" "$l"
  if [ "${BREAKDOWN:-1}" = 1 ]; then
    for _ in $(seq "$runs"); do timed cargo xtask list; done
    read -r aw ac < <(summary)
    for _ in $(seq "$runs"); do timed cargo test -p "$package" --test '*' --no-run; done
    read -r cw cc < <(summary)
    : >"$scratch/link"
    for _ in $(seq "$runs"); do
      edit "$file"
      timed cargo test -p "$package" --test '*' --no-run --timings
      html=$(ls -t "$target"/cargo-timings/cargo-timing-*.html 2>/dev/null | head -1)
      [ -n "$html" ] && test_unit_seconds "$html" >>"$scratch/link"
    done
    read -r bw bc < <(summary)
    build="$(awk -v a="$bw" -v b="$cw" 'BEGIN {printf "%.2f", a - b}') / $(awk -v a="$bc" -v b="$cc" 'BEGIN {printf "%.2f", a - b}')"
    testunit=$(grep -v '^-' "$scratch/link" | median)
    # From cargo's JSON messages, not its human output (which colours or
    # rewords the `Executable` line, and the run column then timed nothing).
    binaries=$(cargo test -p "$package" --test '*' --no-run --message-format=json 2>/dev/null \
      | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p')
    size=$(for b in $binaries; do stat -c %s "$b"; done | awk '{s += $1} END {printf "%.1f MB", s / 1e6}')
    for _ in $(seq "$runs"); do
      timed sh -c 'cd "$1" && shift && for b; do "$b" -q; done' sh "exercises/$slug" $binaries
    done
    read -r rw rc < <(summary)
    printf ' | %-11s %-11s %-11s %-6s %-11s %s' "$aw / $ac" "$cw / $cc" "$build" "$testunit" "$rw / $rc" "$size"
    find "$target/cargo-timings" -name 'cargo-timing-*.html' -newer "$scratch/start" -delete 2>/dev/null
  fi
  echo
  if [ "${PERF:-0}" = 1 ]; then
    for i in $(seq "$runs"); do
      edit "$file"
      perf record -q -e cpu-clock -F 1000 -o "$scratch/perf.$i" -- cargo xtask verify "$n" >/dev/null 2>&1
      perf report -i "$scratch/perf.$i" --sort comm --stdio -F sample,comm 2>/dev/null | grep -E '^ +[0-9]'
    done | awk -v runs="$runs" '
      { kind = $2 ~ /^(cargo|xtask)$/ ? "cargo" : $2 ~ /^(rustc|coordinator)$/ ? "rustc" : $2 ~ /lld|^cc$|^collect2$/ ? "link" : "tests"
        ms[kind] += $1; all += $1 }
      END { printf "%-22s CPU per verify (perf, mean of %d): cargo %.0f ms, rustc %.0f ms, link %.0f ms, tests %.0f ms, all %.0f ms\n",
            "", runs, ms["cargo"] / runs, ms["rustc"] / runs, ms["link"] / runs, ms["tests"] / runs, all / runs }'
  fi
  if [ "${IR:-0}" = 1 ]; then
    real_cargo=$(rustup which cargo 2>/dev/null || command -v cargo)
    cargo build -q -p xtask && cargo test -q -p "$package" --test '*' --no-run >/dev/null 2>&1
    printf '%-22s cargo instructions (callgrind, M): alias %s, cargo %s\n' "" \
      "$(instructions "$real_cargo" build -q -p xtask)" \
      "$(instructions "$real_cargo" test -q -p "$package" --test '*' --no-run)"
  fi
  cp "$scratch/$slug.orig" "$file"
done
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
[ "${BREAKDOWN:-1}" = 1 ] && echo "build = cargo test --no-run after an edit minus the no-op one; test = its test-file unit (rustc + link, wall)"
