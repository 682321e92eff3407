/* tally.h - counts of answers by name ("DUNNO", "s0", "h401" ...) */
#ifndef BENCH_TALLY_H
#define BENCH_TALLY_H

#include <stdint.h>

#define TALLY_MAX 32       /* distinct names; the rest count as "other" */
#define TALLY_NAME_MAX 32  /* a longer name is cut */

struct tally {
    struct {
        char name[TALLY_NAME_MAX];
        uint64_t n;
    } a[TALLY_MAX];
    unsigned n;
    uint64_t other;
};

/* Adds n to the count of name (NUL-terminated). */
void tally_add(struct tally *t, const char *name, uint64_t n);
/* Adds every count of src to dst. */
void tally_merge(struct tally *dst, const struct tally *src);

#endif
