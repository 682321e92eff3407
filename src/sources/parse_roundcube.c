/* parse_roundcube.c - placeholder until written */
#include "sources/logparse_internal.h"
int parse_roundcube(const struct logline *l, struct logev *ev, enum logparse_miss *miss) {
  (void)l; (void)ev; *miss = LM_ROUNDCUBE; return 0;
}
