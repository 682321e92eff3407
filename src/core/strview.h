/* strview.h - a non-owning view of bytes, for parsing */
#ifndef MF_STRVIEW_H
#define MF_STRVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct strview {
  const char *p;
  size_t len;
};

#define SV_NULL ((struct strview){NULL, 0})

/* Small view helpers shared by the log parsers (inline: they sit on the hot path). */
static inline struct strview sv_mk(const char *p, size_t len) { return (struct strview){p, len}; }
/* The view from offset off on (empty past the end). */
static inline struct strview sv_from(struct strview v, size_t off) {
  return off >= v.len ? sv_mk(v.p + v.len, 0) : sv_mk(v.p + off, v.len - off);
}
static inline bool sv_starts(struct strview v, const char *s, size_t n) {
  return v.len >= n && memcmp(v.p, s, n) == 0;
}
#define SV_STARTS(v, lit) sv_starts((v), (lit), sizeof(lit) - 1)
/* Offset of the first s in v, or -1. */
static inline long sv_find(struct strview v, const char *s, size_t n) {
  const char *f = v.p && v.len >= n ? memmem(v.p, v.len, s, n) : NULL;
  return f ? (long)(f - v.p) : -1;
}
#define SV_FIND(v, lit) sv_find((v), (lit), sizeof(lit) - 1)

/* True when the view equals the NUL-terminated string s. */
bool sv_eq(struct strview v, const char *s);
/* Copy into dst (NUL-terminated, truncated to dstlen-1); returns 0, or -1 if truncated. */
int sv_copy(char *dst, size_t dstlen, struct strview v);
/* Copy a C string, cut to fit (always terminated; src NULL = ""). */
void str_copy(char *dst, size_t dstlen, const char *src);
/* Copy lowercased; same return as sv_copy(). */
int sv_copy_lower(char *dst, size_t dstlen, struct strview v);

#endif
