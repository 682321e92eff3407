#!/usr/bin/env python3
"""bed send: push N authenticated messages through the test bed's submission port
and tally what the server answered (accepted / deferred / rejected / errors), with
the distinct SMTP replies seen per stage.  Adapted from the mailbed recipe's client.

  send.py USER PASS N [--to-external|--to-internal|--to ADDR] [--rcpts K] [options] [--json]

--json prints one object: accepted/deferred/rejected/errors, rcpt_* tallies,
"replies" (distinct normalised replies with stage, code, text, count, example),
"stages" ({stage: [{code, text, count}]}) and "per_message" ([{seq, outcome,
stage, code, text, queue_id}] in seq order; the reply that decided the message).
smtp-source (shipped in the postfix package) cannot AUTH, hence this script.
"""
import argparse
import signal
import collections
import json
import os
import re
import smtplib
import socket
import sys
import threading
import time
import uuid

DOMAIN = "example.edu"
INTERNAL_USERS = ["alice", "bob", "carol", "dave", "eve"]


def norm(text):
    """Make replies comparable: hide queue ids and addresses."""
    text = re.sub(r"queued as [0-9A-Za-z]+", "queued as QID", text)
    text = re.sub(r"<[^<>@\s]*@[^<>\s]*>", "<ADDR>", text)
    return text


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.msgs = collections.Counter()      # accepted/deferred/rejected/error
        self.rcpts = collections.Counter()
        self.replies = collections.Counter()   # (stage, code, normalized text)
        self.example = {}
        self.first_error = None
        self.per_msg = {}                      # seq -> decisive (stage, code, text)

    def reply(self, stage, code, text):
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        text = " ".join(text.split())
        key = (stage, code, norm(text))
        with self.lock:
            self.replies[key] += 1
            self.example.setdefault(key, text)

    def msg(self, outcome, seq=None, stage=None, code=None, text=None):
        with self.lock:
            self.msgs[outcome] += 1
            if seq is not None:
                if isinstance(text, bytes):
                    text = text.decode("utf-8", "replace")
                text = " ".join(str(text or "").split())
                m = re.search(r"queued as ([0-9A-Za-z]+)", text)
                self.per_msg[seq] = {"seq": seq, "outcome": outcome, "stage": stage, "code": code,
                                     "text": text, "queue_id": m.group(1) if m else None}

    def rcpt(self, outcome):
        with self.lock:
            self.rcpts[outcome] += 1


def outcome_of(code):
    if 200 <= code < 300:
        return "accepted"
    if 400 <= code < 500:
        return "deferred"
    if 500 <= code < 600:
        return "rejected"
    return "error"


def build_message(sender, rcpts, seq, total, size):
    body = "bed test message %d/%d\r\n" % (seq, total)
    if size > len(body):
        line = "x" * 76 + "\r\n"
        body += line * ((size - len(body)) // len(line) + 1)
    hdr = (
        "From: <%s>\r\nTo: %s\r\nSubject: bed %d/%d\r\n"
        "Message-ID: <%s@bed.%s>\r\nDate: %s\r\n\r\n"
        % (sender, ", ".join("<%s>" % r for r in rcpts[:3]), seq, total,
           uuid.uuid4().hex, DOMAIN, time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()))
    )
    return hdr + body


def recipients(args, seq):
    out = []
    for k in range(args.rcpts):
        if args.to:
            out.append(args.to if args.rcpts == 1 else args.to.replace("@", "+%02d@" % k, 1))
        elif args.to_internal:
            u = INTERNAL_USERS[(seq * args.rcpts + k) % len(INTERNAL_USERS)]
            out.append("%s@%s" % (u, DOMAIN))
        else:
            out.append("rcpt%05d-%02d@%s" % (seq, k, args.ext_domain))
    return out


