#!/usr/bin/env bash
# The main job: a truc broker with three local agencies, running.
#
#   scripts/demo.sh          install what is missing, build, (re)create ./demo,
#                            start the broker and three agents, send an official
#                            document with a PDF attachment from the ministry to
#                            the two others, show receipts and inboxes, and
#                            leave everything running
#   scripts/demo.sh --stop   stop the broker and agents started by a demo
#
# Every run starts from a fresh ./demo (it says so when it resets one).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
demo=$root/demo

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

stop_all() {
  local stopped=0
  if [ -d "$demo/pids" ]; then
    for f in "$demo"/pids/*; do
      [ -e "$f" ] || continue
      pid=$(cat "$f")
      if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        stopped=$((stopped + 1))
      fi
      rm -f "$f"
    done
    # wait for a clean shutdown (they commit what they hold first)
    for _ in $(seq 50); do
      pgrep -f "$demo/" >/dev/null 2>&1 || break
      sleep 0.1
    done
  fi
  echo "$stopped process(es) stopped"
}

if [ "${1:-}" = "--stop" ]; then
  stop_all
  exit 0
fi

say "installing dependencies and building"
scripts/install-deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/release -j "$(nproc)" \
  --target truc-keys truc-broker truc-admin truc-agent truc truc-doc >/dev/null
bin=$root/build/release
keys=$bin/keys/truc-keys
broker=$bin/broker/truc-broker
admin=$bin/broker/truc-admin
agentd=$bin/agent/truc-agent
truc=$bin/agent/truc
doc=$bin/proto/truc-doc

if [ -d "$demo" ]; then
  echo "resetting ./demo: stopping what an earlier run started and starting afresh"
  stop_all
  rm -rf "$demo"
fi
mkdir -p "$demo"/{keys,logs,pids,agents,files}

ministry=000.00.00.G09
province=000.00.00.H29
department=000.00.01.H29
declare -A names=(
  [$ministry]="Bộ Nội vụ (demo)"
  [$province]="UBND tỉnh Quảng Ninh (demo)"
  [$department]="Sở Nội vụ tỉnh Quảng Ninh (demo)"
)

say "1. identities: the broker and three agencies (Ed25519 keys; CURVE keys derive from them)"
"$keys" new --broker hub --out "$demo/keys" | grep fingerprint
for code in $ministry $province $department; do
  "$keys" new --agency "$code" --out "$demo/keys" | grep fingerprint
done

say "2. the agency directory the broker trusts"
for code in $ministry $province $department; do
  "$keys" directory add --dir "$demo/directory.ini" "$demo/keys/$code.public" --name "${names[$code]}" >/dev/null
done
"$keys" directory list --dir "$demo/directory.ini"

say "3. the broker, on loopback, with its web console and a demo viewer account"
console_password=demo-viewer-$(head -c 6 /dev/urandom | xxd -p)
printf '%s\n' "$console_password" \
  | "$admin" console-user add demo --role viewer --accounts "$demo/console-accounts" >/dev/null
setsid "$broker" --identity "$demo/keys/hub.secret" --directory "$demo/directory.ini" \
  --data-dir "$demo/broker" --endpoint 'tcp://127.0.0.1:*' --set metrics.listen=127.0.0.1:0 \
  --set console.listen=127.0.0.1:0 --set console.accounts="$demo/console-accounts" \
  >"$demo/logs/broker.log" 2>&1 < /dev/null &
echo $! > "$demo/pids/broker"
for _ in $(seq 100); do [ -s "$demo/broker/endpoint" ] && break; sleep 0.1; done
endpoint=$(cat "$demo/broker/endpoint" 2>/dev/null) || { cat "$demo/logs/broker.log"; exit 1; }
echo "broker listening on $endpoint (data in demo/broker, log demo/logs/broker.log)"
console=$(cat "$demo/broker/console" 2>/dev/null)
echo "web console on $console (user demo, password $console_password)"

say "4. one agent per agency"
for code in $ministry $province $department; do
  setsid "$agentd" --identity "$demo/keys/$code.secret" --data-dir "$demo/agents/$code" \
    --broker "$endpoint" --broker-key "$demo/keys/hub.public" \
    --set api.allowed_dirs="$demo/files" --set metrics.listen=127.0.0.1:0 \
    >"$demo/logs/agent-$code.log" 2>&1 < /dev/null &
  echo $! > "$demo/pids/agent-$code"
done
for code in $ministry $province $department; do
  for _ in $(seq 100); do
    "$truc" --data-dir "$demo/agents/$code" --timeout 1 health --json 2>/dev/null \
      | grep -q '"connected": *true' && break
    sleep 0.2
  done
  "$truc" --data-dir "$demo/agents/$code" health | head -4
done

say "5. the ministry sends an official dispatch with a PDF attachment to the province and the department"
printf '%%PDF-1.4\n%% Công văn số 123/BNV-CCHC (demo)\n1 0 obj << /Type /Catalog >> endobj\n%%%%EOF\n' \
  > "$demo/files/cong-van-123.pdf"
id=$("$truc" --data-dir "$demo/agents/$ministry" send --to "$province,$department" \
  --type "Công văn" --code-number 123 --notation "BNV-CCHC" --urgency urgent \
  --subject "Về việc triển khai trục liên thông văn bản điện tử" \
  --signer "Nguyễn Văn An" --position "Thứ trưởng" --place "Hà Nội" --date "$(date +%F)" \
  --attach "$demo/files/cong-van-123.pdf" | grep -Eo '[0-9a-f]{8}-[0-9a-f-]{27}' | head -1)
echo "document id: $id"

say "6. receipts held by the ministry (broker ACCEPTED, then each recipient's DELIVERED)"
for _ in $(seq 100); do
  "$truc" --data-dir "$demo/agents/$ministry" sent "$id" --json 2>/dev/null \
    | grep -c '"DELIVERED"' | grep -q 2 && break
  sleep 0.2
done
"$truc" --data-dir "$demo/agents/$ministry" sent "$id"

say "7. the recipients' inboxes"
for code in $province $department; do
  echo "-- ${names[$code]} ($code)"
  "$truc" --data-dir "$demo/agents/$code" inbox
done

say "8. the broker's view"
"$admin" --data-dir "$demo/broker" status | head -12
"$admin" --data-dir "$demo/broker" audit verify

say "9. metrics and probes (Prometheus text; deploy/OPERATIONS.md, Monitoring)"
# Each daemon logs the port it bound for metrics.listen (port 0: any free one).
metrics_port() { grep -o 'event=metrics_listening [^ ]* port=[0-9]*' "$1" | tail -1 | sed 's/.*port=//'; }
broker_metrics=$(metrics_port "$demo/logs/broker.log")
echo "broker:  http://127.0.0.1:$broker_metrics/metrics  /healthz  /readyz"
for code in $ministry $province $department; do
  echo "$code: http://127.0.0.1:$(metrics_port "$demo/logs/agent-$code.log")/metrics"
done
if command -v curl >/dev/null; then
  # The figures are refreshed every second: wait for the two deliveries.
  for _ in $(seq 50); do
    curl -s "http://127.0.0.1:$broker_metrics/metrics" | grep -q '^truc_broker_documents_delivered_total 2$' && break
    sleep 0.2
  done
  curl -s "http://127.0.0.1:$broker_metrics/metrics" | grep -E '^truc_broker_(documents_(accepted|delivered)_total|connected_agencies) '
  echo "readyz: $(curl -s "http://127.0.0.1:$broker_metrics/readyz")"
fi

say "running"
cat <<EOT
The broker and three agents keep running (logs in demo/logs). Try:

  $truc --data-dir demo/agents/$province fetch $id --out demo/files/in
  $truc --data-dir demo/agents/$province notify $id --status 03 --note "Đã vào sổ"
  $truc --data-dir demo/agents/$ministry sent $id
  $truc --data-dir demo/agents/$department send --to $ministry --type "Báo cáo" --subject "Báo cáo tuần"
  $truc --data-dir demo/agents/$ministry watch            # events as they happen
  $admin --data-dir demo/broker agencies
  $admin --data-dir demo/broker audit show $id
  curl -s http://127.0.0.1:$broker_metrics/metrics | grep waiting_documents

Web console (viewer): $console  user demo, password $console_password
  an admin account: $admin console-user add NAME --role admin --accounts demo/console-accounts

Stop everything with: scripts/demo.sh --stop
EOT
