/* logsource.c - the daemon's live log reading.
 *
 * A timer polls every followed file (tail.c) and the journal (journal.c);
 * each line is framed, parsed and fed to the engine through the same log
 * feed as replay.  Decisions made from logs are logged like policy ones
 * (stage=log:KIND); a suspension is made durable at once.  A log cannot be
 * answered, so throttle and hold from a log line count (they shape what the
 * policy server answers next) and are logged; containment beyond SMTP is
 * the actions' work.  Reading is capped per poll so one busy log never
 * holds the event loop for long.
 */
#include "sources/logsource.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "actions/decision_log.h"
#include "core/log.h"
#include "daemon.h"
#include "sources/journal.h"
#include "sources/logfeed.h"
#include "sources/qlink.h"
#include "sources/tail.h"

#define TAIL_POLL_BYTES (4u << 20)
#define JOURNAL_POLL_ENTRIES 20000

struct lsrc {
  struct logsource *ls;
  struct tail *tail; /* NULL for the journal */
  struct logtime lt;
  struct tail_pos saved;
  char *saved_cursor;
};

struct logsource {
  struct daemon *d;
  struct logfeed *feed;
  struct lsrc *srcs;
  size_t nsrcs;
  struct journal *journal;
  struct lsrc jsrc;
  struct event *timer;
  struct log_rl rl;
  uint64_t lines, events, other, unparsed[LM__N], decisions[ACT__N];
};

static int tz_at(const struct conf *c, int64_t now) {
  if (c->log_tz_offset != INT32_MIN) return c->log_tz_offset;
  time_t t = (time_t)now;
  struct tm tm;
  localtime_r(&t, &tm);
  return (int)tm.tm_gmtoff;
}

static void on_result(void *arg, const struct logfeed_result *r) {
  struct logsource *ls = arg;
  if (!r->fed) return;
  ls->decisions[r->v.action]++;
  char stage[32], sender[320] = "";
  snprintf(stage, sizeof stage, "log:%s", logev_kind_name(r->lev->kind));
  (void)sv_copy(sender, sizeof sender, r->lev->sender);
  struct decision_ctx dc = {r->account, r->client, sender, stage, "", r->nrcpt, r->lev->ts,
                            ls->d->decision_rl, (unsigned)ls->d->conf->decision_log_limit, daemon_now()};
  decision_log(&dc, &r->v, ls->d->conf->shadow);
  char qid[32] = "";
  (void)sv_copy(qid, sizeof qid, r->lev->qid);
  struct event ev = {.kind = r->kind, .account = r->account, .client = r->client,
                     .sender = sender[0] ? sender : NULL};
  char dom[256] = "";
  if (r->lev->rcpt.len) {
    const char *at = memchr(r->lev->rcpt.p, '@', r->lev->rcpt.len);
    if (at) (void)sv_copy_lower(dom, sizeof dom, (struct strview){at + 1, (size_t)(r->lev->rcpt.p + r->lev->rcpt.len - at - 1)});
  }
  ev.rcpt_domain = dom[0] ? dom : NULL;
  daemon_after_verdict(ls->d, &ev, &r->v, qid[0] ? qid : NULL);
  if (r->v.suspended_now) daemon_persist_suspension(ls->d, r->account, NULL, NULL);
}

static void handle(struct logsource *ls, const struct logline *l) {
  struct logev ev;
  enum logparse_miss miss = LM_NONE;
  if (!logparse(l, &ev, &miss)) {
    if (miss == LM_OTHER_PROGRAM) {
      ls->other++;
      return;
    }
    ls->unparsed[miss]++;
    if (log_rl_allow(&ls->rl, daemon_now(), "log_unparsed")) {
      char esc[LOG_ESC_MAX];
      log_debug("log_unparsed", "kind=%s line=%s", logparse_miss_name(miss),
                log_esc(esc, sizeof esc, l->msg.p, l->msg.len));
    }
    return;
  }
  if (ev.kind == LE_NONE) return;
  ls->events++;
  if (logfeed_feed(ls->feed, &ev, on_result, ls) < 0) ls->d->stats.errors[SE_INTERNAL]++;
}

static void on_line(void *arg, const char *line, size_t len, bool too_long) {
  struct lsrc *s = arg;
  struct logsource *ls = s->ls;
  ls->lines++;
  struct logline l;
  if (too_long) ls->unparsed[LM_TOO_LONG]++;
  else if (logline_split(line, len, &s->lt, &l) < 0) ls->unparsed[LM_FRAME]++;
  else handle(ls, &l);
}

