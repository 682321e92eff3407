#!/usr/bin/env python3
"""login_guard_client.py - helper of tests/integration/login_guard.sh.

  login_guard_client.py history OUT --accounts alice,bob --ip 198.51.100.7 [--days 21] [--seed 6]
      writes a log (RFC 3339, UTC) of the accounts' past: per day 3-5 submissions through
      Postfix from IP to example.edu and partner.example, and 1-2 Dovecot IMAP logins
      from IP.  Days are counted back from now (day k = now - k*24h - up to 8 h), so the
      newest line is more than a day old and every line falls in the hours around the
      current time of day.  Prints "messages=N logins=N lines=N" (per account messages).

  login_guard_client.py attempts --port P --ip IP (--user U | --users U1,U2,... | --user-range PFX:A:B)
                                  --password PW [--count N] [--parallel W] [--budget S] [--timeout S]
      IMAP logins one after the other, each on its own connection, claiming IP with the
      IMAP ID x-originating-ip (Dovecot honours it from login_trusted_networks).  --password
      "@user" uses "<user>pw" (the bed's passwords).  Prints one JSON object per attempt:
      {"i", "user", "result": "OK"|"NO"|"ERROR", "text", "secs", "t"} (secs: the LOGIN command
      alone; t: when it ended, from the start), then a summary object
      {"summary": true, "done", "ok", "no", "error", "secs"}.  Stops early when --budget
      seconds are spent (bounded in count and time).

Everything talks to 127.0.0.1 only.
"""
import argparse
import imaplib
import json
import random
import socket
import sys
import threading
import time

imaplib.Commands.setdefault("ID", ("NONAUTH", "AUTH", "SELECTED", "LOGOUT"))


def history(args):
    accts = [a for a in args.accounts.split(",") if a]
    r = random.Random(args.seed)
    now = int(time.time())
    out = []
    pid = [3000]
    qn = [0x4B000]

    def stamp(t):
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06d+00:00" % (int(t * 1e6) % 1000000)

    def line(t, prog, msg):
        pid[0] += 1
        out.append((t, "%s mx1 %s[%d]: %s" % (stamp(t), prog, pid[0], msg)))

    ip = args.ip
    nmsg = {a: 0 for a in accts}
    nlog = {a: 0 for a in accts}
    for a in accts:
        for day in range(args.days, 0, -1):
            d0 = now - day * 86400
            for _ in range(r.randint(1, 2)):
                t = d0 - r.randint(0, 8 * 3600) - r.random()
                sess = "%012x" % r.randrange(16 ** 12)
                line(t, "dovecot", "imap-login: Login: user=<%s>, method=PLAIN, rip=%s, lip=10.0.0.25, "
                     "mpid=%d, TLS, session=<%s>" % (a, ip, r.randrange(1000, 60000), sess))
                nlog[a] += 1
            for _ in range(r.randint(3, 5)):
                t = d0 - r.randint(0, 8 * 3600) - r.random()
                qn[0] += r.randint(1, 40)
                q = "%05X%06X" % (qn[0], r.randrange(16 ** 6))
                others = [u for u in ("alice", "bob", "carol", "dave", "eve") if u != a]
                rc = ["%s@example.edu" % r.choice(others) if r.random() < 0.6
                      else "p%d@partner.example" % r.randrange(20) for _ in range(r.randint(1, 2))]
                line(t, "postfix/submission/smtpd", "connect from unknown[%s]" % ip)
                line(t, "postfix/submission/smtpd", "%s: client=unknown[%s], sasl_method=PLAIN, sasl_username=%s"
                     % (q, ip, a))
                line(t + 0.01, "postfix/cleanup", "%s: message-id=<%s@example.edu>" % (q, q.lower()))
                line(t + 0.02, "postfix/qmgr", "%s: from=<%s@example.edu>, size=%d, nrcpt=%d (queue active)"
                     % (q, a, r.randrange(900, 90000), len(rc)))
                line(t + 0.03, "postfix/submission/smtpd", "disconnect from unknown[%s] ehlo=1 auth=1 mail=1 "
                     "rcpt=%d data=1 quit=1 commands=6" % (ip, len(rc)))
                for i, x in enumerate(rc):
                    if x.endswith("@example.edu"):
                        line(t + 0.05 + i / 1000, "postfix/lmtp", "%s: to=<%s>, relay=mx1.example.edu[private/dovecot-lmtp], "
                             "delay=0.05, delays=0.02/0/0.01/0.02, dsn=2.0.0, status=sent (250 2.0.0 <%s> Saved)" % (q, x, x))
                    else:
                        line(t + 0.4 + i / 1000, "postfix/smtp", "%s: to=<%s>, relay=mx.partner.example[192.0.2.25]:25, "
                             "delay=0.4, delays=0.02/0/0.1/0.28, dsn=2.0.0, status=sent (250 2.0.0 Ok)" % (q, x))
                line(t + 0.5, "postfix/qmgr", "%s: removed" % q)
                nmsg[a] += 1
    out.sort(key=lambda x: x[0])
    with open(args.out, "w") as f:
        f.writelines(l + "\n" for _, l in out)
    print("messages=%s logins=%s lines=%d" % (
        ",".join("%s:%d" % (a, nmsg[a]) for a in accts), ",".join("%s:%d" % (a, nlog[a]) for a in accts), len(out)))
    return 0


