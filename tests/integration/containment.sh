#!/usr/bin/env bash
# containment.sh - what a suspension does on every door of a REAL Postfix + Dovecot (TAP).
#
# Issue 5. `mailfuse serve` is the check_policy_service of the test bed's Postfix
# (tests/bed/bed.sh, stages rcpt + eod), keeps the Dovecot deny file the bed's Dovecot
# reads (DENY_FILE, in a directory of its own), kicks with doveadm, holds queued mail
# with postqueue/postsuper of the bed's Postfix, and posts its alerts to a local webhook
# receiver (tests/lib/webhook_sink.py).  Everything listens on 127.0.0.1 only.
#
#  1. backlog: the sink is stopped; alice (3 messages, 1 external recipient each, to
#     example.com: exactly her limit) and carol (2, to example.org) send within the
#     limit: accepted, deferred
#  2. alice has an IMAP session open (imap.py hold, in the background)
#  3. alice's burst (one SMTP session) crosses "ext-rcpts" (max 3 external recipients
#     an hour, action suspend): refused (554 5.7.1 ... mailfuse), and so are her next
#     messages; a new session and her IMAP login are refused (deny file), her open IMAP
#     session was closed (kick_command = doveadm kick %n), her 3 deferred messages are
#     on hold and do not reach the sink; bob sends and logs in; one webhook "incident"
#     event with what happened; ctl incidents / incident ID show it, effects deny_file,
#     kick, queue_hold ok
#  4. failures: postsuper (a wrapper) fails while a flag file exists, the webhook
#     receiver answers 503, the deny file's directory is immutable (chattr +i);
#     `ctl suspend carol`: her mail is refused all the same, ctl status and the incident
#     show the failures, and once they are gone the retries (retry_interval = 1) finish
#     the job: carol's mail on hold, the deny file lists her, the webhook has her event;
#     she stayed suspended throughout
#  5. sink-start + postqueue -f: bob's message is delivered, the held ones are not;
#     `ctl release alice --release-held`: alice's held mail reaches the sink (through
#     mailfuse's postsuper -H + postqueue -i, no flush), she sends and logs in again
#  6. nftables (when nft works): a private table with a timeout set and no rules;
#     ctl block 198.51.100.9 --for 60 puts it in the set, ctl unblock takes it out;
#     ctl block 127.0.0.1 is refused
#
#   sudo tests/integration/containment.sh            (needs root; exit 0 = all ok)
#   MAILFUSE=/path/to/mailfuse KEEP=1 tests/integration/containment.sh
#
# Environment: MAILFUSE [$REPO/build/mailfuse]; KEEP=1 keeps the temp dir (logs).
set -uo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/bed/testlib.sh
. "$REPO/tests/bed/testlib.sh"
BED="$REPO/tests/bed/bed.sh"
SINKPY="$REPO/tests/lib/webhook_sink.py"
MAILFUSE=${MAILFUSE:-$REPO/build/mailfuse}
T0=$(date +%s%N)
BACKLOG_A=3        # alice's deferred messages before the burst (1 external recipient each)
BACKLOG_C=2        # carol's
MAXEXT=$BACKLOG_A  # ext-rcpts: external recipients per hour; the next one suspends
BLOCK_IP=198.51.100.9   # TEST-NET-2: only ever an element of a set with no rules

T=""; MFPID=""; BED_UP=0; WHPID=""; HOLDPID=""; WATCHPID=""; NFT_TABLE=""; DENYDIR=""
cleanup() {
  [ -n "$HOLDPID" ] && { stop_pid "$HOLDPID"; HOLDPID=""; }
  [ -n "$WATCHPID" ] && { stop_pid "$WATCHPID"; WATCHPID=""; }
  stop_mailfuse
  [ -n "$WHPID" ] && { stop_pid "$WHPID"; WHPID=""; }
  [ -n "$DENYDIR" ] && [ -d "$DENYDIR" ] && chattr -i "$DENYDIR" 2>/dev/null
  [ -n "$NFT_TABLE" ] && { nft delete table inet "$NFT_TABLE" 2>/dev/null; NFT_TABLE=""; }
  bed_teardown
}

# ---------------------------------------------------------------- setup
bed_test_start mfct
[ -r "$SINKPY" ] || bail "tests/lib/webhook_sink.py exists"
# The sink's port is free while the sink is stopped: another test bed picking ports from
# 10025 up could take it then (and answer our deferred mail with a 5xx), hence far from there.
SINK_BASE=$((20000 + RANDOM % 9000)) bed_ports
CONF="$T/mailfuse.conf"
LOG="$T/mailfuse.log"
DENYDIR="$T/deny"; DENY="$DENYDIR/dovecot-deny"
PFETC="$T/bed/postfix-etc"
MAILLOG="$T/bed/maillog"
HOOKS="$T/webhook.jsonl"
mkdir -p "$T/state" "$DENYDIR"; chmod 755 "$DENYDIR"

# postsuper that fails while $T/postsuper.fail exists
cat > "$T/postsuper-wrap" <<EOF
#!/bin/sh
if [ -e "$T/postsuper.fail" ]; then
  echo "postsuper-wrap: failing on purpose ($T/postsuper.fail exists)" >&2
  exit 1
fi
exec /usr/sbin/postsuper "\$@"
EOF
chmod 755 "$T/postsuper-wrap"

