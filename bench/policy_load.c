/*
 * policy_load - load generator for Postfix SMTP access policy delegation servers.
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
 * Build: cc -O2 -std=c11 -Wall -Wextra -Werror -pthread -o policy_load policy_load.c
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_S 1000000000ull
#define NS_PER_MS 1000000ull
#define MAX_ACTIONS 32
#define REQ_MAX 2048
#define REPLY_MAX 4096

/* ---------------------------------------------------------------- options */

static struct options {
    const char *target;
    int family;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    unsigned conns;
    unsigned threads;
    unsigned accounts;
    unsigned account_offset;
    unsigned rcpts;
    unsigned width;
    double duration;  /* seconds, 0 = not set */
    double warmup;    /* seconds */
    double timeout;   /* per request / connect, seconds */
    double connect_wait; /* max seconds to wait for all connections before warmup starts */
    unsigned connect_burst; /* connections opened but not yet served, at most (per thread) */
    uint64_t max_requests;  /* measured requests, 0 = unlimited */
    uint64_t max_messages;  /* messages started in total, 0 = unlimited */
    bool random;
    bool json;
    bool probe;
    bool quiet;
    unsigned clients;        /* 0 = fixed client_address, else 10.x.y.z from account % clients */
    unsigned sender_domains; /* 1 = all senders @domain, else @sN.domain, N = account % this */
    const char *prefix;
    const char *domain;
    const char *rcpt_domain;
    const char *client_address;
    const char *policy_context;
    const char *label;
} opt = {
    .conns = 16,
    .threads = 1,
    .accounts = 100000,
    .rcpts = 1,
    .sender_domains = 1,
    .width = 6,
    .warmup = 1.0,
    .timeout = 10.0,
    .connect_wait = 10.0,
    .connect_burst = 4,
    .prefix = "user",
    .domain = "example.edu",
    .rcpt_domain = "example.net",
    .client_address = "127.0.0.1",
    .policy_context = "submission",
};

/* ----------------------------------------------------------- shared state */

static _Atomic uint64_t g_measure_start;  /* ns; 0 until all connections are up */
static _Atomic uint64_t g_deadline;       /* ns; 0 until known */
static _Atomic uint64_t g_stop_time;      /* ns; set by whoever stops the run first */
static atomic_int g_stop;
static _Atomic uint64_t g_measured_done;
static _Atomic uint64_t g_msgs_claimed;
static atomic_uint g_connected_once;
static atomic_uint g_threads_running;
static uint64_t g_base_id;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static void request_stop(uint64_t when)
{
    uint64_t zero = 0;
    atomic_compare_exchange_strong(&g_stop_time, &zero, when);
    atomic_store(&g_stop, 1);
}

/* -------------------------------------------------------------- histogram */

/* Log-linear histogram of nanoseconds: values < 128 exact, above that 64
 * sub-buckets per power of two (<= 1.6% relative error). */
#define H_SUB 64
#define H_BUCKETS (128 + 58 * H_SUB)

struct hist {
    uint64_t b[H_BUCKETS];
    uint64_t count;
    uint64_t sum;
    uint64_t max;
};

static unsigned h_index(uint64_t v)
{
    if (v < 128)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - 6;               /* keep top 7 bits: 64..127 */
    unsigned idx = 128 + (shift - 1) * H_SUB + (unsigned)((v >> shift) - 64);
    return idx < H_BUCKETS ? idx : H_BUCKETS - 1;
}

static double h_value(unsigned idx)
{
    if (idx < 128)
        return idx;
    unsigned shift = (idx - 128) / H_SUB + 1;
    uint64_t sub = (idx - 128) % H_SUB + 64;
    double lo = (double)(sub << shift);
    double width = (double)(1ull << shift);
    return lo + width / 2.0;
}

static void h_add(struct hist *h, uint64_t v)
{
    h->b[h_index(v)]++;
    h->count++;
    h->sum += v;
    if (v > h->max)
        h->max = v;
}

static void h_merge(struct hist *dst, const struct hist *src)
{
    for (unsigned i = 0; i < H_BUCKETS; i++)
        dst->b[i] += src->b[i];
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->max > dst->max)
        dst->max = src->max;
}

/* q in [0,1]; returns ns */
static double h_quantile(const struct hist *h, double q)
{
    if (h->count == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)h->count + 0.5);
    if (rank < 1)
        rank = 1;
    if (rank > h->count)
        rank = h->count;
    uint64_t seen = 0;
    for (unsigned i = 0; i < H_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            double v = h_value(i);
            return v > (double)h->max ? (double)h->max : v;
        }
    }
    return (double)h->max;
}

/* ---------------------------------------------------------------- actions */

struct action_count {
    char name[32];
    uint64_t n;
};

struct actions {
    struct action_count a[MAX_ACTIONS];
    unsigned n;
    uint64_t other;
};

static void actions_add(struct actions *t, const char *name, size_t len, uint64_t n)
{
    if (len >= sizeof t->a[0].name)
        len = sizeof t->a[0].name - 1;
    for (unsigned i = 0; i < t->n; i++) {
        if (strlen(t->a[i].name) == len && memcmp(t->a[i].name, name, len) == 0) {
            t->a[i].n += n;
            return;
        }
    }
    if (t->n == MAX_ACTIONS) {
        t->other += n;
        return;
    }
    memcpy(t->a[t->n].name, name, len);
    t->a[t->n].name[len] = '\0';
    t->a[t->n].n = n;
    t->n++;
}

