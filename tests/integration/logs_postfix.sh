#!/usr/bin/env bash
# logs_postfix.sh - mailfuse following the REAL Postfix and Dovecot logs of the test bed (TAP).
#
# Part 1: one `mailfuse serve` is both the check_policy_service of a real Postfix
# (tests/bed/bed.sh, stages rcpt + eod) and the reader of the bed's DIR/maillog and
# DIR/dovecot.log (log_files, log_timezone = "local": Postfix's maillog_file and
# Dovecot's log_path write local time without a zone, the maillog without a year).
# N authenticated messages through the submission port, IMAP logins and bad logins;
# then: the account's messages/day in `ctl show` is N (the policy server and the log
# both saw each message; counted once), external recipients too, every line of both
# files was read and none is unparsed, no queue id is left pending; and
# `mailfuse replay` of the two files leaves nothing unparsed and reports the account's
# N messages and its logins.
#
# Part 2: a second, log-only mailfuse (its policy listener is never used; log_files =
# the bed's maillog, tail_from = "end", account messages per minute max 3 -> suspend)
# while Postfix still asks the first one: 6 messages later the log-only daemon has
# suspended the account (`ctl list`), with a `decision ... stage=log:queued` line.
#
# The whole test runs in a time zone other than UTC (TZ=$LOGS_TZ, default MFT-5:30,
# a POSIX zone that needs no tzdata), exported to Postfix, Dovecot and mailfuse, so
# that "local" really differs from UTC: a wrong offset puts the log's messages hours
# away and the per-minute limit of part 2 never fires.
#
#   sudo tests/integration/logs_postfix.sh            (needs root; exit 0 = all ok)
#   MAILFUSE=/path/to/mailfuse KEEP=1 LOGS_TZ=UTC tests/integration/logs_postfix.sh
#
# Environment: MAILFUSE [$REPO/build/mailfuse]; KEEP=1 keeps the temp dir (logs);
# LOGS_TZ [MFT-5:30] the zone of the run ("" = the machine's own); N [5] messages.
set -uo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/bed/testlib.sh
. "$REPO/tests/bed/testlib.sh"
BED="$REPO/tests/bed/bed.sh"
MAILFUSE=${MAILFUSE:-$REPO/build/mailfuse}
N=${N:-5}
T0=$(date +%s%N)
LOGS_TZ=${LOGS_TZ-MFT-5:30}
[ -n "$LOGS_TZ" ] && export TZ="$LOGS_TZ"

need_root_or_skip