class IMAP(imaplib.IMAP4):
    def __init__(self, host, port, timeout):
        super().__init__(host, port, timeout=timeout)

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout)


def one_login(args, user, password):
    t0 = time.time()
    try:
        m = IMAP("127.0.0.1", args.port, args.timeout)
    except OSError as e:
        return "ERROR", "connect: %s" % e, time.time() - t0
    try:
        if args.ip:
            m._simple_command("ID", '("x-originating-ip" "%s" "name" "mailfuse-login-guard")' % args.ip)
        t0 = time.time()   # the login itself (ID is answered at once)
        try:
            typ, data = m.login(user, password)
        except imaplib.IMAP4.error as e:
            return "NO", str(e), time.time() - t0
        dt = time.time() - t0
        text = b" ".join(d for d in data if d).decode("utf-8", "replace")
        try:
            m.logout()
        except (OSError, imaplib.IMAP4.error, imaplib.IMAP4.abort):
            pass
        return typ, text, dt
    except (OSError, imaplib.IMAP4.abort) as e:
        return "ERROR", str(e), time.time() - t0
    finally:
        try:
            m.shutdown()
        except Exception:
            pass


def attempts(args):
    if args.user:
        users = [args.user] * args.count
    elif args.users:
        users = [u for u in args.users.split(",") if u][: args.count]
    else:
        pfx, a, b = args.user_range.split(":")
        users = ["%s%04d" % (pfx, i) for i in range(int(a), int(b) + 1)][: args.count]
    start = time.time()
    lock = threading.Lock()
    tally = {"OK": 0, "NO": 0, "ERROR": 0}
    todo = list(enumerate(users, 1))
    todo.reverse()

    def worker():
        while True:
            with lock:
                if not todo or time.time() - start > args.budget:
                    return
                i, u = todo.pop()
            pw = u + "pw" if args.password == "@user" else args.password
            typ, text, dt = one_login(args, u, pw)
            typ = typ if typ in tally else "ERROR"
            with lock:
                tally[typ] += 1
                print(json.dumps({"i": i, "user": u, "result": typ, "text": text, "secs": round(dt, 3),
                                  "t": round(time.time() - start, 3)}), flush=True)

    threads = [threading.Thread(target=worker) for _ in range(max(1, min(args.parallel, 32)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done = sum(tally.values())
    print(json.dumps({"summary": True, "done": done, "ok": tally["OK"], "no": tally["NO"], "error": tally["ERROR"],
                      "secs": round(time.time() - start, 3)}), flush=True)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("history")
    h.add_argument("out")
    h.add_argument("--accounts", required=True)
    h.add_argument("--ip", required=True)
    h.add_argument("--days", type=int, default=21)
    h.add_argument("--seed", type=int, default=6)
    a = sub.add_parser("attempts")
    a.add_argument("--port", type=int, required=True)
    a.add_argument("--ip")
    g = a.add_mutually_exclusive_group(required=True)
    g.add_argument("--user")
    g.add_argument("--users")
    g.add_argument("--user-range", help="PFX:A:B, e.g. user:1:200 -> user0001..user0200")
    a.add_argument("--password", required=True)
    a.add_argument("--count", type=int, default=1)
    a.add_argument("--budget", type=float, default=60.0, help="no attempt starts after this many seconds")
    a.add_argument("--parallel", type=int, default=1, help="concurrent connections (at most 32) [1]")
    a.add_argument("--timeout", type=float, default=30.0)
    args = ap.parse_args()
    if args.cmd == "attempts" and args.count > 1000:
        ap.error("--count is at most 1000")
    return history(args) if args.cmd == "history" else attempts(args)


if __name__ == "__main__":
    sys.exit(main())
