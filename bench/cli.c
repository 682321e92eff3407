/* cli.c - numbers from the command line of the benchmark tools
 *
 * Whole-string parses only ("10x", "" and "-1" are refused).  Called at
 * start-up, so a bad value ends the process with status 2, like a usage
 * error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

uint64_t cli_u64(const char *prog, const char *s, const char *what)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno || s[0] == '-') {
        fprintf(stderr, "%s: bad %s: %s\n", prog, what, s);
        exit(2);
    }
    return v;
}

double cli_double(const char *prog, const char *s, const char *what)
{
    char *end;
    double v = strtod(s, &end);
    if (*s == '\0' || *end != '\0' || v < 0) {
        fprintf(stderr, "%s: bad %s: %s\n", prog, what, s);
        exit(2);
    }
    return v;
}
