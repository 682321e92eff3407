/* auth_load.c - load generator for Dovecot authentication policy servers.
 *
 * auth_policy_server_url speaks HTTP/1.1 POST with JSON bodies. It opens
 * N keep-alive connections (inet host:port or unix socket) and, like
 * Dovecot's auth process (one request per connection at a time, no
 * pipelining), keeps exactly one request outstanding per connection.  It
 * plays logins: a good one is allow (before the password check), allow
 * (after it), report success=true; a failed one is allow, report
 * success=false (--fail-pct of them).  Bodies are those of Dovecot 2.3's
 * default attributes (keys sorted, tls last; --v24 adds 2.4's fail_type),
 * for accounts user000000@example.edu.. round-robin, from --clients
 * distinct addresses 10.x.y.z (failures from a random one of them), imap
 * or smtp (--smtp-pct), each login with its own session id.
 *
 * Output: requests/s, latency percentiles (request sent -> whole response
 * read), error counts and the count of each answer ("s0" = 200 with
 * status 0, "s-1", "s3", "h401" = HTTP 401 ...), as one key=value line or
 * JSON.  Every run is bounded (duration or request count; --timeout).
 *
 * This file is the protocol (requests, responses, logins, --probe, the
 * command line); connections, threads, timing and the output are the
 * engine's (loadgen.c), shared with policy_load.  Build: meson (bench/),
 * or see bench/lib.sh for the cc line.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "loadgen.h"
#include "probe.h"
#include "rng.h"
#include "wbuf.h"

#define PROG "auth_load"
#define BODY_MAX 1024

/* The options only this tool has. */
struct auth_opts {
    unsigned clients, fail_pct, smtp_pct;
    bool v24;
    const char *path, *api_header;
};

/* main()'s context, the engine's ctx. */
struct auth_ctx {
    struct loadgen_opts lo;
    struct auth_opts ao;
    _Atomic uint64_t logins_claimed;
    uint64_t base_id;
};

/* One login: steps 0..nsteps-1 are allow (before), [allow (after)], report. */
struct login {
    bool active, fail, smtp;
    unsigned step, nsteps;
    uint32_t account, remote;
    uint64_t no;
    char session[17];
};

/* One connection's login. */
struct auth_conn {
    struct login lg;
    uint64_t rng;
};

/* ---------------------------------------------------------------- requests */

/* The body Dovecot sends for this step of the login. */
static size_t build_body(const struct auth_ctx *x, const struct login *lg, bool report,
                         char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    struct wbuf b = { out, out + cap };
    /* 12-bit truncated hash: same for the same account and password */
    uint32_t h = (lg->account * 2654435761u + (lg->fail ? 0x9e37u : 0u)) >> 20;
    char pwhash[5] = { '0', hex[(h >> 8) & 15], hex[(h >> 4) & 15], hex[h & 15], 0 };
    wbuf_str(&b, "{\"device_id\":\"\",");
    if (x->ao.v24) {
        wbuf_str(&b, "\"fail_type\":\"");
        wbuf_str(&b, report && lg->fail ? "credentials" : "");
        wbuf_str(&b, "\",");
    }
    wbuf_str(&b, "\"login\":\"");
    wbuf_str(&b, x->lo.prefix);
    wbuf_u(&b, lg->account, x->lo.width);
    wbuf_str(&b, "@");
    wbuf_str(&b, x->lo.domain);
    wbuf_str(&b, "\",\"protocol\":\"");
    wbuf_str(&b, lg->smtp ? "smtp" : "imap");
    wbuf_str(&b, "\",\"pwhash\":\"");
    wbuf_str(&b, pwhash);
    wbuf_str(&b, "\",\"remote\":\"");
    wbuf_ip10(&b, lg->remote);
    wbuf_str(&b, "\",\"session_id\":\"");
    wbuf_str(&b, lg->smtp ? "" : lg->session); /* SMTP AUTH via Postfix has none */
    wbuf_str(&b, "\"");
    if (report)
        wbuf_str(&b, lg->fail ? ",\"success\":false,\"policy_reject\":false"
                              : ",\"success\":true,\"policy_reject\":false");
    wbuf_str(&b, lg->smtp ? ",\"tls\":false}" : ",\"tls\":true}");
    return (size_t)(b.p - out);
}

