/* test_spawn.c - spawn_run: stdin and stdout pumped together, exit status
 * and stderr in the error line, exec failures, the time limit killing the
 * whole process group, a clean environment, no descriptor leaks. */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "actions/spawn.h"

struct buf {
  char *p;
  size_t len, cap;
};

static void collect(void *arg, const char *data, size_t len) {
  struct buf *b = arg;
  if (b->len + len + 1 > b->cap) {
    b->cap = (b->len + len + 1) * 2;
    b->p = realloc(b->p, b->cap);
    assert_non_null(b->p);
  }
  memcpy(b->p + b->len, data, len);
  b->len += len;
  b->p[b->len] = '\0';
}

static double now_mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  assert_non_null(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n - 1; /* the DIR's own */
}

/* A process is gone when it no longer exists or is a zombie left to init. */
static int gone(pid_t pid) {
  char path[64], stat[512];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return 1;
  size_t n = fread(stat, 1, sizeof stat - 1, f);
  fclose(f);
  stat[n] = '\0';
  const char *rp = strrchr(stat, ')');
  return rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
}

static char *megabyte(size_t n) {
  char *in = malloc(n);
  assert_non_null(in);
  for (size_t i = 0; i < n; i++) in[i] = (char)(i * 31 + (i >> 10));
  return in;
}

static void test_megabyte_through_cat(void **state) {
  size_t n = 1 << 20;
  char *in = megabyte(n);
  struct buf out = {0};
  struct spawn_result r;
  const char *argv[] = {"/bin/cat", NULL};
  assert_int_equal(spawn_run(argv, in, n, collect, &out, 10, &r), 0);
  assert_int_equal(r.status, 0);
  assert_false(r.timed_out);
  assert_string_equal(r.err, "");
  assert_int_equal(out.len, n);
  assert_memory_equal(out.p, in, n);
  free(out.p);
  free(in);
}

static void test_exit_status_and_stderr(void **state) {
  struct spawn_result r;
  const char *argv[] = {"/bin/sh", "-c",
                        "echo 'queue file not found' >&2; echo 'second line' >&2; exit 3", NULL};
  assert_int_equal(spawn_run(argv, NULL, 0, NULL, NULL, 10, &r), -1);
  assert_int_equal(r.status, 3);
  assert_false(r.timed_out);
  assert_string_equal(r.err, "exit 3: queue file not found");

  const char *quiet[] = {"/bin/sh", "-c", "exit 1", NULL};
  assert_int_equal(spawn_run(quiet, NULL, 0, NULL, NULL, 10, &r), -1);
  assert_int_equal(r.status, 1);
  assert_string_equal(r.err, "exit 1");

  /* control bytes from the child never reach the error line raw */
  const char *ctl[] = {"/bin/sh", "-c", "printf 'a\\033b?\\r\\n' >&2; exit 2", NULL};
  assert_int_equal(spawn_run(ctl, NULL, 0, NULL, NULL, 10, &r), -1);
  assert_string_equal(r.err, "exit 2: a?b?");
}

static void test_killed_by_signal(void **state) {
  struct spawn_result r;
  const char *argv[] = {"/bin/sh", "-c", "kill -9 $$", NULL};
  assert_int_equal(spawn_run(argv, NULL, 0, NULL, NULL, 10, &r), -1);
  assert_int_equal(r.status, -1);
  assert_false(r.timed_out);
  assert_string_equal(r.err, "killed by signal 9");
}

static void test_cannot_start(void **state) {
  struct spawn_result r;
  const char *missing[] = {"/nonexistent/mf-prog", "x", NULL};
  assert_int_equal(spawn_run(missing, NULL, 0, NULL, NULL, 10, &r), -1);
  assert_int_equal(r.status, -1);
  assert_string_equal(r.err, "exec /nonexistent/mf-prog: No such file or directory");

  const char *relative[] = {"cat", NULL};
  assert_int_equal(spawn_run(relative, NULL, 0, NULL, NULL, 10, &r), -1);
  assert_int_equal(r.status, -1);
  assert_non_null(strstr(r.err, "exec cat: "));

  const char *cat[] = {"/bin/cat", NULL};
  assert_int_equal(spawn_run(cat, NULL, 0, NULL, NULL, 0, &r), -1);
}

