#!/usr/bin/env python3
"""policy_badinput.py - hostile and broken policy clients against `mailfuse serve` (TAP).

Starts `mailfuse serve -c CONF` with a temp config (an inet listener on a free
127.0.0.1 port plus a unix socket, control socket and state in a temp dir),
keeps one persistent "witness" connection open, and throws bad input at the
daemon: over-long lines, 10,000 attributes, a request over 32 KiB, binary
garbage, a TLS ClientHello, an HTTP request, half requests, a client that
never reads its replies, 2,000 idle connections, a request without
sasl_username.  For each case it checks that

  (a) the case's own connection is closed by the server (no_account: it is
      answered action=DUNNO instead),
  (b) the witness still gets correct answers right after it,
  (c) the matching error counter of `mailfuse ctl status --json` went up by
      exactly the expected amount and no other error counter moved,
  (d) the daemon is still alive.

Then a second daemon with max_connections = 50 checks that the 51st
connection is closed and counted (connections_refused), and, after a reload
with client_idle_timeout = 1, that idle connections are closed and counted
(idle_closed).  The daemon's RSS is measured before and after the battery,
and both daemons must exit 0 within 5 s of SIGTERM.

    tests/integration/policy_badinput.py          (exit 0 = all ok)
    MAILFUSE=/path/to/mailfuse KEEP=1 tests/integration/policy_badinput.py

Environment: MAILFUSE [REPO/build/mailfuse]; KEEP=1 keeps the temp dir.
Only 127.0.0.1 and unix sockets are used; every loop is bounded in count
and time.  Python 3 standard library only.
"""
import errno
import json
import os
import random
import resource
import select
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

RSS_GROWTH_MAX_KB = 64 * 1024   # the daemon may grow by less than this over the battery
# An AddressSanitizer build keeps freed memory in quarantine (256 MB by default)
# instead of reusing it, so its RSS grows with everything ever allocated; leaks
# there are LeakSanitizer's job at exit (exit status != 0).
ASAN_QUARANTINE_KB = 256 * 1024
IDLE_CONNS = 2000               # idle connections opened at once
SLOW_MAX_BYTES = 50 * 1000 * 1000
SLOW_MAX_SECS = 20.0

# ---------------------------------------------------------------- TAP


def send_ignoring_reset(sock, data, timeout=5.0):
    """Send as much as the server takes; a reset or EPIPE just ends it."""
    sock.settimeout(timeout)
    try:
        sock.sendall(data)
        return True
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        return False
    except OSError as e:
        if e.errno in (errno.EPIPE, errno.ECONNRESET):
            return False
        raise


def closed_by_server(sock, timeout=5.0, max_bytes=64 * 1024 * 1024):
    """True once the server closed sock (EOF or reset); drains what it sent."""
    deadline = time.monotonic() + timeout
    got = 0
    while got <= max_bytes:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
        except OSError as e:
            if e.errno in (errno.ECONNRESET, errno.EPIPE):
                return True
            raise
        if not chunk:
            return True
        got += len(chunk)
    return False