static size_t build_request(void *ctx, const void *st, char *out, size_t cap)
{
    const struct auth_ctx *x = ctx;
    const struct login *lg = &((const struct auth_conn *)st)->lg;
    char body[BODY_MAX];
    bool report = lg->step == lg->nsteps - 1;
    size_t blen = build_body(x, lg, report, body, sizeof body);
    struct wbuf b = { out, out + cap };
    wbuf_str(&b, "POST ");
    wbuf_str(&b, x->ao.path);
    wbuf_str(&b, strchr(x->ao.path, '?') ? "&command=" : "?command=");
    wbuf_str(&b, report ? "report" : "allow");
    wbuf_str(&b, " HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: dovecot/auth-policy-client\r\n"
                 "Content-Length: ");
    wbuf_u(&b, blen, 0);
    wbuf_str(&b, "\r\nConnection: Keep-Alive\r\nContent-Type: application/json\r\n");
    if (x->ao.api_header) {
        wbuf_str(&b, x->ao.api_header);
        wbuf_str(&b, "\r\n");
    }
    wbuf_str(&b, "\r\n");
    wbuf_mem(&b, body, blen);
    return (size_t)(b.p - out);
}

/* ------------------------------------------------------------------ logins */

static void conn_init(void *ctx, void *st, unsigned gidx)
{
    struct auth_conn *c = st;
    c->rng = rng_seed(gidx, ((struct auth_ctx *)ctx)->base_id);
}

static void new_login(struct auth_ctx *x, struct auth_conn *c)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint64_t claim = atomic_fetch_add(&x->logins_claimed, 1);
    struct login *lg = &c->lg;
    lg->no = claim;
    lg->account = (uint32_t)(claim % x->lo.accounts + x->lo.account_offset);
    uint64_t r = rng_next(&c->rng);
    lg->fail = r % 100 < x->ao.fail_pct;
    lg->smtp = (r >> 8) % 100 < x->ao.smtp_pct;
    /* a user's usual address; failures come from anywhere */
    uint32_t usual = (uint32_t)((lg->account * 2654435761u) % x->ao.clients);
    lg->remote = lg->fail ? (uint32_t)((r >> 16) % x->ao.clients) : usual;
    lg->nsteps = lg->fail ? 2 : 3;
    lg->step = 0;
    uint64_t s = rng_next(&c->rng) ^ x->base_id;
    for (int i = 0; i < 16; i++, s >>= 4)
        lg->session[i] = b64[(s ^ (uint64_t)i * 0x9E3779B97F4A7C15ull) % 64];
    lg->session[16] = 0;
    lg->active = true;
}

/* Logins are unbounded: always true. */
static bool start_login(void *ctx, void *st)
{
    struct auth_conn *c = st;
    if (!c->lg.active)
        new_login(ctx, c);
    return true;
}

/* true when the answer ended the login */
static bool advance(void *ctx, void *st)
{
    struct login *lg = &((struct auth_conn *)st)->lg;
    (void)ctx;
    if (++lg->step < lg->nsteps)
        return false;
    lg->active = false;
    return true;
}

/* --------------------------------------------------------------- responses */

/* Length of one complete response at in[0..len), 0 if incomplete, -1 if
 * it cannot be framed. Sets *code, *close_after and the JSON body view. */
static long parse_response(const char *in, size_t len, int *code, bool *close_after,
                           const char **body, size_t *blen)
{
    const char *end = memmem(in, len, "\r\n\r\n", 4);
    if (!end)
        return len >= LOADGEN_REPLY_MAX - 1 ? -1 : 0;
    size_t hlen = (size_t)(end - in) + 4;
    if (sscanf(in, "HTTP/1.%*d %d", code) != 1)
        return -1;
    const char *cl = NULL, *conn = NULL;
    for (const char *p = in; p && p < end;) {
        if (strncasecmp(p, "content-length:", 15) == 0)
            cl = p + 15;
        else if (strncasecmp(p, "connection:", 11) == 0)
            conn = p + 11;
        p = memchr(p, '\n', (size_t)(end - p));
        if (p)
            p++;
    }
    if (!cl)
        return -1; /* servers we test always send it */
    *blen = strtoul(cl, NULL, 10);
    if (*blen > LOADGEN_REPLY_MAX - 1 - hlen)
        return -1;
    while (conn && *conn == ' ')
        conn++;
    *close_after = conn && strncasecmp(conn, "close", 5) == 0;
    *body = in + hlen;
    return len >= hlen + *blen ? (long)(hlen + *blen) : 0;
}

