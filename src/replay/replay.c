/* replay.c - `mailfuse replay [-c FILE] [options] LOG...`
 *
 * Reads plain, gzip and zstd files and stdin, merges them by time (a heap
 * over each file's next line), and feeds every line through the same
 * parsers, log feed and engine as live serving, on a virtual clock taken
 * from the lines' own stamps.  Nothing is written to the live state.
 * Lines that cannot be parsed are counted by kind and can be written out;
 * none is silently dropped.
 */
#include "core/geoip.h"
#include "core/hostnets.h"
#include "replay/replay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/conf.h"
#include "core/numparse.h"
#include "engine/engine.h"
#include "replay/input.h"
#include "replay/replay_run.h"
#include "sources/logfeed.h"
#include "sources/logline.h"

struct opts {
  const char *config, *unparsed, *report, *json, *rcpt_account, *rcpt_file;
  int64_t since, until, as_of;
  int quiet, no_engine;
  char **files;
  int nfiles;
};

struct src {
  struct input *in;
  struct logtime lt;
  const char *line;
  size_t len;
  struct logline ll;
  uint64_t lineno, seq;
  int64_t first_ts; /* of this input: on equal stamps the older file goes first */
  int too_long;
};

static int usage(void) {
  fputs("usage: mailfuse replay [-c FILE] [--since T] [--until T] [--as-of T]\n"
        "         [--unparsed FILE] [--report FILE.html] [--json FILE]\n"
        "         [--recipients ACCOUNT FILE] [-q] LOG...   (LOG may be -, .gz, .zst)\n"
        "  T is YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ; --as-of dates year-less logs\n",
        stderr);
  return 2;
}

/* Options may come before or after the files ("-" alone is stdin). The
 * files are gathered at the front of argv, in order. */
static int parse_opts(int argc, char **argv, struct opts *o) {
  memset(o, 0, sizeof *o);
  int nf = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (a[0] != '-' || !a[1]) {
      argv[nf++] = argv[i];
      continue;
    }
    int more = i + 1 < argc;
    if (!strcmp(a, "-c") && more) o->config = argv[++i];
    else if (!strcmp(a, "--unparsed") && more) o->unparsed = argv[++i];
    else if (!strcmp(a, "--report") && more) o->report = argv[++i];
    else if (!strcmp(a, "--json") && more) o->json = argv[++i];
    else if (!strcmp(a, "-q")) o->quiet = 1;
    else if (!strcmp(a, "--parse-only")) o->no_engine = 1; /* benchmark: frames and parsers only */
    else if (!strcmp(a, "--recipients") && i + 2 < argc) {
      o->rcpt_account = argv[++i];
      o->rcpt_file = argv[++i];
    } else if ((!strcmp(a, "--since") || !strcmp(a, "--until") || !strcmp(a, "--as-of")) && more) {
      int64_t t;
      if (num_parse_date(argv[++i], &t) < 0) {
        fprintf(stderr, "mailfuse replay: %s: '%s' is not YYYY-MM-DD[THH:MM:SSZ]\n", a, argv[i]);
        return -1;
      }
      if (a[2] == 's') o->since = t;
      else if (a[2] == 'u') o->until = t;
      else o->as_of = t;
    } else {
      return -1;
    }
  }
  o->files = argv;
  o->nfiles = nf;
  return o->nfiles > 0 ? 0 : -1;
}

/* Read the next line of s that has a frame; frameless ones are counted. 1, 0 at end, -1 error. */
static int advance(struct src *s, struct replay_run *run, FILE *unp, uint64_t *seq) {
  char err[300];
  for (;;) {
    int rc = input_line(s->in, LOG_LINE_MAX, &s->line, &s->len, &s->too_long, err, sizeof err);
    if (rc <= 0) {
      if (rc < 0) fprintf(stderr, "mailfuse replay: %s\n", err);
      return rc;
    }
    s->lineno++;
    run->lines++;
    if (!s->too_long && logline_split(s->line, s->len, &s->lt, &s->ll) == 0) {
      s->seq = (*seq)++;
      if (!s->first_ts) s->first_ts = s->ll.ts ? s->ll.ts : 1;
      return 1;
    }
    enum logparse_miss m = s->too_long ? LM_TOO_LONG : LM_FRAME;
    run->unparsed[m]++;
    if (unp)
      fprintf(unp, "%s:%llu: %s: %.*s\n", input_name(s->in), (unsigned long long)s->lineno,
              logparse_miss_name(m), (int)s->len, s->line);
  }
}

