/* runner.h - a worker thread for slow effects, off the event loop */
#ifndef MF_RUNNER_H
#define MF_RUNNER_H

#include <stddef.h>

struct event_base;
struct runner;

typedef void (*runner_work_fn)(void *arg); /* on the runner's thread; may block (bounded by its own timeouts) */
typedef void (*runner_done_fn)(void *arg); /* afterwards, on the event-loop thread */

/* Start the thread; base is borrowed until runner_free. NULL on failure. */
struct runner *runner_new(struct event_base *base, const char *name); /* name for logs/stats */
/* Queue a job (FIFO, one at a time per runner). 0, or -1 when stopping / out of memory (then nothing is called). */
int runner_submit(struct runner *r, runner_work_fn work, runner_done_fn done, void *arg)
    __attribute__((warn_unused_result));
size_t runner_pending(struct runner *r);   /* queued + running + completed-but-done-not-yet-called */
void runner_drain(struct runner *r);       /* block until every queued job ran and its done was called */
void runner_free(struct runner *r);        /* run what is queued, call their done callbacks, join; NULL ok */

#endif
