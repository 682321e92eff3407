/* engine.h - the pure decision engine: events and time in, verdicts out */
#ifndef MF_ENGINE_H
#define MF_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/conf.h"
#include "engine/blocks.h"
#include "engine/suspensions.h"

struct profile;
struct score;
struct geo;

/* What a source saw. Policy requests at RCPT propose one recipient; DATA
 * and END-OF-MESSAGE carry the accepted recipient count; other stages only
 * ask whether the account may go on.  From logs: a message entered the
 * queue with rcpt_count recipients (charged then, like END-OF-MESSAGE), and
 * one recipient got its first delivery status (its domain decides whether
 * it was external); logins succeed or fail. */
enum ev_kind {
  EV_RCPT,
  EV_DATA,
  EV_EOM,
  EV_OTHER,
  EV_LOG_QUEUED,
  EV_LOG_RCPT,
  EV_LOGIN_OK,
  EV_LOGIN_FAIL,
};

#define INSTANCE_MAX 64

/* One message in progress, kept by the source per connection and updated
 * by the engine: recipients accepted so far, whether it was charged. */
struct txn {
  char instance[INSTANCE_MAX];
  uint32_t rcpts, ext;
  bool charged, throttled;
};

struct event {
  enum ev_kind kind;
  const char *account;       /* lowercased; NULL when unknown */
  const char *sender_domain; /* lowercased; NULL when none */
  const char *client;        /* client address text; NULL when none */
  const char *rcpt_domain;   /* EV_RCPT, or DATA/EOM with one recipient; lowercased */
  uint32_t rcpt_count;       /* EV_DATA, EV_EOM */
  struct txn *txn;           /* the message in progress; NULL for log events */
  const char *sender;        /* envelope sender, lowercased; NULL when unknown */
  const struct geo *geo;     /* logins: where the client is (looked up by the source); NULL unknown */
  const char *hosting;       /* logins: label of a hosting/anonymising network, or NULL */
};

/* What to answer Dovecot before (or right after) an authentication. */
struct login_verdict {
  int status;         /* 0 allow; > 0 delay that many seconds; < 0 refuse */
  bool blocked_now;   /* this check blocked the client address: persist it */
  char reason[160];   /* why, for the log and (refusals) the user */
};

#define VERDICT_HITS 8

struct hit {
  const struct limit *limit;
  uint64_t count; /* in the window, including this event */
  bool shadow;
};

struct verdict {
  enum action action;        /* what to answer (DUNNO in shadow) */
  const struct limit *limit; /* the limit behind action, NULL if none */
  uint64_t count;            /* its count */
  bool suspended_now;        /* this event suspended the account: persist first */
  bool was_suspended;        /* the account was already suspended */
  bool client_blocked;       /* refused: the client address is blocked */
  bool blocked_now;          /* this event's suspension blocked its client address: persist it */
  bool no_account;
  size_t nhits;
  struct hit hits[VERDICT_HITS]; /* every limit that triggered, shadow included */
  float score;                   /* the risk score (0 when not computed) */
  char reasons[320];             /* its strongest signals, "name value (why), ..." */
};

struct engine;

/* New engine over conf (borrowed until engine_set_conf/engine_free). */
struct engine *engine_new(const struct conf *conf);
void engine_free(struct engine *e);
/* Switch to a new config (reload); counters are kept. */
void engine_set_conf(struct engine *e, const struct conf *conf);
/* Feed one event at time now (unix seconds); fills v. 0, or -1 on an
 * internal error (out of memory) after which v is DUNNO. */
int engine_feed(struct engine *e, const struct event *ev, int64_t now, struct verdict *v)
    __attribute__((warn_unused_result));

/* Dovecot asks whether a login may proceed (ev: account as typed and
 * normalised, may be NULL; client). Pure: looks at the failure state of the
 * address, its network and the account, blocks and suspensions. */
void engine_login_check(struct engine *e, const struct event *ev, int64_t now,
                        struct login_verdict *lv);

/* Suspensions by a person or a limit; 0, or -1 out of memory. */
int engine_suspend(struct engine *e, const char *account, int64_t now, const char *by,
                   const char *reason) __attribute__((warn_unused_result));
/* 1 released, 0 was not suspended. */
int engine_release(struct engine *e, const char *account);
const struct susptab *engine_suspensions(const struct engine *e);

/* Blocked client addresses. block: the entry, or NULL (not an address, no
 * memory). unblock: 1 removed, 0 was not blocked. */
const struct block *engine_block(struct engine *e, const char *addr, int64_t now, int64_t until,
                                 const char *by, const char *reason);
int engine_unblock(struct engine *e, const char *addr);
struct blocktab *engine_blocks(const struct engine *e);
/* The block of the address a suspension of account tripped, or NULL. */
const struct block *engine_block_of(const struct engine *e, const char *addr, int64_t now);

/* Counters of a key, rolled to now: out[metric][window], -1 where not kept.
 * Returns 1 if the key exists, 0 if not. */
int engine_counts(struct engine *e, enum limit_per per, const char *key, int64_t now,
                  int64_t out[MET__N][WIN__N]);
/* The group of an account (-1 default). */
int engine_group_of(struct engine *e, const char *account);
/* True when a non-shadow throttle limit of the account is at its max now;
 * sets *limit to it. */
bool engine_throttled(struct engine *e, const char *account, int64_t now,
                      const struct limit **limit);
size_t engine_key_count(const struct engine *e, enum limit_per per);
/* The latest time any event was fed at: expiry goes by event time, so that
 * old log lines read late are judged as replay judges them. */
int64_t engine_latest(const struct engine *e);
/* Iterate keys of a kind: *pos starts at 0; returns the key or NULL. */
const char *engine_next_key(const struct engine *e, enum limit_per per, size_t *pos);

/* The learned profile and the score as of now, for `ctl explain` (NULL when
 * the score is off or the account unknown). */
const struct profile *engine_explain(struct engine *e, const char *account, int64_t now,
                                     struct score *s);
/* Profiles: changed ones to cb, as detect_collect_some (returns how many
 * learned ones are left); mark one to write again; load one back (0 or -1). */
size_t engine_collect_profiles(struct engine *e, void (*cb)(void *, const char *, const uint8_t *, size_t),
                               void *arg, size_t max, int64_t queued_by);
void engine_mark_profile_dirty(struct engine *e, const char *account);
int engine_load_profile(struct engine *e, const char *account, const uint8_t *data, size_t len);
size_t engine_profile_count(const struct engine *e);

/* Persistence. Dirty records are handed to cb (data NULL = deleted) and
 * marked clean. */
typedef void (*engine_emit_fn)(void *arg, enum limit_per per, const char *key,
                               const uint8_t *data, size_t len);
/* At most max of them (dropped keys always go in full); returns how many
 * dirty records remain, so a big flush can be cut into slices. */
size_t engine_collect_some(struct engine *e, engine_emit_fn cb, void *arg, size_t max);
/* Mark a key dirty again (its write failed). */
void engine_mark_dirty(struct engine *e, enum limit_per per, const char *key);
/* Restore a record written by engine_collect(); 0 or -1 (bad data). */
int engine_load(struct engine *e, enum limit_per per, const char *key, const uint8_t *data,
                size_t len);
/* Restore a suspension stored as susp_to_json() text; 0 or -1. */
int engine_load_suspension(struct engine *e, const char *account, const char *json, size_t len);
/* Drop idle keys, visiting at most max_slots table slots; returns dropped. */
size_t engine_sweep(struct engine *e, int64_t now, size_t max_slots);

#endif