def session(args, seqs, tally):
    """One SMTP session carrying the messages numbered in seqs."""
    left = list(seqs)
    done_seq = None   # message in flight (popped from left) when an exception hits
    try:
        s = smtplib.SMTP(timeout=args.timeout,
                         source_address=(args.src, 0) if args.src else None)
        code, msg = s.connect(args.host, args.port)
        tally.reply("CONNECT", code, msg)
        if code != 220:
            for q in left:
                tally.msg(outcome_of(code), q, "CONNECT", code, msg)
            return
        s.ehlo(args.helo)
        if args.xclient:
            code, msg = s.docmd("XCLIENT", "ADDR=%s NAME=[UNAVAILABLE]" % args.xclient)
            tally.reply("XCLIENT", code, msg)
            s.ehlo_resp = None
            s.esmtp_features = {}
            s.does_esmtp = False
            s.ehlo(args.helo)
        if not args.no_auth:
            try:
                mech = args.mech.upper()
                s.user, s.password = args.user, args.password
                obj = s.auth_plain if mech == "PLAIN" else s.auth_login
                code, msg = s.auth(mech, obj, initial_response_ok=True)
                tally.reply("AUTH", code, msg)
            except smtplib.SMTPAuthenticationError as e:
                tally.reply("AUTH", e.smtp_code, e.smtp_error)
                for q in left:
                    tally.msg(outcome_of(e.smtp_code), q, "AUTH", e.smtp_code, e.smtp_error)
                s.close()
                return
        while left:
            seq = done_seq = left.pop(0)
            rc = recipients(args, seq)
            code, msg = s.mail(args.sender)
            tally.reply("MAIL", code, msg)
            if code != 250:
                tally.msg(outcome_of(code), seq, "MAIL", code, msg)
                s.rset()
                continue
            ok, bad, first_bad = [], [], None
            for r in rc:
                code, msg = s.rcpt(r)
                tally.reply("RCPT", code, msg)
                tally.rcpt(outcome_of(code))
                if 200 <= code < 300:
                    ok.append(r)
                else:
                    bad.append(code)
                    if first_bad is None:
                        first_bad = (code, msg)
            if not ok:   # message not taken: deferred if any recipient got a 4xx
                tally.msg("deferred" if any(400 <= c < 500 for c in bad) else outcome_of(bad[0]),
                          seq, "RCPT", first_bad[0], first_bad[1])
                s.rset()
                continue
            try:
                code, msg = s.data(build_message(args.sender, ok, seq, args.n, args.size))
            except smtplib.SMTPDataError as e:   # DATA command itself refused
                code, msg = e.smtp_code, e.smtp_error
                tally.reply("DATA", code, msg)
                tally.msg(outcome_of(code), seq, "DATA", code, msg)
                s.rset()
                continue
            tally.reply("END-OF-DATA", code, msg)
            tally.msg(outcome_of(code), seq, "END-OF-DATA", code, msg)
        try:
            s.quit()
        except smtplib.SMTPException:
            s.close()
    except (OSError, smtplib.SMTPException) as e:
        tally.reply("ERROR", 0, "%s: %s" % (type(e).__name__, e))
        with tally.lock:
            if tally.first_error is None:
                tally.first_error = str(e)
        for q in ([done_seq] if done_seq is not None else []) + left:
            if q not in tally.per_msg:
                tally.msg("error", q, "ERROR", 0, "%s: %s" % (type(e).__name__, e))


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)   # `... | head` must not traceback
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("user")
    ap.add_argument("password")
    ap.add_argument("n", type=int)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--to-external", action="store_true", help="recipients rcptNNNNN-KK@EXT_DOMAIN, relayed to the sink (default)")
    g.add_argument("--to-internal", action="store_true", help="recipients alice..eve@example.edu, delivered to Dovecot")
    g.add_argument("--to", metavar="ADDR", help="this recipient (with --rcpts K>1: local part +KK)")
    ap.add_argument("--rcpts", type=int, default=1, help="recipients per message [1]")
    ap.add_argument("--ext-domain", default="example.net", help="domain of external recipients [example.net]")
    ap.add_argument("--from", dest="sender", help="envelope sender [USER@example.edu]")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=int(os.environ.get("SUBMISSION_PORT", "10587")),
                    help="[$SUBMISSION_PORT or 10587]; the unauthenticated inbound port is $SMTP_PORT/10025")
    ap.add_argument("--per-conn", type=int, default=1, help="messages per SMTP session [1]")
    ap.add_argument("--parallel", type=int, default=1, help="concurrent sessions [1]")
    ap.add_argument("--size", type=int, default=0, help="approximate body size in bytes")
    ap.add_argument("--src", help="source address to bind, e.g. 127.0.0.7 (Postfix sees client_address=that)")
    ap.add_argument("--xclient", help="present this client IP via XCLIENT (e.g. 203.0.113.9)")
    ap.add_argument("--helo", default="client.bed.test")
    ap.add_argument("--mech", default="PLAIN", choices=["PLAIN", "LOGIN", "plain", "login"])
    ap.add_argument("--no-auth", action="store_true", help="do not AUTH (e.g. against the inbound port)")
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    args = ap.parse_args()
    if not args.sender:
        args.sender = args.user if "@" in args.user else "%s@%s" % (args.user, DOMAIN)

    seqs = list(range(1, args.n + 1))
    chunks = [seqs[i:i + args.per_conn] for i in range(0, len(seqs), max(1, args.per_conn))]
    tally = Tally()
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                if not chunks:
                    return
                c = chunks.pop(0)
            session(args, c, tally)

    t0 = time.time()
    threads = [threading.Thread(target=worker) for _ in range(max(1, args.parallel))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dt = time.time() - t0

    summary = {
        "user": args.user, "port": args.port, "messages": args.n, "rcpts_per_message": args.rcpts,
        "target": args.to if args.to else ("internal" if args.to_internal else "external"),
        "seconds": round(dt, 3), "msgs_per_sec": round(args.n / dt, 1) if dt > 0 else None,
        "accepted": tally.msgs["accepted"], "deferred": tally.msgs["deferred"],
        "rejected": tally.msgs["rejected"], "errors": tally.msgs["error"],
        "rcpt_accepted": tally.rcpts["accepted"], "rcpt_deferred": tally.rcpts["deferred"],
        "rcpt_rejected": tally.rcpts["rejected"],
        "replies": [
            {"stage": k[0], "code": k[1], "text": k[2], "count": v, "example": tally.example[k]}
            for k, v in sorted(tally.replies.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        "stages": {},
        "per_message": [tally.per_msg[q] for q in sorted(tally.per_msg)],
    }
    for r in summary["replies"]:
        summary["stages"].setdefault(r["stage"], []).append(
            {"code": r["code"], "text": r["text"], "count": r["count"]})
    if args.json:
        print(json.dumps(summary))
    else:
        print("sent %d message(s) as %s via %s:%d, %d rcpt(s) each, %s, in %.2fs (%s msg/s)"
              % (args.n, args.user, args.host, args.port, args.rcpts, summary["target"], dt,
                 summary["msgs_per_sec"]))
        print("messages:   accepted=%d deferred=%d rejected=%d errors=%d"
              % (summary["accepted"], summary["deferred"], summary["rejected"], summary["errors"]))
        print("recipients: accepted=%d deferred=%d rejected=%d"
              % (summary["rcpt_accepted"], summary["rcpt_deferred"], summary["rcpt_rejected"]))
        print("replies seen (count stage code text):")
        for r in summary["replies"]:
            print("  %6d  %-11s %3d %s" % (r["count"], r["stage"], r["code"], r["example"]))
    return 0 if tally.msgs["error"] == 0 or tally.msgs["error"] < args.n else 3


if __name__ == "__main__":
    sys.exit(main())
