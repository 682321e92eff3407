/* tally.c - counts of answers by name
 *
 * A short array searched in order: a benchmark sees a handful of distinct
 * answers.  Past TALLY_MAX names, counts go to "other"; names are cut to
 * TALLY_NAME_MAX - 1 bytes.
 */
#include <string.h>

#include "tally.h"

void tally_add(struct tally *t, const char *name, uint64_t n)
{
    size_t len = strnlen(name, TALLY_NAME_MAX - 1);
    for (unsigned i = 0; i < t->n; i++) {
        if (strncmp(t->a[i].name, name, len) == 0 && t->a[i].name[len] == '\0') {
            t->a[i].n += n;
            return;
        }
    }
    if (t->n == TALLY_MAX) {
        t->other += n;
        return;
    }
    memcpy(t->a[t->n].name, name, len);
    t->a[t->n].name[len] = '\0';
    t->a[t->n].n = n;
    t->n++;
}

void tally_merge(struct tally *dst, const struct tally *src)
{
    for (unsigned i = 0; i < src->n; i++)
        tally_add(dst, src->a[i].name, src->a[i].n);
    dst->other += src->other;
}
