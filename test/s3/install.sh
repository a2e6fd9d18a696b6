#!/usr/bin/env bash
# Installs the real S3 server of the tests (Ceph radosgw, single node) and a real S3 client
# (awscli) from Debian's packages, when they are missing.
set -euo pipefail
need=()
for cmd in radosgw ceph-mon ceph-osd ceph radosgw-admin monmaptool ceph-authtool; do
  command -v "$cmd" >/dev/null 2>&1 || need=(radosgw ceph-mon ceph-osd)
done
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v uuidgen >/dev/null 2>&1 || need+=(uuid-runtime)
[ -x /usr/bin/aws ] || need+=(awscli)
if [ ${#need[@]} -gt 0 ]; then
  echo "Installing ${need[*]} from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
