/* loadgen.c - the engine both load generators share: options, threads, the run
 *
 * loadgen_run() splits the connections over the threads (loadgen_conn.c
 * drives them), then coordinates from the calling thread: the warmup
 * starts once every connection has been served once (or after
 * --connect-wait), the measured window after the warmup, and the run ends
 * at the deadline or after --requests.  It then merges the threads'
 * counts and prints the one result line (report.c).  Every run is
 * bounded: a duration is set unless the tool has another bound.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "clock.h"
#include "loadgen_int.h"

void loadgen_opts_init(struct loadgen_opts *o)
{
    memset(o, 0, sizeof *o);
    o->conns = 16;
    o->threads = 1;
    o->accounts = 100000;
    o->width = 6;
    o->warmup = 1.0;
    o->timeout = 10.0;
    o->connect_wait = 10.0;
    o->connect_burst = 4;
    o->prefix = "user";
    o->domain = "example.edu";
}

static unsigned u(const char *prog, const char *s, const char *what)
{
    return (unsigned)cli_u64(prog, s, what);
}

/* Applies a shared option: 1 if ch was one (bad values exit 2), 0 if not. */
static int shared_opt(struct loadgen_opts *o, const char *prog, int ch, const char *arg)
{
    switch (ch) {
    case 's': o->target_spec = arg; break;
    case 'c': o->conns = u(prog, arg, "connections"); break;
    case 't': o->threads = u(prog, arg, "threads"); break;
    case 'd': o->duration = cli_double(prog, arg, "duration"); break;
    case 'n': o->max_requests = cli_u64(prog, arg, "requests"); break;
    case 'w': o->warmup = cli_double(prog, arg, "warmup"); break;
    case 'a': o->accounts = u(prog, arg, "accounts"); break;
    case 'q': o->quiet = true; break;
    case LOADGEN_O_OFFSET: o->account_offset = u(prog, arg, "account offset"); break;
    case LOADGEN_O_PREFIX: o->prefix = arg; break;
    case LOADGEN_O_WIDTH: o->width = u(prog, arg, "width"); break;
    case LOADGEN_O_DOMAIN: o->domain = arg; break;
    case LOADGEN_O_TIMEOUT: o->timeout = cli_double(prog, arg, "timeout"); break;
    case LOADGEN_O_CWAIT: o->connect_wait = cli_double(prog, arg, "connect wait"); break;
    case LOADGEN_O_CBURST: o->connect_burst = u(prog, arg, "connect burst"); break;
    case LOADGEN_O_LABEL: o->label = arg; break;
    case LOADGEN_O_JSON: o->json = true; break;
    case LOADGEN_O_PROBE: o->probe = true; break;
    default: return 0;
    }
    return 1;
}

void loadgen_parse(struct loadgen_opts *o, const char *prog, int argc, char **argv,
                   const char *shortopts, const struct option *lopts,
                   loadgen_tool_opt_fn *tool_opt, void *tool, void (*usage)(FILE *))
{
    int ch;
    while ((ch = getopt_long(argc, argv, shortopts, lopts, NULL)) != -1) {
        if (!shared_opt(o, prog, ch, optarg))
            tool_opt(tool, ch, optarg);
    }
    if (!o->target_spec && optind < argc)
        o->target_spec = argv[optind++];
    if (!o->target_spec || optind != argc) {
        usage(stderr);
        exit(2);
    }
}

int loadgen_settle(struct loadgen_opts *o, const char *prog, bool bounded)
{
    if (o->threads > o->conns)
        o->threads = o->conns;
    if (o->duration == 0 && o->max_requests == 0 && !bounded)
        o->duration = 10;
    return target_parse(&o->target, prog, o->target_spec);
}

/* Warmup starts when every connection is up (or after --connect-wait),
 * the measured window after the warmup.  Returns once every thread has
 * ended, with how many connections were up when the warmup started. */
