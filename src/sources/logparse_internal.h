/* logparse_internal.h - the per-format parsers behind logparse() */
#ifndef MF_LOGPARSE_INTERNAL_H
#define MF_LOGPARSE_INTERNAL_H

#include "sources/logevent.h"

/* Each returns 1 with *ev filled (LE_NONE for known noise), or 0 with
 * *miss set to its format's LM_ value. ev->ts/usec/source are set by the
 * caller. Views in ev point into l's line. */
int parse_postfix(const struct logline *l, struct logev *ev, enum logparse_miss *miss);
int parse_dovecot(const struct logline *l, struct logev *ev, enum logparse_miss *miss);
int parse_roundcube(const struct logline *l, struct logev *ev, enum logparse_miss *miss);
int parse_exim(const struct logline *l, struct logev *ev, enum logparse_miss *miss);

#endif
