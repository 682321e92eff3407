/* login_guard.h - failed logins per network and per account, for Dovecot's
 * auth policy answers (the per-address state lives in detect.c, which the
 * risk score shares) */
#ifndef MF_LOGIN_GUARD_H
#define MF_LOGIN_GUARD_H

#include <stdint.h>

struct login_guard;

struct login_guard *login_guard_new(void);
void login_guard_free(struct login_guard *g);
/* A failed login (account may be NULL). */
void login_guard_failed(struct login_guard *g, const char *account, const char *client, int64_t now);
/* Failures in the last hour of the client's /24 (IPv6 /64) and of the account. */
void login_guard_counts(struct login_guard *g, const char *account, const char *client, int64_t now,
                        uint64_t *net_fails, uint64_t *acct_fails);

#endif
