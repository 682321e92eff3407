/* parse_dovecot.c - placeholder until written */
#include "sources/logparse_internal.h"
int parse_dovecot(const struct logline *l, struct logev *ev, enum logparse_miss *miss) {
  (void)l; (void)ev; *miss = LM_DOVECOT; return 0;
}
