/* strview.c - helpers for non-owning byte views */
#include "core/strview.h"

#include <ctype.h>
#include <string.h>

bool sv_eq(struct strview v, const char *s) {
  size_t n = strlen(s);
  return v.len == n && (n == 0 || memcmp(v.p, s, n) == 0);
}

int sv_copy(char *dst, size_t dstlen, struct strview v) {
  size_t n = v.len < dstlen - 1 ? v.len : dstlen - 1;
  if (n) memcpy(dst, v.p, n);
  dst[n] = 0;
  return n == v.len ? 0 : -1;
}

int sv_copy_lower(char *dst, size_t dstlen, struct strview v) {
  int rc = sv_copy(dst, dstlen, v);
  for (char *c = dst; *c; c++) *c = (char)tolower((unsigned char)*c);
  return rc;
}

void str_copy(char *dst, size_t dstlen, const char *src) {
  if (!dstlen) return;
  size_t n = src ? strnlen(src, dstlen - 1) : 0;
  memcpy(dst, src ? src : "", n);
  dst[n] = 0;
}
