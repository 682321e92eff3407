/* contain.c - incidents and the effects of containment (see contain.h).
 *
 * An incident opens on the first hold or suspension of an account and stays
 * open until a person releases it. Opening a hold puts the account's queued
 * mail on hold; a suspension also closes the other doors: the Dovecot deny
 * file (then the kick, so a client that reconnects at once is refused), the
 * suspend hook, the nftables block of the address it came from. The alert
 * goes out once those first attempts have settled, so that it can say what
 * was done. Each effect is tracked in the incident; a failed one is retried
 * with backoff (the deny file until it is written) and reported in logs,
 * `ctl status` and the incident.
 */
#include "actions/contain.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/strview.h"
#include <unistd.h>

#include "actions/alert.h"
#include "actions/effects.h"
#include "actions/recent.h"
#include "actions/runner.h"
#include "core/log.h"
#include "core/strmap.h"
#include "daemon.h"

#define MEM_INCIDENTS 1000 /* closed incidents kept in memory (the store keeps all) */
#define RETRY_MAX_DELAY 600.0

struct retry {
  struct contain *c;
  struct event *ev;
  uint64_t incident;
  enum fx kind;
  int attempt;
  char event[12]; /* alerts: "incident", "escalated", "released" */
  struct retry *prev, *next;
};

struct contain {
  struct daemon *d;
  struct runner *doors, *queue, *notify;
  struct incident **inc; /* ascending ids */
  size_t ninc, cap;
  struct strmap *open; /* account -> its open incident */
  uint64_t next_id;
  struct recent *recent;
  struct retry *retries;
  /* the deny file: one writer at a time, rewritten whole from the suspensions */
  bool deny_running, deny_dirty;
  int deny_attempt;
  char deny_err[160];
  int64_t deny_at;
  uint64_t fx_ok[FX__N], fx_failed[FX__N], fx_retries[FX__N];
  char fx_last_err[FX__N][160];
  char host[256];
  bool stopping; /* contain_free: nothing new is queued */
};

/* ---------------------------------------------------------------- incidents */

static struct incident *find(const struct contain *c, uint64_t id) {
  size_t lo = 0, hi = c->ninc;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (c->inc[mid]->id < id) lo = mid + 1;
    else hi = mid;
  }
  return lo < c->ninc && c->inc[lo]->id == id ? c->inc[lo] : NULL;
}

const struct incident *contain_incident(const struct contain *c, uint64_t id) { return find(c, id); }

const struct incident *contain_open_incident(const struct contain *c, const char *account) {
  return strmap_get(c->open, account);
}

/* Forget the oldest closed incidents beyond MEM_INCIDENTS (already stored). */
static void evict(struct contain *c) {
  size_t closed = 0;
  for (size_t i = 0; i < c->ninc; i++) closed += c->inc[i]->closed != 0;
  size_t w = 0;
  for (size_t i = 0; i < c->ninc; i++) {
    struct incident *in = c->inc[i];
    if (closed > MEM_INCIDENTS && in->closed && !in->dirty) {
      free(in);
      closed--;
      continue;
    }
    c->inc[w++] = in;
  }
  c->ninc = w;
}

static int add(struct contain *c, struct incident *in) {
  if (c->ninc == c->cap) {
    size_t ncap = c->cap ? c->cap * 2 : 64;
    struct incident **n = realloc(c->inc, ncap * sizeof *n);
    if (!n) return -1;
    c->inc = n;
    c->cap = ncap;
  }
  c->inc[c->ninc++] = in;
  if (in->id >= c->next_id) c->next_id = in->id + 1;
  if (!in->closed && strmap_set(c->open, in->account, in) < 0) {
    c->ninc--;
    return -1;
  }
  return 0;
}

/* ---------------------------------------------------------------- effects */

static void on_job_done(void *arg);
static void submit_kind(struct contain *c, struct incident *in, enum fx kind, int attempt,
                        const char *event);

static struct runner *runner_of(struct contain *c, enum fx kind) {
  switch (kind) {
    case FX_HOLD:
    case FX_RELEASE_HELD:
    case FX_DELETE_HELD: return c->queue;
    case FX_EMAIL:
    case FX_WEBHOOK: return c->notify;
    default: return c->doors;
  }
}

