/* strview.h - a non-owning view of bytes, for parsing */
#ifndef MF_STRVIEW_H
#define MF_STRVIEW_H

#include <stdbool.h>
#include <stddef.h>

struct strview {
  const char *p;
  size_t len;
};

#define SV_NULL ((struct strview){NULL, 0})

/* True when the view equals the NUL-terminated string s. */
bool sv_eq(struct strview v, const char *s);
/* Copy into dst (NUL-terminated, truncated to dstlen-1); returns 0, or -1 if truncated. */
int sv_copy(char *dst, size_t dstlen, struct strview v);
/* Copy lowercased; same return as sv_copy(). */
int sv_copy_lower(char *dst, size_t dstlen, struct strview v);

#endif
