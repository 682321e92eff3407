#!/usr/bin/env bash
# policy_postfix.sh - mailfuse as the check_policy_service of a REAL Postfix (TAP).
#
# Starts `mailfuse serve` with a small config in a temp dir, brings up the test bed
# (tests/bed/bed.sh: private Postfix + Dovecot on 127.0.0.1) with POLICY pointing at
# mailfuse (stages rcpt + eod), then checks through real SMTP submissions:
# accept under the limit, 450 4.7.1 throttle past it, ctl show/list/suspend/release,
# 554 5.7.1 for a suspended account, state kept across SIGTERM + restart and across
# kill -9 + restart, HOLD into Postfix's hold queue, and no policy-client warnings
# in the maillog.
#
#   sudo tests/integration/policy_postfix.sh            (needs root; exit 0 = all ok)
#   MAILFUSE=/path/to/mailfuse KEEP=1 tests/integration/policy_postfix.sh
#
# Environment: MAILFUSE [$REPO/build/mailfuse]; KEEP=1 keeps the temp dir (logs);
# POLICY_UNIX=1 makes Postfix talk to mailfuse over a unix socket instead of TCP.
set -uo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/bed/testlib.sh
. "$REPO/tests/bed/testlib.sh"
BED="$REPO/tests/bed/bed.sh"
MAILFUSE=${MAILFUSE:-$REPO/build/mailfuse}
T0=$(date +%s%N)

T=""; MFPID=""; BED_UP=0
cleanup() { stop_mailfuse; bed_teardown; }

# ---------------------------------------------------------------- setup
bed_test_start mfit
bed_ports
if [ "${POLICY_UNIX:-0}" = 1 ]; then
  LISTEN="unix:$T/policy.sock"; POLICY="unix:$T/policy.sock"
else
  LISTEN="inet:127.0.0.1:$PP"; POLICY="inet:127.0.0.1:$PP"
fi
CONF="$T/mailfuse.conf"
LOG="$T/mailfuse.log"
mkdir -p "$T/state"
cat > "$CONF" <<EOF
# mailfuse config of tests/integration/policy_postfix.sh (generated)
listen = [ "$LISTEN" ];
control_socket = "$T/ctl.sock";
state_dir = "$T/state";
local_domains = [ "example.edu" ];
sender_account_networks = [ ];
shadow = false;
fail_action = "DUNNO";
flush_interval = 1.0;
log_level = "debug";
log_target = "stderr";
# windows are an hour long so that nothing slides out while the test runs (< 1 min)
limits = (
  { name = "acct-msgs"; per = "account"; count = "messages"; window = "hour"; max = 5; action = "throttle"; }
);
groups = (
  { name = "holdgrp"; members = [ "carol" ];
    limits = ( { name = "hold-msgs"; per = "account"; count = "messages"; window = "hour"; max = 1; action = "hold"; } ); }
);
EOF
diag "dir $T  policy $POLICY  submission $SUBMISSION_PORT  smtp $SMTP_PORT  imap $IMAP_PORT  sink $SINK_PORT"
diag "mailfuse $MAILFUSE"

if "$MAILFUSE" check-config "$CONF" > "$T/check.out" 2>&1; then tap_ok "check-config accepts the test config"
else diag_file "$T/check.out"; bail "check-config accepts the test config"; fi

policy_ready() {
  if [ "${POLICY_UNIX:-0}" = 1 ]; then [ -S "$T/policy.sock" ]; else port_listening "$PP"; fi
}
mf_ready() { kill -0 "$MFPID" 2>/dev/null && policy_ready && ctl status >/dev/null; }
start_mailfuse() {  # starts `mailfuse serve`, waits until ctl answers and the listener is there
  echo "---- start $(date +%T.%N)" >> "$LOG"
  "$MAILFUSE" serve -c "$CONF" < /dev/null >> "$LOG" 2>&1 &
  MFPID=$!
  wait_until 15 mf_ready
}
send_json() {  # USER PASS N [send.py options] -> JSON summary on stdout
  timeout 90 "$BED" send "$@" --timeout 30 --json 2>>"$T/send.err"
}
# the decisive replies, one "STAGE CODE TEXT" line per message
replies_of() { json_get "$1" '"\n".join("%s %s %s" % (m["stage"], m["code"], m["text"]) for m in d["per_message"])'; }
show_get() {  # ACCOUNT PY_EXPR over `ctl --json show ACCOUNT`
  local out; out=$(ctl_json show "$1") || { echo "ctl show $1 failed" >&2; return 1; }
  json_get "$out" "$2"
}
msgs_of() { show_get "$1" '(d["counters"]["messages"]["hour"], d["counters"]["messages"]["day"])'; }
fail_diag() { diag "$@"; }