static int max_attempts(const struct conf *cf, enum fx kind) {
  if (kind == FX_WEBHOOK) return 1 + (int)cf->webhook_retries;
  return 1 + (int)cf->effect_retries;
}

static double backoff(const struct conf *cf, int attempt) {
  double s = cf->retry_interval;
  for (int i = 1; i < attempt && s < RETRY_MAX_DELAY; i++) s *= 2;
  return s < RETRY_MAX_DELAY ? s : RETRY_MAX_DELAY;
}

static void on_retry(evutil_socket_t fd, short what, void *arg);

static void schedule_retry(struct contain *c, uint64_t id, enum fx kind, int attempt,
                           const char *event) {
  if (c->stopping) return; /* state says "retrying": the next start resumes it */
  struct retry *r = calloc(1, sizeof *r);
  if (!r) return;
  r->c = c;
  r->incident = id;
  r->kind = kind;
  r->attempt = attempt;
  str_copy(r->event, sizeof r->event, event ? event : "");
  if (!(r->ev = evtimer_new(c->d->base, on_retry, r))) {
    free(r);
    return;
  }
  double s = backoff(c->d->conf, attempt - 1);
  struct timeval tv = {(time_t)s, (suseconds_t)((s - (double)(time_t)s) * 1e6)};
  evtimer_add(r->ev, &tv);
  r->next = c->retries;
  if (c->retries) c->retries->prev = r;
  c->retries = r;
}

static void retry_free(struct contain *c, struct retry *r) {
  if (r->prev) r->prev->next = r->next;
  else c->retries = r->next;
  if (r->next) r->next->prev = r->prev;
  event_free(r->ev);
  free(r);
}

static void deny_sync(struct contain *c);

static void on_retry(evutil_socket_t fd, short what, void *arg) {
  struct retry *r = arg;
  struct contain *c = r->c;
  if (r->kind == FX_DENY && r->incident == 0) {
    retry_free(c, r);
    deny_sync(c);
    return;
  }
  struct incident *in = find(c, r->incident);
  if (in) submit_kind(c, in, r->kind, r->attempt, r->event);
  retry_free(c, r);
}

static void set_fx(struct incident *in, enum fx kind, enum fx_state st, int attempt,
                   const char *err, int64_t now) {
  struct fx_status *s = &in->fx[kind];
  s->state = (uint8_t)st;
  if (attempt) s->attempts = (uint16_t)attempt;
  s->at = now;
  str_copy(s->err, sizeof s->err, err ? err : "");
  in->dirty = true;
}

static bool submit(struct contain *c, struct fx_job *j, const char *event) {
  j->owner = c;
  str_copy(j->event, sizeof j->event, event ? event : "");
  if (c->stopping || runner_submit(runner_of(c, j->kind), fx_job_work, on_job_done, j) < 0) {
    fx_job_free(j);
    return false;
  }
  return true;
}

/* The account's own addresses and the senders it used: how its mail is found. */
static size_t senders_of(const struct incident *in, const char **out, size_t max) {
  size_t n = 0;
  if (strchr(in->account, '@')) out[n++] = in->account;
  for (int i = 0; i < INC_SENDERS && in->senders[i][0] && n < max; i++)
    if (strcmp(in->senders[i], in->account) != 0) out[n++] = in->senders[i];
  return n;
}

