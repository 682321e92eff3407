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
 * request over IN_MAX closes the connection (Dovecot sends neither).
 *
 * Build: cc -O2 -std=c11 -Wall -Wextra -Werror -o auth_floor_server auth_floor_server.c
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
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_LISTENERS 16
#define IN_MAX 65536 /* one request (headers + body) larger than this: close */
#define OUT_MAX (1u << 20) /* replies a client leaves unread: close */

struct listener {
    int fd;
    bool is_unix;
    char path[108];
};

/* first member of connections and listeners: tells them apart in epoll data */
struct node {
    int fd;
    bool is_listener;
};

struct lnode {
    struct node node;
    struct listener *l;
};

struct conn {
    struct node node;
    bool want_out;
    bool closing;    /* close once the replies are out ("Connection: close") */
    size_t in_len;
    size_t out_len, out_off, out_cap;
    char *out;
    char in[IN_MAX];
};

static volatile sig_atomic_t g_stop;
static struct listener g_listeners[MAX_LISTENERS];
static unsigned g_nlisteners;
static char g_reply[1024];
static size_t g_reply_len;
static uint64_t g_requests, g_conns_total;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static int open_unix(const char *path, struct listener *l)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof sun.sun_path) {
        fprintf(stderr, "auth_floor_server: path too long: %s\n", path);
        return -1;
    }
    strcpy(sun.sun_path, path);
    l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (l->fd < 0)
        return -1;
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);
    if (bind(l->fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
        fprintf(stderr, "auth_floor_server: bind %s: %s\n", path, strerror(errno));
        close(l->fd);
        return -1;
    }
    chmod(path, 0666);
    l->is_unix = true;
    strcpy(l->path, path);
    return 0;
}

static int open_inet(const char *spec, struct listener *l)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (!colon || (size_t)(colon - spec) >= sizeof host) {
        fprintf(stderr, "auth_floor_server: bad listener %s\n", spec);
        return -1;
    }
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = '\0';
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *res;
    int rc = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "auth_floor_server: %s: %s\n", spec, gai_strerror(rc));
        return -1;
    }
    l->fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (l->fd < 0) {
        freeaddrinfo(res);
        return -1;
    }
    int one = 1;
    setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    rc = bind(l->fd, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (rc < 0) {
        fprintf(stderr, "auth_floor_server: bind %s: %s\n", spec, strerror(errno));
        close(l->fd);
        return -1;
    }
    return 0;
}

static int open_listener(const char *spec, struct listener *l)
{
    memset(l, 0, sizeof *l);
    int rc;
    if (strncmp(spec, "unix:", 5) == 0 || spec[0] == '/')
        rc = open_unix(spec[0] == '/' ? spec : spec + 5, l);
    else
        rc = open_inet(strncmp(spec, "inet:", 5) == 0 ? spec + 5 : spec, l);
    if (rc < 0)
        return -1;
    if (listen(l->fd, SOMAXCONN) < 0) {
        fprintf(stderr, "auth_floor_server: listen %s: %s\n", spec, strerror(errno));
        close(l->fd);
        return -1;
    }
    return 0;
}

static void conn_free(struct conn *c)
{
    close(c->node.fd);
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
    while (c->out_off < c->out_len) {
        ssize_t w = send(c->node.fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (w > 0) {
            c->out_off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->want_out) {
                ep_mod(ep, c, EPOLLIN | EPOLLOUT);
                c->want_out = true;
            }
            return true;
        }
        return false;
    }
    c->out_len = c->out_off = 0;
    if (c->want_out) {
        ep_mod(ep, c, EPOLLIN);
        c->want_out = false;
    }
    return !c->closing;
}

static bool queue_reply(struct conn *c)
{
    if (c->out_len + g_reply_len > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap * 2 : 512;
        while (cap < c->out_len + g_reply_len)
            cap *= 2;
        if (cap > OUT_MAX)
            return false; /* the client does not read its replies */
        char *n = realloc(c->out, cap);
        if (!n)
            return false;
        c->out = n;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, g_reply, g_reply_len);
    c->out_len += g_reply_len;
    return true;
}

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
static long request_size(const char *buf, size_t len, bool *close_after)
{
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end)
        return len >= IN_MAX ? -1 : 0;
    size_t hlen = (size_t)(end - buf) + 4;
    if (find_header(buf, hlen, "transfer-encoding:"))
        return -1;
    const char *cl = find_header(buf, hlen, "content-length:");
    unsigned long blen = cl ? strtoul(cl, NULL, 10) : 0;
    if (blen > IN_MAX - hlen)
        return -1;
    const char *conn = find_header(buf, hlen, "connection:");
    if (conn) {
        while (*conn == ' ')
            conn++;
        *close_after = strncasecmp(conn, "close", 5) == 0;
    }
    return len >= hlen + blen ? (long)(hlen + blen) : 0;
}

