/* policy_server.h - the Postfix policy delegation server */
#ifndef MF_POLICY_SERVER_H
#define MF_POLICY_SERVER_H

#include <stddef.h>

struct daemon;
struct policy_server;

/* Listen on d->conf->listen; NULL with err set. Caller frees with policy_server_free(). */
struct policy_server *policy_server_new(struct daemon *d, char *err, size_t errlen);
/* Stop accepting (shutdown); open connections keep being served. */
void policy_server_stop_listening(struct policy_server *ps);
/* Close every connection and free. */
void policy_server_free(struct policy_server *ps);

#endif