static struct fx_job *make_job(struct contain *c, struct incident *in, enum fx kind,
                               const char *event, int64_t now) {
  const struct conf *cf = c->d->conf;
  const char *snd[INC_SENDERS + 1], *q[INC_QIDS];
  size_t ns = 0, nq = 0;
  switch (kind) {
    case FX_KICK:
      return fx_job_command(cf, kind, cf->kick_command, cf->nkick_command, in->account, in->reason, in->id);
    case FX_HOOK:
      return fx_job_command(cf, kind, cf->suspend_command, cf->nsuspend_command, in->account, in->reason, in->id);
    case FX_RELEASE_HOOK:
      return fx_job_command(cf, kind, cf->release_command, cf->nrelease_command, in->account, in->reason, in->id);
    case FX_HOLD:
    case FX_RELEASE_HELD:
    case FX_DELETE_HELD:
      if (kind == FX_HOLD && !cf->hold_queue) return NULL;
      ns = senders_of(in, snd, INC_SENDERS + 1);
      for (int i = 0; i < INC_QIDS && in->qids[i][0]; i++) q[nq++] = in->qids[i];
      if (!ns && !nq) return NULL;
      return fx_job_queue(cf, kind, in->account, snd, ns, q, nq, in->id);
    case FX_NFT: {
      const struct block *b = in->client_blocked ? engine_block_of(c->d->engine, in->client, now) : NULL;
      return b ? fx_job_nft(cf, b->addr, b->until - now, false, in->id) : NULL;
    }
    case FX_EMAIL: {
      char *msg = alert_email(cf, in, event, c->host, now);
      struct fx_job *j = msg ? fx_job_email(cf, msg, in->id) : NULL;
      free(msg);
      return j;
    }
    case FX_WEBHOOK: {
      char *body = alert_webhook(in, event, c->host, now);
      struct fx_job *j = body ? fx_job_webhook(cf, body, in->id) : NULL;
      free(body);
      return j;
    }
    default:
      return NULL;
  }
}

static void submit_kind(struct contain *c, struct incident *in, enum fx kind, int attempt,
                        const char *event) {
  int64_t now = daemon_now();
  struct fx_job *j = make_job(c, in, kind, event, now);
  if (!j) return; /* not configured for this site */
  j->attempt = attempt;
  set_fx(in, kind, FXS_RUNNING, attempt, NULL, now);
  if (!submit(c, j, event)) set_fx(in, kind, FXS_FAILED, attempt, "could not queue the job", now);
}

static void job_ok(struct incident *in, const struct fx_job *j, int64_t now) {
  switch (j->kind) {
    case FX_HOLD:
      in->held += j->n;
      for (int i = 0; i < FXJ_TOP && j->top[i][0]; i++) incident_max_domain(in, j->top[i], j->top_n[i]);
      incident_audit(in, now, "mailfuse", "queue_hold ok: %llu queued messages put on hold",
                     (unsigned long long)j->n);
      break;
    case FX_RELEASE_HELD:
      in->released_held += j->n;
      incident_audit(in, now, "mailfuse", "release_held ok: %llu messages back to delivery",
                     (unsigned long long)j->n);
      break;
    case FX_DELETE_HELD:
      in->deleted_held += j->n;
      incident_audit(in, now, "mailfuse", "delete_held ok: %llu held messages deleted",
                     (unsigned long long)j->n);
      break;
    case FX_NFT:
      incident_audit(in, now, "mailfuse", "nft_block ok: %s", j->addr);
      break;
    case FX_EMAIL:
    case FX_WEBHOOK:
      incident_audit(in, now, "mailfuse", "%s ok: %s alert sent", fx_name(j->kind), j->event);
      break;
    default:
      incident_audit(in, now, "mailfuse", "%s ok (attempt %d)", fx_name(j->kind), j->attempt);
      break;
  }
}

