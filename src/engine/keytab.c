/* keytab.c - open-addressing hash table of compact counter records.
 *
 * Memory per key is what the benchmark's "bytes per tracked account"
 * measures, and a lookup runs three times per policy request on tables too
 * big for the cache.  So a slot is one 64-bit word: the record's address in
 * the low 48 bits and 16 bits of the key's hash above it (user-space
 * addresses on Linux's 64-bit targets fit in 48 bits; a record that does
 * not is refused like a failed allocation).  A probe reads one word, and
 * only a tag match touches the record.  The full 32-bit hashes sit in an
 * array of their own that only growing and deleting read: rehashing from
 * the records instead would touch every record (half a second at two
 * million keys, a pause of the event loop).  Records are one allocation
 * with the key inline; deletion shifts entries back (linear probing
 * without tombstones).  Load factor stays at most 7/8: the table costs
 * about 14 bytes per key.
 */
#include "engine/keytab.h"

#include <stdlib.h>
#include <string.h>

#include "core/conf.h"

#define PTR_BITS 48
#define PTR_MASK ((UINT64_C(1) << PTR_BITS) - 1)

struct keytab {
  uint64_t *slots;  /* 0 = empty; else tag << PTR_BITS | address */
  uint32_t *hashes; /* each slot's full hash, for growing and deleting */
  size_t cap;       /* power of two */
  size_t n;
};

static struct rec *slot_rec(uint64_t s) { return (struct rec *)(uintptr_t)(s & PTR_MASK); }
static uint64_t tag_of(uint32_t h) { return (uint64_t)(h >> 16) << PTR_BITS; }

static uint32_t hash_key(const char *k, size_t len) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a, then a final mix for linear probing */
  for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)k[i]) * 1099511628211ull;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return (uint32_t)h;
}

/* Bits set in a 16-bit mask.  Inline arithmetic: on the baseline x86-64
 * target __builtin_popcount is a libgcc call, and this runs several times
 * per request. */
static int nrings(uint16_t mask) {
  unsigned x = mask;
  x = x - ((x >> 1) & 0x5555u);
  x = (x & 0x3333u) + ((x >> 2) & 0x3333u);
  x = (x + (x >> 4)) & 0x0f0fu;
  return (int)((x + (x >> 8)) & 0x1fu);
}

size_t rec_size(uint16_t mask, size_t keylen) {
  return sizeof(struct rec) + (size_t)nrings(mask) * sizeof(win_ring) + keylen + 1;
}

const char *rec_key(const struct rec *r) {
  return (const char *)(r->rings + nrings(r->mask));
}

uint32_t *rec_ring(struct rec *r, int metric, int win) {
  int bit = metric * WIN__N + win;
  if (!(r->mask & (1u << bit))) return NULL;
  return r->rings[nrings((uint16_t)(r->mask & ((1u << bit) - 1)))];
}

void rec_roll(struct rec *r, uint32_t now) {
  if (now <= r->last) return;
  int i = 0;
  for (int bit = 0; bit < MET__N * WIN__N; bit++)
    if (r->mask & (1u << bit)) window_roll(r->rings[i++], (enum window_kind)(bit % WIN__N), r->last, now);
  r->last = now;
}

bool rec_empty(const struct rec *r) {
  for (int i = 0; i < nrings(r->mask); i++)
    if (window_sum(r->rings[i])) return false;
  return true;
}

struct keytab *keytab_new(void) {
  struct keytab *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->cap = 64;
  t->slots = calloc(t->cap, sizeof *t->slots);
  t->hashes = calloc(t->cap, sizeof *t->hashes);
  if (!t->slots || !t->hashes) {
    keytab_free(t);
    return NULL;
  }
  return t;
}

void keytab_free(struct keytab *t) {
  if (!t) return;
  for (size_t i = 0; t->slots && i < t->cap; i++) free(slot_rec(t->slots[i]));
  free(t->slots);
  free(t->hashes);
  free(t);
}

static uint32_t rec_hash(const struct rec *r) { return hash_key(rec_key(r), r->keylen); }

static size_t find(const struct keytab *t, const char *key, size_t len, uint32_t h) {
  uint64_t tag = tag_of(h);
  size_t i = h & (t->cap - 1);
  for (uint64_t s; (s = t->slots[i]); i = (i + 1) & (t->cap - 1)) {
    if ((s & ~PTR_MASK) != tag) continue;
    const struct rec *r = slot_rec(s);
    if (r->keylen == len && memcmp(rec_key(r), key, len) == 0) return i;
  }
  return i;
}

static int grow(struct keytab *t) {
  size_t ncap = t->cap * 2;
  uint64_t *ns = calloc(ncap, sizeof *ns);
  uint32_t *nh = calloc(ncap, sizeof *nh);
  if (!ns || !nh) {
    free(ns);
    free(nh);
    return -1;
  }
  for (size_t i = 0; i < t->cap; i++) {
    if (!t->slots[i]) continue;
    size_t j = t->hashes[i] & (ncap - 1);
    while (ns[j]) j = (j + 1) & (ncap - 1);
    ns[j] = t->slots[i];
    nh[j] = t->hashes[i];
  }
  free(t->slots);
  free(t->hashes);
  t->slots = ns;
  t->hashes = nh;
  t->cap = ncap;
  return 0;
}

