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

# ------------------------------------------------ shared by the mailfuse + bed tests
# They set T (temp dir, "" until made), BED (bed.sh), BED_UP (1 once up).

stop_pid() {  # PID: SIGTERM, bounded wait, SIGKILL as a last resort; sets STOP_RC.
  local pid=$1 i st     # not in a subshell: only the parent shell can wait for its child
  STOP_RC=""
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    st=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)
    [ "$st" = Z ] && break   # zombies count as dead (PID 1 reaps late here)
    sleep 0.1
  done
  st=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)
  if kill -0 "$pid" 2>/dev/null && [ "$st" != Z ]; then kill -KILL "$pid" 2>/dev/null; fi
  wait "$pid" 2>/dev/null; STOP_RC=$?
}

bed_teardown() {  # the bed down and the temp dir gone (KEEP=1 keeps it)
  if [ -n "${T:-}" ] && [ -d "$T" ]; then
    [ "${BED_UP:-0}" = 1 ] && { timeout 60 "$BED" down "$T/bed" >> "$T/down.log" 2>&1 || cat "$T/down.log" >&2; }
    if [ "${KEEP:-0}" = 1 ]; then echo "# kept $T" >&2; else rm -rf -- "$T"; fi
  fi
}

bail() { tap_fail "$1"; shift; [ $# -gt 0 ] && diag "$*"; tap_done; exit 1; }

need_root_or_skip() {
  if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root (Postfix and Dovecot masters)"; exit 0; fi
}

bed_install_or_bail() {  # MAILFUSE must exist; bed.sh install (fast when installed)
  [ -x "$MAILFUSE" ] || bail "mailfuse binary exists" "$MAILFUSE not found or not executable (meson setup build && ninja -C build)"
  if timeout 900 "$BED" install > /tmp/mf-bed-install.$$.log 2>&1; then tap_ok "bed.sh install"; rm -f /tmp/mf-bed-install.$$.log
  else diag_file /tmp/mf-bed-install.$$.log; rm -f /tmp/mf-bed-install.$$.log; bail "bed.sh install"; fi
}

# The start of a bed test: root or skip, the script's own cleanup() on exit,
# the bed installed, a fresh temp dir T (755: the bed's daemons traverse it).
bed_test_start() {  # PREFIX of the temp dir
  need_root_or_skip
  trap cleanup EXIT
  trap 'exit 1' INT TERM
  bed_install_or_bail
  T=$(mktemp -d "/tmp/$1.XXXXXX"); chmod 755 "$T"
}

# Free ports for mailfuse's policy listener (PP) and the bed (exported for
# bed.sh), from the usual ones up; SINK_BASE moves the sink's elsewhere.
bed_ports() {
  PP=$(free_port 10040) && SUBMISSION_PORT=$(free_port 10587 "$PP") &&
    SMTP_PORT=$(free_port 10025 "$PP" "$SUBMISSION_PORT") &&
    IMAP_PORT=$(free_port 10143 "$PP" "$SUBMISSION_PORT" "$SMTP_PORT") &&
    SINK_PORT=$(free_port "${SINK_BASE:-10026}" "$PP" "$SUBMISSION_PORT" "$SMTP_PORT" "$IMAP_PORT") ||
    bail "found free TCP ports"
  export SUBMISSION_PORT SMTP_PORT IMAP_PORT SINK_PORT
}

# ---------------------------------------------------------------- the mailfuse under test
# (MAILFUSE: the binary, CONF: its config, T: the test dir, MFPID: its pid)
stop_mailfuse() { stop_pid "$MFPID"; MF_RC=$STOP_RC; MFPID=""; }  # sets MF_RC
ctl() { timeout 15 "$MAILFUSE" ctl -c "$CONF" "$@" 2>>"$T/ctl.err"; }
ctl_json() { timeout 15 "$MAILFUSE" ctl -c "$CONF" --json "$@" 2>>"$T/ctl.err"; }

# The closing checks of a test with a live mailfuse (LOG: its log) in front of
# the bed's Postfix (MAILLOG): no internal or store errors, no policy warnings
# or fatal lines in the maillog, no crash, a clean SIGTERM; on failure the
# tails of the logs (plus any FILE... given); the elapsed time since T0; the plan.
mf_final_checks() {
  local st f
  st=$(ctl_json status)
  tap_check "ctl status: no internal errors, store errors 0" \
    [ "$(json_get "$st" '(d["errors"]["internal"], d["store"]["errors"])' 2>/dev/null)" = '[0, 0]' ] || diag "status: $st"
  tap_check "maillog: no 'warning: problem talking to server'" bash -c "! grep -q 'warning: problem talking to server' '$MAILLOG'" ||
    diag "$(grep 'problem talking to server' "$MAILLOG" | head -5)"
  tap_check "maillog: no fatal/panic lines" bash -c "! grep -Eq 'postfix/[a-z/]+\\[[0-9]+\\]: (fatal|panic):' '$MAILLOG'" ||
    diag "$(grep -E '(fatal|panic):' "$MAILLOG" | head -5)"
  tap_check "mailfuse log: no crash / sanitizer report" bash -c "! grep -Eq 'AddressSanitizer|runtime error:|Segmentation|Assertion' '$LOG'" ||
    diag_file "$LOG" 20
  stop_mailfuse
  tap_check "SIGTERM: exit status 0" [ "$MF_RC" = 0 ] || diag "exit status $MF_RC"
  if [ "$TAP_FAILED" != 0 ]; then
    diag_file "$LOG" 40
    diag_file "$MAILLOG" 15
    for f in "$T/ctl.err" "$@"; do [ -s "$f" ] && diag_file "$f" 10; done
  fi
  diag "elapsed $(( ($(date +%s%N) - T0) / 1000000 )) ms"
  tap_done
}