static void on_job_done(void *arg) {
  struct fx_job *j = arg;
  struct contain *c = j->owner;
  int64_t now = daemon_now();
  struct incident *in = find(c, j->incident);
  if (j->rc == 0) c->fx_ok[j->kind]++;
  else {
    c->fx_failed[j->kind]++;
    str_copy(c->fx_last_err[j->kind], sizeof c->fx_last_err[0], j->err);
  }
  char esc[LOG_ESC_MAX];
  if (!in) { /* evicted meanwhile (only closed ones are): log only */
    log_info("effect", "what=%s incident=%llu result=%s error=%s", fx_name(j->kind),
             (unsigned long long)j->incident, j->rc ? "failed" : "ok",
             log_esc(esc, sizeof esc, j->err, strlen(j->err)));
    fx_job_free(j);
    return;
  }
  if (j->rc == 0) {
    set_fx(in, j->kind, FXS_OK, j->attempt, NULL, now);
    job_ok(in, j, now);
    log_info("effect", "what=%s incident=%llu account=%s result=ok attempt=%d n=%llu",
             fx_name(j->kind), (unsigned long long)in->id, in->account, j->attempt,
             (unsigned long long)j->n);
  } else {
    bool again = j->attempt < max_attempts(c->d->conf, j->kind);
    set_fx(in, j->kind, again ? FXS_RETRY : FXS_FAILED, j->attempt, j->err, now);
    incident_audit(in, now, "mailfuse", "%s failed (attempt %d%s): %s", fx_name(j->kind),
                   j->attempt, again ? ", will retry" : ", gave up", j->err);
    log_error("effect_failed", "what=%s incident=%llu account=%s attempt=%d retry=%s error=%s",
              fx_name(j->kind), (unsigned long long)in->id, in->account, j->attempt,
              again ? "yes" : "no", log_esc(esc, sizeof esc, j->err, strlen(j->err)));
    if (again) {
      c->fx_retries[j->kind]++;
      schedule_retry(c, in->id, j->kind, j->attempt + 1, j->event);
    }
  }
  fx_job_free(j);
}

/* ---------------------------------------------------------------- deny file */

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void deny_done(void *arg);

/* Rewrite the deny file from the suspensions in force now; one write at a
 * time, and a change meanwhile means one more write after it. */
static void deny_sync(struct contain *c) {
  const struct conf *cf = c->d->conf;
  if (!cf->dovecot_deny_file[0] || c->stopping) return;
  if (c->deny_running) {
    c->deny_dirty = true;
    return;
  }
  const struct susptab *t = engine_suspensions(c->d->engine);
  size_t n = susptab_count(t), pos = 0, k = 0;
  const char **v = calloc(n + 1, sizeof *v);
  const struct susp *s;
  while (v && k < n && (s = susptab_next(t, &pos))) v[k++] = s->account;
  if (v) qsort(v, k, sizeof *v, cmp_str);
  struct fx_job *j = v ? fx_job_deny(cf, v, k) : NULL;
  free(v);
  if (j) {
    j->owner = c;
    j->attempt = c->deny_attempt + 1;
    c->deny_running = true;
    c->deny_dirty = false;
    if (runner_submit(c->doors, fx_job_work, deny_done, j) == 0) return;
    c->deny_running = false;
    fx_job_free(j);
  }
  snprintf(c->deny_err, sizeof c->deny_err, "out of memory");
  c->deny_attempt++;
  schedule_retry(c, 0, FX_DENY, c->deny_attempt + 1, NULL);
}

/* Incidents waiting on the deny file learn its outcome; the kick follows it. */
static void deny_done(void *arg) {
  struct fx_job *j = arg;
  struct contain *c = j->owner;
  int64_t now = daemon_now();
  c->deny_running = false;
  c->deny_at = now;
  char esc[LOG_ESC_MAX];
  if (j->rc == 0) {
    c->fx_ok[FX_DENY]++;
    c->deny_attempt = 0;
    c->deny_err[0] = 0;
    log_info("deny_file", "path=%s accounts=%llu result=ok", j->path, (unsigned long long)j->n);
  } else {
    c->fx_failed[FX_DENY]++;
    c->deny_attempt = j->attempt;
    str_copy(c->deny_err, sizeof c->deny_err, j->err);
    str_copy(c->fx_last_err[FX_DENY], sizeof c->fx_last_err[0], j->err);
    log_error("effect_failed", "what=deny_file path=%s attempt=%d retry=yes error=%s", j->path,
              j->attempt, log_esc(esc, sizeof esc, j->err, strlen(j->err)));
  }
  for (size_t i = 0; i < c->ninc; i++) {
    struct incident *in = c->inc[i];
    enum fx k = in->closed ? FX_DENY_REMOVE : FX_DENY;
    uint8_t st = in->fx[k].state;
    if (st != FXS_RUNNING && st != FXS_RETRY) continue;
    /* the file was written from the state of that moment: only a success
     * for what the incident needs counts */
    bool listed = susptab_get(engine_suspensions(c->d->engine), in->account) != NULL;
    if (j->rc == 0 && listed == !in->closed) {
      set_fx(in, k, FXS_OK, j->attempt, NULL, now);
      incident_audit(in, now, "mailfuse", "%s ok: %s", fx_name(k), j->path);
      if (!in->closed && in->fx[FX_KICK].state == FXS_NONE) submit_kind(c, in, FX_KICK, 1, NULL);
    } else if (j->rc != 0) {
      if (st == FXS_RUNNING)
        incident_audit(in, now, "mailfuse", "%s failed (attempt %d, will retry): %s", fx_name(k),
                       j->attempt, j->err);
      set_fx(in, k, FXS_RETRY, j->attempt, j->err, now);
      /* the session goes now: a login is refused by mailfuse's auth policy, if used, anyway */
      if (!in->closed && in->fx[FX_KICK].state == FXS_NONE) submit_kind(c, in, FX_KICK, 1, NULL);
    }
  }
  int attempt = j->attempt;
  bool failed = j->rc != 0;
  fx_job_free(j);
  if (failed) {
    c->fx_retries[FX_DENY]++;
    schedule_retry(c, 0, FX_DENY, attempt + 1, NULL);
  } else if (c->deny_dirty) {
    deny_sync(c);
  }
}