static void on_journal(void *arg, const struct logline *l) {
  struct logsource *ls = arg;
  ls->lines++;
  handle(ls, l);
}

static void on_timer(evutil_socket_t fd, short what, void *arg) {
  struct logsource *ls = arg;
  if (ls->d->collecting) return; /* a flush is being sliced: positions must match its counters */
  int64_t now = daemon_now();
  for (size_t i = 0; i < ls->nsrcs; i++) {
    struct lsrc *s = &ls->srcs[i];
    s->lt.now = now;
    s->lt.tz_offset = tz_at(ls->d->conf, now);
    if (tail_poll(s->tail, TAIL_POLL_BYTES, on_line, s) < 0 &&
        log_rl_allow(&ls->rl, now, "tail"))
      log_warn("tail_error", "file=%s", tail_path(s->tail));
  }
  if (ls->journal && journal_poll(ls->journal, JOURNAL_POLL_ENTRIES, on_journal, ls) < 0 &&
      log_rl_allow(&ls->rl, now, "journal"))
    log_warn("journal_error", "what=read");
}

struct pos_ctx {
  struct logsource *ls;
};

/* Saved positions: "tail:PATH" -> "dev ino off", "journal" -> cursor. */
static int load_pos(void *arg, const char *key, size_t klen, const void *val, size_t vlen) {
  struct logsource *ls = arg;
  char v[512];
  if (vlen >= sizeof v) return 0;
  memcpy(v, val, vlen);
  v[vlen] = 0;
  if (klen > 2 && klen < 64 && !memcmp(key, "q:", 2)) { /* a queue id in flight */
    char qid[64];
    memcpy(qid, key + 2, klen - 2);
    qid[klen - 2] = 0;
    (void)logfeed_restore(ls->feed, qid, v);
    return 0;
  }
  if (klen == 7 && !memcmp(key, "journal", 7)) {
    free(ls->jsrc.saved_cursor);
    ls->jsrc.saved_cursor = strdup(v);
    return 0;
  }
  for (size_t i = 0; i < ls->nsrcs; i++) {
    const char *p = ls->d->conf->log_files[i];
    if (klen == strlen(p) + 5 && !memcmp(key, "tail:", 5) && !memcmp(key + 5, p, klen - 5)) {
      unsigned long long dev, ino, off;
      if (sscanf(v, "%llu %llu %llu", &dev, &ino, &off) == 3)
        ls->srcs[i].saved = (struct tail_pos){dev, ino, off};
    }
  }
  return 0;
}

struct logsource *logsource_new(struct daemon *d, char *err, size_t errlen) {
  const struct conf *c = d->conf;
  struct logsource *ls = calloc(1, sizeof *ls);
  if (!ls || !(ls->feed = logfeed_new(d->engine, c)) ||
      !(ls->srcs = calloc(c->nlog_files + 1, sizeof *ls->srcs))) {
    snprintf(err, errlen, "out of memory");
    logsource_free(ls);
    return NULL;
  }
  ls->d = d;
  ls->nsrcs = c->nlog_files;
  if (store_scan(d->store, ST_META, load_pos, ls) < 0) {
    snprintf(err, errlen, "cannot read saved log positions");
    logsource_free(ls);
    return NULL;
  }
  bool from_end = strcmp(c->tail_from, "end") == 0;
  for (size_t i = 0; i < ls->nsrcs; i++) {
    struct lsrc *s = &ls->srcs[i];
    s->ls = ls;
    bool have = s->saved.ino != 0;
    if (!(s->tail = tail_new(c->log_files[i], have ? &s->saved : NULL, from_end))) {
      snprintf(err, errlen, "out of memory");
      logsource_free(ls);
      return NULL;
    }
    s->saved = tail_position(s->tail);
    if (tail_missing(s->tail)) log_warn("tail", "file=%s note=missing_waiting_for_it", c->log_files[i]);
  }
  if (c->journal &&
      !(ls->journal = journal_open(c->journal_directory, ls->jsrc.saved_cursor, from_end, err, errlen))) {
    logsource_free(ls);
    return NULL;
  }
  double s = c->tail_interval;
  struct timeval tv = {(time_t)s, (suseconds_t)((s - (double)(time_t)s) * 1e6)};
  if (!(ls->timer = event_new(d->base, -1, EV_PERSIST, on_timer, ls)) || event_add(ls->timer, &tv) < 0) {
    snprintf(err, errlen, "cannot start the log timer");
    logsource_free(ls);
    return NULL;
  }
  return ls;
}