/* ------------------------------------------------------------ connections */

enum cstate { C_NEW, C_BACKOFF, C_CONNECTING, C_WAITING, C_SENDING, C_DONE };

struct conn {
    int fd;
    enum cstate state;
    unsigned gidx;
    bool ever_connected;
    bool msg_active;
    unsigned rcpt_i;       /* next request: 0..rcpts-1 = RCPT, rcpts = END-OF-MESSAGE */
    uint64_t claim;        /* global message number */
    uint32_t account;
    uint64_t msg_no;
    uint64_t rng;
    uint64_t t_sent;       /* ns: request send start, or connect start */
    uint64_t t_retry;
    uint64_t measured;     /* measured requests completed on this connection */
    size_t out_len, out_off;
    size_t in_len;
    char out[REQ_MAX];
    char in[REPLY_MAX];
};

struct errors {
    uint64_t connect, closed, timeout, bad_reply, io;
};

struct thread {
    pthread_t tid;
    unsigned idx;
    int ep;
    struct conn *conns;
    unsigned nconns;
    unsigned active;
    unsigned next_new;       /* first connection not opened yet */
    struct hist hist;
    struct actions actions;
    struct errors err;
    uint64_t requests_all;   /* completed, warmup included */
    uint64_t requests;       /* completed and measured */
    uint64_t messages;       /* completed messages (measured) */
    uint64_t unfinished;     /* measured requests unanswered at the end */
    uint64_t t_end;
};

static uint64_t xorshift64(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* -- request building (hand-rolled: this runs at >100k requests/s) -- */

struct buf {
    char *p;
    char *end;
};

static void put(struct buf *b, const char *s)
{
    size_t n = strlen(s);
    if ((size_t)(b->end - b->p) < n)
        n = (size_t)(b->end - b->p);
    memcpy(b->p, s, n);
    b->p += n;
}

static void put_u(struct buf *b, uint64_t v, unsigned width)
{
    char tmp[24];
    unsigned n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n < width && n < sizeof tmp)
        tmp[n++] = '0';
    if ((size_t)(b->end - b->p) < n)
        return;
    while (n)
        *b->p++ = tmp[--n];
}

static void put_x(struct buf *b, uint64_t v, unsigned width, bool upper)
{
    const char *dig = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char tmp[24];
    unsigned n = 0;
    do {
        tmp[n++] = dig[v & 15];
        v >>= 4;
    } while (v);
    while (n < width && n < sizeof tmp)
        tmp[n++] = '0';
    if ((size_t)(b->end - b->p) < n)
        return;
    while (n)
        *b->p++ = tmp[--n];
}

static void put_account(struct buf *b, uint32_t account)
{
    put(b, opt.prefix);
    put_u(b, account, opt.width);
}

static void put_recipient(struct buf *b, const struct conn *c, unsigned i)
{
    put(b, "rcpt");
    put_u(b, c->claim % 100000, 5);
    put(b, "-");
    put_u(b, i, 2);
    put(b, "@");
    put(b, opt.rcpt_domain);
}

static size_t build_request(const struct conn *c, char *out, size_t cap)
{
    struct buf b = { out, out + cap };
    bool eom = c->rcpt_i >= opt.rcpts;
    unsigned nrcpt = opt.rcpts ? opt.rcpts : 1;

    put(&b, "request=smtpd_access_policy\nprotocol_state=");
    put(&b, eom ? "END-OF-MESSAGE" : "RCPT");
    put(&b, "\nprotocol_name=ESMTP\nclient_address=");
    if (opt.clients) {
        uint32_t ip = c->account % opt.clients;
        put(&b, "10.");
        put_u(&b, (ip >> 16) & 255, 0);
        put(&b, ".");
        put_u(&b, (ip >> 8) & 255, 0);
        put(&b, ".");
        put_u(&b, ip & 255, 0);
    } else {
        put(&b, opt.client_address);
    }
    put(&b, "\nclient_name=unknown\nclient_port=");
    put_u(&b, 1024 + c->claim % 60000, 0);
    put(&b, "\nreverse_client_name=unknown\nserver_address=127.0.0.1\nserver_port=10587\n"
            "helo_name=client.mailbed.test\nsender=");
    put_account(&b, c->account);
    put(&b, "@");
    if (opt.sender_domains > 1) {
        put(&b, "s");
        put_u(&b, c->account % opt.sender_domains, 0);
        put(&b, ".");
    }
    put(&b, opt.domain);
    put(&b, "\nrecipient=");
    if (!eom)
        put_recipient(&b, c, c->rcpt_i);
    else if (nrcpt == 1)
        put_recipient(&b, c, 0);
    put(&b, "\nrecipient_count=");
    put_u(&b, eom ? nrcpt : 0, 0);
    put(&b, "\nqueue_id=");
    if (c->rcpt_i > 0 || eom)
        put_x(&b, ((c->claim + 1) * 2654435761u) & 0xFFFFFFFFFFFull, 11, true);
    put(&b, "\ninstance=");
    put_x(&b, 0x1000 + c->gidx, 0, false);
    put(&b, ".");
    put_x(&b, g_base_id, 0, false);
    put(&b, ".");
    put_x(&b, c->msg_no, 0, false);
    put(&b, ".0\nsize=");
    put_u(&b, eom ? 2048 + c->claim % 4096 : 0, 0);
    put(&b, "\netrn_domain=\nstress=\nsasl_method=PLAIN\nsasl_username=");
    put_account(&b, c->account);
    put(&b, "\nsasl_sender=\nccert_subject=\nccert_issuer=\nccert_fingerprint=\n"
            "ccert_pubkey_fingerprint=\nencryption_protocol=\nencryption_cipher=\n"
            "encryption_keysize=0\npolicy_context=");
    put(&b, opt.policy_context);
    put(&b, "\n\n");
    return (size_t)(b.p - out);
}

