/* window.h - sliding windows of a minute, an hour and a day as ring buckets */
#ifndef MF_WINDOW_H
#define MF_WINDOW_H

#include <stdint.h>

#include "core/conf.h"

/* A window of length T keeps WIN_BUCKETS buckets of T/6 each: the current
 * one and the six before it.  Their sum covers at least the last T and at
 * most the last 7T/6, so "at most N per window" is never exceeded and a
 * sender is held back at most one sixth of a window longer than exact. */
#define WIN_BUCKETS 7

typedef uint32_t win_ring[WIN_BUCKETS];

/* Length of a window in seconds. */
uint32_t window_secs(enum window_kind w);
/* Advance the ring from time `last` to `now` (seconds), zeroing buckets
 * that fell out; `now` before `last` is treated as `last`. */
void window_roll(win_ring b, enum window_kind w, uint32_t last, uint32_t now);
/* Sum of the ring (a ring rolled to now). */
uint64_t window_sum(const win_ring b);
/* Add n to the bucket of `now` (ring rolled to now), saturating. */
void window_add(win_ring b, enum window_kind w, uint32_t now, uint32_t n);

#endif
