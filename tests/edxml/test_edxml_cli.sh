#!/usr/bin/env bash
# test_edxml_cli.sh - the edXML forms of `truc` against a real broker and
# two real agents: send --edxml, fetch --edxml, notify --edxml, notices
# --edxml, and a refused package with its exit code.
#   usage: test_edxml_cli.sh TRUC_BROKER TRUC_KEYS TRUC_AGENT TRUC EDXML_DIR
set -uo pipefail
BROKER=$1 KEYS=$2 AGENT=$3 TRUC=$4 EDXML=$5
work=$(mktemp -d "${TMPDIR:-/tmp}/truc-edxml-cli.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

passed=0 failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }
# check NAME WANTED_EXIT PATTERN -- command...
check() {
  local name=$1 want=$2 pattern=$3
  shift 4
  local out status=0
  out=$("$@" 2>&1) || status=$?
  if [ "$status" != "$want" ]; then bad "$name: exit $status, wanted $want: $out"
  elif ! grep -qE -- "$pattern" <<<"$out"; then bad "$name: output lacks /$pattern/: $out"
  else ok; fi
}
wait_for() {
  local limit=$1
  shift
  for _ in $(seq $((limit * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  return 1
}

A=000.00.01.H01
B=000.00.02.H01
"$KEYS" new --broker hub --out keys >/dev/null
for c in $A $B; do
  "$KEYS" new --agency $c --out keys >/dev/null
  "$KEYS" directory add --dir dir.ini keys/$c.public >/dev/null
done
"$BROKER" --identity keys/hub.secret --directory dir.ini --data-dir broker \
  --endpoint 'tcp://127.0.0.1:*' --set network.heartbeat=1s >broker.log 2>&1 &
pids+=($!)
wait_for 20 test -s broker/endpoint || { echo "broker did not start"; cat broker.log; exit 1; }
endpoint=$(cat broker/endpoint)
for c in $A $B; do
  "$AGENT" --identity keys/$c.secret --data-dir agent-$c --broker "$endpoint" \
    --broker-key keys/hub.public >agent-$c.log 2>&1 &
  pids+=($!)
done
ta() { "$TRUC" --data-dir "agent-$A" "$@"; }
tb() { "$TRUC" --data-dir "agent-$B" "$@"; }
connected() { "$TRUC" --data-dir "agent-$1" health --json | grep -qE '"connected": *true'; }
wait_for 30 connected $A || bad "agent A never connected"
wait_for 30 connected $B || bad "agent B never connected"

# Packages go by path, so they live in the agents' exchange folder.
mkdir exchange
cp "$EDXML/corpus/minimal.xml" "$EDXML/refuse/xxe.xml" exchange/
docid='000.00.01.H01,2024/05/07,88/UBND-VP'
sed "s|000.00.01.H01,2024/05/06,123/QĐ-UBND|$docid|" "$EDXML/corpus/status-03.xml" \
  > exchange/status.xml

check "send --edxml, a refused package" 3 "ERR_XML.*DOCTYPE" -- ta send --edxml exchange/xxe.xml
check "send --edxml, a file outside the exchange folder" 3 "ERR_NOT_AUTHORIZED" -- \
  ta send --edxml "$EDXML/corpus/minimal.xml"
out=$(ta send --edxml exchange/minimal.xml 2>&1) && ok || bad "send --edxml: $out"
id=$(grep -Eo '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}' <<<"$out" | head -1)
[ -n "$id" ] && ok || bad "send --edxml printed no id: $out"

wait_for 30 bash -c "'$TRUC' --data-dir agent-$B inbox --json | grep -q $id" ||
  bad "the document never reached B"
check "fetch --edxml" 0 "fetched.xml" -- tb fetch "$id" --edxml fetched.xml
grep -q "<edXML:DocumentId>$docid</edXML:DocumentId>" fetched.xml && ok ||
  bad "the fetched package lacks its DocumentId: $(head -c 2000 fetched.xml)"
grep -q 'xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016"' fetched.xml && ok ||
  bad "the fetched package lacks the edXML namespace"
check "fetch --edxml -" 0 "Về việc báo cáo tình hình tháng 5" -- tb fetch "$id" --edxml -

check "notify --edxml" 0 "[0-9a-f]{8}-" -- tb notify --edxml exchange/status.xml
mkdir statuses
has_status() { ta notices "$id" --edxml statuses | grep -q '^03'; }
wait_for 30 has_status || bad "the status never reached A"
check "notices" 0 "^03 .*$B" -- ta notices "$id"
grep -l "<edXML:StatusCode>03</edXML:StatusCode>" statuses/*.xml >/dev/null && ok ||
  bad "notices --edxml wrote no Status 03: $(ls statuses)"
grep -q "<edXML:DocumentId>$docid</edXML:DocumentId>" statuses/*.xml && ok ||
  bad "the Status does not name the DocumentId"

echo "test_edxml_cli: $passed passed, $failed failed"
[ "$failed" = 0 ]
