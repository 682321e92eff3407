/* keytab.h - compact records of counters, one per key, in a hash table */
#ifndef MF_KEYTAB_H
#define MF_KEYTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/window.h"

#define KEY_MAX 255
#define REC_DIRTY 0x01
#define REC_PER_SHIFT 4 /* flags bits 4-5: the key kind, set by the engine */

/* One key's counters: a ring per (metric, window) present in `mask`, in
 * bit order, followed by the NUL-terminated key. */
struct rec {
  uint32_t last;  /* time the rings were last rolled to */
  uint16_t mask;  /* bit metric*WIN__N+window: which rings exist */
  uint8_t flags;  /* REC_DIRTY, kind << REC_PER_SHIFT */
  uint8_t keylen;
  int16_t group;  /* cached group index (-1 default), valid for conf gen `gen` */
  uint16_t gen;
  win_ring rings[];
};

struct keytab;

/* New empty table; caller frees with keytab_free(). */
struct keytab *keytab_new(void);
void keytab_free(struct keytab *t);
/* Record of key, or NULL. */
struct rec *keytab_get(struct keytab *t, const char *key, size_t len);
/* Record of key, created with `mask` if absent; NULL only if out of memory. */
struct rec *keytab_put(struct keytab *t, const char *key, size_t len, uint16_t mask);
/* Remove and free a record. */
void keytab_del(struct keytab *t, struct rec *r);
/* Replace r by a copy with `mask` (rings kept where both have them); returns the new record. */
struct rec *keytab_remask(struct keytab *t, struct rec *r, uint16_t mask);
size_t keytab_count(const struct keytab *t);
/* Iterate: *pos starts at 0; returns records until NULL. No deletions meanwhile. */
struct rec *keytab_next(struct keytab *t, size_t *pos);
/* Visit up to max_slots slots from *pos (wrapping to 0 at the end), deleting
 * records for which drop() is true; returns how many were deleted. */
size_t keytab_sweep(struct keytab *t, size_t *pos, size_t max_slots,
                    bool (*drop)(struct rec *, void *), void *arg);

/* The key of a record (NUL-terminated). */
const char *rec_key(const struct rec *r);
/* Ring of (metric, window), or NULL if the record does not keep it. */
uint32_t *rec_ring(struct rec *r, int metric, int win);
/* Bytes of a record with this mask and key length. */
size_t rec_size(uint16_t mask, size_t keylen);
/* Roll every ring to now. */
void rec_roll(struct rec *r, uint32_t now);
/* True when every ring is empty. */
bool rec_empty(const struct rec *r);
/* Serialize counters (not the key) into buf; returns length or 0 if too small. */
size_t rec_encode(const struct rec *r, uint8_t *buf, size_t len);
/* Restore counters from rec_encode() output into a record created with `want_mask`. */
struct rec *rec_decode(struct keytab *t, const char *key, size_t klen, const uint8_t *buf,
                       size_t len, uint16_t want_mask);

#endif
