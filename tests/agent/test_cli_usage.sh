#!/usr/bin/env bash
# test_cli_usage.sh - the `truc` command line without any agent running:
# every --help, usage errors (exit 1), an unreachable agent (exit 2) and
# local problems found before asking the agent (exit 4).
#
# Usage: test_cli_usage.sh /path/to/truc
# Works in a mktemp -d directory that is removed on exit. Needs no network:
# the "no answer" case connects to a loopback port nobody listens on.
set -euo pipefail

TRUC=${1:?usage: test_cli_usage.sh /path/to/truc}
[[ -x $TRUC ]] || { echo "not an executable: $TRUC" >&2; exit 2; }
TRUC=$(cd "$(dirname "$TRUC")" && pwd)/$(basename "$TRUC") # we cd below
WORK=$(mktemp -d "${TMPDIR:-/tmp}/truc-cli-test.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

passed=0
failed=0
OUT=$WORK/.stdout
ERR=$WORK/.stderr
ID=4fd6f877-1bab-4a47-8545-fa919b9e47fd
NOAGENT=$WORK/no-agent # a data directory where no agent runs
mkdir -p "$NOAGENT"

# check NAME EXPECTED_EXIT PHRASE COMMAND...
#   Runs COMMAND, expects EXPECTED_EXIT and PHRASE (if not empty) in stdout
#   (exit 0) or stderr (otherwise). A failing command must explain itself on
#   stderr in a line "truc: ..." and print nothing on stdout.
check() {
    local name=$1 expect=$2 phrase=$3
    shift 3
    local rc=0
    "$@" >"$OUT" 2>"$ERR" </dev/null || rc=$?
    local where=$OUT
    [[ $expect -ne 0 ]] && where=$ERR
    local why=""
    if [[ $rc -ne $expect ]]; then
        why="exit $rc, expected $expect"
    elif [[ -n $phrase ]] && ! grep -qF -- "$phrase" "$where"; then
        why="$(basename "$where") lacks '$phrase'"
    elif [[ $expect -ne 0 ]] && ! grep -q '^truc: ' "$ERR"; then
        why="no 'truc: ...' line on stderr"
    elif [[ $expect -ne 0 && -s $OUT ]]; then
        why="a failure printed on stdout"
    fi
    if [[ -z $why ]]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: $name: $why"
        echo "  command: $*"
        sed 's/^/  stdout: /' "$OUT"
        sed 's/^/  stderr: /' "$ERR"
    fi
}

# expect NAME CONDITION... : a plain assertion.
expect() {
    local name=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: $name"
    fi
}

COMMANDS="send inbox fetch ack notify recall revoke update replace sent quarantine health directory watch export evidence"

# --- help ------------------------------------------------------------------
# agent/CLI.md shows every command and every option their --help lists.
CLI_MD=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../agent" && pwd)/CLI.md
for c in $COMMANDS; do
    expect "CLI.md shows truc $c" grep -q "truc $c" "$CLI_MD"
    for o in $("$TRUC" "$c" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
        expect "CLI.md names $c $o" grep -qF -- "$o" "$CLI_MD"
    done
done

check "truc --help" 0 "usage: truc" "$TRUC" --help
expect "--help lists the exit codes" grep -q "3  the agent refused the request" "$OUT"
for c in $COMMANDS; do
    expect "--help names $c" grep -q "^  $c " "$OUT"
done
check "truc -h" 0 "usage: truc" "$TRUC" -h
check "truc help" 0 "usage: truc" "$TRUC" help
check "truc --version" 0 "truc " "$TRUC" --version
for c in $COMMANDS; do
    check "truc $c --help" 0 "usage: truc $c" "$TRUC" "$c" --help
    expect "$c --help gives the exit codes" grep -q "^Exit codes: 0 success, 1 usage error" "$OUT"
    expect "$c --help gives the global options" grep -q -- "--data-dir DIR" "$OUT"
    check "truc help $c" 0 "usage: truc $c" "$TRUC" help "$c"
    check "truc --json $c -h" 0 "usage: truc $c" "$TRUC" --json "$c" -h
done

# --- usage errors ----------------------------------------------------------
check "no command" 1 "which command?" "$TRUC"
check "unknown command" 1 "no command 'frobnicate'" "$TRUC" frobnicate
check "help for an unknown command" 1 "no command 'frobnicate'" "$TRUC" help frobnicate
check "unknown global option" 1 "unknown option '--bogus'" "$TRUC" --bogus health
check "global option without value" 1 "--data-dir needs a value" "$TRUC" --data-dir
check "bad --timeout" 1 "--timeout 'soon' is not a number of seconds" "$TRUC" --timeout soon health
check "zero --timeout" 1 "--timeout '0'" "$TRUC" health --timeout 0
check "bad --endpoint" 1 "is not a ZeroMQ endpoint" "$TRUC" --endpoint localhost health
check "unknown command option" 1 "unknown option '--bogus'" "$TRUC" inbox --bogus
check "command option without value" 1 "--limit needs a value" "$TRUC" inbox --limit
check "health takes no argument" 1 "unexpected argument 'now'" "$TRUC" health now
check "quarantine takes no argument" 1 "unexpected argument" "$TRUC" quarantine x
check "evidence without an id" 1 "which document?" "$TRUC" evidence --out x.bundle
check "evidence without --out" 1 "--out FILE is required" "$TRUC" evidence 4fd6f877-1bab-4a47-8545-fa919b9e47fd

S=(--to 000.00.00.G09 --subject "Về việc thử" --type "Công văn")
M_NOAGENT="is truc-agent running, and is --data-dir right?"
check "send without --to" 1 "--to is missing" "$TRUC" send --subject s --type t
check "send without --subject" 1 "--subject is missing" "$TRUC" send --to 000.00.00.G09 --type t
check "send without --type" 1 "--type is missing" "$TRUC" send --to 000.00.00.G09 --subject s
check "send bad agency code" 1 "'000.00.09.H9' is not an agency code" \
    "$TRUC" send --to 000.00.00.G09,000.00.09.H9 --subject s --type t
check "send empty code in list" 1 "is not an agency code" \
    "$TRUC" send --to 000.00.00.G09, --subject s --type t
check "send bad --urgency" 1 "--urgency 'asap'" "$TRUC" send "${S[@]}" --urgency asap
check "send bad --date" 1 "--date '2026-02-29' is not a date" "$TRUC" send "${S[@]}" --date 2026-02-29
check "send bad --due" 1 "--due '21/11/2025' is not a date" "$TRUC" send "${S[@]}" --due 21/11/2025
check "send --position without --signer" 1 "--position needs --signer" \
    "$TRUC" send "${S[@]}" --position "Chủ tịch"
check "send --secret normal" 1 "--secret 'normal' is not one of confidential" \
    "$TRUC" send "${S[@]}" --secret normal
check "send --secret without attachments" 1 "--secret seals the attachments, and there are none" \
    "$TRUC" send "${S[@]}" --secret mat
check "send --seal-text without --secret" 1 "--seal-text needs --secret LEVEL" \
    "$TRUC" send "${S[@]}" --seal-text
check "send --secret against --secrecy" 1 "--secret and --secrecy name different levels" \
    "$TRUC" send "${S[@]}" --secret secret --secrecy mat --seal-text
check "send stray argument" 1 "unexpected argument 'cv.pdf'" "$TRUC" send "${S[@]}" cv.pdf

check "fetch without id" 1 "which document?" "$TRUC" fetch
check "fetch bad id" 1 "'12x45' is not a document id" "$TRUC" fetch 12x45
check "fetch too short a start" 1 "'4fd' is not a document id" "$TRUC" fetch 4fd
check "fetch a start asks the agent" 2 "no answer from the agent" \
    "$TRUC" --data-dir "$NOAGENT" --timeout 1 fetch 4fd6f877
check "fetch two ids" 1 "one document at a time" "$TRUC" fetch $ID $ID
check "ack without id" 1 "which document?" "$TRUC" ack
check "ack bad id" 1 "is not a document id" "$TRUC" ack $ID nope
check "notify without --status" 1 "--status is missing" "$TRUC" notify $ID
check "notify bad --status" 1 "--status 'finished'" "$TRUC" notify $ID --status finished
check "notify --department without --staff" 1 "--department needs --staff" \
    "$TRUC" notify $ID --status 03 --department "Văn thư"
check "recall without id" 1 "which document?" "$TRUC" recall
check "recall bad --to" 1 "is not an agency code" "$TRUC" recall $ID --to G09
check "revoke without --reason" 1 "--reason is missing" "$TRUC" revoke $ID
check "revoke without id" 1 "which document?" "$TRUC" revoke --reason x
check "inbox bad --since" 1 "--since 'yesterday' is not a time" "$TRUC" inbox --since yesterday
check "inbox bad --from" 1 "--from 'H01' is not an agency code" "$TRUC" inbox --from H01
check "inbox --limit 0" 1 "--limit '0'" "$TRUC" inbox --limit 0
check "inbox --limit 1001" 1 "--limit '1001'" "$TRUC" inbox --limit 1001
check "inbox bad --after" 1 "--after '-1'" "$TRUC" inbox --after -1
check "sent two ids" 1 "one document at a time" "$TRUC" sent $ID $ID
check "sent id with --limit" 1 "is for the list" "$TRUC" sent $ID --limit 5
check "sent id with a filter" 1 "are for the list" "$TRUC" sent $ID --since 7d
check "sent bad --until" 1 "--until 'soon' is not a time" "$TRUC" sent --until soon
check "sent --until before --since" 1 "--until is before --since" \
    "$TRUC" sent --since 2026-11-02 --until 2026-11-01
check "sent bad --to" 1 "--to 'G09' is not an agency code" "$TRUC" sent --to G09
check "inbox bad --urgency" 1 "--urgency 'gấp'" "$TRUC" inbox --urgency gấp
check "inbox bad --number" 1 "--number '12/' is not NUMBER" "$TRUC" inbox --number 12/
check "send bad --secrecy" 1 "--secrecy 'kín'" "$TRUC" send "${S[@]}" --secrecy kín
check "send bad --pages" 1 "--pages '0'" "$TRUC" send "${S[@]}" --pages 0
check "send bad --response-for" 1 "--response-for 'G09:1'" "$TRUC" send "${S[@]}" --response-for G09:1
check "send bad --response-for date" 1 "is not AGENCY" \
    "$TRUC" send "${S[@]}" --response-for 000.00.00.G09:1/UB:2026-02-30
check "send --competence without --signer" 1 "--competence needs --signer" \
    "$TRUC" send "${S[@]}" --competence KT.
# Levels by their Vietnamese names, accents optional, composed or not: each
# is accepted (the agent is then asked: exit 2 here).
for level in "thượng khẩn" "Thuong khan" "hoả tốc" "HOA_TOC" \
    "$(printf 'thu\xcc\x9bo\xcc\x9b\xcc\xa3ng kha\xcc\x82\xcc\x89n')" very-urgent 2; do
    check "send --urgency '$level'" 2 "$M_NOAGENT" \
        "$TRUC" --data-dir "$NOAGENT" --timeout 1 send "${S[@]}" --urgency "$level"
done
for level in "tối mật" "toi mat" "Tuyệt Mật" mật secret 3; do
    check "send --secrecy '$level'" 2 "$M_NOAGENT" \
        "$TRUC" --data-dir "$NOAGENT" --timeout 1 send "${S[@]}" --secrecy "$level"
done
check "update without --reason" 1 "--reason is missing" "$TRUC" update $ID --subject s
check "replace without id" 1 "which document?" "$TRUC" replace --reason x
check "export without a register" 1 "which register?" "$TRUC" export --csv
check "export bad register" 1 "'all' is not a register" "$TRUC" export all
check "watch bad --count" 1 "--count '0'" "$TRUC" watch --count 0
check "watch bad --events" 1 "is not a ZeroMQ endpoint" "$TRUC" watch --events events.sock

# --- local problems (exit 4), found before asking the agent ---------------
check "send missing attachment" 4 "cannot read the attachment missing.pdf" \
    "$TRUC" --data-dir "$NOAGENT" send "${S[@]}" --attach missing.pdf
mkdir adir
check "send directory as attachment" 4 "is not a regular file" \
    "$TRUC" --data-dir "$NOAGENT" send "${S[@]}" --attach adir
touch afile
check "fetch --out under a file" 4 "cannot create the directory afile/in" \
    "$TRUC" --data-dir "$NOAGENT" fetch $ID --out afile/in

# --- the agent is unreachable (exit 2) -------------------------------------
# No socket in the data directory: said at once.
M="is truc-agent running, and is --data-dir right?"
echo pdf >cv.pdf
check "health, no agent" 2 "no answer from the agent at ipc://$NOAGENT/api.sock" \
    "$TRUC" --data-dir "$NOAGENT" --timeout 1 health
expect "the message says what to check" grep -qF "$M" "$ERR"
check "send, no agent" 2 "$M" "$TRUC" --data-dir "$NOAGENT" --timeout 1 send "${S[@]}" --attach cv.pdf
check "inbox, no agent" 2 "$M" "$TRUC" inbox --data-dir "$NOAGENT" --timeout 1
check "fetch, no agent" 2 "$M" "$TRUC" fetch $ID --out in --data-dir "$NOAGENT" --timeout 1
check "ack, no agent" 2 "$M" "$TRUC" ack $ID --data-dir "$NOAGENT" --timeout 1
check "notify, no agent" 2 "$M" "$TRUC" notify $ID --status 03 --data-dir "$NOAGENT" --timeout 1
check "recall, no agent" 2 "$M" "$TRUC" recall $ID --data-dir "$NOAGENT" --timeout 1
check "revoke, no agent" 2 "$M" "$TRUC" revoke $ID --reason x --data-dir "$NOAGENT" --timeout 1
check "sent, no agent" 2 "$M" "$TRUC" sent --data-dir "$NOAGENT" --timeout 1
check "quarantine, no agent" 2 "$M" "$TRUC" quarantine --data-dir "$NOAGENT" --timeout 1
check "directory, no agent" 2 "$M" "$TRUC" directory --data-dir "$NOAGENT" --timeout 1
check "watch, no agent" 2 "ipc://$NOAGENT/events.sock" "$TRUC" watch --data-dir "$NOAGENT"
check "--json, no agent" 2 "$M" "$TRUC" --json --data-dir "$NOAGENT" --timeout 1 health
# Without --data-dir: $TRUC_DATA_DIR, else ./var/agent/data where it exists
# (a source tree), else the installed agent's /var/lib/truc-agent/data.
check "TRUC_DATA_DIR, no agent" 2 "no answer from the agent at ipc://$NOAGENT/api.sock" \
    env TRUC_DATA_DIR="$NOAGENT" "$TRUC" --timeout 1 health
check "TRUC_DATA_DIR for events" 2 "ipc://$NOAGENT/events.sock" \
    env TRUC_DATA_DIR="$NOAGENT" "$TRUC" watch
check "--data-dir over TRUC_DATA_DIR" 2 "ipc://$WORK/other/api.sock" \
    env TRUC_DATA_DIR="$NOAGENT" "$TRUC" inbox --data-dir "$WORK/other" --timeout 1
if [[ ! -e /var/lib/truc-agent/data/api.sock ]]; then
    check "default data dir: the installed agent's" 2 "ipc:///var/lib/truc-agent/data/api.sock" \
        env -u TRUC_DATA_DIR "$TRUC" --timeout 1 health
    check "empty TRUC_DATA_DIR counts as unset" 2 "ipc:///var/lib/truc-agent/data/api.sock" \
        env TRUC_DATA_DIR= "$TRUC" --timeout 1 health
fi
mkdir -p var/agent/data
check "default data dir in a source tree" 2 "ipc://./var/agent/data/api.sock" \
    env -u TRUC_DATA_DIR "$TRUC" --timeout 1 health
rm -r var
check "data dir is a file" 2 "is truc-agent running" "$TRUC" --data-dir afile --timeout 1 health

# A socket nobody answers on: truc waits --timeout seconds, then says so.
start=$SECONDS
check "no answer within --timeout" 2 \
    "no answer from the agent at tcp://127.0.0.1:1 within 1 s: is truc-agent running, and is --endpoint right?" \
    "$TRUC" --endpoint tcp://127.0.0.1:1 --timeout 1 health
expect "--timeout 1 gives up within 5 s" test $((SECONDS - start)) -le 5
check "send: no answer says what may have happened" 2 "look for it with 'truc sent'" \
    "$TRUC" --endpoint tcp://127.0.0.1:1 --timeout 0.5 send "${S[@]}"
if command -v python3 >/dev/null; then
    # A socket file left behind by an agent that is gone.
    mkdir stale
    python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' stale/api.sock
    check "stale socket, no answer" 2 "within 1 s: $M" "$TRUC" --data-dir stale --timeout 1 inbox
fi

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
