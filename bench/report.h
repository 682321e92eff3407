/* report.h - the result line (key=value or JSON) of the load generators */
#ifndef BENCH_REPORT_H
#define BENCH_REPORT_H

#include <stdint.h>

#include "hist.h"
#include "tally.h"

struct report_errors {
    uint64_t connect, closed, timeout, bad_reply, io;
};

/* Everything one line says; the tool's own fields come pre-formatted. */
struct report {
    const char *label;       /* NULL: none */
    const char *target;
    unsigned conns, up, threads, accounts;
    const char *line_extra;  /* e.g. " rcpts=1", after accounts= */
    const char *json_extra;  /* e.g. "\"random\":false,\"rcpts\":1,", after "accounts" */
    const char *unit;        /* "messages" | "logins": units completed */
    const char *tally_key;   /* "actions" | "answers" */
    const char *other;       /* the name of the tally's overflow */
    double secs, rps;
    uint64_t requests, requests_all, units, unfinished, conn_min, conn_max;
    struct report_errors err;
    const struct hist *hist;
    const struct tally *tally;
};

/* Prints r as one key=value line on stdout (what the run scripts parse). */
void report_line(const struct report *r);
/* Prints r as one JSON object on stdout. */
void report_json(const struct report *r);

#endif
