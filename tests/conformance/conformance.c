/* conformance.c - other projects' annotated mail log samples through logline_split + logparse
 *
 * Usage: conformance [-v] [CORPORA_DIR]   (default $MAILFUSE_CORPORA, else
 * ../shared/corpora next to the repository, found from $MAILFUSE_SRCDIR or
 * the working directory). Without the corpora: "1..0 # SKIP", exit 0.
 *
 * Every annotated line of a service mailfuse reads (postfix, dovecot,
 * roundcube, exim) goes through logline_split() and logparse(), and is
 * judged against its annotation:
 *  - a line marked as a failed login must give LE_LOGIN_FAIL with the
 *    annotated client address (and user, where annotated): else "missed";
 *  - a line marked as not one must not give LE_LOGIN_FAIL: else "extra";
 *  - otherwise "agreed".
 * Sources and what counts as "a failed login" in each:
 *  - fail2ban-logs/<filter>: "# failJSON: {match, host, user, time}" before
 *    a line; a line is compared under the filter modes that mean login
 *    failures: the default/"normal" mode for dovecot, roundcube-auth and
 *    exim, "auth" for postfix (its default mode is SMTP rejects). Lines
 *    only under other modes (ddos, rbl, more, aggressive, errors) are
 *    abuse that is not a login and are counted as "not compared". The
 *    annotation's year and Europe/Zurich offset feed the year-less stamps;
 *    the annotated time is also checked (column "ts-differ", informational).
 *  - crowdsec-hub-tests/<test>/expected.jsonl (parser.assert as JSON): the
 *    s01-parse row of the service parser; failed logins are dovecot
 *    "dovecot_login_result: auth_failed", exim "log_type:
 *    exim_failed_auth", postfix rows with "message_failure" (SASL); rows
 *    the parser rejected count as "not a failed login". Tests with only a
 *    scenario.assert: each listed alert event is matched to its line by
 *    time stamp and address; it is a failed login when its metadata says
 *    so (as above) or its scenario is postfix-sasl-bf, not one when it is
 *    a dovecot/exim event of another log_type; other postfix events
 *    ("spam-attempt" covers SASL failures and rejects alike) are skipped.
 *  - wazuh-ruleset-tests/tests/<svc>.ini: "log N pass = line" of rules
 *    9702/9705/9771 (Dovecot auth failed / invalid user) and 87506 (Exim
 *    auth failed) must be LE_LOGIN_FAIL with an address; pass lines of any
 *    other rule must not; "fail" lines of those rules must not.
 * A line an annotation calls a failed login that is not a login at all is
 * listed in disputes[] with the reason, printed, and counted as
 * "disputed" (neither agreed nor missed).
 * Output: TAP, one test per sample file, then a table per service and the
 * corpora services mailfuse does not read. Exit 1 if a compared sample
 * disagrees.
 */
#include <dirent.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/netaddr.h"
#include "sources/logevent.h"
#include "sources/logline.h"

#define CONF_LINES_MAX 4096       /* lines read from one sample file */
#define CONF_PATH_MAX 1024
#define CONF_NOTREAD_MAX 2048     /* bytes of the "not read" list */
#define F2B_TEST_NOW 1124013600   /* fail2ban's frozen clock, 2005-08-14 10:00 UTC */
#define CS_NOW 1750000000         /* any "now" for CrowdSec/Wazuh year-less lines */
#define CS_EVENTS_MAX 256         /* alert events read from one scenario.assert */

enum svc { SVC_POSTFIX, SVC_DOVECOT, SVC_ROUNDCUBE, SVC_EXIM, SVC__N, SVC_NONE = SVC__N };
static const char *const svc_names[SVC__N] = {"postfix", "dovecot", "roundcube", "exim"};

struct tally {
  unsigned lines, agreed, missed, extra, disputed, skipped, ts_bad;
};

struct run {
  const char *root;
  bool verbose;
  int tap_n;
  bool failed;
  struct tally tot[SVC__N];
  char notread[CONF_NOTREAD_MAX];
};

/* What an annotation says about one line. */
struct expect {
  bool fail;         /* a failed login */
  const char *ip;    /* expected client address, NULL: any non-empty */
  const char *user;  /* expected user, NULL: not annotated */
  int64_t ts;        /* expected unix time, when has_ts */
  bool has_ts;
};

/* A whole sample file in memory, split into lines (NUL-terminated in place). */
struct sample {
  char *buf;
  char *line[CONF_LINES_MAX];
  size_t len[CONF_LINES_MAX];
  size_t n;
};

/* ---- small helpers ---- */

