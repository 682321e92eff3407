/* strmap.c - linear-probing string map with backward-shift deletion */
#include "core/strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct entry {
  char *key;
  void *val;
  uint32_t hash;
};

struct strmap {
  struct entry *e;
  size_t cap, n;
};

static uint32_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
  return (uint32_t)(h ^ (h >> 32));
}

struct strmap *strmap_new(void) {
  struct strmap *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  m->cap = 16;
  m->e = calloc(m->cap, sizeof *m->e);
  if (!m->e) {
    free(m);
    return NULL;
  }
  return m;
}

void strmap_free(struct strmap *m) {
  if (!m) return;
  for (size_t i = 0; i < m->cap; i++) free(m->e[i].key);
  free(m->e);
  free(m);
}

void strmap_free_values(struct strmap *m, void (*free_value)(void *)) {
  if (!m) return;
  for (size_t i = 0; i < m->cap; i++)
    if (m->e[i].key) free_value(m->e[i].val);
  strmap_free(m);
}

static size_t find(const struct strmap *m, const char *key, uint32_t h) {
  size_t i = h & (m->cap - 1);
  while (m->e[i].key && (m->e[i].hash != h || strcmp(m->e[i].key, key) != 0))
    i = (i + 1) & (m->cap - 1);
  return i;
}

void *strmap_get(const struct strmap *m, const char *key) {
  return m->e[find(m, key, hash_str(key))].val;
}

static int grow(struct strmap *m) {
  size_t ncap = m->cap * 2;
  struct entry *ne = calloc(ncap, sizeof *ne);
  if (!ne) return -1;
  for (size_t i = 0; i < m->cap; i++) {
    if (!m->e[i].key) continue;
    size_t j = m->e[i].hash & (ncap - 1);
    while (ne[j].key) j = (j + 1) & (ncap - 1);
    ne[j] = m->e[i];
  }
  free(m->e);
  m->e = ne;
  m->cap = ncap;
  return 0;
}

int strmap_set(struct strmap *m, const char *key, void *val) {
  uint32_t h = hash_str(key);
  size_t i = find(m, key, h);
  if (m->e[i].key) {
    m->e[i].val = val;
    return 0;
  }
  if ((m->n + 1) * 4 > m->cap * 3) {
    if (grow(m) < 0) return -1;
    i = find(m, key, h);
  }
  char *k = strdup(key);
  if (!k) return -1;
  m->e[i] = (struct entry){k, val, h};
  m->n++;
  return 0;
}

const char *strmap_key(const struct strmap *m, const char *key) {
  return m->e[find(m, key, hash_str(key))].key;
}

void *strmap_del(struct strmap *m, const char *key) {
  size_t i = find(m, key, hash_str(key));
  if (!m->e[i].key) return NULL;
  void *val = m->e[i].val;
  free(m->e[i].key);
  m->e[i] = (struct entry){0};
  m->n--;
  for (size_t j = (i + 1) & (m->cap - 1); m->e[j].key; j = (j + 1) & (m->cap - 1)) {
    size_t home = m->e[j].hash & (m->cap - 1);
    if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
      m->e[i] = m->e[j];
      m->e[j] = (struct entry){0};
      i = j;
    }
  }
  return val;
}

size_t strmap_count(const struct strmap *m) { return m->n; }

int strmap_next(const struct strmap *m, size_t *pos, const char **key, void **val) {
  while (*pos < m->cap) {
    const struct entry *en = &m->e[(*pos)++];
    if (en->key) {
      *key = en->key;
      *val = en->val;
      return 1;
    }
  }
  return 0;
}
