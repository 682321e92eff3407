/* loadgen_int.h - what loadgen.c and loadgen_conn.c share (not for the tools) */
#ifndef BENCH_LOADGEN_INT_H
#define BENCH_LOADGEN_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "hist.h"
#include "loadgen.h"
#include "report.h"
#include "tally.h"

/* One run: set up by loadgen_run(), read by every thread. */
struct loadgen_run {
    const struct loadgen_opts *o;
    const struct loadgen_proto *p;
    void *ctx;
    _Atomic uint64_t measure_start; /* ns; 0 until all connections are up */
    _Atomic uint64_t deadline;      /* ns; 0 until known */
    _Atomic uint64_t stop_time;     /* ns; set by whoever stops the run first */
    atomic_int stop;
    _Atomic uint64_t measured_done;
    atomic_uint connected_once;
    atomic_uint threads_running;
};

enum loadgen_cstate { C_NEW, C_BACKOFF, C_CONNECTING, C_WAITING, C_SENDING, C_DONE };

struct loadgen_conn {
    int fd;
    enum loadgen_cstate state;
    bool ever_connected;
    void *st;          /* the protocol's state of this connection */
    uint64_t t_sent;   /* ns: request send start, or connect start */
    uint64_t t_retry;
    uint64_t measured; /* measured requests completed on this connection */
    size_t out_len, out_off, in_len;
    char out[LOADGEN_REQ_MAX];
    char in[LOADGEN_REPLY_MAX];
};

/* One worker thread with its own epoll and a slice of the connections. */
struct loadgen_thread {
    pthread_t tid;
    struct loadgen_run *run;
    int ep;
    struct loadgen_conn *conns;
    unsigned nconns, active;
    unsigned next_new; /* first connection not opened yet */
    struct hist hist;
    struct tally tally;
    struct report_errors err;
    uint64_t requests_all; /* completed, warmup included */
    uint64_t requests;     /* completed and measured */
    uint64_t units;        /* completed messages / logins (measured) */
    uint64_t unfinished;   /* measured requests unanswered at the end */
    uint64_t t_end;
};

/* pthread body: drives th's connections until the run ends; returns NULL. */
void *loadgen_conn_thread(void *th);

#endif
