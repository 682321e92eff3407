/* runner.c - a worker thread for slow effects, off the event loop.
 *
 * Containment and alerts run programs and make HTTP requests that take
 * seconds; the loop answering Postfix must not wait for them.  A runner is
 * one thread taking jobs from a FIFO, one at a time (so the effects of one
 * runner happen in the order they were decided).  A finished job moves to
 * a done list and a byte on a pipe wakes the loop, which calls the done
 * callbacks on its own thread (the same scheme as store/writer.c).
 *
 * pending counts a job from submit until its done callback returned.
 * drain and free run on the loop thread, so they call the done callbacks
 * themselves instead of waiting for the loop to do it.
 */
#include "actions/runner.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

#define RUNNER_NAME_MAX 32

struct job {
  runner_work_fn work;
  runner_done_fn done;
  void *arg;
  struct job *next;
};

struct runner {
  char name[RUNNER_NAME_MAX];
  pthread_t th;
  pthread_mutex_t mu;
  pthread_cond_t cv, idle; /* cv: work queued or stop; idle: a job finished or was reaped */
  struct job *queue, **queue_tail;
  struct job *done, **done_tail;
  size_t pending;
  uint64_t jobs;
  bool stop;
  int pipefd[2];
  struct event *ev;
};

static void push(struct job ***tail, struct job *j) {
  j->next = NULL;
  **tail = j;
  *tail = &j->next;
}

static struct job *pop_all(struct job **head, struct job ***tail) {
  struct job *j = *head;
  *head = NULL;
  *tail = head;
  return j;
}

static void *run(void *arg) {
  struct runner *r = arg;
  pthread_mutex_lock(&r->mu);
  for (;;) {
    while (!r->queue && !r->stop) pthread_cond_wait(&r->cv, &r->mu);
    if (!r->queue) break; /* stopping, and nothing left */
    struct job *j = r->queue;
    r->queue = j->next;
    if (!r->queue) r->queue_tail = &r->queue;
    pthread_mutex_unlock(&r->mu);
    if (j->work) j->work(j->arg);
    pthread_mutex_lock(&r->mu);
    r->jobs++;
    push(&r->done_tail, j);
    pthread_cond_broadcast(&r->idle);
    ssize_t wr = write(r->pipefd[1], "x", 1); /* a full pipe already means "wake up" */
    (void)wr;
  }
  pthread_mutex_unlock(&r->mu);
  return NULL;
}

/* Call the done callbacks of finished jobs; on the loop thread. */
static void reap(struct runner *r) {
  pthread_mutex_lock(&r->mu);
  struct job *j = pop_all(&r->done, &r->done_tail);
  pthread_mutex_unlock(&r->mu);
  while (j) {
    struct job *next = j->next;
    if (j->done) j->done(j->arg);
    free(j);
    pthread_mutex_lock(&r->mu);
    r->pending--;
    pthread_cond_broadcast(&r->idle);
    pthread_mutex_unlock(&r->mu);
    j = next;
  }
}

static void on_pipe(evutil_socket_t fd, short what, void *arg) {
  char buf[256];
  while (read(fd, buf, sizeof buf) > 0) {
  }
  reap(arg);
}

/* Undo what runner_new set up; the thread is not running. */
static void destroy(struct runner *r) {
  if (r->ev) event_free(r->ev);
  if (r->pipefd[0] >= 0) close(r->pipefd[0]);
  if (r->pipefd[1] >= 0) close(r->pipefd[1]);
  pthread_mutex_destroy(&r->mu);
  pthread_cond_destroy(&r->cv);
  pthread_cond_destroy(&r->idle);
  free(r);
}

struct runner *runner_new(struct event_base *base, const char *name) {
  struct runner *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  snprintf(r->name, sizeof r->name, "%s", name ? name : "runner");
  r->queue_tail = &r->queue;
  r->done_tail = &r->done;
  r->pipefd[0] = r->pipefd[1] = -1;
  pthread_mutex_init(&r->mu, NULL);
  pthread_cond_init(&r->cv, NULL);
  pthread_cond_init(&r->idle, NULL);
  if (pipe2(r->pipefd, O_NONBLOCK | O_CLOEXEC) < 0) goto fail;
  r->ev = event_new(base, r->pipefd[0], EV_READ | EV_PERSIST, on_pipe, r);
  if (!r->ev || event_add(r->ev, NULL) < 0) goto fail;
  int e = pthread_create(&r->th, NULL, run, r);
  if (e) {
    errno = e;
    goto fail;
  }
  char tname[16]; /* the kernel's limit, with the NUL */
  snprintf(tname, sizeof tname, "mf-%.12s", r->name);
  pthread_setname_np(r->th, tname); /* for top -H and gdb; failure is harmless */
  return r;
fail:
  log_error("runner_start", "name=%s error=\"%s\"", r->name, strerror(errno));
  destroy(r);
  return NULL;
}

int runner_submit(struct runner *r, runner_work_fn work, runner_done_fn done, void *arg) {
  struct job *j = calloc(1, sizeof *j);
  pthread_mutex_lock(&r->mu);
  if (!j || r->stop) {
    pthread_mutex_unlock(&r->mu);
    free(j);
    return -1;
  }
  *j = (struct job){.work = work, .done = done, .arg = arg};
  push(&r->queue_tail, j);
  r->pending++;
  pthread_cond_signal(&r->cv);
  pthread_mutex_unlock(&r->mu);
  return 0;
}

size_t runner_pending(struct runner *r) {
  pthread_mutex_lock(&r->mu);
  size_t n = r->pending;
  pthread_mutex_unlock(&r->mu);
  return n;
}

void runner_drain(struct runner *r) {
  pthread_mutex_lock(&r->mu);
  while (r->pending) {
    if (!r->done) {
      pthread_cond_wait(&r->idle, &r->mu);
      continue;
    }
    pthread_mutex_unlock(&r->mu);
    reap(r);
    pthread_mutex_lock(&r->mu);
  }
  pthread_mutex_unlock(&r->mu);
}

void runner_free(struct runner *r) {
  if (!r) return;
  runner_drain(r); /* done callbacks may still submit follow-up jobs here */
  pthread_mutex_lock(&r->mu);
  r->stop = true;
  pthread_cond_signal(&r->cv);
  pthread_mutex_unlock(&r->mu);
  pthread_join(r->th, NULL); /* runs anything another thread queued meanwhile */
  reap(r);
  log_debug("runner_stop", "name=%s jobs=%llu", r->name, (unsigned long long)r->jobs);
  destroy(r);
}