/* out = a "/" b; -1 (and out empty) when it does not fit. */
static int path_join(char *out, size_t len, const char *a, const char *b) {
  int n = snprintf(out, len, "%s/%s", a, b);
  if (n < 0 || (size_t)n >= len) {
    out[0] = 0;
    return -1;
  }
  return 0;
}

static bool path_exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
}

static int sample_load(const char *path, struct sample *s) {
  FILE *f = fopen(path, "rb");
  memset(s, 0, sizeof *s);
  if (!f) return -1;
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  s->buf = malloc((size_t)size + 1);
  if (!s->buf || fread(s->buf, 1, (size_t)size, f) != (size_t)size) {
    fclose(f);
    free(s->buf);
    return -1;
  }
  fclose(f);
  s->buf[size] = 0;
  for (char *p = s->buf; *p && s->n < CONF_LINES_MAX;) {
    char *nl = strchr(p, '\n');
    size_t len = nl ? (size_t)(nl - p) : strlen(p);
    if (len && p[len - 1] == '\r') len--;
    p[len] = 0;
    s->line[s->n] = p;
    s->len[s->n++] = len;
    if (!nl) break;
    p = nl + 1;
  }
  return 0;
}

static bool ip_equal(struct strview got, const char *want) {
  struct netaddr a, b;
  if (netaddr_parse(got.p, got.len, &a) == 0 && netaddr_parse(want, strlen(want), &b) == 0)
    return a.family == b.family && memcmp(a.bytes, b.bytes, sizeof a.bytes) == 0;
  return sv_eq(got, want);
}

static void notread_add(struct run *r, const char *name) {
  size_t used = strlen(r->notread);
  if (strstr(r->notread, name)) return;
  snprintf(r->notread + used, sizeof r->notread - used, "%s%s", used ? ", " : "", name);
}

/* Annotations we disagree with on purpose: a line they call a failed login
 * that is not a login at all. Each is printed with its reason and counted
 * as "disputed", not as agreed. */
static const struct dispute {
  const char *where; /* sample name prefix */
  enum svc svc;
  const char *needle; /* text of the line */
  const char *why;
} disputes[] = {
    {"crowdsec/", SVC_EXIM, " rejected RCPT ",
     "CrowdSec's exim-logs parser files an RCPT reject of an unknown recipient under "
     "exim_failed_auth; it is recipient probing on inbound mail, no AUTH took place"},
};

static const struct dispute *disputed(const char *where, enum svc s, const char *line) {
  for (size_t i = 0; i < sizeof disputes / sizeof disputes[0]; i++)
    if (disputes[i].svc == s && strncmp(where, disputes[i].where, strlen(disputes[i].where)) == 0 &&
        strstr(line, disputes[i].needle))
      return &disputes[i];
  return NULL;
}

/* ---- judging one line ---- */

/* Run the pipeline on one line; true when it gives a failed login. */
static bool pipeline(const char *line, size_t len, struct logtime *t, struct logline *ll,
                     struct logev *ev, bool *split_ok) {
  enum logparse_miss miss;
  *split_ok = logline_split(line, len, t, ll) == 0;
  if (!*split_ok) return false;
  return logparse(ll, ev, &miss) == 1 && ev->kind == LE_LOGIN_FAIL;
}

static void show(const char *what, const char *where, size_t lineno, const char *line,
                 const struct logev *ev, bool is_fail) {
  printf("# %s %s:%zu: %s\n", what, where, lineno, line);
  if (is_fail)
    printf("#   got login_fail ip=%.*s user=%.*s service=%.*s\n", (int)ev->ip.len, ev->ip.p,
           (int)ev->user.len, ev->user.p, (int)ev->service.len, ev->service.p);
  else
    printf("#   got %s\n", logev_kind_name(ev->kind));
}

/* Judge one annotated line and count it in t. */
static void judge(struct run *r, enum svc s, struct tally *ta, const char *where,
                  size_t lineno, const char *line, struct logtime *lt, const struct expect *x) {
  struct logline ll;
  struct logev ev;
  bool split_ok;
  memset(&ev, 0, sizeof ev);
  bool is_fail = pipeline(line, strlen(line), lt, &ll, &ev, &split_ok);
  ta->lines++;
  if (x->has_ts && split_ok && ll.ts != x->ts) {
    ta->ts_bad++;
    if (r->verbose) printf("# ts %s:%zu: got %lld want %lld\n", where, lineno, (long long)ll.ts,
                           (long long)x->ts);
  }
  const struct dispute *d = x->fail && !is_fail ? disputed(where, s, line) : NULL;
  if (d) {
    ta->disputed++;
    printf("# disputed %s:%zu: %s\n#   %s\n", where, lineno, line, d->why);
  } else if (x->fail) {
    bool ok = is_fail && ev.ip.len > 0 && (!x->ip || ip_equal(ev.ip, x->ip)) &&
              (!x->user || sv_eq(ev.user, x->user));
    if (ok) ta->agreed++;
    else ta->missed++;
    if (!ok) show(split_ok ? "missed" : "missed (frame)", where, lineno, line, &ev, is_fail);
  } else if (is_fail) {
    ta->extra++;
    show("extra", where, lineno, line, &ev, is_fail);
  } else {
    ta->agreed++;
  }
}

