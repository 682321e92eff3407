/* window.c - ring-bucket arithmetic for sliding windows (see window.h) */
#include "engine/window.h"

#include <string.h>

static const uint32_t secs[WIN__N] = {60, 3600, 86400};

uint32_t window_secs(enum window_kind w) { return secs[w]; }

static uint32_t width(enum window_kind w) { return secs[w] / (WIN_BUCKETS - 1); }

void window_roll(win_ring b, enum window_kind w, uint32_t last, uint32_t now) {
  if (now <= last) return;
  uint32_t from = last / width(w), to = now / width(w);
  if (to - from >= WIN_BUCKETS) {
    memset(b, 0, sizeof(win_ring));
    return;
  }
  for (uint32_t k = from + 1; k <= to; k++) b[k % WIN_BUCKETS] = 0;
}

uint64_t window_sum(const win_ring b) {
  uint64_t s = 0;
  for (int i = 0; i < WIN_BUCKETS; i++) s += b[i];
  return s;
}

void window_add(win_ring b, enum window_kind w, uint32_t now, uint32_t n) {
  uint32_t *c = &b[(now / width(w)) % WIN_BUCKETS];
  *c = *c > UINT32_MAX - n ? UINT32_MAX : *c + n;
}
