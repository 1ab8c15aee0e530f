#!/usr/bin/env bash
# test_keys_cli.sh - drive the real truc-keys binary through every command and
# every error case, checking exit codes and a key phrase of each message.
#
# Usage: test_keys_cli.sh /path/to/truc-keys
# Works in a mktemp -d directory that is removed on exit. Encrypted keys use
# TRUC_KEYS_TEST_FAST_KDF=1 so the test stays fast under sanitizers.
set -euo pipefail

KEYS=${1:?usage: test_keys_cli.sh /path/to/truc-keys}
[[ -x $KEYS ]] || { echo "not an executable: $KEYS" >&2; exit 2; }
KEYS=$(cd "$(dirname "$KEYS")" && pwd)/$(basename "$KEYS") # we cd below
WORK=$(mktemp -d "${TMPDIR:-/tmp}/truc-keys-test.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
umask 022
unset TRUC_PASSPHRASE TRUC_KEYS_TEST_FAST_KDF

passed=0
failed=0
OUT=$WORK/.stdout
ERR=$WORK/.stderr

# check NAME EXPECTED_EXIT PHRASE COMMAND...
#   Runs COMMAND, expects EXPECTED_EXIT and PHRASE (if not empty) somewhere in
#   stdout or stderr. A failing command must explain itself on stderr as
#   "truc-keys: <what went wrong>: <what to do>".
check() {
    local name=$1 expect=$2 phrase=$3
    shift 3
    local rc=0
    "$@" >"$OUT" 2>"$ERR" || rc=$?
    local all
    all=$(cat "$OUT" "$ERR")
    local why=""
    if [[ $rc -ne $expect ]]; then
        why="exit $rc, expected $expect"
    elif [[ -n $phrase && $all != *"$phrase"* ]]; then
        why="output lacks '$phrase'"
    elif [[ $expect -ne 0 ]] && ! grep -Eq '^truc-keys: .+: .+' "$ERR"; then
        why="no 'truc-keys: <problem>: <remedy>' line on stderr"
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

mode_of() { stat -c %a "$1"; }

A=000.00.01.H01
B=000.00.01.H02
C=000.00.02.H01

# ---------------------------------------------------------------- help
check "program help" 0 "Exit status" "$KEYS" --help
check "program -h" 0 "directory" "$KEYS" -h
check "version" 0 "truc-keys " "$KEYS" --version
check "no command" 1 "no command given" "$KEYS"
check "unknown command" 1 "unknown command 'frobnicate'" "$KEYS" frobnicate
for cmd in new show fingerprint public sign verify directory; do
    check "help of $cmd" 0 "Usage: truc-keys $cmd" "$KEYS" $cmd --help
done
check "help of directory add" 0 "reinstate --dir FILE CODE" "$KEYS" directory add --help
check "help of directory list" 0 "Exit status" "$KEYS" directory list -h

# ---------------------------------------------------------------- new
check "new agency" 0 "fingerprint: " "$KEYS" new --agency $A --out keys
FP_A=$(sed -n 's/^fingerprint: //p' "$OUT")
expect "secret file exists" test -f keys/$A.secret
expect "public file exists" test -f keys/$A.public
expect "secret file mode 600" test "$(mode_of keys/$A.secret)" = 600
expect "public file mode 644" test "$(mode_of keys/$A.public)" = 644
expect "key directory mode 700" test "$(mode_of keys)" = 700
check "new again refused" 2 "exists: use --force" "$KEYS" new --agency $A --out keys
expect "refused new kept the key" grep -q "$FP_A" keys/$A.public
check "new --force" 0 "created keys/$A.secret" "$KEYS" new --agency $A --out keys --force
FP_A=$(sed -n 's/^fingerprint: //p' "$OUT")
check "new agency B" 0 "fingerprint: " "$KEYS" new --agency $B --out keys
check "new agency C" 0 "fingerprint: " "$KEYS" new --agency $C --out keys
check "new invalid agency code" 1 "not a valid agency code" "$KEYS" new --agency 000.01.00.H01 --out keys
check "new invalid broker label" 1 "not a valid broker label" "$KEYS" new --broker -bad --out keys
check "new both roles" 1 "exactly one of --agency" "$KEYS" new --agency $A --broker b1 --out keys
check "new no role" 1 "exactly one of --agency" "$KEYS" new --out keys
check "new without --out" 1 "--out DIR is missing" "$KEYS" new --agency $A
check "new unknown option" 1 "unknown option '--colour'" "$KEYS" new --agency $A --out keys --colour=red
check "new option twice" 1 "--out given twice" "$KEYS" new --agency $A --out keys --out k2
check "new option without value" 1 "--out needs a value" "$KEYS" new --agency $A --out
check "new unknown kdf" 1 "unknown --kdf 'extreme'" "$KEYS" new --agency $A --out keys --encrypt --kdf extreme
check "new kdf without encrypt" 1 "add --encrypt" "$KEYS" new --agency $A --out keys --kdf moderate
check "new passphrase file without encrypt" 1 "add --encrypt" "$KEYS" new --agency $A --out keys --passphrase-file x
check "new extra argument" 1 "unexpected argument" "$KEYS" new --agency $A --out keys extra
check "new --out is a file" 2 "not a directory" "$KEYS" new --agency $A --out keys/$A.public

# Encrypted keys.
printf 'correct horse battery\n' >pass
chmod 600 pass
printf 'wrong horse\n' >wrongpass
chmod 600 wrongpass
export TRUC_KEYS_TEST_FAST_KDF=1
check "new encrypt without passphrase" 1 "--encrypt needs a passphrase" "$KEYS" new --agency $A --out enc --encrypt
check "new encrypt with missing passphrase file" 2 "does not exist" "$KEYS" new --agency $A --out enc --encrypt --passphrase-file nofile
chmod 644 pass
check "new encrypt with readable passphrase file" 2 "chmod 600 pass" "$KEYS" new --agency $A --out enc --encrypt --passphrase-file pass
chmod 600 pass
: >emptypass
chmod 600 emptypass
check "new encrypt with empty passphrase file" 2 "is empty" "$KEYS" new --agency $A --out enc --encrypt --passphrase-file emptypass
check "new encrypted agency" 0 "encrypted with argon2id" "$KEYS" new --agency $A --out enc --encrypt --kdf moderate --passphrase-file pass
FP_ENC=$(sed -n 's/^fingerprint: //p' "$OUT")
expect "encrypted file has no seed" bash -c "! grep -q '^seed' enc/$A.secret"
expect "encrypted file says argon2id" grep -q '^encryption = argon2id' enc/$A.secret
check "new encrypted broker from env" 0 "created enc/broker-1.secret" env TRUC_PASSPHRASE=envpass "$KEYS" new --broker broker-1 --out enc --encrypt
unset TRUC_KEYS_TEST_FAST_KDF

# ---------------------------------------------------------------- show, fingerprint, public
SEED=$(sed -n 's/^seed = //p' keys/$A.secret)
check "show secret" 0 "curve z85:" "$KEYS" show keys/$A.secret
expect "show prints the fingerprint" grep -q "fingerprint:  $FP_A" "$OUT"
expect "show never prints the seed" bash -c "! grep -q '$SEED' '$OUT' '$ERR'"
check "show public" 0 "public identity" "$KEYS" show keys/$A.public
check "show encrypted without passphrase" 2 "no passphrase was given" "$KEYS" show enc/$A.secret
check "show encrypted wrong passphrase" 2 "wrong passphrase" "$KEYS" show enc/$A.secret --passphrase-file wrongpass
check "show encrypted wrong env passphrase" 2 "wrong passphrase" env TRUC_PASSPHRASE=nope "$KEYS" show enc/$A.secret
check "show encrypted" 0 "$FP_ENC" "$KEYS" show enc/$A.secret --passphrase-file pass
check "show encrypted broker from env" 0 "role:         broker" env TRUC_PASSPHRASE=envpass "$KEYS" show enc/broker-1.secret
check "show missing file" 2 "does not exist" "$KEYS" show nothing.secret
printf 'hello\n' >plain.txt
check "show a non-key file" 2 "not a truc key file" "$KEYS" show plain.txt
check "show without file" 1 "missing arguments" "$KEYS" show
check "fingerprint secret" 0 "$FP_A" "$KEYS" fingerprint keys/$A.secret
check "fingerprint public" 0 "$FP_A" "$KEYS" fingerprint keys/$A.public
check "fingerprint encrypted" 0 "$FP_ENC" "$KEYS" fingerprint enc/$A.secret --passphrase-file pass
check "public re-export" 0 "wrote again.public" "$KEYS" public keys/$A.secret --out again.public
expect "re-exported public is identical" cmp -s again.public keys/$A.public
check "public refuses to overwrite" 2 "exists: use --force" "$KEYS" public keys/$A.secret --out again.public
check "public --force" 0 "wrote again.public" "$KEYS" public keys/$A.secret --out again.public --force
check "public without --out" 1 "--out FILE is missing" "$KEYS" public keys/$A.secret
check "public of encrypted, wrong passphrase" 2 "wrong passphrase" "$KEYS" public enc/$A.secret --out x.public --passphrase-file wrongpass

# ---------------------------------------------------------------- broken key files
cp keys/$A.secret bad.secret
sed -i 's/^seed = ..../seed = zzzz/' bad.secret
check "corrupt key file" 2 "not a valid secret key file (line 7: seed must be 64 hex digits)" "$KEYS" show bad.secret
head -c 120 keys/$A.secret >trunc.secret
chmod 600 trunc.secret
check "truncated key file" 2 "not a valid secret key file" "$KEYS" show trunc.secret
grep -v '^seed' keys/$A.secret >noseed.secret
chmod 600 noseed.secret
check "key file without seed" 2 "has no 'seed'" "$KEYS" fingerprint noseed.secret
sed 's/^format = 1/format = 9/' keys/$A.secret >future.secret
chmod 600 future.secret
check "key file of an unknown format" 2 "unknown format '9'" "$KEYS" show future.secret
cp keys/$A.secret loose.secret
chmod 640 loose.secret
check "secret key mode 0640" 2 "chmod 600 loose.secret" "$KEYS" show loose.secret
chmod 644 loose.secret
check "secret key mode 0644" 2 "chmod 600 loose.secret" "$KEYS" sign --key loose.secret plain.txt
expect "refused sign wrote nothing" test ! -e plain.txt.sig
cp keys/$A.public bad.public
sed -i 's/^fingerprint = ..../fingerprint = 0000/' bad.public
check "public file with a wrong fingerprint" 2 "fingerprint does not match sign_key" "$KEYS" show bad.public

# ---------------------------------------------------------------- sign, verify
printf 'Công văn số 1\n' >doc.txt
check "sign" 0 "wrote doc.txt.sig" "$KEYS" sign --key keys/$A.secret doc.txt
expect "signature file names the signer" grep -q "^signer = $A" doc.txt.sig
check "sign again refused" 2 "exists: use --force" "$KEYS" sign --key keys/$A.secret doc.txt
check "sign --force" 0 "wrote doc.txt.sig" "$KEYS" sign --key keys/$A.secret doc.txt --force
check "sign --out" 0 "wrote other.sig" "$KEYS" sign --key keys/$A.secret doc.txt --out other.sig
check "sign with encrypted key" 0 "wrote enc.sig" "$KEYS" sign --key enc/$A.secret doc.txt --out enc.sig --passphrase-file pass
check "sign with encrypted key, no passphrase" 2 "no passphrase was given" "$KEYS" sign --key enc/$A.secret doc.txt --out enc2.sig
check "sign missing file" 2 "nothing.txt does not exist" "$KEYS" sign --key keys/$A.secret nothing.txt
check "sign missing key" 2 "does not exist" "$KEYS" sign --key keys/none.secret doc.txt
check "sign without --key" 1 "--key SECRET is missing" "$KEYS" sign doc.txt
check "verify" 0 "good signature from $A ($FP_A)" "$KEYS" verify --public keys/$A.public doc.txt
check "verify explicit SIGFILE" 0 "good signature from $A" "$KEYS" verify --public keys/$A.public doc.txt other.sig
check "verify encrypted-key signature" 0 "good signature from $A ($FP_ENC)" "$KEYS" verify --public enc/$A.public doc.txt enc.sig
cp doc.txt tampered.txt
printf 'x' >>tampered.txt
check "verify tampered file" 2 "BAD signature on tampered.txt" "$KEYS" verify --public keys/$A.public tampered.txt doc.txt.sig
# Change the first hex digit of the signature for sure: 0 becomes 1, anything
# else becomes 0 (replacing it with a fixed digit left it unchanged 1 time in 16).
sed -e 's/^signature = 0/signature = 1/' -e 't' -e 's/^signature = ./signature = 0/' doc.txt.sig >flipped.sig
cmp -s doc.txt.sig flipped.sig && { echo "FAIL: the signature file did not change" >&2; exit 1; }
check "verify tampered signature" 2 "BAD signature" "$KEYS" verify --public keys/$A.public doc.txt flipped.sig
check "verify with another agency's key" 2 "BAD signature: doc.txt.sig names signer agency $A" "$KEYS" verify --public keys/$B.public doc.txt
check "verify with a re-keyed agency" 2 "BAD signature" "$KEYS" verify --public enc/$A.public doc.txt
check "verify missing signature" 2 "signature file plain.txt.sig does not exist" "$KEYS" verify --public keys/$A.public plain.txt
check "verify missing file" 2 "nothing.txt does not exist" "$KEYS" verify --public keys/$A.public nothing.txt doc.txt.sig
check "verify corrupt signature file" 2 "not a valid signature file" "$KEYS" verify --public keys/$A.public doc.txt plain.txt
check "verify missing public file" 2 "does not exist" "$KEYS" verify --public none.public doc.txt
check "verify both sources" 1 "exactly one of --public" "$KEYS" verify --public keys/$A.public --dir dir.ini doc.txt
check "verify no source" 1 "exactly one of --public" "$KEYS" verify doc.txt

# ---------------------------------------------------------------- directory
D=dir.ini
check "directory add creates the file" 0 "created dir.ini: added $A ($FP_A), serial 1" "$KEYS" directory add --dir $D keys/$A.public --name "Bộ Nội vụ"
expect "directory file mode 644" test "$(mode_of $D)" = 644
check "directory add B with validity" 0 "serial 2" "$KEYS" directory add --dir $D keys/$B.public --valid-from 2020-01-01T00:00:00Z --valid-until 2099-01-01T00:00:00Z
check "directory add duplicate agency" 2 "agency $A is already in dir.ini" "$KEYS" directory add --dir $D keys/$A.public
sed "s/^name = $A/name = $C/; s/agency $A/agency $C/" keys/$A.public >same-key.public
check "directory add duplicate key" 2 "is already in dir.ini for agency $A" "$KEYS" directory add --dir $D same-key.public
check "directory add broker" 2 "only agencies go into the directory" "$KEYS" directory add --dir $D enc/broker-1.public
check "directory add bad time" 1 "is not a UTC time" "$KEYS" directory add --dir $D keys/$C.public --valid-from 2026-01-01
check "directory add reversed times" 1 "not before --valid-until" "$KEYS" directory add --dir $D keys/$C.public --valid-from 2027-01-01T00:00:00Z --valid-until 2026-01-01T00:00:00Z
check "directory add bad name" 1 "--name has characters" "$KEYS" directory add --dir $D keys/$C.public --name "a;b"
check "directory add missing public file" 2 "does not exist" "$KEYS" directory add --dir $D keys/none.public
check "directory add without --dir" 1 "--dir FILE is missing" "$KEYS" directory add keys/$C.public
check "directory list" 0 "Bộ Nội vụ" "$KEYS" directory list --dir $D
expect "directory list shows serial 2" grep -q "serial 2, " "$OUT"
check "directory list --json" 0 "\"serial\":2" "$KEYS" directory list --dir $D --json
expect "json names the agency" grep -q "\"code\":\"$A\",\"name\":\"Bộ Nội vụ\",\"state\":\"active\"" "$OUT"
chmod 666 $D
check "directory file others may write" 2 "chmod go-w $D" "$KEYS" directory list --dir $D
chmod 644 $D
check "directory show" 0 "usable now:   yes" "$KEYS" directory show --dir $D $A
check "directory show unknown" 2 "agency $C is not in dir.ini" "$KEYS" directory show --dir $D $C
check "verify --dir" 0 "good signature from $A" "$KEYS" verify --dir $D doc.txt
check "directory suspend" 0 "$A is now suspended in dir.ini, serial 3" "$KEYS" directory suspend --dir $D $A
check "directory suspend again" 0 "already suspended" "$KEYS" directory suspend --dir $D $A
check "verify --dir suspended signer" 2 "signer $A is suspended" "$KEYS" verify --dir $D doc.txt
check "directory show suspended" 0 "no (suspended)" "$KEYS" directory show --dir $D $A
check "directory reinstate" 0 "$A is now active" "$KEYS" directory reinstate --dir $D $A
check "verify --dir reinstated signer" 0 "good signature from $A" "$KEYS" verify --dir $D doc.txt
check "directory suspend unknown agency" 2 "agency $C is not in dir.ini" "$KEYS" directory suspend --dir $D $C
check "directory revoke unknown agency" 2 "agency $C is not in dir.ini" "$KEYS" directory revoke --dir $D $C
check "directory suspend invalid code" 1 "'H01' is not a valid agency code" "$KEYS" directory suspend --dir $D H01
check "directory revoke" 0 "now revoked in dir.ini, serial 5 (final)" "$KEYS" directory revoke --dir $D $A
check "directory reinstate revoked" 2 "revoked, which is final" "$KEYS" directory reinstate --dir $D $A
check "directory suspend revoked" 2 "revoked, which is final" "$KEYS" directory suspend --dir $D $A
check "verify --dir revoked signer" 2 "signer $A is revoked" "$KEYS" verify --dir $D doc.txt
check "sign with B" 0 "wrote b.sig" "$KEYS" sign --key keys/$B.secret doc.txt --out b.sig
check "verify --dir within validity" 0 "good signature from $B" "$KEYS" verify --dir $D doc.txt b.sig
check "new key for B" 0 "fingerprint: " "$KEYS" new --agency $B --out rekey
check "directory rekey" 0 "$B has the new key" "$KEYS" directory rekey --dir $D rekey/$B.public
expect "rekey names the old key" grep -q "(was $("$KEYS" fingerprint keys/$B.public | tr -d '\n'))" "$OUT"
check "verify --dir after rekey: old signature" 2 "BAD signature" "$KEYS" verify --dir $D doc.txt b.sig
check "sign with B's new key" 0 "wrote b2.sig" "$KEYS" sign --key rekey/$B.secret doc.txt --out b2.sig
check "verify --dir after rekey: new signature" 0 "good signature from $B" "$KEYS" verify --dir $D doc.txt b2.sig
check "directory rekey same key" 0 "already has the key" "$KEYS" directory rekey --dir $D rekey/$B.public
sed "s/^name = $A/name = $B/; s/agency $A/agency $B/" keys/$A.public >b-takes-a.public
check "directory rekey to another agency's key" 2 "is already in dir.ini for agency $A" "$KEYS" directory rekey --dir $D b-takes-a.public
check "directory rekey revoked" 2 "revoked, which is final" "$KEYS" directory rekey --dir $D enc/$A.public
check "directory rekey unknown agency" 2 "agency $C is not in dir.ini" "$KEYS" directory rekey --dir $D keys/$C.public
check "directory rekey broker" 2 "only agencies go into the directory" "$KEYS" directory rekey --dir $D enc/broker-1.public
check "directory rekey without --dir" 1 "--dir FILE is missing" "$KEYS" directory rekey rekey/$B.public
# Key rotation keeps the old key as retired, with its window.
check "show lists the retired key" 0 "retired key:  $("$KEYS" fingerprint keys/$B.public | tr -d '\n') from" "$KEYS" directory show --dir $D $B
check "list --json retired keys" 0 '"retired":[{"sign_key":' "$KEYS" directory list --dir $D --json
check "directory rekey back to a retired key" 2 "a retired key never comes back" "$KEYS" directory rekey --dir $D keys/$B.public
check "directory rekey bad grace" 1 "is not a duration" "$KEYS" directory rekey --dir $D keys/$B.public --grace 5y
check "retire-broker-key with an agency file" 2 "give the broker's old public file" "$KEYS" directory retire-broker-key --dir $D keys/$B.public
check "sign with C" 0 "wrote c.sig" "$KEYS" sign --key keys/$C.secret doc.txt --out c.sig
check "verify --dir signer not listed" 2 "signer $C is not an agency in dir.ini" "$KEYS" verify --dir $D doc.txt c.sig
check "directory add C expired" 0 "serial 7" "$KEYS" directory add --dir $D keys/$C.public --valid-until 2021-01-01T00:00:00Z
check "verify --dir expired signer" 2 "signer $C is past its valid_until" "$KEYS" verify --dir $D doc.txt c.sig
check "directory missing file" 2 "directory file none.ini does not exist" "$KEYS" directory list --dir none.ini
check "directory change on missing file" 2 "does not exist" "$KEYS" directory suspend --dir none.ini $A
check "verify --dir missing file" 2 "does not exist" "$KEYS" verify --dir none.ini doc.txt
sed "s/^state = revoked/state = paused/" $D >broken.ini
check "directory corrupt file" 2 "not a valid agency directory (line" "$KEYS" directory list --dir broken.ini
expect "corrupt file message names the problem" grep -q "unknown state 'paused'" "$ERR"
cp $D dup.ini
printf '\n' >>dup.ini
sed -n "/^\[$B\]/,/^\$/p" $D >>dup.ini
check "directory duplicate section" 2 "duplicate section [$B] (first on line" "$KEYS" directory list --dir dup.ini
check "directory unknown command" 1 "unknown directory command 'purge'" "$KEYS" directory purge --dir $D
check "directory without command" 1 "needs a command" "$KEYS" directory
check "directory list extra argument" 1 "unexpected argument" "$KEYS" directory list --dir $D $A

# ---------------------------------------------------------------- federation
# Broker entries: the codes and patterns each broker is home for, agency
# homes, and the same state rules as agencies. F starts empty.
F=fed.ini
for b in national-1 hcm hue ministries; do
    check "new broker $b" 0 "fingerprint: " "$KEYS" new --broker $b --out bk
done
check "add-broker creates the file" 0 "added broker national-1" "$KEYS" directory add-broker --dir $F bk/national-1.public --pattern '*'
check "add-broker with patterns" 0 "home for 0 codes and 2 patterns, serial 2" "$KEYS" directory add-broker --dir $F bk/hcm.public --name "Trục TP.HCM" --pattern H29 --pattern=01.H30
check "add-broker same pattern" 2 "ambiguous routing: [broker hcm] and [broker hue] both list the pattern 'H29' (as 'H29' and '*.H29')" "$KEYS" directory add-broker --dir $F bk/hue.public --pattern '*.H29'
check "add-broker tie" 2 "both match *.*.01.H29 with 1 literal level" "$KEYS" directory add-broker --dir $F bk/hue.public --pattern '*.*.01.*'
expect "tie names the other broker" grep -q "\[broker hcm\] pattern 'H29'" "$ERR"
check "add-broker bad pattern" 1 "--pattern 'H2' has a level 1" "$KEYS" directory add-broker --dir $F bk/hue.public --pattern H2
check "add-broker code as pattern" 1 "is a whole agency code" "$KEYS" directory add-broker --dir $F bk/hue.public --pattern $A
check "add-broker bad code" 1 "--code '000.01.00.H01' is not a valid agency code" "$KEYS" directory add-broker --dir $F bk/hue.public --code 000.01.00.H01
check "add-broker option without value" 1 "--pattern needs a value" "$KEYS" directory add-broker --dir $F bk/hue.public --pattern
check "add-broker agency file" 2 "add agencies with" "$KEYS" directory add-broker --dir $F keys/$A.public
check "add-broker without --dir" 1 "--dir FILE is missing" "$KEYS" directory add-broker bk/hue.public --pattern H33
check "add-broker hue" 0 "added broker hue" "$KEYS" directory add-broker --dir $F bk/hue.public --pattern H33 --code $B
check "add-broker twice" 2 "[broker hue] is already in the directory" "$KEYS" directory add-broker --dir $F bk/hue.public
check "add agency to federated directory" 0 "added $A" "$KEYS" directory add --dir $F keys/$A.public
check "add-broker code served here" 2 "[broker ministries] lists $A, whose entry has no home" "$KEYS" directory add-broker --dir $F bk/ministries.public --code $A
sed -e 's/^role = agency/role = broker/' -e "s/^name = $A/name = clash/" keys/$A.public >bk/clash.public
check "add-broker with an agency's key" 2 "is already in the directory for agency $A" "$KEYS" directory add-broker --dir $F bk/clash.public
check "set-home" 0 "$A is now served by hcm in $F" "$KEYS" directory set-home --dir $F $A hcm
check "set-home again" 0 "already has the home hcm" "$KEYS" directory set-home --dir $F $A hcm
check "show agency home" 0 "home:         hcm" "$KEYS" directory show --dir $F $A
check "set-home unknown broker" 2 "broker nobody is not in $F" "$KEYS" directory set-home --dir $F $A nobody
check "set-home unknown agency" 2 "agency $C is not in $F" "$KEYS" directory set-home --dir $F $C hcm
check "set-home label and --local" 1 "either a broker LABEL or --local" "$KEYS" directory set-home --dir $F $A hcm --local
check "set-home bad code" 1 "not a valid agency code" "$KEYS" directory set-home --dir $F H01 hcm
check "add agency listed by hue" 2 "broker hue lists $B as an agency it is home for: add it with --home hue" "$KEYS" directory add --dir $F keys/$B.public
check "add agency home unknown" 2 "broker nobody is not in $F" "$KEYS" directory add --dir $F keys/$B.public --home nobody
check "add agency with home" 0 "added $B" "$KEYS" directory add --dir $F keys/$B.public --home hue
check "set-home against an explicit code" 2 "[broker hue] lists $B" "$KEYS" directory set-home --dir $F $B hcm
check "set-home to the listing broker" 0 "$B already has the home hue" "$KEYS" directory set-home --dir $F $B hue
check "list brokers" 0 "# 3 brokers" "$KEYS" directory list --dir $F
expect "list shows the home" grep -q "(home: hcm)" "$OUT"
expect "list shows what a broker is home for" grep -Eq "^hcm .* H29 01\.H30$" "$OUT"
check "list --json kinds" 0 '"kind":"broker","label":"hcm"' "$KEYS" directory list --dir $F --json
expect "json agency kind and home" grep -q '"kind":"agency","code":"'$A'".*"home":"hcm"' "$OUT"
expect "json broker rules" grep -q '"codes":\[\],"patterns":\["H29","01.H30"\]' "$OUT"
check "show broker" 0 "home for:     H29 01.H30" "$KEYS" directory show --dir $F hcm
check "suspend broker" 0 "broker hue is now suspended in $F" "$KEYS" directory suspend --dir $F hue
check "show suspended broker" 0 "routes to it: no (suspended)" "$KEYS" directory show --dir $F hue
check "reinstate broker" 0 "broker hue is now active" "$KEYS" directory reinstate --dir $F hue
check "revoke broker" 0 "broker hue is now revoked in $F" "$KEYS" directory revoke --dir $F hue
check "reinstate revoked broker" 2 "broker hue is revoked, which is final" "$KEYS" directory reinstate --dir $F hue
check "suspend unknown broker" 2 "broker nobody is not in $F" "$KEYS" directory suspend --dir $F nobody
check "show unknown broker" 2 "broker nobody is not in $F" "$KEYS" directory show --dir $F nobody
check "set-home --local" 0 "$A is now served by this broker" "$KEYS" directory set-home --dir $F $A --local
# A tie written into the file by hand stops every reader, naming both brokers.
cp $F tie.ini
printf '\n[broker tie]\nname = Tie\nsign_key = %s\nstate = active\npatterns = *.H29\n' \
    "$(sed -n 's/^sign_key = //p' bk/ministries.public)" >>tie.ini
check "tie in the file" 2 "ambiguous routing: [broker hcm] and [broker tie] both list the pattern" "$KEYS" directory list --dir tie.ini
# The broker's own key rotation.
check "retire-broker-key" 0 "is retired in $F" "$KEYS" directory retire-broker-key --dir $F enc/broker-1.public --grace 12h
expect "the file keeps it" grep -q "^broker_retired = $(sed -n 's/^sign_key = //p' enc/broker-1.public) - " $F
check "retire-broker-key twice" 2 "is already retired" "$KEYS" directory retire-broker-key --dir $F enc/broker-1.public
check "list --json broker_retired" 0 '"broker_retired":[{"sign_key":' "$KEYS" directory list --dir $F --json

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