/* One TAP line for a sample file, and its figures into the service total. */
static void report(struct run *r, enum svc s, const char *name, const struct tally *t) {
  bool ok = t->missed == 0 && t->extra == 0;
  struct tally *tot = &r->tot[s];
  printf("%s %d - %s (%s): %u lines, %u agreed, %u missed, %u extra", ok ? "ok" : "not ok",
         ++r->tap_n, name, svc_names[s], t->lines, t->agreed, t->missed, t->extra);
  if (t->disputed) printf(", %u disputed", t->disputed);
  if (t->skipped) printf(", %u not compared", t->skipped);
  if (t->ts_bad) printf(", %u time stamps differ", t->ts_bad);
  printf("\n");
  if (!ok) r->failed = true;
  tot->lines += t->lines;
  tot->agreed += t->agreed;
  tot->missed += t->missed;
  tot->extra += t->extra;
  tot->disputed += t->disputed;
  tot->skipped += t->skipped;
  tot->ts_bad += t->ts_bad;
}

static void skip_sample(struct run *r, const char *name, const char *why) {
  printf("ok %d - %s # SKIP %s\n", ++r->tap_n, name, why);
}

/* ---- fail2ban ---- */

/* Europe/Zurich offset (CET/CEST, EU rules) for a local wall-clock time. */
static int zurich_offset(int64_t local) {
  time_t t = (time_t)(local - 3600);
  struct tm tm;
  gmtime_r(&t, &tm);
  int y = tm.tm_year + 1900;
  struct tm m = {.tm_year = y - 1900, .tm_mon = 2, .tm_mday = 31, .tm_hour = 1};
  time_t mar = timegm(&m);
  struct tm o = {.tm_year = y - 1900, .tm_mon = 9, .tm_mday = 31, .tm_hour = 1};
  time_t oct = timegm(&o);
  gmtime_r(&mar, &m);
  gmtime_r(&oct, &o);
  mar -= (time_t)m.tm_wday * 86400; /* last Sunday, 01:00 UTC */
  oct -= (time_t)o.tm_wday * 86400;
  return t >= mar && t < oct ? 7200 : 3600;
}

/* Read up to max digits at *p into *v; advances *p. 0 or -1. */
static int read_num(const char **p, int max, int *v) {
  int n = 0, val = 0;
  while (n < max && **p >= '0' && **p <= '9') val = val * 10 + (*(*p)++ - '0'), n++;
  *v = val;
  return n ? 0 : -1;
}

/* "2005-03-7T02:09:33[.fff]" (Zurich local) -> unix time, year and offset. */
static int f2b_time(const char *s, int64_t *ts, int *year, int *off) {
  int f[6];
  static const char seps[] = "--T::";
  for (int i = 0; i < 6; i++) {
    if (read_num(&s, i == 0 ? 4 : 2, &f[i]) < 0) return -1;
    if (i < 5 && *s++ != seps[i]) return -1;
  }
  struct tm tm = {.tm_year = f[0] - 1900, .tm_mon = f[1] - 1, .tm_mday = f[2],
                  .tm_hour = f[3], .tm_min = f[4], .tm_sec = f[5]};
  int64_t local = (int64_t)timegm(&tm);
  *off = zurich_offset(local);
  *ts = local - *off;
  *year = f[0];
  return 0;
}

/* The JSON after "#+ ?NAME:" if line is that directive, else NULL. */
static const char *f2b_directive(const char *line, const char *name) {
  const char *p = line;
  if (*p != '#') return NULL;
  while (*p == '#') p++;
  if (*p == ' ') p++;
  size_t n = strlen(name);
  if (strncmp(p, name, n) != 0 || p[n] != ':') return NULL;
  return p + n + 1;
}

