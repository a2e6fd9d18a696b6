#!/usr/bin/env bash
# The test command (`deno task test`): runs every test and ends with the line
# "N passed, N failed" carrying the real counts. Extra arguments go to `deno test`.
set -uo pipefail
cd "$(dirname "$0")/.."

results="$(mktemp -d)"
trap 'rm -rf "$results"' EXIT

deno test --allow-all --parallel --junit-path="$results/junit.xml" "$@"
status=$?

if [ -s "$results/junit.xml" ]; then
  counts=$(head -c 2000 "$results/junit.xml" | grep -o '<testsuites[^>]*>' | head -n 1)
  attr() { echo "$counts" | grep -o "$1=\"[0-9]*\"" | grep -o '[0-9]*'; }
  tests=$(attr tests); failures=$(attr failures); errors=$(attr errors)
  failed=$(( ${failures:-0} + ${errors:-0} ))
  passed=$(( ${tests:-0} - failed ))
  # A run that failed before any test reported still counts as a failure.
  if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
  echo "${passed} passed, ${failed} failed"
else
  echo "0 passed, 1 failed"
  [ "$status" -ne 0 ] || status=1
fi
exit "$status"
