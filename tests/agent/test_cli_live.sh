#!/usr/bin/env bash
# test_cli_live.sh - the `truc` command against a real broker and two real
# agents: every command a clerk uses, their --json output, and the errors a
# clerk meets, each with its documented exit code.
#   usage: test_cli_live.sh TRUC_BROKER TRUC_KEYS TRUC_AGENT TRUC
set -uo pipefail
BROKER=$1 KEYS=$2 AGENT=$3 TRUC=$4
. "$(dirname "$0")/../lib/cli_env.sh"
cli_begin cli-live

A=000.00.01.H01
B=000.00.00.G09
cli_agencies $A $B
cli_broker --set network.heartbeat=1s
cli_agents $A $B
ta() { "$TRUC" --data-dir "agent-$A" "$@"; }
tb() { "$TRUC" --data-dir "agent-$B" "$@"; }
wait_for 30 connected $A || bad "agent A never connected"
wait_for 30 connected $B || bad "agent B never connected"

check "health" 0 "agency" -- ta health
check "health --json" 0 '"agency": *"000.00.01.H01"' -- ta health --json
check "directory" 0 "$B" -- ta directory

# With api.allowed_dirs unset the agents read and write files only in the
# exchange folder beside their data directories: $work/exchange here.
mkdir exchange
head -c 200000 /dev/urandom > exchange/report.pdf
check "a file outside the exchange folder" 3 "ERR_NOT_AUTHORIZED" -- \
  ta send --to $B --type T --subject S --attach dir.ini
out=$(ta send --to $B --type "Công văn" --subject "Về việc thử nghiệm dòng lệnh" \
  --code-number 12 --notation UBND-VP --urgency immediate --signer "Nguyễn Văn An" \
  --date 2026-11-21 --attach exchange/report.pdf 2>&1) && ok || bad "send: $out"
id=$(grep -Eo '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}' <<<"$out" | head -1)
[ -n "$id" ] && ok || bad "send printed no id: $out"

wait_for 30 bash -c "'$TRUC' --data-dir agent-$B inbox --json | grep -q $id" || bad "the document never reached B"
check "inbox" 0 "Về việc thử nghiệm dòng lệnh" -- tb inbox
check "inbox --json" 0 "\"id\": *\"$id\"" -- tb inbox --json
check "inbox --unread --from" 0 "$id" -- tb inbox --unread --from $A
check "fetch" 0 "report.pdf" -- tb fetch "$id" --out "$work/exchange/in"
cmp -s exchange/report.pdf "$work/exchange/in/$id/report.pdf" && ok || bad "fetched attachment differs"
check "fetch --json" 0 '"subject": *"Về việc thử nghiệm dòng lệnh"' -- tb fetch "$id" --out "$work/exchange/in2" --json
check "fetch outside the exchange folder" 3 "ERR_NOT_AUTHORIZED" -- tb fetch "$id" --out "$work/in"
check "ack" 0 "" -- tb ack "$id"
out=$(tb inbox --unread --json)
grep -q "$id" <<<"$out" && bad "acked document still unread: $out" || ok
check "notify" 0 "[0-9a-f]{8}-" -- tb notify "$id" --status 03 --note "Đã vào sổ"

delivered_and_noted() { ta sent "$id" --json | grep -q '"DELIVERED"' && ta sent "$id" --json | grep -qE '"code": *3'; }
wait_for 30 delivered_and_noted || bad "A never saw B's receipt and notice: $(ta sent "$id" --json)"
check "sent ID" 0 "delivered" -- ta sent "$id"
check "sent ID --json" 0 '"state": *"accepted"' -- ta sent "$id" --json
check "sent" 0 "$id" -- ta sent
check "events" 0 "inbox.new" -- tb watch --after 0 --topic inbox.new --count 1 --json
check "answer without a recall" 3 "ERR_BAD_STATE" -- tb notify "$id" --status 15

check "recall" 0 "[0-9a-f]{8}-" -- ta recall "$id" --note "Xin lấy lại"
wait_for 30 bash -c "'$TRUC' --data-dir agent-$B fetch $id --out exchange/in3 --json | grep -qE '\"code\": *13'" || bad "B never saw the recall request"
check "answer the recall" 0 "[0-9a-f]{8}-" -- tb notify "$id" --status 16 --note "Đã xử lý"
check "revoke" 0 "[0-9a-f]{8}-" -- ta revoke "$id" --reason "Ban hành nhầm"
check "quarantine (empty)" 0 "" -- tb quarantine

# Errors a clerk meets: exit 3 with the agent's code, exit 1 for usage, 4 local.
check "unknown recipient" 3 "ERR_UNKNOWN_AGENCY" -- ta send --to 000.00.09.H99 --type T --subject S
check "bad agency code" 1 "" -- ta send --to 1.2.3 --type T --subject S
check "missing attachment" 4 "nope.pdf" -- ta send --to $B --type T --subject S --attach nope.pdf
check "unknown document" 3 "ERR_UNKNOWN_DOC" -- tb fetch 00000000-0000-4000-8000-000000000000 --out "$work/exchange/x"
check "status of an unknown document" 3 "ERR_UNKNOWN_DOC" -- ta notify 00000000-0000-4000-8000-000000000000 --status 03
check "revoke a received document" 3 "ERR_NOT_AUTHORIZED" -- tb revoke "$id" --reason x

# The broker goes away: sending still works and says where the document is.
kill -TERM "${pids[0]}"; wait "${pids[0]}" 2>/dev/null
wait_for 30 bash -c "! '$TRUC' --data-dir agent-$A health --json | grep -qE '\"connected\": *true'" || bad "A still says connected"
check "send while the broker is down" 0 "outbox" -- ta send --to $B --type T --subject "Khi mất kết nối"
check "health shows the outbox" 0 '"outbox": *1' -- ta health --json

# The broker comes back on the same endpoint, and A's outbox drains.
start_broker() {
  "$BROKER" --identity keys/hub.secret --directory dir.ini --data-dir broker \
    --endpoint "$endpoint" --set network.heartbeat=1s >>broker.log 2>&1 &
  broker_pid=$!
  pids+=($broker_pid)
}
drained() { "$TRUC" --data-dir "agent-$A" health --json | grep -qE '"outbox": *0'; }
start_broker
wait_for 30 connected $A || bad "A did not reconnect after the broker came back"
wait_for 30 drained || bad "A's outbox did not drain: $(ta health --json)"

# A quick restart while A is connected: A's next heartbeat would reach the
# new broker before HELLO. Sends meanwhile each say once, in words, where the
# document is, and none shows a protocol error (ERR_NOT_AUTHENTICATED).
kill -TERM "$broker_pid"; wait "$broker_pid" 2>/dev/null
start_broker
sends=0 until=$((SECONDS + 4))
while [ $SECONDS -lt $until ]; do
  out=$(ta send --to $B --type T --subject "Khi trục khởi động lại" 2>&1) || bad "send during the restart: $out"
  sends=$((sends + 1))
  grep -q "ERR_" <<<"$out" && bad "send during the restart shows a protocol error: $out"
  lines=$(grep -c "outbox" <<<"$out")
  [ "$lines" -le 1 ] || bad "send during the restart says it $lines times: $out"
done
wait_for 30 connected $A || bad "A did not reconnect after the quick restart ($sends sends)"
wait_for 30 drained || bad "A's outbox did not drain after the quick restart: $(ta health --json)"

cli_end test_cli_live
