/* writer.c - the store writer thread.
 *
 * The event loop must never wait on the disk, so every write (counter
 * flushes, suspensions, releases) is queued here and written in order by
 * one thread.  Completions come back through a pipe the loop watches, and
 * the callbacks run on the loop thread: that is how a reply announcing a
 * suspension is sent only after the suspension is on disk, while other
 * clients are served meanwhile.
 */
#include "store/writer.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct job {
  struct store_batch b;
  writer_done_fn done;
  void *arg;
  int rc;
  bool flush; /* a periodic flush: its buffers may be kept */
  char err[160];
  struct job *next;
};

struct writer {
  struct store *st;
  pthread_t th;
  pthread_mutex_t mu;
  pthread_cond_t cv, idle;
  struct job *queue, **queue_tail; /* FIFO */
  struct job *done, **done_tail;
  size_t pending;
  bool stop;
  int pipefd[2];
  struct event *ev;
  struct writer_stats stats;
  struct store_batch spare; /* the last flush's buffers, loop thread only */
};

static void push(struct job **head, struct job ***tail, struct job *j) {
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
  struct writer *w = arg;
  pthread_mutex_lock(&w->mu);
  for (;;) {
    while (!w->queue && !w->stop) pthread_cond_wait(&w->cv, &w->mu);
    if (!w->queue && w->stop) break;
    struct job *j = w->queue;
    w->queue = j->next;
    if (!w->queue) w->queue_tail = &w->queue;
    pthread_mutex_unlock(&w->mu);
    j->rc = store_apply(w->st, &j->b, j->err, sizeof j->err);
    struct store_stats ss;
    int have = store_stats(w->st, &ss) == 0;
    pthread_mutex_lock(&w->mu);
    if (have) w->stats.store = ss;
    w->stats.batches++;
    w->stats.ops += j->b.n;
    if (j->rc < 0) {
      w->stats.errors++;
      memcpy(w->stats.last_error, j->err, sizeof w->stats.last_error);
    }
    push(&w->done, &w->done_tail, j);
    pthread_cond_broadcast(&w->idle);
    ssize_t wr = write(w->pipefd[1], "x", 1); /* a full pipe already means "wake up" */
    (void)wr;
  }
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

/* A flush of 100,000 records fills ~100 MB of fresh memory each second
 * if its buffers are freed and allocated again: every page faults in
 * anew.  So the written flush's buffers are kept for the next one while
 * it filled at least a quarter of them; a smaller flush (the load went
 * down) gives them back. */
static void keep_buffers(struct writer *w, struct store_batch *b) {
  if (b->used * 4 >= b->acap && b->n * 4 >= b->cap) {
    store_batch_clear(&w->spare);
    w->spare = *b;
    memset(b, 0, sizeof *b);
  } else {
    store_batch_clear(&w->spare);
  }
}

void writer_reuse(struct writer *w, struct store_batch *b) {
  *b = w->spare;
  memset(&w->spare, 0, sizeof w->spare);
  b->n = 0;
  b->used = 0;
}

/* Run the callbacks of finished jobs; on the loop thread. */
static void reap(struct writer *w) {
  pthread_mutex_lock(&w->mu);
  struct job *j = pop_all(&w->done, &w->done_tail);
  pthread_mutex_unlock(&w->mu);
  while (j) {
    struct job *next = j->next;
    if (j->done) j->done(j->arg, j->rc, j->err, &j->b);
    if (j->flush) keep_buffers(w, &j->b);
    store_batch_clear(&j->b);
    free(j);
    pthread_mutex_lock(&w->mu);
    w->pending--;
    pthread_cond_broadcast(&w->idle);
    pthread_mutex_unlock(&w->mu);
    j = next;
  }
}

static void on_pipe(evutil_socket_t fd, short what, void *arg) {
  char buf[256];
  while (read(fd, buf, sizeof buf) > 0) {
  }
  reap(arg);
}

struct writer *writer_new(struct store *st, struct event_base *base) {
  struct writer *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->st = st;
  w->queue_tail = &w->queue;
  w->done_tail = &w->done;
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->cv, NULL);
  pthread_cond_init(&w->idle, NULL);
  if (pipe2(w->pipefd, O_NONBLOCK | O_CLOEXEC) < 0) goto fail;
  w->ev = event_new(base, w->pipefd[0], EV_READ | EV_PERSIST, on_pipe, w);
  if (!w->ev || event_add(w->ev, NULL) < 0) goto fail;
  store_stats(st, &w->stats.store);
  if (pthread_create(&w->th, NULL, run, w) != 0) goto fail;
  return w;
fail:
  if (w->ev) event_free(w->ev);
  free(w);
  return NULL;
}

static int submit(struct writer *w, struct store_batch *b, writer_done_fn done, void *arg,
                  bool flush) {
  struct job *j = calloc(1, sizeof *j);
  pthread_mutex_lock(&w->mu);
  if (!j || w->stop) {
    pthread_mutex_unlock(&w->mu);
    free(j);
    store_batch_clear(b);
    return -1;
  }
  j->b = *b;
  memset(b, 0, sizeof *b);
  j->done = done;
  j->arg = arg;
  j->flush = flush;
  push(&w->queue, &w->queue_tail, j);
  w->pending++;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
  return 0;
}

int writer_submit(struct writer *w, struct store_batch *b, writer_done_fn done, void *arg) {
  return submit(w, b, done, arg, false);
}

int writer_submit_flush(struct writer *w, struct store_batch *b, writer_done_fn done, void *arg) {
  return submit(w, b, done, arg, true);
}

void writer_drain(struct writer *w) {
  pthread_mutex_lock(&w->mu);
  while (w->pending) {
    if (!w->done) {
      pthread_cond_wait(&w->idle, &w->mu);
      continue;
    }
    pthread_mutex_unlock(&w->mu);
    reap(w);
    pthread_mutex_lock(&w->mu);
  }
  pthread_mutex_unlock(&w->mu);
}

size_t writer_pending(struct writer *w) {
  pthread_mutex_lock(&w->mu);
  size_t n = w->pending;
  pthread_mutex_unlock(&w->mu);
  return n;
}

void writer_get_stats(struct writer *w, struct writer_stats *out) {
  pthread_mutex_lock(&w->mu);
  *out = w->stats;
  pthread_mutex_unlock(&w->mu);
}

void writer_free(struct writer *w) {
  if (!w) return;
  writer_drain(w);
  pthread_mutex_lock(&w->mu);
  w->stop = true;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
  pthread_join(w->th, NULL);
  reap(w);
  store_batch_clear(&w->spare);
  event_free(w->ev);
  close(w->pipefd[0]);
  close(w->pipefd[1]);
  pthread_mutex_destroy(&w->mu);
  pthread_cond_destroy(&w->cv);
  pthread_cond_destroy(&w->idle);
  free(w);
}