static void test_timeout_kills_group(void **state) {
  struct spawn_result r;
  struct buf out = {0};
  /* the shell prints its own pid and its background child's, then waits */
  const char *argv[] = {"/bin/sh", "-c", "echo $$; sleep 5 & echo $!; sleep 5", NULL};
  double t0 = now_mono();
  assert_int_equal(spawn_run(argv, NULL, 0, collect, &out, 0.3, &r), -1);
  double took = now_mono() - t0;
  assert_true(r.timed_out);
  assert_int_equal(r.status, -1);
  assert_string_equal(r.err, "timed out after 0.3 s");
  assert_true(took >= 0.29 && took < 1.0);
  assert_non_null(out.p);
  int child = 0, grandchild = 0;
  assert_int_equal(sscanf(out.p, "%d %d", &child, &grandchild), 2);
  assert_true(child > 0 && grandchild > 0 && child != grandchild);
  assert_true(gone(child)); /* reaped by spawn_run */
  for (int i = 0; i < 100 && !gone(grandchild); i++) usleep(10000);
  assert_true(gone(grandchild));
  free(out.p);
}

static void test_child_exit_ends_run(void **state) {
  /* a background process holding stdout open does not hold us up */
  struct spawn_result r;
  struct buf out = {0};
  const char *argv[] = {"/bin/sh", "-c", "sleep 3 & echo $!", NULL};
  double t0 = now_mono();
  assert_int_equal(spawn_run(argv, NULL, 0, collect, &out, 5, &r), 0);
  assert_true(now_mono() - t0 < 1.0);
  int straggler = 0;
  assert_int_equal(sscanf(out.p, "%d", &straggler), 1);
  assert_true(straggler > 0);
  kill(straggler, SIGKILL); /* not ours to keep */
  free(out.p);
}

static void test_early_exit_while_writing_stdin(void **state) {
  /* SIGPIPE is not ignored in this test program: it must still survive */
  size_t n = 4 << 20;
  char *in = megabyte(n);
  struct spawn_result r;
  const char *argv[] = {"/bin/true", NULL};
  assert_int_equal(spawn_run(argv, in, n, NULL, NULL, 10, &r), 0);
  const char *head[] = {"/usr/bin/head", "-c", "10", NULL};
  struct buf out = {0};
  assert_int_equal(spawn_run(head, in, n, collect, &out, 10, &r), 0);
  assert_int_equal(out.len, 10);
  assert_memory_equal(out.p, in, 10);
  free(out.p);
  /* stdin closed while the child lives on: our writes surely meet EPIPE */
  const char *closer[] = {"/bin/sh", "-c", "exec 0<&-; sleep 0.2; echo alive", NULL};
  memset(&out, 0, sizeof out);
  assert_int_equal(spawn_run(closer, in, n, collect, &out, 10, &r), 0);
  assert_string_equal(out.p, "alive\n");
  sigset_t pending;
  sigpending(&pending);
  assert_false(sigismember(&pending, SIGPIPE));
  free(out.p);
  free(in);
}

