/* limits.h - compare one record's windows with a set of limits */
#ifndef MF_LIMITS_H
#define MF_LIMITS_H

#include <stdint.h>

#include "core/conf.h"
#include "engine/engine.h"
#include "engine/keytab.h"

/* For each limit of `per` in ls whose metric the event adds to (delta > 0)
 * and whose window would then hold more than max, add a hit to v and raise
 * v->action unless the limit (or everything: all_shadow) is in shadow mode.
 * Limits on the `throttled` metric are skipped; see limits_check_metric(). */
void limits_check(const struct limit_set *ls, enum limit_per per, struct rec *r,
                  const uint64_t delta[MET__N], bool all_shadow, struct verdict *v);
/* Same, for limits of one metric only (used after `throttled` grew). */
void limits_check_metric(const struct limit_set *ls, enum limit_per per, struct rec *r,
                         enum metric m, uint64_t delta, bool all_shadow, struct verdict *v);

#endif
