/*
 * dunno_server - the trivial Postfix policy server: every request gets
 * "action=DUNNO".  Single thread, epoll, non-blocking, persistent
 * connections, any number of inet and unix listeners.  It parses nothing but
 * the request terminator (an empty line), so it is the floor for the cost of
 * any real policy server on the same machine.
 *
 *   dunno_server -l inet:127.0.0.1:10041 -l unix:/tmp/dunno.sock [--lifetime SEC]
 *
 * SIGTERM/SIGINT (or --lifetime) stop it and remove its unix sockets.
 *
 * Build: cc -O2 -std=c11 -Wall -Wextra -Werror -o dunno_server dunno_server.c
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
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_LISTENERS 16
#define IN_MAX 65536   /* a request larger than this is garbage: close */

struct listener {
    int fd;
    bool is_unix;
    char path[108];
};

/* first member of both connections and listeners: tells them apart in epoll data */
struct node {
    int fd;
    bool is_listener;
};

struct conn {
    struct node node;
    int fd;
    bool want_out;
    size_t in_len;
    size_t scan;         /* where to resume looking for "\n\n" */
    size_t out_len, out_off;
    char *out;
    size_t out_cap;
    char in[IN_MAX];
};

struct lnode {
    struct node node;
    struct listener *l;
};

static volatile sig_atomic_t g_stop;
static struct listener g_listeners[MAX_LISTENERS];
static unsigned g_nlisteners;
static const char *g_reply = "action=DUNNO\n\n";
static size_t g_reply_len;
static uint64_t g_requests, g_conns_total;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static int open_listener(const char *spec, struct listener *l)
{
    memset(l, 0, sizeof *l);
    if (strncmp(spec, "unix:", 5) == 0 || spec[0] == '/') {
        const char *path = spec[0] == '/' ? spec : spec + 5;
        struct sockaddr_un sun = { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof sun.sun_path) {
            fprintf(stderr, "dunno_server: path too long: %s\n", path);
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
            fprintf(stderr, "dunno_server: bind %s: %s\n", path, strerror(errno));
            close(l->fd);
            return -1;
        }
        chmod(path, 0666);
        l->is_unix = true;
        strcpy(l->path, path);
    } else {
        const char *hp = strncmp(spec, "inet:", 5) == 0 ? spec + 5 : spec;
        char host[256];
        const char *colon = strrchr(hp, ':');
        if (!colon || (size_t)(colon - hp) >= sizeof host) {
            fprintf(stderr, "dunno_server: bad listener %s\n", spec);
            return -1;
        }
        memcpy(host, hp, (size_t)(colon - hp));
        host[colon - hp] = '\0';
        if (host[0] == '[' && host[strlen(host) - 1] == ']') {
            memmove(host, host + 1, strlen(host));
            host[strlen(host) - 1] = '\0';
        }
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *res;
        int rc = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &res);
        if (rc != 0) {
            fprintf(stderr, "dunno_server: %s: %s\n", spec, gai_strerror(rc));
            return -1;
        }
        l->fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (l->fd < 0) {
            freeaddrinfo(res);
            return -1;
        }
        int one = 1;
        setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(l->fd, res->ai_addr, res->ai_addrlen) < 0) {
            fprintf(stderr, "dunno_server: bind %s: %s\n", spec, strerror(errno));
            freeaddrinfo(res);
            close(l->fd);
            return -1;
        }
        freeaddrinfo(res);
    }
    if (listen(l->fd, SOMAXCONN) < 0) {
        fprintf(stderr, "dunno_server: listen %s: %s\n", spec, strerror(errno));
        close(l->fd);
        return -1;
    }
    return 0;
}

static void conn_free(struct conn *c)
{
    close(c->fd);
    free(c->out);
    free(c);
}

/* returns false when the connection must be closed */
static bool flush_out(int ep, struct conn *c)
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
            if (!c->want_out) {
                struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                c->want_out = true;
            }
            return true;
        }
        return false;
    }
    c->out_len = c->out_off = 0;
    if (c->want_out) {
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        c->want_out = false;
    }
    return true;
}

