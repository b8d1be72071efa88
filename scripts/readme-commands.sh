#!/usr/bin/env bash
# Runs the commands the exercise READMEs show, against the exercise copies
# (what an attendee runs): every `demo` line, every `serve` (started on a
# spare port, asked for one cart, stopped) and `explore` (asked for its
# page, stopped). Prints one line per command and exits 1 if any failed.
# Usage: scripts/readme-commands.sh   (each server runs in its own process
# group, so that stopping it stops cargo and the program it started)
set -uo pipefail
cd "$(dirname "$0")/.."
export NO_COLOR=1
failed=0
port=3517

report() { # <ok?> <what>
  if [ "$1" = 0 ]; then echo "ok    $2"; else echo "FAIL  $2"; failed=1; fi
}

# waits until 127.0.0.1:<port> answers <path>, at most ~3 min (the first run builds)
wait_for() {
  for _ in $(seq 360); do
    curl -s -o /dev/null "http://127.0.0.1:$1$2" && return 0
    sleep 0.5
  done
  return 1
}

for readme in ${READMES:-exercises/*/README.md}; do
  while read -r line; do
    out=$($line 2>&1); rc=$?
    # A demo of a checkpoint reports anomalies (exit 1 by design); a crash or
    # a usage error is the failure we look for.
    if [ $rc -le 1 ] && grep -q "orders" <<<"$out"; then rc=0; fi
    report $rc "$line"
  done < <(grep -oE 'cargo run -p [a-z0-9-]+ --example demo[^#`]*' "$readme" | sed 's/ *$//')
  while read -r line; do
    port=$((port + 1))
    setsid $line -- "$port" >/dev/null 2>&1 &
    pid=$!
    wait_for "$port" /carts/none
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/carts/none")
    kill -- -"$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    [ "$code" = 404 ]; report $? "$line (GET /carts/none answered $code)"
  done < <(grep -oE 'cargo run -p [a-z0-9-]+ --example serve' "$readme" | sort -u)
done
for n in $(grep -lE 'cargo xtask explore [0-9]+' exercises/*/README.md | sed -E 's|exercises/([0-9]+)-.*|\1|'); do
  port=$((port + 1))
  setsid cargo xtask explore "$n" --port "$port" >/dev/null 2>&1 &
  pid=$!
  wait_for "$port" /
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/")
  kill -- -"$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  [ "$code" = 200 ]; report $? "cargo xtask explore $n (GET / answered $code)"
done
exit $failed
