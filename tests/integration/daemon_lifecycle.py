#!/usr/bin/env python3
"""daemon_lifecycle.py - reload, restart and shutdown behaviour of `mailfuse serve` (TAP).

Starts `mailfuse serve -c CONF` with a temp config (inet listener on a free
127.0.0.1 port, unix socket, control socket and state in a temp dir) and checks:

  (a) a persistent connection opened before SIGHUP keeps working after it, and
      a valid reload that lowers account-minute from 100 to 3 applies at once:
      the 4th message in the minute gets action=DEFER_IF_PERMIT mailfuse: ...;
  (b) a broken config (unknown key on line 7) + SIGHUP: the daemon keeps running
      with the old config (the limit of 3 still applies), ctl status shows
      config.reload_failures == 1, and the log has reload_refused with ":7:";
  (c) `mailfuse check-config` on the broken file exits 1 with "FILE:7: unknown key";
  (d) state survives a restart: `ctl show ACCOUNT --json` counters are equal
      after SIGTERM + start, and after kill -9 + start (1.5 s > flush_interval
      after the last message); a `ctl suspend` made just before kill -9 survives;
  (e) shadow mode: with shadow = true; the same over-limit request is answered
      DUNNO and status shadow_decisions.throttle > 0;
  (f) requests in flight when SIGTERM arrives still get their answers (several
      connections, inet and unix, including one whose answer is a suspension
      that must be written first), the daemon exits 0 within 5 s, and the
      suspension is there after the next start.

    tests/integration/daemon_lifecycle.py          (exit 0 = all ok)
    MAILFUSE=/path/to/mailfuse KEEP=1 tests/integration/daemon_lifecycle.py

Environment: MAILFUSE [REPO/build/mailfuse]; KEEP=1 keeps the temp dir.
Only 127.0.0.1 and unix sockets; every loop is bounded.  Python 3 stdlib only.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from mfcase import RESULTS as _results, CaseFailed, PConn, check, diag, free_port, preq, tap  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
MAILFUSE = os.environ.get("MAILFUSE", os.path.join(REPO, "build", "mailfuse"))

# ---------------------------------------------------------------- TAP


_seq = [0]


def new_instance():
    _seq[0] += 1
    return "lc.%d.%d" % (os.getpid(), _seq[0])


def message(conn, account, rcpts=("friend@example.edu",)):
    """One message the way Postfix asks: RCPT per recipient, then END-OF-MESSAGE.
    Stops at the first answer that is not DUNNO (Postfix would not go on).
    Returns (final answer, list of answers)."""
    inst = new_instance()
    answers = []
    for r in rcpts:
        a = conn.ask(preq(sasl_username=account, sender=account, recipient=r, instance=inst))
        answers.append(a)
        if a != "action=DUNNO":
            return a, answers
    a = conn.ask(preq(sasl_username=account, sender=account, recipient="", instance=inst,
                      recipient_count=str(len(rcpts)), protocol_state="END-OF-MESSAGE"))
    answers.append(a)
    return a, answers


def run(cmd, timeout=10):
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


class Daemon:
    def __init__(self, conf, log, ctl_sock, wait_addr):
        self.conf, self.log, self.ctl_sock, self.wait_addr = conf, log, ctl_sock, wait_addr
        self.proc = None
        self.logf = None

    def start(self, timeout=10.0):
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen([MAILFUSE, "serve", "-c", self.conf], stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=self.logf)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise CaseFailed("mailfuse serve exited with %s; log:\n%s" % (self.proc.returncode, self.log_tail()))
            if os.path.exists(self.ctl_sock):
                try:
                    st = self.status(timeout=2)
                    PConn(self.wait_addr, timeout=1).close()
                    return st
                except Exception:
                    pass
            time.sleep(0.05)
        raise CaseFailed("mailfuse serve not ready within %.0f s; log:\n%s" % (timeout, self.log_tail()))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def ctl(self, *args, timeout=10):
        # -s, not -c: ctl -c reads the config file, which some steps break on purpose
        return run([MAILFUSE, "ctl", "-s", self.ctl_sock] + list(args), timeout=timeout)

    def status(self, timeout=10):
        rc, out, err = self.ctl("--json", "status", timeout=timeout)
        if rc != 0:
            raise CaseFailed("ctl status failed rc=%d: %s %s" % (rc, out, err))
        return json.loads(out)

    def show(self, account):
        rc, out, err = self.ctl("--json", "show", account)
        if rc != 0:
            raise CaseFailed("ctl show %s failed rc=%d: %s %s" % (account, rc, out, err))
        return json.loads(out)

    def wait_reload(self, before, key, timeout=5.0):
        """Poll until config[key] went past its value in `before`; returns the status."""
        deadline = time.monotonic() + timeout
        st = before
        while time.monotonic() < deadline:
            st = self.status()
            if st["config"][key] > before["config"][key]:
                return st
            time.sleep(0.05)
        return st

    def _close_log(self):
        if self.logf:
            self.logf.close()
            self.logf = None

    def stop(self, timeout=5.0):
        """SIGTERM; returns (exit status or None, seconds)."""
        if not self.proc:
            return None, 0.0
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            rc = None
        took = time.monotonic() - t0
        if rc is None:
            self.kill()
        self.proc = None
        self._close_log()
        return rc, took

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.proc = None
        self._close_log()

    def log_text(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=15):
        lines = [l if len(l) <= 300 else l[:300] + "..." for l in self.log_text().splitlines()[-n:]]
        return "\n".join(lines) or "(empty log)"


def conf_text(T, port, minute_max=100, line7='shadow = false;'):
    """The config; line 7 is given so a broken one has its error exactly there."""
    lines = [
        "# generated by tests/integration/daemon_lifecycle.py",              # 1
        'listen = [ "inet:127.0.0.1:%d", "unix:%s/policy.sock" ];' % (port, T),  # 2
        'control_socket = "%s/ctl.sock";' % T,                               # 3
        'state_dir = "%s/state";' % T,                                       # 4
        'local_domains = [ "example.edu", ".example.edu" ];',                # 5
        "flush_interval = 1.0;",                                             # 6
        line7,                                                               # 7
        'log_level = "info";',                                               # 8
        'log_target = "stderr";',                                            # 9
        "limits = (",
        '  { name = "account-minute"; per = "account"; count = "messages"; window = "minute"; '
        'max = %d; action = "throttle"; },' % minute_max,
        '  { name = "account-day-recipients"; per = "account"; count = "recipients"; window = "day"; '
        'max = 8000; action = "alert"; },',
        '  { name = "client-minute"; per = "client_address"; count = "messages"; window = "minute"; '
        'max = 600; action = "throttle"; }',
        ");",
        "# accounts of trip.example.edu are suspended at their 3rd recipient of the day",
        "groups = (",
        '  { name = "tripwire"; members = [ "@trip.example.edu" ];',
        '    limits = ( { name = "trip-recipients"; per = "account"; count = "recipients"; window = "day"; '
        'max = 2; action = "suspend"; } ); }',
        ");",
    ]
    return "\n".join(lines) + "\n"


class Lifecycle:
    def __init__(self, T):
        self.T = T
        self.port = free_port()
        self.inet = ("inet", self.port)
        self.unix = ("unix", os.path.join(T, "policy.sock"))
        self.conf = os.path.join(T, "mailfuse.conf")
        self.broken = os.path.join(T, "broken.conf")
        self.write(minute_max=100)
        self.d = Daemon(self.conf, os.path.join(T, "mailfuse.log"), os.path.join(T, "ctl.sock"), self.inet)
        self.conns = []

    def write(self, path=None, **kw):
        path = path or self.conf
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(conf_text(self.T, self.port, **kw))
        os.replace(tmp, path)

    def connect(self, addr):
        c = PConn(addr)
        self.conns.append(c)
        return c

    def step(self, name, fn):
        try:
            fn()
            return tap(True, name)
        except Exception as e:
            kind = "" if isinstance(e, CaseFailed) else type(e).__name__ + ": "
            alive = self.d.alive()
            return tap(False, name, "%s%s\nalive=%s\nlog tail:\n%s" % (kind, e, alive, self.d.log_tail()))

    # ------------------------------------------------ (a) valid reload

    def reload_valid(self):
        self.p = self.connect(self.inet)          # open before SIGHUP, kept all along
        self.pu = self.connect(self.unix)
        a, ans = message(self.p, "alice@example.edu")
        check(a == "action=DUNNO", "alice message 1 before reload: %r" % ans)
        a, ans = message(self.pu, "alice@example.edu")
        check(a == "action=DUNNO", "alice message 2 before reload (unix): %r" % ans)
        self.write(minute_max=3)
        before = self.d.status()
        self.d.signal(signal.SIGHUP)
        st = self.d.wait_reload(before, "reloads")
        check(st["config"]["reloads"] == before["config"]["reloads"] + 1, "reload not seen: %r" % st["config"])
        check(st["connections"]["current"] >= 2, "connections dropped by the reload: %r" % st["connections"])
        a, ans = message(self.p, "alice@example.edu")
        check(a == "action=DUNNO", "alice message 3 after reload (inet, opened before): %r" % ans)
        a, ans = message(self.pu, "alice@example.edu")
        check(a.startswith("action=DEFER_IF_PERMIT") and "mailfuse" in a,
              "alice message 4 after lowering the limit to 3 answered %r" % ans)
        diag("4th message: %s" % a)
        show = self.d.show("alice@example.edu")
        check(show["state"] == "throttled", "ctl show alice state %r" % show["state"])

    def reload_persistent(self):
        a, ans = message(self.p, "bob@example.edu")
        check(a == "action=DUNNO", "bob on the pre-reload connection: %r" % ans)

    # ------------------------------------------------ (b) broken reload

    def reload_broken(self):
        good = open(self.conf).read()
        # the broken file raises the limit back to 100: were it applied, alice would pass
        before = self.d.status()
        self.write(minute_max=100, line7="no_such_key = true;")
        shutil.copyfile(self.conf, self.broken)
        try:
            self.d.signal(signal.SIGHUP)
            st = self.d.wait_reload(before, "reload_failures")
        finally:
            with open(self.conf, "w") as f:  # the good file back for later reloads and restarts
                f.write(good)
        check(self.d.alive(), "daemon died on a broken reload")
        check(st["config"]["reload_failures"] == 1, "config.reload_failures = %r, expected 1" % st["config"])
        check(st["config"]["reloads"] == before["config"]["reloads"],
              "reloads moved on a refused reload: %r" % st["config"])

    def broken_old_config_stays(self):
        a, ans = message(self.p, "alice@example.edu")
        check(a.startswith("action=DEFER_IF_PERMIT") and "mailfuse" in a,
              "alice after the refused reload answered %r (old limit 3 should still apply)" % ans)
        for i in range(3):
            a, ans = message(self.pu, "carl@example.edu")
            check(a == "action=DUNNO", "carl message %d: %r" % (i + 1, ans))
        a, ans = message(self.pu, "carl@example.edu")
        check(a.startswith("action=DEFER_IF_PERMIT"), "carl message 4 answered %r" % ans)

    def broken_logged(self):
        deadline = time.monotonic() + 3
        lines = []
        while time.monotonic() < deadline:
            lines = [l for l in self.d.log_text().splitlines() if "reload_refused" in l]
            if lines:
                break
            time.sleep(0.05)
        check(lines, "no reload_refused line in the log")
        diag(lines[0])
        check(any(":7:" in l for l in lines), "reload_refused line lacks ':7:'")
        check(any("unknown key" in l for l in lines), "reload_refused line lacks 'unknown key'")

    # ------------------------------------------------ (c) check-config

    def check_config(self):
        rc, out, err = run([MAILFUSE, "check-config", self.broken])
        both = out + err
        check(rc == 1, "check-config on the broken file exited %d: %s" % (rc, both))
        want = "%s:7: unknown key" % self.broken
        check(want in both, "output %r lacks %r" % (both.strip(), want))
        rc, out, err = run([MAILFUSE, "check-config", self.conf])
        check(rc == 0, "check-config on the good file exited %d: %s" % (rc, out + err))

    # ------------------------------------------------ (d) restarts

    def close_conns(self):
        for c in self.conns:
            c.close()
        self.conns = []

    def restart_term(self):
        # the good config, limit back to 100, so the state accounts send freely
        self.write(minute_max=100)
        before = self.d.status()
        self.d.signal(signal.SIGHUP)
        st = self.d.wait_reload(before, "reloads")
        check(st["config"]["reloads"] == before["config"]["reloads"] + 1, "reload (limit 100) not seen")
        c = self.connect(self.inet)
        for i in range(4):
            a, ans = message(c, "dora@example.edu", rcpts=("a@example.edu", "b@example.org", "c@example.net"))
            check(a == "action=DUNNO", "dora message %d: %r" % (i + 1, ans))
        self.dora = self.d.show("dora@example.edu")["counters"]
        check(self.dora["messages"]["minute"] == 4, "dora messages before restart: %r" % self.dora)
        self.close_conns()
        rc, took = self.d.stop()
        check(rc == 0, "SIGTERM: exit status %s after %.2f s" % (rc, took))
        self.d.start()
        after = self.d.show("dora@example.edu")["counters"]
        check(after == self.dora, "dora's counters changed over SIGTERM + start:\nbefore %r\nafter  %r"
              % (self.dora, after))
        diag("dora after SIGTERM + start: %s" % json.dumps(after, sort_keys=True))

    def restart_kill9(self):
        c = self.connect(self.unix)
        for i in range(3):
            a, ans = message(c, "dora@example.edu", rcpts=("d@example.edu",))
            check(a == "action=DUNNO", "dora message %d: %r" % (i + 5, ans))
            a, ans = message(c, "emil@example.edu", rcpts=("e@example.org", "f@example.edu"))
            check(a == "action=DUNNO", "emil message %d: %r" % (i + 1, ans))
        before = {a: self.d.show(a)["counters"] for a in ("dora@example.edu", "emil@example.edu")}
        check(before["dora@example.edu"]["messages"]["minute"] == 7, "dora: %r" % before["dora@example.edu"])
        check(before["emil@example.edu"]["messages"]["minute"] == 3, "emil: %r" % before["emil@example.edu"])
        self.close_conns()
        time.sleep(1.5)  # > flush_interval
        self.d.kill()
        self.d.start()
        after = {a: self.d.show(a)["counters"] for a in before}
        check(after == before, "counters changed over kill -9 + start:\nbefore %r\nafter  %r" % (before, after))

    def suspend_kill9(self):
        rc, out, err = self.d.ctl("suspend", "fritz@example.edu", "--reason", "r")
        self.d.kill()  # no sleep: the suspension is on disk before ctl answers
        check(rc == 0, "ctl suspend exited %d: %s %s" % (rc, out, err))
        self.d.start()
        s = self.d.show("fritz@example.edu")
        check(s["state"] == "suspended", "fritz after kill -9 + start: state %r" % s["state"])
        check(s["suspension"] and s["suspension"].get("reason") == "r", "suspension %r" % s["suspension"])
        c = self.connect(self.inet)
        a, ans = message(c, "fritz@example.edu")
        check(a.startswith("action=REJECT") and "mailfuse" in a, "fritz's message answered %r" % ans)
        rc, out, err = self.d.ctl("--json", "list")
        check(rc == 0 and "fritz@example.edu" in out, "ctl list: %s %s" % (out, err))

    # ------------------------------------------------ (e) shadow

    def shadow(self):
        self.write(minute_max=3)
        before = self.d.status()
        self.d.signal(signal.SIGHUP)
        st = self.d.wait_reload(before, "reloads")
        check(st["config"]["reloads"] == before["config"]["reloads"] + 1, "reload (limit 3) not seen")
        c = self.connect(self.inet)
        for i in range(3):
            a, ans = message(c, "gina@example.edu")
            check(a == "action=DUNNO", "gina message %d: %r" % (i + 1, ans))
        over = preq(sasl_username="gina@example.edu", sender="gina@example.edu", instance="gina.over")
        a = c.ask(over)
        check(a.startswith("action=DEFER_IF_PERMIT"), "gina's 4th message without shadow: %r" % a)
        self.write(minute_max=3, line7="shadow = true;")
        before = self.d.status()
        self.d.signal(signal.SIGHUP)
        st = self.d.wait_reload(before, "reloads")
        check(st["config"]["reloads"] == before["config"]["reloads"] + 1, "reload (shadow) not seen")
        check(st["config"]["shadow"] is True, "config.shadow %r" % st["config"]["shadow"])
        a = c.ask(over)
        check(a == "action=DUNNO", "same over-limit request in shadow mode answered %r" % a)
        a2, ans = message(c, "gina@example.edu")
        check(a2 == "action=DUNNO", "a whole over-limit message in shadow mode: %r" % ans)
        st = self.d.status()
        diag("shadow_decisions: %s  decisions: %s" % (json.dumps(st["shadow_decisions"]),
                                                     json.dumps(st["decisions"])))
        check(st["shadow_decisions"]["throttle"] > before["shadow_decisions"]["throttle"],
              "shadow_decisions.throttle did not go up: before %r after %r"
              % (before["shadow_decisions"], st["shadow_decisions"]))
        check(st["decisions"]["throttle"] == before["decisions"]["throttle"],
              "decisions.throttle went up in shadow mode: %r -> %r"
              % (before["decisions"]["throttle"], st["decisions"]["throttle"]))
        self.close_conns()
        self.write(minute_max=100)
        before = self.d.status()
        self.d.signal(signal.SIGHUP)
        st = self.d.wait_reload(before, "reloads")
        check(st["config"]["shadow"] is False, "shadow still on after reloading the normal config")

    # ------------------------------------------------ (f) in-flight at SIGTERM

    def inflight_term(self):
        conns = []
        for i in range(8):
            conns.append(self.connect(self.unix if i % 2 else self.inet))
        trip = "tina@trip.example.edu"
        tinst = new_instance()
        for r in ("r1@example.edu", "r2@example.edu"):
            a = conns[0].ask(preq(sasl_username=trip, sender=trip, recipient=r, instance=tinst))
            check(a == "action=DUNNO", "trip account, recipients 1-2: %r" % a)
        reqs = [preq(sasl_username=trip, sender=trip, recipient="r3@example.edu", instance=tinst)]
        for i in range(1, len(conns)):
            acct = "late%d@example.edu" % i
            reqs.append(preq(sasl_username=acct, sender=acct, instance=new_instance()))
        # One request on each connection and SIGTERM at once.  Even connections
        # send their whole request before the signal; odd ones send half of it
        # before and the rest right after (a request arriving while SIGTERM is
        # being delivered).  Then read every answer.
        for i, (c, r) in enumerate(zip(conns, reqs)):
            c.send(r[:len(r) // 2] if i % 2 else r)
        self.d.signal(signal.SIGTERM)
        for i, (c, r) in enumerate(zip(conns, reqs)):
            if i % 2:
                try:
                    c.send(r[len(r) // 2:])
                except OSError as e:
                    raise CaseFailed("connection %d: sending the rest of the request after SIGTERM: %s" % (i, e))
        answers = []
        for c in conns:
            try:
                answers.append(c.reply(timeout=5))
            except CaseFailed as e:
                answers.append("ERROR: %s" % e)
        proc = self.d.proc
        try:
            rc = proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            rc = None
        self.d.kill()
        self.close_conns()
        diag("answers after SIGTERM: %s" % answers)
        check(all(a.startswith("action=") for a in answers), "not every in-flight request was answered: %r" % answers)
        check(answers[0].startswith("action=REJECT"), "the 3rd recipient of the trip account: %r" % answers[0])
        check(all(a == "action=DUNNO" for a in answers[1:]), "others: %r" % answers[1:])
        check(rc == 0, "exit status %s (within 5 s)" % rc)
        self.d.start()
        s = self.d.show(trip)
        check(s["state"] == "suspended", "suspension announced during shutdown lost: %r" % s["state"])

    # ------------------------------------------------ main

    def run(self):
        def first_start():
            for attempt in range(3):  # the free port may have been taken meanwhile
                try:
                    self.d.start()
                    return
                except CaseFailed as e:
                    if "cannot listen" not in str(e) or attempt == 2:
                        raise
                    self.port = free_port()
                    self.inet = self.d.wait_addr = ("inet", self.port)
                    self.write(minute_max=100)
        ok = self.step("mailfuse serve starts", first_start)
        if not ok:
            return
        self.step("(a) valid reload lowering account-minute to 3: 4th message -> DEFER_IF_PERMIT mailfuse",
                  self.reload_valid)
        self.step("(a) connection opened before SIGHUP still answered after it", self.reload_persistent)
        self.step("(b) broken config + SIGHUP: daemon runs on, config.reload_failures == 1", self.reload_broken)
        self.step("(b) after the refused reload the old limit (3) still applies", self.broken_old_config_stays)
        self.step("(b) log has reload_refused with FILE:7: unknown key", self.broken_logged)
        self.step("(c) check-config on the broken file exits 1 with FILE:7: unknown key", self.check_config)
        self.step("(d) counters equal after SIGTERM + start", self.restart_term)
        self.step("(d) counters equal after kill -9 + start (1.5 s after the last message)", self.restart_kill9)
        self.step("(d) ctl suspend just before kill -9 survives", self.suspend_kill9)
        self.step("(e) shadow = true: the same over-limit request -> DUNNO, shadow_decisions.throttle up",
                  self.shadow)
        self.step("(f) requests in flight at SIGTERM are answered, exit 0, suspension kept", self.inflight_term)
        try:
            if not self.d.alive():  # an earlier step failed with the daemon down
                self.d.kill()
                self.d.start()
        except Exception as e:
            diag("restart before the final SIGTERM failed: %s" % e)
        rc, took = self.d.stop()
        tap(rc == 0, "final SIGTERM -> exit 0 within 5 s", "exit status %s after %.2f s\n%s"
            % (rc, took, self.d.log_tail()))


def main():
    t0 = time.monotonic()
    base = tempfile.gettempdir()
    if len(base) > 40:  # unix socket paths must stay under 108 bytes
        base = "/tmp"
    T = tempfile.mkdtemp(prefix="mflife.", dir=base)
    lc = None
    try:
        if not os.access(MAILFUSE, os.X_OK):
            tap(False, "mailfuse binary exists", "%s not found (meson setup build && ninja -C build)" % MAILFUSE)
        else:
            lc = Lifecycle(T)
            lc.run()
    except Exception as e:
        tap(False, "test script error", "%s: %s" % (type(e).__name__, e))
    finally:
        if lc is not None:
            lc.close_conns()
            lc.d.kill()
        if os.environ.get("KEEP") == "1":
            diag("kept %s" % T)
        else:
            shutil.rmtree(T, ignore_errors=True)
    print("1..%d" % len(_results))
    diag("took %.1f s" % (time.monotonic() - t0))
    sys.stdout.flush()
    return 0 if _results and all(_results) else 1


if __name__ == "__main__":
    sys.exit(main())
