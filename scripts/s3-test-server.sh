#!/usr/bin/env bash
# Starts and stops a real S3 server for tests: Ceph's radosgw (Debian 12's
# ceph 16.2 packages) on a single-node Ceph cluster that lives entirely in
# one folder and listens only on 127.0.0.1. No systemd, no block device.
#
#   scripts/s3-test-server.sh start DIR      bring the cluster up in DIR (made if missing)
#   scripts/s3-test-server.sh stop DIR       stop every daemon of DIR; nothing is left running
#   scripts/s3-test-server.sh kill-rgw DIR   SIGKILL radosgw only (a server dying mid-request)
#   scripts/s3-test-server.sh start-rgw DIR  start radosgw again, on the same port
#   scripts/s3-test-server.sh admin DIR ARGS radosgw-admin ARGS on DIR's cluster (users, keys)
#
# The cluster: one monitor (mon.a), one OSD on memstore (objects kept in the
# OSD's memory: no device, no file system tricks, gone when it stops), pools
# of size 1, and radosgw's beast front end. No manager daemon: radosgw and
# the OSD need none, and ceph-mgr pulls in a large Python stack. cephx is on,
# as in any real cluster, with keys generated into DIR/keyring.
#
# After `start`, DIR/s3.env holds the endpoint and a test user's keys as
# KEY=VALUE lines (S3_ENDPOINT, S3_REGION, AWS_ACCESS_KEY_ID,
# AWS_SECRET_ACCESS_KEY); `start` prints the endpoint. Logs: DIR/log/, pid
# files: DIR/run/. When S3_TEST_SERVER_OWNER_PID is set, a watchdog stops the
# cluster once that process is gone, so a test binary that crashes leaves no
# daemons behind.
#
# Exit status: 0 ok, 1 failure (with the daemons' log tails on stderr),
# 2 usage, 3 the Ceph binaries are missing (scripts/install-deps.sh installs them).
set -euo pipefail -o errtrace

readonly kAccessKey=LARESTESTACCESSKEY01
readonly kSecretKey=larestestsecretkey0123456789abcdefghijklm
readonly kRegion=us-east-1
readonly kWaitSeconds=120

usage() {
  echo "usage: $0 start|stop|kill-rgw|start-rgw DIR | admin DIR RADOSGW-ADMIN-ARGS..." >&2
  exit 2
}

log() { echo "s3-test-server: $*" >&2; }

# Ceph's daemons and tools live in /usr/bin and /usr/sbin.
export PATH=$PATH:/usr/sbin:/usr/bin

check_binaries() {
  local missing=()
  for binary in ceph ceph-authtool monmaptool ceph-mon ceph-osd radosgw radosgw-admin python3; do
    command -v "$binary" >/dev/null 2>&1 || missing+=("$binary")
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    log "missing ${missing[*]}: run scripts/install-deps.sh (Debian packages ceph-mon ceph-osd radosgw ceph-common)"
    exit 3
  fi
}

# Ports the kernel hands out as free; a race with another process is possible
# but unlikely in the ephemeral range, and start fails loudly if it happens.
free_ports() {
  python3 -c '
import socket
sockets = [socket.socket() for _ in range(int(__import__("sys").argv[1]))]
for s in sockets: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in sockets))' "$1"
}

now_ms() { date +%s%3N; }

