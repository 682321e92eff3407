#!/usr/bin/env python3
"""Minimal Postfix policy delegation server (check_policy_service) for bed self-tests.

Answers every request with `action=ACTION`, or with the action given for its
protocol_state, and appends each request as one JSON line to --log (stdout by default).

  policy_stub.py [--listen 127.0.0.1:10040 | --unix /path.sock] [--action DUNNO]
                 [--on END-OF-MESSAGE="DEFER_IF_PERMIT too many"] [--log FILE]

Loopback only: --listen must name a 127.0.0.0/8 address.
"""
import argparse
import json
import os
import socketserver
import sys
import threading

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--listen", default="127.0.0.1:10040")
ap.add_argument("--unix")
ap.add_argument("--action", default="DUNNO")
ap.add_argument("--on", action="append", default=[], metavar="STATE=ACTION",
                help="action for one protocol_state (RCPT, END-OF-MESSAGE, DATA, ...)")
ap.add_argument("--log", help="append requests (JSON lines) here [stdout]")
a = ap.parse_args()
out = open(a.log, "a", buffering=1) if a.log else sys.stdout
lock = threading.Lock()
per_state = dict(o.split("=", 1) for o in a.on)


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        req = {}
        for line in self.rfile:                      # one connection carries many requests
            line = line.decode("utf-8", "replace").rstrip("\r\n")
            if line:
                k, _, v = line.partition("=")
                req[k] = v
                continue
            reply = "action=%s\n\n" % per_state.get(req.get("protocol_state"), a.action)
            with lock:
                out.write(json.dumps(req) + "\n")
            self.wfile.write(reply.encode())
            self.wfile.flush()
            req = {}


if a.unix:
    if os.path.exists(a.unix):
        os.unlink(a.unix)

    class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True
    srv = Server(a.unix, Handler)
    os.chmod(a.unix, 0o666)                          # smtpd runs as user postfix
else:
    host, port = a.listen.rsplit(":", 1)
    if not host.startswith("127."):
        sys.exit("policy_stub: refusing to listen on non-loopback %s" % host)

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True
    srv = Server((host, int(port)), Handler)
print("policy_stub: listening on %s, action=%s" % (a.unix or a.listen, a.action), file=sys.stderr, flush=True)
srv.serve_forever()
