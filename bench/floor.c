/* floor.c - the serving loop both floor servers share
 *
 * Single thread, epoll, non-blocking, persistent connections (pipelining
 * too), any number of inet and unix listeners.  Each connection has a
 * fixed input buffer (FLOOR_IN_MAX) and a growing output buffer capped at
 * FLOOR_OUT_MAX; a request that does not fit, cannot be framed, or a
 * client that leaves its answers unread is closed, never the server.
 * Every read is scanned for whole requests, each answered by appending
 * the fixed reply; the answers to one read go out with one send().
 * SIGTERM/SIGINT (or the lifetime) stop it.
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "floor.h"
#include "listener.h"
#include "nbio.h"

/* The one global: what a signal handler may set. */
static volatile sig_atomic_t g_stop;

/* first member of connections and listeners: tells them apart in epoll data */
struct node {
    int fd;
    bool is_listener;
};

struct lnode {
    struct node node;
    struct listener l;
};

struct conn {
    struct node node;
    bool want_out;
    bool closing; /* close once the answers are out */
    size_t in_len;
    size_t seen;  /* in[0..seen) held no end of request */
    size_t out_len, out_off, out_cap;
    char *out;
    char in[FLOOR_IN_MAX];
};

struct server {
    const struct floor_proto *p;
    int ep;
    uint64_t requests, conns_total;
    struct lnode lnodes[FLOOR_MAX_LISTENERS];
    unsigned nlisteners;
};

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* Applies a shared option: 1 if ch was one, 0 if not. */
static int shared_opt(struct floor_opts *o, const char *prog, int ch, const char *arg)
{
    switch (ch) {
    case 'l':
        if (o->nspecs == FLOOR_MAX_LISTENERS) {
            fprintf(stderr, "%s: too many listeners\n", prog);
            exit(2);
        }
        o->specs[o->nspecs++] = arg;
        return 1;
    case 'T': o->lifetime = strtod(arg, NULL); return 1;
    case 'q': o->quiet = true; return 1;
    default: return 0;
    }
}

void floor_parse(struct floor_opts *o, const char *prog, int argc, char **argv,
                 const char *shortopts, const struct option *lopts,
                 floor_tool_opt_fn *tool_opt, void *tool, void (*usage)(FILE *))
{
    int ch;
    while ((ch = getopt_long(argc, argv, shortopts, lopts, NULL)) != -1) {
        if (!shared_opt(o, prog, ch, optarg))
            tool_opt(tool, ch, optarg);
    }
    if (o->nspecs == 0 || optind != argc) {
        usage(stderr);
        exit(2);
    }
}

static void conn_free(struct conn *c)
{
    close(c->node.fd); /* also removes it from the epoll set */
    free(c->out);
    free(c);
}

static void ep_mod(int ep, struct conn *c, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.ptr = c };
    epoll_ctl(ep, EPOLL_CTL_MOD, c->node.fd, &ev);
}

/* returns false when the connection must be closed */
static bool flush_out(int ep, struct conn *c)
{
    int rc = nbio_send(c->node.fd, c->out, c->out_len, &c->out_off);
    if (rc < 0)
        return false;
    if (rc == 0) {
        if (!c->want_out) {
            ep_mod(ep, c, EPOLLIN | EPOLLOUT);
            c->want_out = true;
        }
        return true;
    }
    c->out_len = c->out_off = 0;
    if (c->want_out) {
        ep_mod(ep, c, EPOLLIN);
        c->want_out = false;
    }
    return !c->closing;
}

static bool queue_reply(struct conn *c, const struct floor_proto *p)
{
    if (c->out_len + p->reply_len > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap * 2 : 512;
        while (cap < c->out_len + p->reply_len)
            cap *= 2;
        if (cap > FLOOR_OUT_MAX)
            return false; /* the client does not read its answers */
        char *n = realloc(c->out, cap);
        if (!n)
            return false;
        c->out = n;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, p->reply, p->reply_len);
    c->out_len += p->reply_len;
    return true;
}