# the webhook receiver (port 0: it picks one and says so)
"$TEST_PY" "$SINKPY" --port 0 --out "$HOOKS" --fail-file "$T/webhook.fail" \
  < /dev/null > "$T/webhook.stdout" 2> "$T/webhook.err" &
WHPID=$!
if wait_until 10 grep -q '^PORT [0-9]' "$T/webhook.stdout"; then
  WHPORT=$(awk '/^PORT [0-9]+/ { print $2; exit }' "$T/webhook.stdout")
  tap_ok "webhook receiver listens on 127.0.0.1:$WHPORT"
else
  diag_file "$T/webhook.stdout"; diag_file "$T/webhook.err"; bail "webhook receiver started"
fi

# nftables: a private table and a timeout set, no chain, no rule (changes no traffic)
NFT_SET_CONF=""
NFT_WHY=""
if ! command -v nft > /dev/null 2>&1; then NFT_WHY="nft is not installed"
else
  tbl="mftest$$"
  if nft add table inet "$tbl" 2> "$T/nft.err"; then
    NFT_TABLE=$tbl
    if nft add set inet "$tbl" b4 '{ type ipv4_addr; flags timeout; }' 2>> "$T/nft.err"; then
      NFT_SET_CONF="inet $tbl b4"
    else NFT_WHY="nft add set failed: $(head -c 200 "$T/nft.err")"; fi
  else NFT_WHY="nft add table failed: $(head -c 200 "$T/nft.err")"; fi
fi

cat > "$CONF" <<EOF
# mailfuse config of tests/integration/containment.sh (generated)
listen = [ "inet:127.0.0.1:$PP" ];
control_socket = "$T/ctl.sock";
state_dir = "$T/state";
local_domains = [ "example.edu" ];
account_domain = "example.edu";
sender_account_networks = [ ];
shadow = false;
fail_action = "DUNNO";
flush_interval = 1.0;
log_level = "debug";
log_target = "stderr";
decision_log_limit = 0;
# an hour window: nothing slides out while the test runs
limits = (
  { name = "ext-rcpts"; per = "account"; count = "external_recipients"; window = "hour"; max = $MAXEXT; action = "suspend"; }
);
dovecot_deny_file = "$DENY";
kick_command = [ "/usr/bin/doveadm", "-c", "$T/bed/dovecot.conf", "kick", "%n" ];
hold_queue = true;
postqueue_command = "/usr/sbin/postqueue";
postsuper_command = "$T/postsuper-wrap";
postfix_config_dir = "$PFETC";
command_timeout = 20;
block_time = 600;
nft_set = "$NFT_SET_CONF";
webhook_url = "http://127.0.0.1:$WHPORT/mailfuse";
webhook_timeout = 5;
webhook_retries = 8;
effect_retries = 20;
retry_interval = 1;
alert_email = [ "bob@example.edu" ];
alert_from = "mailfuse@example.edu";
sendmail_command = [ "/usr/sbin/sendmail", "-C", "$PFETC", "-i" ];
EOF
diag "dir $T  policy 127.0.0.1:$PP  submission $SUBMISSION_PORT  imap $IMAP_PORT  sink $SINK_PORT  webhook $WHPORT"
diag "mailfuse $MAILFUSE"

if "$MAILFUSE" check-config "$CONF" > "$T/check.out" 2>&1; then tap_ok "check-config accepts the test config"
else diag_file "$T/check.out"; bail "check-config accepts the test config"; fi

mf_ready() { kill -0 "$MFPID" 2>/dev/null && port_listening "$PP" && ctl status >/dev/null; }
start_mailfuse() {
  echo "---- start $(date +%T.%N)" >> "$LOG"
  # the webhook goes straight to 127.0.0.1, never through a proxy from the environment
  env -u http_proxy -u https_proxy -u HTTP_PROXY -u HTTPS_PROXY -u ALL_PROXY -u all_proxy \
    NO_PROXY='*' no_proxy='*' "$MAILFUSE" serve -c "$CONF" < /dev/null >> "$LOG" 2>&1 &
  MFPID=$!
  wait_until 15 mf_ready
}
send_json() {  # USER PASS N [send.py options] -> JSON summary on stdout
  timeout 90 "$BED" send "$@" --timeout 30 --json 2>>"$T/send.err"
}
replies_of() { json_get "$1" '"\n".join("%s %s %s" % (m["stage"], m["code"], m["text"]) for m in d["per_message"])'; }
all_replies() { json_get "$1" '"\n".join("%s %s %s x%s" % (r["stage"], r["code"], r["text"], r["count"]) for r in d["replies"])'; }
qids_of() { json_get "$1" '" ".join(m["queue_id"] for m in d["per_message"] if m["outcome"] == "accepted" and m.get("queue_id"))'; }
accepted_of() { json_get "$1" 'd["accepted"]' 2>/dev/null || echo "?"; }
refused_suspended() {  # JSON: every message refused, a 5xx 5.7.1 ... mailfuse ... suspended among the replies
  local r; r=$(all_replies "$1")
  [ "$(accepted_of "$1")" = 0 ] && grep -Eq '^[A-Z-]+ 5[0-9][0-9] 5\.7\.1 .*mailfuse.*suspended' <<<"$r"
}
refused_any() {  # JSON: nothing accepted; refused at AUTH (535) or by mailfuse (5.7.1)
  local r; r=$(all_replies "$1")
  [ "$(accepted_of "$1")" = 0 ] && grep -Eq '^(AUTH 535 |[A-Z-]+ 5[0-9][0-9] 5\.7\.1 .*mailfuse.*suspended)' <<<"$r"
}
imap_login() { timeout 30 "$BED" login "$1" "$2" > "$T/imap.out" 2>&1; }
imap_refused() { ! timeout 30 "$BED" login "$1" "$2" > "$T/imap.out" 2>&1; }