/* false when the message budget is exhausted */
static bool start_message(struct conn *c)
{
    uint64_t claim = atomic_fetch_add(&g_msgs_claimed, 1);
    if (opt.max_messages && claim >= opt.max_messages)
        return false;
    c->claim = claim;
    if (opt.random)
        c->account = (uint32_t)((xorshift64(&c->rng) % opt.accounts + opt.account_offset));
    else
        c->account = (uint32_t)(claim % opt.accounts + opt.account_offset);
    c->msg_no++;
    c->rcpt_i = 0;
    c->msg_active = true;
    return true;
}

static void conn_close(struct thread *th, struct conn *c)
{
    (void)th;
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    c->in_len = 0;
    c->out_len = c->out_off = 0;
}

static void conn_done(struct thread *th, struct conn *c)
{
    conn_close(th, c);
    if (c->state != C_DONE) {
        c->state = C_DONE;
        th->active--;
    }
}

static void conn_backoff(struct thread *th, struct conn *c, uint64_t now, uint64_t delay)
{
    conn_close(th, c);
    c->state = C_BACKOFF;
    c->t_retry = now + delay;
}

static void ep_set(struct thread *th, struct conn *c, uint32_t events, int op)
{
    struct epoll_event ev = { .events = events, .data.ptr = c };
    if (epoll_ctl(th->ep, op, c->fd, &ev) < 0) {
        perror("policy_load: epoll_ctl");
        exit(2);
    }
}