class Daemon:
    def __init__(self, conf, log, ctl_sock):
        self.conf, self.log, self.ctl_sock = conf, log, ctl_sock
        self.proc = None
        self.logf = None

    def start(self, wait_addr=None, timeout=10.0):
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
                    if wait_addr:
                        PConn(wait_addr, timeout=1).close()
                    return st
                except Exception:
                    pass
            time.sleep(0.05)
        raise CaseFailed("mailfuse serve not ready within %.0f s; log:\n%s" % (timeout, self.log_tail()))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def pid(self):
        return self.proc.pid

    def ctl(self, *args, timeout=10):
        p = subprocess.run([MAILFUSE, "ctl", "-s", self.ctl_sock] + list(args), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")

    def status(self, timeout=10):
        rc, out, err = self.ctl("--json", "status", timeout=timeout)
        if rc != 0:
            raise CaseFailed("ctl status failed rc=%d: %s %s" % (rc, out, err))
        return json.loads(out)

    def rss_kb(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return -1

    def stop(self, timeout=5.0):
        """SIGTERM; returns (exit status or None if it did not stop, seconds)."""
        if not self.proc:
            return None, 0.0
        t0 = time.monotonic()
        rc = None
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
        if self.logf:
            self.logf.close()
            self.logf = None
        return rc, took

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def log_tail(self, n=15):
        try:
            with open(self.log, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join(l if len(l) <= 300 else l[:300] + "..." for l in lines[-n:])
        except OSError:
            return "(no log)"


def is_asan_build(path):
    try:
        with open(path, "rb") as f:
            return b"__asan_init" in f.read(64 * 1024 * 1024)
    except OSError:
        return False


def write_conf(path, T, port, max_connections=4096, extra=""):
    with open(path, "w") as f:
        f.write("""# generated by tests/integration/policy_badinput.py
listen = [ "inet:127.0.0.1:%(port)d", "unix:%(T)s/policy.sock" ];
control_socket = "%(T)s/ctl.sock";
state_dir = "%(T)s/state";
local_domains = [ "example.edu", ".example.edu" ];
sender_account_networks = [ ];
shadow = false;
flush_interval = 1.0;
log_level = "info";
log_target = "stderr";
max_connections = %(maxc)d;
%(extra)s
limits = (
  { name = "account-minute";   per = "account"; count = "messages";            window = "minute"; max = 30;   action = "throttle"; },
  { name = "account-minute-external-recipients";
                               per = "account"; count = "external_recipients"; window = "minute"; max = 100;  action = "hold"; },
  { name = "account-hour";     per = "account"; count = "messages";            window = "hour";   max = 250;  action = "throttle"; },
  { name = "account-day-external-recipients";
                               per = "account"; count = "external_recipients"; window = "day";    max = 1500; action = "suspend"; },
  { name = "throttle-escalation"; per = "account"; count = "throttled";        window = "hour";   max = 60;   action = "suspend"; },
  { name = "account-day-recipients";
                               per = "account"; count = "recipients";          window = "day";    max = 8000; action = "alert"; },
  { name = "client-minute";    per = "client_address"; count = "messages";     window = "minute"; max = 600;  action = "throttle"; },
  { name = "domain-hour";      per = "sender_domain"; count = "messages";      window = "hour";   max = 20000; action = "alert"; shadow = true; }
);
""" % {"port": port, "T": T, "maxc": max_connections, "extra": extra})


# ---------------------------------------------------------------- the battery

class Battery:
    def __init__(self, T):
        self.T = T
        self.port = free_port()
        self.inet = ("inet", self.port)
        self.unix = ("unix", os.path.join(T, "policy.sock"))
        self.conf = os.path.join(T, "mailfuse.conf")
        write_conf(self.conf, T, self.port)
        self.d = Daemon(self.conf, os.path.join(T, "mailfuse.log"), os.path.join(T, "ctl.sock"))
        self.witness = None
        self.witness_msgs = 0
        self.seq = 0

    def instance(self):
        self.seq += 1
        return "w.%d.%d" % (os.getpid(), self.seq)

    def witness_ok(self):
        """One whole message on the witness connection: RCPT then END-OF-MESSAGE, both DUNNO."""
        inst = self.instance()
        acct = "witness@example.edu"
        r1 = self.witness.ask(preq(sasl_username=acct, sender=acct, recipient="friend@example.edu",
                                   instance=inst, protocol_state="RCPT"))
        check(r1 == "action=DUNNO", "witness RCPT answered %r" % r1)
        r2 = self.witness.ask(preq(sasl_username=acct, sender=acct, recipient="", recipient_count="1",
                                   instance=inst, protocol_state="END-OF-MESSAGE"))
        check(r2 == "action=DUNNO", "witness END-OF-MESSAGE answered %r" % r2)
        self.witness_msgs += 1

    def wait_counter(self, before, key, delta, timeout=3.0):
        """Poll status until errors[key] >= before+delta; returns the last status."""
        deadline = time.monotonic() + timeout
        while True:
            st = self.d.status()
            if st["errors"][key] >= before["errors"][key] + delta or time.monotonic() > deadline:
                return st
            time.sleep(0.05)

    def run_case(self, name, body, key, delta=1):
        """body(before) -> None; raises CaseFailed. Checks (b) (c) (d) around it."""
        try:
            check(self.d.alive(), "daemon not running before the case")
            before = self.d.status()
            body(before)
            if key:
                st = self.wait_counter(before, key, delta)
                got = st["errors"][key] - before["errors"][key]
                check(got == delta, "errors.%s went up by %d, expected %d" % (key, got, delta))
            else:
                st = self.d.status()
            moved = {k: st["errors"][k] - before["errors"][k] for k in st["errors"]
                     if k != key and st["errors"][k] != before["errors"][k]}
            check(not moved, "other error counters moved: %r" % moved)
            self.witness_ok()
            check(self.d.alive(), "daemon died")
            return tap(True, name)
        except CaseFailed as e:
            return tap(False, name, "%s\nalive=%s\nlog tail:\n%s" % (e, self.d.alive(), self.d.log_tail()))
        except Exception as e:  # an unexpected client-side error is a failure too
            return tap(False, name, "%s: %s\nalive=%s\nlog tail:\n%s" % (type(e).__name__, e, self.d.alive(),
                                                                       self.d.log_tail()))

    # ------------------------------------------------ cases

    def case_send_expect_close(self, addr, data):
        def body(before):
            c = PConn(addr)
            try:
                send_ignoring_reset(c.sock, data)
                check(closed_by_server(c.sock, timeout=5), "server did not close the connection within 5 s")
            finally:
                c.close()
        return body

    def case_half_shutdown(self, addr, data):
        """Half a request, then the client's write side closes: server must close too."""
        def body(before):
            c = PConn(addr)
            try:
                c.send(data)
                time.sleep(0.1)  # let the server see the partial request first
                c.sock.shutdown(socket.SHUT_WR)
                check(closed_by_server(c.sock, timeout=5), "server did not close after the client's EOF")
            finally:
                c.close()
        return body

    def case_half_close(self, addr, data):
        """Half a request, then a full close; the server's connection count must go back."""
        def body(before):
            c = PConn(addr)
            c.send(data)
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:  # the server has accepted it
                if self.d.status()["connections"]["current"] > before["connections"]["current"]:
                    break
                time.sleep(0.02)
            time.sleep(0.1)
            c.close()
            deadline = time.monotonic() + 5
            cur = None
            while time.monotonic() < deadline:
                cur = self.d.status()["connections"]["current"]
                if cur == before["connections"]["current"]:
                    break
                time.sleep(0.05)
            check(cur == before["connections"]["current"],
                  "connections.current %s, expected %d after the close" % (cur, before["connections"]["current"]))
        return body

    def case_slow_reader(self, before):
        # Long account name + suspended account: every reply is ~300 bytes, so
        # the unread replies pile up fast (about as many bytes as we send).
        acct = "slowreader-" + "x" * 180 + "@example.edu"
        rc, out, err = self.d.ctl("suspend", acct, "--reason", "slow reader test")
        check(rc == 0, "ctl suspend failed: %s %s" % (out, err))
        one = preq(sasl_username=acct, sender=acct, instance="slow.1")
        batch = one * 500
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # we never read: keep our side small
        try:
            s.settimeout(5)
            s.connect(("127.0.0.1", self.port))
            s.setblocking(False)
            sent, t0, stop = 0, time.monotonic(), None
            while sent < SLOW_MAX_BYTES and time.monotonic() - t0 < SLOW_MAX_SECS:
                _, w, x = select.select([], [s], [s], 0.5)
                if not w and not x:
                    continue
                try:
                    sent += s.send(batch)
                except BlockingIOError:
                    continue
                except OSError as e:
                    stop = e
                    break
            took = time.monotonic() - t0
            diag("slow reader: sent %d bytes (%d requests) in %.2f s, stopped by %s"
                 % (sent, sent // len(one), took, stop or "the bound"))
            check(closed_by_server(s, timeout=5), "server did not close the slow reader's connection")
        finally:
            s.close()
        rc, out, err = self.d.ctl("release", acct)
        check(rc == 0, "ctl release failed: %s %s" % (out, err))

    def case_idle_many(self, before):
        conns = []
        base = before["connections"]["current"]
        try:
            t0 = time.monotonic()
            for i in range(IDLE_CONNS):
                check(time.monotonic() - t0 < 30, "opening %d connections took over 30 s (%d open)" % (IDLE_CONNS, i))
                addr = self.unix if i % 4 == 3 else self.inet
                conns.append(PConn(addr, timeout=5))
            diag("opened %d idle connections in %.2f s" % (len(conns), time.monotonic() - t0))
            deadline = time.monotonic() + 10
            cur = None
            while time.monotonic() < deadline:
                cur = self.d.status()["connections"]["current"]
                if cur >= base + IDLE_CONNS:
                    break
                time.sleep(0.1)
            check(cur == base + IDLE_CONNS, "connections.current %s, expected %d" % (cur, base + IDLE_CONNS))
            self.witness_ok()  # while they are all open
            # a few of them still work as normal clients
            for c in (conns[0], conns[3], conns[-1]):
                r = c.ask(preq(sasl_username="idle@example.edu", instance=self.instance()))
                check(r == "action=DUNNO", "an idle connection got %r" % r)
        finally:
            for c in conns:
                c.close()
        deadline = time.monotonic() + 10
        cur = None
        while time.monotonic() < deadline:
            cur = self.d.status()["connections"]["current"]
            if cur == base:
                break
            time.sleep(0.1)
        check(cur == base, "connections.current %s after closing them, expected %d" % (cur, base))

    def case_no_account(self, before):
        c = PConn(self.inet)
        try:
            r = c.ask(preq(sasl_username=None, sasl_method=None, sender="anon@example.org",
                           instance=self.instance()))
            check(r == "action=DUNNO", "request without sasl_username answered %r" % r)
            # the connection stays usable
            r = c.ask(preq(sasl_username="named@example.edu", instance=self.instance()))
            check(r == "action=DUNNO", "next request on the same connection answered %r" % r)
        finally:
            c.close()

    # ------------------------------------------------ max_connections daemon

    def max_connections_cases(self):
        T2 = os.path.join(self.T, "d2")
        os.makedirs(T2)
        port2 = free_port()
        conf2 = os.path.join(T2, "mailfuse.conf")
        write_conf(conf2, T2, port2, max_connections=50)
        d2 = Daemon(conf2, os.path.join(T2, "mailfuse.log"), os.path.join(T2, "ctl.sock"))
        inet2 = ("inet", port2)
        unix2 = ("unix", os.path.join(T2, "policy.sock"))
        name = "max_connections = 50: the 51st connection is closed, counted, and the 50 still work"
        conns = []
        try:
            try:
                for attempt in range(3):  # the free port may have been taken meanwhile
                    try:
                        d2.start(wait_addr=inet2)
                        break
                    except CaseFailed as e:
                        if "cannot listen" not in str(e) or attempt == 2:
                            raise
                        port2 = free_port()
                        inet2 = ("inet", port2)
                        write_conf(conf2, T2, port2, max_connections=50)
                deadline = time.monotonic() + 5
                while d2.status()["connections"]["current"] != 0 and time.monotonic() < deadline:
                    time.sleep(0.05)  # the readiness probe's connection is gone
                before = d2.status()
                for i in range(50):
                    conns.append(PConn(unix2 if i % 5 == 4 else inet2))
                deadline = time.monotonic() + 5
                cur = None
                while time.monotonic() < deadline:
                    cur = d2.status()["connections"]["current"]
                    if cur >= 50:
                        break
                    time.sleep(0.05)
                check(cur == 50, "connections.current %s, expected 50" % cur)
                extra = PConn(inet2)
                try:
                    check(closed_by_server(extra.sock, timeout=5), "the 51st connection was not closed")
                finally:
                    extra.close()
                st = d2.status()
                got = st["errors"]["connections_refused"] - before["errors"]["connections_refused"]
                check(got == 1, "connections_refused went up by %d, expected 1" % got)
                for c in (conns[0], conns[4], conns[49]):
                    r = c.ask(preq(sasl_username="full@example.edu", instance="full.%d" % id(c)))
                    check(r == "action=DUNNO", "one of the 50 answered %r" % r)
                # a freed slot is usable again
                conns.pop(0).close()
                deadline = time.monotonic() + 5
                while d2.status()["connections"]["current"] != 49 and time.monotonic() < deadline:
                    time.sleep(0.05)
                again = PConn(inet2)
                conns.append(again)
                r = again.ask(preq(sasl_username="full@example.edu", instance="full.again"))
                check(r == "action=DUNNO", "a new connection after one closed answered %r" % r)
                check(d2.alive(), "daemon died")
                tap(True, name)
            except Exception as e:
                tap(False, name, "%s: %s\nlog tail:\n%s" % (type(e).__name__, e, d2.log_tail()))
            finally:
                for c in conns:
                    c.close()

            name = "client_idle_timeout = 1 (after reload): an idle connection is closed and counted as idle_closed"
            try:
                check(d2.alive(), "daemon not running")
                write_conf(conf2, T2, port2, max_connections=50, extra="client_idle_timeout = 1;")
                before = d2.status()
                d2.proc.send_signal(signal.SIGHUP)
                deadline = time.monotonic() + 5
                st = before
                while time.monotonic() < deadline:
                    st = d2.status()
                    if st["config"]["reloads"] > before["config"]["reloads"]:
                        break
                    time.sleep(0.05)
                check(st["config"]["reloads"] == before["config"]["reloads"] + 1,
                      "reload not done: %r" % st["config"])
                c = PConn(inet2)
                try:
                    r = c.ask(preq(sasl_username="idle1@example.edu", instance="idle.1"))
                    check(r == "action=DUNNO", "answered %r" % r)
                    t0 = time.monotonic()
                    check(closed_by_server(c.sock, timeout=6), "idle connection not closed within 6 s")
                    took = time.monotonic() - t0
                    diag("idle connection closed after %.2f s" % took)
                    check(took >= 0.8, "closed after only %.2f s of idleness" % took)
                finally:
                    c.close()
                st = d2.status()
                got = st["errors"]["idle_closed"] - before["errors"]["idle_closed"]
                check(got == 1, "idle_closed went up by %d, expected 1" % got)
                check(d2.alive(), "daemon died")
                tap(True, name)
            except Exception as e:
                tap(False, name, "%s: %s\nlog tail:\n%s" % (type(e).__name__, e, d2.log_tail()))

            rc, took = d2.stop(timeout=5)
            tap(rc == 0, "second daemon: SIGTERM -> exit 0 within 5 s",
                "exit status %s after %.2f s\nlog tail:\n%s" % (rc, took, d2.log_tail()))
        finally:
            d2.kill()

    # ------------------------------------------------ main

    def run(self):
        try:
            for attempt in range(3):  # the free port may have been taken meanwhile
                try:
                    self.d.start(wait_addr=self.inet)
                    break
                except CaseFailed as e:
                    if "cannot listen" not in str(e) or attempt == 2:
                        raise
                    self.port = free_port()
                    self.inet = ("inet", self.port)
                    write_conf(self.conf, self.T, self.port)
            self.witness = PConn(self.inet)
            self.witness_ok()
            tap(True, "mailfuse serve starts; the witness connection is answered")
        except Exception as e:
            tap(False, "mailfuse serve starts; the witness connection is answered",
                "%s: %s\nlog tail:\n%s" % (type(e).__name__, e, self.d.log_tail()))
            return
        time.sleep(0.3)
        rss0 = self.d.rss_kb()

        rng = random.Random(20261123)
        garbage = b"\x00\xff\x00" + bytes(rng.getrandbits(8) for _ in range(8189))
        client_hello = (bytes.fromhex("160301") + (512).to_bytes(2, "big") + bytes.fromhex("010001fc0303")
                        + bytes(rng.getrandbits(8) for _ in range(32)) + b"\x20"
                        + bytes(rng.getrandbits(8) for _ in range(32))
                        + bytes.fromhex("0024130113021303c02bc02fc02cc030cca9cca8c013c014009c009d002f0035000a0100")
                        + bytes.fromhex("0193000000140012000010706f6c6963792e6578616d706c65")
                        + b"\x00" * 380)
        many_attrs = b"request=smtpd_access_policy\n" + b"".join(b"attr%d=v\n" % i for i in range(10000)) + b"\n"
        too_large = (b"request=smtpd_access_policy\nsasl_username=big@example.edu\n"
                     + b"".join(b"x%d=" % i + b"y" * 4000 + b"\n" for i in range(10)) + b"\n")
        half = b"request=smtpd_access_policy\nprotocol_state=RCPT\nsasl_username=half@example.edu\n"

        self.run_case("over-long line (5000 bytes, no newline) -> closed, line_too_long",
                      self.case_send_expect_close(self.inet, b"request=smtpd_access_policy\nsasl_username="
                                                  + b"a" * 5000), "line_too_long")
        self.run_case("over-long line (8000 bytes + newline, unix socket) -> closed, line_too_long",
                      self.case_send_expect_close(self.unix, b"request=smtpd_access_policy\nsender="
                                                  + b"b" * 8000 + b"\n\n"), "line_too_long")
        self.run_case("10,000 attributes in one request -> closed, too_many_attributes",
                      self.case_send_expect_close(self.inet, many_attrs), "too_many_attributes")
        self.run_case("request of 40 KB in 4 KB lines -> closed, request_too_large",
                      self.case_send_expect_close(self.inet, too_large), "request_too_large")
        self.run_case("8 KB of random bytes with NULs -> closed, garbage",
                      self.case_send_expect_close(self.inet, garbage), "garbage")
        self.run_case("TLS ClientHello -> closed, garbage",
                      self.case_send_expect_close(self.inet, client_hello), "garbage")
        self.run_case("HTTP request (unix socket) -> closed, garbage",
                      self.case_send_expect_close(self.unix, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"),
                      "garbage")
        self.run_case("half a request then EOF -> closed, incomplete",
                      self.case_half_shutdown(self.inet, half), "incomplete")
        self.run_case("half a line then close (unix socket) -> connection gone, incomplete",
                      self.case_half_close(self.unix, half + b"recipient=fri"), "incomplete")
        self.run_case("client sends many requests and never reads -> closed, slow_reader",
                      self.case_slow_reader, "slow_reader")
        self.run_case("%d idle connections at once: witness answered, all closed cleanly" % IDLE_CONNS,
                      self.case_idle_many, None)
        self.run_case("request without sasl_username -> action=DUNNO, no_account",
                      self.case_no_account, "no_account")

        name = "witness's messages are all counted (ctl show witness@example.edu)"
        try:
            rc, out, err = self.d.ctl("--json", "show", "witness@example.edu")
            check(rc == 0, "ctl show failed: %s %s" % (out, err))
            day = json.loads(out)["counters"]["messages"]["day"]
            tap(day == self.witness_msgs, name, "messages.day=%s, witness sent %d" % (day, self.witness_msgs))
        except Exception as e:
            tap(False, name, "%s: %s" % (type(e).__name__, e))

        time.sleep(0.3)
        rss1 = self.d.rss_kb() if self.d.alive() else -1
        bound = RSS_GROWTH_MAX_KB
        if is_asan_build(MAILFUSE):
            bound += ASAN_QUARANTINE_KB
            diag("AddressSanitizer build: RSS bound raised by its quarantine (%d kB)" % ASAN_QUARANTINE_KB)
        diag("daemon VmRSS before the battery: %d kB, after: %d kB, growth: %d kB (bound %d kB)"
             % (rss0, rss1, rss1 - rss0, bound))
        tap(rss0 > 0 and rss1 > 0 and rss1 - rss0 < bound,
            "daemon RSS grows less than %d MB over the battery" % (bound // 1024),
            "before %d kB, after %d kB" % (rss0, rss1))

        self.max_connections_cases()

        self.witness.close()
        rc, took = self.d.stop(timeout=5)
        diag("main daemon stopped in %.2f s with status %s" % (took, rc))
        tap(rc == 0, "SIGTERM -> exit 0 within 5 s",
            "exit status %s after %.2f s\nlog tail:\n%s" % (rc, took, self.d.log_tail()))


def main():
    t0 = time.monotonic()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = IDLE_CONNS + 512
    if soft != resource.RLIM_INFINITY and soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    base = tempfile.gettempdir()
    if len(base) > 40:  # unix socket paths must stay under 108 bytes
        base = "/tmp"
    T = tempfile.mkdtemp(prefix="mfbad.", dir=base)
    b = None
    try:
        if not os.access(MAILFUSE, os.X_OK):
            tap(False, "mailfuse binary exists", "%s not found (meson setup build && ninja -C build)" % MAILFUSE)
        else:
            soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
            if soft != resource.RLIM_INFINITY and soft < IDLE_CONNS + 100:
                diag("RLIMIT_NOFILE is only %d" % soft)
            b = Battery(T)
            b.run()
    except Exception as e:
        tap(False, "test script error", "%s: %s" % (type(e).__name__, e))
    finally:
        if b is not None:
            if b.witness:
                b.witness.close()
            b.d.kill()
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
