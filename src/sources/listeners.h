/* listeners.h - listening sockets from "inet:HOST:PORT" / "unix:/path" specs */
#ifndef MF_LISTENERS_H
#define MF_LISTENERS_H

#include <event2/util.h>
#include <stddef.h>
#include <sys/socket.h>

struct event_base;
struct listener_set;

typedef void (*listener_accept_fn)(evutil_socket_t fd, struct sockaddr *sa, int salen,
                                   void *arg);

/* Listen on every spec ("inet:HOST:0": any free port); unix sockets get
 * `mode`, their directory is created if missing. NULL with err set on
 * failure (nothing left open). Caller frees with listeners_close(). */
struct listener_set *listeners_open(struct event_base *base, char *const *specs, size_t n,
                                    int mode, listener_accept_fn cb, void *arg, char *err,
                                    size_t errlen);
/* The port of the first inet listener (the one chosen for "HOST:0"), or -1. */
int listeners_port(const struct listener_set *ls);
/* Stop listening and unlink unix socket files. NULL is a no-op. */
void listeners_close(struct listener_set *ls);

#endif
