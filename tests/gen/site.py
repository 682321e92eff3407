#!/usr/bin/env python3
"""site.py - a seeded generator of a whole site's mail logs, with incidents.

One merged, time-ordered stream on stdout, in the real formats, RFC 3339
stamps with "+00:00" (as rsyslog's RSYSLOG_FileFormat writes them):

  Postfix   submission (smtpd client=/sasl_username, cleanup, qmgr, smtp or
            lmtp per recipient, removed), inbound mail from other MTAs,
            deferrals retried later, bounces with their non-delivery notice,
            SASL failures
  Dovecot   imap-login Login / Disconnected (auth failed ...), Logged out
  Roundcube syslog form: "<sess> Successful login for U (ID: n) from IP in
            session S" and "Failed login for ..."

The site: --accounts users (user%05d@example.edu), --days of normal traffic
(the history a detector learns from), then --test-days on which the
incidents happen while normal traffic goes on.  Every account has a stable
personality: one to three /24 networks in 10.0.0.0/8 (its department's
office, its home, sometimes a mobile carrier), working hours and weekdays,
a daily volume (most 0-15 messages a day, a few heavier), a set of internal
colleagues, a personal set of external partner domains (some with foreign
country-code TLDs) and free-mail correspondents, IMAP or webmail habits,
and a sprinkle of typo'd passwords.  Webmail submits through Postfix from
localhost[127.0.0.1] with sasl_username; Roundcube's and Dovecot's login
lines carry the user's real address.

Addresses: users in 10.0.0.0/8; our servers 192.0.2.1 (IMAP) and
127.0.0.1 (webmail); remote MTAs in 192.0.2.0/24 and 2001:db8::/32;
intruders and the traveller in 203.0.113.0/24 and 198.51.100.0/24 (the
"foreign countries": no account ever used them before); background
password-guessing bots in 198.18.0.0/15.

Incidents (options; any combination; --all for every one).  Each prints one
JSON line of ground truth on stderr (scenario, kind, account, start,
first_malicious for attacks, client address, counts, and "before": what the
account legitimately sent before its first malicious message):

  --burst         two accounts; the intruder logs in over IMAP at night from a
                  new country, then ~140 messages a minute each for an hour,
                  mostly to free-mail and foreign domains never written to
  --slow-webmail  one account; Roundcube + Dovecot login from a new country,
                  then ~130 messages an hour, irregular, through webmail
                  (127.0.0.1), mostly free-mail and foreign, for a day
  --under-limit   one account; ~40 messages an hour day and night for two
                  days from a new network to domains never written to
                  (never reaches a hard limit of the example config)
  --spray         one address tries 300 accounts with a few wrong passwords
                  each (IMAP and SMTP AUTH), guesses one, and that account
                  sends ~100 messages in 30 minutes to new external domains
  --announcement  (legitimate) a staff account sends an announcement to 5,000
                  internal recipients (5 messages of 1,000: Postfix's default
                  smtpd_recipient_limit)
  --newsletter    (legitimate) newsletter@example.edu sends 20,000 newsletters
                  (one message per subscriber) every day, history included
  --travel        (legitimate) a user travelling abroad: logins and
                  submissions from a foreign address, hours shifted by the
                  time zone, otherwise as usual (volume, domains)
  --teacher       (legitimate) 300 individual messages in an hour to students,
                  many at free-mail addresses
  --returning     (legitimate) a user back from three months of leave: its
                  history is 104 to 91 days before the first test day, then
                  nothing until the test day

--timeline FILE writes every message of the attacked accounts as TSV
(unix time, account, recipients, external recipients, malicious 0/1), for
a test to count exactly what leaked before a containment.

Deterministic for a seed; the background traffic does not depend on which
incidents are chosen (each account-day has its own random stream).  Fast
enough for a CI run: ~3 million lines for the default site in well under a
minute.

  site.py --seed 1 --all --timeline tl.tsv > site.log 2> truth.jsonl
"""
import argparse
import base64
import bisect
import calendar
import json
import math
import random
import sys
import time

DOMAIN = "example.edu"
HOST = "mail1"
LIP = "192.0.2.1"
QMGR_PID = 1187
DAY = 86400

FREEMAIL = ["gmail.com", "googlemail.com", "yahoo.com", "yahoo.fr", "yahoo.co.uk", "outlook.com",
            "hotmail.com", "hotmail.fr", "live.com", "aol.com", "icloud.com", "gmx.de", "gmx.net",
            "web.de", "mail.ru", "yandex.ru", "qq.com", "163.com", "126.com", "naver.com", "free.fr",
            "orange.fr", "laposte.net", "libero.it", "seznam.cz", "wp.pl", "o2.pl", "t-online.de",
            "protonmail.com", "rediffmail.com", "yahoo.co.jp", "bol.com.br", "uol.com.br"]
# the site's own free-mail habits: people write to these (the first ones most)
FREEMAIL_COMMON = FREEMAIL[:12]

PARTNERS_GENERIC = ["mit.edu", "stanford.edu", "berkeley.edu", "umich.edu", "harvard.edu", "cmu.edu",
                    "cornell.edu", "nsf.gov", "nih.gov", "nasa.gov", "ieee.org", "acm.org",
                    "springer.com", "elsevier.com", "wiley.com", "arxiv.org", "zenodo.org",
                    "microsoft.com", "google.com", "amazon.com", "dell.com", "ibm.com", "oracle.com",
                    "redhat.com", "github.com", "zoom.us", "fedex.com", "travelagency.com"]
PARTNERS_CC = ["uni-heidelberg.de", "tu-berlin.de", "mpg.de", "fraunhofer.de", "dfg.de", "cnrs.fr",
               "inria.fr", "ethz.ch", "epfl.ch", "cern.ch", "kuleuven.be", "uva.nl", "tudelft.nl",
               "ox.ac.uk", "cam.ac.uk", "ucl.ac.uk", "utoronto.ca", "mcgill.ca", "unimelb.edu.au",
               "unibo.it", "polimi.it", "uam.es", "ku.dk", "kth.se", "helsinki.fi", "uio.no",
               "tuwien.ac.at", "u-tokyo.ac.jp", "kaist.ac.kr", "tsinghua.edu.cn", "usp.br", "unam.mx"]
