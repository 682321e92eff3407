/* policy_load.c - load generator for Postfix SMTP access policy delegation servers.
 *
 * Opens N persistent connections (inet host:port or unix socket) and, like
 * smtpd(8), keeps exactly one request outstanding per connection: it sends a
 * full "request=smtpd_access_policy" attribute set, waits for the
 * "action=...\n\n" reply, then sends the next one.  Each simulated message is
 * K RCPT requests (recipient_count=0) followed by one END-OF-MESSAGE request
 * (recipient_count=K), all with the same "instance"; the next message gets a
 * new instance.  Accounts are user000000..userNNNNNN (sasl_username, sender
 * user...@domain), round-robin over a global message counter or random.
 *
 * Output: requests/s, latency percentiles (send of request -> complete reply),
 * error counts and the count of each action word, as one key=value line or
 * JSON.  Every run is bounded (duration, request or message count).
 *
 * This file is the protocol (requests, replies, messages, --probe, the
 * command line); connections, threads, timing and the output are the
 * engine's (loadgen.c), shared with auth_load.  Build: meson (bench/), or
 * see bench/lib.sh for the cc line.
 */
#include <ctype.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "loadgen.h"
#include "probe.h"
#include "rng.h"
#include "wbuf.h"

#define PROG "policy_load"

/* The options only this tool has. */
struct policy_opts {
    unsigned rcpts;
    uint64_t max_messages;   /* messages started in total, 0 = unlimited */
    bool random;
    unsigned clients;        /* 0 = fixed client_address, else 10.x.y.z from account % clients */
    unsigned sender_domains; /* 1 = all senders @domain, else @sN.domain, N = account % this */
    const char *rcpt_domain;
    const char *client_address;
    const char *policy_context;
};

/* main()'s context, the engine's ctx. */
struct policy_ctx {
    struct loadgen_opts lo;
    struct policy_opts po;
    _Atomic uint64_t msgs_claimed;
    uint64_t base_id;
};

/* One connection's message. */
struct policy_conn {
    unsigned gidx;
    bool msg_active;
    unsigned rcpt_i; /* next request: 0..rcpts-1 = RCPT, rcpts = END-OF-MESSAGE */
    uint64_t claim;  /* global message number */
    uint32_t account;
    uint64_t msg_no;
    uint64_t rng;
};

/* ---------------------------------------------------------------- requests */

static void put_account(struct wbuf *b, const struct policy_ctx *x, uint32_t account)
{
    wbuf_str(b, x->lo.prefix);
    wbuf_u(b, account, x->lo.width);
}

static void put_recipient(struct wbuf *b, const struct policy_ctx *x,
                          const struct policy_conn *c, unsigned i)
{
    wbuf_str(b, "rcpt");
    wbuf_u(b, c->claim % 100000, 5);
    wbuf_str(b, "-");
    wbuf_u(b, i, 2);
    wbuf_str(b, "@");
    wbuf_str(b, x->po.rcpt_domain);
}

/* client_address .. sender */
static void put_client(struct wbuf *b, const struct policy_ctx *x, const struct policy_conn *c)
{
    if (x->po.clients)
        wbuf_ip10(b, c->account % x->po.clients);
    else
        wbuf_str(b, x->po.client_address);
    wbuf_str(b, "\nclient_name=unknown\nclient_port=");
    wbuf_u(b, 1024 + c->claim % 60000, 0);
    wbuf_str(b, "\nreverse_client_name=unknown\nserver_address=127.0.0.1\nserver_port=10587\n"
                "helo_name=client.mailbed.test\nsender=");
    put_account(b, x, c->account);
    wbuf_str(b, "@");
    if (x->po.sender_domains > 1) {
        wbuf_str(b, "s");
        wbuf_u(b, c->account % x->po.sender_domains, 0);
        wbuf_str(b, ".");
    }
    wbuf_str(b, x->lo.domain);
}

