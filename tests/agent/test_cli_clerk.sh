#!/usr/bin/env bash
# test_cli_clerk.sh - what a clerk does with `truc` every day, against a
# real broker and three real agents: send with every field of the form
# (levels by their Vietnamese names), find documents by the start of their
# id, correct and replace them, list with filters and dates, agency names
# beside codes, and export the registers as CSV.
#   usage: test_cli_clerk.sh TRUC_BROKER TRUC_KEYS TRUC_AGENT TRUC
set -uo pipefail
BROKER=$1 KEYS=$2 AGENT=$3 TRUC=$4
. "$(dirname "$0")/../lib/cli_env.sh"
cli_begin cli-clerk
uuid='[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
first_id() { grep -Eo "$uuid" <<<"$1" | head -1; }

A=000.00.01.H01 B=000.00.00.G09 C=000.00.00.G10
declare -A NAME=([$A]="UBND tỉnh Hà Giang" [$B]="Sở Y tế" [$C]="Sở Tài chính")
cli_agencies $A $B $C
cli_broker
cli_agents $A $B $C
ta() { "$TRUC" --data-dir "agent-$A" "$@"; }
tb() { "$TRUC" --data-dir "agent-$B" "$@"; }
for c in $A $B $C; do wait_for 30 has_dir $c || bad "agent $c never got the directory"; done
mkdir exchange
printf 'phu luc' > exchange/phu-luc.pdf

# --- send with what a clerk fills in; levels by their Vietnamese names ------
out=$(ta send --to $B --type "Công văn" --subject 'Về việc "kiểm tra", báo cáo' \
  --code-number 45 --notation SYT-KHTC --urgency "thượng khẩn" --secrecy "Tối mật" \
  --content "Đề nghị báo cáo trước ngày 30" --places "Như trên" --places "Lưu: VT" \
  --signer "Nguyễn Văn An" --position "Phó Chủ tịch" --competence "KT." \
  --response-for "$B:12/SYT-VP:2026-11-01" --pages 3 --date 2026-11-21 2>&1) && ok || bad "send: $out"
id1=$(first_id "$out")
out=$(ta send --to $C --type "Tờ trình" --subject "=Tổng hợp kinh phí" --urgency "hoa toc" \
  --code-number 7 --notation UBND-TH 2>&1) && ok || bad "send to C: $out"
id2=$(first_id "$out")
[ -n "$id1" ] && [ -n "$id2" ] && ok || bad "send printed no id"
in_b() { tb inbox --json | grep -q "$1"; }
wait_for 30 in_b "$id1" || bad "the document never reached B"

check "fetch shows every field" 0 '"secrecy": 2' -- tb fetch "$id1" --out "$work/exchange/in" --json
out=$(tb fetch "$id1" --out "$work/exchange/in" --json)
for want in '"urgency": 2' '"pages": 3' '"competence": "KT."' '"content": "Đề nghị báo cáo trước ngày 30"' \
  '"Lưu: VT"' '"code": "12/SYT-VP"' '"date": "2026-11-01"'; do
  grep -qF -- "$want" <<<"$out" && ok || bad "fetch lacks $want: $out"
done

# --- agency names beside codes ------------------------------------------
check "inbox shows the sender's name" 0 "$A UBND tỉnh Hà Giang" -- tb inbox
check "sent shows the recipient's name" 0 "$B Sở Y tế" -- ta sent
check "sent shows the other recipient's name" 0 "$C Sở Tài chính" -- ta sent

# --- a unique start of an id wherever an id goes --------------------------
# Two ids made within a minute share their first hex digits (the time): the
# start that tells id1 from id2 is a little longer than what they share.
common=""
for ((i = 0; i < 36; i++)); do
  [ "${id1:i:1}" = "${id2:i:1}" ] || break
  common+=${id1:i:1}
