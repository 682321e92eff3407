#!/usr/bin/env bash
# login_guard.sh - mailfuse as the auth policy server of a REAL Dovecot (TAP).
#
# Issue 6. `mailfuse serve` (auth_listen, GeoIP test databases, score = true) is
# Dovecot's auth policy server (auth_policy_check_before_auth, _after_auth and
# report_after_auth) and the check_policy_service of the bed's Postfix (stages rcpt +
# eod).  Logins from other addresses are played with IMAP ID x-originating-ip (the
# bed's Dovecot trusts 127.0.0.0/8 with login_trusted_networks), so nothing leaves
# loopback.  The accounts' past comes from a generated log (log_files + tail_from =
# "beginning"): 21 days of alice's, bob's and eve's mail and IMAP logins, all from
# 198.51.100.7 (DE, Berlin, AS64498 in tests/geoip/test-*.mmdb), the newest more than
# a day old.  Numbers used (mailfuse config below):
#   login_delay_failures = 5, login_reject_failures = 12, login_delay = 2 s,
#   login_spray_accounts = 10 (default), block_time = 3600 s, score = true.
# (login_reject_failures must stay above login_spray_accounts: a sprayer refused as a
# brute forcer first is refused without being recognised, so it is never blocked.)
#
#  1. a good login (bob, bobpw, from his usual 198.51.100.7) is allowed
#  2. brute force from 203.0.113.50 on dave, wrong password, BF_N = 14 attempts:
#     attempts 1-5 are answered at once (no auth_decision line, < login_delay s),
#     6-12 are delayed (auth_decision answer=delay2 "K failed logins", each >= 2 s),
#     13-14 refused (answer=reject-1, "mailfuse: login refused"); then dave's RIGHT
#     password from 203.0.113.50 is refused and from 192.0.2.60 it works
#  3. password spraying from 198.51.100.200 on user0001..user0200 (bed NUSERS=200),
#     one wrong password each: the first 12 one after the other, then the rest 24 at a
#     time.  Bound: the address fails on login_spray_accounts (10) accounts, is blocked
#     at that point (ctl blocks, "block addr=" log line), attempt 11 and every later one
#     are refused by mailfuse, and exactly 10 attempts reach Dovecot's password check
#     ("Password mismatch" lines in dovecot.log)
#  4. new country: alice (history from DE only, no login today) logs in from
#     203.0.113.7 (BR): allowed; ctl explain alice: login risk > 0, reason naming BR as
#     a country it never used.  Then the same burst (BURST = 20 messages, 1 recipient at
#     example.net each, one SMTP session each, client 127.0.0.1) from bob (unmarked,
#     same kind of history, logged in today from DE only) and from alice: alice's first
#     message held/deferred comes sooner (fewer delivered before it) than bob's
#  5. mailfuse stopped (SIGTERM, exit 0): with auth_policy_reject_on_fail = no a good
#     login still works (fail open); after switching the bed's Dovecot to
#     reject_on_fail = yes (doveadm reload) the same login is refused
#  + travel and a traveller: eve logs in from 127.0.0.1 (GeoIP cannot place it), then
#    from 192.0.2.7 (US): not "faster than travel" (her last located login is days old);
#    carol logs in from a new country (US) and sends one usual message: accepted.
#
# Dovecot's own per-address auth penalty (anvil: before each attempt from an address
# that failed within 15 s, a wait of 4, 8, then 15 s, growing per distinct user+password)
# is switched off in this bed (the documented `service anvil { unix_listener
# anvil-auth-penalty { mode = 0 } }`, then doveadm reload): with it, a 200-account spray
# from one address would take most of an hour, and it hides mailfuse's delays.  Dovecot
# still answers each failure at its next 0.5 s failure tick (AUTH_FAILURE_DELAY=0).
#
#   sudo tests/integration/login_guard.sh            (needs root; exit 0 = all ok)
#   MAILFUSE=/path/to/mailfuse KEEP=1 tests/integration/login_guard.sh
#
# Environment: MAILFUSE [$REPO/build/mailfuse]; KEEP=1 keeps the temp dir (logs).
set -uo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/bed/testlib.sh
. "$REPO/tests/bed/testlib.sh"
BED="$REPO/tests/bed/bed.sh"
CLIENT="$REPO/tests/lib/login_guard_client.py"
MAILFUSE=${MAILFUSE:-$REPO/build/mailfuse}
T0=$(date +%s%N)