/* queue_id .. size */
static void put_ids(struct wbuf *b, const struct policy_ctx *x, const struct policy_conn *c,
                    bool eom)
{
    wbuf_str(b, "\nqueue_id=");
    if (c->rcpt_i > 0 || eom)
        wbuf_x(b, ((c->claim + 1) * 2654435761u) & 0xFFFFFFFFFFFull, 11, true);
    wbuf_str(b, "\ninstance=");
    wbuf_x(b, 0x1000 + c->gidx, 0, false);
    wbuf_str(b, ".");
    wbuf_x(b, x->base_id, 0, false);
    wbuf_str(b, ".");
    wbuf_x(b, c->msg_no, 0, false);
    wbuf_str(b, ".0\nsize=");
    wbuf_u(b, eom ? 2048 + c->claim % 4096 : 0, 0);
}

static size_t build_request(void *ctx, const void *st, char *out, size_t cap)
{
    const struct policy_ctx *x = ctx;
    const struct policy_conn *c = st;
    struct wbuf b = { out, out + cap };
    bool eom = c->rcpt_i >= x->po.rcpts;
    unsigned nrcpt = x->po.rcpts ? x->po.rcpts : 1;

    wbuf_str(&b, "request=smtpd_access_policy\nprotocol_state=");
    wbuf_str(&b, eom ? "END-OF-MESSAGE" : "RCPT");
    wbuf_str(&b, "\nprotocol_name=ESMTP\nclient_address=");
    put_client(&b, x, c);
    wbuf_str(&b, "\nrecipient=");
    if (!eom)
        put_recipient(&b, x, c, c->rcpt_i);
    else if (nrcpt == 1)
        put_recipient(&b, x, c, 0);
    wbuf_str(&b, "\nrecipient_count=");
    wbuf_u(&b, eom ? nrcpt : 0, 0);
    put_ids(&b, x, c, eom);
    wbuf_str(&b, "\netrn_domain=\nstress=\nsasl_method=PLAIN\nsasl_username=");
    put_account(&b, x, c->account);
    wbuf_str(&b, "\nsasl_sender=\nccert_subject=\nccert_issuer=\nccert_fingerprint=\n"
                 "ccert_pubkey_fingerprint=\nencryption_protocol=\nencryption_cipher=\n"
                 "encryption_keysize=0\npolicy_context=");
    wbuf_str(&b, x->po.policy_context);
    wbuf_str(&b, "\n\n");
    return (size_t)(b.p - out);
}

/* ---------------------------------------------------------------- messages */

static void conn_init(void *ctx, void *st, unsigned gidx)
{
    struct policy_conn *c = st;
    c->gidx = gidx;
    c->rng = rng_seed(gidx, ((struct policy_ctx *)ctx)->base_id);
}

/* false when the message budget is exhausted */
static bool start_message(void *ctx, void *st)
{
    struct policy_ctx *x = ctx;
    struct policy_conn *c = st;
    if (c->msg_active)
        return true;
    uint64_t claim = atomic_fetch_add(&x->msgs_claimed, 1);
    if (x->po.max_messages && claim >= x->po.max_messages)
        return false;
    c->claim = claim;
    if (x->po.random)
        c->account = (uint32_t)(rng_next(&c->rng) % x->lo.accounts + x->lo.account_offset);
    else
        c->account = (uint32_t)(claim % x->lo.accounts + x->lo.account_offset);
    c->msg_no++;
    c->rcpt_i = 0;
    c->msg_active = true;
    return true;
}

/* true when the reply ended the message */
static bool advance(void *ctx, void *st)
{
    const struct policy_ctx *x = ctx;
    struct policy_conn *c = st;
    bool eom = c->rcpt_i >= x->po.rcpts;
    if (eom)
        c->msg_active = false;
    else
        c->rcpt_i++;
    return eom;
}

/* ----------------------------------------------------------------- replies */

/* A reply ends with an empty line. */
static long frame_reply(const char *in, size_t len)
{
    if (in[0] == '\n')
        return 1; /* a lone empty line: a reply without any attribute */
    const char *term = memmem(in, len, "\n\n", 2);
    return term ? (long)(term - in) + 2 : 0;
}

