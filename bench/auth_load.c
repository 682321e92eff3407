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
 * Build: cc -O2 -std=c11 -Wall -Wextra -Werror -pthread -o auth_load auth_load.c
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
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
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_S 1000000000ull
#define NS_PER_MS 1000000ull
#define MAX_ANSWERS 32
#define REQ_MAX 2048
#define REPLY_MAX 4096

/* ---------------------------------------------------------------- options */

static struct options {
    const char *target;
    int family;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    unsigned conns, threads, accounts, account_offset, clients, width;
    unsigned fail_pct, smtp_pct;
    double duration, warmup, timeout, connect_wait;
    unsigned connect_burst;
    uint64_t max_requests;
    bool v24, json, probe, quiet;
    const char *prefix, *domain, *path, *api_header, *label;
} opt = {
    .conns = 16,
    .threads = 1,
    .accounts = 100000,
    .clients = 50000,
    .width = 6,
    .fail_pct = 10,
    .smtp_pct = 50,
    .warmup = 1.0,
    .timeout = 10.0,
    .connect_wait = 10.0,
    .connect_burst = 4,
    .prefix = "user",
    .domain = "example.edu",
    .path = "/",
};

/* ----------------------------------------------------------- shared state */

static _Atomic uint64_t g_measure_start;  /* ns; 0 until all connections are up */
static _Atomic uint64_t g_deadline;       /* ns; 0 until known */
static _Atomic uint64_t g_stop_time;      /* ns; set by whoever stops the run first */
static atomic_int g_stop;
static _Atomic uint64_t g_measured_done;
static _Atomic uint64_t g_logins_claimed;
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
    uint64_t count, sum, max;
};

static unsigned h_index(uint64_t v)
{
    if (v < 128)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - 6; /* keep top 7 bits: 64..127 */
    unsigned idx = 128 + (shift - 1) * H_SUB + (unsigned)((v >> shift) - 64);
    return idx < H_BUCKETS ? idx : H_BUCKETS - 1;
}