if start_mailfuse; then tap_ok "mailfuse serve starts; ctl status answers"
else diag_file "$LOG" 30; diag_file "$T/ctl.err"; bail "mailfuse serve starts; ctl status answers"; fi

if POLICY="$POLICY" POLICY_STAGES="rcpt eod" POLICY_TIMEOUT=10s POLICY_DEFAULT_ACTION=DUNNO \
   timeout 120 "$BED" up "$T/bed" > "$T/up.log" 2>&1; then
  BED_UP=1; tap_ok "bed up (Postfix + Dovecot, policy $POLICY at rcpt and eod)"
else
  BED_UP=1; diag_file "$T/up.log" 30; bail "bed up (Postfix + Dovecot, policy $POLICY at rcpt and eod)"
fi
MAILLOG="$T/bed/maillog"

# ---------------------------------------------------------------- throttle
out=$(send_json alice alicepw 5)
acc=$(json_get "$out" 'd["accepted"]' || echo "?")
tap_check "alice: 5 messages under the limit (max 5/hour) are accepted" [ "$acc" = 5 ] || diag "$(replies_of "$out")"
ALICE_ACCEPTED=$acc

out=$(send_json alice alicepw 2)
r=$(replies_of "$out")
tap_check "alice: past the limit both messages get 450 4.7.1 ... mailfuse" \
  [ "$(grep -c '^[A-Z-]* 450 4\.7\.1 .*mailfuse' <<<"$r")" = 2 ] || diag "$r"
diag "throttle reply: $(head -1 <<<"$r")"
tap_check "alice: the deferred messages were not accepted" [ "$(json_get "$out" 'd["accepted"]')" = 0 ]

m=$(msgs_of alice)
tap_check "ctl show alice: messages hour/day = $ALICE_ACCEPTED (the accepted ones)" [ "$m" = "[$ALICE_ACCEPTED, $ALICE_ACCEPTED]" ] ||
  diag "got $m; $(ctl_json show alice)"
tap_check "ctl show alice: limit acct-msgs current = 5, state throttled" \
  [ "$(show_get alice '([l["current"] for l in d["limits"] if l["name"] == "acct-msgs"], d["state"])')" = '[[5], "throttled"]' ] ||
  diag "$(ctl_json show alice)"

# ---------------------------------------------------------------- suspend / list / release
out=$(ctl_json suspend bob --reason test)
tap_check "ctl suspend bob --reason test" [ "$(json_get "$out" '(d["ok"], d["account"], d["state"])' 2>/dev/null)" = '[true, "bob", "suspended"]' ] ||
  diag "got: $out"

out=$(send_json bob bobpw 1)
r=$(replies_of "$out")
tap_check "bob suspended: submission gets 5xx 5.7.1 ... mailfuse ... suspended" \
  grep -q '^[A-Z-]* 5[0-9][0-9] 5\.7\.1 .*mailfuse.*suspended' <<<"$r" || diag "$r"
diag "suspended reply: $r"

out=$(ctl_json list)
tap_check "ctl list --json lists bob as suspended (reason test)" \
  [ "$(json_get "$out" '[s["reason"] for s in d["suspended"] if s["account"] == "bob"]' 2>/dev/null)" = '["test"]' ] || diag "got: $out"
tap_check "ctl list --json lists alice as throttled" \
  [ "$(json_get "$out" '[t["account"] for t in d["throttled"] if t["account"] == "alice"]' 2>/dev/null)" = '["alice"]' ] || diag "got: $out"

out=$(ctl_json release bob)
tap_check "ctl release bob" [ "$(json_get "$out" '(d["ok"], d["state"])' 2>/dev/null)" = '[true, "active"]' ] || diag "got: $out"
out=$(send_json bob bobpw 1)
tap_check "bob released: sends again (accepted)" [ "$(json_get "$out" 'd["accepted"]')" = 1 ] || diag "$(replies_of "$out")"

# ---------------------------------------------------------------- HOLD
out=$(send_json carol carolpw 1)
tap_check "carol: 1st message accepted" [ "$(json_get "$out" 'd["accepted"]')" = 1 ] || diag "$(replies_of "$out")"
out=$(send_json carol carolpw 1)
HQ=$(json_get "$out" 'd["per_message"][0]["queue_id"] or ""')
tap_check "carol: 2nd message (past the hold limit) is accepted by the client (250, queued as $HQ)" \
  [ "$(json_get "$out" 'd["accepted"]')" = 1 ] || diag "$(replies_of "$out")"
