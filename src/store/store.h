/* store.h - durable state behind one interface; backends chosen by name */
#ifndef MF_STORE_H
#define MF_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/conf.h"

enum store_table { ST_COUNTERS, ST_SUSPENSIONS, ST_META, ST__N };

/* One write of a batch. Owned by whoever made the batch; store_ops_free(). */
struct store_op {
  uint8_t table;
  uint8_t del; /* 1: delete key; val ignored */
  char *key;
  size_t klen;
  void *val;
  size_t vlen;
};

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
  /* Write all ops atomically and durably (synced). 0 or -1 with err set. */
  int (*apply)(void *h, const struct store_op *ops, size_t n, char *err, size_t errlen);
  int (*stats)(void *h, struct store_stats *st);
};

struct store;

/* Open the backend named by c->store; NULL with err set on failure.
 * Caller frees with store_close(). */
struct store *store_open(const struct conf *c, char *err, size_t errlen);
void store_close(struct store *s);
int store_scan(struct store *s, enum store_table t, store_scan_fn cb, void *arg)
    __attribute__((warn_unused_result));
int store_apply(struct store *s, const struct store_op *ops, size_t n, char *err, size_t errlen)
    __attribute__((warn_unused_result));
int store_stats(struct store *s, struct store_stats *st);

/* Append a put (val != NULL) or delete (val == NULL) to a growing batch. 0 or -1. */
int store_ops_add(struct store_op **ops, size_t *n, size_t *cap, enum store_table t,
                  const char *key, size_t klen, const void *val, size_t vlen)
    __attribute__((warn_unused_result));
void store_ops_free(struct store_op *ops, size_t n);

#endif