/* ---------------------------------------------------------------- opening */

static void gather_recent(void *arg, const struct recent_ev *e) {
  struct incident *in = arg;
  incident_add_domain(in, e->domain, 1);
  incident_add_client(in, e->client);
  incident_add_sender(in, e->sender);
  incident_add_qid(in, e->qid);
}

static void fill_counts(struct contain *c, struct incident *in, int64_t now) {
  int64_t cnt[MET__N][WIN__N];
  for (int i = 0; i < 6; i++) in->counts[i] = -1;
  if (!engine_counts(c->d->engine, PER_ACCOUNT, in->account, now, cnt)) return;
  for (int w = 0; w < 3 && w < WIN__N; w++) {
    in->counts[w] = cnt[MET_MESSAGES][w];
    in->counts[3 + w] = cnt[MET_EXTERNAL][w];
  }
}

/* Suspension: the other doors. */
static void close_doors(struct contain *c, struct incident *in, int64_t now) {
  const struct conf *cf = c->d->conf;
  if (cf->dovecot_deny_file[0]) {
    set_fx(in, FX_DENY, FXS_RUNNING, 0, NULL, now);
    deny_sync(c); /* the kick follows the file (deny_done) */
  } else {
    submit_kind(c, in, FX_KICK, 1, NULL);
  }
  submit_kind(c, in, FX_HOOK, 1, NULL);
  submit_kind(c, in, FX_NFT, 1, NULL);
}

static struct incident *open_incident(struct contain *c, const char *account, enum action level,
                                      const char *by, const char *reason, const char *client,
                                      int64_t now) {
  struct incident *in = calloc(1, sizeof *in);
  if (!in) return NULL;
  in->id = c->next_id;
  str_copy(in->account, sizeof in->account, account);
  in->opened = in->updated = now;
  in->level = (uint8_t)level;
  str_copy(in->by, sizeof in->by, by);
  str_copy(in->reason, sizeof in->reason, reason ? reason : "");
  str_copy(in->client, sizeof in->client, client ? client : "");
  in->client_blocked = client && engine_block_of(c->d->engine, client, now) != NULL;
  fill_counts(c, in, now);
  recent_each(c->recent, account, now - 3600, gather_recent, in);
  incident_add_client(in, client);
  if (add(c, in) < 0) {
    free(in);
    return NULL;
  }
  incident_audit(in, now, by, "opened: %s (%s)", level == ACT_SUSPEND ? "suspended" : "held", in->reason);
  if (in->client_blocked)
    incident_audit(in, now, "mailfuse", "client %s blocked for %.0f s", in->client, c->d->conf->block_time);
  submit_kind(c, in, FX_HOLD, 1, NULL);
  if (level == ACT_SUSPEND) close_doors(c, in, now);
  evict(c);
  return in;
}