# Postfix's queue: "QUEUE ID SENDER" lines
queue_lines() {
  "$BED" queue "$T/bed" 2>/dev/null | "$TEST_PY" -c '
import json, sys
for l in sys.stdin:
    try: m = json.loads(l)
    except Exception: continue
    print(m.get("queue_name"), m.get("queue_id"), m.get("sender"))'
}
# ids_in QUEUE ID...: every id is in that queue
ids_in() {
  local q=$1 lines id; shift
  lines=$(queue_lines)
  for id in "$@"; do grep -q "^$q $id " <<<"$lines" || return 1; done
}
held_of() { queue_lines | awk -v s="$1" '$1 == "hold" && $3 == s' | wc -l; }
sent_ids() {  # ID...: the ids that the maillog says were delivered to the sink (status=sent)
  local id
  for id in "$@"; do grep -Eq "postfix/smtp\[[0-9]+\]: $id: to=<.*status=sent" "$MAILLOG" && echo "$id"; done
}
all_sent() { [ "$(sent_ids "$@" | wc -l)" = $# ]; }
none_sent() { [ -z "$(sent_ids "$@")" ]; }
deny_lists() { grep -qx "$1" "$DENY" 2>/dev/null; }

# the webhook receiver's file: one JSON body per line
hooks_py() {  # PY_EXPR over L = the list of bodies
  "$TEST_PY" -c '
import json, sys
L = []
try:
    for l in open(sys.argv[1]):
        l = l.strip()
        if l:
            try: r = json.loads(l)
            except Exception: r = {"body": {"unparsable": l[:200]}}
            b = r.get("body") if isinstance(r, dict) else None
            L.append(b if isinstance(b, dict) else {"not_json": str(b)[:200]})
except FileNotFoundError:
    pass
v = eval(sys.argv[2], {"L": L})
print(json.dumps(v) if isinstance(v, (dict, list, tuple, bool)) or v is None else v)' "$HOOKS" "$1"
}
hook_count() {  # EVENT ACCOUNT
  hooks_py "len([b for b in L if b.get('event') == '$1' and b.get('account') == '$2'])"
}
hook_seen() { [ "$(hook_count "$1" "$2")" -ge 1 ] 2>/dev/null; }

incident_id() {  # ACCOUNT: the id of its open incident
  json_get "$(ctl_json incidents --open)" "[i['id'] for i in d['incidents'] if i['account'] == '$1'][0]" 2>/dev/null
}
incident_get() {  # ID PY_EXPR over d = the incident
  local out; out=$(ctl_json incident "$1") || return 1
  json_get "$out" "(lambda d: $2)(d['incident'])"
}
fx_state() { incident_get "$1" "d['effects'].get('$2', {}).get('state', 'none')" 2>/dev/null; }
fx_is() { [ "$(fx_state "$1" "$2")" = "$3" ]; }
status_get() { json_get "$(ctl_json status)" "(lambda c: $1)(d['containment'])" 2>/dev/null; }

if start_mailfuse; then tap_ok "mailfuse serve starts; ctl status answers"
else diag_file "$LOG" 30; diag_file "$T/ctl.err"; bail "mailfuse serve starts; ctl status answers"; fi

if POLICY="inet:127.0.0.1:$PP" POLICY_STAGES="rcpt eod" POLICY_TIMEOUT=10s POLICY_DEFAULT_ACTION=DUNNO \
   DENY_FILE="$DENY" timeout 120 "$BED" up "$T/bed" > "$T/up.log" 2>&1; then
  BED_UP=1; tap_ok "bed up (Postfix + Dovecot with a deny passdb on $DENY, policy at rcpt and eod)"
else
  BED_UP=1; diag_file "$T/up.log" 30; bail "bed up (Postfix + Dovecot with a deny passdb, policy at rcpt and eod)"
fi

# ---------------------------------------------------------------- 1. backlog
if timeout 30 "$BED" sink-stop "$T/bed" > "$T/sink.log" 2>&1; then tap_ok "bed.sh sink-stop: mail to other domains defers"
else diag_file "$T/sink.log"; bail "bed.sh sink-stop"; fi

out=$(send_json alice alicepw "$BACKLOG_A" --to-external --ext-domain example.com)
A_IDS=($(qids_of "$out"))
tap_check "alice: $BACKLOG_A messages below the limit accepted (queued as ${A_IDS[*]:-none})" \
  [ "$(accepted_of "$out")" = "$BACKLOG_A" ] && [ "${#A_IDS[@]}" = "$BACKLOG_A" ] || diag "$(replies_of "$out")"
out=$(send_json carol carolpw "$BACKLOG_C" --to-external --ext-domain example.org)
C_IDS=($(qids_of "$out"))
tap_check "carol: $BACKLOG_C messages accepted (queued as ${C_IDS[*]:-none})" \
  [ "$(accepted_of "$out")" = "$BACKLOG_C" ] && [ "${#C_IDS[@]}" = "$BACKLOG_C" ] || diag "$(replies_of "$out")"
tap_check "the backlog sits in the deferred queue (sink down)" wait_until 30 ids_in deferred "${A_IDS[@]}" "${C_IDS[@]}" ||
  diag "queue: $(queue_lines)"

# ---------------------------------------------------------------- 2. an open IMAP session
"$BED" hold alice alicepw --seconds 60 --ready < /dev/null > "$T/hold.out" 2> "$T/hold.err" &
HOLDPID=$!
tap_check "alice: an IMAP session is open (imap.py hold --ready)" wait_until 15 grep -qx READY "$T/hold.out" ||
  { diag_file "$T/hold.out"; diag_file "$T/hold.err"; }

# ---------------------------------------------------------------- 3. the burst
# One SMTP session (AUTH once) of 4 messages of 4 external recipients each: the 1st
# recipient of the 1st message is one past the limit (the backlog used it up).  The later
# messages of the same session are her next submissions: past AUTH, so only mailfuse
# can refuse them (a new session may meet the deny file at AUTH first).
out=$(send_json alice alicepw 4 --to-external --ext-domain example.net --rcpts 4 --per-conn 4)
tap_check "alice's burst crosses ext-rcpts: no message accepted, 5xx 5.7.1 ... mailfuse ... suspended" refused_suspended "$out" ||
  diag "$(all_replies "$out")"
diag "burst replies: $(all_replies "$out" | sed -E 's/rcpt[0-9]+-[0-9]+@/rcptN@/' | sort -u | tr '\n' ';')"
tap_check "alice's suspend reply names the limit (ext-rcpts)" \
  bash -c 'grep -Eq "5[0-9][0-9] 5\.7\.1 .*mailfuse.*ext-rcpts" <<<"$1"' _ "$(all_replies "$out")" || diag "$(all_replies "$out")"
nxt=$(json_get "$out" '" | ".join("%s %s %s" % (m["outcome"], m["code"], m["text"]) for m in d["per_message"][1:])' 2>/dev/null)
tap_check "alice: her next submissions (messages 2-4 of the session) are refused: 554 5.7.1 ... mailfuse ... suspended" \
  [ "$(json_get "$out" 'sum(1 for m in d["per_message"][1:] if m["outcome"] == "rejected" and m["code"] == 554 and "5.7.1" in m["text"] and "mailfuse" in m["text"] and "suspended" in m["text"])' 2>/dev/null)" = 3 ] ||
  diag "$nxt"
diag "next submission: $(cut -d'|' -f1 <<<"$nxt")"
out=$(send_json alice alicepw 1 --to-external --ext-domain example.com)
tap_check "alice: a new SMTP session is refused too (AUTH 535 by the deny file, or 5.7.1 by mailfuse)" refused_any "$out" ||
  diag "$(all_replies "$out")"
diag "new session: $(all_replies "$out" | grep -v '^CONNECT' | tr '\n' ';')"
[ "$(json_get "$(ctl_json show alice)" 'd["state"]' 2>/dev/null)" = suspended ] || diag "ctl show alice: $(ctl_json show alice)"

tap_check "deny file lists alice and alice@example.edu" wait_until 15 bash -c 'grep -qx alice "$1" && grep -qx alice@example.edu "$1"' _ "$DENY" ||
  { diag_file "$DENY"; diag "$(grep -E 'deny_file|effect' "$LOG" | tail -5)"; }
sleep 1.1   # Dovecot stats the file at most once a second
tap_check "alice: IMAP login refused" imap_refused alice alicepw || diag_file "$T/imap.out"

hold_gone() { ! kill -0 "$HOLDPID" 2>/dev/null; }
if wait_until 20 hold_gone; then wait "$HOLDPID" 2>/dev/null; fi
HOLDPID_OLD=$HOLDPID; HOLDPID=""
hj=$(grep '^{' "$T/hold.out" | tail -1)
tap_check "alice: the open IMAP session was closed by the server (kick_command)" \
  [ "$(json_get "$hj" '(d["logged_in"], d["closed_by_server"])' 2>/dev/null)" = '[true, true]' ] ||
  { diag "hold: ${hj:-no JSON}"; diag_file "$T/hold.err"; kill -0 "$HOLDPID_OLD" 2>/dev/null && { HOLDPID=$HOLDPID_OLD; stop_pid "$HOLDPID"; HOLDPID=""; }; }
diag "hold session: $hj"

AID=$(incident_id alice@example.edu)
tap_check "ctl incidents --open: an incident for alice@example.edu (id ${AID:-none})" [ -n "$AID" ] ||
  diag "$(ctl_json incidents)"
tap_check "ctl incidents (text) lists it" bash -c 'grep -q "alice@example.edu" <<<"$1"' _ "$(ctl incidents)" || diag "$(ctl incidents)"
AID=${AID:-0}

tap_check "alice's $BACKLOG_A deferred messages are now on hold (queue_name hold)" wait_until 20 ids_in hold "${A_IDS[@]}" ||
  { diag "queue: $(queue_lines)"; diag "$(grep -E 'queue_hold|effect' "$LOG" | tail -5)"; }
tap_check "exactly $BACKLOG_A messages of alice@example.edu on hold, none of hers elsewhere in the queue" \
  [ "$(held_of alice@example.edu)" = "$BACKLOG_A" ] && [ "$(queue_lines | awk '$3 == "alice@example.edu"' | wc -l)" = "$BACKLOG_A" ] ||
  diag "queue: $(queue_lines)"
tap_check "carol's messages were not held (still deferred)" ids_in deferred "${C_IDS[@]}" || diag "queue: $(queue_lines)"

fx_settled() { fx_is "$AID" deny_file ok && fx_is "$AID" kick ok && fx_is "$AID" queue_hold ok; }
tap_check "ctl --json incident $AID: effects deny_file, kick, queue_hold ok" wait_until 15 fx_settled ||
  diag "$(incident_get "$AID" 'd["effects"]')"
tap_check "ctl --json incident $AID: level suspend, held $BACKLOG_A, a trail" \
  [ "$(incident_get "$AID" '(d["level"], d["held"], len(d["trail"]) > 0)')" = "[\"suspend\", $BACKLOG_A, true]" ] ||
  diag "$(ctl_json incident "$AID")"

out=$(send_json bob bobpw 1 --to-external --ext-domain example.com)
B_IDS=($(qids_of "$out"))
tap_check "bob (not suspended) still sends (accepted as ${B_IDS[*]:-none})" [ "$(accepted_of "$out")" = 1 ] || diag "$(replies_of "$out")"
tap_check "bob (not suspended) still logs in over IMAP" imap_login bob bobpw || diag_file "$T/imap.out"

tap_check "webhook: an \"incident\" event for alice@example.edu arrived" wait_until 20 hook_seen incident alice@example.edu ||
  { diag_file "$HOOKS"; diag_file "$T/webhook.err"; diag "$(grep -E 'webhook|incident' "$LOG" | tail -5)"; }
sleep 2   # a duplicate would come within the next ticks
tap_check "webhook: exactly one \"incident\" event for alice@example.edu" [ "$(hook_count incident alice@example.edu)" = 1 ] ||
  diag_file "$HOOKS"
tap_check "e-mail alert: through the bed's sendmail into bob's mailbox, with the reason and the release command" \
  wait_until 30 bash -c 'f=$(grep -ls "^Subject: \[mailfuse\] alice@example.edu suspended" "$1"/bed/mail/bob/Maildir/new/* 2>/dev/null | head -1) &&
    grep -q "ext-rcpts" "$f" && grep -q "mailfuse ctl release alice@example.edu --release-held" "$f"' _ "$T" ||
  { diag "$(ls "$T"/bed/mail/bob/Maildir/new/ 2>&1)"; diag "$(grep -E 'email' "$LOG" | tail -3)"; }
AH="[b for b in L if b.get('event') == 'incident' and b.get('account') == 'alice@example.edu'][0]"
tap_check "webhook: level suspend, id $AID, held $BACKLOG_A, by mailfuse, client 127.0.0.1 not blocked (loopback)" \
  [ "$(hooks_py "($AH['level'], $AH['id'], $AH['held'], $AH['by'], $AH['client'], $AH['client_blocked'])" 2>/dev/null)" = \
    "[\"suspend\", $AID, $BACKLOG_A, \"mailfuse\", \"127.0.0.1\", false]" ] ||
  diag "$(hooks_py "$AH" 2>&1)"
tap_check "webhook: the reason names the limit (ext-rcpts)" bash -c 'grep -q ext-rcpts <<<"$1"' _ "$(hooks_py "$AH['reason']" 2>/dev/null)" ||
  diag "reason: $(hooks_py "$AH['reason']" 2>&1)"
tap_check "webhook: top_domains has example.com" \
  [ "$(hooks_py "'example.com' in [t['domain'] for t in $AH['top_domains']]" 2>/dev/null)" = true ] ||
  diag "top_domains: $(hooks_py "$AH['top_domains']" 2>&1)"
tap_check "webhook: release_command, effects, counts, queue_ids, senders, host, time present" \
  [ "$(hooks_py "('release' in $AH['release_command'] and 'alice@example.edu' in $AH['release_command'], sorted(k for k in ('effects','counts','queue_ids','senders','host','time','opened','client','refused','clients','client_blocked') if k in $AH))" 2>/dev/null)" = \
    '[true, ["client", "client_blocked", "clients", "counts", "effects", "host", "opened", "queue_ids", "refused", "senders", "time"]]' ] ||
  diag "$(hooks_py "$AH" 2>&1)"
tap_check "webhook: top_domains counts example.com $BACKLOG_A times (one recipient in each of her $BACKLOG_A messages, seen live and in the queue: counted once)" \
  [ "$(hooks_py "[t['count'] for t in $AH['top_domains'] if t['domain'] == 'example.com']" 2>/dev/null)" = "[$BACKLOG_A]" ] ||
  diag "top_domains $(hooks_py "$AH['top_domains']" 2>&1); counts (messages m/h/d, external m/h/d) $(hooks_py "$AH['counts']" 2>&1)"
diag "webhook body (alice): $(hooks_py "$AH" 2>/dev/null | cut -c1-900)"
tap_check "mailfuse log: one incident line for alice (event=incident)" \
  [ "$(grep -c 'incident event=incident .*account=alice@example.edu' "$LOG")" = 1 ] || diag "$(grep 'incident event=' "$LOG")"

# ---------------------------------------------------------------- 4. failing effects (carol)
touch "$T/postsuper.fail" "$T/webhook.fail"
CHATTR_OK=0
if chattr +i "$DENYDIR" 2> "$T/chattr.err"; then
  if touch "$DENYDIR/probe" 2>/dev/null; then rm -f "$DENYDIR/probe"; chattr -i "$DENYDIR"; CHATTR_WHY="chattr +i did not stop root from writing"
  else CHATTR_OK=1; fi
else CHATTR_WHY="chattr +i failed: $(head -c 200 "$T/chattr.err")"; fi
[ "$CHATTR_OK" = 1 ] || diag "deny file failure not tested: $CHATTR_WHY"

out=$(ctl_json suspend carol --reason "failure drill")
tap_check "ctl suspend carol (postsuper failing, webhook 503, deny dir immutable)" \
  [ "$(json_get "$out" '(d["ok"], d["state"])' 2>/dev/null)" = '[true, "suspended"]' ] || diag "got: $out"
CID=$(incident_id carol@example.edu); CID=${CID:-0}
out=$(send_json carol carolpw 1 --to-external --ext-domain example.org)
tap_check "carol: submission refused (5xx 5.7.1 ... mailfuse) while effects fail" refused_suspended "$out" || diag "$(all_replies "$out")"

st_hold_failed() { [ "$(status_get 'c["effects"]["queue_hold"]["failed"] > 0')" = true ]; }
st_hook_failed() { [ "$(status_get 'c["effects"]["webhook"]["failed"] > 0')" = true ]; }
st_deny_error() { [ "$(status_get 'c["deny_file"]["error"] != ""')" = true ]; }
tap_check "ctl status: containment.effects.queue_hold failed > 0" wait_until 15 st_hold_failed || diag "$(status_get c)"
tap_check "ctl status: containment.effects.webhook failed > 0" wait_until 15 st_hook_failed || diag "$(status_get c)"
if [ "$CHATTR_OK" = 1 ]; then
  tap_check "ctl status: containment.deny_file.error is set" wait_until 15 st_deny_error || diag "$(status_get c)"
  diag "deny_file error: $(status_get 'c["deny_file"]["error"]')"
else
  tap_skip "ctl status: containment.deny_file.error is set" "$CHATTR_WHY"
fi
tap_check "ctl status: containment.retrying > 0" [ "$(status_get 'c["retrying"] > 0')" = true ] || diag "$(status_get c)"
fx_err_is() {  # ID FX STATE WORD: the effect's state, and WORD in its error
  local v; v=$(incident_get "$1" "(d['effects'].get('$2', {}).get('state'), d['effects'].get('$2', {}).get('error', ''))" 2>/dev/null)
  [ "$(json_get "$v" 'd[0]' 2>/dev/null)" = "$3" ] && grep -q -- "$4" <<<"$(json_get "$v" 'd[1]' 2>/dev/null)"
}
tap_check "incident $CID: queue_hold \"retrying\" with postsuper-wrap's error" wait_until 10 fx_err_is "$CID" queue_hold retrying 'failing on purpose' ||
  diag "$(incident_get "$CID" 'd["effects"]')"
tap_check "incident $CID: webhook \"retrying\" with error HTTP 503" wait_until 10 fx_err_is "$CID" webhook retrying 503 ||
  diag "$(incident_get "$CID" 'd["effects"]')"
if [ "$CHATTR_OK" = 1 ]; then
  tap_check "incident $CID: deny_file \"retrying\" with an error" wait_until 10 fx_err_is "$CID" deny_file retrying . ||
    diag "$(incident_get "$CID" 'd["effects"]')"
  tap_check "deny file does not list carol yet (its directory is immutable)" bash -c '! grep -qx carol "$1"' _ "$DENY" || diag_file "$DENY"
else
  tap_skip "incident $CID: deny_file \"retrying\" with an error" "$CHATTR_WHY"
  tap_skip "deny file does not list carol yet (its directory is immutable)" "$CHATTR_WHY"
fi
diag "carol's effects while failing: $(incident_get "$CID" '{k: (v["state"], v["attempts"], v["error"]) for k, v in d["effects"].items()}' 2>/dev/null)"
tap_check "mailfuse log: effect_failed lines for queue_hold and webhook" \
  bash -c 'grep -q "effect_failed what=queue_hold .*account=carol@example.edu" "$1" && grep -q "effect_failed what=webhook .*account=carol@example.edu" "$1"' _ "$LOG" ||
  diag "$(grep effect_failed "$LOG" | tail -5)"
tap_check "carol's messages are not on hold yet (still deferred)" ids_in deferred "${C_IDS[@]}" || diag "queue: $(queue_lines)"
tap_check "webhook receiver: no event for carol accepted yet" [ "$(hook_count incident carol@example.edu)" = 0 ] || diag_file "$HOOKS"
tap_check "carol: still suspended while effects fail (ctl show)" [ "$(json_get "$(ctl_json show carol)" 'd["state"]' 2>/dev/null)" = suspended ] ||
  diag "$(ctl_json show carol)"

# from here until the effects have recovered, a watcher samples carol's state (bounded)
( for ((i = 0; i < 400; i++)); do
    [ -e "$T/watch.stop" ] && break
    s=$(timeout 5 "$MAILFUSE" ctl -c "$CONF" --json show carol 2>/dev/null | "$TEST_PY" -c 'import json,sys; print(json.load(sys.stdin).get("state"))' 2>/dev/null)
    echo "${s:-?}"
    sleep 0.1
  done > "$T/watch.out" ) &
WATCHPID=$!

rm -f "$T/postsuper.fail" "$T/webhook.fail"
[ "$CHATTR_OK" = 1 ] && chattr -i "$DENYDIR"
TR=$(date +%s%N)
hold_recovered() { fx_is "$CID" queue_hold ok && ids_in hold "${C_IDS[@]}"; }
tap_check "failures removed: queue_hold becomes ok, carol's $BACKLOG_C messages on hold" wait_until 40 hold_recovered ||
  { diag "$(incident_get "$CID" 'd["effects"]')"; diag "queue: $(queue_lines)"; }
diag "queue_hold recovered after $(( ($(date +%s%N) - TR) / 1000000 )) ms"
tap_check "failures removed: the deny file lists carol" wait_until 40 deny_lists carol || diag_file "$DENY"
diag "deny file recovered after $(( ($(date +%s%N) - TR) / 1000000 )) ms"
tap_check "failures removed: the webhook receiver got carol's \"incident\" event" wait_until 40 hook_seen incident carol@example.edu ||
  { diag_file "$HOOKS"; diag "$(incident_get "$CID" 'd["effects"]')"; }
diag "webhook recovered after $(( ($(date +%s%N) - TR) / 1000000 )) ms"
fx_all_ok() { fx_is "$CID" queue_hold ok && fx_is "$CID" webhook ok && fx_is "$CID" deny_file ok; }
carol_ok() { fx_all_ok && [ "$(incident_get "$CID" 'd["held"]' 2>/dev/null)" = "$BACKLOG_C" ]; }
tap_check "incident $CID: queue_hold, deny_file, webhook ok, held $BACKLOG_C" wait_until 10 carol_ok ||
  diag "$(incident_get "$CID" '(d["held"], d["effects"])')"
# doveadm kick exits 68 ("no users kicked") when there is no session: not a failure
tap_check "carol had no IMAP session: her kick is ok all the same (doveadm kick exit 68)" fx_is "$CID" kick ok || diag "kick: $(incident_get "$CID" 'd["effects"].get("kick")' 2>&1)"
diag "doveadm kick of a user without a session: $(timeout 20 "$BED" kick "$T/bed" dave 2>&1 | tr '\n' ' '; echo "exit ${PIPESTATUS[0]}")"
sleep 1.1   # Dovecot re-reads the deny file
tap_check "carol: IMAP login refused" imap_refused carol carolpw || diag_file "$T/imap.out"
out=$(send_json carol carolpw 1 --to-external --ext-domain example.org)
tap_check "carol: submission still refused after the recovery (AUTH 535: deny file, or 5.7.1)" refused_any "$out" || diag "$(all_replies "$out")"
touch "$T/watch.stop"
wait_until 10 bash -c '! kill -0 "$1" 2>/dev/null' _ "$WATCHPID"; stop_pid "$WATCHPID"; WATCHPID=""
nsamp=$(grep -c . "$T/watch.out"); nsusp=$(grep -cx suspended "$T/watch.out")
tap_check "carol stayed suspended throughout ($nsusp of $nsamp samples of ctl show)" [ "$nsamp" -gt 0 ] && [ "$nsusp" = "$nsamp" ] ||
  diag "$(sort "$T/watch.out" | uniq -c)"
tap_check "ctl list: carol suspended (reason failure drill)" \
  [ "$(json_get "$(ctl_json list)" '[s["reason"] for s in d["suspended"] if s["account"] == "carol@example.edu"]' 2>/dev/null)" = '["failure drill"]' ] ||
  diag "$(ctl_json list)"

# ---------------------------------------------------------------- 5. sink back; release
if timeout 30 "$BED" sink-start "$T/bed" >> "$T/sink.log" 2>&1 && postqueue -c "$PFETC" -f 2>> "$T/sink.log"; then
  tap_ok "bed.sh sink-start; postqueue -f"
else diag_file "$T/sink.log"; tap_fail "bed.sh sink-start; postqueue -f"; fi
tap_check "bob's deferred message reaches the sink after the flush" wait_until 30 all_sent "${B_IDS[@]}" ||
  diag "$(grep -F "${B_IDS[0]:-NOQID}" "$MAILLOG" | tail -3)"
tap_check "the held messages of alice and carol did not reach the sink" none_sent "${A_IDS[@]}" "${C_IDS[@]}" ||
  diag "sent: $(sent_ids "${A_IDS[@]}" "${C_IDS[@]}")"
tap_check "... and are still on hold" ids_in hold "${A_IDS[@]}" "${C_IDS[@]}" || diag "queue: $(queue_lines)"

out=$(ctl_json release alice --release-held)
tap_check "ctl release alice --release-held" [ "$(json_get "$out" '(d["ok"], d["state"])' 2>/dev/null)" = '[true, "active"]' ] ||
  diag "got: $out"
diag "release: $out"
tap_check "alice's $BACKLOG_A held messages reach the sink (postsuper -H + postqueue -i by mailfuse, no flush)" \
  wait_until 30 all_sent "${A_IDS[@]}" || { diag "sent: $(sent_ids "${A_IDS[@]}")"; diag "queue: $(queue_lines)"; }
tap_check "no message of alice left on hold" [ "$(held_of alice@example.edu)" = 0 ] || diag "queue: $(queue_lines)"
tap_check "carol's messages stay on hold" ids_in hold "${C_IDS[@]}" || diag "queue: $(queue_lines)"
alice_closed() {
  [ "$(incident_get "$AID" '(d["closed"] != "", d["effects"].get("release_held", {}).get("state"), d["released_held"])' 2>/dev/null)" = "[true, \"ok\", $BACKLOG_A]" ]
}
tap_check "incident $AID: closed, release_held ok, released_held $BACKLOG_A" wait_until 10 alice_closed ||
  diag "$(ctl_json incident "$AID")"
out=$(send_json alice alicepw 1 --to-internal)
tap_check "alice released: she submits again (accepted)" [ "$(accepted_of "$out")" = 1 ] || diag "$(all_replies "$out")"
tap_check "deny file: alice gone, carol still there" wait_until 15 bash -c '! grep -qx alice "$1" && grep -qx carol "$1"' _ "$DENY" ||
  diag_file "$DENY"
sleep 1.1
tap_check "alice released: IMAP login works again" imap_login alice alicepw || diag_file "$T/imap.out"
tap_check "webhook: a \"released\" event for alice@example.edu" wait_until 15 hook_seen released alice@example.edu || diag_file "$HOOKS"
tap_check "ctl incidents --open: alice's incident is no longer open, carol's is" \
  [ "$(json_get "$(ctl_json incidents --open)" 'sorted(i["account"] for i in d["incidents"])' 2>/dev/null)" = '["carol@example.edu"]' ] ||
  diag "$(ctl_json incidents)"

# ---------------------------------------------------------------- 6. blocks (nftables)
out=$(ctl_json block 127.0.0.1 --for 60)
tap_check "ctl block 127.0.0.1 is refused (loopback is never blocked)" [ "$(json_get "$out" 'd["ok"]' 2>/dev/null)" = false ] ||
  diag "got: $out"
diag "block 127.0.0.1: $out"
if [ -n "$NFT_SET_CONF" ]; then
  in_set() { nft list set inet "$NFT_TABLE" b4 2>/dev/null | grep -q "$BLOCK_IP"; }
  in_set_timeout() { nft list set inet "$NFT_TABLE" b4 2>/dev/null | grep -Eq "$BLOCK_IP timeout [0-9]"; }
  out=$(ctl_json block "$BLOCK_IP" --for 60)
  tap_check "ctl block $BLOCK_IP --for 60" [ "$(json_get "$out" 'd["ok"]' 2>/dev/null)" = true ] || diag "got: $out"
  tap_check "nft set $NFT_SET_CONF has $BLOCK_IP with a timeout" wait_until 10 in_set_timeout ||
    { diag "$(nft list set inet "$NFT_TABLE" b4 2>&1)"; diag "$(grep -E 'nft|block' "$LOG" | tail -5)"; }
  diag "$(nft list set inet "$NFT_TABLE" b4 2>&1 | grep -E 'elements' | head -2)"
  tap_check "ctl blocks lists $BLOCK_IP" bash -c 'grep -q "$1" <<<"$2"' _ "$BLOCK_IP" "$(ctl_json blocks)" || diag "$(ctl_json blocks)"
  out=$(ctl_json unblock "$BLOCK_IP")
  tap_check "ctl unblock $BLOCK_IP" [ "$(json_get "$out" 'd["ok"]' 2>/dev/null)" = true ] || diag "got: $out"
  tap_check "nft set no longer has $BLOCK_IP" wait_until 10 bash -c '! nft list set inet "$1" b4 2>/dev/null | grep -q "$2"' _ "$NFT_TABLE" "$BLOCK_IP" ||
    diag "$(nft list set inet "$NFT_TABLE" b4 2>&1)"
  st=$(status_get 'c["effects"].get("nft_block", {})')
  tap_check "ctl status: nft_block effects ok 2, failed 0" [ "$(json_get "$st" '(d.get("ok"), d.get("failed"))' 2>/dev/null)" = '[2, 0]' ] || diag "$st"
else
  tap_skip "nftables block/unblock" "$NFT_WHY"
fi

# ---------------------------------------------------------------- 7. release after review: delete the held mail
out=$(ctl_json release carol --delete-held)
tap_check "ctl release carol --delete-held" [ "$(json_get "$out" 'd["ok"]' 2>/dev/null)" = true ] || diag "got: $out"
carol_gone() { [ "$(held_of carol@example.edu)" = 0 ] && ! grep -qE "^[a-z]+ ($(IFS='|'; echo "${C_IDS[*]}")) " <<<"$(queue_lines)"; }
tap_check "carol's $BACKLOG_C held messages are deleted from the queue (postsuper -d by mailfuse)" wait_until 30 carol_gone ||
  diag "queue: $(queue_lines)"
tap_check "and never reached the sink" none_sent "${C_IDS[@]}" || diag "sent: $(sent_ids "${C_IDS[@]}")"
carol_closed() {
  [ "$(incident_get "$CID" '(d["closed"] != "", d["effects"].get("delete_held", {}).get("state"), d["deleted_held"])' 2>/dev/null)" = "[true, \"ok\", $BACKLOG_C]" ]
}
carol_audited() {
  carol_closed && incident_get "$CID" '[t["what"] for t in d["trail"] if t["who"].startswith("ctl:")]' 2>/dev/null |
    grep -q "held mail deleted"
}
tap_check "incident $CID: closed, delete_held ok, deleted_held $BACKLOG_C, the release in the trail by ctl" \
  wait_until 10 carol_audited || diag "$(ctl_json incident "$CID")"

# ---------------------------------------------------------------- logs and counters
tap_check "webhook: one \"incident\" event each for alice and carol in the whole run" \
  [ "$(hook_count incident alice@example.edu) $(hook_count incident carol@example.edu)" = "1 1" ] || diag_file "$HOOKS"
mf_final_checks
