"""mfcase.py - TAP output and a policy-protocol client for the Python tests.

Shared by tests/integration/policy_badinput.py and daemon_lifecycle.py.
RESULTS holds one bool per TAP line printed so far.
"""
import socket
import sys
import time

RESULTS = []


def diag(msg):
    for line in str(msg).splitlines() or [""]:
        print("# " + line)
    sys.stdout.flush()


def tap(ok, name, detail=None):
    RESULTS.append(bool(ok))
    print("%s %d - %s" % ("ok" if ok else "not ok", len(RESULTS), name))
    if not ok and detail:
        diag(detail)
    sys.stdout.flush()
    return ok


class CaseFailed(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise CaseFailed(msg)


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def preq(**attrs):
    """One policy request; attrs override the defaults, None drops one."""
    a = {
        "request": "smtpd_access_policy",
        "protocol_state": "RCPT",
        "protocol_name": "ESMTPSA",
        "client_address": "127.0.0.1",
        "client_name": "localhost",
        "helo_name": "client.example.edu",
        "sasl_method": "PLAIN",
        "sasl_username": "someone@example.edu",
        "sender": "someone@example.edu",
        "recipient": "friend@example.edu",
        "recipient_count": "0",
        "instance": "0.0.0",
    }
    a.update(attrs)
    return "".join("%s=%s\n" % (k, v) for k, v in a.items() if v is not None).encode() + b"\n"


class PConn:
    """A policy client connection with a reply buffer; addr is ("inet", port) or ("unix", path)."""

    def __init__(self, addr, timeout=5.0, rcvbuf=None):
        kind, where = addr
        fam = socket.AF_INET if kind == "inet" else socket.AF_UNIX
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", where) if kind == "inet" else where)
        self.buf = b""

    def send(self, data, timeout=5.0):
        self.sock.settimeout(timeout)
        self.sock.sendall(data)

    def reply(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while b"\n\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CaseFailed("no reply within %.1f s (have %r)" % (timeout, self.buf[:200]))
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise CaseFailed("connection closed before a reply (have %r)" % self.buf[:200])
            self.buf += chunk
        r, self.buf = self.buf.split(b"\n\n", 1)
        return r.decode("utf-8", "replace")

    def ask(self, data, timeout=5.0):
        self.send(data, timeout)
        return self.reply(timeout)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
