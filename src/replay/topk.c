/* topk.c - Metwally's space-saving counter: when full, a new key replaces
 * the smallest one and inherits its count as error bound.  Exact while
 * fewer than k distinct keys were seen. */
#include "replay/topk.h"

#include <stdlib.h>
#include <string.h>

struct topk *topk_new(size_t k) {
  struct topk *t = calloc(1, sizeof *t + k * sizeof(struct topk_item));
  if (t) t->k = k;
  return t;
}

void topk_add(struct topk *t, const char *key, size_t len, uint64_t n) {
  if (!t) return;
  if (len >= TOPK_KEY) len = TOPK_KEY - 1;
  size_t min = 0;
  for (size_t i = 0; i < t->n; i++) {
    if (strlen(t->items[i].key) == len && memcmp(t->items[i].key, key, len) == 0) {
      t->items[i].count += n;
      return;
    }
    if (t->items[i].count < t->items[min].count) min = i;
  }
  struct topk_item *it;
  uint64_t base = 0;
  if (t->n < t->k) {
    it = &t->items[t->n++];
  } else {
    it = &t->items[min];
    base = it->count;
  }
  memcpy(it->key, key, len);
  it->key[len] = 0;
  it->count = base + n;
  it->err = base;
}

static int by_count(const void *a, const void *b) {
  const struct topk_item *x = a, *y = b;
  return x->count < y->count ? 1 : x->count > y->count ? -1 : strcmp(x->key, y->key);
}

void topk_sort(struct topk *t) {
  if (t && t->n) qsort(t->items, t->n, sizeof *t->items, by_count);
}