DELAY_FAILS=5      # login_delay_failures
REJECT_FAILS=12    # login_reject_failures
LOGIN_DELAY=2      # login_delay (s)
SPRAY=10           # login_spray_accounts (mailfuse's default)
BF_N=14            # brute-force attempts
SPRAY_N=200        # sprayed accounts
SPRAY_SEQ=12       # of which one after the other
SPRAY_PAR=24       # the rest this many at a time
BURST=20           # messages of each burst
HOME_IP=198.51.100.7      # DE, Berlin: alice's, bob's, eve's and carol's usual address
BF_IP=203.0.113.50        # brute forcer (BR)
OTHER_IP=192.0.2.60       # US: dave's right password from elsewhere
SPRAY_IP=198.51.100.200   # sprayer (DE)
NEW_IP=203.0.113.7        # BR: alice's login from a new country
TRAVEL_IP=192.0.2.7       # US, New York (6385 km from Berlin): eve
TRAVEL2_IP=192.0.2.8      # US: carol, a traveller

T=""; MFPID=""; BED_UP=0
cleanup() { stop_mailfuse; bed_teardown; }

# ---------------------------------------------------------------- setup
bed_test_start mflg
B=$((12000 + RANDOM % 3000))
PP=$(free_port "$B") && AP=$(free_port $((B + 200)) "$PP") && SUBMISSION_PORT=$(free_port $((B + 400)) "$PP" "$AP") &&
  SMTP_PORT=$(free_port $((B + 600)) "$PP" "$AP" "$SUBMISSION_PORT") &&
  IMAP_PORT=$(free_port $((B + 800)) "$PP" "$AP" "$SUBMISSION_PORT" "$SMTP_PORT") &&
  SINK_PORT=$(free_port $((B + 1000)) "$PP" "$AP" "$SUBMISSION_PORT" "$SMTP_PORT" "$IMAP_PORT") || bail "found free TCP ports"
export SUBMISSION_PORT SMTP_PORT IMAP_PORT SINK_PORT
POLICY="inet:127.0.0.1:$PP"
AUTHURL="http://127.0.0.1:$AP/"
APIKEY="X-API-Key: lg-$RANDOM$RANDOM"
CONF="$T/mailfuse.conf"
LOG="$T/mailfuse.log"
HIST="$T/history.log"
mkdir -p "$T/state"

HI=$(timeout 30 "$TEST_PY" "$CLIENT" history "$HIST" --accounts alice,bob,eve,carol --ip "$HOME_IP" --days 21) ||
  bail "history log generated"
HIST_LINES=$(wc -l < "$HIST")
tap_ok "history log: 21 days of alice's, bob's, eve's and carol's mail and IMAP logins from $HOME_IP (DE), $HI"

cat > "$CONF" <<EOF
# mailfuse config of tests/integration/login_guard.sh (generated)
listen = [ "$POLICY" ];
auth_listen = [ "inet:127.0.0.1:$AP" ];
auth_api_header = "$APIKEY";
control_socket = "$T/ctl.sock";
state_dir = "$T/state";
local_domains = [ "example.edu" ];
fail_action = "DUNNO";
flush_interval = 1.0;
log_level = "debug";
log_target = "stderr";
decision_log_limit = 0;
log_files = [ "$HIST" ];
log_timezone = "UTC";
tail_from = "beginning";
geoip_city_db = "$REPO/tests/geoip/test-city.mmdb";
geoip_asn_db = "$REPO/tests/geoip/test-asn.mmdb";
login_delay_failures = $DELAY_FAILS;
login_reject_failures = $REJECT_FAILS;
login_delay = $LOGIN_DELAY;
login_spray_accounts = $SPRAY;
block_time = 3600;
# containment stays inside the bed: its own Postfix instance, no queue sweep (the
# bursts are judged message by message), no mail, no webhook, no nft
postfix_config_dir = "$T/bed/postfix-etc";
hold_queue = false;
# only the risk score acts on mail: the one hard limit is far out of reach
limits = (
  { name = "acct-msgs"; per = "account"; count = "messages"; window = "hour"; max = 100000; action = "throttle"; }
);
score = true;
score_alert = 3;
score_throttle = 5;
score_hold = 8;
score_suspend = 11;
EOF
diag "dir $T  policy $POLICY  auth $AUTHURL  submission $SUBMISSION_PORT  smtp $SMTP_PORT  imap $IMAP_PORT  sink $SINK_PORT"

