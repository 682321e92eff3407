/* logfeed.h - parsed log events into the engine, live and in replay */
#ifndef MF_LOGFEED_H
#define MF_LOGFEED_H

#include <stdbool.h>

#include "core/conf.h"
#include "engine/engine.h"
#include "engine/keytab.h"
#include "sources/logevent.h"

/* What one log line did. Views and strings are valid during the callback. */
struct logfeed_result {
  const struct logev *lev;
  const char *account; /* resolved account, or NULL */
  const char *client;  /* client address of the message or login, or NULL */
  enum ev_kind kind;   /* the engine event fed (when fed) */
  bool fed;            /* the engine saw an event for this line */
  bool duplicate;      /* already counted (policy server, qmgr re-queue, repeated status) */
  bool stopped;        /* mailfuse would have refused or held this message or recipient */
  uint32_t nrcpt;      /* recipients of the message (queued and arrival lines) */
  struct verdict v;
};

typedef void (*logfeed_fn)(void *arg, const struct logfeed_result *r);

struct logfeed;

/* New feed over an engine and config (both borrowed). Caller frees with logfeed_free(). */
struct logfeed *logfeed_new(struct engine *e, const struct conf *c);
void logfeed_free(struct logfeed *f);
/* GeoIP and hosting networks for login events (borrowed; NULL: none). */
struct geoip;
struct hostnets;
void logfeed_set_geo(struct logfeed *f, const struct geoip *geo, const struct hostnets *hn);
/* Switch config (reload). */
void logfeed_set_conf(struct logfeed *f, const struct conf *c);
/* Feed one parsed line; cb (may be NULL) is called once with the outcome.
 * 0, or -1 on an internal error (out of memory). */
int logfeed_feed(struct logfeed *f, const struct logev *lev, logfeed_fn cb, void *arg)
    __attribute__((warn_unused_result));
/* The policy server charged this queue id: the log must not count it again. */
void logfeed_mark_policy(struct logfeed *f, const char *qid, int64_t now);
struct qlink_entry;
/* Queue-id links changed since the last call (e NULL: gone), to be saved
 * with the read positions; and one restored at start-up (0 or -1). */
void logfeed_collect(struct logfeed *f, void (*cb)(void *, const char *, const struct qlink_entry *),
                     void *arg);
int logfeed_restore(struct logfeed *f, const char *qid, const char *text);
/* Queue ids being tracked. */
size_t logfeed_pending(const struct logfeed *f);

#endif
