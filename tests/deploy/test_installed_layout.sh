#!/usr/bin/env bash
# test_installed_layout.sh - the installed layout of deploy/OPERATIONS.md,
# with the daemons started from the installed systemd units under the
# sandbox those units ask for.
#
# `cmake --install` of the build goes into a staging directory that is
# mounted on the install prefix inside a private mount namespace, where /var
# and /home are fresh tmpfs and /etc an overlay: the host is not changed. The
# users, groups, directories, keys and configuration are made with the
# commands of OPERATIONS.md. Each daemon is then started the way systemd 252
# starts its unit, for the directives the units use: User=, Group= (with the
# user's supplementary groups), UMask=, StateDirectory=/StateDirectoryMode=,
# RuntimeDirectory=/RuntimeDirectoryMode= (/run is a fresh tmpfs too),
# ProtectSystem=strict (every mount read-only but /proc, /sys and /dev),
# ReadWritePaths= ('-' for optional), ProtectHome=yes, PrivateTmp=yes,
# NoNewPrivileges=yes, and for Type=notify a NOTIFY_SOCKET in /run (where
# systemd keeps its own) with WATCHDOG_USEC from WatchdogSec=: the daemon in
# its sandbox must reach it with READY=1 and WATCHDOG=1 (every second here)
# (tests/deploy/test_sdnotify.c checks the protocol itself). Where systemd runs as PID 1 the same checks could run
# with the real units through systemd-run; this test does not need it.
#
# Checked: truc-admin as the broker's user without --data-dir and with
# options after the command, a backup into /var/backups/truc-broker, an
# agency suspended and reinstated (the broker rewrites
# /etc/truc/broker/directory.ini), "permission denied" for another user; truc
# as the agent's user without --data-dir; the agent's data directory 0700; its
# sockets in /run/truc-agent, 0660 and group truc-dms; a DMS account of that
# group (not the agent's user) runs truc without options: fetches a document
# into the exchange directory (0640, group truc-dms, readable by the group),
# sends a file it put there, follows events; an account outside the group is
# refused.
#
#   usage: test_installed_layout.sh BUILD_DIR INSTALL_PREFIX
# Needs root (users, mounts); exits 77 (skipped) where that is not possible.
set -uo pipefail
build=$1 prefix=$2
skip() {
  echo "SKIPPED: $*"
  exit 77
}

if [ -z "${TRUC_LAYOUT_NS:-}" ]; then
  [ "$(id -u)" = 0 ] || skip "needs root to add users and mount (run ctest as root, or in a container)"
  for tool in unshare setpriv useradd groupadd usermod install mount; do
    command -v $tool >/dev/null || skip "$tool is not installed"
  done
  case $prefix in
    /usr | / | "") skip "the build installs into $prefix, which the test cannot mount over" ;;
  esac
  [ -d "$prefix" ] || skip "the install prefix $prefix does not exist on this host"
  unshare -m --propagation private true 2>/dev/null || skip "cannot make a mount namespace here"
  exec env TRUC_LAYOUT_NS=1 unshare -m --propagation private bash "$0" "$@"
fi

# ---------------------------------------------------------------------------
#  Inside the private mount namespace: a fresh host

