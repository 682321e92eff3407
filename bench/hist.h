/* hist.h - latency histogram with percentiles */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>

/* Log-linear histogram of nanoseconds: values < 128 exact, above that 64
 * sub-buckets per power of two (<= 1.6% relative error). */
#define HIST_SUB 64
#define HIST_BUCKETS (128 + 58 * HIST_SUB)

struct hist {
    uint64_t b[HIST_BUCKETS];
    uint64_t count, sum, max;
};

/* Counts one value v (ns). */
void hist_add(struct hist *h, uint64_t v);
/* Adds every count of src to dst. */
void hist_merge(struct hist *dst, const struct hist *src);
/* Returns the q-quantile (q in [0,1]) in ns, 0 when empty. */
double hist_quantile(const struct hist *h, double q);
/* Returns the mean in ns, 0 when empty. */
double hist_mean(const struct hist *h);

#endif
