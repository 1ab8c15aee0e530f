#!/usr/bin/env bash
# test_edxml_cli.sh - the edXML forms of `truc` against a real broker and
# two real agents: send --edxml, fetch --edxml, notify --edxml, notices
# --edxml, and a refused package with its exit code.
#   usage: test_edxml_cli.sh TRUC_BROKER TRUC_KEYS TRUC_AGENT TRUC EDXML_DIR
set -uo pipefail
BROKER=$1 KEYS=$2 AGENT=$3 TRUC=$4 EDXML=$5
. "$(dirname "$0")/../lib/cli_env.sh"
cli_begin edxml-cli

A=000.00.01.H01
B=000.00.02.H01
cli_agencies $A $B
cli_broker --set network.heartbeat=1s
cli_agents $A $B
ta() { "$TRUC" --data-dir "agent-$A" "$@"; }
tb() { "$TRUC" --data-dir "agent-$B" "$@"; }
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

cli_end test_edxml_cli