done
p1=${id1:0:$((${#common} + 3))}
common=${common%-}
check "fetch by the start of an id" 0 '"subject"' -- tb fetch "$p1" --out "$work/exchange/in2" --json
check "sent ID by the start of an id" 0 "delivered|waiting" -- ta sent "$p1"
check "a start nobody has" 3 "ERR_UNKNOWN_DOC" -- tb fetch ffff0000
if [ ${#common} -ge 4 ]; then
  check "an ambiguous start lists the candidates" 1 "$id1" -- ta sent "$common"
  check "... both of them" 1 "$id2" -- ta sent "$common"
fi
check "ack by the start of an id" 0 "" -- tb ack "$p1"
lacks "acked, so not unread" "$id1" -- tb inbox --unread --json

# --- since/until and the filters ------------------------------------------
today=$(date +%F)
check "sent --to C" 0 "$id2" -- ta sent --to $C
lacks "sent --to C leaves out B's" "$id1" -- ta sent --to $C --json
check "sent --since today" 0 "$id1" -- ta sent --since "$today" --json
lacks "sent --until long ago" "$uuid" -- ta sent --until 2000-01-01 --json
check "sent --until today (the whole day)" 0 "$id2" -- ta sent --until "$today" --json
check "inbox --number N/NOTATION" 0 "$id1" -- tb inbox --number 45/syt-khtc --json
lacks "inbox --number another" "$id1" -- tb inbox --number 46 --json
check "inbox --subject in another case" 0 "$id1" -- tb inbox --subject "VỀ VIỆC" --json
check "inbox --state acked" 0 "$id1" -- tb inbox --state acked --json
check "inbox --urgency by name" 0 "$id1" -- tb inbox --urgency "Thượng Khẩn" --json
lacks "inbox --urgency another" "$id1" -- tb inbox --urgency khẩn --json

# --- update and replace ----------------------------------------------------
out=$(ta update "$p1" --reason "Sai ngày ban hành" --date 2026-11-20 2>&1) && ok || bad "update: $out"
up=$(first_id "$out")
out=$(ta replace "$p1" --reason "Thay thế" --subject "Về việc kiểm tra (thay thế)" \
  --attach exchange/phu-luc.pdf 2>&1) && ok || bad "replace: $out"
rep=$(first_id "$out")
wait_for 30 in_b "$rep" || bad "the replacement never reached B"
wait_for 30 in_b "$up" || bad "the update never reached B"
check "the update names the original" 0 "$id1" -- tb fetch "$up" --out "$work/exchange/u" --json
check "the update is an update" 0 '"op": 2' -- tb fetch "$up" --out "$work/exchange/u" --json
check "the update kept the number" 0 '"notation": "SYT-KHTC"' -- tb fetch "$up" --out "$work/exchange/u" --json
check "the update has the new date" 0 '"date": "2026-11-20"' -- tb fetch "$up" --out "$work/exchange/u" --json
check "the update kept the recipients and subject" 0 '"subject": "Về việc \\"kiểm tra\\", báo cáo"' \
  -- tb fetch "$up" --out "$work/exchange/u" --json
check "the replacement is one" 0 '"op": 3' -- tb fetch "$rep" --out "$work/exchange/r" --json
check "the replacement has its attachment" 0 "phu-luc.pdf" -- tb fetch "$rep" --out "$work/exchange/r"
check "update of a received document" 3 "ERR_UNKNOWN_DOC.*not a document this agency sent" -- \
  tb update "$id1" --reason x --subject y

# --- pages -------------------------------------------------------------------
out=$(tb inbox --limit 1 2>&1)
cursor=$(grep -Eo -- '--cursor [^ ]+' <<<"$out" | cut -d' ' -f2)
[ -n "$cursor" ] && ok || bad "inbox --limit 1 gave no cursor: $out"
check "the next page" 0 "Sai ngày ban hành|$up|thay thế|$rep" -- tb inbox --limit 1 --cursor "$cursor" --json
n=$(tb inbox --all --limit 1 --json | grep -c '"id"')
[ "$n" = 3 ] && ok || bad "inbox --all --limit 1 printed $n documents, wanted 3"

# --- the registers as CSV ----------------------------------------------------
check "export incoming" 0 "" -- tb export incoming --csv --output den.csv
head -1 den.csv | grep -q $'^Số/ký hiệu,Ngày văn bản,Mã cơ quan gửi,Tên cơ quan gửi,Trích yếu,Loại văn bản,Độ khẩn,Trạng thái,Thời gian nhận,Mã văn bản\r$' \
  && ok || bad "incoming header: $(head -1 den.csv | od -c | head -5)"
grep -qF '45/SYT-KHTC,2026-11-21,000.00.01.H01,UBND tỉnh Hà Giang,"Về việc ""kiểm tra"", báo cáo",Công văn,Thượng khẩn,acked,' den.csv \
  && ok || bad "incoming row: $(cat den.csv)"
[ "$(grep -c $'\r$' den.csv)" = 4 ] && ok || bad "not 4 CRLF lines (header + 3): $(od -c den.csv | tail -3)"
if command -v python3 >/dev/null; then
  python3 - den.csv "$id1" <<'PY' && ok || bad "python's csv reads the register otherwise"
import csv, sys
rows = list(csv.reader(open(sys.argv[1], encoding="utf-8", newline="")))
assert len(rows) == 4 and all(len(r) == 10 for r in rows), rows
row = [r for r in rows if r[9] == sys.argv[2]][0]
assert row[4] == 'Về việc "kiểm tra", báo cáo', row
PY
fi
out=$(ta export đi 2>&1) && ok || bad "export đi: $out"
grep -qF "45/SYT-KHTC,2026-11-20,000.00.00.G09,Sở Y tế" <<<"$out" && ok || bad "outgoing update row: $out"
grep -qF "7/UBND-TH,,000.00.00.G10,Sở Tài chính,=Tổng hợp kinh phí,Tờ trình,Hỏa tốc,accepted" <<<"$out" \
  && ok || bad "outgoing row: $out"
[ "$(grep -cE "$uuid" <<<"$out")" = 4 ] && ok || bad "outgoing: 4 documents (2 sent, update, replacement): $out"
check "export --excel" 0 "'=Tổng hợp kinh phí" -- ta export outgoing --excel
ta export outgoing --excel | head -c 3 | od -An -tx1 | grep -q "ef bb bf" && ok || bad "no BOM with --excel"
check "export with a filter" 0 "$id2" -- ta export outgoing --agency $C
lacks "export with a filter leaves out" "$id1" -- ta export outgoing --agency $C

cli_end test_cli_clerk
