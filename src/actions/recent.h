/* recent.h - the last few thousand messages seen, kept so that an incident
 * can say what the account did just before its fuse tripped (recipient
 * domains, client addresses, envelope senders, queue ids) without any
 * per-account memory. */
#ifndef MF_RECENT_H
#define MF_RECENT_H

#include <stddef.h>
#include <stdint.h>

#define RECENT_N 8192

struct recent_ev {
  uint64_t acct; /* hash of the account */
  int64_t at;
  char domain[48], client[46], qid[18], sender[96];
};

struct recent;

struct recent *recent_new(void);
void recent_free(struct recent *r);
/* Remember one event (any of the strings may be NULL). */
void recent_add(struct recent *r, const char *account, int64_t at, const char *domain,
                const char *client, const char *qid, const char *sender);
/* Call cb for each remembered event of account since `since`, newest first. */
void recent_each(const struct recent *r, const char *account, int64_t since,
                 void (*cb)(void *arg, const struct recent_ev *e), void *arg);

#endif
