/* auth_server.h - the Dovecot auth policy server (HTTP/1.1, auth_policy_server_url) */
#ifndef MF_AUTH_SERVER_H
#define MF_AUTH_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "sources/authpol_codec.h"

struct conf;
struct event_base;
struct auth_server;

/* What to answer an allow request. */
struct authpol_verdict {
  int status; /* 0 allow; > 0 delay (tarpit) seconds; < 0 reject */
  char msg[AUTHPOL_MSG_MAX]; /* shown to the user on reject; may be empty */
};

/* Called once per well-formed request, synchronously (it must be fast);
 * out comes zeroed (allow, no text). req is borrowed for the call. The
 * verdict of a report is not sent: Dovecot ignores report replies. */
typedef void (*auth_decide_fn)(void *arg, const struct authpol_req *req,
                               struct authpol_verdict *out);

/* Every answer is counted here, refusals too (the server speaks HTTP
 * itself; see auth_server.c for why not evhttp). */
struct auth_server_stats {
  uint64_t requests;        /* every answer sent (a refusal too) */
  uint64_t allow_requests;  /* well-formed command=allow */
  uint64_t report_requests; /* well-formed command=report */
  uint64_t bad_requests;    /* answered 400 (bad HTTP, JSON or query), 405 (not POST), 411 (no
                               Content-Length), 413 (body over auth_max_body), 417, 431 (head
                               over 8 KiB) or 505 (not HTTP/1.x) */
  uint64_t unauthorized;    /* answered 401: auth_api_header missing or wrong */
  uint64_t decided_allow, decided_delay, decided_reject; /* allow verdicts sent */
  uint64_t conns_current, conns_total;
  uint64_t conns_refused; /* closed at once: max_connections were open */
  uint64_t timeouts;      /* closed idle, or sending or reading too slowly (60 s) */
};

/* Listen on c->auth_listen ("inet:HOST:PORT", "unix:/path") with the
 * settings of c (copied; at most c->max_connections connections). NULL
 * with err set on failure (nothing left open). Caller frees with
 * auth_server_free(). */
struct auth_server *auth_server_new(struct event_base *base, const struct conf *c,
                                    auth_decide_fn decide, void *arg, char *err, size_t errlen);
/* Take the reloadable settings of c (api header, body limit); c may be freed after. */
void auth_server_set_conf(struct auth_server *s, const struct conf *c);
/* The port of the first inet listener (useful with port 0), or -1. */
int auth_server_port(const struct auth_server *s);
/* Stop accepting (shutdown); open connections keep being served. */
void auth_server_stop_listening(struct auth_server *s);
/* Counters since start. */
void auth_server_get_stats(const struct auth_server *s, struct auth_server_stats *out);
/* Close every connection and free. NULL is a no-op. */
void auth_server_free(struct auth_server *s);

#endif
