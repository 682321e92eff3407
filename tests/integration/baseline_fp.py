#!/usr/bin/env python3
"""baseline_fp.py - false actions of the risk score + limits on REAL legitimate sending (issue 4, item 5), TAP.

Each corpus of ../shared/corpora (email-baseline-enron, email-baseline-w3c; see their SOURCE.md) is
turned into a Postfix submission log in the real format, one message per CSV row:

  <RFC 3339 stamp> mx1 postfix/submission/smtpd[123]: QID: client=unknown[10.x.y.z], sasl_method=PLAIN, sasl_username=ACCOUNT
  <stamp> mx1 postfix/qmgr[124]: QID: from=<ACCOUNT>, size=2000, nrcpt=N (queue active)
  <stamp> mx1 postfix/smtp[125]: QID: to=<rI@DOMAIN>, relay=mx.DOMAIN[192.0.2.1]:25, ... status=sent (250 ok)   (N lines)
  <stamp> mx1 postfix/qmgr[124]: QID: removed

Mapping:
  - only senders of the corpus's own domain are the site's accounts (enron.com for Enron, w3.org for
    W3C; the other W3C senders are list posters from elsewhere who would never submit through this
    site, and SOURCE.md says their recipient lists are cut): sender S -> account S@example.edu;
  - recipient domains: the corpus's own domain and its subdomains (ect.enron.com, tux.w3.org, ...)
    and "(none)" (an address without @, which Postfix qualifies with $myorigin) -> example.edu
    (internal); other domains are kept, with characters outside [A-Za-z0-9.-] replaced by "-"
    (SOURCE.md: a few harvested domains are malformed);
  - N = recipient_count; one to= line per listed recipient domain, and the recipients beyond those
    (SOURCE.md: the lists are cut) go to example.edu: the external recipients the data names, a
    lower bound.  BASELINE_FILL=cycle instead cycles through the listed domains, the upper bound
    (it makes a 499-recipient message to 5 domains look like 400 external recipients, which the
    example config's hard limit of 100 external recipients a minute holds: 679 holds on 3 Enron
    accounts and 22 on 1 W3C account, none from the risk score, as measured on 2026-11-23);
  - each account has a stable client address in 10.0.0.0/8 (hash of the account).
The corpora are sorted by time (checked while streaming; an unsorted row is counted and reported).

Each log goes through `mailfuse replay -c CONF -q --json OUT LOG`, CONF = etc/mailfuse.conf with
state_dir in a temporary directory and local_domains = [ "example.edu" ] (the example config has
score = true;).  Both replays run at once.

Figures, per 1,000 account-days (distinct (account, UTC day) pairs with at least one message):
  - decisions: the replay JSON's per-account decision counts {action: n} (one per message that got
    that action; EXACT, but a message count, not a day count);
  - account-days with a marker: the JSON's "actions" markers (one each time an account's action
    changes, at most 64 per account) give the days on which an action started.  A LOWER BOUND for
    account-days with that action: an action repeated after plain messages (dunno) gets no new
    marker.  The replay JSON has no per-message or per-day verdicts, so exact account-days with an
    action as the day's worst cannot be derived from it;
  - accounts whose worst action is that action.

TAP: one `ok` per corpus whose replay ran, and one line per corpus asserting zero holds and
suspensions (decisions) - `not ok` when there are any, with the top 5 accounts held/suspended
and the reason of their first hold/suspend (else of their first action) as diagnostics.

Environment: BASELINE_FILL (local, the default, or cycle: see above), BASELINE_CORPORA (default
$MAILFUSE_CORPORA, else ../shared/corpora beside the repository), MAILFUSE (the binary), KEEP=1
keeps the work directory.
"""
import calendar
import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MF = os.environ.get("MAILFUSE", os.path.join(REPO, "build", "mailfuse"))
CONF_SRC = os.path.join(REPO, "etc", "mailfuse.conf")
ACTIONS = ("alert", "throttle", "hold", "suspend")
LOCAL = "example.edu"
CORPORA = [
    # name, directory, file, the corpus's own domain
    ("enron", "email-baseline-enron", "enron_messages.csv", "enron.com"),
    ("w3c", "email-baseline-w3c", "w3c_messages.csv", "w3.org"),
]
FILL = os.environ.get("BASELINE_FILL", "local")  # cycle | local: recipients beyond the listed domains
BAD = re.compile(r"[^A-Za-z0-9.-]")


def corpora_dir():
    env = os.environ.get("BASELINE_CORPORA")
    if env:
        return env
    return os.environ.get("MAILFUSE_CORPORA", os.path.join(os.path.dirname(REPO), "shared", "corpora"))