# synthetic partner organisations (vendors, labs, societies), mostly domestic
PARTNER_WORDS = ["acme", "northwind", "contoso", "globex", "initech", "umbrella", "hooli", "vandelay",
                 "stark", "wayne", "tyrell", "cyberdyne", "soylent", "wonka", "aperture", "blackmesa"]
PARTNER_SUFFIX = ["labs.com", "systems.com", "society.org", "press.com", "foundation.org",
                  "consulting.com", "research.org", "institute.org"]

# where intruders send: foreign country-code business domains (synthetic) and free-mail
ATTACK_TLDS = ["com.br", "ru", "cn", "co.in", "co.id", "com.ng", "vn", "com.tr", "pl", "co.za", "com.mx",
               "ro", "ua", "kr", "co.th", "com.ar", "pk", "ph", "my", "com.co", "cl", "pe", "eg", "ma"]
ATTACK_WORDS = ["trade", "global", "info", "shop", "market", "empresa", "servicos", "tech", "agro",
                "logistic", "import", "export", "comercial", "group", "holding", "online", "media"]

FIRST = ["james", "mary", "john", "patricia", "robert", "jennifer", "michael", "linda", "william",
         "elizabeth", "david", "barbara", "richard", "susan", "joseph", "jessica", "thomas", "sarah",
         "charles", "karen", "wei", "li", "ana", "jose", "maria", "anna", "peter", "eva", "jan", "lena",
         "omar", "fatima", "hiro", "yuki", "ivan", "olga", "pierre", "claire", "hans", "greta", "raj",
         "priya", "ali", "sara", "chen", "ming", "lucas", "sofia", "noah", "emma"]
LAST = ["smith", "johnson", "williams", "brown", "jones", "garcia", "miller", "davis", "rodriguez",
        "martinez", "hernandez", "lopez", "gonzalez", "wilson", "anderson", "thomas", "taylor", "moore",
        "jackson", "martin", "lee", "perez", "thompson", "white", "harris", "sanchez", "clark", "lewis",
        "robinson", "walker", "young", "allen", "king", "wright", "scott", "torres", "nguyen", "hill",
        "flores", "green", "adams", "nelson", "baker", "hall", "rivera", "campbell", "mitchell",
        "carter", "roberts", "mueller", "schmidt", "dubois", "rossi", "kowalski", "novak", "tanaka",
        "kim", "wang", "zhang", "ivanov", "silva", "santos", "costa", "singh", "kumar", "khan"]

ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
B64 = ALNUM + "+/"
LOWER = "abcdefghijklmnopqrstuvwxyz0123456789"


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def mkrng(*parts):
    """A random stream of its own for one tuple of integers."""
    s = 0x5EED
    for p in parts:
        s = (s * 1000003 + (p & 0xFFFFFFFF)) & 0xFFFFFFFFFFFFFFFF
    return random.Random(s)


def poisson(r, lam):
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, int(r.gauss(lam, math.sqrt(lam)) + 0.5))
    k, p, L = 0, r.random(), math.exp(-lam)
    while p > L:
        k += 1
        p *= r.random()
    return k


class Person:
    """One account's stable personality."""
    __slots__ = ("idx", "addr", "dept", "ips", "ip_w", "start_h", "end_h", "weekend_p", "rate",
                 "p_int", "colleagues", "partners", "free", "p_free", "p_web", "logins", "dom_set",
                 "home_ip", "office_ip")


