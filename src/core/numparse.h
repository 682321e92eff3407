/* numparse.h - the one bounded number parser, plus durations and sizes */
#ifndef MF_NUMPARSE_H
#define MF_NUMPARSE_H

#include <stddef.h>
#include <stdint.h>

/* Parse a decimal unsigned integer from s[0..len) (whole view, no sign,
 * no spaces); returns 0 and sets *out, or -1 on junk or overflow past max. */
int num_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out)
    __attribute__((warn_unused_result));
/* Parse a size such as "512M", "1G", "4096" into bytes; 0 or -1. */
int num_parse_size(const char *s, uint64_t *out) __attribute__((warn_unused_result));
/* Parse a time such as "2026-12-31" or "2026-12-31T08:00:00Z" (UTC) into
 * unix seconds; 0 or -1. */
int num_parse_date(const char *s, int64_t *out) __attribute__((warn_unused_result));

#endif
