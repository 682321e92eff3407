/* suspensions.h - accounts suspended until a person releases them */
#ifndef MF_SUSPENSIONS_H
#define MF_SUSPENSIONS_H

#include <stddef.h>
#include <stdint.h>

struct susp {
  char *account;
  int64_t since;
  char *by;     /* "mailfuse" (a limit) or "ctl:UID" */
  char *reason; /* one line */
};

struct susptab;

/* New empty table; caller frees with susptab_free(). */
struct susptab *susptab_new(void);
void susptab_free(struct susptab *t);
/* The suspension of an account, or NULL. */
const struct susp *susptab_get(const struct susptab *t, const char *account);
/* Add or replace; returns the stored entry, or NULL when out of memory. */
const struct susp *susptab_add(struct susptab *t, const char *account, int64_t since,
                               const char *by, const char *reason);
/* Remove; returns 1 if it was suspended, 0 if not. */
int susptab_del(struct susptab *t, const char *account);
size_t susptab_count(const struct susptab *t);
/* Iterate: *pos starts at 0; returns entries until NULL. */
const struct susp *susptab_next(const struct susptab *t, size_t *pos);
/* JSON text of an entry (for the store); caller frees. */
char *susp_to_json(const struct susp *s);
/* Add an entry from susp_to_json() text; 0 or -1. */
int susptab_add_json(struct susptab *t, const char *account, const char *json, size_t len);

#endif