static double h_value(unsigned idx)
{
    if (idx < 128)
        return idx;
    unsigned shift = (idx - 128) / H_SUB + 1;
    uint64_t sub = (idx - 128) % H_SUB + 64;
    return (double)(sub << shift) + (double)(1ull << shift) / 2.0;
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

/* ---------------------------------------------------------------- answers */

struct answer_count {
    char name[16];
    uint64_t n;
};

struct answers {
    struct answer_count a[MAX_ANSWERS];
    unsigned n;
    uint64_t other;
};

static void answers_add(struct answers *t, const char *name, uint64_t n)
{
    for (unsigned i = 0; i < t->n; i++) {
        if (strcmp(t->a[i].name, name) == 0) {
            t->a[i].n += n;
            return;
        }
    }
    if (t->n == MAX_ANSWERS) {
        t->other += n;
        return;
    }
    snprintf(t->a[t->n].name, sizeof t->a[0].name, "%s", name);
    t->a[t->n].n = n;
    t->n++;
}

/* ------------------------------------------------------------ connections */

enum cstate { C_NEW, C_BACKOFF, C_CONNECTING, C_WAITING, C_SENDING, C_DONE };

/* One login: steps 0..nsteps-1 are allow (before), [allow (after)], report. */
struct login {
    bool active, fail, smtp;
    unsigned step, nsteps;
    uint32_t account, remote;
    uint64_t no;
    char session[17];
};

struct conn {
    int fd;
    enum cstate state;
    unsigned gidx;
    bool ever_connected;
    struct login lg;
    uint64_t rng;
    uint64_t t_sent; /* ns: request send start, or connect start */
    uint64_t t_retry;
    uint64_t measured;
    size_t out_len, out_off, in_len;
    char out[REQ_MAX];
    char in[REPLY_MAX];
};

struct errors {
    uint64_t connect, closed, timeout, bad_reply, io;
};

struct thread {
    pthread_t tid;
    int ep;
    struct conn *conns;
    unsigned nconns, active, next_new;
    struct hist hist;
    struct answers answers;
    struct errors err;
    uint64_t requests_all, requests, logins, unfinished, t_end;
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
    char *p, *end;
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

static void put_ip(struct buf *b, uint32_t ip)
{
    put(b, "10.");
    put_u(b, (ip >> 16) & 255, 0);
    put(b, ".");
    put_u(b, (ip >> 8) & 255, 0);
    put(b, ".");
    put_u(b, ip & 255, 0);
}

/* The body Dovecot sends for this step of the login. */
static size_t build_body(const struct login *lg, bool report, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    struct buf b = { out, out + cap };
    /* 12-bit truncated hash: same for the same account and password */
    uint32_t h = (lg->account * 2654435761u + (lg->fail ? 0x9e37u : 0u)) >> 20;
    char pwhash[5] = { '0', hex[(h >> 8) & 15], hex[(h >> 4) & 15], hex[h & 15], 0 };
    put(&b, "{\"device_id\":\"\",");
    if (opt.v24) {
        put(&b, "\"fail_type\":\"");
        put(&b, report && lg->fail ? "credentials" : "");
        put(&b, "\",");
    }
    put(&b, "\"login\":\"");
    put(&b, opt.prefix);
    put_u(&b, lg->account, opt.width);
    put(&b, "@");
    put(&b, opt.domain);
    put(&b, "\",\"protocol\":\"");
    put(&b, lg->smtp ? "smtp" : "imap");
    put(&b, "\",\"pwhash\":\"");
    put(&b, pwhash);
    put(&b, "\",\"remote\":\"");
    put_ip(&b, lg->remote);
    put(&b, "\",\"session_id\":\"");
    put(&b, lg->smtp ? "" : lg->session); /* SMTP AUTH via Postfix has none */
    put(&b, "\"");
    if (report)
        put(&b, lg->fail ? ",\"success\":false,\"policy_reject\":false"
                         : ",\"success\":true,\"policy_reject\":false");
    put(&b, lg->smtp ? ",\"tls\":false}" : ",\"tls\":true}");
    return (size_t)(b.p - out);
}

static size_t build_request(const struct conn *c, char *out, size_t cap)
{
    char body[1024];
    bool report = c->lg.step == c->lg.nsteps - 1;
    size_t blen = build_body(&c->lg, report, body, sizeof body);
    struct buf b = { out, out + cap };
    put(&b, "POST ");
    put(&b, opt.path);
    put(&b, strchr(opt.path, '?') ? "&command=" : "?command=");
    put(&b, report ? "report" : "allow");
    put(&b, " HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: dovecot/auth-policy-client\r\n"
            "Content-Length: ");
    put_u(&b, blen, 0);
    put(&b, "\r\nConnection: Keep-Alive\r\nContent-Type: application/json\r\n");
    if (opt.api_header) {
        put(&b, opt.api_header);
        put(&b, "\r\n");
    }
    put(&b, "\r\n");
    if ((size_t)(b.end - b.p) >= blen) {
        memcpy(b.p, body, blen);
        b.p += blen;
    }
    return (size_t)(b.p - out);
}

static void start_login(struct conn *c)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint64_t claim = atomic_fetch_add(&g_logins_claimed, 1);
    struct login *lg = &c->lg;
    lg->no = claim;
    lg->account = (uint32_t)(claim % opt.accounts + opt.account_offset);
    uint64_t r = xorshift64(&c->rng);
    lg->fail = r % 100 < opt.fail_pct;
    lg->smtp = (r >> 8) % 100 < opt.smtp_pct;
    /* a user's usual address; failures come from anywhere */
    uint32_t usual = (uint32_t)((lg->account * 2654435761u) % opt.clients);
    lg->remote = lg->fail ? (uint32_t)((r >> 16) % opt.clients) : usual;
    lg->nsteps = lg->fail ? 2 : 3;
    lg->step = 0;
    uint64_t s = xorshift64(&c->rng) ^ g_base_id;
    for (int i = 0; i < 16; i++, s >>= 4)
        lg->session[i] = b64[(s ^ (uint64_t)i * 0x9E3779B97F4A7C15ull) % 64];
    lg->session[16] = 0;
    lg->active = true;
}

static void conn_close(struct conn *c)
{
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    c->in_len = c->out_len = c->out_off = 0;
}

static void conn_done(struct thread *th, struct conn *c)
{
    conn_close(c);
    if (c->state != C_DONE) {
        c->state = C_DONE;
        th->active--;
    }
}

static void conn_backoff(struct conn *c, uint64_t now, uint64_t delay)
{
    conn_close(c);
    c->state = C_BACKOFF;
    c->t_retry = now + delay;
}

static void ep_set(struct thread *th, struct conn *c, uint32_t events, int op)
{
    struct epoll_event ev = { .events = events, .data.ptr = c };
    if (epoll_ctl(th->ep, op, c->fd, &ev) < 0) {
        perror("auth_load: epoll_ctl");
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
        conn_backoff(c, now, 10 * NS_PER_MS);
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

static void on_connected(struct thread *th, struct conn *c)
{
    if (opt.family != AF_UNIX) {
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    ep_set(th, c, EPOLLIN, c->state == C_CONNECTING ? EPOLL_CTL_MOD : EPOLL_CTL_ADD);
    c->state = C_WAITING;
    /* a login cut by a broken connection goes on from the step that failed */
    if (!c->lg.active)
        start_login(c);
    send_request(th, c);
}

static void conn_connect(struct thread *th, struct conn *c, uint64_t now)
{
    c->fd = socket(opt.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        th->err.connect++;
        conn_backoff(c, now, 100 * NS_PER_MS);
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
    conn_backoff(c, now, 100 * NS_PER_MS);
}

/* Open connections a few at a time: Dovecot's auth process opens them as
 * requests come, never hundreds in one burst. */
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

/* ---------------------------------------------------------------- replies */

/* Length of one complete response at in[0..len), 0 if incomplete, -1 if
 * it cannot be framed. Sets *code, *close_after and the JSON body view. */
static long parse_response(const char *in, size_t len, int *code, bool *close_after,
                           const char **body, size_t *blen)
{
    const char *end = memmem(in, len, "\r\n\r\n", 4);
    if (!end)
        return len >= REPLY_MAX - 1 ? -1 : 0;
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
    if (*blen > REPLY_MAX - 1 - hlen)
        return -1;
    while (conn && *conn == ' ')
        conn++;
    *close_after = conn && strncasecmp(conn, "close", 5) == 0;
    *body = in + hlen;
    return len >= hlen + *blen ? (long)(hlen + *blen) : 0;
}

/* "s<status>" for 200 with a status, else "h<code>". */
static void answer_name(int code, const char *body, size_t blen, char *name, size_t cap)
{
    const char *st = code == 200 ? memmem(body, blen, "\"status\":", 9) : NULL;
    if (st)
        snprintf(name, cap, "s%ld", strtol(st + 9, NULL, 10));
    else
        snprintf(name, cap, "h%d", code);
}

static void next_step(struct thread *th, struct conn *c, uint64_t now, bool close_after)
{
    if (++c->lg.step == c->lg.nsteps) {
        c->lg.active = false;
        if (measuring(c->t_sent))
            th->logins++;
    }
    uint64_t dl = atomic_load(&g_deadline);
    if (atomic_load(&g_stop) || (dl && now >= dl)) {
        conn_done(th, c);
        return;
    }
    if (close_after) { /* the server closes: reconnect at once */
        conn_backoff(c, now, 0);
        return;
    }
    if (!c->lg.active)
        start_login(c);
    send_request(th, c);
}

static void on_reply(struct thread *th, struct conn *c, int code, const char *body, size_t blen,
                     bool close_after, uint64_t now)
{
    th->requests_all++;
    if (!c->ever_connected) {
        /* "up" = served once; the warmup starts when all are up */
        c->ever_connected = true;
        atomic_fetch_add(&g_connected_once, 1);
        open_next(th, now);
    }
    if (measuring(c->t_sent)) {
        char name[16];
        answer_name(code, body, blen, name, sizeof name);
        th->requests++;
        c->measured++;
        h_add(&th->hist, now - c->t_sent);
        answers_add(&th->answers, name, 1);
        uint64_t done = atomic_fetch_add(&g_measured_done, 1) + 1;
        if (opt.max_requests && done >= opt.max_requests)
            request_stop(now);
    }
    next_step(th, c, now, close_after);
}

static void on_readable(struct thread *th, struct conn *c, uint64_t now)
{
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
            conn_backoff(c, now, 10 * NS_PER_MS);
            return;
        }
        c->in_len += (size_t)r;
        int code = 0;
        bool close_after = false;
        const char *body = NULL;
        size_t blen = 0;
        long n = parse_response(c->in, c->in_len, &code, &close_after, &body, &blen);
        if (n == 0)
            continue;
        if (n < 0 || c->state != C_WAITING || (size_t)n != c->in_len) {
            th->err.bad_reply++; /* unframeable, unasked for, or more than one */
            conn_backoff(c, now, 10 * NS_PER_MS);
            return;
        }
        on_reply(th, c, code, body, blen, close_after, now_ns());
        return;
    }
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
            conn_backoff(c, now, 100 * NS_PER_MS);
        } else if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
            on_connected(th, c);
        }
        return;
    }
    if (c->state == C_SENDING && (ev & EPOLLOUT)) {
        send_more(th, c, now);
        if (c->state != C_WAITING)
            return;
    }
    if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
        on_readable(th, c, now);
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
                conn_backoff(c, now, 0);
            }
            break;
        case C_WAITING:
        case C_SENDING:
            if (now - c->t_sent > tmo) {
                th->err.timeout++;
                conn_backoff(c, now, 0);
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

/* A request still unanswered at the end has waited at least until then:
 * count it, or a server that starves connections would look better. */
static void count_unfinished(struct thread *th)
{
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
        conn_close(c);
    }
}

