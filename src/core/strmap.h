/* strmap.h - a string-keyed hash map of pointers (owns copies of the keys) */
#ifndef MF_STRMAP_H
#define MF_STRMAP_H

#include <stddef.h>

struct strmap;

/* New map; caller frees with strmap_free() (values are the caller's). */
struct strmap *strmap_new(void);
void strmap_free(struct strmap *m);
/* The same, after calling free_value on every value (e.g. free). */
void strmap_free_values(struct strmap *m, void (*free_value)(void *));
/* Value of key, or NULL. */
void *strmap_get(const struct strmap *m, const char *key);
/* Set key to val (val != NULL): 0, or -1 when out of memory. */
int strmap_set(struct strmap *m, const char *key, void *val) __attribute__((warn_unused_result));
/* The map's own copy of key (valid until the key is deleted), or NULL. */
const char *strmap_key(const struct strmap *m, const char *key);
/* Remove key; returns its value or NULL. */
void *strmap_del(struct strmap *m, const char *key);
size_t strmap_count(const struct strmap *m);
/* Iterate: *pos starts at 0; returns 1 with *key and *val set, 0 at the end. */
int strmap_next(const struct strmap *m, size_t *pos, const char **key, void **val);

#endif
