#!/usr/bin/env bash
# score_live.sh - the risk score contains a burst on the LIVE path of a REAL Postfix (TAP).
#
# Issue 4, item 6. `mailfuse serve` (score = true, no hard limit that could trip) is the
# check_policy_service of the test bed's Postfix (tests/bed/bed.sh, stages rcpt + eod).
# The account's normal history comes first, through the log path: a generated log of
# 3 weeks (up to yesterday, RFC 3339, UTC) of alice's mail, ~4 messages a day in
# working hours from her usual client address (HIST_IP, 192.0.2.10) to example.edu and
# partner.example, read with log_files + tail_from = "beginning". (Only the log path can
# give the history's event time: the score treats an account as cold for its first 20
# messages or 3 days, and learns a network only when it comes back on a later day.)
# Then, through the real Postfix, alice suddenly sends BURST messages (1 external
# recipient each, at example.net / example.org, never written to) from a new client
# address (BURST_IP, 203.0.113.77, presented with XCLIENT, which the bed authorises for
# 127.0.0.0/8: 127.0.0.1 itself would be "uninformative" to the score).
# GeoIP is on, with the test databases (tests/geoip/*.mmdb): HIST_IP is in the US
# (AS64497), BURST_IP in Brazil, so the history teaches the US as alice's country
# and the burst comes from a country she never used.
# Checks: before 50 recipients alice is contained (a message held in Postfix's hold
# queue, or refused with 450 4.7.1 / 5xx 5.7.1 ... mailfuse once she is suspended),
# ctl explain shows the score and the place alice is known at (US, AS64497), the
# decision names the new country (BR), and the explain text is printed as diagnostics.
#
#   sudo tests/integration/score_live.sh            (needs root; exit 0 = all ok)
#   MAILFUSE=/path/to/mailfuse KEEP=1 BURST=60 tests/integration/score_live.sh
#
# Environment: MAILFUSE [$REPO/build/mailfuse]; KEEP=1 keeps the temp dir (logs);
# BURST [60] messages of the burst (the assertion is on the first 50 recipients);
# MAX_RCPTS [50] the containment bound.
set -uo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/bed/testlib.sh
. "$REPO/tests/bed/testlib.sh"
BED="$REPO/tests/bed/bed.sh"
MAILFUSE=${MAILFUSE:-$REPO/build/mailfuse}
BURST=${BURST:-60}
MAX_RCPTS=${MAX_RCPTS:-50}
HIST_IP=192.0.2.10
BURST_IP=203.0.113.77
T0=$(date +%s%N)

T=""; MFPID=""; BED_UP=0
cleanup() { stop_mailfuse; bed_teardown; }

# ---------------------------------------------------------------- setup
bed_test_start mfsl
bed_ports
LISTEN="inet:127.0.0.1:$PP"; POLICY="inet:127.0.0.1:$PP"
CONF="$T/mailfuse.conf"
LOG="$T/mailfuse.log"
HIST="$T/history.log"
mkdir -p "$T/state"