/* returns false when the connection must be closed */
static bool on_readable(int ep, struct conn *c)
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
        size_t start = 0;
        long n;
        while (!c->closing &&
               (n = request_size(c->in + start, c->in_len - start, &c->closing)) != 0) {
            if (n < 0 || !queue_reply(c))
                return false;
            g_requests++;
            start += (size_t)n;
        }
        if (start > 0) {
            memmove(c->in, c->in + start, c->in_len - start);
            c->in_len -= start;
        }
        if ((size_t)r < want)
            break; /* short read: the socket is most likely drained */
    }
    return flush_out(ep, c);
}

static void accept_all(int ep, struct lnode *ln)
{
    for (;;) {
        int fd = accept4(ln->node.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or a transient error: try on the next event */
        if (!ln->l->is_unix) {
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
        c->in_len = c->out_len = c->out_off = c->out_cap = 0;
        c->out = NULL;
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            conn_free(c);
            continue;
        }
        g_conns_total++;
    }
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

static void make_reply(long status, const char *msg)
{
    char body[512];
    int bl = snprintf(body, sizeof body, "{\"status\":%ld,\"msg\":\"%s\"}", status, msg);
    if (bl < 0 || (size_t)bl >= sizeof body) {
        fprintf(stderr, "auth_floor_server: --msg too long\n");
        exit(2);
    }
    g_reply_len = (size_t)snprintf(g_reply, sizeof g_reply,
                                   "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                   "Content-Length: %d\r\n\r\n%s", bl, body);
}

static double elapsed_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void serve(int ep, double lifetime)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct epoll_event evs[256];
    while (!g_stop && (lifetime <= 0 || elapsed_since(&t0) < lifetime)) {
        int n = epoll_wait(ep, evs, 256, 500);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("auth_floor_server: epoll_wait");
            return;
        }
        for (int i = 0; i < n; i++) {
            struct node *nd = evs[i].data.ptr;
            if (nd->is_listener) {
                accept_all(ep, (struct lnode *)nd);
                continue;
            }
            struct conn *c = (struct conn *)nd;
            bool ok = true;
            if (evs[i].events & EPOLLOUT)
                ok = flush_out(ep, c);
            if (ok && (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                ok = on_readable(ep, c);
            if (!ok)
                conn_free(c); /* close() also removes it from the epoll set */
        }
    }
}

int main(int argc, char **argv)
{
    static const struct option lopts[] = {
        { "listen", required_argument, 0, 'l' },
        { "lifetime", required_argument, 0, 'T' },
        { "status", required_argument, 0, 'S' },
        { "msg", required_argument, 0, 'M' },
        { "quiet", no_argument, 0, 'q' },
        { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 },
    };
    double lifetime = 0;
    long status = 0;
    bool quiet = false;
    const char *msg = "";
    const char *specs[MAX_LISTENERS];
    unsigned nspecs = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "l:T:S:M:qh", lopts, NULL)) != -1) {
        switch (ch) {
        case 'l':
            if (nspecs == MAX_LISTENERS) {
                fprintf(stderr, "auth_floor_server: too many listeners\n");
                return 2;
            }
            specs[nspecs++] = optarg;
            break;
        case 'T': lifetime = strtod(optarg, NULL); break;
        case 'S': status = strtol(optarg, NULL, 10); break;
        case 'M': msg = optarg; break;
        case 'q': quiet = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (nspecs == 0 || optind != argc) {
        usage(stderr);
        return 2;
    }
    make_reply(status, msg);

    struct sigaction sa = { .sa_handler = on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
        perror("auth_floor_server: epoll_create1");
        return 1;
    }
    static struct lnode lnodes[MAX_LISTENERS];
    int rc = 0;
    for (unsigned i = 0; i < nspecs && rc == 0; i++) {
        if (open_listener(specs[i], &g_listeners[i]) < 0) {
            rc = 1;
            break;
        }
        g_nlisteners++;
        lnodes[i] = (struct lnode){ .node = { .fd = g_listeners[i].fd, .is_listener = true },
                                    .l = &g_listeners[i] };
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &lnodes[i] };
        epoll_ctl(ep, EPOLL_CTL_ADD, g_listeners[i].fd, &ev);
        if (!quiet)
            fprintf(stderr, "auth_floor_server: listening on %s\n", specs[i]);
    }
    if (rc == 0) {
        serve(ep, lifetime);
        if (!quiet)
            fprintf(stderr, "auth_floor_server: exiting after %" PRIu64 " requests on %" PRIu64
                            " connections\n", g_requests, g_conns_total);
    }
    for (unsigned i = 0; i < g_nlisteners; i++) {
        close(g_listeners[i].fd);
        if (g_listeners[i].is_unix)
            unlink(g_listeners[i].path);
    }
    return rc;
}
