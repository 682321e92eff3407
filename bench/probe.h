/* probe.h - one blocking-style exchange, for the load generators' --probe */
#ifndef BENCH_PROBE_H
#define BENCH_PROBE_H

#include <stdbool.h>
#include <stddef.h>

#include "target.h"

/* Frames a reply at in[0..len): its length, 0 if incomplete, -1 if bad. */
typedef long probe_frame_fn(const char *in, size_t len);

/* Connects to t (named spec in messages) within tmo_ms: returns a
 * non-blocking fd (caller closes), or -1, said on stderr unless quiet. */
int probe_connect(const char *prog, const struct target *t, const char *spec, int tmo_ms,
                  bool quiet);
/* Sends out[0..n) on fd and reads into in[0..cap) (kept NUL-terminated)
 * until frame() has a whole reply, all within tmo_ms: returns the reply's
 * length, or -1, said on stderr. */
long probe_exchange(const char *prog, int fd, const char *out, size_t n, char *in, size_t cap,
                    int tmo_ms, probe_frame_fn *frame);

#endif
