#!/usr/bin/env python3
"""detection_scenarios.py - the risk score's acceptance scenarios (issue 4), through `mailfuse replay` (TAP).

tests/gen/site.py generates a site of 2,000 accounts with 14 days of normal
Postfix + Dovecot + Roundcube traffic, then three test days with every
incident (--all): two burst takeovers, slow webmail phishing, an intruder
under the hard limits, password spraying then takeover; and the legitimate
ones: an announcement to 5,000 internal recipients, a newsletter account
sending 20,000 a day (history included), a traveller, a teacher sending 300
messages in an hour, a user back from three months of leave.  The log goes
through `mailfuse replay` with the example config (etc/mailfuse.conf) plus
`score = true;`, and the replay's JSON is judged against the generator's
ground truth (its stderr) and its timeline of the attacked accounts'
messages:

  burst          each account held or suspended after at most 50 external
                 recipients from its first malicious message
  slow-webmail   held or suspended after at most 200 malicious messages
  under-limit    held or suspended within 24 hours of its first malicious message
  spray          the guessed account throttled (or worse) before its 20th message
  legitimate     no legitimate account ever held or suspended; on the test days
                 the teacher and the returning user may be alerted or throttled
                 (counted), the announcement, the newsletter and the traveller
                 not even that
  background     no other account held or suspended (alerts and throttles on the
                 test days counted)

Two replays run at once, each fed by its own run of the generator through a
pipe (no 550 MB file on disk): the whole log, and the log `--until` the
first test day.  The engine is pure and the replay deterministic, so the
second one's decisions are the history's, and the difference is what was
decided on the test days.

"Contained" is the account's first hold or suspend at or after the incident
started: the replay JSON's `containment` {action, at, messages_before,
external_recipients_before} when it is there and falls in the incident,
else the first hold/suspend marker in `actions`.  What leaked is counted
from the generator's timeline: with `messages_before` (all the account's
messages in the replay before the containment, as `sent.before` counts),
the malicious ones among the account's first messages_before messages;
without it, the malicious messages stamped before the containment's second
ends (minus the one that triggered it): an upper bound.

Without a `score` key in `mailfuse config-keys` the replay runs with the
limits only (the table shows what they achieve) and every scenario check is
`not ok` with "score engine missing".

Environment: SITE_SCALE (default 1: 2,000 accounts, 20,000 newsletters a
day; 0.15 makes a quick 300-account run), SITE_DAYS (history, default 14),
SITE_SEED (default 1), DETECT_EXTRA_CONF (text appended to the config, e.g.
GeoIP paths), KEEP=1 keeps the work directory (log, truth, timeline, JSON),
MAILFUSE (the binary).  The CI run uses the defaults.
"""
import calendar
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
GEN = os.path.join(REPO, "tests", "gen", "site.py")
SCALE = float(os.environ.get("SITE_SCALE", "1"))
DAYS = int(os.environ.get("SITE_DAYS", "14"))
SEED = int(os.environ.get("SITE_SEED", "1"))
BUDGET = 180  # seconds for generation + replay on 2 cores
CONTAIN = ("hold", "suspend")
THROTTLE_OR_WORSE = ("throttle", "hold", "suspend")

results = []


def tap(ok, name, diag=None):
    results.append(bool(ok))
    print(f"{'ok' if ok else 'not ok'} {len(results)} - {name}")
    if diag and not ok:
        for line in str(diag).splitlines()[:20]:
            print(f"# {line}")
    sys.stdout.flush()


def diag(text):
    for line in str(text).splitlines():
        print(f"# {line}")


def epoch(iso):
    return calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ")) if iso else None


def dur(s):
    if s is None:
        return "-"
    s = int(round(s))
    sign = "-" if s < 0 else ""
    s = abs(s)
    if s < 60:
        return f"{sign}{s}s"
    if s < 3600:
        return f"{sign}{s // 60}m{s % 60:02d}s"
    return f"{sign}{s // 3600}h{s % 3600 // 60:02d}m"


def config_keys():
    """{key: type} from `mailfuse config-keys` (top-level keys only)."""
    r = subprocess.run([MF, "config-keys"], capture_output=True, text=True, timeout=30)
    keys = {}
    for line in r.stdout.splitlines():
        m = re.match(r"^\s{0,4}([a-z_][a-z0-9_]*) \(([^,)]+)", line)
        if m and not line.startswith("        "):
            keys.setdefault(m.group(1), m.group(2))
    return keys


