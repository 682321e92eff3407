/* topk.h - the most frequent strings of a stream in fixed memory (space-saving) */
#ifndef MF_TOPK_H
#define MF_TOPK_H

#include <stddef.h>
#include <stdint.h>

#define TOPK_KEY 64

struct topk_item {
  char key[TOPK_KEY];
  uint64_t count; /* an over-estimate by at most `err` */
  uint64_t err;
};

struct topk {
  size_t k, n;
  struct topk_item items[];
};

/* New counter of k slots; caller frees with free(). */
struct topk *topk_new(size_t k);
/* Count one occurrence of key (truncated to TOPK_KEY-1 bytes). */
void topk_add(struct topk *t, const char *key, size_t len, uint64_t n);
/* Sort items by count, highest first. */
void topk_sort(struct topk *t);

#endif
