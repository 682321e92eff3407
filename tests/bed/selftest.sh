#!/usr/bin/env bash
# selftest.sh - TAP check of the test bed itself (no mailfuse needed): brings a bed up
# with the stub policy server (policy_stub.py), shows that Postfix consults it at RCPT
# and END-OF-MESSAGE and that DUNNO / DEFER_IF_PERMIT / REJECT / HOLD reach the client
# (or the hold queue), does IMAP logins, brings the bed down and checks nothing is left.
# Needs root; runs `bed.sh install` (a no-op when the packages are there).
#   KEEP=1 tests/bed/selftest.sh      keep the temp dir (logs) afterwards
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/bed/testlib.sh
. "$HERE/testlib.sh"
BED="$HERE/bed.sh"
T0=$(date +%s)

if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root (Postfix and Dovecot masters)"; exit 0; fi

T=""; STUB=""
cleanup() {
  [ -n "$STUB" ] && kill "$STUB" 2>/dev/null
  if [ -n "$T" ] && [ -d "$T" ]; then
    timeout 60 "$BED" down "$T/bed" >/dev/null 2>&1 || true
    if [ "${KEEP:-0}" = 1 ]; then echo "# kept $T" >&2; else rm -rf -- "$T"; fi
  fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

if timeout 900 "$BED" install > /tmp/bed-install.$$.log 2>&1; then tap_ok "bed.sh install"; rm -f /tmp/bed-install.$$.log
else tap_fail "bed.sh install"; diag_file /tmp/bed-install.$$.log; rm -f /tmp/bed-install.$$.log; tap_done; exit 1; fi

T=$(mktemp -d /tmp/bedself.XXXXXX); chmod 755 "$T"
PP=$(free_port 10040) && SUBMISSION_PORT=$(free_port 10587 "$PP") && SMTP_PORT=$(free_port 10025 "$PP" "$SUBMISSION_PORT") &&
  IMAP_PORT=$(free_port 10143 "$PP" "$SUBMISSION_PORT" "$SMTP_PORT") &&
  SINK_PORT=$(free_port 10026 "$PP" "$SUBMISSION_PORT" "$SMTP_PORT" "$IMAP_PORT") ||
  { tap_fail "free ports"; tap_done; exit 1; }
export SUBMISSION_PORT SMTP_PORT IMAP_PORT SINK_PORT
diag "dir $T  policy 127.0.0.1:$PP  submission $SUBMISSION_PORT  smtp $SMTP_PORT  imap $IMAP_PORT  sink $SINK_PORT"

start_stub() {  # args for policy_stub.py
  if [ -n "$STUB" ]; then
    kill "$STUB" 2>/dev/null; wait "$STUB" 2>/dev/null
    wait_until 5 bash -c "[ -z \"\$(ss -Hltn 'sport = :$PP')\" ]"
  fi
  "$TEST_PY" "$HERE/policy_stub.py" --listen "127.0.0.1:$PP" --log "$T/policy.jsonl" "$@" >> "$T/stub.log" 2>&1 &
  STUB=$!
  wait_until 5 port_listening "$PP"
}
send_json() { timeout 60 "$BED" send "$@" --timeout 20 --json 2>>"$T/send.err"; }

start_stub --action DUNNO || tap_fail "policy stub listens"
if POLICY="inet:127.0.0.1:$PP" POLICY_TIMEOUT=10s POLICY_DEFAULT_ACTION=DUNNO timeout 120 "$BED" up "$T/bed" > "$T/up.log" 2>&1; then
  tap_ok "bed.sh up"
else
  tap_fail "bed.sh up"; diag_file "$T/up.log"; tap_done; exit 1
fi
tap_check "every listener of the bed is on 127.0.0.1" \
  bash -c "! grep -q 'NOT LOOPBACK' '$T/up.log' && [ \$(grep -c 'listener 127.0.0.1:' '$T/up.log') -ge 4 ]"
tap_check "up refuses a busy port" bash -c "! SUBMISSION_PORT=$PP '$BED' up '$T/bed2' >/dev/null 2>&1"
rm -rf "$T/bed2"

out=$(send_json alice alicepw 3 --rcpts 2)
tap_check "DUNNO: 3 messages accepted" [ "$(json_get "$out" 'd["accepted"]')" = 3 ] || diag "$out"
tap_check "policy saw RCPT and END-OF-MESSAGE requests of sasl_username=alice" bash -c \
  "grep -q '\"protocol_state\": \"RCPT\".*\"sasl_username\": \"alice\"' '$T/policy.jsonl' &&
   grep -q '\"protocol_state\": \"END-OF-MESSAGE\".*\"recipient_count\": \"2\"' '$T/policy.jsonl'"

start_stub --action DUNNO --on "END-OF-MESSAGE=DEFER_IF_PERMIT stubtest: slow down"
out=$(send_json alice alicepw 2)
tap_check "DEFER_IF_PERMIT at END-OF-MESSAGE: client sees 450 4.7.1 with the text" \
  [ "$(json_get "$out" '[r["count"] for r in d["stages"].get("END-OF-DATA", []) if r["code"] == 450 and r["text"].startswith("4.7.1") and "stubtest: slow down" in r["text"]]')" = "[2]" ] || diag "$out"

start_stub --on "RCPT=REJECT stubtest: account is suspended"
out=$(send_json bob bobpw 1)
tap_check "REJECT at RCPT: client sees 554 5.7.1 with the text" \
  [ "$(json_get "$out" '[r["code"] for r in d["stages"].get("RCPT", []) if r["text"].startswith("5.7.1") and "stubtest: account is suspended" in r["text"]]')" = "[554]" ] || diag "$out"

start_stub --on "END-OF-MESSAGE=HOLD stubtest: held"
out=$(send_json carol carolpw 1)
qid=$(json_get "$out" 'd["per_message"][0]["queue_id"]')
tap_check "HOLD: client sees 250 (queued as $qid)" [ "$(json_get "$out" 'd["accepted"]')" = 1 ] || diag "$out"
in_hold() { "$BED" queue "$T/bed" 2>/dev/null | grep -q "\"queue_name\": \"hold\", \"queue_id\": \"$qid\""; }
tap_check "HOLD: the message sits in Postfix's hold queue" wait_until 10 in_hold || "$BED" queue "$T/bed" 2>&1 | sed 's/^/# /'

start_stub --action DUNNO
tap_check "IMAP login ok" bash -c "timeout 30 '$BED' login alice alicepw >/dev/null 2>&1"
tap_check "IMAP bad login refused" bash -c "timeout 30 '$BED' badlogin bob >/dev/null 2>&1"
tap_check "maillog: no 'problem talking to server'" bash -c "! grep -q 'problem talking to server' '$T/bed/maillog'"

if timeout 60 "$BED" down "$T/bed" > "$T/down.log" 2>&1; then tap_ok "bed.sh down"; else tap_fail "bed.sh down"; diag_file "$T/down.log"; fi
tap_check "no listener left on the bed ports" bash -c \
  "[ -z \"\$(ss -Hltn 'sport = :$SUBMISSION_PORT or sport = :$SMTP_PORT or sport = :$IMAP_PORT or sport = :$SINK_PORT')\" ]"
left_procs() {  # Postfix/Dovecot processes (not zombies) whose cwd or root is in $T
  local p e c r st
  for p in /proc/[0-9]*; do
    e=$(readlink "$p/exe" 2>/dev/null) || continue
    case "$e" in /usr/lib/postfix/*|/usr/lib/dovecot/*|/usr/sbin/dovecot|/usr/sbin/postfix|/usr/sbin/smtp-sink) ;; *) continue ;; esac
    st=$(sed 's/.*) //' "$p/stat" 2>/dev/null | cut -d' ' -f1); [ "$st" = Z ] && continue
    c=$(readlink "$p/cwd" 2>/dev/null); r=$(readlink "$p/root" 2>/dev/null)
    [[ "$c" == "$T"/* || "$r" == "$T"/* ]] && echo "${p#/proc/}"
  done
}
tap_check "no process of the bed is left" [ -z "$(left_procs)" ]
diag "elapsed $(( $(date +%s) - T0 )) s"
tap_done
