# tests/lib/cli_env.sh - what the `truc` command's shell tests share: a
# private work folder removed at exit with every process started, counting
# (ok, bad, check, lacks), wait_for, and a real broker with one real agent
# per agency. Source it after setting BROKER KEYS AGENT TRUC:
#   . "$(dirname "$0")/../lib/cli_env.sh"
#   cli_begin NAME                   work folder, cd into it
#   cli_agencies CODE...             keys and directory entries (with
#                                    ${NAME[CODE]} as the name if NAME is an
#                                    associative array holding it)
#   cli_broker [OPTION...]           start truc-broker; sets $endpoint
#   cli_agents CODE...               start an agent per code in agent-CODE
# and at the end: cli_end NAME (prints the counts, fails if any failed).

pids=()
passed=0 failed=0
cli_cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  [ -n "${work:-}" ] && rm -rf "$work"
}
cli_begin() {
  work=$(mktemp -d "${TMPDIR:-/tmp}/truc-$1.XXXXXX")
  trap cli_cleanup EXIT
  cd "$work" || exit 1
}

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
# lacks NAME PATTERN -- command...: succeeds and does not print PATTERN
lacks() {
  local name=$1 pattern=$2
  shift 3
  local out
  out=$("$@" 2>&1) || { bad "$name: failed: $out"; return; }
  if grep -qE -- "$pattern" <<<"$out"; then bad "$name: output has /$pattern/: $out"; else ok; fi
}
# wait_for SECONDS command...: until the command succeeds
wait_for() {
  local limit=$1
  shift
  for _ in $(seq $((limit * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  return 1
}

cli_agencies() {
  "$KEYS" new --broker hub --out keys >/dev/null
  local c name
  for c in "$@"; do
    "$KEYS" new --agency "$c" --out keys >/dev/null
    name=""
    if declare -p NAME >/dev/null 2>&1; then name=${NAME[$c]:-}; fi
    if [ -n "$name" ]; then
      "$KEYS" directory add --dir dir.ini "keys/$c.public" --name "$name" >/dev/null
    else
      "$KEYS" directory add --dir dir.ini "keys/$c.public" >/dev/null
    fi
  done
}
cli_broker() {
  "$BROKER" --identity keys/hub.secret --directory dir.ini --data-dir broker \
    --endpoint 'tcp://127.0.0.1:*' "$@" >broker.log 2>&1 &
  pids+=($!)
  wait_for 20 test -s broker/endpoint || { echo "broker did not start"; cat broker.log; exit 1; }
  endpoint=$(cat broker/endpoint)
}
cli_agents() {
  local c
  for c in "$@"; do
    "$AGENT" --identity "keys/$c.secret" --data-dir "agent-$c" --broker "$endpoint" \
      --broker-key keys/hub.public >"agent-$c.log" 2>&1 &
    pids+=($!)
  done
}
connected() { "$TRUC" --data-dir "agent-$1" health --json | grep -qE '"connected": *true'; }
has_dir() { "$TRUC" --data-dir "agent-$1" health --json | grep -qE '"directory_serial": *[1-9]'; }
cli_end() {
  echo "$1: $passed passed, $failed failed"
  [ "$failed" = 0 ]
}
