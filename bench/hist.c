/* hist.c - latency histogram with percentiles
 *
 * Fixed buckets (no allocation, ~30 KiB): one per load generator thread,
 * merged at the end.  Quantiles report a bucket's middle, capped by the
 * largest value seen.
 */
#include "hist.h"

static unsigned bucket_of(uint64_t v)
{
    if (v < 128)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - 6; /* keep top 7 bits: 64..127 */
    unsigned idx = 128 + (shift - 1) * HIST_SUB + (unsigned)((v >> shift) - 64);
    return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}

static double bucket_value(unsigned idx)
{
    if (idx < 128)
        return idx;
    unsigned shift = (idx - 128) / HIST_SUB + 1;
    uint64_t sub = (idx - 128) % HIST_SUB + 64;
    return (double)(sub << shift) + (double)(1ull << shift) / 2.0;
}

void hist_add(struct hist *h, uint64_t v)
{
    h->b[bucket_of(v)]++;
    h->count++;
    h->sum += v;
    if (v > h->max)
        h->max = v;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        dst->b[i] += src->b[i];
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->max > dst->max)
        dst->max = src->max;
}

double hist_quantile(const struct hist *h, double q)
{
    if (h->count == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)h->count + 0.5);
    if (rank < 1)
        rank = 1;
    if (rank > h->count)
        rank = h->count;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            double v = bucket_value(i);
            return v > (double)h->max ? (double)h->max : v;
        }
    }
    return (double)h->max;
}

double hist_mean(const struct hist *h)
{
    return h->count ? (double)h->sum / (double)h->count : 0;
}
