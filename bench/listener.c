/* listener.c - the listening sockets of the floor servers
 *
 * A stale unix socket file at the path is replaced (only a socket, never
 * another kind of file), and the new one is made world-writable so a
 * client under another uid can connect.  TCP listeners set SO_REUSEADDR,
 * so a benchmark can restart a server on the same port at once.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "hostport.h"
#include "listener.h"

static int open_unix(struct listener *l, const char *prog, const char *path)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    size_t n = strlen(path);
    if (n >= sizeof sun.sun_path || n >= sizeof l->path) {
        fprintf(stderr, "%s: path too long: %s\n", prog, path);
        return -1;
    }
    memcpy(sun.sun_path, path, n + 1);
    l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (l->fd < 0)
        return -1;
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);
    if (bind(l->fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
        fprintf(stderr, "%s: bind %s: %s\n", prog, path, strerror(errno));
        close(l->fd);
        return -1;
    }
    chmod(path, 0666);
    l->is_unix = true;
    memcpy(l->path, path, n + 1);
    return 0;
}

static int open_inet(struct listener *l, const char *prog, const char *spec)
{
    char host[256];
    const char *port = hostport_split(spec, host, sizeof host);
    if (!port) {
        fprintf(stderr, "%s: bad listener %s\n", prog, spec);
        return -1;
    }
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *res;
    int rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, spec, gai_strerror(rc));
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
        fprintf(stderr, "%s: bind %s: %s\n", prog, spec, strerror(errno));
        close(l->fd);
        return -1;
    }
    return 0;
}

int listener_open(struct listener *l, const char *prog, const char *spec)
{
    memset(l, 0, sizeof *l);
    int rc;
    if (strncmp(spec, "unix:", 5) == 0 || spec[0] == '/')
        rc = open_unix(l, prog, spec[0] == '/' ? spec : spec + 5);
    else
        rc = open_inet(l, prog, strncmp(spec, "inet:", 5) == 0 ? spec + 5 : spec);
    if (rc < 0)
        return -1;
    if (listen(l->fd, SOMAXCONN) < 0) {
        fprintf(stderr, "%s: listen %s: %s\n", prog, spec, strerror(errno));
        close(l->fd);
        if (l->is_unix)
            unlink(l->path);
        return -1;
    }
    return 0;
}

void listener_close(struct listener *l)
{
    close(l->fd);
    if (l->is_unix)
        unlink(l->path);
}
