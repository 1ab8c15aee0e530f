#!/usr/bin/env bash
# The main job, for now: install what is needed, build, and show truc's
# foundations at work on this machine, with no broker yet:
#   two agencies get identities and directory entries, one signs an official
#   document with a PDF attachment for the other, the document verifies
#   against the directory, and a copy with one altered byte is refused.
# Everything is created under ./demo (removed and recreated on every run).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "installing dependencies and building"
scripts/install-deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/release -j "$(nproc)" --target truc-keys truc-doc >/dev/null
keys=build/release/keys/truc-keys
doc=build/release/proto/truc-doc

if [ -d demo ]; then
  echo "resetting ./demo from an earlier run"
  rm -rf demo
fi
mkdir -p demo

ministry=000.00.00.G09
province=000.00.00.H29

say "1. identities for two agencies (Ed25519 signing key, CURVE key derived from it)"
"$keys" new --agency "$ministry" --out demo/keys
"$keys" new --agency "$province" --out demo/keys
ls -l demo/keys

say "2. the agency directory the broker will trust"
"$keys" directory add --dir demo/directory.ini "demo/keys/$ministry.public" --name "Bộ Nội vụ (demo)"
"$keys" directory add --dir demo/directory.ini "demo/keys/$province.public" --name "UBND tỉnh Quảng Ninh (demo)"
"$keys" directory list --dir demo/directory.ini

say "3. the ministry signs an official dispatch with a PDF attachment"
printf '%%PDF-1.4\n%% Công văn số 123/BNV-CCHC (demo)\n1 0 obj << /Type /Catalog >> endobj\n%%%%EOF\n' \
  > demo/cong-van-123.pdf
"$doc" pack --key "demo/keys/$ministry.secret" --to "$province" \
  --type "Công văn" --number 123 --notation "BNV-CCHC" --urgency urgent \
  --subject "Về việc triển khai trục liên thông văn bản điện tử" \
  --signer "Nguyễn Văn An" --position "Thứ trưởng" --place "Hà Nội" --date "$(date +%F)" \
  --attach demo/cong-van-123.pdf --out demo/cong-van-123.truc
"$doc" show demo/cong-van-123.truc

say "4. the province checks it against the directory"
"$doc" verify demo/cong-van-123.truc --dir demo/directory.ini

say "5. a copy with one byte of the attachment changed is refused"
cp demo/cong-van-123.truc demo/tampered.truc
size=$(stat -c %s demo/tampered.truc)
printf 'X' | dd of=demo/tampered.truc bs=1 seek=$((size - 2)) conv=notrunc status=none
if "$doc" verify demo/tampered.truc --dir demo/directory.ini; then
  echo "demo: the tampered copy was accepted - this is a bug" >&2
  exit 1
fi

say "6. a copy whose subject was edited (\"điện tử\" -> \"điện từ\") fails the signature check"
sed 's/điện tử/điện từ/' demo/cong-van-123.truc > demo/edited.truc
if "$doc" verify demo/edited.truc --dir demo/directory.ini; then
  echo "demo: the edited copy was accepted - this is a bug" >&2
  exit 1
fi

say "done"
cat <<EOT
Files are in ./demo. Try:
  $doc show demo/cong-van-123.truc
  $keys show demo/keys/$ministry.public
  $keys directory suspend --dir demo/directory.ini $province
Run the tests with: scripts/test.sh
EOT
