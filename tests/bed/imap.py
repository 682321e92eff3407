#!/usr/bin/env python3
"""bed IMAP logins against the test bed's Dovecot (exercises Dovecot auth, its
log and the auth policy server).  Adapted from the mailbed recipe's client.

  imap.py login USER PASS [--count N] [--src IP] [--ip IP]
  imap.py badlogin USER [--password WRONG] [--count N] [--src IP] [--ip IP]
  imap.py hold USER PASS [--seconds N] [--ready] [--src IP] [--ip IP]

hold logs in, then keeps the session open for up to --seconds (default 30) and
watches for the server closing it (reads as data arrives, and sends NOOP every
0.5 s).  It prints one JSON line:
  {"logged_in": bool, "closed_by_server": bool, "after_s": float}
after_s counts from the end of LOGIN to the close (or to the end of the wait).
With --ready it first prints a line "READY" as soon as it is logged in, so a
test can run it in the background, wait for READY, act (`doveadm kick`, a deny
file), then read the JSON.  Exit status: 0 when it logged in.

--src binds the TCP source address (any 127.0.0.0/8 address works on Linux), so
Dovecot sees rip=that.  --ip sends IMAP `ID ("x-originating-ip" IP)` before LOGIN;
Dovecot honours it only from login_trusted_networks (bed: 127.0.0.0/8), and
then uses IP as rip (also in the auth policy request's "remote").
Exit status: 0 when every attempt ended as expected (login: OK, badlogin: NO).
"""
import argparse
import json
import signal
import imaplib
import os
import select
import socket
import sys
import time

imaplib.Commands.setdefault("ID", ("NONAUTH", "AUTH", "SELECTED", "LOGOUT"))


class IMAP(imaplib.IMAP4):
    def __init__(self, host, port, src, timeout):
        self._src = src
        super().__init__(host, port, timeout=timeout)

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout,
                                        source_address=(self._src, 0) if self._src else None)


def attempt(args, user, password):
    t0 = time.time()
    try:
        m = IMAP(args.host, args.port, args.src, args.timeout)
    except OSError as e:
        return "ERROR", "connect: %s" % e, time.time() - t0
    try:
        if args.ip:
            m._simple_command("ID", '("x-originating-ip" "%s" "name" "mailfuse-bed")' % args.ip)
        try:
            typ, data = m.login(user, password)
        except imaplib.IMAP4.error as e:
            return "NO", str(e), time.time() - t0
        text = b" ".join(d for d in data if d).decode("utf-8", "replace")
        if args.select:
            typ2, d2 = m.select("INBOX", readonly=True)
            text += " | INBOX: %s message(s)" % (d2[0].decode() if typ2 == "OK" else "?")
        try:
            m.logout()
        except imaplib.IMAP4.abort:
            pass
        return typ, text, time.time() - t0
    except (OSError, imaplib.IMAP4.abort) as e:
        return "ERROR", str(e), time.time() - t0


def wait_for_close(sock, seconds):
    """(closed_by_server, seconds waited): NOOP every 0.5 s, reading in between."""
    t0 = time.time()
    deadline, next_noop, tag = t0 + seconds, t0 + 0.5, 0
    sock.setblocking(True)
    while True:
        now = time.time()
        if now >= deadline:
            return False, now - t0
        try:
            if now >= next_noop:
                tag += 1
                sock.sendall(b"h%d NOOP\r\n" % tag)
                next_noop = now + 0.5
            ready, _, _ = select.select([sock], [], [], max(0.0, min(next_noop, deadline) - time.time()))
            if ready and not sock.recv(65536):
                return True, time.time() - t0      # EOF: the server closed the connection
        except OSError:                            # reset or broken pipe: closed by the server too
            return True, time.time() - t0


def hold(args):
    out = {"logged_in": False, "closed_by_server": False, "after_s": 0.0}
    try:
        m = IMAP(args.host, args.port, args.src, args.timeout)
    except OSError as e:
        out["error"] = "connect: %s" % e
        print(json.dumps(out), flush=True)
        return 1
    try:
        if args.ip:
            m._simple_command("ID", '("x-originating-ip" "%s" "name" "mailfuse-bed")' % args.ip)
        m.login(args.user, args.password)
    except (OSError, imaplib.IMAP4.error) as e:
        out["error"] = str(e)
        print(json.dumps(out), flush=True)
        return 1
    out["logged_in"] = True
    if args.ready:
        print("READY", flush=True)
    closed, waited = wait_for_close(m.sock, args.seconds)
    out.update(closed_by_server=closed, after_s=round(waited, 3))
    if not closed:
        try:
            m.logout()
        except (OSError, imaplib.IMAP4.error):
            pass
    try:
        m.sock.close()
    except OSError:
        pass
    print(json.dumps(out), flush=True)
    return 0


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)   # `... | head` must not traceback
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["login", "badlogin", "hold"])
    ap.add_argument("user")
    ap.add_argument("password", nargs="?")
    ap.add_argument("--password", dest="wrong", default="wrong-password",
                    help="password used by badlogin [wrong-password]")
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=int(os.environ.get("IMAP_PORT", "10143")))
    ap.add_argument("--src", help="bind this source address, e.g. 127.0.0.9")
    ap.add_argument("--ip", help="claim this client IP via IMAP ID x-originating-ip")
    ap.add_argument("--no-select", dest="select", action="store_false",
                    help="login: do not SELECT INBOX after logging in")
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--seconds", type=float, default=30.0,
                    help="hold: how long to wait for the server to close the session [30]")
    ap.add_argument("--ready", action="store_true",
                    help="hold: print READY once logged in")
    args = ap.parse_args()
    if args.mode in ("login", "hold") and args.password is None:
        ap.error("%s needs USER PASS" % args.mode)
    if args.mode == "hold":
        return hold(args)
    password = args.password if args.mode == "login" else (args.password or args.wrong)
    want = "OK" if args.mode == "login" else "NO"
    good = 0
    for i in range(args.count):
        typ, text, dt = attempt(args, args.user, password)
        print("%s %s #%d: %s %s (%.2fs)" % (args.mode, args.user, i + 1, typ, text, dt))
        good += typ == want
    if args.count > 1:
        print("%s %s: %d/%d ended %s" % (args.mode, args.user, good, args.count, want))
    return 0 if good == args.count else 1


if __name__ == "__main__":
    sys.exit(main())
