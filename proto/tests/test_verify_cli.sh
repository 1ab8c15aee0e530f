#!/usr/bin/env bash
# Drives the real truc-verify binary over bundles test_evidence writes:
# proven, without content, unproven, tampered, signed before a key
# rotation; the report's words, --json, --html and every exit code.
#   usage: test_verify_cli.sh TRUC_VERIFY TEST_EVIDENCE
set -euo pipefail
verify=$1
maker=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
"$maker" --write "$work"
key=$(cat broker.key)

passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }

# expect CODE PATTERN -- command...: exit status CODE and output matching PATTERN
expect() {
  local want=$1 pattern=$2
  shift 3
  local out status=0
  out=$("$@" 2>&1) || status=$?
  if [ "$status" != "$want" ]; then
    bad "$* -> exit $status, wanted $want: $out"
  elif ! grep -qE -- "$pattern" <<<"$out"; then
    bad "$* -> output lacks /$pattern/: $out"
  else
    ok
  fi
}

expect 0 'recipient +000\.05\.01\.H01: delivered proven' -- "$verify" proven.bundle --broker-key "$key"
expect 0 'sender +000\.00\.00\.G01' -- "$verify" proven.bundle --broker-key "$key"
expect 0 'accepted +proven' -- "$verify" proven.bundle --broker-key "$key"
expect 0 'taken from the bundle' -- "$verify" proven.bundle
expect 0 'content not included' -- "$verify" bare.bundle --broker-key "$key"
expect 1 'NOT PROVEN: no DELIVERED receipt signed by 000\.05\.01\.H01' -- "$verify" unproven.bundle
expect 2 'FAIL ACCEPTED' -- "$verify" tampered.bundle --broker-key "$key"
expect 2 'ERR_BAD_SIGNATURE' -- "$verify" tampered.bundle --broker-key "$key"
expect 0 'delivered proven' -- "$verify" rotated.bundle --broker-key "$key"
# Another broker key: the directory, and so everything, fails.
expect 2 'FAIL directory' -- "$verify" proven.bundle --broker-key "$(printf '%064d' 0)"
expect 2 'not an evidence bundle' -- "$verify" broker.key
expect 0 '"verdict":0' -- "$verify" proven.bundle --json
expect 2 '"ok":false,"error":"ERR_BAD_SIGNATURE"' -- "$verify" tampered.bundle --json
expect 3 'usage' -- "$verify"
expect 3 'hex' -- "$verify" proven.bundle --broker-key zz
expect 3 'No such file|not found|exist' -- "$verify" missing.bundle

# The certificate: one page, the subject's markup escaped, nothing fetched.
expect 0 'PROVEN' -- "$verify" proven.bundle --html cert.html
if grep -q '<phê duyệt>' cert.html || ! grep -q '&#60;phê duyệt&#62;' cert.html; then
  bad "the subject is not escaped in cert.html"
elif grep -qiE '(src|href)=|url\(' cert.html; then
  bad "cert.html refers to an external resource"
elif ! grep -q 'Delivered to 000.05.01.H01</th><td>proven' cert.html; then
  bad "cert.html lacks the delivery: $(cat cert.html)"
else
  ok
fi

echo "truc-verify CLI: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
