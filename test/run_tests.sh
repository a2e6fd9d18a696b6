#!/usr/bin/env bash
# The test command (`deno task test`): starts the real S3 server (Ceph radosgw on 127.0.0.1,
# installed with apt when missing), installs Prometheus and promtool (the tests start their own
# Prometheus), runs every test, stops the server, and ends with the line
# "N passed, N failed" carrying the real counts. Extra arguments go to `deno test`.
set -uo pipefail
cd "$(dirname "$0")/.."

results="$(mktemp -d)"
s3dir="$(mktemp -d /tmp/hs3.XXXXXX)"
# Every temporary directory a test makes goes under one, removed at the end however tests end.
scratch="$(mktemp -d /tmp/hst.XXXXXX)"
cleanup() {
  bash test/s3/server.sh stop "$s3dir" >/dev/null 2>&1 || true
  rm -rf "$results" "$scratch"
}
trap cleanup EXIT

if ! bash test/s3/install.sh; then
  echo "Cannot install the S3 test server (radosgw) or awscli" >&2
fi
if ! bash test/prometheus/install.sh; then
  echo "Cannot install Prometheus (prometheus, promtool): the monitoring tests will fail" >&2
fi
started=$(date +%s%N)
if bash test/s3/server.sh start "$s3dir"; then
  set -a
  # shellcheck disable=SC1091
  . "$s3dir/env"
  set +a
  echo "S3 test server (radosgw) up at $S3_ENDPOINT in $(( ($(date +%s%N) - started) / 1000000 )) ms"
else
  echo "The S3 test server did not start: the S3 tests will fail" >&2
fi

TMPDIR="$scratch" deno test --allow-all --parallel --junit-path="$results/junit.xml" "$@"
status=$?

if [ -s "$results/junit.xml" ]; then
  counts=$(head -c 2000 "$results/junit.xml" | grep -o '<testsuites[^>]*>' | head -n 1)
  attr() { echo "$counts" | grep -o "$1=\"[0-9]*\"" | grep -o '[0-9]*'; }
  tests=$(attr tests); failures=$(attr failures); errors=$(attr errors)
  failed=$(( ${failures:-0} + ${errors:-0} ))
  # Ignored and filtered-out tests are in the count of tests too, each with a <skipped/>.
  skipped=$(grep -o '<skipped' "$results/junit.xml" | wc -l)
  passed=$(( ${tests:-0} - failed - skipped ))
  if [ "$skipped" -gt 0 ]; then echo "${skipped} skipped (ignored, with the reason above, or filtered out)"; fi
  # A run that failed before any test reported still counts as a failure.
  if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
  echo "${passed} passed, ${failed} failed"
else
  echo "0 passed, 1 failed"
  [ "$status" -ne 0 ] || status=1
fi
exit "$status"
