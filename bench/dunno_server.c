/* dunno_server.c - the trivial Postfix policy server: every request gets
 * "action=DUNNO".
 *
 * Single thread, epoll, non-blocking, persistent connections, any number
 * of inet and unix listeners.  It parses nothing but the request
 * terminator (an empty line), so it is the floor for the cost of any real
 * policy server on the same machine.
 *
 *   dunno_server -l inet:127.0.0.1:10041 -l unix:/tmp/dunno.sock [--lifetime SEC]
 *
 * SIGTERM/SIGINT (or --lifetime) stop it and remove its unix sockets.
 * The loop, buffers and listeners are floor.c's, shared with
 * auth_floor_server; this file is the framing and the answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "floor.h"

#define PROG "dunno_server"

/* Every empty line ends one request (pipelining is handled too). */
static long request_end(const char *buf, size_t len, size_t seen, bool *close_after)
{
    (void)close_after;
    const char *p = buf + seen, *end = buf + len;
    while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        if (p == buf || p[-1] == '\n')
            return (long)(p - buf) + 1;
        p++;
    }
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: dunno_server -l inet:HOST:PORT|unix:PATH [-l ...] [--lifetime SEC]\n"
               "                    [--action TEXT] [-q]\n"
               "  -l, --listen SPEC    listener (repeatable)\n"
               "      --lifetime SEC   exit by itself after SEC seconds (0 = never; default 0)\n"
               "      --action TEXT    answer action=TEXT instead of DUNNO\n"
               "  -q, --quiet          no messages on stderr\n");
}

/* Applies --action (the tool is the action text) or --help; exits on a usage error. */
static void dunno_opt(void *tool, int ch, const char *arg)
{
    const char **action = tool;
    switch (ch) {
    case 'A': *action = arg; break;
    case 'h': usage(stdout); exit(0);
    default: usage(stderr); exit(2);
    }
}

int main(int argc, char **argv)
{
    static const struct option lopts[] = {
        FLOOR_LONGOPTS,
        { "action", required_argument, 0, 'A' },
        { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 },
    };
    struct floor_opts o = { .nspecs = 0 };
    const char *action = "DUNNO";
    floor_parse(&o, PROG, argc, argv, FLOOR_SHORTOPTS "A:h", lopts, dunno_opt, &action, usage);
    size_t cap = strlen(action) + sizeof "action=\n\n";
    char *reply = malloc(cap);
    if (!reply)
        return 2;
    snprintf(reply, cap, "action=%s\n\n", action);
    struct floor_proto p = { .prog = PROG, .frame = request_end, .reply = reply,
                             .reply_len = strlen(reply) };
    int rc = floor_run(&o, &p);
    free(reply);
    return rc;
}
