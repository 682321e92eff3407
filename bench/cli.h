/* cli.h - numbers from the command line of the benchmark tools */
#ifndef BENCH_CLI_H
#define BENCH_CLI_H

#include <stdint.h>

/* Returns s as an unsigned decimal; exits 2 with "PROG: bad WHAT: S" if it is not one. */
uint64_t cli_u64(const char *prog, const char *s, const char *what);
/* Returns s as a number >= 0; exits 2 with "PROG: bad WHAT: S" if it is not one. */
double cli_double(const char *prog, const char *s, const char *what);

#endif