static long frame_response(const char *in, size_t len)
{
    int code = 0;
    bool close_after = false;
    const char *body = NULL;
    size_t blen = 0;
    return parse_response(in, len, &code, &close_after, &body, &blen);
}

/* Names the answer "s<status>" for 200 with a status, else "h<code>". */
static long parse_answer(const char *in, size_t len, struct loadgen_reply *r)
{
    int code = 0;
    const char *body = NULL;
    size_t blen = 0;
    long n = parse_response(in, len, &code, &r->close_after, &body, &blen);
    if (n <= 0)
        return n;
    const char *st = code == 200 ? memmem(body, blen, "\"status\":", 9) : NULL;
    if (st)
        snprintf(r->name, sizeof r->name, "s%ld", strtol(st + 9, NULL, 10));
    else
        snprintf(r->name, sizeof r->name, "h%d", code);
    return n;
}

static const struct loadgen_proto auth_proto = {
    .prog = PROG,
    .unit = "logins",
    .tally_key = "answers",
    .other = "(other)",
    .reply_noun = "an answer",
    .state_size = sizeof(struct auth_conn),
    .init = conn_init,
    .start = start_login,
    .build = build_request,
    .parse = parse_answer,
    .advance = advance,
};

/* ------------------------------------------------------------------- probe */

/* One request and its response on fd, within tmo_ms; prints it. 0 if the
 * answer was 200 with a "status", else 1. */
static int probe_one(struct auth_ctx *x, int fd, const struct auth_conn *c, int tmo_ms)
{
    char out[LOADGEN_REQ_MAX], in[LOADGEN_REPLY_MAX];
    size_t n = build_request(x, c, out, sizeof out);
    uint64_t t0 = clock_ns();
    long len = probe_exchange(PROG, fd, out, n, in, sizeof in, tmo_ms, frame_response);
    if (len < 0)
        return 1;
    int code = 0;
    bool close_after = false;
    const char *body = NULL;
    size_t blen = 0;
    parse_response(in, (size_t)len, &code, &close_after, &body, &blen);
    if (!x->lo.quiet)
        printf("%-7s HTTP %d %.*s  (%.0f us)\n",
               c->lg.step == c->lg.nsteps - 1 ? "report" : "allow", code, (int)blen, body,
               (double)(clock_ns() - t0) / 1000.0);
    return code == 200 && memmem(body, blen, "\"status\":", 9) ? 0 : 1;
}

/* --probe: one good login (allow, allow, report) on one connection; exit 0
 * iff every answer was 200 with a status (for readiness checks). */
static int probe(struct auth_ctx *x)
{
    int tmo_ms = (int)(x->lo.timeout * 1000);
    int fd = probe_connect(PROG, &x->lo.target, x->lo.target_spec, tmo_ms, x->lo.quiet);
    if (fd < 0)
        return 1;
    struct auth_conn c = { .rng = x->base_id | 1 };
    new_login(x, &c);
    c.lg.fail = false;
    c.lg.nsteps = 3;
    int rc = 0;
    for (; c.lg.step < c.lg.nsteps && rc == 0; c.lg.step++)
        rc = probe_one(x, fd, &c, tmo_ms);
    close(fd);
    return rc;
}

/* ------------------------------------------------------------ command line */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: auth_load [options] -s TARGET\n"
        "  -s, --server TARGET      inet:HOST:PORT | HOST:PORT | unix:PATH | /PATH\n"
        "  -c, --connections N      concurrent keep-alive connections (default 16)\n"
        "  -t, --threads N          worker threads, each with its own epoll (default 1)\n"
        "  -d, --duration SEC       measured duration after warmup (default 10 if no -n)\n"
        "  -n, --requests N         stop after N measured requests\n"
        "  -w, --warmup SEC         unmeasured time after all connections are up (default 1)\n"
        "  -a, --accounts N         distinct logins user000000@DOMAIN.. (default 100000)\n"
        "      --account-offset N   first account number (default 0)\n"
        "      --clients N          distinct remote addresses 10.x.y.z (default 50000)\n"
        "      --fail-pct P         logins with a wrong password, in %% (default 10)\n"
        "      --smtp-pct P         logins by SMTP AUTH (protocol smtp, no session id),\n"
        "                           the rest IMAP, in %% (default 50)\n"
        "      --v24                Dovecot 2.4 bodies (with fail_type)\n"
        "      --prefix P --width W --domain D   logins P<W digits>@D (user, 6, example.edu)\n"
        "      --path PATH          URL path (default /); ?command=allow|report is added\n"
        "      --api-header 'N: V'  send this header (auth_policy_server_api_header)\n"
        "      --timeout SEC        per request / connect timeout (default 10)\n"
        "      --connect-wait SEC   max wait until every connection got its first answer;\n"
        "                           the warmup starts then (default 10)\n"
        "      --connect-burst K    open connections K at a time per thread (default 4;\n"
        "                           0 = all at once)\n"
        "      --label TEXT         label echoed in the output\n"
        "      --json               print JSON instead of the key=value line\n"
        "      --probe              one good login (3 requests) on one connection, print the\n"
        "                           answers, exit 0 iff each was 200 with a status\n"
        "  -q, --quiet              no diagnostics on stderr\n");
}

