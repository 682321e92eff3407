/* loadgen.h - the engine both load generators share
 *
 * A tool (policy_load, auth_load) fills a struct loadgen_opts from its
 * command line and hands loadgen_run() a const protocol table: how to
 * start a message or login, build the current request, frame and name a
 * reply, move on.  The engine owns the connections, threads, timing,
 * latency histogram and the result line.
 */
#ifndef BENCH_LOADGEN_H
#define BENCH_LOADGEN_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tally.h"
#include "target.h"

#define LOADGEN_REQ_MAX 2048   /* one request, as built */
#define LOADGEN_REPLY_MAX 4096 /* one reply; longer is a bad reply */

/* The options every load generator has, with the same meaning. */
struct loadgen_opts {
    const char *target_spec;
    struct target target;
    unsigned conns, threads, accounts, account_offset, width;
    double duration;     /* seconds measured, 0 = not set */
    double warmup;       /* seconds, after every connection is up */
    double timeout;      /* per request / connect, seconds */
    double connect_wait; /* max seconds to wait for all connections before the warmup */
    unsigned connect_burst; /* connections opened but not yet served, at most (per thread) */
    uint64_t max_requests;  /* measured requests, 0 = unlimited */
    bool json, probe, quiet;
    const char *prefix, *domain, *label;
};

/* getopt codes of the shared long-only options; a tool's own start at LOADGEN_O_TOOL. */
enum {
    LOADGEN_O_OFFSET = 1000, LOADGEN_O_PREFIX, LOADGEN_O_WIDTH, LOADGEN_O_DOMAIN,
    LOADGEN_O_TIMEOUT, LOADGEN_O_CWAIT, LOADGEN_O_CBURST, LOADGEN_O_LABEL, LOADGEN_O_JSON,
    LOADGEN_O_PROBE, LOADGEN_O_TOOL = 1100
};

/* Short options of the shared options (loadgen_parse()); a tool appends its own. */
#define LOADGEN_SHORTOPTS "s:c:t:d:n:w:a:q"
/* struct option entries of the shared options, for the start of the tool's table. */
#define LOADGEN_LONGOPTS                                              \
    { "server", required_argument, 0, 's' },                          \
    { "connections", required_argument, 0, 'c' },                     \
    { "threads", required_argument, 0, 't' },                         \
    { "duration", required_argument, 0, 'd' },                        \
    { "requests", required_argument, 0, 'n' },                        \
    { "warmup", required_argument, 0, 'w' },                          \
    { "accounts", required_argument, 0, 'a' },                        \
    { "quiet", no_argument, 0, 'q' },                                 \
    { "account-offset", required_argument, 0, LOADGEN_O_OFFSET },     \
    { "prefix", required_argument, 0, LOADGEN_O_PREFIX },             \
    { "width", required_argument, 0, LOADGEN_O_WIDTH },               \
    { "domain", required_argument, 0, LOADGEN_O_DOMAIN },             \
    { "timeout", required_argument, 0, LOADGEN_O_TIMEOUT },           \
    { "connect-wait", required_argument, 0, LOADGEN_O_CWAIT },        \
    { "connect-burst", required_argument, 0, LOADGEN_O_CBURST },      \
    { "label", required_argument, 0, LOADGEN_O_LABEL },               \
    { "json", no_argument, 0, LOADGEN_O_JSON },                       \
    { "probe", no_argument, 0, LOADGEN_O_PROBE }

/* What the engine learns from one complete reply. */
struct loadgen_reply {
    char name[TALLY_NAME_MAX]; /* counted under this name */
    bool close_after;          /* the server closes the connection after it */
};

/* One protocol.  ctx is the tool's, st one connection's own state
 * (state_size bytes, zeroed, then init()). */
struct loadgen_proto {
    const char *prog;      /* "policy_load": starts every diagnostic */
    const char *unit;      /* "messages" | "logins": key of completed units */
    const char *tally_key; /* "actions" | "answers" */
    const char *other;     /* tally overflow name, "(OTHER)" | "(other)" */
    const char *reply_noun; /* "a reply" | "an answer", for the warning */
    size_t state_size;
    /* Sets up connection number gidx (0..conns-1). */
    void (*init)(void *ctx, void *st, unsigned gidx);
    /* Starts a new unit unless one is under way; false when the budget is spent. */
    bool (*start)(void *ctx, void *st);
    /* Writes the current request to out[0..cap); returns its length. */
    size_t (*build)(void *ctx, const void *st, char *out, size_t cap);
    /* Frames the reply at in[0..len) (in[len] is NUL): its length, 0 if
     * incomplete, -1 if bad; fills *r when complete. */
    long (*parse)(const char *in, size_t len, struct loadgen_reply *r);
    /* The current request was answered: moves on; true when that ended a unit. */
    bool (*advance)(void *ctx, void *st);
};

/* A tool's own option ch: applies it to tool (exits after --help or on a usage error). */
typedef void loadgen_tool_opt_fn(void *tool, int ch, const char *arg);

/* Sets the shared defaults (16 connections, 1 thread, 100000 accounts ...). */
void loadgen_opts_init(struct loadgen_opts *o);
/* Parses argv with getopt_long(shortopts, lopts): the shared options into
 * o, the others through tool_opt; the target from -s or the one operand.
 * On a usage error prints usage(stderr) and exits 2. */
void loadgen_parse(struct loadgen_opts *o, const char *prog, int argc, char **argv,
                   const char *shortopts, const struct option *lopts,
                   loadgen_tool_opt_fn *tool_opt, void *tool, void (*usage)(FILE *));
/* Clamps threads to conns, sets the default duration unless bounded
 * otherwise, resolves the target: 0, or -1 said on stderr. */
int loadgen_settle(struct loadgen_opts *o, const char *prog, bool bounded);
/* Runs the load and prints the result line with the tool's extra fields;
 * returns the exit status (0 if any request was measured, 1 if none, 2 on
 * a setup failure). */
int loadgen_run(const struct loadgen_opts *o, const struct loadgen_proto *p, void *ctx,
                const char *line_extra, const char *json_extra);

#endif
