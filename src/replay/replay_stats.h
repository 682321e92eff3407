/* replay_stats.h - what each account did in a replay, and what mailfuse would have done */
#ifndef MF_REPLAY_STATS_H
#define MF_REPLAY_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "replay/topk.h"
#include "sources/logfeed.h"

#define STATS_MARKS 64   /* action markers kept per account */
#define STATS_LOGINS 128 /* login markers kept per account (new address or first of the hour) */

struct hour_count {
  int64_t hour; /* unix time / 3600 */
  uint32_t msgs, rcpts;
};

struct mark {
  int64_t ts;
  enum action action;
  char reason[360];
};

struct login_mark {
  int64_t ts;
  bool ok;
  char ip[46];
};

struct acct_stats {
  char *account;
  uint64_t msgs, rcpts;                       /* as they happened in the log */
  uint64_t msgs_before, rcpts_before;         /* before the first action */
  uint64_t stopped_msgs, stopped_rcpts;       /* would have been refused or held */
  uint64_t logins_ok, logins_fail;
  int64_t first_ts, last_ts;
  int64_t first_action_ts;                    /* 0 = never */
  int64_t contained_ts;                       /* first hold or suspend, 0 = never */
  enum action contained_action;
  uint64_t msgs_before_containment, rcpts_before_containment;
  enum action first_action, worst_action;
  uint64_t decisions[ACT__N]; /* verdicts by action, as the live decision log would count them */
  struct mark *marks; /* grown on demand, at most STATS_MARKS */
  size_t nmarks, capmarks;
  struct login_mark *logins; /* at most STATS_LOGINS */
  size_t nlogins, caplogins;
  struct hour_count *hours;                   /* only hours with activity, in time order */
  size_t nhours, caphours;
  struct topk *domains, *clients;
};

struct replay_stats;

/* New collector; recipients of `recipients_of` (may be NULL) are kept in full. */
struct replay_stats *replay_stats_new(const char *recipients_of);
void replay_stats_free(struct replay_stats *s);
/* The logfeed callback (arg is the replay_stats). */
void replay_stats_on_result(void *arg, const struct logfeed_result *r);
/* Accounts with an action, sorted by first action time. *n is set. Borrowed. */
struct acct_stats **replay_stats_flagged(struct replay_stats *s, size_t *n);
/* Totals over all accounts. */
void replay_stats_totals(const struct replay_stats *s, uint64_t *accounts, uint64_t *msgs,
                         uint64_t *stopped_msgs, uint64_t *stopped_rcpts);
/* Visit the recorded recipient addresses of `recipients_of`. */
void replay_stats_recipients(const struct replay_stats *s, void (*cb)(void *, const char *),
                             void *arg);

#endif