/* Whether a filterOptions block tests lines as login failures for s, and journal lines. */
static bool f2b_in_scope(enum svc s, json_t *opts, bool *journal) {
  json_t *one = json_is_array(opts) ? NULL : opts;
  size_t n = json_is_array(opts) ? json_array_size(opts) : 1;
  bool scope = false;
  *journal = false;
  for (size_t i = 0; i < n; i++) {
    json_t *o = one ? one : json_array_get(opts, i);
    const char *mode = json_string_value(json_object_get(o, "mode"));
    const char *lt = json_string_value(json_object_get(o, "logtype"));
    if (lt && strcmp(lt, "journal") == 0) *journal = true;
    if (s == SVC_POSTFIX) scope |= mode && strcmp(mode, "auth") == 0;
    else scope |= !mode || strcmp(mode, "normal") == 0;
  }
  return scope;
}

/* Judge the log line after a failJSON annotation. */
static void f2b_line(struct run *r, enum svc s, struct tally *ta, const char *where,
                     size_t lineno, const char *line, json_t *ann, bool journal) {
  char buf[LOG_LINE_MAX + 64];
  struct expect x = {.fail = json_is_true(json_object_get(ann, "match"))};
  struct logtime lt = {.now = F2B_TEST_NOW};
  const char *tstr = json_string_value(json_object_get(ann, "time"));
  x.ip = json_string_value(json_object_get(ann, "host"));
  x.user = json_string_value(json_object_get(ann, "user"));
  if (tstr && f2b_time(tstr, &x.ts, &lt.year, &lt.tz_offset) == 0) x.has_ts = true;
  if (journal) { /* journal messages have no stamp: give them fail2ban's "now" */
    snprintf(buf, sizeof buf, "Aug 14 12:00:00 %s", line);
    line = buf;
    x.has_ts = false;
  }
  judge(r, s, ta, where, lineno, line, &lt, &x);
}

static void f2b_file(struct run *r, const char *name, enum svc s) {
  char path[CONF_PATH_MAX], where[CONF_PATH_MAX];
  struct sample *sm = malloc(sizeof *sm);
  struct tally ta = {0};
  snprintf(path, sizeof path, "%s/fail2ban-logs/%s", r->root, name);
  snprintf(where, sizeof where, "fail2ban/%s", name);
  if (!sm || sample_load(path, sm) < 0) {
    printf("not ok %d - %s: cannot read %s\n", ++r->tap_n, where, path);
    r->failed = true;
    free(sm);
    return;
  }
  json_t *opts = json_pack("[{}]"), *ann = NULL;
  bool journal = false, scope = f2b_in_scope(s, opts, &journal);
  for (size_t i = 0; i < sm->n; i++) {
    const char *line = sm->line[i], *js;
    if ((js = f2b_directive(line, "filterOptions"))) {
      json_decref(opts);
      opts = json_loads(js, 0, NULL);
      scope = opts && f2b_in_scope(s, opts, &journal);
    } else if ((js = f2b_directive(line, "failJSON"))) {
      json_decref(ann);
      ann = json_loads(js, 0, NULL);
    } else if (line[0] == '#' || line[0] == 0) {
      continue;
    } else if (ann) {
      if (scope) f2b_line(r, s, &ta, where, i + 1, line, ann, journal);
      else ta.skipped++;
      json_decref(ann);
      ann = NULL;
    }
  }
  json_decref(opts);
  json_decref(ann);
  free(sm->buf);
  free(sm);
  report(r, s, where, &ta);
}

static const struct {
  const char *file;
  enum svc svc;
  const char *label; /* for files of services we do not read */
} f2b_files[] = {
    {"postfix", SVC_POSTFIX, NULL},     {"dovecot", SVC_DOVECOT, NULL},
    {"roundcube-auth", SVC_ROUNDCUBE, NULL}, {"exim", SVC_EXIM, NULL},
    {"exim-spam", SVC_NONE, NULL}, /* Exim's spam verdicts: read, but not logins */
    {"assp", SVC_NONE, "assp"},         {"courier-auth", SVC_NONE, "courier"},
    {"courier-smtp", SVC_NONE, "courier"}, {"cyrus-imap", SVC_NONE, "cyrus"},
    {"domino-smtp", SVC_NONE, "domino"}, {"groupoffice", SVC_NONE, "groupoffice"},
    {"horde", SVC_NONE, "horde"},       {"kerio", SVC_NONE, "kerio"},
    {"openwebmail", SVC_NONE, "openwebmail"}, {"oracleims", SVC_NONE, "oracle ims"},
    {"perdition", SVC_NONE, "perdition"}, {"qmail", SVC_NONE, "qmail"},
    {"sendmail-auth", SVC_NONE, "sendmail"}, {"sendmail-reject", SVC_NONE, "sendmail"},
    {"sieve", SVC_NONE, "cyrus timsieved"}, {"sogo-auth", SVC_NONE, "sogo"},
    {"solid-pop3d", SVC_NONE, "solid-pop3d"}, {"squirrelmail", SVC_NONE, "squirrelmail"},
    {"tine20", SVC_NONE, "tine20"},     {"uwimap-auth", SVC_NONE, "uw-imap"},
};

