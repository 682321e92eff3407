#!/usr/bin/env python3
"""replay_equals_live.py - replay and live log following decide the same (TAP).

A three-day generated site log ending now, with two hijacked accounts, is
run through `mailfuse replay` and, separately, followed live by
`mailfuse serve` (log_files, tail_from = beginning).  Both run the same
parsers, feed and engine on the lines' own time stamps, so every account
must get the same decisions: the same number per action and the same
first decision with its time.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MF = os.environ.get("MAILFUSE", os.path.join(REPO, "build", "mailfuse"))
GEN = os.path.join(REPO, "tests", "gen", "maillog.py")
results = []


def tap(ok, name, diag=None):
    results.append(bool(ok))
    print(f"{'ok' if ok else 'not ok'} {len(results)} - {name}")
    if diag is not None and not ok:
        for line in str(diag).splitlines()[:20]:
            print(f"# {line}")


def main():
    d = tempfile.mkdtemp(prefix="mf-eq.")
    p = None
    try:
        start = int(time.time()) // 3600 * 3600 - 3 * 86400
        log = os.path.join(d, "mail.log")
        with open(log, "w") as f:
            subprocess.run([sys.executable, GEN, "--seed", "11", "--accounts", "400", "--days", "3",
                            "--format", "iso", "--start", str(start), "--burst", "user00013@20",
                            "--burst", "user00100@50"], stdout=f, check=True)
        nlines = sum(1 for _ in open(log))
        with open(os.path.join(REPO, "etc", "mailfuse.conf")) as f:
            base = f.read()
        conf = os.path.join(d, "m.conf")
        with open(conf, "w") as f:
            f.write(base.replace('"inet:127.0.0.1:10040", "unix:/run/mailfuse/policy.sock"', f'"unix:{d}/p.sock"')
                    .replace("/run/mailfuse/ctl.sock", f"{d}/ctl.sock").replace("/var/lib/mailfuse", f"{d}/state")
                    + f'\nlog_files = [ "{log}" ];\ntail_from = "beginning";\nlog_timezone = "UTC";\n'
                    'decision_log_limit = 0;\n')
        js = os.path.join(d, "r.json")
        r = subprocess.run([MF, "replay", "-c", conf, "-q", "--json", js, log], capture_output=True, text=True,
                           timeout=120)
        tap(r.returncode == 0, "replay runs", r.stderr)
        rep = json.load(open(js))
        replay_dec = {a["account"]: a["decisions"] for a in rep["accounts"]}
        replay_first = {a["account"]: (a["first_action"]["action"], a["first_action"]["at"]) for a in rep["accounts"]}
        err = open(os.path.join(d, "err.log"), "w")
        p = subprocess.Popen([MF, "serve", "-c", conf], stderr=err)
        lines = 0
        for _ in range(300):
            time.sleep(0.1)
            st = subprocess.run([MF, "ctl", "-s", f"{d}/ctl.sock", "--json", "status"], capture_output=True, text=True)
            if st.returncode == 0:
                lines = json.loads(st.stdout)["logs"]["lines"]
                if lines >= nlines:
                    break
        tap(lines == nlines, f"the live daemon read all {nlines} lines", lines)
        p.terminate()
        p.wait(timeout=10)
        err.close()
        live_dec = defaultdict(lambda: defaultdict(int))
        live_first = {}
        pat = re.compile(r"decision account=(\S+) .*stage=log:\S+ at=(\S+) action=(\S+)")
        for line in open(os.path.join(d, "err.log")):
            m = pat.search(line)
            if not m:
                continue
            acct, at, action = m.groups()
            live_dec[acct][action] += 1
            live_first.setdefault(acct, at)
        live_dec = {k: dict(v) for k, v in live_dec.items()}
        tap(len(replay_dec) >= 2, f"replay flagged the hijacked accounts ({sorted(replay_dec)})", replay_dec)
        tap(live_dec == replay_dec, "same decisions per account and action",
            f"replay={replay_dec}\nlive={live_dec}")
        rf = {k: v[1] for k, v in replay_first.items()}
        tap(live_first == rf, "same first decision time per account", f"replay={rf}\nlive={live_first}")
    finally:
        if p and p.poll() is None:
            p.kill()
        shutil.rmtree(d, ignore_errors=True)
    print(f"1..{len(results)}")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
