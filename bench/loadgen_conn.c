/* loadgen_conn.c - one load generator thread: its connections and epoll
 *
 * Each connection keeps exactly one request outstanding (like smtpd and
 * Dovecot's auth process): connect, send, wait for the whole reply, count
 * it, send the next.  States: C_NEW -> C_CONNECTING -> C_WAITING <->
 * C_SENDING, C_BACKOFF after any error (reconnect after a delay), C_DONE
 * at the end of the run or the budget.  Errors never end the run: they
 * are counted and the connection starts over, continuing the message or
 * login it was in.  Requests sent before the measured window are served
 * but not counted; those still unanswered at the end are counted at
 * their age then.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "loadgen_int.h"
#include "nbio.h"

static bool measuring(struct loadgen_run *r, uint64_t t)
{
    uint64_t ms = atomic_load(&r->measure_start);
    return ms != 0 && t >= ms;
}

static bool over(struct loadgen_run *r, uint64_t now)
{
    uint64_t dl = atomic_load(&r->deadline);
    return atomic_load(&r->stop) || (dl && now >= dl);
}

static void conn_close(struct loadgen_conn *c)
{
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    c->in_len = c->out_len = c->out_off = 0;
}

static void conn_done(struct loadgen_thread *th, struct loadgen_conn *c)
{
    conn_close(c);
    if (c->state != C_DONE) {
        c->state = C_DONE;
        th->active--;
    }
}

static void conn_backoff(struct loadgen_conn *c, uint64_t now, uint64_t delay)
{
    conn_close(c);
    c->state = C_BACKOFF;
    c->t_retry = now + delay;
}

static void ep_set(struct loadgen_thread *th, struct loadgen_conn *c, uint32_t events, int op)
{
    struct epoll_event ev = { .events = events, .data.ptr = c };
    if (epoll_ctl(th->ep, op, c->fd, &ev) < 0) {
        fprintf(stderr, "%s: epoll_ctl: %s\n", th->run->p->prog, strerror(errno));
        exit(2);
    }
}

static void send_more(struct loadgen_thread *th, struct loadgen_conn *c, uint64_t now)
{
    int rc = nbio_send(c->fd, c->out, c->out_len, &c->out_off);
    if (rc < 0) {
        th->err.io++;
        conn_backoff(c, now, 10 * NS_PER_MS);
        return;
    }
    if (rc == 0) {
        if (c->state != C_SENDING) {
            c->state = C_SENDING;
            ep_set(th, c, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
        }
        return;
    }
    if (c->state == C_SENDING)
        ep_set(th, c, EPOLLIN, EPOLL_CTL_MOD);
    c->state = C_WAITING;
}

static void send_request(struct loadgen_thread *th, struct loadgen_conn *c)
{
    struct loadgen_run *r = th->run;
    c->out_len = r->p->build(r->ctx, c->st, c->out, sizeof c->out);
    c->out_off = 0;
    c->in_len = 0;
    c->t_sent = clock_ns();
    c->state = C_WAITING;
    send_more(th, c, c->t_sent);
}

/* Sends the next request, or ends the connection when the budget is spent.
 * A unit cut by a broken connection goes on from the request that failed. */
static void next_request(struct loadgen_thread *th, struct loadgen_conn *c)
{
    struct loadgen_run *r = th->run;
    if (!r->p->start(r->ctx, c->st)) {
        conn_done(th, c);
        return;
    }
    send_request(th, c);
}

