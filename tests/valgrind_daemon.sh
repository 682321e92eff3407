#!/usr/bin/env bash
# valgrind_daemon.sh - run `mailfuse serve` under valgrind through a short
# session (requests, a throttle, a suspension with its containment effects,
# some failing and retried, auth policy requests, bad input, ctl, reload,
# SIGTERM) and check that valgrind saw no memory errors and no leaks. TAP.
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
MF=${MAILFUSE:-$REPO/build/mailfuse}
T=$(mktemp -d /tmp/mf-vg.XXXXXX)
trap 'kill -9 $pid 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
cat > "$T/m.conf" <<CONF
listen = [ "unix:$T/policy.sock" ];
control_socket = "$T/ctl.sock";
state_dir = "$T/state";
local_domains = [ "example.edu" ];
flush_interval = 0.2;
dovecot_deny_file = "$T/deny";
kick_command = [ "/bin/true", "%a" ];
postqueue_command = "$T/no-postqueue";
webhook_url = "http://127.0.0.1:9/hook";
retry_interval = 0.2;
effect_retries = 2;
webhook_retries = 1;
auth_listen = [ "inet:127.0.0.1:0" ];
limits = (
  { name = "m"; per = "account"; count = "messages"; window = "minute"; max = 5; action = "throttle"; },
  { name = "s"; per = "account"; count = "external_recipients"; window = "hour"; max = 8; action = "suspend"; }
);
CONF
valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=42 \
  --log-file="$T/vg.log" "$MF" serve -c "$T/m.conf" 2>"$T/daemon.log" &
pid=$!
for _ in $(seq 100); do [ -S "$T/ctl.sock" ] && break; sleep 0.1; done
PYTHONPATH="$REPO/tests/lib" python3 - "$T/policy.sock" <<'PY' >"$T/client.log" 2>&1
import sys, socket
import policy_client as pc
s = pc.connect(sys.argv[1])
for i in range(12):
    pc.message(s, "alice", f"a{i}", rcpts=("x@example.net", "y@example.edu"))
for i in range(10):
    pc.message(s, "bob", f"b{i}", rcpts=("x@example.net",), client_address="198.51.100.1")
pc.ask(s, sasl_username="", instance="n")
for junk in (b"\x00\x01garbage\n\n", b"x" * 5000, b"request=smtpd_access_policy\n" * 200):
    j = pc.connect(sys.argv[1]); j.sendall(junk); j.close()
h = pc.connect(sys.argv[1]); h.sendall(b"request=smtpd_access_policy\nsasl_user"); h.close()
print("client done")
PY
"$MF" ctl -s "$T/ctl.sock" status >/dev/null
"$MF" ctl -s "$T/ctl.sock" show alice >/dev/null
"$MF" ctl -s "$T/ctl.sock" suspend carol --reason vg >/dev/null
"$MF" ctl -s "$T/ctl.sock" list >/dev/null
"$MF" ctl -s "$T/ctl.sock" incidents >/dev/null
"$MF" ctl -s "$T/ctl.sock" incident 1 >/dev/null
"$MF" ctl -s "$T/ctl.sock" block 198.51.100.99 --for 60 >/dev/null
"$MF" ctl -s "$T/ctl.sock" blocks >/dev/null
"$MF" ctl -s "$T/ctl.sock" unblock 198.51.100.99 >/dev/null
sleep 1 # the failing queue hold and webhook are retried meanwhile
"$MF" ctl -s "$T/ctl.sock" release carol --release-held >/dev/null
"$MF" ctl -s "$T/ctl.sock" release bob --delete-held >/dev/null 2>&1 # refused: not suspended
port=$(grep -o 'auth_port=[0-9]*' "$T/daemon.log" | grep -o '[0-9]*$' | head -1)
if [ -n "$port" ]; then
  for i in 1 2 3 4 5 6 7; do
    curl -s -m 5 -X POST "http://127.0.0.1:$port/?command=allow" -d '{"login":"dave","remote":"203.0.113.5","protocol":"imap"}' >/dev/null
    curl -s -m 5 -X POST "http://127.0.0.1:$port/?command=report" -d '{"login":"dave","remote":"203.0.113.5","success":false}' >/dev/null
  done
  curl -s -m 5 -X POST "http://127.0.0.1:$port/?command=allow" -d '{not json' >/dev/null
fi
echo 'bad key' >> "$T/m.conf"; kill -HUP $pid; sleep 1
kill -TERM $pid
for _ in $(seq 200); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
wait $pid; rc=$?
echo "# valgrind exit status $rc"
sed 's/^/# /' "$T/vg.log" | head -n 40
if [ "$rc" = 0 ] && ! grep -q "ERROR SUMMARY: [1-9]" "$T/vg.log"; then
  echo "ok 1 - mailfuse serve under valgrind: no memory errors, no leaks"
else
  echo "not ok 1 - mailfuse serve under valgrind: no memory errors, no leaks"
fi
grep -q "client done" "$T/client.log" && echo "ok 2 - the session ran" || { echo "not ok 2 - the session ran"; sed 's/^/# /' "$T/client.log"; }
grep -q reload_refused "$T/daemon.log" && echo "ok 3 - a bad reload was refused" || echo "not ok 3 - a bad reload was refused"
grep -q "auth_decision.*answer=delay" "$T/daemon.log" && echo "ok 4 - auth policy requests were answered (a delay)" ||
  echo "not ok 4 - auth policy requests were answered (a delay)"
grep -q "incident event=incident" "$T/daemon.log" && grep -q "effect_failed what=webhook" "$T/daemon.log" &&
  echo "ok 5 - an incident with a failing, retried effect ran" || echo "not ok 5 - an incident with a failing, retried effect ran"
echo "1..5"