T=""; MFPID=""; LOPID=""; BED_UP=0
cleanup() {
  [ -n "$LOPID" ] && stop_pid "$LOPID"; LOPID=""
  [ -n "$MFPID" ] && stop_pid "$MFPID"; MFPID=""
  bed_teardown
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ---------------------------------------------------------------- setup
bed_install_or_bail

T=$(mktemp -d /tmp/mflog.XXXXXX); chmod 755 "$T"   # the bed's daemons must traverse it
# run a copy: immune to a rebuild of build/mailfuse while the test runs
if cp "$MAILFUSE" "$T/mailfuse"; then MAILFUSE="$T/mailfuse"; else bail "copy of the mailfuse binary"; fi
PP=$(free_port 10040) && SUBMISSION_PORT=$(free_port 10587 "$PP") && SMTP_PORT=$(free_port 10025 "$PP" "$SUBMISSION_PORT") &&
  IMAP_PORT=$(free_port 10143 "$PP" "$SUBMISSION_PORT" "$SMTP_PORT") &&
  SINK_PORT=$(free_port 10026 "$PP" "$SUBMISSION_PORT" "$SMTP_PORT" "$IMAP_PORT") || bail "found free TCP ports"
export SUBMISSION_PORT SMTP_PORT IMAP_PORT SINK_PORT
POLICY="inet:127.0.0.1:$PP"
MAILLOG="$T/bed/maillog"; DOVELOG="$T/bed/dovecot.log"
CONF="$T/mailfuse.conf"; LOG="$T/mailfuse.log"
LOCONF="$T/logonly.conf"; LOLOG="$T/logonly.log"
mkdir -p "$T/state" "$T/lo-state"
cat > "$CONF" <<EOF
# mailfuse config of tests/integration/logs_postfix.sh, part 1 (generated)
listen = [ "$POLICY" ];
control_socket = "$T/ctl.sock";
state_dir = "$T/state";
local_domains = [ "example.edu" ];
flush_interval = 1.0;
log_level = "debug";
log_target = "stderr";
log_files = [ "$MAILLOG", "$DOVELOG" ];
log_timezone = "local";
tail_from = "beginning";
tail_interval = 0.5;
# alerts only: nothing is refused; the counters show in ctl show, and the low
# "watch" limit makes replay report the account (it lists accounts it acted on)
limits = (
  { name = "acct-day"; per = "account"; count = "messages"; window = "day"; max = 100000; action = "alert"; },
  { name = "acct-ext-day"; per = "account"; count = "external_recipients"; window = "day"; max = 100000; action = "alert"; },
  { name = "acct-watch"; per = "account"; count = "messages"; window = "day"; max = 1; action = "alert"; }
);
EOF
cat > "$LOCONF" <<EOF
# mailfuse config of tests/integration/logs_postfix.sh, part 2: log only (generated)
listen = [ "unix:$T/lo-policy.sock" ];   # required; Postfix never asks this one
control_socket = "$T/lo-ctl.sock";
state_dir = "$T/lo-state";
local_domains = [ "example.edu" ];
flush_interval = 1.0;
log_level = "debug";
log_files = [ "$MAILLOG" ];
log_timezone = "local";
tail_from = "end";
tail_interval = 0.5;
limits = (
  { name = "log-minute"; per = "account"; count = "messages"; window = "minute"; max = 3; action = "suspend"; }
);
EOF
diag "dir $T  policy $POLICY  submission $SUBMISSION_PORT  imap $IMAP_PORT  sink $SINK_PORT  TZ=${TZ:-(machine)} ($(date +%z))"

for c in "$CONF" "$LOCONF"; do
  if "$MAILFUSE" check-config "$c" > "$T/check.out" 2>&1; then tap_ok "check-config $(basename "$c")"
  else diag_file "$T/check.out"; bail "check-config $(basename "$c")"; fi
done

ctl_json() { timeout 15 "$MAILFUSE" ctl -s "$T/ctl.sock" --json "$@" 2>>"$T/ctl.err"; }
lo_json() { timeout 15 "$MAILFUSE" ctl -s "$T/lo-ctl.sock" --json "$@" 2>>"$T/ctl.err"; }
mf_ready() { kill -0 "$MFPID" 2>/dev/null && port_listening "$PP" && ctl_json status >/dev/null; }
lo_ready() { kill -0 "$LOPID" 2>/dev/null && lo_json status >/dev/null; }
send_json() { timeout 90 "$BED" send "$@" --timeout 30 --json 2>>"$T/send.err"; }
show_get() { local out; out=$(ctl_json show "$1") || return 1; json_get "$out" "$2"; }
logs_get() { local out; out=$(ctl_json status) || return 1; json_get "$out" "d[\"logs\"]$1"; }
nlines() { cat "$MAILLOG" "$DOVELOG" 2>/dev/null | wc -l; }
# the daemon read both files to their ends (offset = size, neither missing)
caught_up() {
  local out want
  out=$(ctl_json status) || return 1
  want=$(stat -c %s "$MAILLOG" "$DOVELOG" 2>/dev/null | paste -sd, -) || return 1
  [ "$(json_get "$out" '",".join(str(f["offset"]) for f in d["logs"]["files"] if not f["missing"])')" = "$want" ]
}
removed_all() {  # every queue id of $QIDS has its "removed" line in the maillog
  local q; for q in $QIDS; do grep -q " $q: removed\$" "$MAILLOG" || return 1; done
}

echo "---- start $(date +%T.%N)" >> "$LOG"
"$MAILFUSE" serve -c "$CONF" < /dev/null >> "$LOG" 2>&1 &
MFPID=$!
if wait_until 15 mf_ready; then tap_ok "mailfuse serve starts (policy server + log_files not there yet)"
else diag_file "$LOG" 30; bail "mailfuse serve starts (policy server + log_files not there yet)"; fi
tap_check "ctl status: both log files are missing before the bed is up" \
  [ "$(logs_get '["files"]' | tr -d ' ')" = "[{\"path\":\"$MAILLOG\",\"missing\":true,\"offset\":0},{\"path\":\"$DOVELOG\",\"missing\":true,\"offset\":0}]" ] ||
  diag "$(logs_get '["files"]')"

if POLICY="$POLICY" POLICY_STAGES="rcpt eod" POLICY_TIMEOUT=10s POLICY_DEFAULT_ACTION=DUNNO \
   timeout 120 "$BED" up "$T/bed" > "$T/up.log" 2>&1; then
  BED_UP=1; tap_ok "bed up (Postfix + Dovecot, policy $POLICY at rcpt and eod)"
else
  BED_UP=1; diag_file "$T/up.log" 30; bail "bed up (Postfix + Dovecot, policy $POLICY at rcpt and eod)"
fi
diag "maillog: $(head -1 "$MAILLOG")"
tap_check "mailfuse finds both logs once they exist and reads them" wait_until 15 caught_up ||
  diag "$(logs_get '')"
LINES0=$(logs_get '["lines"]')

# ---------------------------------------------------------------- part 1: policy + logs
out=$(send_json alice alicepw "$N")
tap_check "alice: $N authenticated messages accepted by the real Postfix" [ "$(json_get "$out" 'd["accepted"]')" = "$N" ] ||
  diag "$out"
QIDS=$(json_get "$out" '" ".join(m["queue_id"] or "" for m in d["per_message"])')
imap() { timeout 60 "$BED" "$@" >> "$T/imap.out" 2>&1 || { diag_file "$T/imap.out" 5; return 1; }; }
tap_check "alice: 2 IMAP logins" imap login alice alicepw --count 2
tap_check "alice: 1 bad IMAP login" imap badlogin alice
tap_check "bob: 1 bad IMAP login" imap badlogin bob --src 127.0.0.2
tap_check "Postfix delivered and removed all $N messages" wait_until 30 removed_all ||
  { diag "queue: $("$BED" queue "$T/bed" 2>&1)"; diag_file "$MAILLOG" 10; }
auth_failed_logged() { [ "$(grep -c 'imap-login: .*(auth failed, ' "$DOVELOG")" -ge 2 ]; }
tap_check "Dovecot logged both failed logins" wait_until 15 auth_failed_logged || diag_file "$DOVELOG" 10
tap_check "mailfuse read both logs to their ends" wait_until 15 caught_up || diag "$(logs_get '')"
sleep 1.2  # > tail_interval: a line counted twice would show now

m=$(show_get alice '(d["counters"]["messages"]["day"], d["counters"]["external_recipients"]["day"])')
tap_check "ctl show alice: messages/day = $N, external recipients/day = $N (policy + log, counted once)" \
  [ "$m" = "[$N, $N]" ] || diag "got $m; $(ctl_json show alice)"
st=$(ctl_json status)
L=$(json_get "$st" 'd["logs"]["lines"]')
lines_ok() { [ "$L" -gt "$LINES0" ] && [ "$L" = "$(nlines)" ]; }
tap_check "logs.lines grew ($LINES0 -> $L) and equals the lines of both files ($(nlines))" lines_ok ||
  diag "$(json_get "$st" 'd["logs"]')"
unp=$(json_get "$st" 'sum(d["logs"]["unparsed"].values())')
tap_check "logs.unparsed is all zero for real Postfix and Dovecot lines" [ "$unp" = 0 ] ||
  { diag "$(json_get "$st" 'd["logs"]["unparsed"]')"
    "$MAILFUSE" replay -c "$CONF" -q --unparsed "$T/unparsed.txt" "$MAILLOG" "$DOVELOG" > /dev/null 2>&1
    diag_file "$T/unparsed.txt" 20; }
diag "logs: $(json_get "$st" '{k: d["logs"][k] for k in ("lines", "events", "other_programs", "decisions", "queue_ids")}')"
tap_check "logs.queue_ids = 0: every queue id was removed from the link table" \
  [ "$(json_get "$st" 'd["logs"]["queue_ids"]')" = 0 ] || diag "$(json_get "$st" 'd["logs"]')"
tap_check "policy server charged alice's messages (requests seen, no errors)" \
  [ "$(json_get "$st" '(d["requests"] >= 2 * '"$N"', d["errors"]["internal"], d["store"]["errors"])')" = '[true, 0, 0]' ] ||
  diag "$(json_get "$st" '{k: d[k] for k in ("requests", "decisions", "errors")}')"

# replay of the same two files
"$MAILFUSE" replay -c "$CONF" --unparsed "$T/replay-unparsed.txt" --json "$T/replay.json" "$MAILLOG" "$DOVELOG" \
  > "$T/replay.out" 2>&1
RC=$?
tap_check "mailfuse replay of maillog + dovecot.log exits 0" [ "$RC" = 0 ] || diag_file "$T/replay.out"
unparsed_empty() { [ -e "$T/replay-unparsed.txt" ] && [ ! -s "$T/replay-unparsed.txt" ]; }
tap_check "replay --unparsed file is empty" unparsed_empty || diag_file "$T/replay-unparsed.txt" 20
RJ=$(cat "$T/replay.json" 2>/dev/null || echo '{}')
a='[a for a in d["accounts"] if a["account"] == "alice"][0]'
tap_check "replay JSON: alice sent $N messages ($N recipients)" \
  [ "$(json_get "$RJ" "(lambda a: (a['sent']['before']['messages'] + a['sent']['from_then_on']['messages'], a['sent']['before']['recipients'] + a['sent']['from_then_on']['recipients']))($a)")" = "[$N, $N]" ] ||
  diag "$(json_get "$RJ" "$a" 2>&1 | head -c 1500)"
tap_check "replay JSON: alice's logins: 2 ok, 1 failed" \
  [ "$(json_get "$RJ" "(lambda a: (a['logins']['ok'], a['logins']['failed']))($a)")" = "[2, 1]" ] ||
  diag "$(json_get "$RJ" "${a}['logins']" 2>&1)"
tap_check "replay JSON: $N messages in all, lines all parsed, none unparsed" \
  [ "$(json_get "$RJ" '(d["totals"]["messages"], d["lines"]["read"] == d["lines"]["parsed"], d["lines"]["unparsed"])')" = "[$N, true, {}]" ] ||
  diag "$(json_get "$RJ" '{k: d[k] for k in ("totals", "lines")}')"
tap_check "replay JSON: times are right in zone $(date +%z) (window within the last 10 minutes, not in the future)" \
  "$TEST_PY" -c '
import json, sys, time, calendar
d = json.load(open(sys.argv[1])); now = time.time()
f = calendar.timegm(time.strptime(d["window"]["first"], "%Y-%m-%dT%H:%M:%SZ"))
l = calendar.timegm(time.strptime(d["window"]["last"], "%Y-%m-%dT%H:%M:%SZ"))
sys.exit(0 if now - 600 <= f <= l <= now + 2 else 1)' "$T/replay.json" || diag "$(json_get "$RJ" 'd["window"]') now $(date -u +%FT%TZ)"

# ---------------------------------------------------------------- part 2: a log-only daemon
echo "---- start $(date +%T.%N)" >> "$LOLOG"
"$MAILFUSE" serve -c "$LOCONF" < /dev/null >> "$LOLOG" 2>&1 &
LOPID=$!
if wait_until 15 lo_ready; then tap_ok "log-only mailfuse starts (tail_from = end)"
else diag_file "$LOLOG" 30; bail "log-only mailfuse starts (tail_from = end)"; fi
lo_offset() { json_get "$(lo_json status)" 'd["logs"]["files"][0]["offset"]'; }
sleep 1.2
tap_check "log-only: starts at the end of the maillog (offset = size, 0 lines read)" \
  [ "$(json_get "$(lo_json status)" '(d["logs"]["files"][0]["offset"], d["logs"]["lines"])')" = "[$(stat -c %s "$MAILLOG"), 0]" ] ||
  diag "$(json_get "$(lo_json status)" 'd["logs"]')"

out=$(send_json bob bobpw 6)
tap_check "bob: 6 messages accepted (Postfix asks the first mailfuse, which only alerts)" \
  [ "$(json_get "$out" 'd["accepted"]')" = 6 ] || diag "$out"
bob_suspended() { [ "$(json_get "$(lo_json list)" '[s["account"] for s in d["suspended"]]' 2>/dev/null)" = '["bob"]' ]; }
tap_check "log-only: ctl list --json shows bob suspended" wait_until 20 bob_suspended ||
  { diag "$(lo_json list)"; diag "$(json_get "$(lo_json status)" 'd["logs"]')"; diag_file "$LOLOG" 15; }
tap_check "log-only: its log has 'decision account=bob ... stage=log:queued action=suspend limit=log-minute count=4 max=3'" \
  grep -Eq 'decision account=bob .*stage=log:queued .*action=suspend limit=log-minute count=4 max=3' "$LOLOG" ||
  { diag "$(grep decision "$LOLOG" | head -5)"; diag_file "$LOLOG" 10; }
diag "$(grep -m1 'decision account=bob' "$LOLOG")"
tap_check "log-only: ctl show bob: suspended by log-minute" \
  [ "$(json_get "$(lo_json show bob)" '(d["state"], "log-minute" in str(d["suspension"]))' 2>/dev/null)" = '["suspended", true]' ] ||
  diag "$(lo_json show bob)"
m=$(show_get bob 'd["counters"]["messages"]["day"]')
first_ok() { [ "$m" = 6 ] && [ "$(json_get "$(ctl_json list)" 'len(d["suspended"])')" = 0 ]; }
tap_check "first mailfuse: bob's messages/day = 6, nobody suspended there" first_ok || diag "bob $m; $(ctl_json list)"
m=$(show_get alice 'd["counters"]["messages"]["day"]')
tap_check "first mailfuse: alice still $N" [ "$m" = "$N" ] || diag "got $m"

# ---------------------------------------------------------------- the end
tap_check "maillog: no 'warning: problem talking to server'" bash -c "! grep -q 'warning: problem talking to server' '$MAILLOG'" ||
  diag "$(grep 'problem talking to server' "$MAILLOG" | head -5)"
tap_check "mailfuse logs: no tail_error, crash or sanitizer report" \
  bash -c "! grep -Eq 'tail_error|journal_error|AddressSanitizer|runtime error:|Segmentation|Assertion' '$LOG' '$LOLOG'" ||
  { diag_file "$LOG" 10; diag_file "$LOLOG" 10; }
stop_pid "$LOPID"; LOPID=""
tap_check "log-only: SIGTERM exit 0" [ "$STOP_RC" = 0 ] || diag "exit status $STOP_RC"
stop_pid "$MFPID"; MFPID=""
tap_check "first mailfuse: SIGTERM exit 0" [ "$STOP_RC" = 0 ] || diag "exit status $STOP_RC"
if [ "$TAP_FAILED" != 0 ]; then
  diag_file "$LOG" 25
  diag_file "$LOLOG" 15
  diag_file "$MAILLOG" 15
  diag_file "$DOVELOG" 10
  [ -s "$T/ctl.err" ] && diag_file "$T/ctl.err" 10
fi
diag "elapsed $(( ($(date +%s%N) - T0) / 1000000 )) ms"
tap_done
