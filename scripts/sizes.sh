#!/usr/bin/env bash
# Print the shape of the product code: the largest C files by line count and
# every function longer than a limit, across broker/ agent/ proto/ keys/
# (tests and fuzz targets left out). STYLE.md asks for files under about
# 1,000 lines and functions under about 120; this shows where we stand.
# Not run by CI: it reports, it does not judge.
#
#   scripts/sizes.sh             the 15 largest files, functions over 120 lines
#   scripts/sizes.sh -n 80       functions over 80 lines
#   scripts/sizes.sh -f 30       the 30 largest files
#
# Needs universal-ctags (scripts/install-deps.sh installs it): its end: field
# gives each function's last line, so a function's length is end - line + 1,
# its signature and closing brace included.
set -euo pipefail
cd "$(dirname "$0")/.."

limit=120
files=15
while getopts "n:f:h" opt; do
  case "$opt" in
    n) limit="$OPTARG" ;;
    f) files="$OPTARG" ;;
    h) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
case "$limit$files" in
  *[!0-9]*) echo "sizes: -n and -f take a number" >&2; exit 2 ;;
esac

if ! ctags --version 2>/dev/null | grep -q 'Universal Ctags'; then
  echo "sizes: needs universal-ctags (apt-get install universal-ctags)" >&2
  exit 1
fi

# Product sources only: no tests, no fuzz targets, nothing from a build tree.
mapfile -t srcs < <(find broker agent proto keys -name '*.[ch]' \
  -not -path '*/tests/*' -not -path '*/fuzz/*' -not -path '*/build/*' | sort)
if [ ${#srcs[@]} -eq 0 ]; then
  echo "sizes: no sources found" >&2
  exit 1
fi

echo "== largest files (lines) =="
wc -l "${srcs[@]}" | grep -v ' total$' | sort -rn | head -n "$files"

echo
echo "== functions over $limit lines (lines, file:line, name) =="
# One tag line per function definition: name, file, pattern, kind, then
# fields; pick line: and end: out of the fields wherever they fall.
ctags --c-kinds=f --fields=+ne -o - "${srcs[@]}" |
  awk -F '\t' -v limit="$limit" '
    {
      start = 0; stop = 0
      for (i = 4; i <= NF; i++) {
        if ($i ~ /^line:/) start = substr($i, 6) + 0
        if ($i ~ /^end:/)  stop = substr($i, 5) + 0
      }
      if (start > 0 && stop >= start && stop - start + 1 > limit)
        printf "%6d  %s:%d  %s\n", stop - start + 1, $2, start, $1
    }' | sort -rn
