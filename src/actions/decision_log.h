/* decision_log.h - one key=value log line per decision that is not a plain DUNNO */
#ifndef MF_DECISION_LOG_H
#define MF_DECISION_LOG_H

#include "engine/engine.h"

/* Caps decision lines per account per minute; suppressed ones are counted
 * and reported on the account's next line. */
struct decision_rl;
struct decision_rl *decision_rl_new(void);
void decision_rl_free(struct decision_rl *rl);

struct decision_ctx {
  const char *account, *client, *sender, *stage, *instance;
  uint32_t rcpt_count;
  int64_t at; /* time of the log line the decision came from; 0 for live requests */
  struct decision_rl *rl; /* NULL: no cap */
  unsigned per_minute;    /* the cap (decision_log_limit); 0: none */
  int64_t now;
};

/* Log the verdict if it is anything but a DUNNO without hits. */
void decision_log(const struct decision_ctx *d, const struct verdict *v, bool global_shadow);

#endif