static void *worker(void *arg)
{
    struct thread *th = arg;
    struct epoll_event evs[256];
    th->ep = epoll_create1(EPOLL_CLOEXEC);
    if (th->ep < 0) {
        perror("auth_load: epoll_create1");
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
            perror("auth_load: epoll_wait");
            exit(2);
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c->state != C_DONE && c->state != C_BACKOFF && c->fd >= 0)
                on_event(th, c, evs[i].events);
        }
    }
    th->t_end = now_ns();
    count_unfinished(th);
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
            fprintf(stderr, "auth_load: unix socket path too long: %s\n", path);
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
        fprintf(stderr, "auth_load: bad target %s (want inet:HOST:PORT or unix:PATH)\n", t);
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
        fprintf(stderr, "auth_load: cannot resolve %s: %s\n", t, gai_strerror(rc));
        return -1;
    }
    memcpy(&opt.addr, res->ai_addr, res->ai_addrlen);
    opt.addrlen = res->ai_addrlen;
    opt.family = res->ai_family;
    freeaddrinfo(res);
    return 0;
}

/* Blocking-style connect with a timeout; the fd, or -1. */
static int probe_connect(int tmo_ms)
{
    int fd = socket(opt.family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&opt.addr, opt.addrlen) == 0)
        return fd;
    struct pollfd pfd = { .fd = fd, .events = POLLOUT };
    int err = 0;
    socklen_t len = sizeof err;
    if (errno != EINPROGRESS || poll(&pfd, 1, tmo_ms) != 1 ||
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
        if (!opt.quiet)
            fprintf(stderr, "auth_load: connect %s: %s\n", opt.target,
                    err ? strerror(err) : errno != EINPROGRESS ? strerror(errno) : "timeout");
        close(fd);
        return -1;
    }
    return fd;
}