pid_of() {  # pid_of DIR NAME: the pid in DIR/run/NAME.pid, if that process runs
  local file=$1/run/$2.pid pid
  [[ -s $file ]] || return 1
  pid=$(<"$file")
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

# Kills NAME's daemon with SIGKILL and waits until it is gone (at most 10 s).
kill_daemon() {
  local dir=$1 name=$2 pid
  pid=$(pid_of "$dir" "$name") || return 0
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    # A killed daemon whose parent has not reaped it yet is a zombie: gone.
    [[ $(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null) == Z ]] && break
    sleep 0.1
  done
  rm -f "$dir/run/$name.pid"
}

show_logs() {
  local dir=$1
  for file in "$dir"/log/*.log; do
    [[ -f $file ]] || continue
    echo "---- tail of $file" >&2
    tail -n 15 "$file" >&2
  done
}

write_config() {
  local dir=$1 fsid=$2 mon_port=$3 rgw_port=$4
  cat >"$dir/ceph.conf" <<EOF
# A one-node Ceph cluster for tests (scripts/s3-test-server.sh).
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
public addr = 127.0.0.1
keyring = $dir/keyring
auth allow insecure global id reclaim = false
run dir = $dir/run
admin socket = $dir/run/\$name.asok
pid file = $dir/run/\$name.pid
log file = $dir/log/\$name.log
# One OSD: every pool has one copy and few placement groups.
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 1
osd pool default pgp num = 1
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon warn on pool no redundancy = false
mon data avail warn = 1
# Commit monitor changes (pool creation at first start) without the usual
# one-second batching: startup is a chain of such changes.
paxos propose interval = 0.01
paxos min wait = 0.01
[mon]
mon data = $dir/mon/\$id
[osd]
osd data = $dir/osd/\$id
osd objectstore = memstore
memstore device bytes = 1073741824
osd memory target = 939524096
# Nobody else to tell: shut down at once.
osd fast shutdown notify mon = false
[client.rgw]
# tcp_nodelay: replies go out at once, not 40 ms later (Nagle + delayed ACK).
rgw frontends = beast endpoint=127.0.0.1:$rgw_port tcp_nodelay=1
rgw data = $dir/rgw
# Virtual-hosted addressing: http://BUCKET.localhost:PORT/KEY (libcurl resolves
# *.localhost to loopback itself).
rgw dns name = localhost
# No metadata cache: with it, each bucket or user change notifies every
# radosgw that ever watched, and one SIGKILLed by kill-rgw would stall such
# changes until its watch times out (30 s).
rgw cache enabled = false
EOF
}

write_keyring() {
  local dir=$1
  ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool "$dir/keyring" --gen-key -n client.admin \
    --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
  ceph-authtool "$dir/keyring" --gen-key -n osd.0 \
    --cap mon 'allow profile osd' --cap osd 'allow *' --cap mgr 'allow profile osd' >/dev/null
  ceph-authtool "$dir/keyring" --gen-key -n client.rgw \
    --cap mon 'allow rw' --cap osd 'allow rwx' --cap mgr 'allow rw' >/dev/null
}

# The status line of a plain GET / to 127.0.0.1:PORT (bash's /dev/tcp: no curl needed).
http_status_line() {
  exec 3<>"/dev/tcp/127.0.0.1/$1"
  printf 'GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
  timeout 5 head -n 1 <&3
}

# Waits until radosgw answers an HTTP request on 127.0.0.1:PORT.
wait_for_rgw() {
  local dir=$1 port=$2 begin deadline reply
  begin=$(date +%s)
  deadline=$((begin + kWaitSeconds))
  while (($(date +%s) < deadline)); do
    # The daemon writes its pid file a moment after it forks away.
    if ! pid_of "$dir" client.rgw >/dev/null; then
      if [[ -s $dir/run/client.rgw.pid ]] || (($(date +%s) > begin + 10)); then
        log "radosgw exited"
        return 1
      fi
    fi
    if reply=$(http_status_line "$port" 2>/dev/null) && [[ $reply == HTTP/* ]]; then
      return 0
    fi
    sleep 0.1
  done
  log "radosgw did not answer on port $port within ${kWaitSeconds}s"
  return 1
}

start_rgw() {
  local dir=$1 port
  port=$(sed -n 's/^S3_PORT=//p' "$dir/s3.env")
  [[ -n $port ]] || { log "$dir/s3.env has no S3_PORT: was the cluster started?"; return 1; }
  pid_of "$dir" client.rgw >/dev/null && { log "radosgw already runs"; return 1; }
  radosgw -c "$dir/ceph.conf" -n client.rgw
  wait_for_rgw "$dir" "$port"
}

start_watchdog() {
  local dir=$1 owner=$2 script
  script=$(readlink -f "$0")
  # setsid: outlives the caller's process group; its own output goes to a log.
  setsid bash -c '
    while kill -0 "$1" 2>/dev/null && [[ -d "$2/run" ]]; do sleep 1; done
    [[ -d "$2/run" ]] && "$3" stop "$2"' watchdog "$owner" "$dir" "$script" \
    </dev/null >>"$dir/log/watchdog.log" 2>&1 &
  echo $! >"$dir/run/watchdog.pid"
}

start() {
  local dir=$1
  check_binaries
  mkdir -p "$dir"
  dir=$(readlink -f "$dir")
  if [[ -e $dir/ceph.conf ]]; then
    log "$dir already holds a cluster: stop it and use an empty folder"
    exit 1
  fi
  mkdir -p "$dir/mon/a" "$dir/osd/0" "$dir/log" "$dir/run" "$dir/rgw"
  trap 'log "start failed"; show_logs "$dir"; stop "$dir"' ERR

  local begin fsid osd_uuid mon_port rgw_port
  begin=$(now_ms)
  fsid=$(python3 -c 'import uuid; print(uuid.uuid4())')
  osd_uuid=$(python3 -c 'import uuid; print(uuid.uuid4())')
  read -r mon_port rgw_port < <(free_ports 2)
  write_config "$dir" "$fsid" "$mon_port" "$rgw_port"
  printf 'S3_ENDPOINT=http://127.0.0.1:%s\nS3_PORT=%s\nS3_REGION=%s\nAWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n' \
    "$rgw_port" "$rgw_port" "$kRegion" "$kAccessKey" "$kSecretKey" >"$dir/s3.env"
  [[ -n ${S3_TEST_SERVER_OWNER_PID:-} ]] && start_watchdog "$dir" "$S3_TEST_SERVER_OWNER_PID"

  write_keyring "$dir"
  monmaptool --create --fsid "$fsid" --add a "127.0.0.1:$mon_port" "$dir/monmap" >/dev/null
  ceph-mon -c "$dir/ceph.conf" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/keyring"
  ceph-mon -c "$dir/ceph.conf" -i a
  log "monitor up after $(($(now_ms) - begin)) ms"

  local -a ceph=(timeout "$kWaitSeconds" ceph -c "$dir/ceph.conf" --connect-timeout "$kWaitSeconds")
  "${ceph[@]}" osd new "$osd_uuid" >/dev/null
  ceph-osd -c "$dir/ceph.conf" -i 0 --mkfs --osd-uuid "$osd_uuid" 2>>"$dir/log/osd.0.mkfs.log"
  ceph-osd -c "$dir/ceph.conf" -i 0 2>>"$dir/log/osd.0.stderr.log"
  log "osd started after $(($(now_ms) - begin)) ms"

  # Makes radosgw's pools on the way (the OSD must be up to serve them).
  timeout "$kWaitSeconds" radosgw-admin -c "$dir/ceph.conf" user create --uid=lares-test \
    --display-name="Lares tests" --access-key="$kAccessKey" --secret-key="$kSecretKey" >/dev/null
  log "S3 user made after $(($(now_ms) - begin)) ms"

  start_rgw "$dir"
  trap - ERR
  log "radosgw answers on 127.0.0.1:$rgw_port after $(($(now_ms) - begin)) ms"
  echo "http://127.0.0.1:$rgw_port"
}

stop() {
  local dir=$1
  [[ -d $dir/run ]] || return 0
  # Test data only: no clean shutdown needed. radosgw first, so that no
  # client waits on an OSD that is gone.
  kill_daemon "$dir" client.rgw
  kill_daemon "$dir" osd.0
  kill_daemon "$dir" mon.a
  local watchdog
  if watchdog=$(pid_of "$dir" watchdog) && [[ $watchdog != "$PPID" && $watchdog != "$$" ]]; then
    kill "$watchdog" 2>/dev/null || true
  fi
  rm -f "$dir/run/watchdog.pid"
}

if [[ $# -gt 2 && $1 == admin ]]; then
  exec timeout "$kWaitSeconds" radosgw-admin -c "$2/ceph.conf" "${@:3}"
fi
[[ $# -eq 2 ]] || usage
case $1 in
  start) start "$2" ;;
  stop) stop "$2" ;;
  kill-rgw) kill_daemon "$2" client.rgw ;;
  start-rgw) check_binaries && start_rgw "$(readlink -f "$2")" ;;
  *) usage ;;
esac
