/* tail.h - follow a growing log file across rotation and truncation */
#ifndef MF_TAIL_H
#define MF_TAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where reading stopped: the file (device, inode) and the offset in it. */
struct tail_pos {
  uint64_t dev, ino, off;
};

struct tail;

typedef void (*tail_line_fn)(void *arg, const char *line, size_t len, bool too_long);

/* Follow path. With a saved position of the same file, reading resumes
 * there; a different file (rotated while we were away) is read from its
 * start; with no saved position, from its end if from_end, else its start.
 * The file may be missing now. Caller frees with tail_free(). */
struct tail *tail_new(const char *path, const struct tail_pos *saved, bool from_end);
void tail_free(struct tail *t);
/* Read what is new (at most max_bytes), calling line() for each complete
 * line. Follows a rename (finishes the old file first) and a truncation.
 * Returns the number of lines, or -1 on a read error (logged by the caller). */
int tail_poll(struct tail *t, size_t max_bytes, tail_line_fn line, void *arg);
/* The position after the last complete line handed out. */
struct tail_pos tail_position(const struct tail *t);
const char *tail_path(const struct tail *t);
/* True while the file is missing. */
bool tail_missing(const struct tail *t);

#endif
