/* auth_floor_server.c - the trivial Dovecot auth policy server, the floor.
 *
 * Every request gets 200 {"status":0,"msg":""}.  Single thread, epoll, non-blocking,
 * HTTP/1.1 keep-alive (pipelining too), any number of inet and unix
 * listeners.  It parses only what HTTP framing needs (the end of the
 * headers and Content-Length), not the JSON, so it is the floor for the
 * cost of any real auth policy server on the same machine.
 *
 *   auth_floor_server -l inet:127.0.0.1:10081 [-l unix:/tmp/floor.sock]
 *                     [--status N] [--msg TEXT] [--lifetime SEC] [-q]
 *
 * SIGTERM/SIGINT (or --lifetime) stop it and remove its unix sockets.  A
 * request without Content-Length has no body; "Transfer-Encoding" or a
 * request over FLOOR_IN_MAX closes the connection (Dovecot sends neither).
 * The loop, buffers and listeners are floor.c's, shared with dunno_server;
 * this file is the framing and the answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "floor.h"

#define PROG "auth_floor_server"
#define REPLY_MAX 1024
#define BODY_MAX 512

/* Value of header name (with ':') inside hdr[0..len), or NULL. */
static const char *find_header(const char *hdr, size_t len, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = hdr; p && p + n < hdr + len;) {
        if (strncasecmp(p, name, n) == 0)
            return p + n;
        p = memchr(p, '\n', (size_t)(hdr + len - p));
        if (p)
            p++;
    }
    return NULL;
}

/* Size of the complete request at buf[0..len): 0 if incomplete, -1 if we
 * cannot frame it. Sets *close_after for "Connection: close". */
static long request_end(const char *buf, size_t len, size_t seen, bool *close_after)
{
    (void)seen; /* the head is short: scanned again from its start */
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end)
        return len >= FLOOR_IN_MAX ? -1 : 0;
    size_t hlen = (size_t)(end - buf) + 4;
    if (find_header(buf, hlen, "transfer-encoding:"))
        return -1;
    const char *cl = find_header(buf, hlen, "content-length:");
    unsigned long blen = cl ? strtoul(cl, NULL, 10) : 0;
    if (blen > FLOOR_IN_MAX - hlen)
        return -1;
    const char *conn = find_header(buf, hlen, "connection:");
    if (conn) {
        while (*conn == ' ')
            conn++;
        *close_after = strncasecmp(conn, "close", 5) == 0;
    }
    return len >= hlen + blen ? (long)(hlen + blen) : 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: auth_floor_server -l inet:HOST:PORT|unix:PATH [-l ...] [--lifetime SEC]\n"
               "                         [--status N] [--msg TEXT] [-q]\n"
               "  -l, --listen SPEC    listener (repeatable)\n"
               "      --lifetime SEC   exit by itself after SEC seconds (0 = never; default 0)\n"
               "      --status N       answer {\"status\":N,...} (default 0)\n"
               "      --msg TEXT       answer \"msg\":\"TEXT\" (plain ASCII, not escaped)\n"
               "  -q, --quiet          no messages on stderr\n");
}

/* Writes the whole HTTP answer to out[REPLY_MAX]: its length; exits 2 if msg is too long. */
static size_t make_reply(char *out, long status, const char *msg)
{
    char body[BODY_MAX];
    int bl = snprintf(body, sizeof body, "{\"status\":%ld,\"msg\":\"%s\"}", status, msg);
    if (bl < 0 || (size_t)bl >= sizeof body) {
        fprintf(stderr, PROG ": --msg too long\n");
        exit(2);
    }
    return (size_t)snprintf(out, REPLY_MAX,
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                            "Content-Length: %d\r\n\r\n%s", bl, body);
}

/* What the answer says. */
struct answer {
    long status;
    const char *msg;
};

/* Applies --status, --msg or --help; exits on a usage error. */
static void answer_opt(void *tool, int ch, const char *arg)
{
    struct answer *a = tool;
    switch (ch) {
    case 'S': a->status = strtol(arg, NULL, 10); break;
    case 'M': a->msg = arg; break;
    case 'h': usage(stdout); exit(0);
    default: usage(stderr); exit(2);
    }
}

int main(int argc, char **argv)
{
    static const struct option lopts[] = {
        FLOOR_LONGOPTS,
        { "status", required_argument, 0, 'S' },
        { "msg", required_argument, 0, 'M' },
        { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 },
    };
    struct floor_opts o = { .nspecs = 0 };
    struct answer a = { .status = 0, .msg = "" };
    floor_parse(&o, PROG, argc, argv, FLOOR_SHORTOPTS "S:M:h", lopts, answer_opt, &a, usage);
    char reply[REPLY_MAX];
    struct floor_proto p = { .prog = PROG, .frame = request_end, .reply = reply };
    p.reply_len = make_reply(reply, a.status, a.msg);
    return floor_run(&o, &p);
}