static unsigned coordinate(struct loadgen_run *r, uint64_t t_start)
{
    const struct loadgen_opts *o = r->o;
    uint64_t cwait = (uint64_t)(o->connect_wait * (double)NS_PER_S);
    bool started = false;
    unsigned up = 0;
    while (atomic_load(&r->threads_running) > 0) {
        uint64_t now = clock_ns();
        if (!started) {
            up = atomic_load(&r->connected_once);
            if (up >= o->conns || now - t_start >= cwait) {
                started = true;
                uint64_t ms = now + (uint64_t)(o->warmup * (double)NS_PER_S);
                if (ms == 0)
                    ms = 1;
                if (o->duration > 0)
                    atomic_store(&r->deadline, ms + (uint64_t)(o->duration * (double)NS_PER_S));
                atomic_store(&r->measure_start, ms);
            }
        }
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    return started ? up : atomic_load(&r->connected_once);
}

static void add_errors(struct report_errors *dst, const struct report_errors *src)
{
    dst->connect += src->connect;
    dst->closed += src->closed;
    dst->timeout += src->timeout;
    dst->bad_reply += src->bad_reply;
    dst->io += src->io;
}

/* Merges the threads' counts into rep (hist and tally: caller's, zeroed). */
static void sum_up(struct loadgen_run *r, struct loadgen_thread *ths, struct loadgen_conn *conns,
                   struct report *rep, struct hist *h, struct tally *t)
{
    uint64_t t_end = 0;
    rep->conn_min = UINT64_MAX;
    for (unsigned i = 0; i < r->o->conns; i++) {
        if (conns[i].measured < rep->conn_min)
            rep->conn_min = conns[i].measured;
        if (conns[i].measured > rep->conn_max)
            rep->conn_max = conns[i].measured;
    }
    for (unsigned i = 0; i < r->o->threads; i++) {
        struct loadgen_thread *th = &ths[i];
        hist_merge(h, &th->hist);
        tally_merge(t, &th->tally);
        add_errors(&rep->err, &th->err);
        rep->requests += th->requests;
        rep->requests_all += th->requests_all;
        rep->units += th->units;
        rep->unfinished += th->unfinished;
        if (th->t_end > t_end)
            t_end = th->t_end;
    }
    uint64_t ms = atomic_load(&r->measure_start), dl = atomic_load(&r->deadline);
    uint64_t st = atomic_load(&r->stop_time);
    if (st && st < t_end)
        t_end = st;
    if (dl && dl < t_end)
        t_end = dl;
    rep->secs = (ms && t_end > ms) ? (double)(t_end - ms) / (double)NS_PER_S : 0;
    rep->rps = rep->secs > 0 ? (double)rep->requests / rep->secs : 0;
    rep->hist = h;
    rep->tally = t;
}

/* Gives each thread its slice of the connections and starts it.  A
 * failure exits 2: the threads already started still use the memory. */
static void start_threads(struct loadgen_run *r, struct loadgen_thread *ths,
                         struct loadgen_conn *conns)
{
    const struct loadgen_opts *o = r->o;
    unsigned per = o->conns / o->threads, extra = o->conns % o->threads, next = 0;
    atomic_store(&r->threads_running, o->threads);
    for (unsigned i = 0; i < o->threads; i++) {
        ths[i].run = r;
        ths[i].conns = conns + next;
        ths[i].nconns = per + (i < extra ? 1 : 0);
        next += ths[i].nconns;
        if (pthread_create(&ths[i].tid, NULL, loadgen_conn_thread, &ths[i]) != 0) {
            fprintf(stderr, "%s: pthread_create failed\n", r->p->prog);
            exit(2);
        }
    }
}

static void report(const struct loadgen_run *r, struct report *rep, unsigned up,
                   const char *line_extra, const char *json_extra)
{
    const struct loadgen_opts *o = r->o;
    rep->label = o->label;
    rep->target = o->target_spec;
    rep->conns = o->conns;
    rep->up = up;
    rep->threads = o->threads;
    rep->accounts = o->accounts;
    rep->line_extra = line_extra;
    rep->json_extra = json_extra;
    rep->unit = r->p->unit;
    rep->tally_key = r->p->tally_key;
    rep->other = r->p->other;
    if (up < o->conns && !o->quiet)
        fprintf(stderr, "%s: only %u of %u connections had %s after %.1fs\n", r->p->prog, up,
                o->conns, r->p->reply_noun, o->connect_wait);
    if (o->json)
        report_json(rep);
    else
        report_line(rep);
}

int loadgen_run(const struct loadgen_opts *o, const struct loadgen_proto *p, void *ctx,
                const char *line_extra, const char *json_extra)
{
    struct loadgen_run r = { .o = o, .p = p, .ctx = ctx };
    size_t ssize = (p->state_size + 15) & ~(size_t)15;
    struct loadgen_thread *ths = calloc(o->threads, sizeof *ths);
    struct loadgen_conn *conns = calloc(o->conns, sizeof *conns);
    char *states = calloc(o->conns, ssize ? ssize : 1);
    struct hist *h = calloc(1, sizeof *h);
    struct tally *t = calloc(1, sizeof *t);
    int rc = 2;
    if (!ths || !conns || !states || !h || !t) {
        fprintf(stderr, "%s: out of memory\n", p->prog);
        goto out;
    }
    for (unsigned i = 0; i < o->conns; i++) {
        conns[i].fd = -1;
        conns[i].st = states + (size_t)i * ssize;
        p->init(ctx, conns[i].st, i);
    }
    uint64_t t_start = clock_ns();
    start_threads(&r, ths, conns);
    unsigned up = coordinate(&r, t_start);
    for (unsigned i = 0; i < o->threads; i++)
        pthread_join(ths[i].tid, NULL);
    struct report rep = { .requests = 0 };
    sum_up(&r, ths, conns, &rep, h, t);
    report(&r, &rep, up, line_extra, json_extra);
    rc = rep.requests > 0 ? 0 : 1;
out:
    free(t);
    free(h);
    free(states);
    free(conns);
    free(ths);
    return rc;
}
