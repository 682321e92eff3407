/* numparse.c - bounded number parsing (no atoi/strtol surprises) */
#include "core/numparse.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int num_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out) {
  if (len == 0 || len > 20) return -1;
  uint64_t v = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    unsigned d = (unsigned)(s[i] - '0');
    if (v > (max - d) / 10) return -1;
    v = v * 10 + d;
  }
  *out = v;
  return 0;
}

int num_parse_size(const char *s, uint64_t *out) {
  size_t n = strlen(s);
  uint64_t mult = 1;
  if (n > 0) {
    switch (s[n - 1]) {
      case 'k': case 'K': mult = 1024ull; n--; break;
      case 'm': case 'M': mult = 1024ull * 1024; n--; break;
      case 'g': case 'G': mult = 1024ull * 1024 * 1024; n--; break;
      case 't': case 'T': mult = 1024ull * 1024 * 1024 * 1024; n--; break;
      default: break;
    }
  }
  uint64_t v;
  if (num_parse_u64(s, n, UINT64_MAX / mult, &v) < 0) return -1;
  *out = v * mult;
  return 0;
}

int num_parse_date(const char *s, int64_t *out) {
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  int used = 0;
  size_t n = strlen(s);
  if (sscanf(s, "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &used) != 3 ||
      used != 10)
    return -1;
  if (n > 10) {
    int u2 = 0;
    if ((s[10] != 'T' && s[10] != ' ') ||
        sscanf(s + 11, "%2d:%2d:%2d%n", &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &u2) != 3 ||
        u2 != 8)
      return -1;
    const char *rest = s + 19;
    if (*rest && strcmp(rest, "Z") != 0) return -1;
  }
  if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
      tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60 || tm.tm_year < 1970)
    return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  *out = (int64_t)timegm(&tm);
  return 0;
}
