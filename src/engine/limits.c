/* limits.c - "N per window" checks.  A limit with max N lets N through in
 * any window; the event that would make it N+1 triggers the limit's action.
 * Shadow limits are recorded as hits but never change the answer. */
#include "engine/limits.h"

static void add_hit(struct verdict *v, const struct limit *l, uint64_t count, bool shadow) {
  if (v->nhits < VERDICT_HITS) v->hits[v->nhits++] = (struct hit){l, count, shadow};
  if (shadow || l->action <= v->action) return;
  v->action = l->action;
  v->limit = l;
  v->count = count;
}

static void check_one(const struct limit *l, struct rec *r, uint64_t delta, bool all_shadow,
                      struct verdict *v) {
  if (delta == 0) return;
  const uint32_t *ring = rec_ring(r, l->metric, l->win);
  if (!ring) return; /* cannot happen: slot masks cover every limit */
  uint64_t total = window_sum(ring) + delta;
  if (total > l->max) add_hit(v, l, total, all_shadow || l->shadow);
}

void limits_check(const struct limit_set *ls, enum limit_per per, struct rec *r,
                  const uint64_t delta[MET__N], bool all_shadow, struct verdict *v) {
  for (size_t i = 0; i < ls->n; i++) {
    const struct limit *l = &ls->v[i];
    if (l->per == per && l->metric != MET_THROTTLED)
      check_one(l, r, delta[l->metric], all_shadow, v);
  }
}

void limits_check_metric(const struct limit_set *ls, enum limit_per per, struct rec *r,
                         enum metric m, uint64_t delta, bool all_shadow, struct verdict *v) {
  for (size_t i = 0; i < ls->n; i++) {
    const struct limit *l = &ls->v[i];
    if (l->per == per && l->metric == m) {
      /* the growth already happened: compare what is there now */
      const uint32_t *ring = rec_ring(r, l->metric, l->win);
      if (ring && delta && window_sum(ring) > l->max)
        add_hit(v, l, window_sum(ring), all_shadow || l->shadow);
    }
  }
}