static void on_connected(struct loadgen_thread *th, struct loadgen_conn *c)
{
    if (th->run->o->target.family != AF_UNIX) {
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    ep_set(th, c, EPOLLIN, c->state == C_CONNECTING ? EPOLL_CTL_MOD : EPOLL_CTL_ADD);
    c->state = C_WAITING;
    next_request(th, c);
}

static void conn_connect(struct loadgen_thread *th, struct loadgen_conn *c, uint64_t now)
{
    const struct target *t = &th->run->o->target;
    c->fd = socket(t->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        th->err.connect++;
        conn_backoff(c, now, 100 * NS_PER_MS);
        return;
    }
    c->t_sent = now;
    c->state = C_BACKOFF;
    if (connect(c->fd, (const struct sockaddr *)&t->addr, t->addrlen) == 0) {
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

/* Open connections a few at a time: a burst of hundreds of connects
 * overflows a small listen backlog (policyd-rate-limit uses listen(5)) and
 * the kernel then loses some handshakes for good.  smtpd processes start
 * one by one too, and Dovecot's auth process opens them as requests come. */
static void open_next(struct loadgen_thread *th, uint64_t now)
{
    while (th->next_new < th->nconns) {
        struct loadgen_conn *c = &th->conns[th->next_new++];
        if (c->state == C_NEW) {
            conn_connect(th, c, now);
            return;
        }
    }
}

static void count_reply(struct loadgen_thread *th, struct loadgen_conn *c,
                        const struct loadgen_reply *rep, bool unit_done, uint64_t now)
{
    struct loadgen_run *r = th->run;
    th->requests_all++;
    if (!c->ever_connected) {
        /* "up" = has been served once: a connection still in the server's
         * accept queue has not. The warmup starts when all are up. */
        c->ever_connected = true;
        atomic_fetch_add(&r->connected_once, 1);
        open_next(th, now);
    }
    if (!measuring(r, c->t_sent))
        return;
    th->requests++;
    c->measured++;
    hist_add(&th->hist, now - c->t_sent);
    tally_add(&th->tally, rep->name, 1);
    if (unit_done)
        th->units++;
    uint64_t done = atomic_fetch_add(&r->measured_done, 1) + 1;
    if (r->o->max_requests && done >= r->o->max_requests) {
        uint64_t zero = 0;
        atomic_compare_exchange_strong(&r->stop_time, &zero, now);
        atomic_store(&r->stop, 1);
    }
}

static void on_reply(struct loadgen_thread *th, struct loadgen_conn *c,
                     const struct loadgen_reply *rep, uint64_t now)
{
    struct loadgen_run *r = th->run;
    bool unit_done = r->p->advance(r->ctx, c->st);
    count_reply(th, c, rep, unit_done, now);
    if (over(r, now)) {
        conn_done(th, c);
        return;
    }
    if (rep->close_after) { /* the server closes: reconnect at once */
        conn_backoff(c, now, 0);
        return;
    }
    next_request(th, c);
}

static void on_readable(struct loadgen_thread *th, struct loadgen_conn *c, uint64_t now)
{
    for (;;) {
        ssize_t n = read(c->fd, c->in + c->in_len, sizeof c->in - 1 - c->in_len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            if (n == 0)
                th->err.closed++;
            else
                th->err.io++;
            conn_backoff(c, now, 10 * NS_PER_MS);
            return;
        }
        c->in_len += (size_t)n;
        c->in[c->in_len] = '\0';
        struct loadgen_reply rep = { .close_after = false };
        long len = th->run->p->parse(c->in, c->in_len, &rep);
        if (len == 0 && c->in_len < sizeof c->in - 1)
            continue;
        if (len <= 0 || c->state != C_WAITING || (size_t)len != c->in_len) {
            /* unframeable, too long, unasked for, or more than one reply */
            th->err.bad_reply++;
            conn_backoff(c, now, 10 * NS_PER_MS);
            return;
        }
        on_reply(th, c, &rep, clock_ns());
        return;
    }
}

static void on_event(struct loadgen_thread *th, struct loadgen_conn *c, uint32_t ev)
{
    uint64_t now = clock_ns();
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

static void scan_timers(struct loadgen_thread *th, uint64_t now)
{
    uint64_t tmo = (uint64_t)(th->run->o->timeout * (double)NS_PER_S);
    for (unsigned i = 0; i < th->nconns; i++) {
        struct loadgen_conn *c = &th->conns[i];
        switch (c->state) {
        case C_BACKOFF:
            if (now >= c->t_retry)
                conn_connect(th, c, now);
            break;
        case C_CONNECTING: /* a connect that hangs is a connect error */
        case C_WAITING:
        case C_SENDING:
            if (now - c->t_sent > tmo) {
                if (c->state == C_CONNECTING)
                    th->err.connect++;
                else
                    th->err.timeout++;
                conn_backoff(c, now, 0);
            }
            break;
        case C_NEW:
            /* the connect wait is over: open the rest at once */
            if (atomic_load(&th->run->measure_start))
                conn_connect(th, c, now);
            break;
        case C_DONE:
            break;
        }
    }
}

/* A request still unanswered at the end has waited at least until then:
 * count it, or a server that starves some connections would look better
 * than it is.  Closes every connection. */
static void count_unfinished(struct loadgen_thread *th)
{
    struct loadgen_run *r = th->run;
    uint64_t t_stop = atomic_load(&r->stop_time), dl = atomic_load(&r->deadline);
    uint64_t t_cut = th->t_end;
    if (t_stop && t_stop < t_cut)
        t_cut = t_stop;
    if (dl && dl < t_cut)
        t_cut = dl;
    for (unsigned i = 0; i < th->nconns; i++) {
        struct loadgen_conn *c = &th->conns[i];
        if ((c->state == C_WAITING || c->state == C_SENDING) && measuring(r, t_cut) &&
            c->t_sent < t_cut) {
            hist_add(&th->hist, t_cut - c->t_sent);
            th->unfinished++;
        }
        conn_close(c);
    }
}

static void event_loop(struct loadgen_thread *th)
{
    struct epoll_event evs[256];
    uint64_t now = clock_ns();
    unsigned burst = th->run->o->connect_burst ? th->run->o->connect_burst : th->nconns;
    for (unsigned i = 0; i < burst && th->next_new < th->nconns; i++)
        open_next(th, now);
    uint64_t next_scan = now + 5 * NS_PER_MS;
    while (th->active > 0 && !atomic_load(&th->run->stop)) {
        now = clock_ns();
        if (over(th->run, now))
            break;
        if (now >= next_scan) {
            scan_timers(th, now);
            next_scan = now + 5 * NS_PER_MS;
        }
        int n = epoll_wait(th->ep, evs, 256, 5);
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "%s: epoll_wait: %s\n", th->run->p->prog, strerror(errno));
            exit(2);
        }
        for (int i = 0; i < n; i++) {
            struct loadgen_conn *c = evs[i].data.ptr;
            if (c->state != C_DONE && c->state != C_BACKOFF && c->fd >= 0)
                on_event(th, c, evs[i].events);
        }
    }
}

void *loadgen_conn_thread(void *arg)
{
    struct loadgen_thread *th = arg;
    th->ep = epoll_create1(EPOLL_CLOEXEC);
    if (th->ep < 0) {
        fprintf(stderr, "%s: epoll_create1: %s\n", th->run->p->prog, strerror(errno));
        exit(2);
    }
    th->active = th->nconns;
    for (unsigned i = 0; i < th->nconns; i++)
        th->conns[i].state = C_NEW;
    event_loop(th);
    th->t_end = clock_ns();
    count_unfinished(th);
    close(th->ep);
    atomic_fetch_sub(&th->run->threads_running, 1);
    return NULL;
}