/* One request and its response on fd, within tmo_ms; prints it. 0 if the
 * answer was 200 with a "status", else 1. */
static int probe_one(int fd, struct conn *c, int tmo_ms)
{
    size_t n = build_request(c, c->out, sizeof c->out), off = 0;
    uint64_t t0 = now_ns(), deadline = t0 + (uint64_t)tmo_ms * NS_PER_MS;
    c->in_len = 0;
    while (now_ns() < deadline) {
        struct pollfd pfd = { .fd = fd, .events = off < n ? POLLOUT : POLLIN };
        if (poll(&pfd, 1, 10) != 1)
            continue;
        ssize_t r = off < n ? send(fd, c->out + off, n - off, MSG_NOSIGNAL)
                            : read(fd, c->in + c->in_len, sizeof c->in - 1 - c->in_len);
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (r <= 0) {
            fprintf(stderr, "auth_load: connection closed by the server\n");
            return 1;
        }
        if (off < n) {
            off += (size_t)r;
            continue;
        }
        c->in_len += (size_t)r;
        int code = 0;
        bool close_after = false;
        const char *body = NULL;
        size_t blen = 0;
        long got = parse_response(c->in, c->in_len, &code, &close_after, &body, &blen);
        if (got == 0)
            continue;
        if (got < 0)
            return 1;
        if (!opt.quiet)
            printf("%-7s HTTP %d %.*s  (%.0f us)\n",
                   c->lg.step == c->lg.nsteps - 1 ? "report" : "allow", code, (int)blen, body,
                   (double)(now_ns() - t0) / 1000.0);
        return code == 200 && memmem(body, blen, "\"status\":", 9) ? 0 : 1;
    }
    fprintf(stderr, "auth_load: no answer within %.1fs\n", opt.timeout);
    return 1;
}