static bool queue_reply(struct conn *c)
{
    if (c->out_len + g_reply_len > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap * 2 : 256;
        while (cap < c->out_len + g_reply_len)
            cap *= 2;
        if (cap > (1u << 20))
            return false; /* client does not read its replies */
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

/* returns false when the connection must be closed */
static bool on_readable(int ep, struct conn *c)
{
    for (;;) {
        size_t want = sizeof c->in - c->in_len;
        ssize_t r = read(c->fd, c->in + c->in_len, want);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (r <= 0)
            return false;
        c->in_len += (size_t)r;
        /* every empty line ends one request (pipelining is handled too) */
        size_t start = 0;
        size_t i = c->scan;
        for (; i < c->in_len; i++) {
            if (c->in[i] != '\n')
                continue;
            if (i == start || c->in[i - 1] == '\n') {
                if (!queue_reply(c))
                    return false;
                g_requests++;
                start = i + 1;
            }
        }
        if (start > 0) {
            memmove(c->in, c->in + start, c->in_len - start);
            c->in_len -= start;
        }
        c->scan = c->in_len;
        if (c->in_len == sizeof c->in)
            return false; /* request too long */
        if ((size_t)r < want)
            break; /* short read: the socket is most likely drained */
    }
    return flush_out(ep, c);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: dunno_server -l inet:HOST:PORT|unix:PATH [-l ...] [--lifetime SEC]\n"
               "                    [--action TEXT] [-q]\n"
               "  -l, --listen SPEC    listener (repeatable)\n"
               "      --lifetime SEC   exit by itself after SEC seconds (0 = never; default 0)\n"
               "      --action TEXT    answer action=TEXT instead of DUNNO\n"
               "  -q, --quiet          no messages on stderr\n");
}

int main(int argc, char **argv)
{
    static const struct option lopts[] = {
        { "listen", required_argument, 0, 'l' },
        { "lifetime", required_argument, 0, 'T' },
        { "action", required_argument, 0, 'A' },
        { "quiet", no_argument, 0, 'q' },
        { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 },
    };
    double lifetime = 0;
    bool quiet = false;
    const char *action = NULL;
    const char *specs[MAX_LISTENERS];
    unsigned nspecs = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "l:T:A:qh", lopts, NULL)) != -1) {
        switch (ch) {
        case 'l':
            if (nspecs == MAX_LISTENERS) {
                fprintf(stderr, "dunno_server: too many listeners\n");
                return 2;
            }
            specs[nspecs++] = optarg;
            break;
        case 'T': lifetime = strtod(optarg, NULL); break;
        case 'A': action = optarg; break;
        case 'q': quiet = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (nspecs == 0 || optind != argc) {
        usage(stderr);
        return 2;
    }
    if (action) {
        size_t n = strlen(action) + sizeof "action=\n\n";
        char *r = malloc(n);
        if (!r)
            return 2;
        snprintf(r, n, "action=%s\n\n", action);
        g_reply = r;
    }
    g_reply_len = strlen(g_reply);

    struct sigaction sa = { .sa_handler = on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
        perror("dunno_server: epoll_create1");
        return 1;
    }
    static struct lnode lnodes[MAX_LISTENERS];
    for (unsigned i = 0; i < nspecs; i++) {
        if (open_listener(specs[i], &g_listeners[i]) < 0)
            goto fail;
        g_nlisteners++;
        lnodes[i] = (struct lnode){ .node = { .fd = g_listeners[i].fd, .is_listener = true },
                                    .l = &g_listeners[i] };
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &lnodes[i] };
        epoll_ctl(ep, EPOLL_CTL_ADD, g_listeners[i].fd, &ev);
        if (!quiet)
            fprintf(stderr, "dunno_server: listening on %s\n", specs[i]);
    }

    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct epoll_event evs[256];
    while (!g_stop) {
        if (lifetime > 0) {
            struct timespec t;
            clock_gettime(CLOCK_MONOTONIC, &t);
            if ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9 >= lifetime)
                break;
        }
        int n = epoll_wait(ep, evs, 256, 500);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("dunno_server: epoll_wait");
            break;
        }
        for (int i = 0; i < n; i++) {
            struct node *nd = evs[i].data.ptr;
            if (nd->is_listener) {
                struct lnode *ln = (struct lnode *)nd;
                for (;;) {
                    int fd = accept4(ln->node.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0)
                        break; /* EAGAIN, or a transient error: try on the next event */
                    if (!ln->l->is_unix) {
                        int one = 1;
                        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    }
                    struct conn *c = malloc(sizeof *c);
                    if (!c) {
                        close(fd);
                        continue;
                    }
                    c->fd = c->node.fd = fd;
                    c->node.is_listener = false;
                    c->want_out = false;
                    c->in_len = c->scan = c->out_len = c->out_off = c->out_cap = 0;
                    c->out = NULL;
                    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
                        conn_free(c);
                        continue;
                    }
                    g_conns_total++;
                }
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
    if (!quiet)
        fprintf(stderr, "dunno_server: exiting after %" PRIu64 " requests on %" PRIu64
                        " connections\n", g_requests, g_conns_total);
    for (unsigned i = 0; i < g_nlisteners; i++) {
        close(g_listeners[i].fd);
        if (g_listeners[i].is_unix)
            unlink(g_listeners[i].path);
    }
    return 0;
fail:
    for (unsigned i = 0; i < g_nlisteners; i++)
        if (g_listeners[i].is_unix)
            unlink(g_listeners[i].path);
    return 1;
}