/* Time order; lines with equal stamps (one-second logs) keep their file's
 * order, and between files the one that began earlier (the rotated, older
 * file) goes first, so that a message's lines split over two files stay in
 * order whatever the order of the files on the command line. */
static int earlier(const struct src *a, const struct src *b) {
  if (a->ll.ts != b->ll.ts) return a->ll.ts < b->ll.ts;
  if (a->ll.usec != b->ll.usec) return a->ll.usec < b->ll.usec;
  if (a != b && a->first_ts != b->first_ts) return a->first_ts < b->first_ts;
  return a->seq < b->seq;
}

static void sift_down(struct src **h, size_t n, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < n && earlier(h[l], h[m])) m = l;
    if (r < n && earlier(h[r], h[m])) m = r;
    if (m == i) return;
    struct src *t = h[i];
    h[i] = h[m];
    h[m] = t;
    i = m;
  }
}

static void handle_line(struct src *s, struct replay_run *run, struct logfeed *feed, FILE *unp) {
  const struct logline *l = &s->ll;
  if ((run->since && l->ts < run->since) || (run->until && l->ts >= run->until)) {
    run->outside++;
    return;
  }
  if (!run->first_ts || l->ts < run->first_ts) run->first_ts = l->ts;
  if (l->ts > run->last_ts) run->last_ts = l->ts;
  struct logev ev;
  enum logparse_miss miss = LM_NONE;
  if (!logparse(l, &ev, &miss)) {
    if (miss == LM_OTHER_PROGRAM) {
      run->not_ours++;
      return;
    }
    run->unparsed[miss]++;
    if (unp)
      fprintf(unp, "%s:%llu: %s: %.*s\n", input_name(s->in), (unsigned long long)s->lineno,
              logparse_miss_name(miss), (int)s->len, s->line);
    return;
  }
  run->parsed++;
  if (ev.kind == LE_NONE) return;
  run->events++;
  if (!feed) return; /* --parse-only */
  if (logfeed_feed(feed, &ev, replay_stats_on_result, run->stats) < 0)
    fprintf(stderr, "mailfuse replay: out of memory at %s:%llu\n", input_name(s->in),
            (unsigned long long)s->lineno);
}

/* The merge loop: always the earliest next line of all inputs. */
static int run_merge(struct src *srcs, int n, struct replay_run *run, struct logfeed *feed, FILE *unp) {
  struct src **heap = calloc((size_t)n, sizeof *heap);
  size_t hn = 0;
  uint64_t seq = 0;
  int failed = 0;
  if (!heap) return -1;
  for (int i = 0; i < n; i++) {
    int rc = advance(&srcs[i], run, unp, &seq);
    if (rc < 0) failed = 1;
    if (rc > 0) heap[hn++] = &srcs[i];
  }
  for (size_t i = hn; i-- > 0;) sift_down(heap, hn, i);
  while (hn) {
    struct src *s = heap[0];
    handle_line(s, run, feed, unp);
    int rc = advance(s, run, unp, &seq);
    if (rc < 0) failed = 1;
    if (rc <= 0) heap[0] = heap[--hn];
    sift_down(heap, hn, 0);
  }
  free(heap);
  return failed ? -1 : 0;
}

static int local_offset(int64_t at) {
  time_t t = (time_t)at;
  struct tm tm;
  localtime_r(&t, &tm);
  return (int)tm.tm_gmtoff;
}