static void run_fail2ban(struct run *r) {
  char name[CONF_PATH_MAX];
  for (size_t i = 0; i < sizeof f2b_files / sizeof f2b_files[0]; i++) {
    snprintf(name, sizeof name, "fail2ban/%s", f2b_files[i].file);
    if (f2b_files[i].svc != SVC_NONE) {
      f2b_file(r, f2b_files[i].file, f2b_files[i].svc);
      continue;
    }
    if (!f2b_files[i].label) {
      skip_sample(r, name, "spam verdicts, not logins: nothing to compare");
      continue;
    }
    skip_sample(r, name, "not read by mailfuse");
    notread_add(r, f2b_files[i].label);
  }
}

/* ---- CrowdSec ---- */

static enum svc cs_service(const char *test) {
  if (strncmp(test, "dovecot", 7) == 0) return SVC_DOVECOT;
  if (strncmp(test, "exim", 4) == 0) return SVC_EXIM;
  if (strncmp(test, "postfix", 7) == 0 || strncmp(test, "postscreen", 10) == 0)
    return SVC_POSTFIX;
  return SVC_NONE;
}

/* "log_file: NAME" from config.yaml into out; 0 or -1. */
static int cs_log_file(const char *dir, char *out, size_t outlen) {
  char path[CONF_PATH_MAX], buf[512];
  if (path_join(path, sizeof path, dir, "config.yaml") < 0) return -1;
  FILE *f = fopen(path, "r");
  int rc = -1;
  while (f && fgets(buf, sizeof buf, f)) {
    if (strncmp(buf, "log_file:", 9) != 0) continue;
    char *v = buf + 9;
    while (*v == ' ') v++;
    v[strcspn(v, "\r\n")] = 0;
    rc = path_join(out, outlen, dir, v);
    break;
  }
  if (f) fclose(f);
  return rc;
}

/* The non-empty lines of the test's log, in order (CrowdSec's event index). */
static void cs_nonempty(struct sample *s) {
  size_t k = 0;
  for (size_t i = 0; i < s->n; i++)
    if (s->len[i]) s->line[k] = s->line[i], s->len[k++] = s->len[i];
  s->n = k;
}

/* Is this s01-parse row a failed login, and with which address and user. */
static bool cs_row_fail(enum svc s, json_t *row, const char **ip, const char **user) {
  json_t *parsed = json_object_get(row, "parsed"), *meta = json_object_get(row, "meta");
  const char *v;
  *ip = json_string_value(json_object_get(meta, "source_ip"));
  *user = NULL;
  if (!json_is_true(json_object_get(row, "success"))) return false;
  switch (s) {
    case SVC_DOVECOT:
      v = json_string_value(json_object_get(meta, "dovecot_login_result"));
      *user = json_string_value(json_object_get(parsed, "dovecot_user"));
      return v && strcmp(v, "auth_failed") == 0;
    case SVC_EXIM:
      v = json_string_value(json_object_get(meta, "log_type"));
      *user = json_string_value(json_object_get(meta, "username"));
      return v && strcmp(v, "exim_failed_auth") == 0;
    case SVC_POSTFIX:
      if (!*ip) *ip = json_string_value(json_object_get(parsed, "remote_addr"));
      return json_object_get(parsed, "message_failure") != NULL;
    default:
      return false;
  }
}

static bool cs_is_service_parser(const char *p) {
  static const char *const names[] = {"crowdsecurity/dovecot-logs", "crowdsecurity/exim-logs",
                                      "crowdsecurity/postfix-logs",
                                      "crowdsecurity/postscreen-logs"};
  for (size_t i = 0; p && i < sizeof names / sizeof names[0]; i++)
    if (strcmp(p, names[i]) == 0) return true;
  return false;
}

/* Judge the lines named by expected.jsonl's s01-parse rows. */
static void cs_expected(struct run *r, enum svc s, const char *where, const char *jsonl,
                        struct sample *log, struct tally *ta) {
  FILE *f = fopen(jsonl, "r");
  static char buf[1 << 16];
  while (f && fgets(buf, sizeof buf, f)) {
    json_t *row = json_loads(buf, 0, NULL);
    const char *stage = json_string_value(json_object_get(row, "stage"));
    json_int_t idx = json_integer_value(json_object_get(row, "idx"));
    if (stage && strcmp(stage, "s01-parse") == 0 &&
        cs_is_service_parser(json_string_value(json_object_get(row, "parser"))) && idx >= 0 &&
        (size_t)idx < log->n) {
      json_t *parsed = json_object_get(row, "parsed");
      const char *msg = json_string_value(json_object_get(parsed, "message"));
      struct expect x = {0};
      struct logtime lt = {.now = CS_NOW};
      x.fail = cs_row_fail(s, row, &x.ip, &x.user);
      if (msg && !strstr(log->line[idx], msg))
        printf("# %s: row %lld does not match line %lld, skipped\n", where, (long long)idx,
               (long long)idx);
      else
        judge(r, s, ta, where, (size_t)idx + 1, log->line[idx], &lt, &x);
    }
    json_decref(row);
  }
  if (f) fclose(f);
}