struct rec *keytab_get(struct keytab *t, const char *key, size_t len) {
  if (len > KEY_MAX) len = KEY_MAX;
  return slot_rec(t->slots[find(t, key, len, hash_key(key, len))]);
}

struct rec *keytab_put(struct keytab *t, const char *key, size_t len, uint16_t mask) {
  if (len > KEY_MAX) len = KEY_MAX;
  uint32_t h = hash_key(key, len);
  size_t i = find(t, key, len, h);
  if (t->slots[i]) return slot_rec(t->slots[i]);
  if ((t->n + 1) * 8 > t->cap * 7) {
    if (grow(t) < 0) return NULL;
    i = find(t, key, len, h);
  }
  struct rec *r = calloc(1, rec_size(mask, len));
  if (!r) return NULL;
  if ((uintptr_t)r & ~(uintptr_t)PTR_MASK) { /* see the top of the file */
    free(r);
    return NULL;
  }
  r->mask = mask;
  r->keylen = (uint8_t)len;
  r->group = -1;
  memcpy((char *)rec_key(r), key, len);
  t->slots[i] = tag_of(h) | (uint64_t)(uintptr_t)r;
  t->hashes[i] = h;
  t->n++;
  return r;
}

static size_t slot_of(const struct keytab *t, const struct rec *r) {
  return find(t, rec_key(r), r->keylen, rec_hash(r));
}

void keytab_del(struct keytab *t, struct rec *r) {
  size_t i = slot_of(t, r);
  if (slot_rec(t->slots[i]) != r) return;
  free(r);
  t->slots[i] = 0;
  t->n--;
  /* shift back later entries of the same probe run */
  size_t j = i;
  for (;;) {
    j = (j + 1) & (t->cap - 1);
    if (!t->slots[j]) break;
    size_t home = t->hashes[j] & (t->cap - 1);
    /* move j to i if home is not cyclically in (i, j] */
    if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
      t->slots[i] = t->slots[j];
      t->hashes[i] = t->hashes[j];
      t->slots[j] = 0;
      i = j;
    }
  }
}

struct rec *keytab_remask(struct keytab *t, struct rec *r, uint16_t mask) {
  if (r->mask == mask) return r;
  size_t i = slot_of(t, r);
  struct rec *n = calloc(1, rec_size(mask, r->keylen));
  if (!n) return r;
  if ((uintptr_t)n & ~(uintptr_t)PTR_MASK) {
    free(n);
    return r;
  }
  memcpy(n, r, sizeof *n);
  n->mask = mask;
  memcpy((char *)rec_key(n), rec_key(r), r->keylen);
  for (int bit = 0; bit < MET__N * WIN__N; bit++) {
    uint32_t *src = rec_ring(r, bit / WIN__N, bit % WIN__N);
    uint32_t *dst = rec_ring(n, bit / WIN__N, bit % WIN__N);
    if (src && dst) memcpy(dst, src, sizeof(win_ring));
  }
  t->slots[i] = (t->slots[i] & ~PTR_MASK) | (uint64_t)(uintptr_t)n;
  free(r);
  return n;
}

size_t keytab_count(const struct keytab *t) { return t->n; }

struct rec *keytab_next(struct keytab *t, size_t *pos) {
  while (*pos < t->cap) {
    struct rec *r = slot_rec(t->slots[(*pos)++]);
    if (r) return r;
  }
  return NULL;
}

size_t keytab_sweep(struct keytab *t, size_t *pos, size_t max_slots,
                    bool (*drop)(struct rec *, void *), void *arg) {
  size_t dropped = 0;
  if (*pos >= t->cap) *pos = 0;
  for (size_t n = 0; n < max_slots && *pos < t->cap; n++, (*pos)++) {
    /* a delete shifts a later entry into this slot: look again */
    struct rec *r;
    while ((r = slot_rec(t->slots[*pos])) && drop(r, arg)) {
      keytab_del(t, r);
      dropped++;
    }
  }
  return dropped;
}

#define REC_FORMAT 1

size_t rec_encode(const struct rec *r, uint8_t *buf, size_t len) {
  size_t body = (size_t)nrings(r->mask) * sizeof(win_ring);
  if (len < 7 + body) return 0;
  buf[0] = REC_FORMAT;
  memcpy(buf + 1, &r->last, 4);
  memcpy(buf + 5, &r->mask, 2);
  memcpy(buf + 7, r->rings, body);
  return 7 + body;
}

struct rec *rec_decode(struct keytab *t, const char *key, size_t klen, const uint8_t *buf,
                       size_t len, uint16_t want_mask) {
  if (len < 7 || buf[0] != REC_FORMAT) return NULL;
  uint16_t mask;
  uint32_t last;
  memcpy(&last, buf + 1, 4);
  memcpy(&mask, buf + 5, 2);
  if (mask >> (MET__N * WIN__N) || len != 7 + (size_t)nrings(mask) * sizeof(win_ring)) return NULL;
  struct rec *r = keytab_put(t, key, klen, mask);
  if (!r) return NULL;
  r->last = last;
  memcpy(r->rings, buf + 7, len - 7);
  return keytab_remask(t, r, want_mask);
}
