/* test_runner.c - the runner: jobs run in FIFO order on its own thread,
 * done callbacks on the loop thread from inside the loop, pending counts
 * until done returned, drain and free call the done callbacks themselves. */
#include "testutil.h"

#include <event2/event.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "actions/runner.h"

#define NJOBS 20

struct rec {
  struct event_base *base;
  struct runner *r;
  pthread_t loop_thread;
  int work_order[NJOBS], nwork;
  pthread_t work_thread[NJOBS];
  int done_order[NJOBS], ndone;
  bool done_on_loop_thread[NJOBS], done_inside_loop[NJOBS], work_ran_before_done[NJOBS];
  bool in_loop;     /* event_base_dispatch is running (set around the call) */
  int break_after;  /* break the loop once this many done callbacks ran */
  int sleep_ms;     /* each work sleeps this long */
  sem_t *gate;      /* job 0's work waits on this when set */
  atomic_int works; /* finished works; the loop thread reads it while later ones run */
};

struct item {
  struct rec *rec;
  int id;
};

static struct item items[NJOBS + 4];

static void work(void *arg) {
  struct item *it = arg;
  struct rec *c = it->rec;
  if (it->id == 0 && c->gate) sem_wait(c->gate);
  if (c->sleep_ms) usleep(c->sleep_ms * 1000);
  c->work_thread[it->id] = pthread_self();
  c->work_order[c->nwork++] = it->id;
  atomic_fetch_add(&c->works, 1);
}

static void done(void *arg) {
  struct item *it = arg;
  struct rec *c = it->rec;
  c->done_on_loop_thread[it->id] = pthread_equal(pthread_self(), c->loop_thread);
  c->done_inside_loop[it->id] = c->in_loop;
  c->work_ran_before_done[it->id] = atomic_load(&c->works) > c->ndone;
  c->done_order[c->ndone++] = it->id;
  if (c->ndone == c->break_after) event_base_loopbreak(c->base);
}

static void on_too_slow(evutil_socket_t fd, short what, void *arg) {
  event_base_loopbreak(arg);
  fail_msg("the loop never saw the done callbacks");
}

/* Run the loop until a done callback breaks it. (libevent 2.1's
 * event_base_get_running_event crashes outside the loop, so the test
 * marks the loop's extent itself.) */
static void dispatch(struct rec *c) {
  c->in_loop = true;
  assert_int_equal(event_base_dispatch(c->base), 0);
  c->in_loop = false;
}

static struct rec *rec_new(void) {
  struct rec *c = calloc(1, sizeof *c);
  assert_non_null(c);
  c->base = event_base_new();
  assert_non_null(c->base);
  c->loop_thread = pthread_self();
  c->r = runner_new(c->base, "test");
  assert_non_null(c->r);
  for (int i = 0; i < NJOBS + 4; i++) items[i] = (struct item){c, i};
  return c;
}

static void rec_free(struct rec *c) {
  runner_free(c->r);
  event_base_free(c->base);
  free(c);
}

static double now_mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_fifo_on_worker_done_on_loop(void **state) {
  struct rec *c = rec_new();
  c->break_after = NJOBS;
  for (int i = 0; i < NJOBS; i++) assert_int_equal(runner_submit(c->r, work, done, &items[i]), 0);
  struct event *guard = evtimer_new(c->base, on_too_slow, c->base);
  struct timeval five = {5, 0};
  evtimer_add(guard, &five);
  dispatch(c);
  event_free(guard);

  assert_int_equal(c->nwork, NJOBS);
  assert_int_equal(c->ndone, NJOBS);
  for (int i = 0; i < NJOBS; i++) {
    assert_int_equal(c->work_order[i], i);
    assert_int_equal(c->done_order[i], i);
    assert_false(pthread_equal(c->work_thread[i], c->loop_thread));
    assert_true(pthread_equal(c->work_thread[i], c->work_thread[0])); /* one thread */
    assert_true(c->done_on_loop_thread[i]);
    assert_true(c->done_inside_loop[i]);
    assert_true(c->work_ran_before_done[i]);
  }
  assert_int_equal(runner_pending(c->r), 0);
  rec_free(c);
}

static void test_pending_counts_until_done(void **state) {
  struct rec *c = rec_new();
  sem_t gate;
  sem_init(&gate, 0, 0);
  c->gate = &gate;
  for (int i = 0; i < 3; i++) assert_int_equal(runner_submit(c->r, work, done, &items[i]), 0);
  assert_int_equal(runner_pending(c->r), 3); /* one running (blocked), two queued */
  sem_post(&gate);
  for (int i = 0; i < 500 && atomic_load(&c->works) < 3; i++) usleep(2000);
  assert_int_equal(atomic_load(&c->works), 3);
  assert_int_equal(runner_pending(c->r), 3); /* finished, but done not called yet */
  assert_int_equal(c->ndone, 0);
  c->break_after = 3;
  dispatch(c);
  assert_int_equal(c->ndone, 3);
  assert_int_equal(runner_pending(c->r), 0);
  sem_destroy(&gate);
  rec_free(c);
}

static void test_drain_waits_and_calls_done(void **state) {
  struct rec *c = rec_new();
  c->sleep_ms = 40;
  for (int i = 0; i < 4; i++) assert_int_equal(runner_submit(c->r, work, done, &items[i]), 0);
  double t0 = now_mono();
  runner_drain(c->r);
  assert_true(now_mono() - t0 >= 0.15);
  assert_int_equal(runner_pending(c->r), 0);
  assert_int_equal(c->ndone, 4);
  for (int i = 0; i < 4; i++) {
    assert_int_equal(c->done_order[i], i);
    assert_true(c->done_on_loop_thread[i]);
    assert_false(c->done_inside_loop[i]); /* drain called it, not the loop */
    assert_true(c->work_ran_before_done[i]);
  }
  runner_drain(c->r); /* nothing pending: returns at once */
  rec_free(c);
}

static void chain_done(void *arg) {
  struct item *it = arg;
  done(arg);
  /* a follow-up effect, decided in done */
  assert_int_equal(runner_submit(it->rec->r, work, done, &items[it->id + 1]), 0);
}

static void test_free_runs_queued_jobs(void **state) {
  struct rec *c = rec_new();
  c->sleep_ms = 20;
  for (int i = 0; i < 5; i++)
    assert_int_equal(runner_submit(c->r, work, i == 4 ? chain_done : done, &items[i]), 0);
  assert_int_equal(runner_submit(c->r, NULL, NULL, NULL), 0); /* both callbacks optional */
  runner_free(c->r); /* with the jobs still queued and the loop never run */
  c->r = NULL;
  assert_int_equal(c->nwork, 6);
  assert_int_equal(c->ndone, 6); /* job 4's done queued job 5, which ran too */
  for (int i = 0; i < 6; i++) assert_int_equal(c->done_order[i], i);
  runner_free(NULL);
  rec_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fifo_on_worker_done_on_loop),
      cmocka_unit_test(test_pending_counts_until_done),
      cmocka_unit_test(test_drain_waits_and_calls_done),
      cmocka_unit_test(test_free_runs_queued_jobs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
