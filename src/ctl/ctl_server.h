/* ctl_server.h - the local control socket of `mailfuse ctl` */
#ifndef MF_CTL_SERVER_H
#define MF_CTL_SERVER_H

#include <stddef.h>

struct daemon;
struct ctl_server;

/* Listen on d->conf->control_socket; NULL with err set. */
struct ctl_server *ctl_server_new(struct daemon *d, char *err, size_t errlen);
/* Close the socket and every control connection. NULL is a no-op. */
void ctl_server_free(struct ctl_server *cs);

#define CTL_REQUEST_MAX 65536

#endif
