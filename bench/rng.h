/* rng.h - the load generators' cheap per-connection random numbers */
#ifndef BENCH_RNG_H
#define BENCH_RNG_H

#include <stdint.h>
#include <time.h>
#include <unistd.h>

/* Returns the next xorshift64 value of *s (never 0 from a non-zero seed). */
static inline uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* Returns the seed of connection i in a run whose id is base. */
static inline uint64_t rng_seed(unsigned i, uint64_t base)
{
    return 0x9E3779B97F4A7C15ull ^ ((uint64_t)(i + 1) * 0xBF58476D1CE4E5B9ull) ^ base;
}

/* Returns an id for this run: differs between runs and between processes. */
static inline uint64_t rng_base_id(void)
{
    return (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
}

#endif