static void escalate(struct contain *c, struct incident *in, const char *by, const char *reason,
                     const char *client, int64_t now) {
  in->level = ACT_SUSPEND;
  if (!in->client_blocked && client && engine_block_of(c->d->engine, client, now)) {
    str_copy(in->client, sizeof in->client, client);
    in->client_blocked = true;
  }
  incident_audit(in, now, by, "escalated to suspension: %s", reason ? reason : "");
  close_doors(c, in, now);
  if (in->fx[FX_HOLD].state != FXS_RUNNING) submit_kind(c, in, FX_HOLD, 1, NULL); /* what came since */
}

static void suspension_reason(struct contain *c, const char *account, char *buf, size_t len) {
  const struct susp *s = susptab_get(engine_suspensions(c->d->engine), account);
  str_copy(buf, len, s ? s->reason : "");
}

void contain_verdict(struct contain *c, const struct event *ev, const struct verdict *v,
                     const char *qid, int64_t now) {
  if (!ev->account) return;
  /* one entry per recipient, one per message (its queue id) */
  bool rcpt = ev->kind == EV_RCPT || ev->kind == EV_LOG_RCPT;
  if (rcpt || ev->kind == EV_EOM || ev->kind == EV_LOG_QUEUED)
    recent_add(c->recent, ev->account, now, rcpt ? ev->rcpt_domain : NULL, ev->client, qid,
               ev->sender);
  struct incident *in = strmap_get(c->open, ev->account);
  bool holds = v->action == ACT_HOLD, suspends = v->suspended_now;
  if (!holds && !suspends) {
    if (in && v->action == ACT_REJECT) {
      in->refused++;
      in->dirty = true;
    }
    return;
  }
  char reason[400];
  if (suspends) suspension_reason(c, ev->account, reason, sizeof reason);
  else if (v->limit && v->limit->name && v->reasons[0] == 0)
    snprintf(reason, sizeof reason, "limit %s: %llu, max %llu", v->limit->name,
             (unsigned long long)v->count, (unsigned long long)v->limit->max);
  else
    snprintf(reason, sizeof reason, "risk score %.1f: %s", v->score, v->reasons);
  if (!in) {
    in = open_incident(c, ev->account, suspends ? ACT_SUSPEND : ACT_HOLD, "mailfuse", reason,
                       ev->client, now);
    if (!in) log_error("internal", "what=open_incident account=%s error=out_of_memory", ev->account);
    else if (qid) incident_add_qid(in, qid);
    return;
  }
  in->refused++;
  in->dirty = true;
  incident_add_client(in, ev->client);
  if (rcpt) incident_add_domain(in, ev->rcpt_domain, 1);
  if (qid) incident_add_qid(in, qid);
  if (suspends && in->level != ACT_SUSPEND) escalate(c, in, "mailfuse", reason, ev->client, now);
}

void contain_suspended(struct contain *c, const char *account, const char *by, const char *reason,
                       int64_t now) {
  struct incident *in = strmap_get(c->open, account);
  if (!in) open_incident(c, account, ACT_SUSPEND, by, reason, NULL, now);
  else if (in->level != ACT_SUSPEND) escalate(c, in, by, reason, NULL, now);
  else deny_sync(c);
}

/* ---------------------------------------------------------------- release */

uint64_t contain_released(struct contain *c, const char *account, const char *by,
                          enum held_mode mode, int64_t now, char *msg, size_t len) {
  deny_sync(c); /* the engine no longer has it: the file follows */
  struct incident *in = strmap_get(c->open, account);
  if (!in) {
    snprintf(msg, len, "no open incident");
    return 0;
  }
  strmap_del(c->open, account);
  in->closed = now;
  str_copy(in->released_by, sizeof in->released_by, by);
  static const char *const modes[] = {"held mail stays on hold", "held mail released",
                                      "held mail deleted"};
  incident_audit(in, now, by, "released; %s", modes[mode]);
  if (c->d->conf->dovecot_deny_file[0]) set_fx(in, FX_DENY_REMOVE, FXS_RUNNING, 0, NULL, now);
  submit_kind(c, in, FX_RELEASE_HOOK, 1, NULL);
  if (mode == HELD_RELEASE) submit_kind(c, in, FX_RELEASE_HELD, 1, NULL);
  if (mode == HELD_DELETE) submit_kind(c, in, FX_DELETE_HELD, 1, NULL);
  alert_log(in, "released");
  submit_kind(c, in, FX_WEBHOOK, 1, "released");
  snprintf(msg, len, "incident %llu closed; %s%s", (unsigned long long)in->id, modes[mode],
           mode != HELD_KEEP ? " in the background (see ctl incident)" : "");
  return in->id;
}