/* Answers every whole request in c->in and keeps the rest; false to close. */
static bool answer_requests(struct server *s, struct conn *c)
{
    size_t start = 0;
    while (!c->closing) {
        bool close_after = false;
        long n = s->p->frame(c->in + start, c->in_len - start, start ? 0 : c->seen,
                             &close_after);
        if (n == 0)
            break;
        if (n < 0 || !queue_reply(c, s->p))
            return false;
        s->requests++;
        c->closing = close_after;
        start += (size_t)n;
    }
    if (start > 0) {
        memmove(c->in, c->in + start, c->in_len - start);
        c->in_len -= start;
    }
    c->seen = c->in_len;
    return c->in_len < sizeof c->in; /* else one request too long */
}

/* returns false when the connection must be closed */
static bool on_readable(struct server *s, struct conn *c)
{
    for (;;) {
        size_t want = sizeof c->in - c->in_len;
        ssize_t r = read(c->node.fd, c->in + c->in_len, want);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (r <= 0)
            return false;
        c->in_len += (size_t)r;
        if (!answer_requests(s, c))
            return false;
        if ((size_t)r < want)
            break; /* short read: the socket is most likely drained */
    }
    return flush_out(s->ep, c);
}

static void accept_all(struct server *s, struct lnode *ln)
{
    for (;;) {
        int fd = accept4(ln->node.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or a transient error: try on the next event */
        if (!ln->l.is_unix) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        struct conn *c = malloc(sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->node = (struct node){ .fd = fd, .is_listener = false };
        c->want_out = c->closing = false;
        c->in_len = c->seen = c->out_len = c->out_off = c->out_cap = 0;
        c->out = NULL;
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
        if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            conn_free(c);
            continue;
        }
        s->conns_total++;
    }
}

static void serve(struct server *s, double lifetime)
{
    uint64_t t0 = clock_ns();
    struct epoll_event evs[256];
    while (!g_stop && (lifetime <= 0 || (double)(clock_ns() - t0) / 1e9 < lifetime)) {
        int n = epoll_wait(s->ep, evs, 256, 500);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "%s: epoll_wait: %s\n", s->p->prog, strerror(errno));
            return;
        }
        for (int i = 0; i < n; i++) {
            struct node *nd = evs[i].data.ptr;
            if (nd->is_listener) {
                accept_all(s, (struct lnode *)nd);
                continue;
            }
            struct conn *c = (struct conn *)nd;
            bool ok = true;
            if (evs[i].events & EPOLLOUT)
                ok = flush_out(s->ep, c);
            if (ok && (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                ok = on_readable(s, c);
            if (!ok)
                conn_free(c);
        }
    }
}

/* Opens every listener into s: 0, or -1 (said on stderr). */
static int open_listeners(struct server *s, const struct floor_opts *o)
{
    for (unsigned i = 0; i < o->nspecs; i++) {
        struct lnode *ln = &s->lnodes[i];
        if (listener_open(&ln->l, s->p->prog, o->specs[i]) < 0)
            return -1;
        s->nlisteners++;
        ln->node = (struct node){ .fd = ln->l.fd, .is_listener = true };
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = ln };
        epoll_ctl(s->ep, EPOLL_CTL_ADD, ln->l.fd, &ev);
        if (!o->quiet)
            fprintf(stderr, "%s: listening on %s\n", s->p->prog, o->specs[i]);
    }
    return 0;
}

int floor_run(const struct floor_opts *o, const struct floor_proto *p)
{
    struct server s = { .p = p };
    struct sigaction sa = { .sa_handler = on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    s.ep = epoll_create1(EPOLL_CLOEXEC);
    if (s.ep < 0) {
        fprintf(stderr, "%s: epoll_create1: %s\n", p->prog, strerror(errno));
        return 1;
    }
    int rc = open_listeners(&s, o) < 0 ? 1 : 0;
    if (rc == 0) {
        serve(&s, o->lifetime);
        if (!o->quiet)
            fprintf(stderr, "%s: exiting after %" PRIu64 " requests on %" PRIu64 " connections\n",
                    p->prog, s.requests, s.conns_total);
    }
    for (unsigned i = 0; i < s.nlisteners; i++)
        listener_close(&s.lnodes[i].l);
    close(s.ep);
    return rc;
}
