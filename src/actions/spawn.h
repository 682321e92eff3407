/* spawn.h - run a program without a shell, with a time limit */
#ifndef MF_SPAWN_H
#define MF_SPAWN_H

#include <stdbool.h>
#include <stddef.h>

/* Called with each chunk of the child's stdout, on the calling thread. */
typedef void (*spawn_out_fn)(void *arg, const char *data, size_t len);

struct spawn_result {
  int status;      /* exit status 0..255; -1 when it could not start, was killed or timed out */
  bool timed_out;
  char err[256];   /* why it failed, one line: "exec /x/y: No such file or directory",
                      "timed out after 10 s", "exit 1: <first line of its stderr>",
                      "killed by signal 9" ; "" on success */
};

/* Run argv[0] (must be an absolute path; no PATH search, no shell) with argv
 * (NULL-terminated). stdin gets in/in_len bytes (in NULL: /dev/null). Each
 * chunk of stdout goes to out(out_arg, ...) as it arrives (out NULL: discarded).
 * The first 200 bytes of stderr are kept for err. After timeout seconds the
 * whole process group is killed (SIGKILL) and reaped. Environment: a fixed
 * minimal one (PATH=/usr/sbin:/usr/bin:/sbin:/bin, LANG=C). Safe to call
 * from several threads at once; no descriptor leaks into the child or the
 * parent; SIGPIPE ignored by the caller is assumed (the daemon ignores it),
 * but writing stdin must not die if the child exits early.
 * Returns 0 when it ran and exited 0, else -1 with r->err set.
 * (timeout must be > 0; the run ends when the child exits, even if something
 * it left behind still holds its stdout open.) */
int spawn_run(const char *const *argv, const void *in, size_t in_len, spawn_out_fn out,
              void *out_arg, double timeout, struct spawn_result *r);

#endif
