/* tail.c - follow one log file like `tail -F`, by polling.
 *
 * Each poll: read what was appended; if the path now names another file
 * (rotation by rename), read the old one to its end first, then switch to
 * the new one from its start; if the file shrank below our offset
 * (copytruncate), start over at 0; if it is missing, keep the old
 * descriptor and look again next time.  Only complete lines are handed
 * out; the offset kept is that of the end of the last complete line, so a
 * restart resumes exactly there.  A line longer than LOG_LINE_MAX is handed
 * out cut (too_long) and the rest of it skipped.
 */
#include "sources/tail.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sources/logline.h"

#define TAIL_BUF (LOG_LINE_MAX + 65536)
#define HEAD_BYTES 128

/* Hash of the first `want` bytes (at most HEAD_BYTES); *len says how many there were. */
static uint32_t head_of(int fd, size_t want, size_t *len) {
  char b[HEAD_BYTES];
  ssize_t n = pread(fd, b, want < sizeof b ? want : sizeof b, 0);
  uint32_t h = 2166136261u;
  *len = n > 0 ? (size_t)n : 0;
  for (size_t i = 0; i < *len; i++) h = (h ^ (uint8_t)b[i]) * 16777619u;
  return h;
}

struct tail {
  char *path;
  int fd;
  uint64_t dev, ino;
  uint64_t off;      /* file offset of buf[0] */
  char *buf;
  size_t len;        /* bytes in buf not yet handed out */
  bool skipping;     /* inside the tail of a too-long line */
  bool missing;
  uint32_t head_hash; /* of the first HEAD_BYTES: a copytruncate refilled past our offset changes it */
  size_t head_len;
};

static void close_fd(struct tail *t) {
  if (t->fd >= 0) close(t->fd);
  t->fd = -1;
  t->len = 0;
  t->skipping = false;
}

/* Open the path; position per saved/first-time rules. 0, or -1 if missing. */
static int open_path(struct tail *t, const struct tail_pos *saved, bool from_end) {
  int fd = open(t->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0) {
    if (fd >= 0) close(fd);
    t->missing = true;
    return -1;
  }
  t->missing = false;
  t->fd = fd;
  t->head_len = 0;
  t->dev = (uint64_t)st.st_dev;
  t->ino = (uint64_t)st.st_ino;
  t->len = 0;
  if (saved && saved->dev == t->dev && saved->ino == t->ino && saved->off <= (uint64_t)st.st_size)
    t->off = saved->off;
  else if (!saved && from_end)
    t->off = (uint64_t)st.st_size;
  else
    t->off = 0;
  return 0;
}

struct tail *tail_new(const char *path, const struct tail_pos *saved, bool from_end) {
  struct tail *t = calloc(1, sizeof *t);
  if (!t || !(t->path = strdup(path)) || !(t->buf = malloc(TAIL_BUF))) {
    tail_free(t);
    return NULL;
  }
  t->fd = -1;
  (void)open_path(t, saved, from_end); /* missing now: read it all once it appears */
  return t;
}

void tail_free(struct tail *t) {
  if (!t) return;
  close_fd(t);
  free(t->path);
  free(t->buf);
  free(t);
}

/* Hand out the complete lines in buf; keep the rest. */
static int emit_lines(struct tail *t, tail_line_fn line, void *arg) {
  int n = 0;
  size_t pos = 0;
  for (;;) {
    char *nl = memchr(t->buf + pos, '\n', t->len - pos);
    if (!nl) break;
    size_t l = (size_t)(nl - (t->buf + pos));
    if (!t->skipping) {
      line(arg, t->buf + pos, l > LOG_LINE_MAX ? LOG_LINE_MAX : l, l > LOG_LINE_MAX);
      n++;
    }
    t->skipping = false;
    pos += l + 1;
  }
  if (t->len - pos > LOG_LINE_MAX && !t->skipping) { /* a line too long to hold: cut it */
    line(arg, t->buf + pos, LOG_LINE_MAX, true);
    n++;
    t->skipping = true;
  }
  if (t->skipping) pos = t->len; /* drop what we hold of the long line */
  memmove(t->buf, t->buf + pos, t->len - pos);
  t->len -= pos;
  t->off += pos;
  return n;
}

/* Read the current descriptor up to max bytes. Returns lines or -1. */
static int drain(struct tail *t, size_t max, tail_line_fn line, void *arg) {
  int lines = 0;
  size_t got = 0;
  while (got < max) {
    size_t room = TAIL_BUF - t->len;
    ssize_t r = pread(t->fd, t->buf + t->len, room, (off_t)(t->off + t->len));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -1;
    if (r == 0) break;
    t->len += (size_t)r;
    got += (size_t)r;
    lines += emit_lines(t, line, arg);
  }
  return lines;
}

int tail_poll(struct tail *t, size_t max_bytes, tail_line_fn line, void *arg) {
  if (t->fd < 0) {
    if (open_path(t, NULL, false) < 0) return 0;
    return drain(t, max_bytes, line, arg);
  }
  struct stat cur, now;
  int lines = 0;
  size_t hl = 0;
  uint32_t hh = t->head_len ? head_of(t->fd, t->head_len, &hl) : 0;
  if ((fstat(t->fd, &cur) == 0 && (uint64_t)cur.st_size < t->off + t->len) ||
      (t->head_len && hl >= t->head_len && hh != t->head_hash)) {
    t->off = 0; /* truncated (copytruncate), perhaps refilled since: the file starts over */
    t->len = 0;
    t->skipping = false;
    t->head_len = 0;
  }
  int n = drain(t, max_bytes, line, arg);
  if (n < 0) return -1;
  lines += n;
  if (t->head_len < HEAD_BYTES && t->off > 0) t->head_hash = head_of(t->fd, HEAD_BYTES, &t->head_len);
  if (stat(t->path, &now) < 0) {
    t->missing = true;
    return lines;
  }
  t->missing = false;
  if ((uint64_t)now.st_ino != t->ino || (uint64_t)now.st_dev != t->dev) {
    /* rotated: finish the old file first (more of it next poll if the cap stopped us) */
    struct stat old;
    if (fstat(t->fd, &old) == 0 && (uint64_t)old.st_size > t->off + t->len) return lines;
    close_fd(t);
    if (open_path(t, NULL, false) == 0) {
      n = drain(t, max_bytes, line, arg);
      if (n < 0) return -1;
      lines += n;
    }
  }
  return lines;
}

struct tail_pos tail_position(const struct tail *t) {
  return (struct tail_pos){t->dev, t->ino, t->off};
}

const char *tail_path(const struct tail *t) { return t->path; }
bool tail_missing(const struct tail *t) { return t->missing; }