/* One alert event of a scenario.assert. */
struct cs_event {
  int alert, ev;
  char ip[64], ts[40], user[256], log_type[64];
  bool ts_sliced, auth_failed, bf;
};

/* What an event says about its line: 1 a failed login, 0 not one, -1 nothing. */
static int cs_event_claim(enum svc s, const struct cs_event *ev) {
  if (ev->auth_failed || strcmp(ev->log_type, "exim_failed_auth") == 0) return 1;
  if (s == SVC_POSTFIX) return ev->bf ? 1 : -1; /* "spam-attempt" covers SASL failures too */
  return ev->log_type[0] ? 0 : -1;              /* dovecot/exim parsers mark every failure */
}

/* Value of `== "..."` at the end of an assert line into out. */
static void cs_value(const char *line, char *out, size_t outlen) {
  const char *q = strstr(line, "== \"");
  out[0] = 0;
  if (!q) return;
  q += 4;
  size_t n = strcspn(q, "\"");
  snprintf(out, outlen, "%.*s", (int)n, q);
}

/* Find or add event (alert, ev) in evs. */
static struct cs_event *cs_event_at(struct cs_event *evs, size_t *n, int alert, int ev) {
  for (size_t i = 0; i < *n; i++)
    if (evs[i].alert == alert && evs[i].ev == ev) return &evs[i];
  if (*n >= CS_EVENTS_MAX) return NULL;
  memset(&evs[*n], 0, sizeof evs[*n]);
  evs[*n].alert = alert;
  evs[*n].ev = ev;
  return &evs[(*n)++];
}

/* Read alert events and which scenarios are brute force; returns the count. */
static size_t cs_read_events(const char *path, struct cs_event *evs) {
  char buf[4096], key[64], val[512];
  bool bf[64] = {false};
  size_t n = 0;
  int a, e, end;
  FILE *f = fopen(path, "r");
  while (f && fgets(buf, sizeof buf, f)) {
    cs_value(buf, val, sizeof val);
    end = 0;
    if (sscanf(buf, "results[%d].Overflow.Alert.GetScenario()%n", &a, &end) == 1 && end > 0 &&
        a >= 0 && a < 64) {
      bf[a] = strstr(val, "sasl-bf") != NULL;
      continue;
    }
    if (sscanf(buf, "results[%d].Overflow.Alert.Events[%d].GetMeta(\"%63[^\"]", &a, &e, key) != 3)
      continue;
    struct cs_event *ev = cs_event_at(evs, &n, a, e);
    if (!ev) break;
    if (strcmp(key, "source_ip") == 0) snprintf(ev->ip, sizeof ev->ip, "%s", val);
    if (strcmp(key, "username") == 0) snprintf(ev->user, sizeof ev->user, "%s", val);
    if (strcmp(key, "log_type") == 0) snprintf(ev->log_type, sizeof ev->log_type, "%s", val);
    if (strcmp(key, "dovecot_login_result") == 0) ev->auth_failed = strcmp(val, "auth_failed") == 0;
    if (strcmp(key, "timestamp") == 0) {
      val[strcspn(val, ".Z")] = 0; /* seconds only: "...T01:08:59.76459Z" */
      snprintf(ev->ts, sizeof ev->ts, "%s", val);
      ev->ts_sliced = strstr(buf, "\")[4:]") != NULL;
    }
  }
  if (f) fclose(f);
  for (size_t i = 0; i < n; i++)
    if (evs[i].alert >= 0 && evs[i].alert < 64) evs[i].bf = bf[evs[i].alert];
  return n;
}

/* The line of an event: same time stamp to the second (without the year)
 * and holding its address and user. Events without a time stamp take the
 * next line of their address not taken yet. */
