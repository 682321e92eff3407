/* target.h - the server a load generator talks to */
#ifndef BENCH_TARGET_H
#define BENCH_TARGET_H

#include <sys/socket.h>

struct target {
    int family; /* AF_UNIX, AF_INET, AF_INET6 */
    socklen_t addrlen;
    struct sockaddr_storage addr;
};

/* Resolves spec ("inet:HOST:PORT", "HOST:PORT", "unix:PATH", "/PATH",
 * "./PATH") into t; returns 0, or -1 said on stderr after "PROG: ". */
int target_parse(struct target *t, const char *prog, const char *spec);

#endif
