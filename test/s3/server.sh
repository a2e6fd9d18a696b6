#!/usr/bin/env bash
# A real S3 server for the tests: a single-node Ceph cluster (one monitor, one memstore OSD) with
# radosgw on 127.0.0.1, and a test user.
#
#   server.sh start DIR   start; writes DIR/env (S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY, S3_DIR)
#   server.sh stop DIR    stop everything and remove DIR
#   server.sh stop-rgw DIR / start-rgw DIR   stop or start radosgw alone (fault-injection tests)
set -euo pipefail
cmd=${1:?usage: server.sh start|stop|stop-rgw|start-rgw DIR}
dir=${2:?usage: server.sh start|stop|stop-rgw|start-rgw DIR}
conf="$dir/ceph.conf"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

alive() { # pid: running and not a zombie
  local stat
  stat=$(ps -o stat= -p "$1" 2>/dev/null | tr -d ' ') || return 1
  [ -n "$stat" ] && [ "${stat#Z}" = "$stat" ]
}

stop_pid() {
  local file=$1 pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.05; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$file"
}

wait_for() { # what, tries (0.1 s each), command...
  local what=$1 tries=$2
  shift 2
  for _ in $(seq 1 "$tries"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "S3 test server: $what did not come up; logs in $dir/log" >&2
  tail -n 20 "$dir"/log/*.log >&2 || true
  return 1
}

start_rgw() {
  radosgw -c "$conf" -n client.rgw.a -f >>"$dir/log/rgw.out" 2>&1 &
  echo $! >"$dir/rgw.pid"
  # shellcheck disable=SC1091
  . "$dir/env"
  wait_for radosgw 300 curl -sf -o /dev/null "$S3_ENDPOINT/"
}

case "$cmd" in
start)
  mkdir -p "$dir"/{mon,osd,run,log}
  fsid=$(uuidgen)
  mon_port=$(free_port)
  rgw_port=$(free_port)
  tls_port=$(free_port)
  # A CA and a certificate for 127.0.0.1, so TLS is tested too (https on tls_port).
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=hitship test CA" \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$dir/tls.key" \
    -out "$dir/tls.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\n' >"$dir/tls.ext"
  openssl x509 -req -in "$dir/tls.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 2 -extfile "$dir/tls.ext" -out "$dir/tls.pem" 2>/dev/null
  cat >"$conf" <<CONF
[global]
fsid = $fsid
mon initial members = a
mon host = [v2:127.0.0.1:$mon_port]
public addr = 127.0.0.1
ms bind msgr1 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $dir/keyring
run dir = $dir/run
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
mon data = $dir/mon
osd data = $dir/osd
osd objectstore = memstore
memstore device bytes = 2147483648
osd fast shutdown = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
paxos propose interval = 0.05
mon data avail crit = 1
mon data avail warn = 2
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$rgw_port ssl_endpoint=127.0.0.1:$tls_port ssl_certificate=$dir/tls.pem ssl_private_key=$dir/tls.key
rgw data = $dir/rgw
rgw dns name = 127.0.0.1
CONF
  cat >"$dir/env" <<ENV
S3_DIR=$dir
S3_ENDPOINT=http://127.0.0.1:$rgw_port
S3_TLS_ENDPOINT=https://127.0.0.1:$tls_port
S3_CA_FILE=$dir/ca.pem
S3_ACCESS_KEY=hitship-test-access
S3_SECRET_KEY=hitship-test-secret-$(uuidgen | tr -d '-')
ENV
  ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool "$dir/keyring" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' \
    --cap mgr 'allow *' >/dev/null
  ceph-authtool "$dir/keyring" --gen-key -n osd.0 --cap mon 'allow profile osd' --cap osd 'allow *' \
    --cap mgr 'allow profile osd' >/dev/null
  ceph-authtool "$dir/keyring" --gen-key -n client.rgw.a --cap mon 'allow rw' --cap osd 'allow rwx' \
    --cap mgr 'allow rw' >/dev/null
  monmaptool --create --addv a "[v2:127.0.0.1:$mon_port]" --fsid "$fsid" "$dir/monmap" >/dev/null
  ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/keyring" 2>>"$dir/log/setup.log"
  ceph-mon -c "$conf" -i a -f >>"$dir/log/mon.out" 2>&1 &
  echo $! >"$dir/mon.pid"

  osd_uuid=$(uuidgen)
  # One `ceph` process for every monitor command: each start of the CLI costs a few tenths of a second.
  wait_for monitor 100 ceph -c "$conf" --connect-timeout 2 mon stat
  ceph -c "$conf" osd new "$osd_uuid" >/dev/null
  ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$osd_uuid" 2>>"$dir/log/setup.log" >/dev/null
  ceph-osd -c "$conf" -i 0 -f >>"$dir/log/osd.out" 2>&1 &
  echo $! >"$dir/osd.pid"
  pools=(.rgw.root default.rgw.log default.rgw.control default.rgw.meta default.rgw.buckets.index
    default.rgw.buckets.data default.rgw.buckets.non-ec)
  {
    for pool in "${pools[@]}"; do
      echo "osd pool create $pool 8"
      echo "osd pool application enable $pool rgw"
    done
  } | ceph -c "$conf" >/dev/null 2>>"$dir/log/setup.log"
  osd_up() { ceph -c "$conf" osd dump 2>/dev/null | grep -q '^osd.0 up'; }
  wait_for "OSD 0" 300 osd_up
  start_rgw
  # shellcheck disable=SC1091
  . "$dir/env"
  radosgw-admin -c "$conf" user create --uid hitship-test --display-name "hitship tests" \
    --access-key "$S3_ACCESS_KEY" --secret "$S3_SECRET_KEY" >/dev/null 2>>"$dir/log/setup.log"
  ;;
stop)
  stop_pid "$dir/rgw.pid"
  stop_pid "$dir/osd.pid"
  stop_pid "$dir/mon.pid"
  rm -rf "$dir"
  ;;
stop-rgw)
  stop_pid "$dir/rgw.pid"
  ;;
kill-rgw)
  [ -f "$dir/rgw.pid" ] && kill -9 "$(cat "$dir/rgw.pid")" 2>/dev/null || true
  rm -f "$dir/rgw.pid"
  ;;
start-rgw)
  start_rgw
  ;;
*)
  echo "usage: server.sh start|stop|stop-rgw|kill-rgw|start-rgw DIR" >&2
  exit 2
  ;;
esac