/* ---------------------------------------------------------------- blocks */

void contain_block_changed(struct contain *c, const char *addr, int64_t until, int64_t now) {
  struct fx_job *j = fx_job_nft(c->d->conf, addr, until - now, until == 0, 0);
  if (j && !submit(c, j, NULL)) log_error("internal", "what=nft_job addr=%s", addr);
}

/* ---------------------------------------------------------------- alerts */

static bool settled(const struct incident *in) {
  static const enum fx first[] = {FX_DENY, FX_KICK, FX_HOOK, FX_HOLD, FX_NFT};
  for (size_t i = 0; i < sizeof first / sizeof *first; i++)
    if (in->fx[first[i]].state == FXS_RUNNING) return false;
  return true;
}

static void send_alert(struct contain *c, struct incident *in, const char *event, int64_t now) {
  alert_log(in, event);
  submit_kind(c, in, FX_EMAIL, 1, event);
  submit_kind(c, in, FX_WEBHOOK, 1, event);
  incident_audit(in, now, "mailfuse", "alert: %s", event);
}

void contain_tick(struct contain *c, int64_t now) {
  /* the alert waits for the first attempts of the effects, at most command_timeout + 5 s */
  double wait = c->d->conf->command_timeout + 5;
  for (size_t i = 0; i < c->ninc; i++) {
    struct incident *in = c->inc[i];
    if (in->closed) continue;
    bool due = settled(in) || (double)(now - in->updated) > wait;
    if (!in->alerted && due) {
      in->alerted = true;
      in->alerted_suspend = in->level == ACT_SUSPEND;
      send_alert(c, in, "incident", now);
    } else if (in->alerted && !in->alerted_suspend && in->level == ACT_SUSPEND && due) {
      in->alerted_suspend = true;
      send_alert(c, in, "escalated", now);
    }
  }
}

/* ---------------------------------------------------------------- store */

int contain_collect(struct contain *c, struct store_batch *b) {
  int rc = 0;
  for (size_t i = 0; i < c->ninc; i++) {
    struct incident *in = c->inc[i];
    if (!in->dirty) continue;
    json_t *o = incident_to_json(in);
    char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    char key[24];
    incident_key(in->id, key);
    if (!txt || store_batch_add(b, ST_INCIDENTS, key, strlen(key), txt, strlen(txt)) < 0) rc = -1;
    else in->dirty = false;
    free(txt);
  }
  return rc;
}

static int load_one(void *arg, const char *key, size_t klen, const void *val, size_t vlen) {
  struct contain *c = arg;
  json_error_t err;
  json_t *o = json_loadb(val, vlen, 0, &err);
  struct incident *in = malloc(sizeof *in);
  if (!in || !o || incident_from_json(in, o) < 0 || add(c, in) < 0) {
    log_warn("store_load", "what=bad_incident key=%.*s", (int)(klen < 40 ? klen : 40), key);
    free(in);
  } else if (c->ninc > 2 * MEM_INCIDENTS) {
    evict(c);
  }
  json_decref(o);
  return 0;
}

/* After a restart: effects cut short or waiting for a retry go again. */
static void resume(struct contain *c) {
  for (size_t i = 0; i < c->ninc; i++) {
    struct incident *in = c->inc[i];
    for (int k = 0; k < FX__N; k++) {
      if (in->fx[k].state != FXS_RETRY || k == FX_DENY || k == FX_DENY_REMOVE) continue;
      if (k == FX_EMAIL || k == FX_WEBHOOK) continue; /* the alert is not resent after a restart */
      submit_kind(c, in, (enum fx)k, in->fx[k].attempts + 1, NULL);
    }
  }
}

