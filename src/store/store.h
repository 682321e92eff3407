/* store.h - durable state behind one interface; backends chosen by name */
#ifndef MF_STORE_H
#define MF_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/conf.h"

enum store_table { ST_COUNTERS, ST_SUSPENSIONS, ST_META, ST_BLOCKS, ST_INCIDENTS, ST__N };

/* One write of a batch; key and value bytes live in the batch's arena. */
struct store_op {
  uint8_t table;
  uint8_t del; /* 1: delete key; no value */
  uint32_t klen, vlen;
  size_t koff, voff;
};

/* A batch of writes. Bytes go into one arena rather than a malloc per
 * entry: a flush of 100,000 records is two allocations, given back whole. */
struct store_batch {
  struct store_op *ops;
  size_t n, cap;
  char *arena;
  size_t used, acap;
};

static inline const char *store_op_key(const struct store_batch *b, const struct store_op *o) {
  return b->arena + o->koff;
}
static inline const void *store_op_val(const struct store_batch *b, const struct store_op *o) {
  return b->arena + o->voff;
}

struct store_stats {
  const char *backend;
  uint64_t keys;     /* entries in all tables */
  uint64_t bytes;    /* bytes in use */
  uint64_t map_size; /* bytes reserved (LMDB map) */
};

typedef int (*store_scan_fn)(void *arg, const char *key, size_t klen, const void *val,
                             size_t vlen);

/* A backend: OpenSMTPD-style table of functions (store_lmdb.c; redis later). */
struct store_backend {
  const char *name;
  void *(*open)(const struct conf *c, char *err, size_t errlen);
  void (*close)(void *h);
  /* Call cb for every entry of table t; cb returning -1 stops. 0 or -1. */
  int (*scan)(void *h, enum store_table t, store_scan_fn cb, void *arg);
  /* Write the whole batch atomically and durably (synced). 0 or -1 with err set. */
  int (*apply)(void *h, const struct store_batch *b, char *err, size_t errlen);
  int (*stats)(void *h, struct store_stats *st);
};

struct store;

/* Open the backend named by c->store; NULL with err set on failure.
 * Caller frees with store_close(). */
struct store *store_open(const struct conf *c, char *err, size_t errlen);
void store_close(struct store *s);
int store_scan(struct store *s, enum store_table t, store_scan_fn cb, void *arg)
    __attribute__((warn_unused_result));
int store_apply(struct store *s, const struct store_batch *b, char *err, size_t errlen)
    __attribute__((warn_unused_result));
int store_stats(struct store *s, struct store_stats *st);

/* Append a put (val != NULL) or delete (val == NULL) to b. 0 or -1. */
int store_batch_add(struct store_batch *b, enum store_table t, const char *key, size_t klen,
                    const void *val, size_t vlen) __attribute__((warn_unused_result));
/* Free what b holds (not b itself) and zero it. */
void store_batch_clear(struct store_batch *b);

#endif