/* --probe: one good login (allow, allow, report) on one connection; exit 0
 * iff every answer was 200 with a status (for readiness checks). */
static int probe(void)
{
    int tmo_ms = (int)(opt.timeout * 1000);
    int fd = probe_connect(tmo_ms);
    if (fd < 0)
        return 1;
    struct conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return 1;
    }
    c->rng = g_base_id | 1;
    start_login(c);
    c->lg.fail = false;
    c->lg.nsteps = 3;
    int rc = 0;
    for (; c->lg.step < c->lg.nsteps && rc == 0; c->lg.step++)
        rc = probe_one(fd, c, tmo_ms);
    free(c);
    close(fd);
    return rc;
}

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

static double parse_double(const char *s, const char *what)
{
    char *end;
    double v = strtod(s, &end);
    if (*s == '\0' || *end != '\0' || v < 0) {
        fprintf(stderr, "auth_load: bad %s: %s\n", what, s);
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
        fprintf(stderr, "auth_load: bad %s: %s\n", what, s);
        exit(2);
    }
    return v;
}

static void parse_args(int argc, char **argv)
{
    enum {
        O_OFFSET = 1000, O_CLIENTS, O_FAIL, O_SMTP, O_V24, O_PREFIX, O_WIDTH, O_DOMAIN, O_PATH,
        O_HEADER, O_TIMEOUT, O_CWAIT, O_CBURST, O_LABEL, O_JSON, O_PROBE
    };
    static const struct option lopts[] = {
        { "server", required_argument, 0, 's' },
        { "connections", required_argument, 0, 'c' },
        { "threads", required_argument, 0, 't' },
        { "duration", required_argument, 0, 'd' },
        { "requests", required_argument, 0, 'n' },
        { "warmup", required_argument, 0, 'w' },
        { "accounts", required_argument, 0, 'a' },
        { "quiet", no_argument, 0, 'q' },
        { "help", no_argument, 0, 'h' },
        { "account-offset", required_argument, 0, O_OFFSET },
        { "clients", required_argument, 0, O_CLIENTS },
        { "fail-pct", required_argument, 0, O_FAIL },
        { "smtp-pct", required_argument, 0, O_SMTP },
        { "v24", no_argument, 0, O_V24 },
        { "prefix", required_argument, 0, O_PREFIX },
        { "width", required_argument, 0, O_WIDTH },
        { "domain", required_argument, 0, O_DOMAIN },
        { "path", required_argument, 0, O_PATH },
        { "api-header", required_argument, 0, O_HEADER },
        { "timeout", required_argument, 0, O_TIMEOUT },
        { "connect-wait", required_argument, 0, O_CWAIT },
        { "connect-burst", required_argument, 0, O_CBURST },
        { "label", required_argument, 0, O_LABEL },
        { "json", no_argument, 0, O_JSON },
        { "probe", no_argument, 0, O_PROBE },
        { 0, 0, 0, 0 },
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "s:c:t:d:n:w:a:qh", lopts, NULL)) != -1) {
        switch (ch) {
        case 's': opt.target = optarg; break;
        case 'c': opt.conns = (unsigned)parse_u64(optarg, "connections"); break;
        case 't': opt.threads = (unsigned)parse_u64(optarg, "threads"); break;
        case 'd': opt.duration = parse_double(optarg, "duration"); break;
        case 'n': opt.max_requests = parse_u64(optarg, "requests"); break;
        case 'w': opt.warmup = parse_double(optarg, "warmup"); break;
        case 'a': opt.accounts = (unsigned)parse_u64(optarg, "accounts"); break;
        case 'q': opt.quiet = true; break;
        case 'h': usage(stdout); exit(0);
        case O_OFFSET: opt.account_offset = (unsigned)parse_u64(optarg, "account offset"); break;
        case O_CLIENTS: opt.clients = (unsigned)parse_u64(optarg, "clients"); break;
        case O_FAIL: opt.fail_pct = (unsigned)parse_u64(optarg, "fail pct"); break;
        case O_SMTP: opt.smtp_pct = (unsigned)parse_u64(optarg, "smtp pct"); break;
        case O_V24: opt.v24 = true; break;
        case O_PREFIX: opt.prefix = optarg; break;
        case O_WIDTH: opt.width = (unsigned)parse_u64(optarg, "width"); break;
        case O_DOMAIN: opt.domain = optarg; break;
        case O_PATH: opt.path = optarg; break;
        case O_HEADER: opt.api_header = optarg; break;
        case O_TIMEOUT: opt.timeout = parse_double(optarg, "timeout"); break;
        case O_CWAIT: opt.connect_wait = parse_double(optarg, "connect wait"); break;
        case O_CBURST: opt.connect_burst = (unsigned)parse_u64(optarg, "connect burst"); break;
        case O_LABEL: opt.label = optarg; break;
        case O_JSON: opt.json = true; break;
        case O_PROBE: opt.probe = true; break;
        default: usage(stderr); exit(2);
        }
    }
    if (!opt.target && optind < argc)
        opt.target = argv[optind++];
    if (!opt.target || optind != argc) {
        usage(stderr);
        exit(2);
    }
    if (opt.conns == 0 || opt.accounts == 0 || opt.threads == 0 || opt.clients == 0 ||
        opt.width > 20 || opt.fail_pct > 100 || opt.smtp_pct > 100 || opt.timeout <= 0 ||
        strlen(opt.prefix) + strlen(opt.domain) > 200 || strlen(opt.path) > 200 ||
        (opt.api_header && (strlen(opt.api_header) > 500 || strchr(opt.api_header, '\n')))) {
        fprintf(stderr, "auth_load: connections, accounts, threads, clients, timeout must be > 0; "
                        "percentages <= 100; width <= 20; prefix, domain, path, header short\n");
        exit(2);
    }
    if (opt.threads > opt.conns)
        opt.threads = opt.conns;
    if (opt.duration == 0 && opt.max_requests == 0)
        opt.duration = 10;
}