static void test_environment_and_signals(void **state) {
  struct spawn_result r;
  struct buf out = {0};
  const char *env[] = {"/usr/bin/env", NULL};
  setenv("MF_SECRET", "x", 1);
  assert_int_equal(spawn_run(env, NULL, 0, collect, &out, 10, &r), 0);
  assert_string_equal(out.p, "PATH=/usr/sbin:/usr/bin:/sbin:/bin\nLANG=C\n");
  unsetenv("MF_SECRET");
  free(out.p);

  /* the daemon ignores SIGPIPE; its children must not inherit that */
  memset(&out, 0, sizeof out);
  signal(SIGPIPE, SIG_IGN);
  const char *sig[] = {"/bin/sh", "-c", "grep '^SigIgn' /proc/$$/status", NULL};
  int rc = spawn_run(sig, NULL, 0, collect, &out, 10, &r);
  signal(SIGPIPE, SIG_DFL);
  assert_int_equal(rc, 0);
  unsigned long long ign = ~0ULL;
  assert_int_equal(sscanf(out.p, "SigIgn: %llx", &ign), 1);
  assert_false(ign & (1ULL << (SIGPIPE - 1)));
  free(out.p);
}

static void test_no_descriptor_leaks(void **state) {
  int before = count_fds();
  /* a descriptor opened without O_CLOEXEC must not reach the child */
  int stray = open("/dev/null", O_RDONLY);
  assert_true(stray > 2);
  struct buf out = {0};
  struct spawn_result r;
  const char *ls[] = {"/bin/sh", "-c", "ls /proc/$$/fd", NULL};
  assert_int_equal(spawn_run(ls, NULL, 0, collect, &out, 10, &r), 0);
  assert_string_equal(out.p, "0\n1\n2\n");
  free(out.p);
  close(stray);

  char in[4096];
  memset(in, 'q', sizeof in);
  for (int i = 0; i < 50; i++) {
    const char *cat[] = {"/bin/cat", NULL};
    const char *fail[] = {"/bin/sh", "-c", "echo no >&2; exit 4", NULL};
    const char *missing[] = {"/nonexistent/x", NULL};
    const char *slow[] = {"/bin/sleep", "5", NULL};
    struct buf o = {0};
    switch (i % 5) {
      case 0: assert_int_equal(spawn_run(cat, in, sizeof in, collect, &o, 10, &r), 0); break;
      case 1: assert_int_equal(spawn_run(cat, in, sizeof in, NULL, NULL, 10, &r), 0); break;
      case 2: assert_int_equal(spawn_run(fail, NULL, 0, collect, &o, 10, &r), -1); break;
      case 3: assert_int_equal(spawn_run(missing, in, sizeof in, collect, &o, 10, &r), -1); break;
      case 4:
        if (i < 10) assert_int_equal(spawn_run(slow, in, 10, collect, &o, 0.05, &r), -1);
        break;
    }
    free(o.p);
  }
  assert_int_equal(count_fds(), before);
}

struct par {
  int rc;
  size_t len;
  int same;
};

static void *par_run(void *arg) {
  struct par *p = arg;
  size_t n = 300000;
  char *in = megabyte(n);
  struct buf out = {0};
  struct spawn_result r;
  const char *argv[] = {"/bin/cat", NULL};
  p->rc = spawn_run(argv, in, n, collect, &out, 10, &r);
  p->len = out.len;
  p->same = out.len == n && memcmp(out.p, in, n) == 0;
  free(out.p);
  free(in);
  return NULL;
}

static void test_threads_at_once(void **state) {
  pthread_t th[6];
  struct par p[6];
  for (int i = 0; i < 6; i++) assert_int_equal(pthread_create(&th[i], NULL, par_run, &p[i]), 0);
  for (int i = 0; i < 6; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(p[i].rc, 0);
    assert_true(p[i].same);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_megabyte_through_cat),
      cmocka_unit_test(test_exit_status_and_stderr),
      cmocka_unit_test(test_killed_by_signal),
      cmocka_unit_test(test_cannot_start),
      cmocka_unit_test(test_timeout_kills_group),
      cmocka_unit_test(test_child_exit_ends_run),
      cmocka_unit_test(test_early_exit_while_writing_stdin),
      cmocka_unit_test(test_environment_and_signals),
      cmocka_unit_test(test_no_descriptor_leaks),
      cmocka_unit_test(test_threads_at_once),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
