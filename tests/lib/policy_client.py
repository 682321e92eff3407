"""Tiny Postfix policy-protocol client for the tests (stdlib only)."""
import socket

BASE = {
    "request": "smtpd_access_policy", "protocol_state": "RCPT", "protocol_name": "ESMTP",
    "client_address": "192.0.2.10", "sender": "alice@example.edu",
    "recipient": "someone@example.net", "recipient_count": "0", "instance": "i0",
    "sasl_method": "PLAIN", "sasl_username": "alice", "policy_context": "submission",
}


def connect(addr, timeout=10):
    """addr: (host, port) or a unix socket path."""
    if isinstance(addr, str):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(addr)
    else:
        s = socket.create_connection(addr, timeout=timeout)
    return s


def encode(**attrs):
    d = dict(BASE)
    d.update({k: str(v) for k, v in attrs.items()})
    return ("".join(f"{k}={v}\n" for k, v in d.items()) + "\n").encode()


def ask(sock, **attrs):
    """Send one request, return the action text (without 'action=') or None on close."""
    sock.sendall(encode(**attrs))
    buf = b""
    while not buf.endswith(b"\n\n"):
        chunk = sock.recv(4096)
        if not chunk:
            return None
        buf += chunk
    line = buf.decode(errors="replace").strip()
    return line[len("action="):] if line.startswith("action=") else line


def message(sock, account, instance, rcpts=("someone@example.net",), **extra):
    """One message: RCPT per recipient, then END-OF-MESSAGE. Returns the answers."""
    answers = []
    for r in rcpts:
        a = ask(sock, sasl_username=account, instance=instance, recipient=r, **extra)
        answers.append(a)
        if a is None or not a.startswith(("DUNNO", "HOLD")):
            return answers
    answers.append(ask(sock, sasl_username=account, instance=instance, recipient="",
                       protocol_state="END-OF-MESSAGE", recipient_count=len(rcpts), **extra))
    return answers
