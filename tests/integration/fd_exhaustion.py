#!/usr/bin/env python3
"""fd_exhaustion.py - mailfuse under a descriptor limit lower than max_connections (TAP).

With only 128 descriptors, mailfuse must cap its connections below the
limit (refusing and counting the extra ones) instead of running accept()
dry, spinning and flooding its log; ctl must keep working.
"""
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MF = os.environ.get("MAILFUSE", os.path.join(REPO, "build", "mailfuse"))
sys.path.insert(0, os.path.join(REPO, "tests", "lib"))
import policy_client as pc  # noqa: E402

results = []


def tap(ok, name, diag=None):
    results.append(ok)
    print(f"{'ok' if ok else 'not ok'} {len(results)} - {name}")
    if diag and not ok:
        print(f"# {diag}")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    d = tempfile.mkdtemp(prefix="mf-fd.")
    sock = os.path.join(d, "p.sock")
    conf = os.path.join(d, "m.conf")
    with open(conf, "w") as f:
        f.write(f'listen = [ "unix:{sock}" ];\ncontrol_socket = "{d}/ctl.sock";\n'
                f'state_dir = "{d}/state";\n')
    log = open(os.path.join(d, "err.log"), "w")
    lim = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))  # noqa: E731
    p = subprocess.Popen([MF, "serve", "-c", conf], stderr=log, preexec_fn=lim)
    conns = []
    try:
        for _ in range(100):
            if os.path.exists(os.path.join(d, "ctl.sock")):
                break
            time.sleep(0.05)
        for _ in range(150):
            try:
                conns.append(pc.connect(sock, timeout=2))
            except OSError:
                break
        time.sleep(0.5)
        c0 = cpu_seconds(p.pid)
        time.sleep(1.0)
        used = cpu_seconds(p.pid) - c0
        tap(used < 0.3, "no busy loop while connections are refused", f"cpu {used:.2f}s in 1s")
        st = subprocess.run([MF, "ctl", "-s", f"{d}/ctl.sock", "--json", "status"],
                            capture_output=True, text=True, timeout=10)
        ok = st.returncode == 0
        tap(ok, "ctl status answers", st.stderr)
        j = json.loads(st.stdout) if ok else {}
        cur = j.get("connections", {}).get("current", 0)
        ref = j.get("errors", {}).get("connections_refused", 0)
        print(f"# open={cur} refused={ref} (limit 128 descriptors)")
        tap(0 < cur <= 128 - 64 and ref > 0, "connections capped below the limit, extra ones counted",
            f"current={cur} refused={ref}")
        answer = pc.ask(conns[0], sasl_username="alice", instance="x")
        tap(answer == "DUNNO", "an accepted connection is still answered", answer)
        log.flush()
        size = os.path.getsize(os.path.join(d, "err.log"))
        tap(size < 200000, "the log is not flooded", f"{size} bytes")
    finally:
        for c in conns:
            c.close()
        p.terminate()
        try:
            rc = p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = -9
        tap(rc == 0, "clean exit on SIGTERM", f"rc={rc}")
        subprocess.run(["rm", "-rf", d])
    print(f"1..{len(results)}")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
