/* daemon.h - the context of `mailfuse serve`, built by main and passed down */
#ifndef MF_DAEMON_H
#define MF_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#include "core/conf.h"
#include "core/log.h"
#include "engine/engine.h"
#include "stats.h"
#include "store/store.h"
#include "store/writer.h"

struct event_base;
struct event;
struct policy_server;
struct ctl_server;
struct strmap;
struct logsource;
struct contain;
struct auth_server;
struct geoip;
struct hostnets;

struct daemon {
  struct conf *conf; /* current; replaced whole on reload */
  const char *conf_path;
  struct event_base *base;
  struct engine *engine;
  struct store *store;
  struct writer *writer;
  struct stats stats;
  struct policy_server *policy;
  struct ctl_server *ctl;
  struct logsource *logs; /* live log files and journal */
  struct contain *contain; /* incidents and their effects */
  struct auth_server *auth; /* Dovecot auth policy (NULL when auth_listen is empty) */
  struct geoip *geo;        /* NULL when no GeoIP database is configured */
  struct hostnets *hosting;
  struct log_rl auth_rl, webmail_rl;
  uint64_t webmail_logins, logins; /* auth policy requests from webmail_networks / all */
  struct event *ev_hup, *ev_term, *ev_int, *flush_timer, *sweep_timer;
  struct strmap *susp_retry;
  struct decision_rl *decision_rl; /* accounts whose suspension change is not yet on disk */
  int64_t max_conns; /* max_connections, capped by the descriptor limit */
  bool flushing;   /* a batch is being written */
  bool collecting; /* a batch is being built, slice by slice */
  int64_t profiles_by; /* this batch writes profiles that learned before this */
  struct store_batch pending;
  struct event *collect_ev;
  bool stopping;
};

/* Run `mailfuse serve -c path`; returns the process exit status. */
int daemon_run(const char *path);
/* Wall-clock seconds (the only clock; the engine is given time, never reads it). */
int64_t daemon_now(void);

/* Called on the loop thread once an account's suspension state is on disk
 * (rc 0) or could not be written (rc -1; it stays in force in memory and
 * is retried at every flush). */
typedef void (*persist_done_fn)(void *arg, int rc);
/* Write the current suspension state of account (suspended or released).
 * done may be NULL. */
void daemon_persist_suspension(struct daemon *d, const char *account, persist_done_fn done,
                               void *arg);
/* Write the current block state of an address (added or removed); errors
 * are logged and counted, the block holds in memory regardless. */
void daemon_persist_block(struct daemon *d, const char *addr);
/* The engine blocked addr just now (a suspension's source, a password
 * sprayer): log it, persist it, and (unless a suspension's incident does)
 * add it to nftables. */
void daemon_block_made(struct daemon *d, const char *addr, const char *account, bool by_suspension);
/* After a verdict of a live source: the decision line, containment, and
 * the block it made, if any (the suspension itself is the caller's). */
void daemon_after_verdict(struct daemon *d, const struct event *ev, const struct verdict *v,
                          const char *qid);

#endif