/* Names the reply by its action word, upper-cased; no action= is a bad reply. */
static long parse_reply(const char *in, size_t len, struct loadgen_reply *r)
{
    long n = frame_reply(in, len);
    if (n <= 0)
        return n;
    /* find the action= attribute; every other attribute is ignored */
    const char *p = in, *end = in + n, *act = NULL;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break;
        if (nl - p >= 7 && memcmp(p, "action=", 7) == 0) {
            act = p + 7;
            break;
        }
        p = nl + 1;
    }
    if (!act)
        return -1;
    size_t w = 0;
    while (act + w < end && act[w] != ' ' && act[w] != '\t' && act[w] != '\n' &&
           w < sizeof r->name - 1) {
        r->name[w] = (char)toupper((unsigned char)act[w]);
        w++;
    }
    if (w == 0)
        snprintf(r->name, sizeof r->name, "(EMPTY)");
    else
        r->name[w] = '\0';
    return n;
}

static const struct loadgen_proto policy_proto = {
    .prog = PROG,
    .unit = "messages",
    .tally_key = "actions",
    .other = "(OTHER)",
    .reply_noun = "a reply",
    .state_size = sizeof(struct policy_conn),
    .init = conn_init,
    .start = start_message,
    .build = build_request,
    .parse = parse_reply,
    .advance = advance,
};

/* ------------------------------------------------------------------- probe */

/* --probe: one message (rcpts RCPT + 1 END-OF-MESSAGE) on one connection,
 * print every reply; exit 0 iff every reply carried an action. */
static int probe(struct policy_ctx *x)
{
    int tmo_ms = (int)(x->lo.timeout * 1000);
    int fd = probe_connect(PROG, &x->lo.target, x->lo.target_spec, tmo_ms, x->lo.quiet);
    if (fd < 0)
        return 1;
    struct policy_conn c = { .msg_active = false };
    char out[LOADGEN_REQ_MAX], in[LOADGEN_REPLY_MAX];
    int rc = 0;
    start_message(x, &c);
    for (bool eom = false; !eom;) {
        size_t n = build_request(x, &c, out, sizeof out);
        const char *state = c.rcpt_i >= x->po.rcpts ? "END-OF-MESSAGE" : "RCPT";
        uint64_t t0 = clock_ns();
        long len = probe_exchange(PROG, fd, out, n, in, sizeof in, tmo_ms, frame_reply);
        if (len < 0) {
            rc = 1;
            break;
        }
        in[len >= 2 ? len - 2 : 0] = '\0'; /* without the empty line */
        if (!x->lo.quiet)
            printf("%-14s %s  (%.0f us)\n", state, in, (double)(clock_ns() - t0) / 1000.0);
        if (strncmp(in, "action=", 7) != 0 && !strstr(in, "\naction="))
            rc = 1;
        eom = advance(x, &c);
    }
    close(fd);
    return rc;
}

/* ------------------------------------------------------------ command line */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: policy_load [options] -s TARGET\n"
        "  -s, --server TARGET      inet:HOST:PORT | HOST:PORT | unix:PATH | /PATH\n"
        "  -c, --connections N      concurrent persistent connections (default 16)\n"
        "  -t, --threads N          worker threads, each with its own epoll (default 1)\n"
        "  -d, --duration SEC       measured duration after warmup (default 10 if no -n/-m)\n"
        "  -n, --requests N         stop after N measured requests\n"
        "  -m, --messages N         start at most N messages in total (warmup included);\n"
        "                           with round-robin this covers min(N, accounts) distinct accounts\n"
        "  -w, --warmup SEC         unmeasured time after all connections are up (default 1)\n"
        "  -a, --accounts N         distinct accounts user000000.. (default 100000)\n"
        "      --account-offset N   first account number (default 0)\n"
        "      --random             pick accounts at random (default: round-robin)\n"
        "  -r, --rcpts K            RCPT requests per message before END-OF-MESSAGE;\n"
        "                           0 = only END-OF-MESSAGE (default 1)\n"
        "      --prefix P           account prefix (default user); --width W digits (default 6)\n"
        "      --domain D           sender domain (default example.edu)\n"
        "      --rcpt-domain D      recipient domain (default example.net)\n"
        "      --client-address A   client_address (default 127.0.0.1)\n"
        "      --clients N          client_address 10.x.y.z from account %% N (default 0:\n"
        "                           always --client-address)\n"
        "      --sender-domains N   sender userNNNNNN@sK.DOMAIN, K = account %% N (default 1:\n"
        "                           userNNNNNN@DOMAIN)\n"
        "      --policy-context S   policy_context (default submission)\n"
        "      --timeout SEC        per request / connect timeout (default 10)\n"
        "      --connect-wait SEC   max wait until every connection got its first reply;\n"
        "                           the warmup starts then (default 10)\n"
        "      --connect-burst K    open connections K at a time per thread, the next when\n"
        "                           one got its first reply (default 4; 0 = all at once)\n"
        "      --label TEXT         label echoed in the output\n"
        "      --json               print JSON instead of the key=value line\n"
        "      --probe              send one message on one connection, print the replies,\n"
        "                           exit 0 iff each reply had an action (for readiness checks)\n"
        "  -q, --quiet              no diagnostics on stderr\n");
}