static long cs_event_line(const struct cs_event *ev, struct sample *log, const bool *used) {
  for (size_t i = 0; i < log->n; i++) {
    struct logtime lt = {.now = CS_NOW};
    struct logline ll;
    char ts[40];
    if (logline_split(log->line[i], log->len[i], &lt, &ll) < 0) continue;
    time_t t = (time_t)ll.ts;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    const char *want = ev->ts_sliced ? ev->ts : ev->ts + 4;
    if (ev->ts[0] && (strlen(ev->ts) < 5 || strcmp(ts + 4, want) != 0)) continue;
    if (!ev->ts[0] && used[i]) continue;
    if ((ev->ip[0] && !strstr(log->line[i], ev->ip)) ||
        (ev->user[0] && !strstr(log->line[i], ev->user)))
      continue;
    return (long)i;
  }
  return -1;
}

/* Judge the lines behind the events of a scenario-only test. */
static void cs_scenario(struct run *r, enum svc s, const char *where, const char *path,
                        struct sample *log, struct tally *ta) {
  static struct cs_event evs[CS_EVENTS_MAX];
  bool used[CONF_LINES_MAX] = {false};
  size_t n = cs_read_events(path, evs);
  for (size_t i = 0; i < n; i++) {
    int claim = cs_event_claim(s, &evs[i]);
    if (claim < 0) continue;
    long li = cs_event_line(&evs[i], log, used);
    if (li < 0) {
      printf("# %s: no line for alert %d event %d (%s %s), skipped\n", where, evs[i].alert,
             evs[i].ev, evs[i].ip, evs[i].ts);
      ta->skipped++;
      continue;
    }
    if (used[li]) continue; /* one line in several alerts is judged once */
    used[li] = true;
    struct expect x = {.fail = claim == 1, .ip = evs[i].ip[0] ? evs[i].ip : NULL,
                       .user = evs[i].user[0] ? evs[i].user : NULL};
    struct logtime lt = {.now = CS_NOW};
    judge(r, s, ta, where, (size_t)li + 1, log->line[li], &lt, &x);
  }
}

static void cs_test(struct run *r, const char *test, enum svc s) {
  char dir[CONF_PATH_MAX], logp[CONF_PATH_MAX], p[CONF_PATH_MAX], where[CONF_PATH_MAX];
  struct sample *log = malloc(sizeof *log);
  struct tally ta = {0};
  snprintf(dir, sizeof dir, "%s/crowdsec-hub-tests/%s", r->root, test);
  snprintf(where, sizeof where, "crowdsec/%s", test);
  if (!log || cs_log_file(dir, logp, sizeof logp) < 0 || sample_load(logp, log) < 0) {
    printf("not ok %d - %s: cannot read its log\n", ++r->tap_n, where);
    r->failed = true;
    free(log);
    return;
  }
  cs_nonempty(log);
  path_join(p, sizeof p, dir, "expected.jsonl");
  if (path_exists(p)) {
    cs_expected(r, s, where, p, log, &ta);
  } else {
    path_join(p, sizeof p, dir, "scenario.assert");
    cs_scenario(r, s, where, p, log, &ta);
  }
  free(log->buf);
  free(log);
  if (ta.lines == 0) skip_sample(r, where, "no annotated lines to compare");
  else report(r, s, where, &ta);
}

static int name_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *cs_label(const char *test) {
  static const char *const labels[] = {"amavis", "exchange", "mailcow", "mailscanner",
                                       "mailu", "nginx-mail", "zimbra"};
  for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++)
    if (strncmp(test, labels[i], strlen(labels[i])) == 0) return labels[i];
  return test;
}

static void run_crowdsec(struct run *r) {
  char dir[CONF_PATH_MAX], path[CONF_PATH_MAX + 300], *names[256];
  size_t n = 0;
  snprintf(dir, sizeof dir, "%s/crowdsec-hub-tests", r->root);
  DIR *d = opendir(dir);
  struct dirent *de;
  while (d && n < 256 && (de = readdir(d))) {
    snprintf(path, sizeof path, "%s/%s/config.yaml", dir, de->d_name);
    if (de->d_name[0] != '.' && path_exists(path)) names[n++] = strdup(de->d_name);
  }
  if (d) closedir(d);
  qsort(names, n, sizeof *names, name_cmp);
  for (size_t i = 0; i < n; i++) {
    enum svc s = cs_service(names[i]);
    snprintf(path, sizeof path, "crowdsec/%s", names[i]);
    if (s == SVC_NONE) {
      skip_sample(r, path, "not read by mailfuse");
      notread_add(r, cs_label(names[i]));
    } else {
      cs_test(r, names[i], s);
    }
    free(names[i]);
  }
}

/* ---- Wazuh ---- */

static bool wz_fail_rule(long rule) {
  return rule == 9702 || rule == 9705 || rule == 9771 || rule == 87506;
}

