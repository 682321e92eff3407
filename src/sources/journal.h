/* journal.h - read mail lines from the systemd journal */
#ifndef MF_JOURNAL_H
#define MF_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "sources/logline.h"

struct journal;

typedef void (*journal_entry_fn)(void *arg, const struct logline *l);

/* Open the system journal, or the journal files in directory. Resume after
 * cursor when given; otherwise start at the end (from_end) or the start.
 * NULL with err set on failure. Caller frees with journal_close(). */
struct journal *journal_open(const char *directory, const char *cursor, bool from_end, char *err,
                             size_t errlen);
void journal_close(struct journal *j);
/* Hand out up to max new entries as framed lines; returns the count, -1 on error. */
int journal_poll(struct journal *j, size_t max, journal_entry_fn entry, void *arg);
/* Cursor of the last entry handed out, or NULL (owned by j). */
const char *journal_cursor(const struct journal *j);

#endif
