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

int store_apply(struct store *s, const struct store_batch *b, char *err, size_t errlen) {
  return s->be->apply(s->h, b, err, errlen);
}

int store_stats(struct store *s, struct store_stats *st) { return s->be->stats(s->h, st); }

static int reserve(void **p, size_t *cap, size_t need, size_t elem, size_t first) {
  if (need <= *cap) return 0;
  size_t ncap = *cap ? *cap : first;
  while (ncap < need) ncap *= 2;
  void *np = realloc(*p, ncap * elem);
  if (!np) return -1;
  *p = np;
  *cap = ncap;
  return 0;
}

int store_batch_add(struct store_batch *b, enum store_table t, const char *key, size_t klen,
                    const void *val, size_t vlen) {
  if (klen > UINT32_MAX || vlen > UINT32_MAX ||
      reserve((void **)&b->ops, &b->cap, b->n + 1, sizeof *b->ops, 64) < 0 ||
      reserve((void **)&b->arena, &b->acap, b->used + klen + vlen + 1, 1, 4096) < 0)
    return -1;
  struct store_op *o = &b->ops[b->n++];
  o->table = (uint8_t)t;
  o->del = val == NULL;
  o->klen = (uint32_t)klen;
  o->koff = b->used;
  memcpy(b->arena + b->used, key, klen);
  b->used += klen;
  o->vlen = val ? (uint32_t)vlen : 0;
  o->voff = b->used;
  if (val && vlen) memcpy(b->arena + b->used, val, vlen);
  b->used += o->vlen;
  return 0;
}

void store_batch_clear(struct store_batch *b) {
  free(b->ops);
  free(b->arena);
  memset(b, 0, sizeof *b);
}