struct wz_case {
  const char *line;
  bool pass;
  size_t lineno;
};

/* Judge one finished [section] of a Wazuh test file. */
static void wz_section(struct run *r, enum svc s, const char *where, const struct wz_case *c,
                       size_t n, long rule, struct tally *ta) {
  for (size_t i = 0; i < n; i++) {
    struct expect x = {.fail = c[i].pass && wz_fail_rule(rule)};
    struct logtime lt = {.now = CS_NOW};
    if (!c[i].pass && !wz_fail_rule(rule)) continue; /* "not rule X": says nothing */
    judge(r, s, ta, where, c[i].lineno, c[i].line, &lt, &x);
  }
}

static void wz_file(struct run *r, const char *file, enum svc s) {
  char path[CONF_PATH_MAX], where[CONF_PATH_MAX];
  struct sample *sm = malloc(sizeof *sm);
  static struct wz_case cases[CONF_LINES_MAX];
  struct tally ta = {0};
  size_t n = 0;
  long rule = 0;
  snprintf(path, sizeof path, "%s/wazuh-ruleset-tests/tests/%s", r->root, file);
  snprintf(where, sizeof where, "wazuh/%s", file);
  if (!sm || sample_load(path, sm) < 0) {
    printf("not ok %d - %s: cannot read %s\n", ++r->tap_n, where, path);
    r->failed = true;
    free(sm);
    return;
  }
  for (size_t i = 0; i <= sm->n; i++) {
    const char *line = i < sm->n ? sm->line[i] : "[";
    char kind[8];
    int num, used = 0;
    if (line[0] == '[') {
      wz_section(r, s, where, cases, n, rule, &ta);
      n = 0;
      rule = 0;
    } else if (sscanf(line, "log %d %7s =%n", &num, kind, &used) == 2 && used > 0) {
      const char *l = line + used;
      while (*l == ' ') l++;
      cases[n++] = (struct wz_case){l, strcmp(kind, "pass") == 0, i + 1};
    } else if (strncmp(line, "rule = ", 7) == 0) {
      rule = strtol(line + 7, NULL, 10);
    }
  }
  free(sm->buf);
  free(sm);
  report(r, s, where, &ta);
}

static void run_wazuh(struct run *r) {
  wz_file(r, "dovecot.ini", SVC_DOVECOT);
  wz_file(r, "exim.ini", SVC_EXIM);
  wz_file(r, "postfix.ini", SVC_POSTFIX);
  skip_sample(r, "wazuh/opensmtpd.ini", "not read by mailfuse");
  notread_add(r, "opensmtpd");
  skip_sample(r, "wazuh/mailscanner.ini", "not read by mailfuse");
}

/* ---- main ---- */

static const char *find_root(int argc, char **argv, char *buf, size_t len) {
  const char *env = getenv("MAILFUSE_CORPORA"), *src = getenv("MAILFUSE_SRCDIR");
  static const char *const rel[] = {"../shared/corpora", "../../shared/corpora",
                                    "../../../shared/corpora"};
  if (argc > 1) return argv[argc - 1];
  if (env && *env) return env;
  if (src && *src) {
    snprintf(buf, len, "%s/../shared/corpora", src);
    return buf;
  }
  for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++)
    if (path_exists(rel[i])) return rel[i];
  return rel[0];
}

static void print_table(const struct run *r) {
  printf("# %-10s %6s %6s %6s %6s %8s %12s %10s\n", "service", "lines", "agreed", "missed",
         "extra", "disputed", "not-compared", "ts-differ");
  for (int s = 0; s < SVC__N; s++) {
    const struct tally *t = &r->tot[s];
    printf("# %-10s %6u %6u %6u %6u %8u %12u %10u\n", svc_names[s], t->lines, t->agreed,
           t->missed, t->extra, t->disputed, t->skipped, t->ts_bad);
  }
  printf("# not read by mailfuse: %s\n", r->notread);
}

int main(int argc, char **argv) {
  char buf[CONF_PATH_MAX], probe[CONF_PATH_MAX];
  struct run r = {0};
  int args = argc;
  if (argc > 1 && strcmp(argv[1], "-v") == 0) r.verbose = true, args = argc - 1, argv++;
  r.root = find_root(args, argv, buf, sizeof buf);
  path_join(probe, sizeof probe, r.root, "fail2ban-logs");
  if (!path_exists(probe)) {
    printf("1..0 # SKIP corpora not found: %s\n", r.root);
    return 0;
  }
  run_fail2ban(&r);
  run_crowdsec(&r);
  run_wazuh(&r);
  printf("1..%d\n", r.tap_n);
  print_table(&r);
  return r.failed ? 1 : 0;
}
