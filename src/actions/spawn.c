/* spawn.c - run a program without a shell, with a time limit.
 *
 * posix_spawn (glibc's is vfork-like, thread-safe and reports exec errors
 * as its return value) starts argv[0] in a process group of its own, with
 * default signal dispositions (the daemon ignores SIGPIPE; the child must
 * not inherit that), an empty signal mask, a fixed environment and only
 * descriptors 0-2 open.  One poll() loop then pumps stdin, stdout and
 * stderr together (a megabyte of stdin would otherwise deadlock against a
 * child filling its stdout) and looks for the child's exit with
 * waitpid(WNOHANG) between polls.  Nothing wakes poll() when the child
 * exits while something it started still holds the pipes, so poll waits at
 * most a slice: 1 ms after a pipe closed (the usual sign of an exit),
 * doubling up to 50 ms while nothing happens.  (A pidfd would wake us
 * exactly, but valgrind 3.19 does not know pidfd_open.)
 *
 * The run ends when the child has exited (whatever it left behind in the
 * background may still hold the pipes; we do not wait for them) or at the
 * deadline, when the whole group gets SIGKILL before the child is reaped,
 * so the group id cannot have been reused.  Every parent-side descriptor is
 * O_CLOEXEC and closed before returning.  While stdin is written SIGPIPE is
 * blocked in the calling thread and one it raised itself is consumed, so a
 * child exiting early is only EPIPE even where SIGPIPE is not ignored.
 */
#include "actions/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SPAWN_STDERR_KEEP 200 /* bytes of stderr kept for the error line */
#define SPAWN_CHUNK 32768     /* one read or write */
#define SPAWN_DRAIN_READS 64  /* reads per pipe once the child is gone */
#define SPAWN_SLICE_MAX_MS 50 /* longest poll between two looks for the exit */

static char *const spawn_env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", NULL};

struct pump {
  int in_fd, out_fd, err_fd; /* parent ends; -1 once closed or unused */
  const char *in;
  size_t in_len, in_off;
  spawn_out_fn out;
  void *out_arg;
  char errbuf[SPAWN_STDERR_KEEP];
  size_t err_len;
  bool epipe; /* a stdin write failed with EPIPE (SIGPIPE may be pending) */
};

enum outcome { RUN_EXITED, RUN_TIMED_OUT, RUN_FAILED, RUN_LOST };

static void set_err(struct spawn_result *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_err(struct spawn_result *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->err, sizeof r->err, fmt, ap);
  va_end(ap);
}

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

static double now_mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The parent's pipe ends must not be 0-2: the child's dup2 onto 0-2 would
 * then clobber one of its own sources. Returns the moved fd or -1. */
static int above_stdio(int fd) {
  if (fd > 2) return fd;
  int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  close(fd);
  return nfd;
}

/* A CLOEXEC pipe with both ends above 2; 0 or -1 (errno set). */
static int make_pipe(int p[2]) {
  if (pipe2(p, O_CLOEXEC) < 0) return -1;
  p[0] = above_stdio(p[0]);
  p[1] = above_stdio(p[1]);
  if (p[0] >= 0 && p[1] >= 0) return 0;
  int e = errno;
  close_fd(&p[0]);
  close_fd(&p[1]);
  errno = e;
  return -1;
}

static int set_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Start the child with child_fd[0..2] (-1: /dev/null) as its stdio.
 * Returns 0 or an errno value. */
static int start_child(const char *const *argv, const int child_fd[3], pid_t *pid) {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  int rc = posix_spawn_file_actions_init(&fa);
  if (rc) return rc;
  rc = posix_spawnattr_init(&at);
  if (rc) {
    posix_spawn_file_actions_destroy(&fa);
    return rc;
  }
  for (int i = 0; i < 3 && !rc; i++)
    rc = child_fd[i] >= 0 ? posix_spawn_file_actions_adddup2(&fa, child_fd[i], i)
                          : posix_spawn_file_actions_addopen(&fa, i, "/dev/null",
                                                             i ? O_WRONLY : O_RDONLY, 0);
#if defined(__GLIBC__) && __GLIBC_PREREQ(2, 34)
  /* descriptors another thread opened without O_CLOEXEC stay with us */
  if (!rc) rc = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
  if (!rc) rc = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
                                                  POSIX_SPAWN_SETSIGMASK);
  if (!rc) rc = posix_spawnattr_setpgroup(&at, 0);
  if (!rc) rc = posix_spawnattr_setsigdefault(&at, &all);
  if (!rc) rc = posix_spawnattr_setsigmask(&at, &none);
  if (!rc) rc = posix_spawn(pid, argv[0], &fa, &at, (char *const *)argv, spawn_env);
  posix_spawnattr_destroy(&at);
  posix_spawn_file_actions_destroy(&fa);
  return rc;
}