static void policy_opts_init(struct policy_opts *po)
{
    *po = (struct policy_opts){
        .rcpts = 1,
        .sender_domains = 1,
        .rcpt_domain = "example.net",
        .client_address = "127.0.0.1",
        .policy_context = "submission",
    };
}

enum { O_RANDOM = LOADGEN_O_TOOL, O_RDOMAIN, O_CLIENT, O_CLIENTS, O_SDOMAINS, O_CONTEXT };

/* Applies one of this tool's own options; exits on help or a usage error. */
static void policy_opt(void *tool, int ch, const char *arg)
{
    struct policy_opts *po = tool;
    switch (ch) {
    case 'm': po->max_messages = cli_u64(PROG, arg, "messages"); break;
    case 'r': po->rcpts = (unsigned)cli_u64(PROG, arg, "rcpts"); break;
    case 'h': usage(stdout); exit(0);
    case O_RANDOM: po->random = true; break;
    case O_RDOMAIN: po->rcpt_domain = arg; break;
    case O_CLIENT: po->client_address = arg; break;
    case O_CLIENTS: po->clients = (unsigned)cli_u64(PROG, arg, "clients"); break;
    case O_SDOMAINS: po->sender_domains = (unsigned)cli_u64(PROG, arg, "sender domains"); break;
    case O_CONTEXT: po->policy_context = arg; break;
    default: usage(stderr); exit(2);
    }
}

/* Fills x from the command line; exits 2 on any error, 0 after --help. */
static void parse_args(struct policy_ctx *x, int argc, char **argv)
{
    static const struct option lopts[] = {
        LOADGEN_LONGOPTS,
        { "messages", required_argument, 0, 'm' },
        { "rcpts", required_argument, 0, 'r' },
        { "help", no_argument, 0, 'h' },
        { "random", no_argument, 0, O_RANDOM },
        { "rcpt-domain", required_argument, 0, O_RDOMAIN },
        { "client-address", required_argument, 0, O_CLIENT },
        { "clients", required_argument, 0, O_CLIENTS },
        { "sender-domains", required_argument, 0, O_SDOMAINS },
        { "policy-context", required_argument, 0, O_CONTEXT },
        { 0, 0, 0, 0 },
    };
    struct loadgen_opts *o = &x->lo;
    struct policy_opts *po = &x->po;
    loadgen_opts_init(o);
    policy_opts_init(po);
    loadgen_parse(o, PROG, argc, argv, LOADGEN_SHORTOPTS "m:r:h", lopts, policy_opt, po, usage);
    if (o->conns == 0 || o->accounts == 0 || o->threads == 0 || o->width > 20 ||
        po->sender_domains == 0 || po->rcpts > 99 || o->timeout <= 0) {
        fprintf(stderr, PROG ": connections, accounts, threads, timeout must be > 0, "
                        "rcpts <= 99, width <= 20\n");
        exit(2);
    }
    if (loadgen_settle(o, PROG, po->max_messages != 0) < 0)
        exit(2);
}

int main(int argc, char **argv)
{
    struct policy_ctx x = { .base_id = 0 };
    parse_args(&x, argc, argv);
    signal(SIGPIPE, SIG_IGN);
    x.base_id = rng_base_id();
    if (x.lo.probe)
        return probe(&x);
    char line[32], json[64];
    snprintf(line, sizeof line, " rcpts=%u", x.po.rcpts);
    snprintf(json, sizeof json, "\"random\":%s,\"rcpts\":%u,", x.po.random ? "true" : "false",
             x.po.rcpts);
    return loadgen_run(&x.lo, &policy_proto, &x, line, json);
}
