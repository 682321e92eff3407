#!/usr/bin/env bash
# update-readme-keys.sh - regenerate README.md's config key list from the
# table the parser uses (`mailfuse config-keys`). --check: exit 1 if stale.
set -euo pipefail
cd "$(dirname "$0")/.."
MF=${MAILFUSE:-build/mailfuse}
new=$(mktemp)
awk -v keys="$("$MF" config-keys | sed 's/^/    /')" '
  /<!-- config-keys:begin -->/ { print; print ""; print keys; print ""; skip = 1; next }
  /<!-- config-keys:end -->/ { skip = 0 }
  !skip { print }' README.md > "$new"
if [ "${1:-}" = "--check" ]; then
  cmp -s README.md "$new" && { rm -f "$new"; exit 0; }
  rm -f "$new"; echo "README.md config keys are stale: run tools/update-readme-keys.sh" >&2; exit 1
fi
mv "$new" README.md
