/* floor.h - the serving loop both floor servers share
 *
 * A floor server answers every request with the same bytes and parses
 * only what finding the end of a request needs: the cost floor for any
 * real server of that protocol on the same machine.  A tool gives a
 * struct floor_proto (its framing function and fixed answer) to
 * floor_run().
 */
#ifndef BENCH_FLOOR_H
#define BENCH_FLOOR_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define FLOOR_MAX_LISTENERS 16
#define FLOOR_IN_MAX 65536       /* one request larger than this: close */
#define FLOOR_OUT_MAX (1u << 20) /* answers a client leaves unread: close */

/* The options every floor server has. */
struct floor_opts {
    const char *specs[FLOOR_MAX_LISTENERS];
    unsigned nspecs;
    double lifetime; /* seconds, 0 = until SIGTERM/SIGINT */
    bool quiet;
};

/* Short options of the shared options (floor_parse()); a tool appends its own. */
#define FLOOR_SHORTOPTS "l:T:q"
/* struct option entries of the shared options, for the start of the tool's table. */
#define FLOOR_LONGOPTS                             \
    { "listen", required_argument, 0, 'l' },       \
    { "lifetime", required_argument, 0, 'T' },     \
    { "quiet", no_argument, 0, 'q' }

/* Size of the complete request at buf[0..len): 0 if incomplete, -1 if it
 * cannot be framed.  buf[0..seen) was looked at before and held no end.
 * Sets *close_after when the connection is to close after its answer. */
typedef long floor_frame_fn(const char *buf, size_t len, size_t seen, bool *close_after);

struct floor_proto {
    const char *prog;     /* "dunno_server": starts every message */
    floor_frame_fn *frame;
    const char *reply;    /* the answer to every request (borrowed) */
    size_t reply_len;
};

/* A tool's own option ch: applies it to tool (exits after --help or on a usage error). */
typedef void floor_tool_opt_fn(void *tool, int ch, const char *arg);

/* Parses argv with getopt_long(shortopts, lopts): the shared options into
 * o, the others through tool_opt.  On a usage error (no listener, an
 * operand, past FLOOR_MAX_LISTENERS listeners) prints usage(stderr) or why,
 * and exits 2. */
void floor_parse(struct floor_opts *o, const char *prog, int argc, char **argv,
                 const char *shortopts, const struct option *lopts,
                 floor_tool_opt_fn *tool_opt, void *tool, void (*usage)(FILE *));
/* Serves o's listeners until SIGTERM/SIGINT or the lifetime, then removes
 * its unix sockets; returns the exit status (1 if a listener failed). */
int floor_run(const struct floor_opts *o, const struct floor_proto *p);

#endif
