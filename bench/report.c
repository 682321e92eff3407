/* report.c - the result line (key=value or JSON) of the load generators
 *
 * Both tools print the same keys in the same order, with their own few
 * fields (line_extra, json_extra) spliced in after accounts.  The run
 * scripts and bench/RESULTS.md depend on these exact keys: add, never
 * rename.  Latencies are printed in microseconds.
 */
#include <inttypes.h>
#include <stdio.h>

#include "report.h"

static uint64_t errors_total(const struct report_errors *e)
{
    return e->connect + e->closed + e->timeout + e->bad_reply + e->io;
}

static double us(double ns)
{
    return ns / 1e3;
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", *s);
        else
            putchar(*s);
    }
    putchar('"');
}

void report_line(const struct report *r)
{
    const struct hist *h = r->hist;
    const struct tally *t = r->tally;
    if (r->label)
        printf("label=%s ", r->label);
    printf("target=%s conns=%u up=%u threads=%u accounts=%u%s secs=%.2f requests=%" PRIu64
           " %s=%" PRIu64 " rps=%.1f p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f"
           " max_us=%.1f mean_us=%.1f unfinished=%" PRIu64 " conn_min=%" PRIu64
           " conn_max=%" PRIu64 " errors=%" PRIu64 " err_connect=%" PRIu64 " err_closed=%" PRIu64
           " err_timeout=%" PRIu64 " err_bad_reply=%" PRIu64 " err_io=%" PRIu64 " %s=",
           r->target, r->conns, r->up, r->threads, r->accounts, r->line_extra, r->secs,
           r->requests, r->unit, r->units, r->rps, us(hist_quantile(h, 0.5)),
           us(hist_quantile(h, 0.9)), us(hist_quantile(h, 0.99)), us(hist_quantile(h, 0.999)),
           us((double)h->max), us(hist_mean(h)), r->unfinished, r->conn_min, r->conn_max,
           errors_total(&r->err), r->err.connect, r->err.closed, r->err.timeout,
           r->err.bad_reply, r->err.io, r->tally_key);
    for (unsigned j = 0; j < t->n; j++)
        printf("%s%s:%" PRIu64, j ? "," : "", t->a[j].name, t->a[j].n);
    if (t->other)
        printf("%s%s:%" PRIu64, t->n ? "," : "", r->other, t->other);
    if (t->n == 0 && t->other == 0)
        printf("-");
    printf("\n");
}

static void json_head(const struct report *r)
{
    printf("{");
    if (r->label) {
        printf("\"label\":");
        json_str(r->label);
        printf(",");
    }
    printf("\"target\":");
    json_str(r->target);
}

void report_json(const struct report *r)
{
    const struct hist *h = r->hist;
    const struct tally *t = r->tally;
    json_head(r);
    printf(",\"connections\":%u,\"connections_up\":%u,\"threads\":%u,\"accounts\":%u,%s"
           "\"seconds\":%.3f,\"requests\":%" PRIu64 ",\"requests_all\":%" PRIu64 ",\"%s\":%" PRIu64
           ",\"rps\":%.1f,\"latency_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p99.9\":%.1f,"
           "\"max\":%.1f,\"mean\":%.1f},\"unfinished\":%" PRIu64 ","
           "\"per_connection\":{\"min\":%" PRIu64 ",\"max\":%" PRIu64 "},",
           r->conns, r->up, r->threads, r->accounts, r->json_extra, r->secs, r->requests,
           r->requests_all, r->unit, r->units, r->rps, us(hist_quantile(h, 0.5)),
           us(hist_quantile(h, 0.9)), us(hist_quantile(h, 0.99)), us(hist_quantile(h, 0.999)),
           us((double)h->max), us(hist_mean(h)), r->unfinished, r->conn_min, r->conn_max);
    printf("\"errors\":{\"total\":%" PRIu64 ",\"connect\":%" PRIu64 ",\"closed\":%" PRIu64
           ",\"timeout\":%" PRIu64 ",\"bad_reply\":%" PRIu64 ",\"io\":%" PRIu64 "},\"%s\":{",
           errors_total(&r->err), r->err.connect, r->err.closed, r->err.timeout,
           r->err.bad_reply, r->err.io, r->tally_key);
    for (unsigned j = 0; j < t->n; j++) {
        printf("%s", j ? "," : "");
        json_str(t->a[j].name);
        printf(":%" PRIu64, t->a[j].n);
    }
    if (t->other)
        printf("%s\"%s\":%" PRIu64, t->n ? "," : "", r->other, t->other);
    printf("}}\n");
}
