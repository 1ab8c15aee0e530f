#!/usr/bin/env bash
# test_systemd_units.sh - the systemd units in deploy/systemd: systemd itself
# accepts them (systemd-analyze verify, with ExecStart pointing at the built
# programs) and each keeps the hardening an operator relies on, and runs as a
# Type=notify service with a watchdog (tests/deploy/test_sdnotify.c checks the
# daemons' side of it).
#   usage: test_systemd_units.sh UNIT_DIR TRUC_BROKER TRUC_AGENT
set -uo pipefail
units=$1 broker=$2 agent=$3
if ! command -v systemd-analyze >/dev/null; then
  echo "SKIPPED: systemd-analyze is not installed (Debian package systemd)"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }

sed -e "s|@BINDIR@/truc-broker|$broker|" -e "s|@DOCDIR@|/usr/share/doc/truc|" "$units/truc-broker.service.in" >"$work/truc-broker.service"
sed -e "s|@BINDIR@/truc-agent|$agent|" -e "s|@DOCDIR@|/usr/share/doc/truc|" "$units/truc-agent.service.in" >"$work/truc-agent.service"
if out=$(systemd-analyze verify "$work/truc-broker.service" "$work/truc-agent.service" 2>&1); then
  ok
else
  bad "systemd-analyze verify: $out"
fi
for unit in truc-broker truc-agent; do
  for want in '^User=' '^ProtectSystem=strict$' '^ReadWritePaths=/var/lib/' '^NoNewPrivileges=yes$' \
              '^PrivateTmp=yes$' '^Restart=on-failure$' '^ProtectHome=yes$' '^CapabilityBoundingSet=$' \
              '^StateDirectory=' '^ExecStart=.*--config /etc/truc/' \
              '^Type=notify$' '^NotifyAccess=main$' '^WatchdogSec=[1-9]'; do
    grep -qE -- "$want" "$work/$unit.service" && ok || bad "$unit.service lacks $want"
  done
done
grep -q '^ExecReload=/bin/kill -HUP \$MAINPID' "$work/truc-broker.service" && ok \
  || bad "truc-broker.service cannot reload the directory"
# The installed layout (deploy/OPERATIONS.md; tests/deploy/test_installed_layout.sh
# runs it): what each daemon must be able to write, group read for fetched files,
# and the agent's sockets in /run/truc-agent, where the group truc-dms reaches them.
for want in '^ReadWritePaths=.*/etc/truc/broker( |$)' '^ReadWritePaths=.*/var/backups/truc-broker( |$)' \
            '^UMask=0077$'; do
  grep -qE -- "$want" "$work/truc-broker.service" && ok || bad "truc-broker.service lacks $want"
done
for want in '^ReadWritePaths=.*/var/lib/truc-agent/data( |$)' \
            '^ReadWritePaths=.*/var/lib/truc-agent/exchange( |$)' '^StateDirectory=truc-agent/data$' \
            '^RuntimeDirectory=truc-agent$' '^RuntimeDirectoryMode=0755$' '^UMask=0027$'; do
  grep -qE -- "$want" "$work/truc-agent.service" && ok || bad "truc-agent.service lacks $want"
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
