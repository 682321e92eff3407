/* probe.c - one blocking-style exchange, for the load generators' --probe
 *
 * The run scripts call `TOOL --probe` until a server answers, so every
 * wait here is bounded by the caller's timeout, and every failure is a
 * -1 with one line on stderr (the scripts discard it; a person reads it).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "probe.h"

int probe_connect(const char *prog, const struct target *t, const char *spec, int tmo_ms,
                  bool quiet)
{
    int fd = socket(t->family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        fprintf(stderr, "%s: socket: %s\n", prog, strerror(errno));
        return -1;
    }
    if (connect(fd, (const struct sockaddr *)&t->addr, t->addrlen) == 0)
        return fd;
    const char *why = NULL;
    if (errno != EINPROGRESS) {
        why = strerror(errno);
    } else {
        struct pollfd pfd = { .fd = fd, .events = POLLOUT };
        int err = 0;
        socklen_t len = sizeof err;
        if (poll(&pfd, 1, tmo_ms) != 1)
            why = "timeout";
        else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            why = strerror(errno);
        else if (err)
            why = strerror(err);
    }
    if (!why)
        return fd;
    if (!quiet)
        fprintf(stderr, "%s: connect %s: %s\n", prog, spec, why);
    close(fd);
    return -1;
}

/* One send() or read() step; returns what it returned (0: closed). */
static ssize_t step(int fd, const char *out, size_t n, size_t *off, char *in, size_t cap,
                    size_t *in_len)
{
    if (*off < n) {
        ssize_t w = send(fd, out + *off, n - *off, MSG_NOSIGNAL);
        if (w > 0)
            *off += (size_t)w;
        return w;
    }
    ssize_t r = read(fd, in + *in_len, cap - 1 - *in_len);
    if (r > 0) {
        *in_len += (size_t)r;
        in[*in_len] = '\0';
    }
    return r;
}

long probe_exchange(const char *prog, int fd, const char *out, size_t n, char *in, size_t cap,
                    int tmo_ms, probe_frame_fn *frame)
{
    uint64_t deadline = clock_ns() + (uint64_t)tmo_ms * NS_PER_MS;
    size_t off = 0, in_len = 0;
    in[0] = '\0';
    while (clock_ns() < deadline) {
        struct pollfd pfd = { .fd = fd, .events = off < n ? POLLOUT : POLLIN };
        if (poll(&pfd, 1, 10) != 1)
            continue;
        bool sending = off < n;
        ssize_t r = step(fd, out, n, &off, in, cap, &in_len);
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (r <= 0) {
            fprintf(stderr, "%s: %s\n", prog, r == 0 ? "connection closed by the server"
                                                      : strerror(errno));
            return -1;
        }
        if (sending)
            continue;
        long got = frame(in, in_len);
        if (got > 0)
            return got;
        if (got < 0 || in_len >= cap - 1) {
            fprintf(stderr, "%s: reply too long or unframeable\n", prog);
            return -1;
        }
    }
    fprintf(stderr, "%s: no reply within %.1fs\n", prog, tmo_ms / 1000.0);
    return -1;
}
