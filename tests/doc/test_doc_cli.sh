#!/usr/bin/env bash
# Drives the real truc-doc and truc-keys binaries: pack, show and verify a
# signed document, and check that every kind of tampering and every bad
# input is refused with the documented exit code.
#   usage: test_doc_cli.sh TRUC_DOC TRUC_KEYS
set -euo pipefail
doc=$1
keys=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

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

A=000.00.01.H01
B=000.00.00.G09
C=000.05.01.H01
for code in $A $B $C; do "$keys" new --agency "$code" --out keys >/dev/null; done
for code in $A $B $C; do "$keys" directory add --dir dir.ini "keys/$code.public" --name "Agency $code" >/dev/null; done
head -c 70000 /dev/urandom > report.pdf
printf 'appendix\n' > appendix.txt

expect 0 "signed document" -- "$doc" pack --key keys/$A.secret --to $B,$C --type "Công văn" \
  --subject "Về việc thử nghiệm" --number 7 --notation "UBND-VP" --urgency immediate \
  --attach report.pdf --attach appendix.txt --out good.truc
expect 0 "^VALID" -- "$doc" verify good.truc --dir dir.ini
expect 0 "^VALID" -- "$doc" verify good.truc --public keys/$A.public
expect 0 "Về việc thử nghiệm" -- "$doc" show good.truc
expect 0 "immediate" -- "$doc" show good.truc
expect 0 "report.pdf \(application/pdf, 70000 bytes" -- "$doc" show good.truc

# The signer's public key must be the sender's.
expect 3 "ERR_SENDER_MISMATCH" -- "$doc" verify good.truc --public keys/$B.public

# One byte of the last attachment changed.
cp good.truc att.truc
size=$(stat -c %s att.truc)
printf 'Z' | dd of=att.truc bs=1 seek=$((size - 3)) conv=notrunc status=none
expect 3 "ERR_HASH_MISMATCH" -- "$doc" verify att.truc --dir dir.ini

# The subject changed in the body (same length, so the file stays well-formed).
sed 's/thử nghiệm/thử nghiệp/' good.truc > subject.truc
cmp -s good.truc subject.truc && bad "sed did not change the subject"
expect 3 "ERR_BAD_SIGNATURE" -- "$doc" verify subject.truc --dir dir.ini

# A recipient code changed.
sed 's/000.05.01.H01/000.05.02.H01/' good.truc > recipient.truc
expect 3 "ERR_BAD_SIGNATURE" -- "$doc" verify recipient.truc --dir dir.ini

# Suspended or unknown senders are refused by a directory check.
cp dir.ini suspended.ini
"$keys" directory suspend --dir suspended.ini $A >/dev/null
expect 3 "ERR_AGENCY_SUSPENDED" -- "$doc" verify good.truc --dir suspended.ini
"$keys" new --agency 000.00.00.H40 --out keys >/dev/null
expect 0 "signed document" -- "$doc" pack --key keys/000.00.00.H40.secret --to $B --type "Công văn" \
  --subject "Từ cơ quan lạ" --out stranger.truc
expect 3 "ERR_UNKNOWN_AGENCY" -- "$doc" verify stranger.truc --dir dir.ini

# Broken files.
head -c 100 good.truc > truncated.truc
expect 3 "not a truc document|INVALID" -- "$doc" verify truncated.truc --dir dir.ini
# Frames whose declared counts no file holds: msgpack-c would allocate for
# them first (2^32 elements asked for 128 GiB and aborted an ASan build; one
# random file in about 200 starts that way).
printf '\x92\xdd\xff\xff\xff\xff\xc4\x01a' > huge-array.truc
expect 3 "not a truc document.*declared 4294967295 elements" -- "$doc" verify huge-array.truc --dir dir.ini
printf '\x93\xc4\x01a\xc4\x01b\xdf\xff\xff\xff\xff' > huge-map.truc
expect 3 "not a truc document.*declared" -- "$doc" verify huge-map.truc --dir dir.ini
printf '\x92\x91\xc4\x01a\xc4\x01b' > nested.truc
expect 3 "not a truc document.*ERR_DEPTH" -- "$doc" verify nested.truc --dir dir.ini
head -c 4096 /dev/urandom > random.truc
failed_before=$failed
expect 3 "not a truc document|INVALID" -- "$doc" verify random.truc --dir dir.ini
# Random input: show what it began with, so a failure can be replayed.
[ "$failed" = "$failed_before" ] || echo "random.truc began with: $(od -An -tx1 -N32 random.truc)" >&2
expect 2 "cannot read" -- "$doc" verify missing.truc --dir dir.ini

# Invalid documents are refused before anything is signed.
expect 2 "ERR_AGENCY_CODE|invalid agency code" -- "$doc" pack --key keys/$A.secret --to 1.2.3 \
  --type T --subject S --out x.truc
expect 2 "sender cannot be a recipient" -- "$doc" pack --key keys/$A.secret --to $A --type T \
  --subject S --out x.truc
long_subject=$(printf 'ă%.0s' $(seq 501))
expect 2 "limit 500|500" -- "$doc" pack --key keys/$A.secret --to $B --type T \
  --subject "$long_subject" --out x.truc
expect 2 "cannot read attachment" -- "$doc" pack --key keys/$A.secret --to $B --type T \
  --subject S --attach nope.pdf --out x.truc
[ -e x.truc ] && bad "an invalid document was written" || ok

# Usage errors.
expect 1 "usage" -- "$doc"
expect 1 "unknown command" -- "$doc" frobnicate
expect 1 "needs --key" -- "$doc" pack --to $B
expect 1 "one of --public or --dir" -- "$doc" verify good.truc
expect 0 "usage" -- "$doc" --help

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
