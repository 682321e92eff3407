/* parse_exim.c - placeholder until written */
#include "sources/logparse_internal.h"
int parse_exim(const struct logline *l, struct logev *ev, enum logparse_miss *miss) {
  (void)l; (void)ev; *miss = LM_EXIM; return 0;
}
