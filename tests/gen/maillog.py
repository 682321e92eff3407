#!/usr/bin/env python3
"""maillog.py - a seeded generator of realistic Postfix + Dovecot syslog lines.

A site of --accounts users sends mail on working days and hours (a few
messages a day each, mostly internal, some external), logs in over IMAP
from its usual addresses, with a sprinkle of failed logins and noise
(connect/disconnect, postscreen, cron). Incidents can be added:

  --burst ACCOUNT@HOUR      intruder logs in from a new address at that hour
                            (hours from the start), then ~140 messages a minute
                            for --burst-minutes minutes, external recipients

Output is year-less classic syslog (--format syslog, as Postfix's own
maillog_file writes) or RFC 3339 (--format iso). Lines are in time order.
Used by the replay tests and by bench/run_replay_bench.sh.

  maillog.py --seed 1 --accounts 200 --days 3 > site.log
"""
import argparse
import random
import sys
import time

DOMAIN = "example.edu"
EXT = ["gmail.com", "yahoo.com", "outlook.com", "uni-heidelberg.de", "example.net", "mail.ru",
       "free.fr", "web.de", "partner.org", "cnrs.fr"]


class Gen:
    def __init__(self, a):
        self.a = a
        self.r = random.Random(a.seed)
        self.qn = 0x10000
        self.pid = 1000
        self.users = [f"user{i:05d}" for i in range(a.accounts)]
        self.home = {u: f"10.{self.r.randrange(1, 250)}.{self.r.randrange(250)}.{self.r.randrange(1, 250)}"
                     for u in self.users}
        self.out = []

    def qid(self):
        self.qn += self.r.randrange(1, 50)
        return f"{self.qn:05X}{self.r.randrange(16**6):06X}"

    def stamp(self, t):
        if self.a.format == "iso":
            return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1e6) % 1000000:06d}+00:00"
        s = time.strftime("%b %d %H:%M:%S", time.gmtime(t))
        return s[:4] + (" " + s[5] if s[4] == "0" else s[4:6]) + s[6:]

    def line(self, t, prog, msg):
        self.pid = self.pid % 60000 + 1
        self.out.append((t, prog, self.pid, msg))

    def flush(self):
        """Write what was generated, in time order (one day at a time keeps memory small)."""
        self.out.sort(key=lambda x: x[0])
        w = sys.stdout.write
        for t, prog, pid, msg in self.out:
            w(f"{self.stamp(t)} mx1 {prog}[{pid}]: {msg}\n")
        self.out = []

    def message(self, t, user, ip, rcpts, sender=None):
        q = self.qid()
        sender = sender or f"{user}@{DOMAIN}"
        self.line(t, "postfix/submission/smtpd", f"connect from unknown[{ip}]")
        self.line(t, "postfix/submission/smtpd",
                  f"{q}: client=unknown[{ip}], sasl_method=PLAIN, sasl_username={user}@{DOMAIN}")
        self.line(t + 0.01, "postfix/cleanup", f"{q}: message-id=<{q.lower()}@{DOMAIN}>")
        self.line(t + 0.02, "postfix/qmgr", f"{q}: from=<{sender}>, size={self.r.randrange(900, 90000)}, "
                                              f"nrcpt={len(rcpts)} (queue active)")
        self.line(t + 0.03, "postfix/submission/smtpd",
                  f"disconnect from unknown[{ip}] ehlo=1 auth=1 mail=1 rcpt={len(rcpts)} data=1 quit=1 commands=6")
        for i, rc in enumerate(rcpts):
            if rc.endswith("@" + DOMAIN):
                self.line(t + 0.05 + i / 1000, "postfix/lmtp",
                          f"{q}: to=<{rc}>, relay=mx1.{DOMAIN}[private/dovecot-lmtp], delay=0.05, "
                          f"delays=0.02/0/0.01/0.02, dsn=2.0.0, status=sent (250 2.0.0 <{rc}> Saved)")
            else:
                self.line(t + 0.4 + i / 1000, "postfix/smtp",
                          f"{q}: to=<{rc}>, relay=mx.{rc.split('@')[1]}[192.0.2.{self.r.randrange(1, 250)}]:25, "
                          f"delay=0.4, delays=0.02/0/0.1/0.28, dsn=2.0.0, status=sent (250 2.0.0 Ok)")
        self.line(t + 0.5, "postfix/qmgr", f"{q}: removed")

    def login(self, t, user, ip, ok=True):
        sess = "".join(self.r.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij0123456789+/") for _ in range(16))
        if ok:
            self.line(t, "dovecot", f"imap-login: Login: user=<{user}@{DOMAIN}>, method=PLAIN, rip={ip}, "
                                    f"lip=192.0.2.1, mpid={self.r.randrange(2000, 60000)}, TLS, session=<{sess}>")
        else:
            self.line(t, "dovecot", f"imap-login: Disconnected: Connection closed (auth failed, 1 attempts "
                                    f"in 2 secs): user=<{user}@{DOMAIN}>, method=PLAIN, rip={ip}, "
                                    f"lip=192.0.2.1, TLS, session=<{sess}>")

    def rcpt(self, ext_share):
        if self.r.random() < ext_share:
            return f"p{self.r.randrange(100000)}@{self.r.choice(EXT)}"
        return f"{self.r.choice(self.users)}@{DOMAIN}"

    def normal_day(self, day0):
        r = self.r
        for u in self.users:
            for _ in range(r.randrange(0, 3)):
                self.login(day0 + r.uniform(7, 19) * 3600, u, self.home[u])
            n = 0 if r.random() < 0.3 else int(r.expovariate(1 / self.a.per_day))
            for _ in range(n):
                t = day0 + r.uniform(8, 18) * 3600
                k = 1 if r.random() < 0.8 else r.randrange(2, 6)
                self.message(t, u, self.home[u], [self.rcpt(0.3) for _ in range(k)])
        for _ in range(self.a.accounts // 20):
            self.login(day0 + r.uniform(0, 24) * 3600, r.choice(self.users),
                       f"203.0.113.{r.randrange(1, 250)}", ok=False)
        for _ in range(self.a.accounts * self.a.noise):
            t = day0 + r.uniform(0, 86400)
            self.line(t, "postfix/postscreen", f"CONNECT from [198.51.100.{r.randrange(1, 250)}]:{r.randrange(1024, 65535)} to [192.0.2.1]:25")
            self.line(t + 0.1, "CRON", "(root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)")

    def burst(self, t0, user, minutes):
        ip = f"198.18.{self.r.randrange(250)}.{self.r.randrange(1, 250)}"
        self.login(t0, user, ip)
        for i in range(140 * minutes):
            self.message(t0 + 60 + i * 60 / 140, user, ip, [self.rcpt(0.95)])

    def run(self):
        start = self.a.start
        bursts = [(b.split("@")[0], float(b.split("@")[1])) for b in self.a.burst]
        for d in range(self.a.days):
            self.normal_day(start + d * 86400)
            for acct, hour in bursts:
                if d * 24 <= hour < (d + 1) * 24:
                    self.burst(start + hour * 3600, acct, self.a.burst_minutes)
            self.flush()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--accounts", type=int, default=200)
    p.add_argument("--days", type=int, default=3)
    p.add_argument("--per-day", type=float, default=4.0, help="mean messages per active account per day")
    p.add_argument("--noise", type=int, default=1, help="noise lines per account per day")
    p.add_argument("--start", type=int, default=1795219200, help="unix time of the first day (UTC)")
    p.add_argument("--format", choices=["syslog", "iso"], default="syslog")
    p.add_argument("--burst", action="append", default=[], metavar="ACCOUNT@HOUR")
    p.add_argument("--burst-minutes", type=int, default=5)
    main_args = p.parse_args()
    Gen(main_args).run()


if __name__ == "__main__":
    main()
