/* parse_postfix.c - placeholder until written */
#include "sources/logparse_internal.h"
int parse_postfix(const struct logline *l, struct logev *ev, enum logparse_miss *miss) {
  (void)l; (void)ev; *miss = LM_POSTFIX; return 0;
}
