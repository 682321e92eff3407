# shellcheck shell=bash
# testlib.sh - small helpers for the TAP test scripts that drive the test bed.
# Source it from bash:  . "$REPO/tests/bed/testlib.sh"
#
#   tap_ok NAME / tap_fail NAME / tap_skip NAME REASON    one TAP line each
#   tap_check NAME CMD...                                 ok if CMD exits 0
#   diag TEXT... / diag_file FILE [N]                     "# " lines
#   tap_done                                              prints the plan "1..N", returns 0/1
#   free_port START [TAKEN...]                            first TCP port >= START with no
#                                                         listener and not in TAKEN (200 tries)
#   port_listening PORT                                   something listens on 127.0.0.1:PORT
#   json_get JSON PY_EXPR                                 prints eval(PY_EXPR) with d = the JSON
#                                                         (e.g. 'd["counters"]["messages"]["day"]')
#   wait_until SECONDS CMD...                             retries CMD every 0.1 s until it
#                                                         succeeds or SECONDS pass (bounded)

TAP_N=0
TAP_FAILED=0
TEST_PY=/usr/bin/python3
[ -x "$TEST_PY" ] || TEST_PY=$(command -v python3)

tap_ok()   { TAP_N=$((TAP_N + 1)); echo "ok $TAP_N - $*"; }
tap_fail() { TAP_N=$((TAP_N + 1)); TAP_FAILED=$((TAP_FAILED + 1)); echo "not ok $TAP_N - $*"; }
tap_skip() { TAP_N=$((TAP_N + 1)); echo "ok $TAP_N - $1 # SKIP ${2:-}"; }
tap_check() {
  local name=$1; shift
  if "$@"; then tap_ok "$name"; else tap_fail "$name"; return 1; fi
}
diag() { local l; while IFS= read -r l; do echo "# $l"; done <<<"$*"; }
diag_file() {  # FILE [N]: last N lines of FILE as diagnostics
  [ -r "$1" ] || { diag "($1 missing)"; return 0; }
  echo "# ---- tail -n ${2:-20} $1"
  tail -n "${2:-20}" "$1" | sed 's/^/#   /'
}
tap_done() { echo "1..$TAP_N"; [ "$TAP_FAILED" = 0 ]; }

port_listening() { [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]; }
free_port() {
  local start=$1 p i; shift
  for ((i = 0; i < 200; i++)); do
    p=$((start + i))
    [[ " $* " == *" $p "* ]] && continue
    port_listening "$p" && continue
    echo "$p"; return 0
  done
  return 1
}

json_get() {
  "$TEST_PY" -c '
import json, sys
try:
    d = json.loads(sys.argv[1])
    v = eval(sys.argv[2], {"d": d})
except Exception as e:
    print("json_get: %s: %s" % (type(e).__name__, e), file=sys.stderr); sys.exit(1)
print(json.dumps(v) if isinstance(v, (dict, list, tuple, bool)) or v is None else v)
' "$1" "$2"
}

wait_until() {  # bounded both in tries (SECONDS*10) and in wall time (SECONDS)
  local secs=$1 i end; shift
  end=$(( $(date +%s%N) / 1000000 + secs * 1000 ))
  for ((i = 0; i < secs * 10; i++)); do
    "$@" && return 0
    (( $(date +%s%N) / 1000000 >= end )) && return 1
    sleep 0.1
  done
  return 1
}
