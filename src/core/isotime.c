/* isotime.c - unix seconds as an ISO 8601 UTC stamp */
#include "core/isotime.h"

#include <time.h>

const char *iso_time(int64_t t, char *buf, size_t len) {
  time_t tt = (time_t)t;
  struct tm tm;
  gmtime_r(&tt, &tm);
  if (!strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) && len) buf[0] = 0;
  return buf;
}
