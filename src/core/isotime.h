/* isotime.h - unix seconds as an ISO 8601 UTC stamp, for ctl, alerts and reports */
#ifndef MF_ISOTIME_H
#define MF_ISOTIME_H

#include <stddef.h>
#include <stdint.h>

#define ISO_TIME_MAX 32

/* "2026-11-23T17:12:00Z" into buf; returns buf. */
const char *iso_time(int64_t t, char *buf, size_t len);

#endif
