/* target.c - the server a load generator talks to
 *
 * Parses the -s argument once, at start-up, into a socket address every
 * connection reuses.  Host names are resolved here (first answer wins).
 */
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "hostport.h"
#include "target.h"

static int parse_unix(struct target *t, const char *prog, const char *path)
{
    struct sockaddr_un *sun = (struct sockaddr_un *)&t->addr;
    size_t n = strlen(path);
    if (n >= sizeof sun->sun_path) {
        fprintf(stderr, "%s: unix socket path too long: %s\n", prog, path);
        return -1;
    }
    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path, path, n + 1);
    t->family = AF_UNIX;
    t->addrlen = sizeof *sun;
    return 0;
}

static int parse_inet(struct target *t, const char *prog, const char *spec, const char *hp)
{
    char host[256];
    const char *port = hostport_split(hp, host, sizeof host);
    if (!port || port == hp + 1) {
        fprintf(stderr, "%s: bad target %s (want inet:HOST:PORT or unix:PATH)\n", prog, spec);
        return -1;
    }
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0 || !res) {
        fprintf(stderr, "%s: cannot resolve %s: %s\n", prog, spec, gai_strerror(rc));
        return -1;
    }
    memcpy(&t->addr, res->ai_addr, res->ai_addrlen);
    t->addrlen = res->ai_addrlen;
    t->family = res->ai_family;
    freeaddrinfo(res);
    return 0;
}

int target_parse(struct target *t, const char *prog, const char *spec)
{
    memset(t, 0, sizeof *t);
    if (strncmp(spec, "unix:", 5) == 0)
        return parse_unix(t, prog, spec + 5);
    if (strncmp(spec, "inet:", 5) == 0)
        return parse_inet(t, prog, spec, spec + 5);
    if (spec[0] == '/' || spec[0] == '.')
        return parse_unix(t, prog, spec);
    return parse_inet(t, prog, spec, spec);
}