# ---------------------------------------------------------------- the history (log path)
# 21 days up to yesterday, 3-5 messages a day between 08:00 and 17:00 UTC, from HIST_IP,
# to colleagues at example.edu and to partner.example; seeded, so every run is alike.
"$TEST_PY" - "$HIST" "$HIST_IP" <<'PY' || bail "history log generated"
import random, sys, time
path, ip = sys.argv[1], sys.argv[2]
r = random.Random(4)
today = int(time.time()) // 86400 * 86400
out, qn, pid = [], 0x3A000, 2000
def stamp(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06d+00:00" % (int(t * 1e6) % 1000000)
def line(t, prog, msg):
    global pid
    pid += 1
    out.append((t, "%s mx1 %s[%d]: %s" % (stamp(t), prog, pid, msg)))
for day in range(21, 0, -1):
    d0 = today - day * 86400
    for _ in range(r.randint(3, 5)):
        t = d0 + r.randint(8 * 3600, 17 * 3600) + r.random()
        qn += r.randint(1, 40)
        q = "%05X%06X" % (qn, r.randrange(16 ** 6))
        rc = ["%s@example.edu" % r.choice(["bob", "carol", "dave", "eve"]) if r.random() < 0.6
              else "p%d@partner.example" % r.randrange(20) for _ in range(r.randint(1, 2))]
        line(t, "postfix/submission/smtpd", "connect from unknown[%s]" % ip)
        line(t, "postfix/submission/smtpd", "%s: client=unknown[%s], sasl_method=PLAIN, sasl_username=alice" % (q, ip))
        line(t + 0.01, "postfix/cleanup", "%s: message-id=<%s@example.edu>" % (q, q.lower()))
        line(t + 0.02, "postfix/qmgr", "%s: from=<alice@example.edu>, size=%d, nrcpt=%d (queue active)"
             % (q, r.randrange(900, 90000), len(rc)))
        line(t + 0.03, "postfix/submission/smtpd", "disconnect from unknown[%s] ehlo=1 auth=1 mail=1 rcpt=%d data=1 quit=1 commands=6"
             % (ip, len(rc)))
        for i, a in enumerate(rc):
            if a.endswith("@example.edu"):
                line(t + 0.05 + i / 1000, "postfix/lmtp", "%s: to=<%s>, relay=mx1.example.edu[private/dovecot-lmtp], delay=0.05, "
                     "delays=0.02/0/0.01/0.02, dsn=2.0.0, status=sent (250 2.0.0 <%s> Saved)" % (q, a, a))
            else:
                line(t + 0.4 + i / 1000, "postfix/smtp", "%s: to=<%s>, relay=mx.partner.example[198.51.100.25]:25, delay=0.4, "
                     "delays=0.02/0/0.1/0.28, dsn=2.0.0, status=sent (250 2.0.0 Ok)" % (q, a))
        line(t + 0.5, "postfix/qmgr", "%s: removed" % q)
out.sort(key=lambda x: x[0])
with open(path, "w") as f:
    f.writelines(l + "\n" for _, l in out)
PY
HIST_LINES=$(wc -l < "$HIST")
HIST_MSGS=$(grep -c 'sasl_username=alice' "$HIST")
tap_ok "history log: $HIST_MSGS messages of alice from $HIST_IP over 21 days ($HIST_LINES lines)"

cat > "$CONF" <<EOF
# mailfuse config of tests/integration/score_live.sh (generated)
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
decision_log_limit = 0;          # every decision line (the default 20/minute would hide the hold)
log_files = [ "$HIST" ];
log_timezone = "UTC";
tail_from = "beginning";
# only the risk score acts: the one hard limit is far out of reach
limits = (
  { name = "acct-msgs"; per = "account"; count = "messages"; window = "hour"; max = 100000; action = "throttle"; }
);
score = true;
geoip_city_db = "$REPO/tests/geoip/test-city.mmdb";
geoip_asn_db = "$REPO/tests/geoip/test-asn.mmdb";
score_alert = 3;
score_throttle = 5;
score_hold = 8;
score_suspend = 11;
score_shadow = [ ];
EOF
diag "dir $T  policy $POLICY  submission $SUBMISSION_PORT  smtp $SMTP_PORT  imap $IMAP_PORT  sink $SINK_PORT"
diag "mailfuse $MAILFUSE"

if "$MAILFUSE" check-config "$CONF" > "$T/check.out" 2>&1; then tap_ok "check-config accepts the test config"
else diag_file "$T/check.out"; bail "check-config accepts the test config"; fi

mf_ready() { kill -0 "$MFPID" 2>/dev/null && port_listening "$PP" && ctl status >/dev/null; }
start_mailfuse() {
  echo "---- start $(date +%T.%N)" >> "$LOG"
  "$MAILFUSE" serve -c "$CONF" < /dev/null >> "$LOG" 2>&1 &
  MFPID=$!
  wait_until 15 mf_ready
}
send_json() {  # USER PASS N [send.py options] -> JSON summary on stdout
  timeout 120 "$BED" send "$@" --timeout 30 --json 2>>"$T/send.err"
}
log_lines() { json_get "$(ctl_json status)" 'd["logs"]["lines"]' 2>/dev/null; }
history_read() { [ "$(log_lines)" = "$HIST_LINES" ]; }

if start_mailfuse; then tap_ok "mailfuse serve starts; ctl status answers"
else diag_file "$LOG" 30; diag_file "$T/ctl.err"; bail "mailfuse serve starts; ctl status answers"; fi

if wait_until 30 history_read; then tap_ok "the history log is read (logs lines = $HIST_LINES)"
else diag "ctl status: $(ctl_json status)"; diag_file "$LOG" 20; bail "the history log is read (logs lines = $HIST_LINES)"; fi

ex=$(ctl_json explain alice)
diag "explain after the history: $(json_get "$ex" '{k: v for k, v in d.items() if k != "signals"}' 2>/dev/null || echo "$ex")"
learned=$(json_get "$ex" '(d["profile"]["messages_learned"], d["profile"]["networks_16"] > 0, d["profile"]["countries"], d["profile"]["operators"])' 2>/dev/null || echo "?")
tap_check "ctl explain alice: the history is learned (messages_learned = $HIST_MSGS, a network known, country US, operator AS64497)" \
  [ "$learned" = "[$HIST_MSGS, true, [\"US\"], [64497]]" ] || diag "got $learned: $ex"

if POLICY="$POLICY" POLICY_STAGES="rcpt eod" POLICY_TIMEOUT=10s POLICY_DEFAULT_ACTION=DUNNO \
   timeout 120 "$BED" up "$T/bed" > "$T/up.log" 2>&1; then
  BED_UP=1; tap_ok "bed up (Postfix + Dovecot, policy $POLICY at rcpt and eod)"
else
  BED_UP=1; diag_file "$T/up.log" 30; bail "bed up (Postfix + Dovecot, policy $POLICY at rcpt and eod)"
fi
MAILLOG="$T/bed/maillog"

# ---------------------------------------------------------------- the burst (policy path)
# BURST messages, one external recipient each, one SMTP session each, sequentially.
# BURST_DOMAINS=each (default): every message to its own domain, alternately under
# example.net and example.org (mN.example.net, mN.example.org: a spam run's spread of
# domains); BURST_DOMAINS=2: half to example.net, half to example.org.
BURST_DOMAINS=${BURST_DOMAINS:-each}
TB=$(date +%s%N)
OUTS=()
if [ "$BURST_DOMAINS" = 2 ]; then
  H1=$((BURST / 2)); H2=$((BURST - H1))
  OUTS+=("$(send_json alice alicepw "$H1" --to-external --ext-domain example.net --xclient "$BURST_IP")")
  OUTS+=("$(send_json alice alicepw "$H2" --to-external --ext-domain example.org --xclient "$BURST_IP")")
else
  for ((i = 1; i <= BURST; i++)); do
    if ((i % 2)); then dom="m$i.example.net"; else dom="m$i.example.org"; fi
    OUTS+=("$(send_json alice alicepw 1 --to-external --ext-domain "$dom" --xclient "$BURST_IP")")
  done
fi
diag "burst: $BURST messages (domains: $BURST_DOMAINS) in $(( ($(date +%s%N) - TB) / 1000000 )) ms"
nans=0; for o in "${OUTS[@]}"; do [ -n "$(json_get "$o" 'd["per_message"][0]' 2>/dev/null)" ] && nans=$((nans + 1)); done
tap_check "the burst was sent (every send answered: $nans of ${#OUTS[@]})" [ "$nans" = "${#OUTS[@]}" ] ||
  diag "$(tail -5 "$T/send.err" 2>/dev/null)"

# Postfix's hold queue: the ids of held messages (they stay there; delivered ones leave)
sleep 1
QJ=$("$BED" queue "$T/bed" 2>/dev/null)
HELD=$("$TEST_PY" -c '
import json, sys
ids = []
for l in sys.stdin:
    l = l.strip()
    if not l: continue
    try: m = json.loads(l)
    except Exception: continue
    if m.get("queue_name") == "hold": ids.append(m["queue_id"])
print(" ".join(ids))' <<<"$QJ")
# the burst in order: per message "SEQ OUTCOME CODE QID TEXT", outcome held when its id is in hold
TABLE=$("$TEST_PY" -c '
import json, sys
held = set(sys.argv[1].split())
n = 0
for js in sys.argv[2:]:
    try: d = json.loads(js)
    except Exception: continue
    for m in d.get("per_message", []):
        n += 1
        o = m["outcome"]
        if o == "accepted" and m.get("queue_id") in held: o = "held"
        print(n, o, m.get("queue_id") or "-", m.get("code"), m.get("text") or "")
' "$HELD" "${OUTS[@]}")
FIRST=$(awk '$2 != "accepted" { print $1; exit }' <<<"$TABLE")
# held, or refused for good (5xx: suspended); a 450 throttle alone is not containment
FIRSTC=$(awk '$2 == "held" || ($2 == "rejected" && $4 ~ /^5/) { print $1; exit }' <<<"$TABLE")
LEAKED=$(awk -v f="${FIRST:-999999}" '$1 < f && $2 == "accepted"' <<<"$TABLE" | wc -l)
NHELD=$(awk '$2 == "held"' <<<"$TABLE" | wc -l)
NREF=$(awk '$2 == "deferred" || $2 == "rejected"' <<<"$TABLE" | wc -l)
NACC_AFTER=$(awk -v f="${FIRST:-999999}" '$1 > f && $2 == "accepted"' <<<"$TABLE" | wc -l)
diag "first message not delivered: #${FIRST:-none} ($(awk -v f="${FIRST:-0}" '$1 == f { $1 = ""; print }' <<<"$TABLE"))"
diag "first message held or suspended: #${FIRSTC:-none} ($(awk -v f="${FIRSTC:-0}" '$1 == f { $1 = ""; print }' <<<"$TABLE"))"
diag "delivered before the first refusal: $LEAKED; held $NHELD, refused $NREF, delivered after it $NACC_AFTER"
tap_check "alice is held or suspended before $MAX_RCPTS recipients (first held/5xx message #${FIRSTC:-none}, 1 recipient each)" \
  [ -n "$FIRSTC" ] && [ "$FIRSTC" -lt "$MAX_RCPTS" ] || diag "$(awk '{ print $1, $2, $4, $5, $6 }' <<<"$TABLE" | uniq -f2 -c)"
tap_check "nothing of the burst is delivered after containment ($NACC_AFTER)" [ "$NACC_AFTER" = 0 ] ||
  diag "$(awk -v f="${FIRST:-999999}" '$1 > f && $2 == "accepted"' <<<"$TABLE" | head -5)"

# the replies: refused ones carry mailfuse's text; held ones were accepted (250) and are in hold
R=$(awk '$2 == "deferred" || $2 == "rejected" { $1 = ""; $2 = ""; $3 = ""; print }' <<<"$TABLE" | sed -E 's/<[^>]*@[^>]*>/<ADDR>/; s/^ +//' | sort | uniq -c)
[ -n "$R" ] && diag "refusals: $R"
if [ "$NREF" -gt 0 ]; then
  tap_check "every refusal is 450 4.7.1 or 5xx 5.7.1 ... mailfuse" \
    bash -c '! grep -Ev "^ *[0-9]+ (450 4\.7\.1|5[0-9][0-9] 5\.7\.1) .*mailfuse" <<<"$1" | grep -q .' _ "$R" || diag "$R"
else
  tap_skip "every refusal is 450 4.7.1 or 5xx 5.7.1 ... mailfuse" "no message refused (all contained ones held)"
fi
if [ "$NHELD" -gt 0 ]; then
  tap_check "Postfix logged the hold with mailfuse's text" grep -Eq 'hold: .*mailfuse' "$MAILLOG" ||
    diag "$(grep -E ' hold: ' "$MAILLOG" | head -3)"
  diag "hold log line: $(grep -E ' hold: ' "$MAILLOG" | head -1 | cut -c1-400)"
else
  tap_skip "Postfix logged the hold with mailfuse's text" "no message held"
fi

# ---------------------------------------------------------------- what mailfuse says
ex=$(ctl_json explain alice)
sc=$(json_get "$ex" 'd["score"]["total"]' 2>/dev/null || echo "?")
sigs=$(json_get "$ex" '[s["name"] for s in d["score"]["signals"]]' 2>/dev/null || echo "?")
would=$(json_get "$ex" 'd["score"]["would"]' 2>/dev/null || echo "?")
diag "explain alice (json): score $(json_get "$ex" '{k: v for k, v in d["score"].items() if k != "signals"}' 2>/dev/null), signals $sigs"
# explain judges without a client address (no new_network there): its score is the "what" part
tap_check "ctl explain alice: would act (score $sc, would $would; volume among the signals)" \
  bash -c '[[ "$1" =~ ^(throttle|hold|suspend)$ ]] && grep -q volume <<<"$2"' _ "$would" "$sigs" || diag "$ex"
DEC=$(grep -E 'decision account=alice .*action=(hold|suspend) ' "$LOG" | head -1)
diag "first hold/suspend decision: $(cut -c1-600 <<<"${DEC:-none}")"
tap_check "mailfuse logged a hold/suspend decision for alice with score >= 8 and the new country (BR) among its reasons" \
  bash -c '[[ "$1" =~ score=([0-9.]+) ]] && awk -v s="${BASH_REMATCH[1]}" "BEGIN { exit !(s >= 8) }" && grep -q "new_country [0-9.]* (client 203.0.113.77 is in BR" <<<"$1"' _ "$DEC" ||
  diag "$(grep -E 'decision account=alice' "$LOG" | tail -3 | cut -c1-600)"
sh=$(ctl_json show alice); lst=$(ctl_json list)
state=$(json_get "$sh" 'd.get("state")' 2>/dev/null || echo "?")
diag "ctl show alice: state $state"
tap_check "alice is held (hold queue) or suspended (ctl list)" \
  bash -c '[ "$1" -gt 0 ] || [ "$2" = suspended ]' _ "$NHELD" "$state" || diag "show: $sh; list: $lst"
diag "---- mailfuse ctl explain alice"
diag "$(ctl explain alice)"
diag "---- decisions"
diag "$(grep -E 'decision' "$LOG" | grep -v 'action=DUNNO' | head -5 | cut -c1-400)"

mf_final_checks
