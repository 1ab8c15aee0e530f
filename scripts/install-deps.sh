#!/usr/bin/env bash
# Install what truc needs to build and test on Debian 12 (bookworm).
# Safe to run again: it installs only what is missing.
#   scripts/install-deps.sh             build and test
#   scripts/install-deps.sh --rabbitmq  also rabbitmq-server, the peer
#                                       `truc-bench --peer rabbitmq` runs (the
#                                       system service is not started)
set -euo pipefail

packages=(
  build-essential cmake pkg-config          # toolchain
  clang lld libclang-rt-14-dev clang-format # fuzzing (libFuzzer) and formatting
  libzmq3-dev libsodium-dev liblmdb-dev libmsgpack-dev libinih-dev libcmocka-dev
  libunistring-dev                          # NFC and case folding of attachment names
  libxml2-dev                               # the agent's edXML bridge (agent/edxml.h)
  libmicrohttpd-dev                         # /metrics, /healthz, /readyz and the web console (broker/web.c)
  prometheus                                # promtool: ctest -L metrics checks live output and alerts
  lmdb-utils                                # mdb_stat/mdb_dump for operators and tests
  systemd                                   # systemd-analyze checks the units in deploy/
  xxd procps                                # used by the demo and the tests
  libfaketime                               # broker_ops_clock_jump steps the broker's wall clock
  universal-ctags                           # scripts/sizes.sh: function lengths
  python3-zmq python3-msgpack               # agent/examples/dms_example.py (agent_dms_python_example)
  chromium chromium-driver                  # tests/web: the console in a headless browser
  librabbitmq-dev                           # truc-bench --peer rabbitmq (the AMQP client)
)
case "${1:-}" in
  --rabbitmq) packages+=(rabbitmq-server) ;;
  "") ;;
  *) echo "usage: scripts/install-deps.sh [--rabbitmq]" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
# A policy that forbids starting services: rabbitmq-server's package would
# start a system node, and truc-bench starts its own private one.
policy=""
if [[ " ${missing[*]} " == *" rabbitmq-server "* && ! -e /usr/sbin/policy-rc.d ]]; then
  policy=/usr/sbin/policy-rc.d
  trap '$sudo rm -f "$policy"' EXIT
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod 755 "$policy"
fi
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