class Site:
    def __init__(self, a):
        self.a = a
        self.buf = []
        self.qn = 0
        self.pidn = 3000
        self.timeline = []
        self.watch = set()
        self.nlines = 0
        self.last_t = 0.0
        self.relay_ip = {}
        self.day_str = {}
        self.out = sys.stdout
        r = mkrng(a.seed, 1)
        self.partner_pool = PARTNERS_GENERIC + PARTNERS_CC + [
            f"{w}{s}" for w in PARTNER_WORDS for s in PARTNER_SUFFIX]
        self.attack_pool = [f"{r.choice(ATTACK_WORDS)}{r.randrange(10, 999)}.{tld}"
                            for tld in ATTACK_TLDS for _ in range(40)]
        self.people = [self.person(i) for i in range(a.accounts)]
        self.addrs = [p.addr for p in self.people]
        self.roles = self.pick_roles()

    # ---------- personalities ----------

    def person(self, i):
        a, r, p = self.a, mkrng(self.a.seed, 2, i), Person()
        p.idx = i
        p.addr = f"user{i:05d}@{DOMAIN}"
        p.dept = r.randrange(60)
        office = f"10.10.{p.dept}.{r.randrange(10, 250)}"
        home = f"10.{r.randrange(100, 250)}.{r.randrange(256)}.{r.randrange(2, 254)}"
        p.office_ip, p.home_ip = office, home
        p.ips, p.ip_w = [office, home], [0.75, 0.25]
        if r.random() < 0.3:  # a phone on a mobile carrier (its own /24 of a shared range)
            p.ips.append(f"10.64.{r.randrange(256)}.{r.randrange(2, 254)}")
            p.ip_w = [0.65, 0.2, 0.15]
        if r.random() < 0.15:  # a second building
            p.ips.append(f"10.11.{r.randrange(60)}.{r.randrange(10, 250)}")
            p.ip_w = p.ip_w + [0.1]
        night = r.random() < 0.05
        p.start_h = r.uniform(10, 13) if night else r.uniform(7, 10)
        p.end_h = r.uniform(21, 23.5) if night else r.uniform(16, 19.5)
        p.weekend_p = 0.5 if r.random() < 0.12 else 0.06
        u = r.random()
        if u < 0.10:
            p.rate = r.uniform(0.05, 0.5)   # rarely sends
        elif u < 0.60:
            p.rate = r.uniform(0.5, 4)
        elif u < 0.92:
            p.rate = r.uniform(4, 12)
        elif u < 0.985:
            p.rate = r.uniform(12, 25)
        else:
            p.rate = r.uniform(25, 60)      # a few heavy senders (secretariats, admins)
        p.p_int = r.uniform(0.45, 0.95)
        same = [j for j in range(p.dept, a.accounts, 60) if j != i]
        p.colleagues = [f"user{j:05d}@{DOMAIN}" for j in r.sample(same, min(len(same), r.randrange(4, 30)))]
        if not p.colleagues:
            p.colleagues = [f"user{(i + 1) % a.accounts:05d}@{DOMAIN}"]
        npart = r.choice([0, 1, 2, 2, 3, 3, 4, 5, 6])
        p.partners = []
        for _ in range(npart):
            dom = r.choice(PARTNERS_CC) if r.random() < 0.4 else r.choice(self.partner_pool)
            p.partners.append((dom, [self.name(r) for _ in range(r.randrange(1, 5))]))
        nfree = r.choice([0, 0, 0, 1, 1, 1, 2, 3])
        p.free = [(r.choice(FREEMAIL_COMMON) if r.random() < 0.85 else r.choice(FREEMAIL),
                   [self.name(r) + str(r.randrange(100)) for _ in range(r.randrange(1, 4))])
                  for _ in range(nfree)]
        p.p_free = r.uniform(0.05, 0.35) if p.free else 0.0
        if not p.partners and not p.free:
            p.p_int = 1.0
        p.p_web = 0.0 if r.random() < 0.7 else r.uniform(0.2, 1.0)
        p.logins = r.randrange(1, 5)
        p.dom_set = {d for d, _ in p.partners} | {d for d, _ in p.free} | {DOMAIN}
        return p

    @staticmethod
    def name(r):
        return f"{r.choice(FIRST)}.{r.choice(LAST)}"

    def pick_roles(self):
        """Accounts for the incidents: fixed for a seed whatever incidents are chosen."""
        r = mkrng(self.a.seed, 3)
        ok = [p for p in self.people if 1.0 <= p.rate <= 12 and p.start_h < 10.5 and p.weekend_p < 0.1
              and p.p_int < 1.0]
        r.shuffle(ok)
        names = ["burst1", "burst2", "slow", "under", "spray", "announcer", "traveller", "teacher",
                 "returning"]
        if len(ok) < len(names):
            sys.exit("site.py: too few accounts for the incidents (use --accounts 100 or more)")
        roles = dict(zip(names, ok))
        t = roles["teacher"]
        t.p_free = max(t.p_free, 0.1)
        return roles

    # ---------- low level ----------

    def qid(self):
        self.qn += 1
        return f"{(self.qn * 2654435761 + 0x3A5C1F) & 0xFFFFFFFFFF:010X}"

    def pid(self):
        self.pidn = 3000 + (self.pidn * 1103 + 17) % 61000
        return self.pidn

    @staticmethod
    def rid(r, n=16, alphabet=B64):
        """A random id: base64 (Dovecot sessions), lower-case hex (LOWER) or upper-case hex (ALNUM)."""
        if alphabet is B64:
            return base64.b64encode(r.getrandbits(n * 6 + 6).to_bytes(n, "little")).decode()[:n]
        h = f"{r.getrandbits(n * 4):0{n}x}"
        return h if alphabet is LOWER else h.upper()

    def relay(self, dom):
        ip = self.relay_ip.get(dom)
        if ip is None:
            h = sum(dom.encode()) * 31 + len(dom)
            ip = f"192.0.2.{10 + h % 240}" if h % 5 else f"2001:db8:{h % 4096:x}::25"
            self.relay_ip[dom] = ip
        return ip

    def stamp(self, t):
        d = int(t // DAY)
        ds = self.day_str.get(d)
        if ds is None:
            ds = self.day_str[d] = time.strftime("%Y-%m-%dT", time.gmtime(d * DAY))
        s = t - d * DAY
        si = int(s)
        us = int((s - si) * 1e6)
        h, rem = divmod(si, 3600)
        m, sec = divmod(rem, 60)
        return f"{ds}{h:02d}:{m:02d}:{sec:02d}.{us:06d}+00:00"

    def flush(self, until):
        """Write every buffered line stamped before `until`, in time order."""
        self.buf.sort(key=lambda e: e[0])
        k = bisect.bisect_left(self.buf, (until,)) if until is not None else len(self.buf)
        i = 0
        while i < k and self.buf[i][0] < self.last_t:  # a line a second before a day's first: keep order
            self.buf[i] = (self.last_t, self.buf[i][1])
            i += 1
        if k:
            self.last_t = self.buf[k - 1][0]
        w, st = self.out.write, self.stamp
        host = HOST
        chunk = []
        for t, text in self.buf[:k]:
            chunk.append(f"{st(t)} {host} {text}\n")
            if len(chunk) >= 4096:
                w("".join(chunk))
                chunk = []
        w("".join(chunk))
        self.nlines += k
        del self.buf[:k]

    # ---------- building blocks ----------

    def imap_login(self, r, t, user, ip, webmail=False, logout=True):
        sess, mpid = self.rid(r), r.randrange(2000, 65000)
        lip, sec = ("127.0.0.1", "secured") if webmail else (LIP, "TLS")
        pid = 812
        self.buf.append((t, f"dovecot[{pid}]: imap-login: Login: user=<{user}>, method=PLAIN, rip={ip}, "
                            f"lip={lip}, mpid={mpid}, {sec}, session=<{sess}>"))
        if logout:
            dur = r.uniform(2, 60) if webmail else r.uniform(30, 3600)
            self.buf.append((t + dur, f"dovecot[{pid}]: imap({user})<{mpid}><{sess}>: Disconnected: Logged out "
                                      f"in={r.randrange(40, 4000)} out={r.randrange(500, 900000)} deleted=0 "
                                      f"expunged=0 trashed=0 hdr_count=0 hdr_bytes=0 body_count=0 body_bytes=0"))

    def imap_fail(self, r, t, user, ip, webmail=False):
        lip, sec = ("127.0.0.1", "secured") if webmail else (LIP, "TLS")
        self.buf.append((t, f"dovecot[812]: imap-login: Disconnected: Connection closed (auth failed, 1 attempts "
                            f"in 2 secs): user=<{user}>, method=PLAIN, rip={ip}, lip={lip}, {sec}, "
                            f"session=<{self.rid(r)}>"))

    def smtp_auth_fail(self, r, t, user, ip):
        pid = self.pid()
        svc = f"postfix/submission/smtpd[{pid}]"
        self.buf.append((t - 0.4, f"{svc}: connect from unknown[{ip}]"))
        self.buf.append((t, f"{svc}: warning: unknown[{ip}]: SASL PLAIN authentication failed: "
                            f"(reason unavailable), sasl_username={user}"))
        self.buf.append((t + 0.3, f"{svc}: disconnect from unknown[{ip}] ehlo=2 starttls=1 auth=0/1 quit=1 "
                                  f"commands=4/5"))

    def rc_login(self, r, t, p_idx, user, ip, ok=True):
        """Roundcube login (syslog form) and the IMAP login it makes, carrying the real address."""
        sess = self.rid(r, 26, LOWER)
        if ok:
            self.buf.append((t, f"roundcube[{2200 + p_idx % 50}]: <{sess[:8]}> Successful login for {user} "
                                f"(ID: {p_idx + 1}) from {ip} in session {sess}"))
            self.imap_login(r, t - 0.05, user, ip, webmail=True)
        else:
            self.imap_fail(r, t - 0.05, user, ip, webmail=True)
            self.buf.append((t, f"roundcube[{2200 + p_idx % 50}]: <{sess[:8]}> Failed login for {user} "
                                f"from {ip} in session {sess} (error: 0)"))

    def submit(self, r, t, user, host, ip, rcpts, malicious=False, svc="submission/smtpd", session=None,
               sender=None):
        """One message: smtpd, cleanup, qmgr, a delivery per recipient, removed.
        session=(pid,) reuses an open SMTP session (no connect/disconnect lines)."""
        B = self.buf.append
        q = self.qid()
        n = len(rcpts)
        hp = f"{host}[{ip}]"
        sender = sender or user
        if session is None:
            pid = self.pid()
            B((t - r.uniform(0.2, 0.9), f"postfix/{svc}[{pid}]: connect from {hp}"))
            if user is None:
                cmds = f"ehlo=1 starttls=1 mail=1 rcpt={n} data=1 quit=1 commands={n + 5}"
            elif ip == "127.0.0.1":
                cmds = f"ehlo=1 auth=1 mail=1 rcpt={n} data=1 quit=1 commands={n + 5}"
            else:
                cmds = f"ehlo=2 starttls=1 auth=1 mail=1 rcpt={n} data=1 quit=1 commands={n + 7}"
            B((t + 0.12, f"postfix/{svc}[{pid}]: disconnect from {hp} {cmds}"))
        else:
            pid = session
        auth = f", sasl_method=PLAIN, sasl_username={user}" if user else ""
        B((t, f"postfix/{svc}[{pid}]: {q}: client={hp}{auth}"))
        mid = f"{self.rid(r, 24, LOWER)}@{DOMAIN}" if ip == "127.0.0.1" else \
            f"{int(t)}.{q}@{(sender.split('@')[1] if '@' in sender else DOMAIN)}"
        B((t + 0.03, f"postfix/cleanup[{1300 + self.qn % 40}]: {q}: message-id=<{mid}>"))
        size = r.randrange(1800, 60000) if r.random() < 0.9 else r.randrange(60000, 9000000)
        B((t + 0.06, f"postfix/qmgr[{QMGR_PID}]: {q}: from=<{sender}>, size={size}, nrcpt={n} (queue active)"))
        ext = 0
        last = t + 0.1
        deferred = []
        bad = 0.06 if malicious else 0.01
        slow = 0.04 if malicious else 0.015
        for i, rc in enumerate(rcpts):
            dom = rc[rc.index("@") + 1:]
            if dom == DOMAIN:
                d = 0.1 + i * 0.002
                B((t + d, f"postfix/lmtp[{1500 + self.qn % 30}]: {q}: to=<{rc}>, relay={HOST}.{DOMAIN}"
                          f"[private/dovecot-lmtp], delay={d:.2f}, delays=0.06/0.01/0.01/0.02, dsn=2.0.0, "
                          f"status=sent (250 2.0.0 <{rc}> {self.rid(r, 22)} Saved)"))
                last = max(last, t + d)
                continue
            ext += 1
            d = r.uniform(0.3, 2.5) + i * 0.002
            rip = self.relay(dom)
            head = (f"postfix/smtp[{1600 + self.qn % 50}]: {q}: to=<{rc}>, relay=mx.{dom}[{rip}]:25, "
                    f"delay={d:.1f}, delays=0.06/0.01/{d * 0.4:.2f}/{d * 0.5:.2f}, ")
            u = r.random()
            if u < bad:
                B((t + d, head + f"dsn=5.1.1, status=bounced (host mx.{dom}[{rip}] said: 550 5.1.1 <{rc}>: "
                                 f"Recipient address rejected: User unknown (in reply to RCPT TO command))"))
                self.ndr(r, t + d + 0.01, q, sender)
            elif u < bad + slow:
                B((t + d, head + f"dsn=4.7.1, status=deferred (host mx.{dom}[{rip}] said: 451 4.7.1 "
                                 f"Greylisted, please try again later (in reply to RCPT TO command))"))
                deferred.append((rc, dom, rip))
            else:
                B((t + d, head + f"dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as {self.rid(r, 11, ALNUM)})"))
            last = max(last, t + d)
        if deferred:
            t2 = last + r.uniform(300, 1500)
            B((t2, f"postfix/qmgr[{QMGR_PID}]: {q}: from=<{sender}>, size={size}, nrcpt={n} (queue active)"))
            for j, (rc, dom, rip) in enumerate(deferred):
                d = t2 - t + 0.5 + j * 0.01
                B((t + d, f"postfix/smtp[{1600 + self.qn % 50}]: {q}: to=<{rc}>, relay=mx.{dom}[{rip}]:25, "
                          f"delay={d:.0f}, delays={d - 0.6:.0f}/0.01/0.3/0.2, dsn=2.0.0, status=sent "
                          f"(250 2.0.0 Ok: queued as {self.rid(r, 11, ALNUM)})"))
                last = t + d
        B((last + 0.01, f"postfix/qmgr[{QMGR_PID}]: {q}: removed"))
        if user in self.watch:
            self.timeline.append((t, user, n, ext, 1 if malicious else 0))
        return ext

    def ndr(self, r, t, q, sender):
        """The non-delivery notice Postfix sends back to a local sender."""
        if not sender.endswith("@" + DOMAIN):
            return
        B = self.buf.append
        n = self.qid()
        B((t, f"postfix/cleanup[{1300 + self.qn % 40}]: {n}: message-id=<{int(t)}.{n}@{HOST}.{DOMAIN}>"))
        B((t + 0.001, f"postfix/bounce[{1700 + self.qn % 10}]: {q}: sender non-delivery notification: {n}"))
        B((t + 0.002, f"postfix/qmgr[{QMGR_PID}]: {n}: from=<>, size={r.randrange(2500, 9000)}, nrcpt=1 "
                      f"(queue active)"))
        B((t + 0.05, f"postfix/lmtp[{1500 + self.qn % 30}]: {n}: to=<{sender}>, relay={HOST}.{DOMAIN}"
                     f"[private/dovecot-lmtp], delay=0.05, delays=0/0.01/0.01/0.03, dsn=2.0.0, "
                     f"status=sent (250 2.0.0 <{sender}> {self.rid(r, 22)} Saved)"))
        B((t + 0.06, f"postfix/qmgr[{QMGR_PID}]: {n}: removed"))

    def inbound(self, r, t, rcpt):
        """Mail from another MTA to a local user (no account: mailfuse must not charge it)."""
        dom = r.choice(FREEMAIL_COMMON) if r.random() < 0.4 else r.choice(self.partner_pool)
        ip = self.relay(dom)
        self.submit(r, t, None, f"mail.{dom}", ip, [rcpt], svc="smtpd", sender=f"{self.name(r)}@{dom}")

    # ---------- normal traffic ----------

    def recipients(self, r, p):
        k = 1 if r.random() < 0.72 else (r.randrange(2, 4) if r.random() < 0.7 else r.randrange(4, 12))
        out = []
        for _ in range(k):
            u = r.random()
            if u < p.p_int:
                out.append(r.choice(p.colleagues) if r.random() < 0.9 else r.choice(self.addrs))
            elif p.free and (u < p.p_int + p.p_free or not p.partners):
                dom, names = r.choice(p.free)
                out.append(f"{r.choice(names)}@{dom}")
            elif p.partners:
                dom, names = r.choice(p.partners)
                out.append(f"{r.choice(names)}@{dom}")
            else:
                out.append(r.choice(p.colleagues))
        return list(dict.fromkeys(out))

    def person_day(self, p, d, day0, ips=None, shift=0.0, scale=1.0, skip=None):
        """One account's ordinary day: IMAP/webmail sessions with their logins and messages."""
        a = self.a
        r = mkrng(a.seed, 4, d, p.idx)
        weekday = time.gmtime(day0).tm_wday < 5
        if not weekday and r.random() > p.weekend_p:
            return
        ips = ips or p.ips
        ipw = p.ip_w if ips is p.ips else None
        n = poisson(r, p.rate * scale * (1.0 if weekday else 0.4))
        nsess = max(1, min(4, p.logins + (1 if n > 8 else 0)))
        user = p.addr
        span = p.end_h - p.start_h
        sessions = []
        for s in range(nsess):
            h = p.start_h + span * (s + r.random()) / nsess + shift
            ip = r.choices(ips, ipw)[0] if ipw else r.choice(ips)
            if ip == p.home_ip and weekday and h < p.end_h - 1:
                ip = p.office_ip if p.office_ip in ips else ip
            web = r.random() < p.p_web
            t = day0 + h * 3600
            if web:
                if r.random() < 0.03:
                    self.rc_login(r, t - r.uniform(8, 40), p.idx, user, ip, ok=False)
                self.rc_login(r, t, p.idx, user, ip)
            else:
                if r.random() < 0.02:
                    self.imap_fail(r, t - r.uniform(5, 30), user, ip)
                self.imap_login(r, t, user, ip)
                for _ in range(r.randrange(0, 3)):  # the client reconnects during the session
                    self.imap_login(r, t + r.uniform(60, 3 * 3600), user, ip)
            sessions.append((t, ip, web))
        if r.random() < 0.004:  # a new phone with an old password
            self.smtp_auth_fail(r, sessions[0][0] + 30, user, sessions[0][1])
        for _ in range(n):
            t0, ip, web = r.choice(sessions)
            t = t0 + r.uniform(20, 2.5 * 3600)
            if skip and skip[0] <= t < skip[1]:
                continue
            rc = self.recipients(r, p)
            if web:
                self.submit(r, t, user, "localhost", "127.0.0.1", rc)
            else:
                self.submit(r, t, user, "unknown", ip, rc)

    def normal_day(self, d, day0):
        a, roles = self.a, self.roles
        skip_teacher = None
        if a.teacher and d == a.days:
            skip_teacher = (day0 + 11 * 3600, day0 + 16 * 3600)
        for p in self.people:
            if a.returning and p is roles["returning"] and d < a.days:
                continue
            if a.travel and p is roles["traveller"] and a.days <= d < a.days + a.travel_days:
                self.person_day(p, d, day0, ips=self.travel_ips, shift=a.travel_shift)
                continue
            self.person_day(p, d, day0, skip=skip_teacher if p is roles["teacher"] else None)
        r = mkrng(a.seed, 5, d)
        # inbound mail from the world
        for _ in range(int(len(self.people) * a.inbound)):
            h = r.uniform(0, 24) if r.random() < 0.3 else r.uniform(7, 19)
            self.inbound(r, day0 + h * 3600, r.choice(self.addrs))
        # bots guessing passwords of common names, from the benchmark range
        for _ in range(max(1, len(self.people) // 100)):
            ip = f"198.18.{r.randrange(256)}.{r.randrange(1, 255)}"
            t = day0 + r.uniform(0, DAY)
            for k in range(r.randrange(1, 6)):
                user = r.choice(["admin", "info", "test", "webmaster", "support", "office", "contact"])
                self.imap_fail(r, t + k * r.uniform(2, 9), f"{user}@{DOMAIN}", ip)
        if a.newsletter:
            self.newsletter_day(d, day0)

    def returning_history(self, d, day0):
        p = self.roles["returning"]
        self.person_day(p, d, day0)

    # ---------- legitimate incidents ----------

    def newsletter_day(self, d, day0):
        a = self.a
        r = mkrng(a.seed, 6, d)
        user = f"newsletter@{DOMAIN}"
        subs = self.subscribers
        n = int(a.newsletter_per_day * r.uniform(0.99, 1.01))
        t = day0 + 6 * 3600 + r.uniform(0, 600)
        rate = 120 / 60  # messages a second: ~2.8 hours for 20,000
        session = None
        for i in range(n):
            if i % 100 == 0:
                if session is not None:
                    self.buf.append((t, f"postfix/submission/smtpd[{session}]: disconnect from "
                                        f"lists.{DOMAIN}[10.0.0.25] ehlo=2 starttls=1 auth=1 mail=100 "
                                        f"rcpt=100 data=100 quit=1 commands=305"))
                session = self.pid()
                self.buf.append((t - 0.05, f"postfix/submission/smtpd[{session}]: connect from "
                                           f"lists.{DOMAIN}[10.0.0.25]"))
            self.submit(r, t, user, f"lists.{DOMAIN}", "10.0.0.25", [subs[(i * 7919 + d) % len(subs)]],
                        session=session)
            t += r.expovariate(rate)
        self.buf.append((t, f"postfix/submission/smtpd[{session}]: disconnect from lists.{DOMAIN}[10.0.0.25] "
                            f"ehlo=2 starttls=1 auth=1 mail={n % 100 or 100} rcpt={n % 100 or 100} "
                            f"data={n % 100 or 100} quit=1 commands={3 * (n % 100 or 100) + 5}"))
        if d == a.days:
            self.truth.append(dict(scenario="legit-newsletter", kind="legitimate", account=user,
                                   start=iso(day0 + 6 * 3600), end=iso(t), messages_per_day=n,
                                   client="10.0.0.25", history_days=a.days,
                                   note="sends every day of the history and of the test days"))

    def make_subscribers(self):
        r = mkrng(self.a.seed, 7)
        subs = []
        for i in range(max(1000, self.a.newsletter_per_day)):
            u = r.random()
            if u < 0.55:
                dom = r.choice(FREEMAIL_COMMON) if r.random() < 0.8 else r.choice(FREEMAIL)
            elif u < 0.75:
                dom = DOMAIN
            else:
                dom = r.choice(self.partner_pool)
            if dom == DOMAIN:
                subs.append(r.choice(self.addrs))
            else:
                subs.append(f"{self.name(r)}{i % 1000}@{dom}")
        return subs

    def announcement(self, t0):
        a, p = self.a, self.roles["announcer"]
        r = mkrng(a.seed, 8)
        rcpts = list(self.addrs) + [f"student{i:05d}@{DOMAIN}"
                                    for i in range(max(0, a.announcement_recipients - len(self.addrs)))]
        rcpts = rcpts[:a.announcement_recipients]
        ip = p.office_ip
        self.imap_login(r, t0 - 120, p.addr, ip)
        chunks = [rcpts[i:i + 1000] for i in range(0, len(rcpts), 1000)]
        for k, c in enumerate(chunks):
            self.submit(r, t0 + k * r.uniform(20, 60), p.addr, "unknown", ip, c)
        self.truth.append(dict(scenario="legit-announcement", kind="legitimate", account=p.addr,
                               start=iso(t0), messages=len(chunks), recipients=len(rcpts),
                               external_recipients=0, client=ip))

    def teacher(self, t0):
        a, p = self.a, self.roles["teacher"]
        r = mkrng(a.seed, 9)
        ip = p.office_ip
        self.imap_login(r, t0 - 300, p.addr, ip)
        t = t0
        nfree = 0
        for i in range(a.teacher_messages):
            if r.random() < 0.6:
                rc = f"{self.name(r)}{r.randrange(1, 99)}@{r.choice(['gmail.com', 'gmail.com', 'yahoo.com', 'outlook.com', 'hotmail.com', 'icloud.com'])}"
                nfree += 1
            else:
                rc = f"student{r.randrange(100000):05d}@{DOMAIN}"
            self.submit(r, t, p.addr, "unknown", ip, [rc])
            t += 3600 / a.teacher_messages * r.uniform(0.3, 1.7)
        self.truth.append(dict(scenario="legit-teacher", kind="legitimate", account=p.addr, start=iso(t0),
                               end=iso(t), messages=a.teacher_messages, free_mail_recipients=nfree,
                               client=ip, allowed="alert or throttle"))

    # ---------- attacks ----------

    def attack_rcpts(self, r, p, k, p_ext):
        out = []
        for _ in range(k):
            if r.random() >= p_ext:
                out.append(r.choice(self.addrs))
                continue
            if r.random() < 0.6:
                dom = r.choice(FREEMAIL)
                while dom in p.dom_set:
                    dom = r.choice(FREEMAIL)
            else:
                dom = r.choice(self.attack_pool)
            out.append(f"{self.name(r)}{r.randrange(1, 9999)}@{dom}")
        return list(dict.fromkeys(out))

    def burst(self, role, t0, ip):
        a, p = self.a, self.roles[role]
        r = mkrng(a.seed, 10, 1 if role == "burst1" else 2)
        self.imap_login(r, t0, p.addr, ip, logout=False)
        t = t0 + r.uniform(30, 90)
        first, n, ext, end = t, 0, 0, t0 + 60 + a.burst_minutes * 60
        while t < end:
            k = 1 if r.random() < 0.75 else r.randrange(2, 4)
            ext += self.submit(r, t, p.addr, "unknown", ip, self.attack_rcpts(r, p, k, 0.92), malicious=True)
            n += 1
            t += r.expovariate(a.burst_rate / 60)
        self.attack_truth("burst", p, t0, first, t, ip, n, ext, rate_per_minute=a.burst_rate)

    def slow_webmail(self, t0, ip):
        a, p = self.a, self.roles["slow"]
        r = mkrng(a.seed, 11)
        self.rc_login(r, t0, p.idx, p.addr, ip)
        t = t0 + r.uniform(60, 240)
        first, n, ext, end = t, 0, 0, t0 + a.slow_hours * 3600
        next_relogin = t0 + r.uniform(2, 5) * 3600
        while t < end:
            if t > next_relogin:  # the Roundcube session expired
                self.rc_login(r, t - 20, p.idx, p.addr, ip)
                next_relogin = t + r.uniform(2, 5) * 3600
            # Roundcube opens an IMAP connection per request (compose, send, save to Sent)
            self.imap_login(r, t - r.uniform(1, 5), p.addr, ip, webmail=True)
            k = 1 if r.random() < 0.8 else r.randrange(2, 4)
            ext += self.submit(r, t, p.addr, "localhost", "127.0.0.1", self.attack_rcpts(r, p, k, 0.88),
                               malicious=True)
            n += 1
            # irregular: runs of quick sends, then pauses; ~130 an hour on average
            gap = r.uniform(4, 20) if r.random() < 0.7 else r.uniform(40, 180)
            t += gap * (3600 / a.slow_rate) / 38.0
        self.attack_truth("slow-webmail", p, t0, first, t, ip, n, ext, rate_per_hour=a.slow_rate,
                          via="webmail 127.0.0.1")

    def under_limit(self, t0, ip):
        a, p = self.a, self.roles["under"]
        r = mkrng(a.seed, 12)
        self.imap_login(r, t0, p.addr, ip)
        t = t0 + r.uniform(60, 300)
        first, n, ext, end = t, 0, 0, t0 + a.under_hours * 3600
        while t < end:
            if r.random() < 0.02:
                self.imap_login(r, t - 10, p.addr, ip)
            ext += self.submit(r, t, p.addr, "unknown", ip, self.attack_rcpts(r, p, 1, 1.0), malicious=True)
            n += 1
            t += 3600 / a.under_rate * r.uniform(0.5, 1.5)
        self.attack_truth("under-limit", p, t0, first, t, ip, n, ext, rate_per_hour=a.under_rate)

    def spray(self, t0, ip):
        a, p = self.a, self.roles["spray"]
        r = mkrng(a.seed, 13)
        roles = {q.addr for q in self.roles.values()}  # keep the other incidents' accounts out of it
        others = [q.addr for q in self.people if q.addr not in roles]
        targets = r.sample(others, min(len(others), a.spray_targets - 1))
        targets += [f"{w}@{DOMAIN}" for w in ["admin", "info", "test", "office", "support", "contact",
                                              "webmaster", "sales", "hr", "it"]][:a.spray_targets - 1 - len(targets)]
        pos = r.randrange(len(targets) // 3, len(targets))
        targets.insert(pos, p.addr)
        t, fails, guessed_at = t0, 0, None
        passes = 3
        for k in range(passes):
            for u in targets:
                if u == p.addr and k == passes - 1:
                    self.imap_login(r, t, u, ip, logout=False)
                    guessed_at = t
                elif k == 1 and r.random() < 0.5:
                    self.smtp_auth_fail(r, t, u, ip)
                    fails += 1
                else:
                    self.imap_fail(r, t, u, ip)
                    fails += 1
                t += r.uniform(1.0, 4.0)
            t += r.uniform(60, 300)
        t = guessed_at + r.uniform(120, 300)
        first, n, ext = t, 0, 0
        for i in range(a.spray_messages):
            k = 1 if r.random() < 0.8 else 2
            ext += self.submit(r, t, p.addr, "unknown", ip, self.attack_rcpts(r, p, k, 1.0), malicious=True)
            n += 1
            t += 1800 / a.spray_messages * r.uniform(0.4, 1.6)
        self.attack_truth("spray", p, t0, first, t, ip, n, ext, targets=len(targets), failed_logins=fails,
                          guessed_login=iso(guessed_at))

    def attack_truth(self, name, p, start, first, end, ip, n, ext, **more):
        self.truth.append(dict(scenario=name, kind="attack", account=p.addr, start=iso(start),
                               first_malicious=iso(first), first_malicious_unix=round(first, 3),
                               end=iso(end), client=ip, messages=n, external_recipients=ext, **more))

    # ---------- the run ----------

    def run(self):
        a, roles = self.a, self.roles
        self.truth = []
        start = a.start
        T0 = start + a.days * DAY        # midnight of the first test day
        self.travel_ips = ["198.51.100.23", "198.51.100.24"]
        if a.newsletter:
            self.subscribers = self.make_subscribers()
        for role in ("burst1", "burst2", "slow", "under", "spray"):
            self.watch.add(roles[role].addr)
        # attacks and one-off legitimate incidents are generated up front (they are small),
        # the days' traffic one day at a time; flush() merges them by time
        if a.burst:
            self.burst("burst1", T0 + 1 * 3600 + 47 * 60 + 12, "203.0.113.66")
            self.burst("burst2", T0 + 2 * 3600 + 31 * 60 + 40, "203.0.113.67")
        if a.slow_webmail:
            self.slow_webmail(T0 + 9 * 3600 + 12 * 60 + 30, "203.0.113.130")
        if a.under_limit:
            self.under_limit(T0 + 20 * 3600 + 5 * 60, "198.51.100.45")
        if a.spray:
            self.spray(T0 + 12 * 3600 + 40 * 60, "203.0.113.201")
        if a.announcement:
            self.announcement(T0 + 10 * 3600 + 30 * 60)
        if a.teacher:
            self.teacher(T0 + 14 * 3600 + 5 * 60)
        # the returning user's history: 104 to 91 days before the first test day
        hist = (a.days - a.leave_days - 14, a.days - a.leave_days)
        first_day = min(0, hist[0]) if a.returning else 0
        for d in range(first_day, a.days + a.test_days):
            day0 = start + d * DAY
            if d < 0:
                if hist[0] <= d < hist[1]:
                    self.returning_history(d, day0)
            else:
                self.normal_day(d, day0)
            self.flush(day0 + DAY)
        self.flush(None)
        if a.travel:
            p = roles["traveller"]
            self.truth.append(dict(scenario="legit-travel", kind="legitimate", account=p.addr, start=iso(T0),
                                   end=iso(T0 + a.travel_days * DAY), client=self.travel_ips,
                                   hour_shift=a.travel_shift, note="same volume and domains as usual"))
        if a.returning:
            p = roles["returning"]
            self.truth.append(dict(scenario="legit-returning", kind="legitimate", account=p.addr, start=iso(T0),
                                   history=[iso(start + hist[0] * DAY), iso(start + hist[1] * DAY)],
                                   idle_days=a.leave_days, allowed="alert or throttle"))
        tl = {}
        for t, u, n, ext, mal in self.timeline:
            tl.setdefault(u, []).append((t, n, ext, mal))
        for tr in self.truth:
            if tr["kind"] == "attack":
                before = [e for e in tl.get(tr["account"], []) if e[0] < tr["first_malicious_unix"]]
                tr["before"] = dict(messages=len(before), recipients=sum(e[1] for e in before),
                                    external_recipients=sum(e[2] for e in before))
        return T0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--accounts", type=int, default=2000)
    p.add_argument("--days", type=int, default=14, help="days of normal history before the test days")
    p.add_argument("--test-days", type=int, default=3, help="days on which the incidents happen")
    p.add_argument("--start", default="2026-03-02", help="first day of the history (UTC date)")
    p.add_argument("--inbound", type=float, default=0.5, help="inbound messages a day per account")
    p.add_argument("--timeline", metavar="FILE", help="TSV of every message of the attacked accounts")
    p.add_argument("--all", action="store_true", help="every incident below")
    p.add_argument("--all-attacks", action="store_true")
    p.add_argument("--all-legit", action="store_true")
    for name in ("burst", "slow-webmail", "under-limit", "spray", "announcement", "newsletter", "travel",
                 "teacher", "returning"):
        p.add_argument(f"--{name}", action="store_true")
    p.add_argument("--burst-rate", type=float, default=140, help="messages a minute")
    p.add_argument("--burst-minutes", type=float, default=60)
    p.add_argument("--slow-rate", type=float, default=130, help="messages an hour")
    p.add_argument("--slow-hours", type=float, default=24)
    p.add_argument("--under-rate", type=float, default=40, help="messages an hour")
    p.add_argument("--under-hours", type=float, default=48)
    p.add_argument("--spray-targets", type=int, default=300)
    p.add_argument("--spray-messages", type=int, default=100)
    p.add_argument("--announcement-recipients", type=int, default=5000)
    p.add_argument("--newsletter-per-day", type=int, default=20000)
    p.add_argument("--teacher-messages", type=int, default=300)
    p.add_argument("--travel-days", type=int, default=3)
    p.add_argument("--travel-shift", type=float, default=6, help="hours the traveller's day is shifted")
    p.add_argument("--leave-days", type=int, default=90)
    a = p.parse_args()
    for name in ("burst", "slow_webmail", "under_limit", "spray"):
        setattr(a, name, getattr(a, name) or a.all or a.all_attacks)
    for name in ("announcement", "newsletter", "travel", "teacher", "returning"):
        setattr(a, name, getattr(a, name) or a.all or a.all_legit)
    a.start = calendar.timegm(time.strptime(a.start, "%Y-%m-%d"))
    if a.test_days < 3 and (a.under_limit or a.slow_webmail):
        p.error("--under-limit and --slow-webmail need --test-days 3")
    t0 = time.monotonic()
    s = Site(a)
    T0 = s.run()
    sys.stdout.flush()
    roles = {k: v.addr for k, v in s.roles.items()}
    print(json.dumps(dict(scenario="site", seed=a.seed, accounts=a.accounts, history_days=a.days,
                          history_start=iso(a.start), test_day=iso(T0), test_days=a.test_days,
                          lines=s.nlines, seconds=round(time.monotonic() - t0, 1),
                          home_networks="10.0.0.0/8", foreign_networks=["203.0.113.0/24", "198.51.100.0/24"],
                          roles=roles)), file=sys.stderr)
    for tr in s.truth:
        print(json.dumps(tr), file=sys.stderr)
    if a.timeline:
        with open(a.timeline, "w") as f:
            for t, u, n, ext, mal in sorted(s.timeline):
                f.write(f"{t:.6f}\t{u}\t{n}\t{ext}\t{mal}\n")


if __name__ == "__main__":
    main()
