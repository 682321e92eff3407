/* store.c - backend selection and batch helpers */
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const struct store_backend store_lmdb;

static const struct store_backend *const backends[] = {&store_lmdb, NULL};

struct store {
  const struct store_backend *be;
  void *h;
};

struct store *store_open(const struct conf *c, char *err, size_t errlen) {
  for (int i = 0; backends[i]; i++) {
    if (strcmp(backends[i]->name, c->store) != 0) continue;
    void *h = backends[i]->open(c, err, errlen);
    if (!h) return NULL;
    struct store *s = malloc(sizeof *s);
    if (!s) {
      backends[i]->close(h);
      snprintf(err, errlen, "out of memory");
      return NULL;
    }
    s->be = backends[i];
    s->h = h;
    return s;
  }
  snprintf(err, errlen, "unknown store backend '%s'", c->store);
  return NULL;
}

void store_close(struct store *s) {
  if (!s) return;
  s->be->close(s->h);
  free(s);
}

int store_scan(struct store *s, enum store_table t, store_scan_fn cb, void *arg) {
  return s->be->scan(s->h, t, cb, arg);
}

int store_apply(struct store *s, const struct store_op *ops, size_t n, char *err, size_t errlen) {
  return s->be->apply(s->h, ops, n, err, errlen);
}

int store_stats(struct store *s, struct store_stats *st) { return s->be->stats(s->h, st); }

int store_ops_add(struct store_op **ops, size_t *n, size_t *cap, enum store_table t,
                  const char *key, size_t klen, const void *val, size_t vlen) {
  if (*n == *cap) {
    size_t ncap = *cap ? *cap * 2 : 64;
    struct store_op *no = realloc(*ops, ncap * sizeof *no);
    if (!no) return -1;
    *ops = no;
    *cap = ncap;
  }
  struct store_op *o = &(*ops)[*n];
  memset(o, 0, sizeof *o);
  o->table = (uint8_t)t;
  o->del = val == NULL;
  o->key = malloc(klen + 1);
  if (!o->key) return -1;
  memcpy(o->key, key, klen);
  o->key[klen] = 0;
  o->klen = klen;
  if (val) {
    o->val = malloc(vlen ? vlen : 1);
    if (!o->val) {
      free(o->key);
      return -1;
    }
    memcpy(o->val, val, vlen);
    o->vlen = vlen;
  }
  (*n)++;
  return 0;
}

void store_ops_free(struct store_op *ops, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(ops[i].key);
    free(ops[i].val);
  }
  free(ops);
}