# What operators type runs with sudo's default umask; the daemons get their
# unit's UMask (start_unit).
umask 022
work=$(mktemp -d "${TMPDIR:-/tmp}/truc-layout.XXXXXX")
chmod 0755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
passed=0 failed=0
ok() { passed=$((passed + 1)); }
bad() {
  failed=$((failed + 1))
  echo "FAIL: $*" >&2
}
die() {
  echo "FAIL: $*" >&2
  for f in "$work"/*.log; do
    [ -f "$f" ] && { echo "--- $f" >&2; tail -20 "$f" >&2; }
  done
  exit 1
}
# wait_for SECONDS command...: until the command succeeds
wait_for() {
  local limit=$1
  shift
  for _ in $(seq $((limit * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  return 1
}
# as USER command...: run as USER with the user's groups, like sudo -u
as() {
  local user=$1
  shift
  setpriv --reuid="$user" --regid="$user" --init-groups -- "$@"
}

# The overlay's root takes the upper directory's mode: /etc's, not umask's.
install -d -m 0755 "$work/etc-upper" "$work/etc-work" "$work/stage"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$work/etc-upper,workdir=$work/etc-work" /etc ||
  skip "cannot mount an overlay on /etc"
mount -t tmpfs -o mode=0755 tmpfs /var || die "mount tmpfs on /var"
# Made with the modes a Debian host has, whatever umask ctest runs with.
install -d -m 0755 /var/lib /var/backups /var/log /etc/truc && install -d -m 1777 /var/tmp
mount -t tmpfs -o mode=0755 tmpfs /home || die "mount tmpfs on /home"
mount -t tmpfs -o mode=0755 tmpfs /run || die "mount tmpfs on /run"
DESTDIR="$work/stage" cmake --install "$build" >"$work/install.log" 2>&1 || die "cmake --install"
chmod -R go+rX,go-w "$work/stage"
mount --bind "$work/stage$prefix" "$prefix" || die "mount the staged install on $prefix"
export PATH="$prefix/bin:$PATH"
units="$prefix/lib/systemd/system"
for u in truc-broker truc-agent; do
  [ -f "$units/$u.service" ] || die "no $units/$u.service after cmake --install"
done
unset TRUC_DATA_DIR TRUC_PASSPHRASE

# start_unit UNIT LOG: start the unit's ExecStart as systemd would, in the
# background; the pid goes to pids.
start_unit() {
  local unit=$1 log=$2
  val() { sed -n "s/^$1=//p" "$unit" | tail -1; }
  local user group umask exec state smode runtime rmode rw
  user=$(val User) group=$(val Group) umask=$(val UMask) exec=$(val ExecStart)
  state=$(val StateDirectory) smode=$(val StateDirectoryMode)
  runtime=$(val RuntimeDirectory) rmode=$(val RuntimeDirectoryMode)
  rw=$(sed -n 's/^ReadWritePaths=//p' "$unit" | tr '\n' ' ')
  [ -n "$user" ] && [ -n "$exec" ] || die "$unit: no User= or ExecStart="
  for d in $state; do
    # systemd makes missing parents root 0755, the directory itself the
    # user's with StateDirectoryMode.
    install -d -m 0755 "/var/lib/$(dirname "$d")"
    install -d -o "$user" -g "${group:-$user}" -m "${smode:-0755}" "/var/lib/$d"
  done
  # RuntimeDirectory= likewise in /run, writable under ProtectSystem=strict.
  for d in $runtime; do
    install -d -m 0755 "/run/$(dirname "$d")"
    install -d -o "$user" -g "${group:-$user}" -m "${rmode:-0755}" "/run/$d"
    rw="$rw /run/$d"
  done
  # Type=notify: a datagram socket read by a small listener (python3), as
  # systemd's /run/systemd/notify; what arrives goes to LOG.notify.
  local notify="" watchdog=""
  if [ "$(val Type)" = notify ] && command -v python3 >/dev/null; then
    install -d -m 0755 /run/truc-notify
    notify=/run/truc-notify/$(basename "$unit").sock
    rm -f "$notify"
    python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o666)
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        out.write(s.recv(4096).decode() + "\n")
' "$notify" "$log.notify" &
    pids+=($!)
    wait_for 10 test -S "$notify" || die "$unit: the notify listener did not start"
    # Pings every second rather than every WatchdogSec/2, as a drop-in
    # with WatchdogSec=2s would make them, so the test need not wait.
    [ -n "$(val WatchdogSec)" ] && watchdog=2000000
  fi
  NOTIFY_SOCKET=$notify WATCHDOG_USEC=$watchdog \
  UNIT_RW=$rw UNIT_UMASK=${umask:-0022} UNIT_USER=$user UNIT_GROUP=${group:-$user} \
    UNIT_HOME=$(val ProtectHome) UNIT_TMP=$(val PrivateTmp) UNIT_EXEC=$exec \
    unshare -m --propagation private bash -c '
      set -u
      # ProtectSystem=strict
      while read -r mp; do
        case $mp in /proc | /proc/* | /sys | /sys/* | /dev | /dev/*) continue ;; esac
        mount -o remount,bind,ro "$mp" 2>/dev/null
      done < <(awk "{print \$5}" /proc/self/mountinfo | sort -u)
      if touch /etc/.truc-sandbox-probe 2>/dev/null; then
        echo "sandbox: /etc is still writable" >&2
        exit 99
      fi
      if [ "$UNIT_HOME" = yes ]; then
        for d in /home /root /run/user; do
          [ -d $d ] && mount -t tmpfs -o ro,mode=0000 tmpfs $d
        done
      fi
      if [ "$UNIT_TMP" = yes ]; then
        mount -t tmpfs -o mode=1777 tmpfs /tmp
        mount -t tmpfs -o mode=1777 tmpfs /var/tmp
      fi
      for p in $UNIT_RW; do
        path=${p#-}
        if [ ! -e "$path" ]; then
          [ "$p" != "$path" ] && continue
          echo "sandbox: ReadWritePaths=$path does not exist" >&2
          exit 99
        fi
        mount --bind "$path" "$path" && mount -o remount,bind,rw "$path" || exit 99
      done
      umask "$UNIT_UMASK"
      exec setpriv --reuid="$UNIT_USER" --regid="$UNIT_GROUP" --init-groups --no-new-privs \
        -- env ${NOTIFY_SOCKET:+NOTIFY_SOCKET=$NOTIFY_SOCKET} \
        ${WATCHDOG_USEC:+WATCHDOG_USEC=$WATCHDOG_USEC} $UNIT_EXEC' >"$log" 2>&1 &
  pids+=($!)
}

# notified LOG WHAT: the unit started with start_unit LOG sent WHAT (READY=1,
# WATCHDOG=1, ...) to its notify socket; true where no socket was given.
notified() {
  [ -f "$1.notify" ] || return 0
  wait_for 30 grep -qx "$2" "$1.notify"
}

A=000.00.01.H01
B=000.00.00.G09

# ---------------------------------------------------------------------------
#  Broker host, as OPERATIONS.md says

useradd --system --home-dir /var/lib/truc-broker --shell /usr/sbin/nologin truc || die "useradd truc"
install -d -o truc -g truc -m 0700 /etc/truc/broker /var/backups/truc-broker
as truc truc-keys new --broker hub-1 --out /etc/truc/broker >"$work/keys.log" 2>&1 ||
  die "truc-keys new --broker"
cat >/etc/truc/broker.conf <<EOF
[broker]
identity = /etc/truc/broker/hub-1.secret
directory = /etc/truc/broker/directory.ini
data_dir = /var/lib/truc-broker
[network]
endpoint = tcp://127.0.0.1:*
heartbeat = 1s
[store]
map_size = 256M
min_free = 1M
EOF
chmod 0644 /etc/truc/broker.conf # whatever umask ctest runs with

# ---------------------------------------------------------------------------
#  Agency host (the same machine here), as OPERATIONS.md says

useradd --system --home-dir /var/lib/truc-agent --shell /usr/sbin/nologin truc-agent ||
  die "useradd truc-agent"
groupadd --system truc-dms && usermod -a -G truc-dms truc-agent || die "group truc-dms"
install -d -o truc-agent -g truc-agent -m 0700 /etc/truc/agent
install -d -m 0755 /var/lib/truc-agent
install -d -o truc-agent -g truc-dms -m 2770 /var/lib/truc-agent/exchange
as truc-agent sh -c 'umask 077; echo "mật khẩu của cơ quan" > /etc/truc/agent/passphrase'
as truc-agent truc-keys new --agency $A --out /etc/truc/agent --encrypt \
  --passphrase-file /etc/truc/agent/passphrase >>"$work/keys.log" 2>&1 || die "truc-keys new --agency"
install -m 0644 /etc/truc/broker/hub-1.public /etc/truc/agent/
# A DMS account: in truc-dms, not truc-agent; and an account outside it.
useradd --create-home --shell /bin/sh clerk && usermod -a -G truc-dms clerk || die "useradd clerk"
useradd --create-home --shell /bin/sh outsider || die "useradd outsider"

# The other agency: an agent outside the sandbox, in the work directory.
truc-keys new --agency $B --out "$work/b" >>"$work/keys.log" 2>&1 || die "truc-keys new B"
# The agencies' public files travel to the broker's operator by copy.
install -m 0644 "/etc/truc/agent/$A.public" "$work/$A.public"
install -m 0644 "$work/b/$B.public" "$work/$B.public"
for c in $A $B; do
  as truc truc-keys directory add --dir /etc/truc/broker/directory.ini "$work/$c.public" \
    >>"$work/keys.log" 2>&1 || die "directory add $c"
done

# ---------------------------------------------------------------------------
#  The broker under its unit

start_unit "$units/truc-broker.service" "$work/broker.log"
wait_for 30 test -s /var/lib/truc-broker/endpoint || die "the broker did not start under its unit"
notified "$work/broker.log" READY=1 && notified "$work/broker.log" WATCHDOG=1 && ok ||
  bad "the broker under its unit sent no READY=1 and WATCHDOG=1 to NOTIFY_SOCKET"
endpoint=$(cat /var/lib/truc-broker/endpoint)
[ "$(stat -c %a /var/lib/truc-broker)" = 700 ] && ok || bad "/var/lib/truc-broker is not 0700"

out=$(as truc truc-admin status --json 2>&1) && grep -q '"uptime_s"' <<<"$out" && ok ||
  bad "truc-admin status --json as truc, no --data-dir: $out"
out=$(as truc truc-admin backup /var/backups/truc-broker/first 2>&1) && ok ||
  bad "backup into /var/backups/truc-broker: $out"
[ -n "$(ls -A /var/backups/truc-broker/first 2>/dev/null)" ] && ok ||
  bad "the backup left nothing in /var/backups/truc-broker/first"
out=$(as truc truc-admin agency suspend $B 2>&1) && ok ||
  bad "agency suspend (rewrites /etc/truc/broker/directory.ini): $out"
grep -A4 "^\[$B\]" /etc/truc/broker/directory.ini | grep -q 'state *= *suspended' && ok ||
  bad "directory.ini does not say $B is suspended"
out=$(as truc truc-admin agency reinstate $B 2>&1) && ok || bad "agency reinstate: $out"
out=$(as clerk truc-admin status 2>&1)
[ $? = 2 ] && grep -q "permission denied" <<<"$out" && ok ||
  bad "truc-admin as another user: $out"

# ---------------------------------------------------------------------------
#  The agent under its unit

cat >/etc/truc/agent.conf <<EOF
[agent]
identity = /etc/truc/agent/$A.secret
passphrase_file = /etc/truc/agent/passphrase
data_dir = /var/lib/truc-agent/data
[broker]
endpoint = $endpoint
public_key = /etc/truc/agent/hub-1.public
[api]
endpoint = ipc:///run/truc-agent/api.sock
events_endpoint = ipc:///run/truc-agent/events.sock
socket_mode = 0660
socket_group = truc-dms
[store]
map_size = 256M
EOF
chmod 0644 /etc/truc/agent.conf
start_unit "$units/truc-agent.service" "$work/agent.log"
truc-agent --identity "$work/b/$B.secret" --data-dir "$work/agent-b" --broker "$endpoint" \
  --broker-key /etc/truc/broker/hub-1.public --set store.map_size=256M >"$work/agent-b.log" 2>&1 &
pids+=($!)
connected() { as truc-agent truc health --json 2>/dev/null | grep -qE '"connected": *true'; }
wait_for 60 connected || die "truc health as truc-agent (no --data-dir): the agent never connected"
ok
notified "$work/agent.log" READY=1 && notified "$work/agent.log" WATCHDOG=1 && ok ||
  bad "the agent under its unit sent no READY=1 and WATCHDOG=1 to NOTIFY_SOCKET"
wait_for 60 bash -c "truc --data-dir '$work/agent-b' health --json | grep -qE '\"connected\": *true'" ||
  die "agency B never connected"
[ "$(stat -c %a /var/lib/truc-agent/data)" = 700 ] && ok || bad "the agent's data directory is not 0700"
loose=$(find /var/lib/truc-agent/data -perm /077 | head -3)
[ -z "$loose" ] && ok || bad "files in the data directory open to group or others: $loose"
[ "$(stat -c '%a %U' /run/truc-agent 2>&1)" = "755 truc-agent" ] && ok ||
  bad "/run/truc-agent: $(stat -c '%a %U:%G' /run/truc-agent 2>&1), expected 755 truc-agent"
for s in api events; do
  [ "$(stat -c '%a %U:%G' /run/truc-agent/$s.sock 2>&1)" = "660 truc-agent:truc-dms" ] && ok ||
    bad "/run/truc-agent/$s.sock: $(stat -c '%a %U:%G' /run/truc-agent/$s.sock 2>&1), expected 660 truc-agent:truc-dms"
done

# The DMS account reaches the agent with no option; one outside truc-dms does not.
out=$(as clerk truc health --json 2>&1) && grep -qE '"connected": *true' <<<"$out" && ok ||
  bad "truc health as a member of truc-dms, no option: $out"
out=$(as outsider truc health 2>&1)
[ $? = 2 ] && grep -qi "permission denied" <<<"$out" && ok ||
  bad "truc health outside truc-dms: $out"
out=$(as outsider truc --endpoint ipc:///run/truc-agent/api.sock --timeout 5 inbox 2>&1)
[ $? = 2 ] && ok || bad "truc --endpoint outside truc-dms: $out"

# B sends; the DMS account fetches it into the exchange directory. B's agent
# runs outside the sandbox, and its exchange directory is beside its data
# directory.
install -d -m 0700 "$work/exchange"
head -c 50000 /dev/urandom >"$work/exchange/report.pdf"
out=$(truc --data-dir "$work/agent-b" send --to $A --type "Công văn" --subject "Bố trí thư mục" \
  --attach "$work/exchange/report.pdf" 2>&1) || die "B send: $out"
id=$(grep -Eo '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}' <<<"$out" | head -1)
wait_for 60 bash -c "setpriv --reuid=clerk --regid=clerk --init-groups truc inbox --json | grep -q $id" ||
  die "the document never reached A's inbox (truc inbox as a member of truc-dms)"
out=$(as clerk truc fetch "$id" --out /var/lib/truc-agent/exchange/in 2>&1) && ok ||
  bad "fetch into the exchange directory as a member of truc-dms: $out"
got=/var/lib/truc-agent/exchange/in/$id/report.pdf
[ "$(stat -c '%a %G' "$got" 2>/dev/null)" = "640 truc-dms" ] && ok ||
  bad "fetched file: $(stat -c '%a %U:%G' "$got" 2>&1), expected 640 group truc-dms"
[ "$(stat -c '%G' "$(dirname "$got")" 2>/dev/null)" = truc-dms ] && ok ||
  bad "fetched folder: $(stat -c '%a %U:%G' "$(dirname "$got")" 2>&1), expected group truc-dms"
as clerk cat "$got" 2>/dev/null | cmp -s "$work/exchange/report.pdf" - && ok ||
  bad "a DMS account in truc-dms cannot read $got"
out=$(as outsider truc fetch "$id" --out /home/outsider 2>&1)
[ $? = 2 ] && grep -qi "permission denied" <<<"$out" && ok || bad "truc fetch outside truc-dms: $out"
out=$(as clerk truc watch --after 0 --count 1 --json --timeout 30 2>&1) && grep -q '"topic"' <<<"$out" &&
  ok || bad "truc watch as a member of truc-dms: $out"
out=$(as outsider truc watch --after 0 --count 1 --timeout 5 2>&1)
[ $? = 2 ] && grep -qi "permission denied" <<<"$out" && ok || bad "truc watch outside truc-dms: $out"

# The DMS account puts a file in the exchange directory and sends it.
as clerk sh -c "umask 027; head -c 20000 /dev/urandom > /var/lib/truc-agent/exchange/reply.pdf"
out=$(as clerk truc send --to $B --type "Công văn" --subject "Trả lời" \
  --attach /var/lib/truc-agent/exchange/reply.pdf 2>&1) && ok ||
  bad "send, as a member of truc-dms, a file it put in the exchange directory: $out"
reply=$(grep -Eo '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}' <<<"$out" | head -1)
[ -n "$reply" ] && wait_for 60 bash -c "truc --data-dir '$work/agent-b' inbox --json | grep -q $reply" && ok ||
  bad "the document the DMS account sent never reached B"
# The agent's user still reaches its own agent.
out=$(as truc-agent truc inbox --json 2>&1) && grep -q "$id" <<<"$out" && ok ||
  bad "truc inbox as truc-agent: $out"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