/* Warmup starts when every connection is up (or after --connect-wait),
 * the measured window after the warmup. Returns how many were up. */
static unsigned coordinate(uint64_t t_start)
{
    uint64_t cwait = (uint64_t)(opt.connect_wait * (double)NS_PER_S);
    bool started = false;
    unsigned up = 0;
    while (atomic_load(&g_threads_running) > 0) {
        uint64_t now = now_ns();
        if (!started) {
            up = atomic_load(&g_connected_once);
            if (up >= opt.conns || now - t_start >= cwait) {
                started = true;
                uint64_t ms = now + (uint64_t)(opt.warmup * (double)NS_PER_S);
                if (opt.duration > 0)
                    atomic_store(&g_deadline, ms + (uint64_t)(opt.duration * (double)NS_PER_S));
                atomic_store(&g_measure_start, ms ? ms : 1);
            }
        }
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    return started ? up : atomic_load(&g_connected_once);
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

struct totals {
    struct hist *h;
    struct answers ans;
    struct errors err;
    uint64_t reqs, reqs_all, logins, unfinished, t_end, errs, cmin, cmax;
    double secs, rps;
};

static void sum_up(struct thread *ths, struct conn *conns, struct totals *t)
{
    t->cmin = UINT64_MAX;
    for (unsigned i = 0; i < opt.conns; i++) {
        if (conns[i].measured < t->cmin)
            t->cmin = conns[i].measured;
        if (conns[i].measured > t->cmax)
            t->cmax = conns[i].measured;
    }
    for (unsigned i = 0; i < opt.threads; i++) {
        struct thread *th = &ths[i];
        h_merge(t->h, &th->hist);
        for (unsigned j = 0; j < th->answers.n; j++)
            answers_add(&t->ans, th->answers.a[j].name, th->answers.a[j].n);
        t->ans.other += th->answers.other;
        t->err.connect += th->err.connect;
        t->err.closed += th->err.closed;
        t->err.timeout += th->err.timeout;
        t->err.bad_reply += th->err.bad_reply;
        t->err.io += th->err.io;
        t->reqs += th->requests;
        t->reqs_all += th->requests_all;
        t->logins += th->logins;
        t->unfinished += th->unfinished;
        if (th->t_end > t->t_end)
            t->t_end = th->t_end;
    }
    uint64_t ms = atomic_load(&g_measure_start), dl = atomic_load(&g_deadline);
    uint64_t st = atomic_load(&g_stop_time);
    if (st && st < t->t_end)
        t->t_end = st;
    if (dl && dl < t->t_end)
        t->t_end = dl;
    t->secs = (ms && t->t_end > ms) ? (double)(t->t_end - ms) / (double)NS_PER_S : 0;
    t->rps = t->secs > 0 ? (double)t->reqs / t->secs : 0;
    t->errs = t->err.connect + t->err.closed + t->err.timeout + t->err.bad_reply + t->err.io;
}

static void print_json(const struct totals *t, unsigned up)
{
    const struct hist *h = t->h;
    printf("{");
    if (opt.label) {
        printf("\"label\":");
        json_str(opt.label);
        printf(",");
    }
    printf("\"target\":");
    json_str(opt.target);
    printf(",\"connections\":%u,\"connections_up\":%u,\"threads\":%u,\"accounts\":%u,"
           "\"clients\":%u,\"fail_pct\":%u,\"smtp_pct\":%u,\"seconds\":%.3f,\"requests\":%" PRIu64
           ",\"requests_all\":%" PRIu64 ",\"logins\":%" PRIu64 ",\"rps\":%.1f,"
           "\"latency_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p99.9\":%.1f,"
           "\"max\":%.1f,\"mean\":%.1f},\"unfinished\":%" PRIu64 ","
           "\"per_connection\":{\"min\":%" PRIu64 ",\"max\":%" PRIu64 "},",
           opt.conns, up, opt.threads, opt.accounts, opt.clients, opt.fail_pct, opt.smtp_pct,
           t->secs, t->reqs, t->reqs_all, t->logins, t->rps, h_quantile(h, 0.5) / 1e3,
           h_quantile(h, 0.9) / 1e3, h_quantile(h, 0.99) / 1e3, h_quantile(h, 0.999) / 1e3,
           (double)h->max / 1e3, h->count ? (double)h->sum / (double)h->count / 1e3 : 0,
           t->unfinished, t->cmin, t->cmax);
    printf("\"errors\":{\"total\":%" PRIu64 ",\"connect\":%" PRIu64 ",\"closed\":%" PRIu64
           ",\"timeout\":%" PRIu64 ",\"bad_reply\":%" PRIu64 ",\"io\":%" PRIu64 "},\"answers\":{",
           t->errs, t->err.connect, t->err.closed, t->err.timeout, t->err.bad_reply, t->err.io);
    for (unsigned j = 0; j < t->ans.n; j++) {
        printf("%s", j ? "," : "");
        json_str(t->ans.a[j].name);
        printf(":%" PRIu64, t->ans.a[j].n);
    }
    if (t->ans.other)
        printf("%s\"(other)\":%" PRIu64, t->ans.n ? "," : "", t->ans.other);
    printf("}}\n");
}

static void print_line(const struct totals *t, unsigned up)
{
    const struct hist *h = t->h;
    if (opt.label)
        printf("label=%s ", opt.label);
    printf("target=%s conns=%u up=%u threads=%u accounts=%u clients=%u secs=%.2f requests=%" PRIu64
           " logins=%" PRIu64 " rps=%.1f p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f"
           " max_us=%.1f mean_us=%.1f unfinished=%" PRIu64 " conn_min=%" PRIu64
           " conn_max=%" PRIu64 " errors=%" PRIu64 " err_connect=%" PRIu64 " err_closed=%" PRIu64
           " err_timeout=%" PRIu64 " err_bad_reply=%" PRIu64 " err_io=%" PRIu64 " answers=",
           opt.target, opt.conns, up, opt.threads, opt.accounts, opt.clients, t->secs, t->reqs,
           t->logins, t->rps, h_quantile(h, 0.5) / 1e3, h_quantile(h, 0.9) / 1e3,
           h_quantile(h, 0.99) / 1e3, h_quantile(h, 0.999) / 1e3, (double)h->max / 1e3,
           h->count ? (double)h->sum / (double)h->count / 1e3 : 0, t->unfinished, t->cmin,
           t->cmax, t->errs, t->err.connect, t->err.closed, t->err.timeout, t->err.bad_reply,
           t->err.io);
    for (unsigned j = 0; j < t->ans.n; j++)
        printf("%s%s:%" PRIu64, j ? "," : "", t->ans.a[j].name, t->ans.a[j].n);
    if (t->ans.other)
        printf("%s(other):%" PRIu64, t->ans.n ? "," : "", t->ans.other);
    if (t->ans.n == 0 && t->ans.other == 0)
        printf("-");
    printf("\n");
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    if (parse_target(opt.target) < 0)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    g_base_id = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    if (opt.probe)
        return probe();

    struct thread *ths = calloc(opt.threads, sizeof *ths);
    struct conn *conns = calloc(opt.conns, sizeof *conns);
    struct totals t = { .h = calloc(1, sizeof *t.h) };
    if (!ths || !conns || !t.h) {
        fprintf(stderr, "auth_load: out of memory\n");
        return 2;
    }
    for (unsigned i = 0; i < opt.conns; i++) {
        conns[i].fd = -1;
        conns[i].gidx = i;
        conns[i].rng =
            0x9E3779B97F4A7C15ull ^ ((uint64_t)(i + 1) * 0xBF58476D1CE4E5B9ull) ^ g_base_id;
    }
    unsigned per = opt.conns / opt.threads, extra = opt.conns % opt.threads, next = 0;
    atomic_store(&g_threads_running, opt.threads);
    uint64_t t_start = now_ns();
    for (unsigned i = 0; i < opt.threads; i++) {
        ths[i].conns = conns + next;
        ths[i].nconns = per + (i < extra ? 1 : 0);
        next += ths[i].nconns;
        if (pthread_create(&ths[i].tid, NULL, worker, &ths[i]) != 0) {
            fprintf(stderr, "auth_load: pthread_create failed\n");
            return 2;
        }
    }
    unsigned up = coordinate(t_start);
    for (unsigned i = 0; i < opt.threads; i++)
        pthread_join(ths[i].tid, NULL);
    sum_up(ths, conns, &t);
    if (up < opt.conns && !opt.quiet)
        fprintf(stderr, "auth_load: only %u of %u connections had an answer after %.1fs\n", up,
                opt.conns, opt.connect_wait);
    if (opt.json)
        print_json(&t, up);
    else
        print_line(&t, up);
    free(t.h);
    free(conns);
    free(ths);
    return t.reqs > 0 ? 0 : 1;
}
