/* qlink.h - Postfix queue IDs linked to the account that submitted them */
#ifndef MF_QLINK_H
#define MF_QLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QID_MAX 32            /* long queue ids are about 16 characters */
#define QLINK_RCPT_DEDUP 4096 /* recipients remembered per message for first-status counting */

enum qlink_flag {
  QL_POLICY = 1,  /* charged by the policy server: the log must not count it again */
  QL_QUEUED = 2,  /* qmgr's first "from=" line was counted */
  QL_STOPPED = 4, /* mailfuse refused it (throttle/suspend): its deliveries would not happen */
  QL_HELD = 8,    /* mailfuse answered HOLD, or postsuper held it */
};

struct qlink_entry {
  int64_t first_seen;
  uint32_t nrcpt, nseen;
  uint8_t flags;
  char *account; /* may be NULL (not yet known) */
  char *client;
  uint32_t *rcpt_hash; /* recipients that already had a status */
  uint32_t rcpt_cap;
  char qid[QID_MAX];
};

struct qlink;

/* New table of at most max entries; entries older than ttl seconds are
 * dropped (queue ids never completed). Caller frees with qlink_free(). */
struct qlink *qlink_new(size_t max, int64_t ttl);
void qlink_free(struct qlink *q);
/* The entry of qid, or NULL. */
struct qlink_entry *qlink_get(struct qlink *q, const char *qid, size_t len);
/* The entry of qid, created if absent (account/client may be NULL); NULL
 * only when out of memory or the qid is too long. */
struct qlink_entry *qlink_put(struct qlink *q, const char *qid, size_t len, int64_t now);
/* Set the account or client (copied). */
void qlink_set(struct qlink_entry *e, const char *account, const char *client);
/* 1 if this recipient (by hash) had no status before, else 0. */
int qlink_first_status(struct qlink_entry *e, const char *rcpt, size_t len);
/* Forget qid. */
void qlink_del(struct qlink *q, const char *qid, size_t len);
/* Drop entries past their ttl (as of now), and the oldest beyond max. */
void qlink_expire(struct qlink *q, int64_t now);
size_t qlink_count(const struct qlink *q);
/* Note that e changed (flags, account): it is written at the next collect. */
void qlink_touch(struct qlink *q, const struct qlink_entry *e);
/* Hand out every entry changed or deleted (e NULL) since the last call. */
void qlink_collect(struct qlink *q, void (*cb)(void *arg, const char *qid, const struct qlink_entry *e),
                   void *arg);
/* Text form of an entry for the store, and back (0 or -1). */
int qlink_encode(const struct qlink_entry *e, char *buf, size_t len);
int qlink_restore(struct qlink *q, const char *qid, const char *text);

#endif
