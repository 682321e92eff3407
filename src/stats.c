/* stats.c - names of the counters (the struct is plain data) */
#include "stats.h"

static const char *const names[SE__N] = {
    "internal", "line_too_long", "too_many_attributes", "garbage",
    "request_too_large", "incomplete", "no_account", "slow_reader",
    "idle_closed", "connections_refused", "store",
};

const char *stats_err_name(enum stat_err e) { return names[e]; }
