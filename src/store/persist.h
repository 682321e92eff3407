/* persist.h - the engine's state as store entries, both ways */
#ifndef MF_PERSIST_H
#define MF_PERSIST_H

#include <stddef.h>

#include "engine/engine.h"
#include "store/store.h"

/* Append the engine's dirty records and dropped keys to b. 0, or -1 out of memory. */
int persist_collect(struct engine *e, struct store_batch *b) __attribute__((warn_unused_result));
/* A slice of that: at most max counter records; after the last of them,
 * the profiles whose login state changed and slices of the profiles that
 * learned something and first changed at or before profiles_by (INT64_MAX:
 * all). Returns what is still to collect, or -1 out of memory. */
long persist_collect_some(struct engine *e, struct store_batch *b, size_t max, int64_t profiles_by)
    __attribute__((warn_unused_result));
/* Append the current suspension state (put or delete) of account. 0 or -1. */
int persist_suspension(struct engine *e, const char *account, struct store_batch *b)
    __attribute__((warn_unused_result));
/* Append the current block state (put or delete) of an address (canonical text). 0 or -1. */
int persist_block(struct engine *e, const char *addr, int64_t now, struct store_batch *b)
    __attribute__((warn_unused_result));
/* Load counters, suspensions and blocks from s. Returns how many entries were bad
 * and skipped, or -1 when the store cannot be read. */
int persist_load(struct engine *e, struct store *s) __attribute__((warn_unused_result));
/* After a failed write: mark the counter keys of ops dirty again. */
void persist_requeue(struct engine *e, const struct store_batch *b);

#endif
