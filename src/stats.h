/* stats.h - counters shown by `mailfuse ctl status` */
#ifndef MF_STATS_H
#define MF_STATS_H

#include <stdint.h>

#include "core/conf.h"

enum stat_err {
  SE_INTERNAL,
  SE_LINE_TOO_LONG,
  SE_TOO_MANY_ATTRS,
  SE_GARBAGE,
  SE_TOO_LARGE,
  SE_INCOMPLETE,
  SE_NO_ACCOUNT,
  SE_SLOW_READER,
  SE_IDLE_CLOSED,
  SE_CONN_REFUSED,
  SE_STORE,
  SE__N
};

struct stats {
  int64_t started;
  uint64_t requests;
  uint64_t decisions[ACT__N];
  uint64_t shadow_decisions[ACT__N];
  uint64_t errors[SE__N];
  uint64_t conns_current, conns_total;
  uint64_t reloads, reload_failures;
};

/* JSON name of an error counter. */
const char *stats_err_name(enum stat_err e);

#endif