if "$MAILFUSE" check-config "$CONF" > "$T/check.out" 2>&1; then tap_ok "check-config accepts the test config"
else diag_file "$T/check.out"; bail "check-config accepts the test config"; fi

mf_ready() { kill -0 "$MFPID" 2>/dev/null && port_listening "$PP" && port_listening "$AP" && ctl status >/dev/null; }
start_mailfuse() {
  echo "---- start $(date +%T.%N)" >> "$LOG"
  "$MAILFUSE" serve -c "$CONF" < /dev/null >> "$LOG" 2>&1 &
  MFPID=$!
  wait_until 15 mf_ready
}
history_read() { [ "$(json_get "$(ctl_json status)" 'd["logs"]["lines"]' 2>/dev/null)" = "$HIST_LINES" ]; }
# IMAP logins: ATTEMPTS JSON lines (one per attempt, then a summary); see login_guard_client.py
attempts() { timeout 150 "$TEST_PY" "$CLIENT" attempts --port "$IMAP_PORT" "$@" 2>>"$T/client.err"; }
summary_of() { grep '"summary"' <<<"$1" | tail -1; }
results_of() { grep -v '"summary"' <<<"$1" | "$TEST_PY" -c '
import json, sys
rows = sorted((json.loads(l) for l in sys.stdin if l.strip()), key=lambda r: r["i"])
for r in rows:
    kind = "refused" if "mailfuse: login refused" in r["text"] else r["result"]
    print(r["i"], r["user"], kind, r["secs"])'; }   # "I USER OK|NO|refused|ERROR SECS" per attempt
login_ok() {  # USER PASS IP: one login, exit 0 when it is OK
  local out; out=$(attempts --ip "$3" --user "$1" --password "$2")
  grep -q '"result": "OK"' <<<"$out"
}
explain_get() { json_get "$(ctl_json explain "$1")" "$2" 2>/dev/null; }
send_json() { timeout 120 "$BED" send "$@" --timeout 30 --json 2>>"$T/send.err"; }

if start_mailfuse; then tap_ok "mailfuse serve starts (policy $POLICY, auth policy $AUTHURL); ctl status answers"
else diag_file "$LOG" 30; diag_file "$T/ctl.err"; bail "mailfuse serve starts; ctl status answers"; fi
if wait_until 30 history_read; then tap_ok "the history log is read ($HIST_LINES lines)"
else diag "ctl status: $(ctl_json status)"; diag_file "$LOG" 20; bail "the history log is read ($HIST_LINES lines)"; fi
learned=$(json_get "$(ctl_json explain alice)" '(d["profile"]["messages_learned"] >= 20, d["profile"]["networks_16"] > 0, d["profile"]["login"]["risk"])' 2>/dev/null)
tap_check "ctl explain alice: the history is learned (>= 20 messages, a network, no login risk)" [ "$learned" = "[true, true, 0.0]" ] ||
  diag "got $learned: $(ctl_json explain alice)"

if POLICY="$POLICY" POLICY_STAGES="rcpt eod" POLICY_TIMEOUT=10s POLICY_DEFAULT_ACTION=DUNNO \
   AUTHPOLICY="$AUTHURL" AUTHPOLICY_HEADER="$APIKEY" AUTHPOLICY_REJECT_ON_FAIL=no AUTH_FAILURE_DELAY=0 \
   NUSERS=$SPRAY_N INTERNAL=discard timeout 120 "$BED" up "$T/bed" > "$T/up.log" 2>&1; then
  BED_UP=1; tap_ok "bed up (Postfix + Dovecot; auth policy $AUTHURL, reject_on_fail = no; $SPRAY_N extra users)"
else
  BED_UP=1; diag_file "$T/up.log" 30; bail "bed up"
fi
DLOG="$T/bed/dovecot.log"
DCONF="$T/bed/dovecot.conf"
MAILLOG="$T/bed/maillog"
reloads() { grep -c 'SIGHUP received' "$DLOG" 2>/dev/null; }
dovecot_reload() {  # doveadm reload, and wait until the master has re-read its config
  local before; before=$(reloads)
  timeout 15 doveadm -c "$DCONF" reload 2>>"$T/doveadm.err" || return 1
  wait_until 10 bash -c '[ "$(grep -c "SIGHUP received" "$1")" -gt "$2" ]' _ "$DLOG" "$before" || return 1
  sleep 0.5   # the old auth process goes, the next login starts a new one
}
cat >> "$DCONF" <<'EOF'
# login_guard.sh: no anvil auth penalty (Dovecot's own per-address delay of failures)
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
EOF
if dovecot_reload; then tap_ok "Dovecot reloaded without its anvil auth penalty"
else diag_file "$DLOG" 20; diag_file "$T/doveadm.err"; bail "Dovecot reloaded without its anvil auth penalty"; fi

# ---------------------------------------------------------------- 1. a good login
tap_check "1: a good login is allowed (bob, bobpw, from his usual $HOME_IP)" login_ok bob bobpw "$HOME_IP" ||
  { diag_file "$DLOG" 10; diag_file "$LOG" 10; }
r=$(explain_get bob '(d["profile"]["login"]["risk"], d["profile"]["login"]["last"][:10])')
tap_check "1: ctl explain bob: no login risk, last login today" [ "$r" = "[0.0, \"$(date -u +%F)\"]" ] ||
  diag "got $r: $(ctl_json explain bob)"

# ---------------------------------------------------------------- 2. brute force
BF=$(attempts --ip "$BF_IP" --user dave --password wrong-password --count "$BF_N" --budget 90)
BFR=$(results_of "$BF")
diag "brute force from $BF_IP (attempt user result seconds):"
diag "$(tr '\n' ';' <<<"$BFR" | sed 's/;/; /g')"
# mailfuse's answers for this address, in order (it logs every answer but 0)
ANS=$(grep -E "auth_decision .*client=$BF_IP " "$LOG" | sed -E 's/.* answer=([^ ]+) reason="?([0-9]+ failed|brute force: [0-9]+ failed|[^"]*)"?.*/\1 \2/' | sed -E 's/brute force: //')
diag "mailfuse answers to $BF_IP: $(tr '\n' ';' <<<"$ANS" | sed 's/;/; /g')"
want_ans=$(for ((k = DELAY_FAILS; k < REJECT_FAILS; k++)); do echo "delay$LOGIN_DELAY $k failed"; done
           for ((k = REJECT_FAILS; k < BF_N; k++)); do echo "reject-1 $REJECT_FAILS failed"; done)
tap_check "2: mailfuse answered attempts 1-$DELAY_FAILS with 0, $((DELAY_FAILS + 1))-$REJECT_FAILS with delay $LOGIN_DELAY (reason K failed logins, K = attempt - 1), $((REJECT_FAILS + 1))-$BF_N with -1" \
  [ "$ANS" = "$want_ans" ] || diag "expected: $(tr '\n' ';' <<<"$want_ans")"
fast=$(awk -v d="$DELAY_FAILS" -v s="$LOGIN_DELAY" '$1 <= d && $3 == "NO" && $4 < s' <<<"$BFR" | wc -l)
tap_check "2: attempts 1-$DELAY_FAILS fail at once (Authentication failed, each < $LOGIN_DELAY s): $fast of $DELAY_FAILS" [ "$fast" = "$DELAY_FAILS" ]
slow=$(awk -v d="$DELAY_FAILS" -v r="$REJECT_FAILS" -v s="$LOGIN_DELAY" '$1 > d && $1 <= r && $3 == "NO" && $4 >= s' <<<"$BFR" | wc -l)
tap_check "2: attempts $((DELAY_FAILS + 1))-$REJECT_FAILS are delayed (Authentication failed after >= $LOGIN_DELAY s): $slow of $((REJECT_FAILS - DELAY_FAILS))" \
  [ "$slow" = "$((REJECT_FAILS - DELAY_FAILS))" ]
ref=$(awk -v r="$REJECT_FAILS" '$1 > r && $3 == "refused"' <<<"$BFR" | wc -l)
tap_check "2: attempts $((REJECT_FAILS + 1))-$BF_N are refused by mailfuse (\"mailfuse: login refused\"): $ref of $((BF_N - REJECT_FAILS))" \
  [ "$ref" = "$((BF_N - REJECT_FAILS))" ]
out=$(attempts --ip "$BF_IP" --user dave --password davepw)
tap_check "2: dave's right password from $BF_IP is refused by mailfuse" grep -q 'mailfuse: login refused' <<<"$out" || diag "$out"
tap_check "2: dave's right password from $OTHER_IP works" login_ok dave davepw "$OTHER_IP"

# ---------------------------------------------------------------- 3. password spraying
SP1=$(attempts --ip "$SPRAY_IP" --user-range "user:1:$SPRAY_SEQ" --password wrong-password --count "$SPRAY_SEQ" --budget 60)
SPR1=$(results_of "$SP1")
diag "spray, one after the other: $(awk '{ printf "%s %s %s; ", $1, $3, $4 }' <<<"$SPR1")"
first_ref=$(awk '$3 == "refused" { print $1; exit }' <<<"$SPR1")
nfail1=$(awk '$3 == "NO"' <<<"$SPR1" | wc -l)
tap_check "3: the sprayer's first $SPRAY attempts reach the password check, attempt $((SPRAY + 1)) is refused by mailfuse (first refused: #${first_ref:-none})" \
  [ "${first_ref:-0}" = "$((SPRAY + 1))" ] && [ "$nfail1" = "$SPRAY" ]
blk=$(json_get "$(ctl_json blocks)" "[b[\"reason\"] for b in d[\"blocks\"] if b[\"addr\"] == \"$SPRAY_IP\"]" 2>/dev/null)
tap_check "3: ctl blocks lists $SPRAY_IP (password spraying)" grep -q 'password spraying' <<<"$blk" || diag "ctl blocks: $(ctl_json blocks)"
tap_check "3: mailfuse logged block addr=$SPRAY_IP" grep -q "block addr=$SPRAY_IP " "$LOG" || diag "$(grep -E 'block' "$LOG" | tail -3)"
SP2=$(attempts --ip "$SPRAY_IP" --user-range "user:$((SPRAY_SEQ + 1)):$SPRAY_N" --password wrong-password \
        --count $((SPRAY_N - SPRAY_SEQ)) --parallel "$SPRAY_PAR" --budget 60)
diag "spray, $SPRAY_PAR at a time: $(summary_of "$SP2")"
nref2=$(results_of "$SP2" | awk '$3 == "refused"' | wc -l)
tap_check "3: all $((SPRAY_N - SPRAY_SEQ)) later attempts (user$(printf %04d $((SPRAY_SEQ + 1)))..user$(printf %04d "$SPRAY_N")) are refused by mailfuse: $nref2" \
  [ "$nref2" = "$((SPRAY_N - SPRAY_SEQ))" ] || diag "$(results_of "$SP2" | awk '$3 != "refused"' | head -5)"
nchk=$(grep -cE "\\(user[0-9]{4},$SPRAY_IP,.*(Password mismatch|unknown user)" "$DLOG")
tap_check "3: of $SPRAY_N attempts, $nchk reached Dovecot's password check (bound: login_spray_accounts = $SPRAY)" [ "$nchk" -le "$SPRAY" ] && [ "$nchk" -gt 0 ] ||
  diag "$(grep -E "$SPRAY_IP" "$DLOG" | grep -E 'mismatch|unknown' | tail -3)"

# ---------------------------------------------------------------- travel after an unlocated login
# eve's last located login is her history's (DE, > 24 h ago); she logs in from
# 127.0.0.1 (no GeoIP), then from New York: an unlocated login breaks the travel
# chain, so the reason names the new country, not "faster than travel".
login_ok eve evepw "" >/dev/null 2>&1 || diag "eve's login from 127.0.0.1 failed"
login_ok eve evepw "$TRAVEL_IP" || diag "eve's login from $TRAVEL_IP failed"
ev=$(explain_get eve '(d["profile"]["login"]["risk"], d["profile"]["login"]["reason"])')
diag "ctl explain eve after 127.0.0.1 then $TRAVEL_IP: $ev"
tap_check "a login from an unlocated address (127.0.0.1) does not make the next far-away one 'faster than travel' (eve: $ev)" \
  bash -c '[[ "$1" == *"US"* ]] && [[ "$1" != *"faster than travel"* ]]' _ "$ev"

# ---------------------------------------------------------------- a traveller sending as usual
# only a sprayer's login acts without evidence from the mail; a traveller's new
# country and network stay below it (README: "a traveller who sends as usual from a
# new country is shown by ctl explain but not acted on").
login_ok carol carolpw "$TRAVEL2_IP" || diag "carol's login from $TRAVEL2_IP failed"
diag "ctl explain carol after her login from $TRAVEL2_IP: $(explain_get carol 'd["profile"]["login"]')"
out=$(send_json carol carolpw 1 --to bob@example.edu)
cr=$(json_get "$out" '"%s %s %s" % (d["accepted"], d["per_message"][0]["code"], d["per_message"][0]["text"][:120])' 2>/dev/null)
diag "carol's message to bob@example.edu: $cr; $(grep -E 'decision account=carol ' "$LOG" | head -1 | sed -E 's/.*(action=[^ ]+).*(score=[^ ]+) (reasons=.*) shadow.*/\1 \2 \3/' | cut -c1-300)"
tap_check "a traveller (carol, new country $TRAVEL2_IP) sending one message to a colleague as usual is not acted on (got: $cr)" \
  bash -c '[[ "$1" == 1\ 250* ]]' _ "$cr"

# ---------------------------------------------------------------- 4. new country, then a burst
tap_check "4: alice's good login from $NEW_IP (BR) is allowed" login_ok alice alicepw "$NEW_IP"
ax=$(ctl_json explain alice)
alog=$(json_get "$ax" 'd["profile"]["login"]' 2>/dev/null)
diag "ctl explain alice, login: $alog"
tap_check "4: ctl explain alice: login risk > 0 (active), reason naming BR as a country it never used" \
  "$TEST_PY" -c 'import json, sys; l = json.loads(sys.argv[1]); sys.exit(not (l["risk"] > 0 and l["risk_until"] == "active" and "BR" in l["reason"] and "country" in l["reason"]))' "$alog" ||
  diag "$ax"
r=$(explain_get bob '(d["profile"]["login"]["risk"])')
tap_check "4: ctl explain bob (logged in from DE only): no login risk" [ "$r" = "0.0" ] || diag "$(ctl_json explain bob)"

# BURST messages, 1 external recipient each (example.net: never written to by either),
# one SMTP session each, from 127.0.0.1 (no network signal for either account)
burst() {  # ACCOUNT: sends; prints "DELIVERED_BEFORE FIRST_CONTAINED ANSWERED"; table in $T/burst-ACCOUNT.tab
  local a=$1 held
  send_json "$a" "${a}pw" "$BURST" --to-external --ext-domain example.net > "$T/burst-$a.json"
  held=$("$BED" queue "$T/bed" 2>/dev/null | "$TEST_PY" -c '
import json, sys
for l in sys.stdin:
    try: m = json.loads(l)
    except Exception: continue
    if m.get("queue_name") == "hold": print(m["queue_id"])')
  "$TEST_PY" -c '
import json, sys
held = set(sys.argv[1].split())
try: d = json.loads(open(sys.argv[2]).read())
except Exception: d = {}
rows = []
for m in d.get("per_message", []):
    o = m["outcome"]
    if o == "accepted" and m.get("queue_id") in held: o = "held"
    rows.append((m["seq"], o, m.get("code"), " ".join((m.get("text") or "").split()[:6])))
first = next((s for s, o, c, t in rows if o != "accepted"), None)
before = sum(1 for s, o, c, t in rows if o == "accepted" and (first is None or s < first))
with open(sys.argv[3], "w") as f:
    for s, o, c, t in rows: f.write("%s %s %s %s\n" % (s, o, c, t))
print(before, first if first is not None else "none", len(rows))' "$held" "$T/burst-$a.json" "$T/burst-$a.tab"
}
runs_of() { awk '{ k = $2 " " $3 " " $4 " " $5 " " $6; if (k != p) { if (n) printf "#%s-#%s %s; ", f, l, p; f = $1; n = 0 } p = k; l = $1; n++ } END { if (n) printf "#%s-#%s %s", f, l, p }' "$1"; }
read -r bob_before bob_first bob_n <<<"$(burst bob)"
read -r alice_before alice_first alice_n <<<"$(burst alice)"
diag "bob (unmarked): $bob_n answered, $bob_before delivered before the first held/deferred (#$bob_first): $(runs_of "$T/burst-bob.tab")"
diag "alice (marked): $alice_n answered, $alice_before delivered before the first held/deferred (#$alice_first): $(runs_of "$T/burst-alice.tab")"
tap_check "4: both bursts were answered ($BURST messages each)" [ "$bob_n" = "$BURST" ] && [ "$alice_n" = "$BURST" ] ||
  diag "$(tail -5 "$T/send.err" 2>/dev/null)"
tap_check "4: alice (login risk) is contained sooner than bob: $alice_before < $bob_before messages delivered before the first held/deferred one" \
  [ "$alice_first" != none ] && [ "$alice_before" -lt "$bob_before" ]
DEC=$(grep -E 'decision account=alice .*action=(throttle|hold|suspend) ' "$LOG" | head -1)
diag "alice's first decision: $(cut -c1-500 <<<"${DEC:-none}")"
diag "bob's first decision: $(grep -E 'decision account=bob .*action=(throttle|hold|suspend) ' "$LOG" | head -1 | cut -c1-500)"
tap_check "4: alice's first decision names login_risk among its reasons" grep -q 'login_risk' <<<"$DEC"

st=$(ctl_json status)
[ -n "$(json_get "$st" 'd.get("auth")' 2>/dev/null | grep -v '^null$')" ] && diag "ctl status auth: $(json_get "$st" 'd["auth"]')"
tap_check "ctl status: no internal errors, store errors 0" \
  [ "$(json_get "$st" '(d["errors"]["internal"], d["store"]["errors"])' 2>/dev/null)" = '[0, 0]' ] || diag "status: $st"

# ---------------------------------------------------------------- 5. mailfuse down
stop_mailfuse
tap_check "5: mailfuse stops on SIGTERM with exit status 0" [ "$MF_RC" = 0 ] || diag "exit status $MF_RC"
t1=$(date +%s%N)
tap_check "5: mailfuse down, auth_policy_reject_on_fail = no: bob's good login still works (fail open)" login_ok bob bobpw "$HOME_IP" ||
  diag_file "$DLOG" 10
diag "that login took $(( ($(date +%s%N) - t1) / 1000000 )) ms; Dovecot: $(grep -iE 'policy' "$DLOG" | grep -iE 'error|fail' | tail -1 | cut -c1-300)"
sed -i 's/^auth_policy_reject_on_fail = no$/auth_policy_reject_on_fail = yes/' "$DCONF"
if grep -q '^auth_policy_reject_on_fail = yes$' "$DCONF" && dovecot_reload; then
  perr0=$(grep -c "policy(bob,$HOME_IP,.*Policy server HTTP error" "$DLOG")
  out=$(attempts --ip "$HOME_IP" --user bob --password bobpw)
  perr1=$(grep -c "policy(bob,$HOME_IP,.*Policy server HTTP error" "$DLOG")
  diag "the refused login: $(grep -v summary <<<"$out" | cut -c1-200)"
  tap_check "5: mailfuse down, auth_policy_reject_on_fail = yes (doveadm reload): the same login is refused (Dovecot: policy server error)" \
    bash -c 'grep -q "\"result\": \"NO\"" <<<"$1" && [ "$3" -gt "$2" ]' _ "$out" "$perr0" "$perr1" || diag "$out; policy errors before $perr0, after $perr1"
else
  tap_fail "5: mailfuse down, auth_policy_reject_on_fail = yes (doveadm reload): the same login is refused"
  diag_file "$T/doveadm.err"
fi

tap_check "mailfuse log: no crash / sanitizer report" bash -c "! grep -Eq 'AddressSanitizer|runtime error:|Segmentation|Assertion' '$LOG'" ||
  diag_file "$LOG" 20
if [ "$TAP_FAILED" != 0 ]; then
  diag_file "$LOG" 25
  diag_file "$DLOG" 15
  diag_file "$MAILLOG" 10
  [ -s "$T/ctl.err" ] && diag_file "$T/ctl.err" 10
  [ -s "$T/client.err" ] && diag_file "$T/client.err" 10
fi
diag "elapsed $(( ($(date +%s%N) - T0) / 1000000 )) ms"
tap_done
