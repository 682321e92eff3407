/* nbio.h - sending on a non-blocking socket */
#ifndef BENCH_NBIO_H
#define BENCH_NBIO_H

#include <stddef.h>

/* Sends buf[*off..len) on fd, advancing *off; returns 1 when all is sent,
 * 0 when the socket is full (try on EPOLLOUT), -1 on error. */
int nbio_send(int fd, const char *buf, size_t len, size_t *off);

#endif
