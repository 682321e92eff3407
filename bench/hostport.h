/* hostport.h - "HOST:PORT" and "[V6]:PORT" split for the benchmark tools */
#ifndef BENCH_HOSTPORT_H
#define BENCH_HOSTPORT_H

#include <stddef.h>

/* Copies the host of hp (brackets dropped, maybe empty) to host[cap];
 * returns the port (inside hp), or NULL if hp has no ':' or the host does
 * not fit. */
const char *hostport_split(const char *hp, char *host, size_t cap);

#endif