/* Read what fd has now; keep stderr's head, pass stdout on. Closes on EOF. */
static void pump_read(struct pump *p, int *fd, int max_reads) {
  char buf[SPAWN_CHUNK];
  for (int i = 0; i < max_reads && *fd >= 0; i++) {
    ssize_t n = read(*fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) {
      close_fd(fd);
      return;
    }
    if (fd == &p->err_fd) {
      size_t keep = sizeof p->errbuf - p->err_len;
      if (keep > (size_t)n) keep = (size_t)n;
      memcpy(p->errbuf + p->err_len, buf, keep);
      p->err_len += keep;
    } else if (p->out) {
      p->out(p->out_arg, buf, (size_t)n);
    }
  }
}

/* Write as much of stdin as the pipe takes; closes it when done or broken. */
static void pump_write(struct pump *p) {
  while (p->in_fd >= 0 && p->in_off < p->in_len) {
    size_t len = p->in_len - p->in_off;
    if (len > SPAWN_CHUNK) len = SPAWN_CHUNK;
    ssize_t n = write(p->in_fd, p->in + p->in_off, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0) {
      if (errno == EPIPE) p->epipe = true;
      close_fd(&p->in_fd); /* the child does not want the rest */
      return;
    }
    p->in_off += (size_t)n;
  }
  close_fd(&p->in_fd); /* all written: the child sees EOF */
}

static int open_fds(const struct pump *p) {
  return (p->in_fd >= 0) + (p->out_fd >= 0) + (p->err_fd >= 0);
}

/* Pump until the child exits (*wstatus set) or the deadline passes. */
static enum outcome pump_loop(struct pump *p, pid_t pid, double deadline, int *wstatus) {
  int slice = 1; /* ms */
  for (;;) {
    pid_t w = waitpid(pid, wstatus, WNOHANG);
    if (w == pid) {
      /* its output is all in the pipes now; take it without waiting */
      pump_read(p, &p->out_fd, SPAWN_DRAIN_READS);
      pump_read(p, &p->err_fd, SPAWN_DRAIN_READS);
      return RUN_EXITED;
    }
    if (w < 0 && errno == ECHILD) return RUN_LOST; /* reaped elsewhere (SIGCHLD ignored?) */
    if (w < 0 && errno != EINTR) return RUN_FAILED;
    double left = deadline - now_mono();
    if (left <= 0) return RUN_TIMED_OUT;
    struct pollfd pf[3];
    int *which[3], n = 0;
    int *fds[3] = {&p->in_fd, &p->out_fd, &p->err_fd};
    for (int i = 0; i < 3; i++) {
      if (*fds[i] < 0) continue;
      pf[n] = (struct pollfd){.fd = *fds[i], .events = i == 0 ? POLLOUT : POLLIN};
      which[n++] = fds[i];
    }
    double ms = ceil(left * 1000);
    int k = poll(pf, (nfds_t)n, ms < slice ? (int)ms : slice);
    if (k < 0 && errno != EINTR) return RUN_FAILED;
    if (k == 0) slice = slice * 2 < SPAWN_SLICE_MAX_MS ? slice * 2 : SPAWN_SLICE_MAX_MS;
    int before = open_fds(p);
    for (int i = 0; i < n && k > 0; i++) {
      if (!pf[i].revents) continue;
      if (which[i] == &p->in_fd) pump_write(p);
      else pump_read(p, which[i], 4);
    }
    if (open_fds(p) < before) slice = 1;
  }
}

/* "exit 3: <first line of stderr>" with the line made printable. */
static void describe_exit(struct spawn_result *r, int code, const struct pump *p) {
  char line[SPAWN_STDERR_KEEP + 1];
  size_t i = 0, end, n = 0;
  while (i < p->err_len && (p->errbuf[i] == '\n' || p->errbuf[i] == '\r')) i++;
  for (end = i; end < p->err_len && p->errbuf[end] != '\n'; end++) {
  }
  while (end > i && (p->errbuf[end - 1] == '\r' || p->errbuf[end - 1] == ' ')) end--;
  for (; i < end; i++) {
    unsigned char c = (unsigned char)p->errbuf[i];
    line[n++] = c < 0x20 || c >= 0x7f ? '?' : (char)c;
  }
  line[n] = '\0';
  if (n) set_err(r, "exit %d: %s", code, line);
  else set_err(r, "exit %d", code);
}

