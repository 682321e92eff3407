/* input.h - log files for replay: plain, gzip or zstd (by content), or stdin */
#ifndef MF_INPUT_H
#define MF_INPUT_H

#include <stddef.h>
#include <stdint.h>

struct input;

/* Open path ("-" is stdin). NULL with err set on failure. Caller frees with input_close(). */
struct input *input_open(const char *path, char *err, size_t errlen);
void input_close(struct input *in);
/* Next line, without its newline: 1 with *line and *len (borrowed until the next
 * call), 0 at the end, -1 on a read or decompression error (err set).
 * A line longer than max is cut to max bytes and *too_long set. */
int input_line(struct input *in, size_t max, const char **line, size_t *len, int *too_long,
               char *err, size_t errlen);
/* Modification time of the file (now for stdin): the reference for year-less stamps. */
int64_t input_mtime(const struct input *in);
const char *input_name(const struct input *in);
/* Bytes read from the file so far (compressed size for compressed files). */
uint64_t input_bytes(const struct input *in);

#endif