/* ---------------------------------------------------------------- ctl */

json_t *contain_status_json(const struct contain *c) {
  json_t *fx = json_object();
  for (int k = 0; k < FX__N; k++) {
    if (!c->fx_ok[k] && !c->fx_failed[k]) continue;
    json_object_set_new(fx, fx_name((enum fx)k),
                        json_pack("{s:I,s:I,s:I,s:s}", "ok", (json_int_t)c->fx_ok[k], "failed",
                                  (json_int_t)c->fx_failed[k], "retries", (json_int_t)c->fx_retries[k],
                                  "last_error", c->fx_last_err[k]));
  }
  size_t retrying = 0;
  for (const struct retry *r = c->retries; r; r = r->next) retrying++;
  return json_pack("{s:I,s:I,s:o,s:I,s:{s:s,s:s,s:I}}", "open_incidents",
                   (json_int_t)strmap_count(c->open), "blocked_addresses",
                   (json_int_t)blocktab_count(engine_blocks(c->d->engine)), "effects", fx,
                   "retrying", (json_int_t)retrying, "deny_file", "path",
                   c->d->conf->dovecot_deny_file, "error", c->deny_err, "written_at",
                   (json_int_t)c->deny_at);
}

json_t *contain_list_json(const struct contain *c, size_t max, bool open_only) {
  json_t *a = json_array();
  for (size_t i = c->ninc; i-- > 0 && json_array_size(a) < max;) {
    const struct incident *in = c->inc[i];
    if (open_only && in->closed) continue;
    int failing = 0;
    for (int k = 0; k < FX__N; k++) failing += in->fx[k].state == FXS_RETRY || in->fx[k].state == FXS_FAILED;
    json_array_append_new(a, json_pack("{s:I,s:s,s:I,s:I,s:s,s:s,s:I,s:i}", "id", (json_int_t)in->id,
                                       "account", in->account, "opened", (json_int_t)in->opened,
                                       "closed", (json_int_t)in->closed, "level",
                                       in->level == ACT_SUSPEND ? "suspend" : "hold", "reason",
                                       in->reason, "held", (json_int_t)in->held, "effects_failing",
                                       failing));
  }
  return a;
}

/* ---------------------------------------------------------------- life */

struct contain *contain_new(struct daemon *d, char *err, size_t errlen) {
  struct contain *c = calloc(1, sizeof *c);
  if (!c) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  c->d = d;
  c->next_id = 1;
  if (gethostname(c->host, sizeof c->host - 1) < 0) snprintf(c->host, sizeof c->host, "localhost");
  if (!(c->open = strmap_new()) || !(c->recent = recent_new()) ||
      !(c->doors = runner_new(d->base, "doors")) || !(c->queue = runner_new(d->base, "queue")) ||
      !(c->notify = runner_new(d->base, "notify"))) {
    snprintf(err, errlen, "out of memory or threads");
    contain_free(c);
    return NULL;
  }
  if (store_scan(d->store, ST_INCIDENTS, load_one, c) < 0) {
    snprintf(err, errlen, "cannot read the incidents from %s", d->conf->state_dir);
    contain_free(c);
    return NULL;
  }
  evict(c);
  deny_sync(c); /* the file matches the store even if it was edited or lost */
  resume(c);
  return c;
}

void contain_stop(struct contain *c) {
  if (!c || c->stopping) return;
  c->stopping = true;
  runner_free(c->doors); /* queued effects run (each time-limited) and report */
  runner_free(c->queue);
  runner_free(c->notify);
  c->doors = c->queue = c->notify = NULL;
}

void contain_free(struct contain *c) {
  if (!c) return;
  contain_stop(c);
  while (c->retries) retry_free(c, c->retries);
  for (size_t i = 0; i < c->ninc; i++) free(c->inc[i]);
  free(c->inc);
  strmap_free(c->open);
  recent_free(c->recent);
  free(c);
}
