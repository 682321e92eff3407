/* listener.h - the listening sockets of the floor servers */
#ifndef BENCH_LISTENER_H
#define BENCH_LISTENER_H

#include <stdbool.h>

struct listener {
    int fd;
    bool is_unix;
    char path[108]; /* unix: removed again by listener_close() */
};

/* Binds and listens on spec ("inet:HOST:PORT", "HOST:PORT", "unix:PATH",
 * "/PATH"; an empty HOST is every address), non-blocking: returns 0, or -1
 * said on stderr after "PROG: ". */
int listener_open(struct listener *l, const char *prog, const char *spec);
/* Closes l and removes its unix socket file. */
void listener_close(struct listener *l);

#endif
