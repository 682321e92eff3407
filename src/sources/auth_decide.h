/* auth_decide.h - Dovecot auth policy requests into engine events and answers */
#ifndef MF_AUTH_DECIDE_H
#define MF_AUTH_DECIDE_H

#include "sources/auth_server.h"

/* The auth_decide_fn of the daemon (arg: struct daemon *). */
void auth_decide(void *arg, const struct authpol_req *req, struct authpol_verdict *out);

#endif
