/* logsource.h - live mail logs (files and the journal) feeding the engine */
#ifndef MF_LOGSOURCE_H
#define MF_LOGSOURCE_H

#include <jansson.h>
#include <stddef.h>

#include "store/store.h"

struct daemon;
struct logsource;
struct logfeed;

/* Follow d->conf's log_files and journal, resuming at the positions saved in
 * the store. NULL with err set on failure. Caller frees with logsource_free(). */
struct logsource *logsource_new(struct daemon *d, char *err, size_t errlen);
void logsource_free(struct logsource *ls);
/* Append read positions that moved since the last call (same batch as the
 * counters they fed, so a crash rewinds both together). 0 or -1. */
int logsource_collect(struct logsource *ls, struct store_batch *b)
    __attribute__((warn_unused_result));
/* The log feed, so the policy server can say which queue ids it charged. */
struct logfeed *logsource_feed(struct logsource *ls);
/* Counters and positions for `ctl status`; a new reference. */
json_t *logsource_status(const struct logsource *ls);
/* True when at least one log is followed. */
int logsource_active(const struct logsource *ls);

#endif