static void send_more(struct thread *th, struct conn *c, uint64_t now)
{
    while (c->out_off < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (w > 0) {
            c->out_off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (c->state != C_SENDING) {
                c->state = C_SENDING;
                ep_set(th, c, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
            }
            return;
        }
        th->err.io++;
        conn_backoff(th, c, now, 10 * NS_PER_MS);
        return;
    }
    if (c->state == C_SENDING)
        ep_set(th, c, EPOLLIN, EPOLL_CTL_MOD);
    c->state = C_WAITING;
}

static void send_request(struct thread *th, struct conn *c)
{
    c->out_len = build_request(c, c->out, sizeof c->out);
    c->out_off = 0;
    c->in_len = 0;
    c->t_sent = now_ns();
    c->state = C_WAITING;
    send_more(th, c, c->t_sent);
}

static void conn_connect(struct thread *th, struct conn *c, uint64_t now);

static void on_connected(struct thread *th, struct conn *c)
{
    if (opt.family != AF_UNIX) {
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    ep_set(th, c, EPOLLIN, c->state == C_CONNECTING ? EPOLL_CTL_MOD : EPOLL_CTL_ADD);
    c->state = C_WAITING;
    /* A message interrupted by a broken connection is retried from the
     * request that failed, like smtpd retrying on a new connection. */
    if (!c->msg_active && !start_message(c)) {
        conn_done(th, c);
        return;
    }
    send_request(th, c);
}

static void conn_connect(struct thread *th, struct conn *c, uint64_t now)
{
    c->fd = socket(opt.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        th->err.connect++;
        conn_backoff(th, c, now, 100 * NS_PER_MS);
        return;
    }
    c->t_sent = now;
    c->state = C_BACKOFF;
    if (connect(c->fd, (struct sockaddr *)&opt.addr, opt.addrlen) == 0) {
        on_connected(th, c);
        return;
    }
    if (errno == EINPROGRESS) {
        c->state = C_CONNECTING;
        ep_set(th, c, EPOLLOUT, EPOLL_CTL_ADD);
        return;
    }
    th->err.connect++;
    conn_backoff(th, c, now, 100 * NS_PER_MS);
}

/* Open connections a few at a time: a burst of hundreds of connects
 * overflows a small listen backlog (policyd-rate-limit uses listen(5)) and
 * the kernel then loses some handshakes for good.  smtpd processes start
 * one by one too. */
static void open_next(struct thread *th, uint64_t now)
{
    while (th->next_new < th->nconns) {
        struct conn *c = &th->conns[th->next_new++];
        if (c->state == C_NEW) {
            conn_connect(th, c, now);
            return;
        }
    }
}

static bool measuring(uint64_t t)
{
    uint64_t ms = atomic_load(&g_measure_start);
    return ms != 0 && t >= ms;
}

static void on_reply(struct thread *th, struct conn *c, size_t len, uint64_t now)
{
    /* find the action= attribute; every other attribute is ignored */
    const char *p = c->in, *end = c->in + len;
    const char *act = NULL;
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
    if (!act) {
        th->err.bad_reply++;
        conn_backoff(th, c, now, 10 * NS_PER_MS);
        return;
    }
    char word[32];
    size_t n = 0;
    while (act + n < end && act[n] != ' ' && act[n] != '\t' && act[n] != '\n' && n < sizeof word - 1) {
        word[n] = (char)toupper((unsigned char)act[n]);
        n++;
    }
    if (n == 0) {
        memcpy(word, "(EMPTY)", 7);
        n = 7;
    }

    th->requests_all++;
    if (!c->ever_connected) {
        /* "up" = has been served once: a connection still in the server's
         * accept queue has not. The warmup starts when all are up. */
        c->ever_connected = true;
        atomic_fetch_add(&g_connected_once, 1);
        open_next(th, now);
    }
    bool eom = c->rcpt_i >= opt.rcpts;
    if (measuring(c->t_sent)) {
        th->requests++;
        c->measured++;
        h_add(&th->hist, now - c->t_sent);
        actions_add(&th->actions, word, n, 1);
        if (eom)
            th->messages++;
        uint64_t done = atomic_fetch_add(&g_measured_done, 1) + 1;
        if (opt.max_requests && done >= opt.max_requests)
            request_stop(now);
    }
    if (eom)
        c->msg_active = false;
    else
        c->rcpt_i++;

    if (atomic_load(&g_stop)) {
        conn_done(th, c);
        return;
    }
    uint64_t dl = atomic_load(&g_deadline);
    if (dl && now >= dl) {
        conn_done(th, c);
        return;
    }
    if (!c->msg_active && !start_message(c)) {
        conn_done(th, c);
        return;
    }
    send_request(th, c);
}

static void on_event(struct thread *th, struct conn *c, uint32_t ev)
{
    uint64_t now = now_ns();
    if (c->state == C_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err) {
            th->err.connect++;
            conn_backoff(th, c, now, 100 * NS_PER_MS);
            return;
        }
        if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            on_connected(th, c);
        return;
    }
    if (c->state == C_SENDING && (ev & EPOLLOUT)) {
        send_more(th, c, now);
        if (c->state != C_WAITING)
            return;
    }
    if (!(ev & (EPOLLIN | EPOLLERR | EPOLLHUP)))
        return;
    for (;;) {
        ssize_t r = read(c->fd, c->in + c->in_len, sizeof c->in - 1 - c->in_len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (r <= 0) {
            if (r == 0)
                th->err.closed++;
            else
                th->err.io++;
            conn_backoff(th, c, now, 10 * NS_PER_MS);
            return;
        }
        c->in_len += (size_t)r;
        c->in[c->in_len] = '\0';
        /* reply ends with an empty line */
        size_t len = 0;
        if (c->in[0] == '\n') {
            len = 1; /* a lone empty line: a reply without any attribute */
        } else {
            char *term = memmem(c->in, c->in_len, "\n\n", 2);
            if (term)
                len = (size_t)(term - c->in) + 2;
        }
        if (!len) {
            if (c->in_len >= sizeof c->in - 1) {
                th->err.bad_reply++;
                conn_backoff(th, c, now, 10 * NS_PER_MS);
                return;
            }
            continue;
        }
        if (c->state != C_WAITING || len != c->in_len) {
            /* data nobody asked for, or more than one reply */
            th->err.bad_reply++;
            conn_backoff(th, c, now, 10 * NS_PER_MS);
            return;
        }
        on_reply(th, c, len, now_ns());
        return;
    }
}

static void scan_timers(struct thread *th, uint64_t now)
{
    uint64_t tmo = (uint64_t)(opt.timeout * (double)NS_PER_S);
    for (unsigned i = 0; i < th->nconns; i++) {
        struct conn *c = &th->conns[i];
        switch (c->state) {
        case C_BACKOFF:
            if (now >= c->t_retry)
                conn_connect(th, c, now);
            break;
        case C_CONNECTING:
            if (now - c->t_sent > tmo) {
                th->err.connect++;
                conn_backoff(th, c, now, 0);
            }
            break;
        case C_WAITING:
        case C_SENDING:
            if (now - c->t_sent > tmo) {
                th->err.timeout++;
                conn_backoff(th, c, now, 0);
            }
            break;
        case C_NEW:
            /* the connect wait is over: open the rest at once */
            if (atomic_load(&g_measure_start))
                conn_connect(th, c, now);
            break;
        case C_DONE:
            break;
        }
    }
}

static void *worker(void *arg)
{
    struct thread *th = arg;
    struct epoll_event evs[256];
    th->ep = epoll_create1(EPOLL_CLOEXEC);
    if (th->ep < 0) {
        perror("policy_load: epoll_create1");
        exit(2);
    }
    th->active = th->nconns;
    uint64_t now = now_ns();
    for (unsigned i = 0; i < th->nconns; i++)
        th->conns[i].state = C_NEW;
    unsigned burst = opt.connect_burst ? opt.connect_burst : th->nconns;
    for (unsigned i = 0; i < burst && th->next_new < th->nconns; i++)
        open_next(th, now);
    uint64_t next_scan = now + 5 * NS_PER_MS;
    while (th->active > 0 && !atomic_load(&g_stop)) {
        now = now_ns();
        uint64_t dl = atomic_load(&g_deadline);
        if (dl && now >= dl)
            break;
        if (now >= next_scan) {
            scan_timers(th, now);
            next_scan = now + 5 * NS_PER_MS;
        }
        int n = epoll_wait(th->ep, evs, 256, 5);
        if (n < 0 && errno != EINTR) {
            perror("policy_load: epoll_wait");
            exit(2);
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c->state != C_DONE && c->state != C_BACKOFF && c->fd >= 0)
                on_event(th, c, evs[i].events);
        }
    }
    th->t_end = now_ns();
    /* A request still unanswered at the end has waited at least this long:
     * count it (censored at the end of the run), or a server that starves
     * some connections would look better than it is. */
    uint64_t t_stop = atomic_load(&g_stop_time), dl = atomic_load(&g_deadline);
    uint64_t t_cut = th->t_end;
    if (t_stop && t_stop < t_cut)
        t_cut = t_stop;
    if (dl && dl < t_cut)
        t_cut = dl;
    for (unsigned i = 0; i < th->nconns; i++) {
        struct conn *c = &th->conns[i];
        if ((c->state == C_WAITING || c->state == C_SENDING) && measuring(t_cut) &&
            c->t_sent < t_cut) {
            h_add(&th->hist, t_cut - c->t_sent);
            th->unfinished++;
        }
        conn_close(th, c);
    }
    close(th->ep);
    atomic_fetch_sub(&g_threads_running, 1);
    return NULL;
}

/* ------------------------------------------------------------------ setup */

static int parse_target(const char *t)
{
    const char *path = NULL, *hostport = NULL;
    if (strncmp(t, "unix:", 5) == 0)
        path = t + 5;
    else if (strncmp(t, "inet:", 5) == 0)
        hostport = t + 5;
    else if (t[0] == '/' || t[0] == '.')
        path = t;
    else
        hostport = t;
    memset(&opt.addr, 0, sizeof opt.addr);
    if (path) {
        struct sockaddr_un *sun = (struct sockaddr_un *)&opt.addr;
        if (strlen(path) >= sizeof sun->sun_path) {
            fprintf(stderr, "policy_load: unix socket path too long: %s\n", path);
            return -1;
        }
        sun->sun_family = AF_UNIX;
        strcpy(sun->sun_path, path);
        opt.family = AF_UNIX;
        opt.addrlen = sizeof *sun;
        return 0;
    }
    char host[256];
    const char *colon = strrchr(hostport, ':');
    if (!colon || colon == hostport || (size_t)(colon - hostport) >= sizeof host) {
        fprintf(stderr, "policy_load: bad target %s (want inet:HOST:PORT or unix:PATH)\n", t);
        return -1;
    }
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = '\0';
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
    int rc = getaddrinfo(host, colon + 1, &hints, &res);
    if (rc != 0 || !res) {
        fprintf(stderr, "policy_load: cannot resolve %s: %s\n", t, gai_strerror(rc));
        return -1;
    }
    memcpy(&opt.addr, res->ai_addr, res->ai_addrlen);
    opt.addrlen = res->ai_addrlen;
    opt.family = res->ai_family;
    freeaddrinfo(res);
    return 0;
}

/* --probe: one message (rcpts RCPT + 1 END-OF-MESSAGE) on a blocking socket,
 * print every reply; exit 0 iff every reply carried an action. */
static int probe(void)
{
    int fd = socket(opt.family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        perror("policy_load: socket");
        return 1;
    }
    int tmo_ms = (int)(opt.timeout * 1000);
    if (connect(fd, (struct sockaddr *)&opt.addr, opt.addrlen) < 0) {
        if (errno != EINPROGRESS) {
            if (!opt.quiet)
                fprintf(stderr, "policy_load: connect %s: %s\n", opt.target, strerror(errno));
            close(fd);
            return 1;
        }
        struct pollfd pfd = { .fd = fd, .events = POLLOUT };
        int err = 0;
        socklen_t len = sizeof err;
        if (poll(&pfd, 1, tmo_ms) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
            if (!opt.quiet)
                fprintf(stderr, "policy_load: connect %s: %s\n", opt.target,
                        err ? strerror(err) : "timeout");
            close(fd);
            return 1;
        }
    }
    struct conn *c = calloc(1, sizeof *c);
    if (!c)
        return 1;
    c->fd = fd;
    start_message(c);
    int rc = 0;
    for (;;) {
        bool eom = c->rcpt_i >= opt.rcpts;
        size_t n = build_request(c, c->out, sizeof c->out), off = 0;
        uint64_t t0 = now_ns(), deadline = t0 + (uint64_t)tmo_ms * NS_PER_MS;
        while (off < n) {
            ssize_t w = send(fd, c->out + off, n - off, MSG_NOSIGNAL);
            if (w > 0) {
                off += (size_t)w;
                continue;
            }
            if (w < 0 && errno != EAGAIN && errno != EINTR) {
                fprintf(stderr, "policy_load: send: %s\n", strerror(errno));
                rc = 1;
                goto out;
            }
            struct pollfd pfd = { .fd = fd, .events = POLLOUT };
            if (poll(&pfd, 1, tmo_ms) != 1) {
                fprintf(stderr, "policy_load: send timeout\n");
                rc = 1;
                goto out;
            }
        }
        c->in_len = 0;
        char *term = NULL;
        while (!term) {
            uint64_t now = now_ns();
            if (now >= deadline) {
                fprintf(stderr, "policy_load: no reply within %.1fs\n", opt.timeout);
                rc = 1;
                goto out;
            }
            struct pollfd pfd = { .fd = fd, .events = POLLIN };
            int pr = poll(&pfd, 1, (int)((deadline - now) / NS_PER_MS) + 1);
            if (pr <= 0)
                continue;
            ssize_t r = read(fd, c->in + c->in_len, sizeof c->in - 1 - c->in_len);
            if (r < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (r <= 0) {
                fprintf(stderr, "policy_load: connection closed by server\n");
                rc = 1;
                goto out;
            }
            c->in_len += (size_t)r;
            c->in[c->in_len] = '\0';
            term = memmem(c->in, c->in_len, "\n\n", 2);
            if (!term && c->in_len >= sizeof c->in - 1) {
                fprintf(stderr, "policy_load: reply too long\n");
                rc = 1;
                goto out;
            }
        }
        *term = '\0';
        double us = (double)(now_ns() - t0) / 1000.0;
        if (!opt.quiet)
            printf("%-14s %s  (%.0f us)\n", eom ? "END-OF-MESSAGE" : "RCPT", c->in, us);
        if (strncmp(c->in, "action=", 7) != 0 && !strstr(c->in, "\naction="))
            rc = 1;
        if (eom)
            break;
        c->rcpt_i++;
    }
out:
    free(c);
    close(fd);
    return rc;
}

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

static double parse_double(const char *s, const char *what)
{
    char *end;
    double v = strtod(s, &end);
    if (*s == '\0' || *end != '\0' || v < 0) {
        fprintf(stderr, "policy_load: bad %s: %s\n", what, s);
        exit(2);
    }
    return v;
}

static uint64_t parse_u64(const char *s, const char *what)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno || s[0] == '-') {
        fprintf(stderr, "policy_load: bad %s: %s\n", what, s);
        exit(2);
    }
    return v;
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", *s);
        else
            putchar(*s);
    }
    putchar('"');
}

