/* input.c - a line reader over plain, gzip and zstd files.
 *
 * The compression is recognised by the first bytes (1f 8b, 28 b5 2f fd),
 * so it works for stdin and for rotated files whatever their names.  Lines
 * are split in a fixed buffer: memory does not grow with the file, and a
 * line longer than the caller's maximum is cut and flagged, never held
 * whole.
 */
#include "replay/input.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define INPUT_BUF (256 * 1024)

enum codec { C_PLAIN, C_GZIP, C_ZSTD };

struct input {
  int fd;
  enum codec codec;
  z_stream z;
  ZSTD_DCtx *zd;
  unsigned char *raw; /* compressed bytes */
  size_t raw_len, raw_pos;
  char *buf; /* decoded bytes */
  size_t len, pos;
  int eof, skipping;
  int64_t mtime;
  uint64_t bytes;
  char name[256];
};

static ssize_t read_raw(struct input *in) {
  if (in->raw_pos < in->raw_len) return (ssize_t)(in->raw_len - in->raw_pos);
  ssize_t n;
  do n = read(in->fd, in->raw, INPUT_BUF);
  while (n < 0 && errno == EINTR);
  if (n > 0) {
    in->raw_len = (size_t)n;
    in->raw_pos = 0;
    in->bytes += (uint64_t)n;
  }
  return n;
}

/* Decode more bytes into buf[len..cap); returns bytes added, 0 at end, -1 on error. */
static ssize_t fill(struct input *in, size_t cap, char *err, size_t errlen) {
  for (;;) {
    ssize_t r = read_raw(in);
    if (r < 0) {
      snprintf(err, errlen, "%s: %s", in->name, strerror(errno));
      return -1;
    }
    if (r == 0) return 0;
    unsigned char *src = in->raw + in->raw_pos;
    size_t avail = in->raw_len - in->raw_pos, out = cap - in->len;
    if (in->codec == C_PLAIN) {
      size_t n = avail < out ? avail : out;
      memcpy(in->buf + in->len, src, n);
      in->raw_pos += n;
      in->len += n;
      return (ssize_t)n;
    }
    size_t produced;
    if (in->codec == C_GZIP) {
      in->z.next_in = src;
      in->z.avail_in = (uInt)avail;
      in->z.next_out = (unsigned char *)in->buf + in->len;
      in->z.avail_out = (uInt)out;
      int zr = inflate(&in->z, Z_NO_FLUSH);
      if (zr == Z_STREAM_END) inflateReset(&in->z); /* concatenated members */
      else if (zr != Z_OK && zr != Z_BUF_ERROR) {
        snprintf(err, errlen, "%s: gzip: %s", in->name, in->z.msg ? in->z.msg : "corrupt data");
        return -1;
      }
      in->raw_pos += avail - in->z.avail_in;
      produced = out - in->z.avail_out;
    } else {
      ZSTD_inBuffer ib = {src, avail, 0};
      ZSTD_outBuffer ob = {in->buf + in->len, out, 0};
      size_t zr = ZSTD_decompressStream(in->zd, &ob, &ib);
      if (ZSTD_isError(zr)) {
        snprintf(err, errlen, "%s: zstd: %s", in->name, ZSTD_getErrorName(zr));
        return -1;
      }
      in->raw_pos += ib.pos;
      produced = ob.pos;
    }
    in->len += produced;
    if (produced) return (ssize_t)produced;
  }
}

struct input *input_open(const char *path, char *err, size_t errlen) {
  struct input *in = calloc(1, sizeof *in);
  if (!in || !(in->raw = malloc(INPUT_BUF)) || !(in->buf = malloc(INPUT_BUF))) goto oom;
  snprintf(in->name, sizeof in->name, "%s", strcmp(path, "-") ? path : "(stdin)");
  in->fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : 0;
  if (in->fd < 0) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    input_close(in);
    return NULL;
  }
  struct stat st;
  in->mtime = fstat(in->fd, &st) == 0 && S_ISREG(st.st_mode) ? (int64_t)st.st_mtime : (int64_t)time(NULL);
  if (read_raw(in) > 0) {
    const unsigned char *m = in->raw;
    if (in->raw_len >= 2 && m[0] == 0x1f && m[1] == 0x8b) in->codec = C_GZIP;
    else if (in->raw_len >= 4 && m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd)
      in->codec = C_ZSTD;
  }
  if (in->codec == C_GZIP && inflateInit2(&in->z, 15 + 32) != Z_OK) goto oom;
  if (in->codec == C_ZSTD && !(in->zd = ZSTD_createDCtx())) goto oom;
  return in;
oom:
  snprintf(err, errlen, "%s: out of memory", path);
  input_close(in);
  return NULL;
}

void input_close(struct input *in) {
  if (!in) return;
  if (in->codec == C_GZIP) inflateEnd(&in->z);
  ZSTD_freeDCtx(in->zd);
  if (in->fd > 0) close(in->fd);
  free(in->raw);
  free(in->buf);
  free(in);
}

int input_line(struct input *in, size_t max, const char **line, size_t *len, int *too_long,
               char *err, size_t errlen) {
  if (max > INPUT_BUF - 1) max = INPUT_BUF - 1;
  *too_long = 0;
  for (;;) {
    char *start = in->buf + in->pos;
    size_t have = in->len - in->pos;
    char *nl = memchr(start, '\n', have);
    if (nl || (in->eof && have)) {
      size_t l = nl ? (size_t)(nl - start) : have;
      in->pos += l + (nl != NULL);
      if (in->skipping) { /* the tail of a line already returned cut */
        in->skipping = 0;
        continue;
      }
      *line = start;
      *len = l > max ? max : l;
      *too_long = l > max;
      return 1;
    }
    if (in->eof) return 0;
    if (have > max) { /* hand out the cut line now, drop the rest up to its newline */
      if (!in->skipping) {
        *line = start;
        *len = max;
        *too_long = 1;
        in->skipping = 1;
        in->pos = in->len;
        return 1;
      }
      in->pos = in->len;
      have = 0;
    }
    memmove(in->buf, start, have);
    in->len = have;
    in->pos = 0;
    ssize_t n = fill(in, INPUT_BUF, err, errlen);
    if (n < 0) return -1;
    if (n == 0) in->eof = 1;
  }
}

int64_t input_mtime(const struct input *in) { return in->mtime; }
const char *input_name(const struct input *in) { return in->name; }
uint64_t input_bytes(const struct input *in) { return in->bytes; }
