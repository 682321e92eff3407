/* testutil.h - helpers shared by the unit tests */
#ifndef MF_TESTUTIL_H
#define MF_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/conf.h"

/* Write text to a fresh temporary config file and load it; the test fails
 * if it does not load. Caller frees with conf_free(). */
static inline struct conf *conf_from_text(const char *text) {
  char path[] = "/tmp/mf-conf-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  char err[512];
  struct conf *c = conf_load(path, err, sizeof err);
  if (!c) fprintf(stderr, "# conf error: %s\n", err);
  unlink(path);
  assert_non_null(c);
  return c;
}

/* Load text expecting an error; returns the error after "file:" (static buffer). */
static inline const char *conf_error_of(const char *text) {
  static char err[512];
  char path[] = "/tmp/mf-conf-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  struct conf *c = conf_load(path, err, sizeof err);
  unlink(path);
  assert_null(c);
  const char *colon = strchr(err, ':');
  return colon ? colon + 1 : err;
}

#define BASE_CONF                                              \
  "listen = [ \"inet:127.0.0.1:1\" ];\n"                       \
  "state_dir = \"/tmp/unused\";\n"                             \
  "local_domains = [ \"example.edu\", \".example.edu\" ];\n"

#endif