def write_config(d, score):
    conf = os.path.join(d, "mailfuse.conf")
    with open(os.path.join(REPO, "etc", "mailfuse.conf")) as f:
        text = f.read().replace("/var/lib/mailfuse", os.path.join(d, "state"))
    text += "\n# detection_scenarios.py\n"
    # the example config may already turn it on (or off): make it on, once; or leave it out
    text, n = re.subn(r"(?m)^\s*score\s*=\s*\w+\s*;", "score = true;" if score else "", text)
    if score and n == 0:
        text += "score = true;\n"
    text += os.environ.get("DETECT_EXTRA_CONF", "") + "\n"
    with open(conf, "w") as f:
        f.write(text)
    return conf


START = "2026-03-02"  # first day of the history (site.py --start)
T0 = calendar.timegm(time.strptime(START, "%Y-%m-%d")) + DAYS * 86400  # first test day


def gen_args():
    accounts = max(300, int(round(2000 * SCALE)))
    news = max(1000, int(round(20000 * SCALE)))
    return [sys.executable, GEN, "--seed", str(SEED), "--accounts", str(accounts), "--days", str(DAYS),
            "--start", START, "--newsletter-per-day", str(news), "--all"]


def generate_and_replay(d, conf):
    """Two replays of the generated site, at once (one per core): the whole log, and the log up to the
    first test day (`--until`), whose decisions subtracted from the whole one's are those of the test
    days.  Each replay reads its own run of the (deterministic) generator through a pipe, so the
    550 MB log never touches the disk; with KEEP=1 it is written once and both replays read the file."""
    tl, js, js_hist, unp = (os.path.join(d, n) for n in ("timeline.tsv", "replay.json", "history.json",
                                                          "unparsed.txt"))
    truth_path = os.path.join(d, "truth.jsonl")
    keep = os.environ.get("KEEP") == "1"
    until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(T0))
    t0 = time.monotonic()
    replays = [["-q", "--json", js, "--unparsed", unp], ["-q", "--json", js_hist, "--until", until]]
    gens, reps = [], []
    with open(truth_path, "w") as truth_f, open(os.devnull, "w") as null:
        if keep:  # the log on disk, for a look afterwards
            log = os.path.join(d, "site.log")
            with open(log, "wb") as f:
                g = subprocess.Popen(gen_args() + ["--timeline", tl], stdout=f, stderr=truth_f)
                g.wait(timeout=BUDGET)
            gens.append(g)
        for i, extra in enumerate(replays):
            if keep:
                inp, stdin = [log], None
            else:
                g = subprocess.Popen(gen_args() + (["--timeline", tl] if i == 0 else []), stdout=subprocess.PIPE,
                                     stderr=truth_f if i == 0 else null)
                gens.append(g)
                inp, stdin = ["-"], g.stdout
            reps.append(subprocess.Popen([MF, "replay", "-c", conf, *extra, *inp], stdin=stdin,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
            if stdin is not None:
                g.stdout.close()
        outs = []
        deadline = time.monotonic() + BUDGET
        for r in reps:
            try:
                outs.append(r.communicate(timeout=max(1, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                for p in reps + gens:
                    p.kill()
                out, err = r.communicate()
                outs.append((out, err + f"\ntimed out after {BUDGET} s"))
        for g in gens:
            g.wait()
        t_all = time.monotonic() - t0
    truth = [json.loads(x) for x in open(truth_path) if x.strip().startswith("{")]
    timeline = {}
    if os.path.exists(tl):
        for line in open(tl):
            t, acct, n, ext, mal = line.rstrip("\n").split("\t")
            timeline.setdefault(acct, []).append((float(t), int(n), int(ext), int(mal)))
    hist = {}
    if reps[1].returncode == 0 and os.path.exists(js_hist):
        hist = {a["account"]: a for a in json.load(open(js_hist)).get("accounts", [])}
    return dict(gen_rc=max(g.returncode for g in gens), rc=max(r.returncode for r in reps),
                err="\n".join(o[1] for o in outs), truth=truth, timeline=timeline, json=js, unparsed=unp,
                hist=hist, hist_ok=reps[1].returncode == 0, t_all=t_all)


def first_mark(acct, actions, since):
    """(action, at) of the first marker in actions at or after `since`, else None."""
    for m in (acct or {}).get("actions", []):
        at = epoch(m.get("at"))
        if m.get("action") in actions and at is not None and at >= since:
            return m["action"], at
    return None


def containment(acct, since):
    """The first hold/suspend at or after `since`: (action, at, messages_before or None, source)."""
    if not acct:
        return None
    c = acct.get("containment")
    if isinstance(c, dict) and c.get("action") in CONTAIN and epoch(c.get("at")) is not None \
            and epoch(c["at"]) >= since:
        return c["action"], epoch(c["at"]), c.get("messages_before"), "containment"
    fm = first_mark(acct, CONTAIN, since)
    if fm:
        return fm[0], fm[1], None, "actions"
    return None


def leaked(tl, at, messages_before=None):
    """(malicious messages, their external recipients, how counted) sent before the action at `at`."""
    if messages_before is not None and 0 <= messages_before <= len(tl):
        n = messages_before
        ok_before = n == 0 or tl[n - 1][0] <= at + 1.5
        ok_after = n == len(tl) or tl[n][0] >= at - 1.5
        if ok_before and ok_after:
            sent = [e for e in tl[:n] if e[3]]
            return len(sent), sum(e[2] for e in sent), "exact"
    lo = [e for e in tl if e[3] and e[0] < at]
    hi = [e for e in tl if e[3] and e[0] < at + 1]
    sent = hi[:-1] if len(hi) > len(lo) else hi  # the message that triggered the action did not leave
    return len(sent), sum(e[2] for e in sent), "by time (upper bound)"


def marks_before(acct, since):
    """Markers (actions taken) on the account before `since`: actions on its owner's own mail."""
    out = {}
    for m in (acct or {}).get("actions", []):
        at = epoch(m.get("at"))
        if at is not None and at < since:
            out[m["action"]] = out.get(m["action"], 0) + 1
    return out


def acted(acct):
    """{action: n} of the account's decisions in a replay (dunno left out)."""
    return {k: v for k, v in (acct or {}).get("decisions", {}).items() if k != "dunno" and v}


def test_day_decisions(acct, hist_acct):
    """{action: n} decided on the test days: the whole replay's decisions minus those of the replay
    cut at the first test day (the engine is pure and replay deterministic, so the history's
    decisions are the same in both)."""
    out = acted(acct)
    for k, v in acted(hist_acct).items():
        out[k] = out.get(k, 0) - v
    return {k: v for k, v in out.items() if v}


def fmt_counts(d):
    return ", ".join(f"{k} {v}" for k, v in sorted(d.items())) if d else "none"


def main():
    d = tempfile.mkdtemp(prefix="mf-detect.")
    try:
        run(d)
    finally:
        if os.environ.get("KEEP") == "1":
            diag(f"kept {d}")
        else:
            shutil.rmtree(d, ignore_errors=True)
    print(f"1..{len(results)}")
    return 0 if all(results) else 1


def determinism():
    """The generator gives the same bytes for the same seed (a small site, twice)."""
    args = [sys.executable, GEN, "--seed", "5", "--accounts", "150", "--days", "2", "--newsletter-per-day",
            "500", "--spray-targets", "120", "--all"]
    a = subprocess.run(args, capture_output=True, timeout=60)
    b = subprocess.run(args, capture_output=True, timeout=60)
    return a.returncode == 0 and a.stdout == b.stdout and a.stderr.split(b'"seconds"')[0] == \
        b.stderr.split(b'"seconds"')[0] and len(a.stdout) > 100000


def run(d):
    if not os.access(MF, os.X_OK):
        tap(False, f"mailfuse binary at {MF}", "build it: ninja -C build")
        return
    tap(determinism(), "site.py is deterministic for a seed")
    keys = config_keys()
    score = "score" in keys
    conf = write_config(d, score)
    cc = subprocess.run([MF, "check-config", conf], capture_output=True, text=True, timeout=30)
    tap(cc.returncode == 0, "config: example limits" + (" + score = true" if score else " (no score key)"),
        cc.stdout + cc.stderr)
    missing = None if score else "score engine missing: `mailfuse config-keys` has no `score` key (limits only)"
    if missing:
        diag(missing)

    res = generate_and_replay(d, conf)
    truth, tls = res["truth"], res["timeline"]
    site = next((t for t in truth if t.get("scenario") == "site"), {})
    tap(res["gen_rc"] == 0 and site, "site.py ran", res["err"])
    tap(res["rc"] == 0 and os.path.exists(res["json"]), "replay exits 0 and writes its JSON", res["err"])
    diag(f"site: {site.get('accounts')} accounts, {site.get('history_days')} days of history from "
         f"{site.get('history_start')}, test days from {site.get('test_day')}, {site.get('lines')} lines")
    diag(f"generation {site.get('seconds')} s (inside the pipe), generation + replay {res['t_all']:.1f} s")
    tap(res["t_all"] < BUDGET, f"generation + replay within {BUDGET} s ({res['t_all']:.1f} s)")
    j = json.load(open(res["json"])) if os.path.exists(res["json"]) else {"accounts": [], "lines": {}}
    lines = j.get("lines", {})
    unp_size = os.path.getsize(res["unparsed"]) if os.path.exists(res["unparsed"]) else -1
    tap(lines.get("unparsed") == {} and unp_size == 0 and lines.get("read") == site.get("lines"),
        "every generated line is parsed (--unparsed file empty)",
        f"lines={lines} unparsed_file_bytes={unp_size} generated={site.get('lines')}\n"
        + (open(res["unparsed"]).read(1500) if unp_size > 0 else ""))
    accts = {a["account"]: a for a in j.get("accounts", [])}
    scen = [t for t in truth if t.get("kind") in ("attack", "legitimate")]
    names = sorted({t["scenario"] for t in scen})
    want = sorted(["burst", "slow-webmail", "under-limit", "spray", "legit-announcement", "legit-newsletter",
                   "legit-travel", "legit-teacher", "legit-returning"])
    tap(names == want and sum(t["scenario"] == "burst" for t in scen) == 2,
        "ground truth names every scenario", names)

    rows = []

    def verdict(ok, name, detail):
        if missing:
            tap(False, name, f"{missing}; with the limits only: {detail}")
        else:
            tap(ok, name, detail)
        return "pass" if ok else "FAIL"

    for t in scen:
        if t["kind"] != "attack":
            continue
        acct = accts.get(t["account"])
        tl = sorted(tls.get(t["account"], []))
        start, first = epoch(t["start"]), t["first_malicious_unix"]
        false = fmt_counts(marks_before(acct, start))
        name = t["scenario"]
        if name == "spray":
            fm = first_mark(acct, THROTTLE_OR_WORSE, start)
            if fm:
                n, ext, how = leaked(tl, fm[1])
                ok = n < 20
                detail = (f"{fm[0]} at {time.strftime('%H:%M:%S', time.gmtime(fm[1]))} after {n} malicious "
                          f"messages ({how}); needs fewer than 20")
                rows.append((name, t["account"], f"{fm[0]} (actions)", f"{n} / {ext}",
                             dur(max(0.0, fm[1] - first) if fm[1] > first - 1.5 else fm[1] - first), false,
                             None))
            else:
                ok, detail = False, f"never throttled; {t['messages']} malicious messages sent " \
                                    f"(first action: {(acct or {}).get('first_action')})"
                rows.append((name, t["account"], "never", f"{t['messages']} / {t['external_recipients']}", "-",
                             false, None))
            rows[-1] = rows[-1][:6] + (verdict(ok, f"spray: {t['account']} throttled before its 20th "
                                                   f"message", detail),)
            continue
        c = containment(acct, start)
        if c:
            action, at, mb, src = c
            n, ext, how = leaked(tl, at, mb)
            tt = at - first
            if -1.5 < tt < 0:  # "at" is whole seconds: the first malicious message's own second
                tt = 0.0
            contained = f"{action} ({src})"
        else:
            n, ext, how, tt, contained = t["messages"], t["external_recipients"], "all", None, "never"
        if name == "burst":
            ok = c is not None and ext <= 50
            check = f"burst: {t['account']} held or suspended within 50 external recipients"
            detail = f"{contained}: {ext} external recipients in {n} malicious messages before it ({how})"
        elif name == "slow-webmail":
            ok = c is not None and n <= 200
            check = f"slow webmail phishing: {t['account']} contained within 200 messages"
            detail = f"{contained}: {n} malicious messages before it ({how})"
        else:
            ok = c is not None and tt is not None and tt <= 24 * 3600
            check = f"under the limits: {t['account']} contained within 24 hours"
            detail = f"{contained}: {dur(tt)} after the first malicious message, {n} messages before it"
        if acct and not c:
            detail += f"; worst action {acct.get('worst_action')}, decisions {fmt_counts(acct.get('decisions'))}"
        res_ = verdict(ok, check, detail)
        rows.append((name, t["account"], contained, f"{n} / {ext}", dur(tt), false, res_))

    scen_accts = {t["account"] for t in scen} | set(site.get("roles", {}).values())
    hist = res["hist"]
    tap(res["hist_ok"], "replay of the history alone (--until the first test day) exits 0", res["err"])
    for t in scen:
        if t["kind"] != "legitimate":
            continue
        acct = accts.get(t["account"])
        dec = acted(acct)
        test = test_day_decisions(acct, hist.get(t["account"]))
        worst = (acct or {}).get("worst_action")
        held = worst in CONTAIN or any(dec.get(a) for a in CONTAIN)
        allowed = t["scenario"] in ("legit-teacher", "legit-returning")
        detail = (f"test days: {fmt_counts(test)}; whole replay: worst action {worst}, decisions "
                  f"{fmt_counts(dec)}; first action {(acct or {}).get('first_action')}")
        v = verdict(not held, f"{t['scenario']}: {t['account']} never held or suspended", detail)
        if not allowed:
            v2 = verdict(not test, f"{t['scenario']}: {t['account']} not alerted or throttled either on the "
                                   f"test days", detail)
            v = v if v2 == "pass" else "FAIL"
        rows.append((t["scenario"], t["account"], worst or "none", "-", "-",
                     f"test days: {fmt_counts(test)}; history: {fmt_counts(acted(hist.get(t['account'])))}", v))

    bg = {a: x for a, x in accts.items() if a not in scen_accts}
    bg_held = {a: x["worst_action"] for a, x in bg.items() if x.get("worst_action") in CONTAIN}
    bg_test, bg_test_accts = {}, 0
    for a_, x in bg.items():
        td = test_day_decisions(x, hist.get(a_))
        bg_test_accts += bool(td)
        for k, v in td.items():
            bg_test[k] = bg_test.get(k, 0) + v
    n_bg = site.get("accounts", 0) - len(set(site.get("roles", {}).values()))
    v = verdict(not bg_held, f"background: none of the other {n_bg} accounts held or suspended",
                f"{len(bg_held)} held/suspended: " + ", ".join(f"{a} {w}" for a, w in list(bg_held.items())[:8]))
    rows.append(("background", f"{n_bg} accounts", "-", "-", "-",
                 f"test days: {fmt_counts(bg_test)} on {bg_test_accts} accounts; whole replay: "
                 f"{len(bg)} accounts acted on", v))
    days = site.get("test_days", 3)
    if n_bg:
        diag(f"background on the {days} test days: {bg_test.get('alert', 0)} alert and "
             f"{bg_test.get('throttle', 0)} throttle decisions on {bg_test_accts} of {n_bg} accounts "
             f"(at least {bg_test_accts * 1000 / (n_bg * days):.0f} account-days with an action per 1,000)")

    diag("")
    diag("score engine: " + ("enabled (score = true)" if score else "MISSING (limits only)"))
    head = ("scenario", "account", "contained", "leaked msgs / ext rcpts", "time to containment",
            "false actions", "result")
    width = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    for r in [head, tuple("-" * w for w in width)] + rows:
        diag("  ".join(str(c).ljust(w) for c, w in zip(r, width)).rstrip())
    diag("leaked: malicious messages (external recipients) sent from the first malicious message until "
         "the containment (spray: until the first throttle); false actions: markers (changes of action) on "
         "the attacked account before the incident; on legitimate accounts, decisions on the test days "
         "and in the history (whole replay minus a replay --until the first test day)")


if __name__ == "__main__":
    sys.exit(main())
