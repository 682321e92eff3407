#!/usr/bin/env python3
"""replay_generated.py - `mailfuse replay` over a generated multi-day site log (TAP).

Two days of a 300-account site (Postfix + Dovecot, classic year-less
syslog), with one account taken over on day 2: a login from a new address,
then ~140 messages a minute for 5 minutes.  The replay with the example
limits must flag that account (and no other), say when and why, count what
it would have stopped, write the JSON, the HTML report and the recipient
list, and leave no line unparsed.  The same log compressed with gzip and
zstd, split in two files, and read from stdin must give the same facts.
"""
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MF = os.environ.get("MAILFUSE", os.path.join(REPO, "build", "mailfuse"))
GEN = os.path.join(REPO, "tests", "gen", "maillog.py")
results = []


def tap(ok, name, diag=None):
    results.append(bool(ok))
    print(f"{'ok' if ok else 'not ok'} {len(results)} - {name}")
    if diag and not ok:
        for line in str(diag).splitlines()[:20]:
            print(f"# {line}")


def replay(d, conf, inputs, extra=(), stdin=None):
    cmd = [MF, "replay", "-c", conf, "--as-of", "2026-11-25", *extra, *inputs]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, input=stdin)


def facts(path):
    with open(path) as f:
        j = json.load(f)
    return {a["account"]: (a["first_action"]["action"], a["first_action"]["at"],
                           a["would_have_stopped"]["messages"]) for a in j["accounts"]}


def main():
    d = tempfile.mkdtemp(prefix="mf-replay.")
    try:
        log = os.path.join(d, "site.log")
        with open(log, "w") as f:
            subprocess.run([sys.executable, GEN, "--seed", "7", "--accounts", "300", "--days", "2",
                            "--burst", "user00042@30"], stdout=f, check=True)
        conf = os.path.join(d, "m.conf")
        with open(os.path.join(REPO, "etc", "mailfuse.conf")) as src, open(conf, "w") as dst:
            # the limits only: the learned score has its own scenario test
            dst.write(src.read().replace("/var/lib/mailfuse", d + "/state").replace("score = true;", "score = false;"))
        js, html, rc = (os.path.join(d, n) for n in ("r.json", "r.html", "rcpts.txt"))
        r = replay(d, conf, [log], ["--json", js, "--report", html, "--unparsed", os.path.join(d, "unp"),
                                    "--recipients", "user00042@example.edu", rc])
        tap(r.returncode == 0, "replay exits 0", r.stderr)
        print("# " + "\n# ".join(r.stdout.strip().splitlines()[:12]))
        j = json.load(open(js)) if os.path.exists(js) else {"accounts": [], "lines": {}}
        flagged = {a["account"]: a for a in j["accounts"]}
        tap(list(flagged) == ["user00042@example.edu"], "only the hijacked account is flagged", list(flagged))
        a = flagged.get("user00042@example.edu", {})
        fa = a.get("first_action", {})
        tap(fa.get("action") in ("throttle", "hold", "suspend") and fa.get("at", "").startswith("2026-11-22T06:0"),
            "its first action comes within the burst's first minutes", fa)
        tap(a.get("sent", {}).get("before", {}).get("messages", 10**9) <= 31,
            "it sent at most 31 messages before mailfuse acted", a.get("sent"))
        tap(a.get("would_have_stopped", {}).get("messages", 0) >= 600,
            "most of the burst would have been stopped", a.get("would_have_stopped"))
        tap(a.get("worst_action") == "suspend", "the burst escalates to a suspension", a.get("worst_action"))
        tap(any(l["address"].startswith("198.18.") for l in a.get("logins", {}).get("marks", [])),
            "the intruder's login address is in the facts", a.get("logins"))
        tap(a.get("top_recipient_domains") and a.get("client_addresses"), "top domains and clients listed")
        lines = j.get("lines", {})
        tap(lines.get("unparsed") == {} and lines.get("read", 0) > 10000,
            "no line left unparsed", lines)
        page = open(html).read() if os.path.exists(html) else ""
        tap("<svg" in page and "user00042@example.edu" in page and "http://" not in page
            and "https://" not in page and "<script" not in page,
            "the HTML report is one self-contained page with a chart")
        rcpts = open(rc).read().split() if os.path.exists(rc) else []
        tap(len(rcpts) >= 600 and all("@" in x for x in rcpts), f"recipient list written ({len(rcpts)})")
        base = facts(js)
        # the same log, compressed, split in two, and from stdin
        raw = open(log, "rb").read()
        with gzip.open(os.path.join(d, "a.gz"), "wb") as f:
            f.write(raw[: len(raw) // 2].rsplit(b"\n", 1)[0] + b"\n")
        rest = raw[len(raw[: len(raw) // 2].rsplit(b"\n", 1)[0] + b"\n"):]
        zst = os.path.join(d, "b.zst")
        if shutil.which("zstd"):
            subprocess.run(["zstd", "-q", "-o", zst], input=rest, check=True)
        else:
            open(zst, "wb").write(rest)
        r2 = replay(d, conf, [zst, os.path.join(d, "a.gz")], ["-q", "--json", js + "2"])
        tap(r2.returncode == 0 and facts(js + "2") == base, "gzip + zstd halves, merged by time: same facts",
            r2.stderr)
        r3 = replay(d, conf, ["-"], ["-q", "--json", js + "3"], stdin=raw.decode())
        tap(r3.returncode == 0 and facts(js + "3") == base, "from stdin: same facts", r3.stderr)
        r4 = replay(d, conf, [log], ["-q", "--json", js + "4", "--until", "2026-11-22T06:00:00Z"])
        tap(r4.returncode == 0 and facts(js + "4") == {}, "--until before the burst: nothing flagged")
    finally:
        shutil.rmtree(d, ignore_errors=True)
    print(f"1..{len(results)}")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
