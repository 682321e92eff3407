#!/usr/bin/env python3
"""webhook_sink.py - a tiny HTTP server on 127.0.0.1 that records webhook POSTs
for the tests (Python 3 standard library only).

  webhook_sink.py --out FILE [--port N] [--header NAME]... [--fail-file F]

The first line on stdout is "PORT n" (the chosen port when --port is 0, the
default), printed once it listens.  Every POST answered 200 appends one line of
compact JSON to FILE:
  {"time": 1795452128.5, "path": "/hook", "headers": {"X-Mailfuse-Signature": "..."},
   "body": <the body parsed as JSON, or its text when it is not JSON>, "json": true}
"headers" holds exactly the --header names asked for (as spelled there; the
match is case-insensitive; null when the request lacked it).  While the file
--fail-file exists every POST is answered 503 and not recorded (to test
retries).  Each request is also logged on stderr.  GET answers 200 "ok" (a
readiness probe).  Bodies over 10 MB are refused (413).  Exits 0 on SIGTERM.
"""
import argparse
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BODY_MAX = 10 * 1024 * 1024


class Sink(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port, args):
        super().__init__(("127.0.0.1", port), Handler)
        self.args = args
        self.lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive, and Expect: 100-continue handled

    def log_message(self, fmt, *a):
        sys.stderr.write("webhook_sink: %s\n" % (fmt % a))

    def reply(self, code, text):
        data = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        """The request body, or None when it is too large or malformed."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass   # trailers
                    return body
                if len(body) + size > BODY_MAX:
                    return None
                body += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return None if n < 0 or n > BODY_MAX else self.rfile.read(n)

    def do_GET(self):
        self.reply(200, "ok\n")

    def do_POST(self):
        args = self.server.args
        try:
            body = self.read_body()
        except ValueError:
            body = None
        if body is None:
            self.close_connection = True
            return self.reply(413, "body too large or malformed\n")
        if args.fail_file and os.path.exists(args.fail_file):
            return self.reply(503, "failing on purpose (%s exists)\n" % args.fail_file)
        text = body.decode("utf-8", "replace")
        try:
            parsed, is_json = json.loads(text), True
        except ValueError:
            parsed, is_json = text, False
        rec = {"time": round(time.time(), 3), "path": self.path,
               "headers": {h: self.headers.get(h) for h in args.header},
               "body": parsed, "json": is_json}
        line = json.dumps(rec, separators=(",", ":"), sort_keys=True) + "\n"
        with self.server.lock, open(args.out, "a", encoding="utf-8") as f:
            f.write(line)
        self.reply(200, "ok\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 [0: any free one]")
    ap.add_argument("--out", required=True, help="append one JSON line per accepted POST here")
    ap.add_argument("--header", action="append", default=[], metavar="NAME",
                    help="record this request header (repeatable)")
    ap.add_argument("--fail-file", metavar="F", help="answer 503 while F exists")
    args = ap.parse_args()

    def on_term(signum, frame):
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, on_term)

    srv = Sink(args.port, args)
    print("PORT %d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    except (SystemExit, KeyboardInterrupt):
        pass
    finally:
        srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
