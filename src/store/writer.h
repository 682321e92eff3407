/* writer.h - a thread that writes batches to the store, off the event loop */
#ifndef MF_WRITER_H
#define MF_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

struct event_base;
struct writer;

/* Called on the event-loop thread once the batch is durable (rc 0) or
 * failed (rc -1, err set). The writer frees the batch after it returns. */
typedef void (*writer_done_fn)(void *arg, int rc, const char *err, const struct store_batch *b);

/* Start the thread; it owns nothing of st (borrowed until writer_free). */
struct writer *writer_new(struct store *st, struct event_base *base);
/* Stop the thread after the queued batches; runs their callbacks. */
void writer_free(struct writer *w);
/* Queue a batch: its contents move to the writer and *b is zeroed. 0, or
 * -1 if the writer is stopping (the batch is freed, done is not called). */
int writer_submit(struct writer *w, struct store_batch *b, writer_done_fn done, void *arg)
    __attribute__((warn_unused_result));
/* The same for the periodic flush, whose batch is big and built again
 * every second: once written, its buffers are kept for the next flush
 * (writer_reuse) as long as the flushes stay as big. */
int writer_submit_flush(struct writer *w, struct store_batch *b, writer_done_fn done, void *arg)
    __attribute__((warn_unused_result));
/* An empty batch for the next flush, on the kept buffers if there are any. */
void writer_reuse(struct writer *w, struct store_batch *b);
/* Block until every queued batch is written and its callback ran. */
void writer_drain(struct writer *w);
/* Batches waiting or being written. */
size_t writer_pending(struct writer *w);

struct writer_stats {
  struct store_stats store;
  uint64_t batches, ops, errors;
  char last_error[160];
};
void writer_get_stats(struct writer *w, struct writer_stats *out);

#endif