in_hold() { [ -n "$HQ" ] && "$BED" queue "$T/bed" 2>/dev/null | grep -q "\"queue_name\": \"hold\", \"queue_id\": \"$HQ\""; }
tap_check "carol: the 2nd message sits in Postfix's hold queue (postqueue -j)" wait_until 10 in_hold ||
  { diag "queue: $("$BED" queue "$T/bed" 2>&1)"; diag "$(grep -F "${HQ:-NOQID}" "$MAILLOG")"; }
nhold=$("$BED" queue "$T/bed" 2>/dev/null | grep -c '"queue_name": "hold"')
tap_check "exactly one message is on hold (carol's 1st one was not held)" [ "$nhold" = 1 ] ||
  diag "queue: $("$BED" queue "$T/bed" 2>&1)"

# ---------------------------------------------------------------- SIGTERM + restart
out=$(ctl_json suspend bob --reason before-restart)
[ "$(json_get "$out" 'd["state"]' 2>/dev/null)" = suspended ] || diag "suspend bob before restart: $out"
stop_mailfuse
tap_check "SIGTERM: mailfuse stops with exit status 0" [ "$MF_RC" = 0 ] || { diag "exit status $MF_RC"; diag_file "$LOG" 15; }
if start_mailfuse; then tap_ok "mailfuse restarts on the same state_dir"
else diag_file "$LOG" 30; bail "mailfuse restarts on the same state_dir"; fi
m=$(msgs_of alice)
tap_check "after restart: alice's counters kept (messages hour/day = $ALICE_ACCEPTED)" [ "$m" = "[$ALICE_ACCEPTED, $ALICE_ACCEPTED]" ] ||
  diag "got $m; $(ctl_json show alice)"
tap_check "after restart: bob still suspended (reason before-restart)" \
  [ "$(show_get bob '(d["state"], (d["suspension"] or {}).get("reason"))')" = '["suspended", "before-restart"]' ] ||
  diag "$(ctl_json show bob)"
out=$(send_json bob bobpw 1)
r=$(replies_of "$out")
tap_check "after restart: bob's submission gets 5xx 5.7.1 ... mailfuse" grep -q '^[A-Z-]* 5[0-9][0-9] 5\.7\.1 .*mailfuse' <<<"$r" || diag "$r"
out=$(send_json alice alicepw 1)
r=$(replies_of "$out")
tap_check "after restart: alice is still throttled (450 4.7.1 ... mailfuse)" grep -q '^[A-Z-]* 450 4\.7\.1 .*mailfuse' <<<"$r" || diag "$r"

# ---------------------------------------------------------------- kill -9 + restart
out=$(send_json dave davepw 3)
DAVE_ACCEPTED=$(json_get "$out" 'd["accepted"]' || echo "?")
tap_check "dave: 3 messages accepted" [ "$DAVE_ACCEPTED" = 3 ] || diag "$(replies_of "$out")"
out=$(ctl_json suspend eve --reason before-kill)
[ "$(json_get "$out" 'd["state"]' 2>/dev/null)" = suspended ] || diag "suspend eve: $out"
sleep 2.5   # > flush_interval (1.0 s): dave's counters are on disk now
kill -KILL "$MFPID" 2>/dev/null; wait "$MFPID" 2>/dev/null; MFPID=""
if start_mailfuse; then tap_ok "mailfuse restarts after kill -9"
else diag_file "$LOG" 30; bail "mailfuse restarts after kill -9"; fi
m=$(msgs_of dave)
tap_check "after kill -9: dave's flushed counters kept (messages hour/day = $DAVE_ACCEPTED)" [ "$m" = "[$DAVE_ACCEPTED, $DAVE_ACCEPTED]" ] ||
  diag "got $m; $(ctl_json show dave)"
m=$(msgs_of alice)
tap_check "after kill -9: alice's counters kept ($ALICE_ACCEPTED)" [ "$m" = "[$ALICE_ACCEPTED, $ALICE_ACCEPTED]" ] || diag "got $m"
tap_check "after kill -9: bob and eve still suspended" \
  [ "$(json_get "$(ctl_json list)" 'sorted(s["account"] for s in d["suspended"])' 2>/dev/null)" = '["bob", "eve"]' ] ||
  diag "$(ctl_json list)"
out=$(send_json eve evepw 1)
r=$(replies_of "$out")
tap_check "after kill -9: eve's submission gets 5xx 5.7.1 ... mailfuse" grep -q '^[A-Z-]* 5[0-9][0-9] 5\.7\.1 .*mailfuse' <<<"$r" || diag "$r"
out=$(ctl_json release bob); out=$(ctl_json release eve)
out=$(send_json bob bobpw 1)
tap_check "bob released again: accepted" [ "$(json_get "$out" 'd["accepted"]')" = 1 ] || diag "$(replies_of "$out")"

# ---------------------------------------------------------------- logs and counters
mf_final_checks