enum { O_CLIENTS = LOADGEN_O_TOOL, O_FAIL, O_SMTP, O_V24, O_PATH, O_HEADER };

/* Applies one of this tool's own options; exits on help or a usage error. */
static void auth_opt(void *tool, int ch, const char *arg)
{
    struct auth_opts *ao = tool;
    switch (ch) {
    case 'h': usage(stdout); exit(0);
    case O_CLIENTS: ao->clients = (unsigned)cli_u64(PROG, arg, "clients"); break;
    case O_FAIL: ao->fail_pct = (unsigned)cli_u64(PROG, arg, "fail pct"); break;
    case O_SMTP: ao->smtp_pct = (unsigned)cli_u64(PROG, arg, "smtp pct"); break;
    case O_V24: ao->v24 = true; break;
    case O_PATH: ao->path = arg; break;
    case O_HEADER: ao->api_header = arg; break;
    default: usage(stderr); exit(2);
    }
}

/* 0 if the options are in bounds, else -1 said on stderr. */
static int check_opts(const struct loadgen_opts *o, const struct auth_opts *ao)
{
    if (o->conns == 0 || o->accounts == 0 || o->threads == 0 || ao->clients == 0 ||
        o->width > 20 || ao->fail_pct > 100 || ao->smtp_pct > 100 || o->timeout <= 0 ||
        strlen(o->prefix) + strlen(o->domain) > 200 || strlen(ao->path) > 200 ||
        (ao->api_header && (strlen(ao->api_header) > 500 || strchr(ao->api_header, '\n')))) {
        fprintf(stderr, PROG ": connections, accounts, threads, clients, timeout must be > 0; "
                        "percentages <= 100; width <= 20; prefix, domain, path, header short\n");
        return -1;
    }
    return 0;
}

/* Fills x from the command line; exits 2 on any error, 0 after --help. */
static void parse_args(struct auth_ctx *x, int argc, char **argv)
{
    static const struct option lopts[] = {
        LOADGEN_LONGOPTS,
        { "help", no_argument, 0, 'h' },
        { "clients", required_argument, 0, O_CLIENTS },
        { "fail-pct", required_argument, 0, O_FAIL },
        { "smtp-pct", required_argument, 0, O_SMTP },
        { "v24", no_argument, 0, O_V24 },
        { "path", required_argument, 0, O_PATH },
        { "api-header", required_argument, 0, O_HEADER },
        { 0, 0, 0, 0 },
    };
    struct loadgen_opts *o = &x->lo;
    struct auth_opts *ao = &x->ao;
    loadgen_opts_init(o);
    *ao = (struct auth_opts){ .clients = 50000, .fail_pct = 10, .smtp_pct = 50, .path = "/" };
    loadgen_parse(o, PROG, argc, argv, LOADGEN_SHORTOPTS "h", lopts, auth_opt, ao, usage);
    if (check_opts(o, ao) < 0 || loadgen_settle(o, PROG, false) < 0)
        exit(2);
}

int main(int argc, char **argv)
{
    struct auth_ctx x = { .base_id = 0 };
    parse_args(&x, argc, argv);
    signal(SIGPIPE, SIG_IGN);
    x.base_id = rng_base_id();
    if (x.lo.probe)
        return probe(&x);
    char line[32], json[96];
    snprintf(line, sizeof line, " clients=%u", x.ao.clients);
    snprintf(json, sizeof json, "\"clients\":%u,\"fail_pct\":%u,\"smtp_pct\":%u,", x.ao.clients,
             x.ao.fail_pct, x.ao.smtp_pct);
    return loadgen_run(&x.lo, &auth_proto, &x, line, json);
}
