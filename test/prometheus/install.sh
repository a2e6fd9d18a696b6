#!/usr/bin/env bash
# Installs the real Prometheus of the tests (the server and promtool, 2.42 in Debian 12) from
# Debian's packages, when it is missing. Nothing is started here: the tests start their own.
set -euo pipefail
if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
  echo "Installing prometheus from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