static int finish(struct spawn_result *r, enum outcome oc, int wstatus, const struct pump *p,
                  double timeout) {
  if (oc == RUN_TIMED_OUT) {
    r->timed_out = true;
    set_err(r, "timed out after %g s", timeout);
  } else if (oc == RUN_LOST) {
    set_err(r, "wait: child reaped elsewhere");
  } else if (oc == RUN_FAILED) {
    char eb[128];
    set_err(r, "poll: %s", strerror_r(errno, eb, sizeof eb));
  } else if (WIFEXITED(wstatus)) {
    r->status = WEXITSTATUS(wstatus);
    if (r->status == 0) return 0;
    describe_exit(r, r->status, p);
  } else if (WIFSIGNALED(wstatus)) {
    set_err(r, "killed by signal %d", WTERMSIG(wstatus));
  } else {
    set_err(r, "wait: status %#x", (unsigned)wstatus);
  }
  return -1;
}

/* Writing to a pipe whose reader is gone raises SIGPIPE in the writing
 * thread; blocked, it stays pending and is taken back before unblocking. */
struct sigpipe_guard {
  sigset_t set, old;
  bool was_pending; /* someone else's SIGPIPE: leave it be */
};

static void sigpipe_block(struct sigpipe_guard *g) {
  sigset_t pending;
  sigemptyset(&g->set);
  sigaddset(&g->set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &g->set, &g->old);
  sigpending(&pending);
  g->was_pending = sigismember(&pending, SIGPIPE);
}

static void sigpipe_restore(struct sigpipe_guard *g, bool raised) {
  static const struct timespec zero = {0, 0};
  if (raised && !g->was_pending)
    while (sigtimedwait(&g->set, NULL, &zero) < 0 && errno == EINTR) {
    }
  pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* Create the three pipes (stdout only when someone reads it), spawn, and
 * keep only the parent's ends. Returns 0 or an errno value. */
static int launch(const char *const *argv, struct pump *p, pid_t *pid, const char **what) {
  int in_p[2] = {-1, -1}, out_p[2] = {-1, -1}, err_p[2] = {-1, -1};
  int rc = 0;
  *what = "pipe";
  if ((p->in && make_pipe(in_p) < 0) || (p->out && make_pipe(out_p) < 0) ||
      make_pipe(err_p) < 0)
    rc = errno;
  if (!rc) {
    int child_fd[3] = {in_p[0], out_p[1], err_p[1]};
    *what = "exec";
    rc = start_child(argv, child_fd, pid);
  }
  close_fd(&in_p[0]);
  close_fd(&out_p[1]);
  close_fd(&err_p[1]);
  p->in_fd = in_p[1];
  p->out_fd = out_p[0];
  p->err_fd = err_p[0];
  if (rc) return rc;
  int *ends[3] = {&p->in_fd, &p->out_fd, &p->err_fd};
  for (int i = 0; i < 3; i++)
    if (*ends[i] >= 0 && set_nonblock(*ends[i]) < 0) close_fd(ends[i]);
  return 0;
}

int spawn_run(const char *const *argv, const void *in, size_t in_len, spawn_out_fn out,
              void *out_arg, double timeout, struct spawn_result *r) {
  *r = (struct spawn_result){.status = -1};
  if (!argv || !argv[0] || argv[0][0] != '/') {
    set_err(r, "exec %.200s: not an absolute path", argv && argv[0] ? argv[0] : "(null)");
    return -1;
  }
  if (!(timeout > 0)) {
    set_err(r, "bad timeout %g", timeout);
    return -1;
  }
  /* posix_spawn reports a failed exec itself, except where it has to fork
   * (valgrind): there the child would only exit 127. Ask first. */
  if (faccessat(AT_FDCWD, argv[0], X_OK, AT_EACCESS) < 0) {
    char eb[128];
    set_err(r, "exec %.200s: %s", argv[0], strerror_r(errno, eb, sizeof eb));
    return -1;
  }
  struct pump p = {.in_fd = -1, .out_fd = -1, .err_fd = -1, .in = in,
                   .in_len = in_len, .out = out, .out_arg = out_arg};
  struct sigpipe_guard guard;
  sigpipe_block(&guard);
  double deadline = now_mono() + timeout;
  pid_t pid = -1;
  const char *what;
  int rc = launch(argv, &p, &pid, &what);
  if (rc) {
    char eb[128];
    set_err(r, "%s %.200s: %s", what, argv[0], strerror_r(rc, eb, sizeof eb));
  } else {
    if (p.in_fd >= 0 && in_len == 0) close_fd(&p.in_fd);
    int wstatus = 0;
    enum outcome oc = pump_loop(&p, pid, deadline, &wstatus);
    if (oc == RUN_TIMED_OUT || oc == RUN_FAILED) {
      int e = errno;
      kill(-pid, SIGKILL); /* the group, before reaping: its id is still ours */
      while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
      }
      errno = e;
    }
    rc = finish(r, oc, wstatus, &p, timeout);
  }
  close_fd(&p.in_fd);
  close_fd(&p.out_fd);
  close_fd(&p.err_fd);
  sigpipe_restore(&guard, p.epipe);
  return rc ? -1 : 0;
}