def client_ip(account):
    h = hashlib.sha1(account.encode()).digest()
    return f"10.{h[0]}.{h[1]}.{max(1, min(h[2], 254))}"


def map_domain(d, own):
    d = d.strip().lower()
    if d == "(none)" or d == own or d.endswith("." + own) or not d:
        return LOCAL
    d = BAD.sub("-", d).strip(".") or "invalid"
    return d


def stamp(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".000000+00:00"


def write_log(src, own, out):
    """Stream the CSV into a Postfix log; return facts (account-days, counts)."""
    days = set()  # (account, day)
    accounts = set()
    msgs = rcpts = skipped = unsorted = ext = 0
    prev = None
    qid = 0x1000000000  # 10 hex digits, like a real short queue id
    with open(src, newline="", encoding="utf-8", errors="replace") as f, open(out, "w") as o:
        w = o.write
        for row in csv.DictReader(f):
            try:
                t = int(row["timestamp"])
                n = int(row["recipient_count"])
            except (TypeError, ValueError):
                skipped += 1
                continue
            if (row.get("sender_domain") or "").strip().lower() != own:
                skipped += 1
                continue
            if prev is not None and t < prev:
                unsorted += 1
            prev = t
            acct = f"{row['sender'].strip()}@{LOCAL}"
            doms = [map_domain(d, own) for d in (row.get("recipient_domains") or "").split(";") if d.strip()]
            if not doms:
                doms = [LOCAL]
            n = max(n, 1)
            accounts.add(acct)
            days.add((acct, t // 86400))
            qid += 1
            q = f"{qid:X}"
            s = stamp(t)
            w(f"{s} mx1 postfix/submission/smtpd[123]: {q}: client=unknown[{client_ip(acct)}], "
              f"sasl_method=PLAIN, sasl_username={acct}\n")
            w(f"{s} mx1 postfix/qmgr[124]: {q}: from=<{acct}>, size=2000, nrcpt={n} (queue active)\n")
            for i in range(n):
                d = doms[i % len(doms)] if i < len(doms) or FILL == "cycle" else LOCAL
                ext += d != LOCAL
                w(f"{s} mx1 postfix/smtp[125]: {q}: to=<r{i}@{d}>, relay=mx.{d}[192.0.2.1]:25, delay=1, "
                  f"delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)\n")
            w(f"{s} mx1 postfix/qmgr[124]: {q}: removed\n")
            msgs += 1
            rcpts += n
    return dict(days=days, accounts=len(accounts), msgs=msgs, rcpts=rcpts, ext=ext, skipped=skipped,
                unsorted=unsorted)


def make_conf(path, state):
    text = open(CONF_SRC).read()
    text, n1 = re.subn(r'(?m)^\s*state_dir\s*=.*$', f'state_dir = "{state}";', text)
    text, n2 = re.subn(r'(?m)^\s*local_domains\s*=.*$', f'local_domains = [ "{LOCAL}" ];', text)
    if not n1:
        text += f'\nstate_dir = "{state}";\n'
    if not n2:
        text += f'\nlocal_domains = [ "{LOCAL}" ];\n'
    if not re.search(r'(?m)^\s*score\s*=\s*true', text):
        text += "\nscore = true;\n"
    open(path, "w").write(text)


def day_of(iso):
    try:
        return calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ")) // 86400
    except (TypeError, ValueError):
        return None


def per_k(x, days):
    return 1000.0 * x / days if days else 0.0


n_tests = 0


def tap(ok, name):
    global n_tests
    n_tests += 1
    print(f"{'ok' if ok else 'not ok'} {n_tests} - {name}")


def diag(s):
    for line in s.splitlines():
        print(f"# {line}")


def main():
    t0 = time.time()
    base = corpora_dir()
    if not os.path.isdir(base):
        print(f"1..0 # SKIP corpora not found: {base}")
        return 0
    todo = [(n, os.path.join(base, d, f), own) for n, d, f, own in CORPORA if os.path.exists(os.path.join(base, d, f))]
    if not todo:
        print(f"1..0 # SKIP corpora not found: {base}")
        return 0
    if not os.access(MF, os.X_OK):
        print(f"1..0 # SKIP mailfuse binary not built: {MF}")
        return 0
    print(f"1..{2 * len(todo)}")
    diag(f"recipients beyond the listed domains: {FILL} (BASELINE_FILL)")
    work = tempfile.mkdtemp(prefix="mf-baseline-")
    runs = []
    try:
        # generate each log, then start its replay at once (the next log is written while it runs)
        for name, src, own in todo:
            log = os.path.join(work, f"{name}.log")
            tg = time.time()
            facts = write_log(src, own, log)
            facts["gen_s"] = time.time() - tg
            state = os.path.join(work, f"state-{name}")
            os.makedirs(state)
            conf = os.path.join(work, f"{name}.conf")
            make_conf(conf, state)
            js = os.path.join(work, f"{name}.json")
            p = subprocess.Popen([MF, "replay", "-c", conf, "-q", "--json", js, log],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            runs.append((name, own, facts, js, p, time.time()))
        for name, own, facts, js, p, tr in runs:
            out, err = p.communicate()
            rep_s = time.time() - tr
            nd = len(facts["days"])
            if p.returncode != 0 or not os.path.exists(js):
                tap(False, f"{name}: replay ran (exit {p.returncode})")
                diag(err[-2000:])
                tap(False, f"{name}: no holds or suspensions (replay failed)")
                continue
            data = json.load(open(js))
            accts = data.get("accounts", [])
            dec = {a: 0 for a in ACTIONS}
            worst = {a: 0 for a in ACTIONS}
            mark_days = {a: set() for a in ACTIONS}
            capped = 0
            contained = []
            for a in accts:
                for k, v in (a.get("decisions") or {}).items():
                    if k in dec:
                        dec[k] += v
                    elif k == "reject":  # refused because suspended earlier
                        dec["suspend"] += v
                if a.get("worst_action") in worst:
                    worst[a["worst_action"]] += 1
                marks = a.get("actions") or []
                capped += len(marks) >= 64
                for m in marks:
                    d = day_of(m.get("at"))
                    if m.get("action") in mark_days and d is not None:
                        mark_days[m["action"]].add((a["account"], d))
                if a.get("worst_action") in ("hold", "suspend"):
                    n_c = sum(v for k, v in (a.get("decisions") or {}).items() if k in ("hold", "suspend", "reject"))
                    first_c = next((m for m in marks if m.get("action") in ("hold", "suspend")), None)
                    contained.append((n_c, a, first_c))
            tot = data.get("totals", {})
            ok_run = tot.get("messages", facts["msgs"]) >= facts["msgs"] * 0.99
            tap(ok_run, f"{name}: replay of {facts['msgs']} messages from {facts['accounts']} accounts "
                        f"({nd} account-days) ran")
            diag(f"{name}: {facts['msgs']} messages, {facts['rcpts']} recipients ({facts['ext']} external), "
                 f"{facts['accounts']} accounts, {nd} account-days; rows skipped (not {own} / bad): "
                 f"{facts['skipped']}; out of time order: {facts['unsorted']}")
            diag(f"{name}: replay counted {tot.get('messages')} messages, {tot.get('accounts')} accounts, "
                 f"{tot.get('flagged')} flagged; unparsed {data.get('lines', {}).get('unparsed')}; "
                 f"log {facts['gen_s']:.1f}s, replay {rep_s:.1f}s")
            rows = [("action", "decisions", "/1k acct-days", "acct-days w/ marker (>=)", "/1k acct-days",
                     "accounts (worst)")]
            for k in ACTIONS:
                rows.append((k, str(dec[k]), f"{per_k(dec[k], nd):.2f}", str(len(mark_days[k])),
                             f"{per_k(len(mark_days[k]), nd):.2f}", str(worst[k])))
            wid = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
            diag("\n".join("  ".join(c.rjust(wid[i]) if i else c.ljust(wid[i]) for i, c in enumerate(r))
                           for r in rows))
            if capped:
                diag(f"{name}: {capped} accounts hit the 64-marker cap (marker days undercounted)")
            n_hs = dec["hold"] + dec["suspend"]
            tap(ok_run and n_hs == 0, f"{name}: no legitimate account held or suspended "
                           f"({dec['hold']} hold, {dec['suspend']} suspend decisions on "
                           f"{len(contained)} accounts)" + ("" if ok_run else "; replay did not count the messages"))
            contained.sort(key=lambda x: -x[0])
            for n_c, a, fc in contained[:5]:
                fa = a.get("first_action") or {}
                why = fc or fa
                diag(f"  {a['account']}: worst {a.get('worst_action')}, decisions {a.get('decisions')}; "
                     f"first {why.get('action')} at {why.get('at')}: {why.get('reason')}"
                     + ("" if fc is None or fc is fa else
                        f"; first action {fa.get('action')} at {fa.get('at')}: {fa.get('reason')}"))
        diag(f"total run time {time.time() - t0:.1f}s")
    finally:
        if os.environ.get("KEEP") == "1":
            diag(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
