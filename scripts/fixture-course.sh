#!/usr/bin/env bash
# Creates a tiny, dependency-free course in "$1": two exercises with the real
# kit's layout (exercises/, checkpoints/, solutions/, course.toml). The runner's
# benchmark uses it when the kit has no built exercise of its own yet.
set -euo pipefail
dir=$1
mkdir -p "$dir"
cd "$dir"

cat > Cargo.toml <<'TOML'
[workspace]
resolver = "3"
members = ["*/[0-9][0-9]-*"]
TOML

cat > course.toml <<'TOML'
version = 1

[[part]]
id = "A"
title = "Fixture part"

[[exercise]]
number = 1
slug = "add-one"
part = "A"
title = "Add one"
minutes = 5
failing_tests = ["adds_one"]
hints = ["Look at add_one.", "It should add, not subtract.", "x + 1"]

[[exercise]]
number = 2
slug = "double"
part = "A"
title = "Double it"
minutes = 5
failing_tests = ["doubles"]
hints = ["Look at double.", "Multiply.", "x * 2"]
TOML

crate() { # crate <copy> <prefix> <NN-slug> <lib> <body>
  local d="$1/$3"
  mkdir -p "$d/src" "$d/tests"
  local doc=""
  [ "$2" = ex ] || doc=$'\ndoc = false'
  printf '[package]\nname = "%s%s"\nversion = "0.1.0"\nedition = "2024"\npublish = false\n\n[lib]\nname = "%s"%s\n' "$2" "$3" "$4" "$doc" > "$d/Cargo.toml"
  printf '%s\n' "$5" > "$d/src/lib.rs"
  printf '# %s\n\nA fixture exercise.\n' "$3" > "$d/README.md"
}

tests_one='#[test]
fn adds_one() {
    assert_eq!(add_one::add_one(1), 2, "add_one(1) should be 2");
}

#[test]
fn zero_stays_small() {
    assert!(add_one::add_one(0) < 5);
}'
tests_two='#[test]
fn doubles() {
    assert_eq!(double::double(3), 6, "double(3) should be 6");
}'

for copy in exercises:ex checkpoints:cp solutions:sol; do
  folder=${copy%%:*}; prefix=${copy##*:}
  if [ "$prefix" = sol ]; then op1='x + 1'; op2='x * 2'; else op1='x - 1'; op2='x + 2'; fi
  one=$(printf 'pub fn add_one(x: i32) -> i32 {\n    %s\n}' "$op1")
  two=$(printf 'pub fn double(x: i32) -> i32 {\n    %s\n}' "$op2")
  crate "$folder" "$prefix" 01-add-one add_one "$one"
  crate "$folder" "$prefix" 02-double double "$two"
  printf '%s\n' "$tests_one" > "$folder/01-add-one/tests/add_one.rs"
  printf '%s\n' "$tests_two" > "$folder/02-double/tests/double.rs"
done

printf '# Fixture course\n\nExercises: add-one, double.\n' > README.md