static void write_rcpt(void *arg, const char *addr) { fprintf(arg, "%s\n", addr); }

static int write_outputs(const struct opts *o, struct replay_run *run) {
  int rc = 0;
  if (o->json && replay_report_json(o->json, run) < 0) rc = 1;
  if (o->report && replay_report_html(o->report, run) < 0) rc = 1;
  if (o->rcpt_file) {
    FILE *f = fopen(o->rcpt_file, "w");
    if (!f) {
      perror(o->rcpt_file);
      return 1;
    }
    replay_stats_recipients(run->stats, write_rcpt, f);
    if (fclose(f) != 0) rc = 1;
  }
  return rc;
}

int replay_main(int argc, char **argv) {
  struct opts o;
  if (parse_opts(argc, argv, &o) < 0) return usage();
  char err[512];
  struct conf *c = o.config ? conf_load(o.config, err, sizeof err) : conf_defaults();
  if (!c) {
    fprintf(stderr, "mailfuse replay: %s\n", err);
    return 1;
  }
  if (!o.config) fputs("mailfuse replay: no -c FILE: built-in defaults, which have no limits\n", stderr);
  struct replay_run run = {.config = o.config ? o.config : "(defaults)", .ninputs = o.nfiles,
                           .inputs = o.files, .since = o.since, .until = o.until};
  struct engine *e = engine_new(c);
  struct logfeed *feed = e ? logfeed_new(e, c) : NULL;
  /* the same GeoIP and hosting networks as the daemon: the same verdicts */
  struct hostnets *hn = hostnets_new(c->hosting_networks_file, err, sizeof err);
  struct geoip *geo = NULL;
  if (hn && (c->geoip_city_db[0] || c->geoip_asn_db[0]))
    geo = geoip_open(c->geoip_city_db, c->geoip_asn_db, err, sizeof err);
  if (!hn || ((c->geoip_city_db[0] || c->geoip_asn_db[0]) && !geo)) {
    fprintf(stderr, "mailfuse replay: %s\n", err);
    hostnets_free(hn);
    logfeed_free(feed);
    engine_free(e);
    conf_free(c);
    return 1;
  }
  if (feed) logfeed_set_geo(feed, geo, hn);
  run.stats = replay_stats_new(o.rcpt_account);
  struct src *srcs = calloc((size_t)o.nfiles, sizeof *srcs);
  FILE *unp = o.unparsed ? fopen(o.unparsed, "w") : NULL;
  int status = 0;
  if (!e || !feed || !run.stats || !srcs || (o.unparsed && !unp)) {
    fprintf(stderr, "mailfuse replay: %s\n", o.unparsed && !unp ? "cannot write --unparsed file" : "out of memory");
    status = 1;
  }
  for (int i = 0; !status && i < o.nfiles; i++) {
    if (!(srcs[i].in = input_open(o.files[i], err, sizeof err))) {
      fprintf(stderr, "mailfuse replay: %s\n", err);
      status = 1;
      break;
    }
    int64_t ref = o.as_of ? o.as_of : input_mtime(srcs[i].in);
    int tz = c->log_tz_offset == INT32_MIN ? local_offset(ref) : c->log_tz_offset;
    srcs[i].lt = (struct logtime){0, 0, tz, ref};
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  if (!status && run_merge(srcs, o.nfiles, &run, o.no_engine ? NULL : feed, unp) < 0) status = 1;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  run.seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  for (int i = 0; srcs && i < o.nfiles; i++)
    if (srcs[i].in) {
      run.bytes += input_bytes(srcs[i].in);
      input_close(srcs[i].in);
    }
  if (!status) {
    if (!o.quiet) replay_report_text(stdout, &run);
    status = write_outputs(&o, &run);
  }
  if (unp) fclose(unp);
  free(srcs);
  replay_stats_free(run.stats);
  logfeed_free(feed);
  geoip_free(geo);
  hostnets_free(hn);
  engine_free(e);
  conf_free(c);
  return status;
}