void logsource_free(struct logsource *ls) {
  if (!ls) return;
  if (ls->timer) event_free(ls->timer);
  for (size_t i = 0; ls->srcs && i < ls->nsrcs; i++) tail_free(ls->srcs[i].tail);
  free(ls->srcs);
  journal_close(ls->journal);
  free(ls->jsrc.saved_cursor);
  logfeed_free(ls->feed);
  free(ls);
}

struct qctx {
  struct store_batch *b;
  int failed;
};

static void save_qid(void *arg, const char *qid, const struct qlink_entry *e) {
  struct qctx *x = arg;
  char key[64], val[512];
  int kl = snprintf(key, sizeof key, "q:%s", qid), vl = e ? qlink_encode(e, val, sizeof val) : 0;
  if (kl < 0 || (size_t)kl >= sizeof key || vl < 0 ||
      store_batch_add(x->b, ST_META, key, (size_t)kl, e ? val : NULL, (size_t)vl) < 0)
    x->failed = 1;
}

int logsource_collect(struct logsource *ls, struct store_batch *b) {
  char key[4200], val[96];
  struct qctx qx = {b, 0};
  if (logsource_active(ls)) logfeed_collect(ls->feed, save_qid, &qx);
  if (qx.failed) return -1;
  for (size_t i = 0; i < ls->nsrcs; i++) {
    struct lsrc *s = &ls->srcs[i];
    struct tail_pos p = tail_position(s->tail);
    if (p.dev == s->saved.dev && p.ino == s->saved.ino && p.off == s->saved.off) continue;
    int kl = snprintf(key, sizeof key, "tail:%s", tail_path(s->tail));
    int vl = snprintf(val, sizeof val, "%llu %llu %llu", (unsigned long long)p.dev,
                      (unsigned long long)p.ino, (unsigned long long)p.off);
    if (kl < 0 || (size_t)kl >= sizeof key || store_batch_add(b, ST_META, key, (size_t)kl, val, (size_t)vl) < 0)
      return -1;
    s->saved = p;
  }
  const char *cur = ls->journal ? journal_cursor(ls->journal) : NULL;
  if (cur && (!ls->jsrc.saved_cursor || strcmp(cur, ls->jsrc.saved_cursor))) {
    if (store_batch_add(b, ST_META, "journal", 7, cur, strlen(cur)) < 0) return -1;
    free(ls->jsrc.saved_cursor);
    ls->jsrc.saved_cursor = strdup(cur);
  }
  return 0;
}

struct logfeed *logsource_feed(struct logsource *ls) { return ls ? ls->feed : NULL; }

int logsource_active(const struct logsource *ls) { return ls && (ls->nsrcs || ls->journal); }

json_t *logsource_status(const struct logsource *ls) {
  json_t *files = json_array(), *unp = json_object(), *dec = json_object();
  for (size_t i = 0; i < ls->nsrcs; i++) {
    struct tail_pos p = tail_position(ls->srcs[i].tail);
    json_array_append_new(files, json_pack("{s:s,s:b,s:I}", "path", tail_path(ls->srcs[i].tail),
                                           "missing", tail_missing(ls->srcs[i].tail), "offset",
                                           (json_int_t)p.off));
  }
  for (int m = LM_FRAME; m < LM__N; m++)
    if (m != LM_OTHER_PROGRAM)
      json_object_set_new(unp, logparse_miss_name((enum logparse_miss)m), json_integer((json_int_t)ls->unparsed[m]));
  for (int a = 0; a < ACT__N; a++)
    json_object_set_new(dec, conf_action_name((enum action)a), json_integer((json_int_t)ls->decisions[a]));
  return json_pack("{s:I,s:I,s:I,s:o,s:o,s:o,s:b,s:I}", "lines", (json_int_t)ls->lines, "events",
                   (json_int_t)ls->events, "other_programs", (json_int_t)ls->other, "unparsed", unp,
                   "decisions", dec, "files", files, "journal", ls->journal != NULL, "queue_ids",
                   (json_int_t)logfeed_pending(ls->feed));
}