int main(int argc, char **argv)
{
    enum {
        O_OFFSET = 1000, O_RANDOM, O_PREFIX, O_WIDTH, O_DOMAIN, O_RDOMAIN, O_CLIENT, O_CLIENTS,
        O_SDOMAINS,
        O_CONTEXT, O_TIMEOUT, O_CWAIT, O_CBURST, O_LABEL, O_JSON, O_PROBE
    };
    static const struct option lopts[] = {
        { "server", required_argument, 0, 's' },
        { "connections", required_argument, 0, 'c' },
        { "threads", required_argument, 0, 't' },
        { "duration", required_argument, 0, 'd' },
        { "requests", required_argument, 0, 'n' },
        { "messages", required_argument, 0, 'm' },
        { "warmup", required_argument, 0, 'w' },
        { "accounts", required_argument, 0, 'a' },
        { "rcpts", required_argument, 0, 'r' },
        { "quiet", no_argument, 0, 'q' },
        { "help", no_argument, 0, 'h' },
        { "account-offset", required_argument, 0, O_OFFSET },
        { "random", no_argument, 0, O_RANDOM },
        { "prefix", required_argument, 0, O_PREFIX },
        { "width", required_argument, 0, O_WIDTH },
        { "domain", required_argument, 0, O_DOMAIN },
        { "rcpt-domain", required_argument, 0, O_RDOMAIN },
        { "client-address", required_argument, 0, O_CLIENT },
        { "clients", required_argument, 0, O_CLIENTS },
        { "sender-domains", required_argument, 0, O_SDOMAINS },
        { "policy-context", required_argument, 0, O_CONTEXT },
        { "timeout", required_argument, 0, O_TIMEOUT },
        { "connect-wait", required_argument, 0, O_CWAIT },
        { "connect-burst", required_argument, 0, O_CBURST },
        { "label", required_argument, 0, O_LABEL },
        { "json", no_argument, 0, O_JSON },
        { "probe", no_argument, 0, O_PROBE },
        { 0, 0, 0, 0 },
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "s:c:t:d:n:m:w:a:r:qh", lopts, NULL)) != -1) {
        switch (ch) {
        case 's': opt.target = optarg; break;
        case 'c': opt.conns = (unsigned)parse_u64(optarg, "connections"); break;
        case 't': opt.threads = (unsigned)parse_u64(optarg, "threads"); break;
        case 'd': opt.duration = parse_double(optarg, "duration"); break;
        case 'n': opt.max_requests = parse_u64(optarg, "requests"); break;
        case 'm': opt.max_messages = parse_u64(optarg, "messages"); break;
        case 'w': opt.warmup = parse_double(optarg, "warmup"); break;
        case 'a': opt.accounts = (unsigned)parse_u64(optarg, "accounts"); break;
        case 'r': opt.rcpts = (unsigned)parse_u64(optarg, "rcpts"); break;
        case 'q': opt.quiet = true; break;
        case 'h': usage(stdout); return 0;
        case O_OFFSET: opt.account_offset = (unsigned)parse_u64(optarg, "account offset"); break;
        case O_RANDOM: opt.random = true; break;
        case O_PREFIX: opt.prefix = optarg; break;
        case O_WIDTH: opt.width = (unsigned)parse_u64(optarg, "width"); break;
        case O_DOMAIN: opt.domain = optarg; break;
        case O_RDOMAIN: opt.rcpt_domain = optarg; break;
        case O_CLIENT: opt.client_address = optarg; break;
        case O_CLIENTS: opt.clients = (unsigned)parse_u64(optarg, "clients"); break;
        case O_SDOMAINS: opt.sender_domains = (unsigned)parse_u64(optarg, "sender domains"); break;
        case O_CONTEXT: opt.policy_context = optarg; break;
        case O_TIMEOUT: opt.timeout = parse_double(optarg, "timeout"); break;
        case O_CWAIT: opt.connect_wait = parse_double(optarg, "connect wait"); break;
        case O_CBURST: opt.connect_burst = (unsigned)parse_u64(optarg, "connect burst"); break;
        case O_LABEL: opt.label = optarg; break;
        case O_JSON: opt.json = true; break;
        case O_PROBE: opt.probe = true; break;
        default: usage(stderr); return 2;
        }
    }
    if (!opt.target && optind < argc)
        opt.target = argv[optind++];
    if (!opt.target || optind != argc) {
        usage(stderr);
        return 2;
    }
    if (opt.conns == 0 || opt.accounts == 0 || opt.threads == 0 || opt.width > 20 ||
        opt.sender_domains == 0 ||
        opt.rcpts > 99 || opt.timeout <= 0) {
        fprintf(stderr, "policy_load: connections, accounts, threads, timeout must be > 0, "
                        "rcpts <= 99, width <= 20\n");
        return 2;
    }
    if (opt.threads > opt.conns)
        opt.threads = opt.conns;
    if (opt.duration == 0 && opt.max_requests == 0 && opt.max_messages == 0)
        opt.duration = 10;
    if (parse_target(opt.target) < 0)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    g_base_id = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);

    if (opt.probe)
        return probe();

    struct thread *ths = calloc(opt.threads, sizeof *ths);
    struct conn *conns = calloc(opt.conns, sizeof *conns);
    if (!ths || !conns) {
        fprintf(stderr, "policy_load: out of memory\n");
        return 2;
    }
    for (unsigned i = 0; i < opt.conns; i++) {
        conns[i].fd = -1;
        conns[i].gidx = i;
        conns[i].rng = 0x9E3779B97F4A7C15ull ^ ((uint64_t)(i + 1) * 0xBF58476D1CE4E5B9ull) ^ g_base_id;
    }
    unsigned per = opt.conns / opt.threads, extra = opt.conns % opt.threads, next = 0;
    atomic_store(&g_threads_running, opt.threads);
    uint64_t t_start = now_ns();
    for (unsigned i = 0; i < opt.threads; i++) {
        ths[i].idx = i;
        ths[i].conns = conns + next;
        ths[i].nconns = per + (i < extra ? 1 : 0);
        next += ths[i].nconns;
        if (pthread_create(&ths[i].tid, NULL, worker, &ths[i]) != 0) {
            fprintf(stderr, "policy_load: pthread_create failed\n");
            return 2;
        }
    }

    /* Coordinator: warmup starts when every connection is up (or after
     * --connect-wait), the measured window after the warmup. */
    uint64_t cwait = (uint64_t)(opt.connect_wait * (double)NS_PER_S);
    uint64_t t_up = 0;
    bool all_up = false;
    unsigned up_count = 0;
    for (;;) {
        uint64_t now = now_ns();
        if (atomic_load(&g_threads_running) == 0)
            break;
        if (!t_up) {
            up_count = atomic_load(&g_connected_once);
            all_up = up_count >= opt.conns;
            if (all_up || now - t_start >= cwait) {
                t_up = now;
                uint64_t ms = now + (uint64_t)(opt.warmup * (double)NS_PER_S);
                if (ms == 0)
                    ms = 1;
                if (opt.duration > 0)
                    atomic_store(&g_deadline, ms + (uint64_t)(opt.duration * (double)NS_PER_S));
                atomic_store(&g_measure_start, ms);
            }
        }
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    for (unsigned i = 0; i < opt.threads; i++)
        pthread_join(ths[i].tid, NULL);

    struct hist *h = calloc(1, sizeof *h);
    struct actions acts = { .n = 0 };
    struct errors err = { 0 };
    uint64_t reqs = 0, reqs_all = 0, msgs = 0, t_end = 0, unfinished = 0;
    uint64_t cmin = UINT64_MAX, cmax = 0;
    for (unsigned i = 0; i < opt.conns; i++) {
        if (conns[i].measured < cmin)
            cmin = conns[i].measured;
        if (conns[i].measured > cmax)
            cmax = conns[i].measured;
    }
    for (unsigned i = 0; i < opt.threads; i++) {
        h_merge(h, &ths[i].hist);
        for (unsigned j = 0; j < ths[i].actions.n; j++)
            actions_add(&acts, ths[i].actions.a[j].name, strlen(ths[i].actions.a[j].name),
                        ths[i].actions.a[j].n);
        acts.other += ths[i].actions.other;
        err.connect += ths[i].err.connect;
        err.closed += ths[i].err.closed;
        err.timeout += ths[i].err.timeout;
        err.bad_reply += ths[i].err.bad_reply;
        err.io += ths[i].err.io;
        reqs += ths[i].requests;
        reqs_all += ths[i].requests_all;
        msgs += ths[i].messages;
        unfinished += ths[i].unfinished;
        if (ths[i].t_end > t_end)
            t_end = ths[i].t_end;
    }
    uint64_t ms = atomic_load(&g_measure_start), dl = atomic_load(&g_deadline);
    uint64_t st = atomic_load(&g_stop_time);
    if (st && st < t_end)
        t_end = st;
    if (dl && dl < t_end)
        t_end = dl;
    double secs = (ms && t_end > ms) ? (double)(t_end - ms) / (double)NS_PER_S : 0;
    double rps = secs > 0 ? (double)reqs / secs : 0;
    uint64_t errs = err.connect + err.closed + err.timeout + err.bad_reply + err.io;
    double p50 = h_quantile(h, 0.50) / 1e3, p90 = h_quantile(h, 0.90) / 1e3;
    double p99 = h_quantile(h, 0.99) / 1e3, p999 = h_quantile(h, 0.999) / 1e3;
    double mx = (double)h->max / 1e3, mean = h->count ? (double)h->sum / (double)h->count / 1e3 : 0;
    if (!all_up && !opt.quiet)
        fprintf(stderr, "policy_load: only %u of %u connections had a reply after %.1fs\n",
                up_count, opt.conns, opt.connect_wait);

    if (opt.json) {
        printf("{");
        if (opt.label) {
            printf("\"label\":");
            json_str(opt.label);
            printf(",");
        }
        printf("\"target\":");
        json_str(opt.target);
        printf(",\"connections\":%u,\"connections_up\":%u,\"threads\":%u,\"accounts\":%u,"
               "\"random\":%s,\"rcpts\":%u,\"seconds\":%.3f,\"requests\":%" PRIu64
               ",\"requests_all\":%" PRIu64 ",\"messages\":%" PRIu64 ",\"rps\":%.1f,"
               "\"latency_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p99.9\":%.1f,"
               "\"max\":%.1f,\"mean\":%.1f},\"unfinished\":%" PRIu64 ","
               "\"per_connection\":{\"min\":%" PRIu64 ",\"max\":%" PRIu64 "},",
               opt.conns, up_count, opt.threads, opt.accounts, opt.random ? "true" : "false",
               opt.rcpts, secs, reqs, reqs_all, msgs, rps, p50, p90, p99, p999, mx, mean,
               unfinished, cmin, cmax);
        printf("\"errors\":{\"total\":%" PRIu64 ",\"connect\":%" PRIu64 ",\"closed\":%" PRIu64
               ",\"timeout\":%" PRIu64 ",\"bad_reply\":%" PRIu64 ",\"io\":%" PRIu64 "},",
               errs, err.connect, err.closed, err.timeout, err.bad_reply, err.io);
        printf("\"actions\":{");
        for (unsigned j = 0; j < acts.n; j++) {
            if (j)
                printf(",");
            json_str(acts.a[j].name);
            printf(":%" PRIu64, acts.a[j].n);
        }
        if (acts.other)
            printf("%s\"(OTHER)\":%" PRIu64, acts.n ? "," : "", acts.other);
        printf("}}\n");
    } else {
        if (opt.label)
            printf("label=%s ", opt.label);
        printf("target=%s conns=%u up=%u threads=%u accounts=%u rcpts=%u secs=%.2f "
               "requests=%" PRIu64 " messages=%" PRIu64 " rps=%.1f p50_us=%.1f p90_us=%.1f "
               "p99_us=%.1f p999_us=%.1f max_us=%.1f mean_us=%.1f unfinished=%" PRIu64
               " conn_min=%" PRIu64 " conn_max=%" PRIu64 " errors=%" PRIu64
               " err_connect=%" PRIu64 " err_closed=%" PRIu64 " err_timeout=%" PRIu64
               " err_bad_reply=%" PRIu64 " err_io=%" PRIu64 " actions=",
               opt.target, opt.conns, up_count, opt.threads, opt.accounts, opt.rcpts, secs, reqs,
               msgs, rps, p50, p90, p99, p999, mx, mean, unfinished, cmin, cmax, errs, err.connect, err.closed,
               err.timeout, err.bad_reply, err.io);
        for (unsigned j = 0; j < acts.n; j++)
            printf("%s%s:%" PRIu64, j ? "," : "", acts.a[j].name, acts.a[j].n);
        if (acts.other)
            printf("%s(OTHER):%" PRIu64, acts.n ? "," : "", acts.other);
        if (acts.n == 0 && acts.other == 0)
            printf("-");
        printf("\n");
    }
    free(h);
    free(conns);
    free(ths);
    return reqs > 0 ? 0 : 1;
}
