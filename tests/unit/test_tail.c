/* test_tail.c - following a file across appends, rename rotation,
 * copytruncate, absence, restart positions and over-long lines */
#include <sys/stat.h>

#include "testutil.h"

#include "sources/logline.h"
#include "sources/tail.h"

struct got {
  char lines[64][64];
  int n, long_lines;
};

static void on_line(void *arg, const char *line, size_t len, bool too_long) {
  struct got *g = arg;
  if (too_long) g->long_lines++;
  if (g->n < 64) snprintf(g->lines[g->n++], 64, "%.*s", (int)(len < 60 ? len : 60), line);
}

static char dir[64], path[128];

static int setup(void **state) {
  snprintf(dir, sizeof dir, "/tmp/mf-tail-XXXXXX");
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/mail.log", dir);
  return 0;
}

static int teardown(void **state) {
  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static void append(const char *p, const char *text) {
  FILE *f = fopen(p, "a");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void test_append_partial_and_rotation(void **state) {
  append(path, "old1\n");
  struct tail *t = tail_new(path, NULL, true); /* first time: from the end */
  struct got g = {0};
  assert_int_equal(tail_poll(t, 1 << 20, on_line, &g), 0);
  append(path, "a\nb\npart");
  assert_int_equal(tail_poll(t, 1 << 20, on_line, &g), 2);
  append(path, "ial\n");
  assert_int_equal(tail_poll(t, 1 << 20, on_line, &g), 1);
  assert_string_equal(g.lines[2], "partial");
  /* rotation by rename: the old file's last lines, then the new file */
  append(path, "last-of-old\n");
  char old[160];
  snprintf(old, sizeof old, "%s.1", path);
  assert_int_equal(rename(path, old), 0);
  append(path, "first-of-new\n");
  assert_int_equal(tail_poll(t, 1 << 20, on_line, &g), 2);
  assert_string_equal(g.lines[3], "last-of-old");
  assert_string_equal(g.lines[4], "first-of-new");
  tail_free(t);
}

static void test_truncation_and_missing(void **state) {
  append(path, "x1\nx2\n");
  struct tail *t = tail_new(path, NULL, false); /* from the start */
  struct got g = {0};
  assert_int_equal(tail_poll(t, 1 << 20, on_line, &g), 2);
  assert_int_equal(truncate(path, 0), 0); /* copytruncate */
  append(path, "y1\n");
  assert_int_equal(tail_poll(t, 1 << 20, on_line, &g), 1);
  assert_string_equal(g.lines[2], "y1");
  unlink(path);
  assert_int_equal(tail_poll(t, 1 << 20, on_line, &g), 0);
  assert_true(tail_missing(t));
  append(path, "z1\n");
  assert_int_equal(tail_poll(t, 1 << 20, on_line, &g), 1);
  assert_string_equal(g.lines[3], "z1");
  assert_false(tail_missing(t));
  tail_free(t);
}

static void test_resume_position(void **state) {
  append(path, "r1\nr2\n");
  struct tail *t = tail_new(path, NULL, false);
  struct got g = {0};
  assert_int_equal(tail_poll(t, 1 << 20, on_line, &g), 2);
  append(path, "r3\nhalf");
  assert_int_equal(tail_poll(t, 1 << 20, on_line, &g), 1);
  struct tail_pos p = tail_position(t); /* after "r3\n": the partial line is not consumed */
  assert_int_equal(p.off, 9);
  tail_free(t);
  append(path, "-done\n");
  struct got h = {0};
  t = tail_new(path, &p, true);
  assert_int_equal(tail_poll(t, 1 << 20, on_line, &h), 1);
  assert_string_equal(h.lines[0], "half-done");
  tail_free(t);
  /* a saved position of another file (rotated while stopped): the new file from its start */
  unlink(path);
  append(path, "n1\n");
  struct got k = {0};
  t = tail_new(path, &p, true);
  assert_int_equal(tail_poll(t, 1 << 20, on_line, &k), 1);
  assert_string_equal(k.lines[0], "n1");
  tail_free(t);
}

static void test_long_line_and_cap(void **state) {
  FILE *f = fopen(path, "w");
  for (int i = 0; i < LOG_LINE_MAX + 5000; i++) fputc('q', f);
  fputs("\nafter\n", f);
  fclose(f);
  struct tail *t = tail_new(path, NULL, false);
  struct got g = {0};
  assert_int_equal(tail_poll(t, 1 << 20, on_line, &g), 2);
  assert_int_equal(g.long_lines, 1);
  assert_string_equal(g.lines[1], "after");
  /* the per-poll cap: many lines arrive over several polls, none lost */
  f = fopen(path, "a");
  for (int i = 0; i < 20000; i++) fprintf(f, "line %05d\n", i);
  fclose(f);
  int total = 0, polls = 0, n;
  struct got h = {0};
  while ((n = tail_poll(t, 50000, on_line, &h)) > 0 && polls < 100) {
    total += n;
    polls++;
  }
  assert_int_equal(total, 20000);
  assert_true(polls > 2);
  tail_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_append_partial_and_rotation, setup, teardown),
      cmocka_unit_test_setup_teardown(test_truncation_and_missing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_resume_position, setup, teardown),
      cmocka_unit_test_setup_teardown(test_long_line_and_cap, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
