/* replay_stats.c - per-account facts collected while replaying.
 *
 * Counting follows the log (what really happened); the engine's verdicts
 * say what mailfuse would have done. A message the engine refused or held
 * counts as stopped, with its recipients, and so do the later delivery
 * lines of a stopped message.  Memory per account is fixed apart from the
 * list of active hours, which grows with the hours it sent, not with lines.
 */
#include "replay/replay_stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/strmap.h"

struct replay_stats {
  struct strmap *accounts;
  char *recipients_of;
  struct strmap *recipients;
  struct acct_stats **flagged;
  size_t nflagged;
};

struct replay_stats *replay_stats_new(const char *recipients_of) {
  struct replay_stats *s = calloc(1, sizeof *s);
  if (!s || !(s->accounts = strmap_new()) || !(s->recipients = strmap_new())) {
    replay_stats_free(s);
    return NULL;
  }
  if (recipients_of) s->recipients_of = strdup(recipients_of);
  return s;
}

static void acct_free(struct acct_stats *a) {
  free(a->account);
  free(a->marks);
  free(a->logins);
  free(a->hours);
  free(a->domains);
  free(a->clients);
  free(a);
}

void replay_stats_free(struct replay_stats *s) {
  if (!s) return;
  size_t pos = 0;
  const char *k;
  void *v;
  while (s->accounts && strmap_next(s->accounts, &pos, &k, &v)) acct_free(v);
  strmap_free(s->accounts);
  strmap_free(s->recipients);
  free(s->recipients_of);
  free(s->flagged);
  free(s);
}

static struct acct_stats *acct(struct replay_stats *s, const char *name) {
  struct acct_stats *a = strmap_get(s->accounts, name);
  if (a) return a;
  a = calloc(1, sizeof *a);
  if (!a || !(a->account = strdup(name)) || !(a->domains = topk_new(16)) ||
      !(a->clients = topk_new(8)) || strmap_set(s->accounts, name, a) < 0) {
    if (a) acct_free(a);
    return NULL;
  }
  return a;
}

/* Make room for `need` elements; true when there is. */
static bool grow(void **arr, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return true;
  size_t ncap = *cap ? *cap * 2 : 2;
  void *n = realloc(*arr, ncap * elem);
  if (!n) return false;
  *arr = n;
  *cap = ncap;
  return true;
}

static void add_hour(struct acct_stats *a, int64_t ts, uint32_t msgs, uint32_t rcpts) {
  int64_t h = ts / 3600;
  if (!a->nhours || a->hours[a->nhours - 1].hour < h) {
    if (a->nhours == a->caphours) {
      size_t ncap = a->caphours ? a->caphours * 2 : 8;
      struct hour_count *nh = realloc(a->hours, ncap * sizeof *nh);
      if (!nh) return;
      a->hours = nh;
      a->caphours = ncap;
    }
    a->hours[a->nhours++] = (struct hour_count){h, 0, 0};
  }
  /* merged input is in time order; an out-of-order line lands in the last hour */
  a->hours[a->nhours - 1].msgs += msgs;
  a->hours[a->nhours - 1].rcpts += rcpts;
}

static void note_action(struct acct_stats *a, const struct logfeed_result *r) {
  enum action act = r->v.action;
  if (act != ACT_DUNNO || r->v.nhits) a->decisions[act]++;
  if (act == ACT_DUNNO && r->v.nhits == 0) return;
  if (act == ACT_DUNNO) act = ACT_ALERT; /* shadow hits: would alert */
  if (act == ACT_REJECT) act = ACT_SUSPEND; /* refused because suspended earlier */
  if (!a->first_action_ts) {
    a->first_action_ts = r->lev->ts;
    a->first_action = act;
  }
  if (act > a->worst_action) a->worst_action = act;
  if (act >= ACT_HOLD && !a->contained_ts) {
    a->contained_ts = r->lev->ts;
    a->contained_action = act;
    a->msgs_before_containment = a->msgs;
    a->rcpts_before_containment = a->rcpts;
  }
  /* a marker each time the action changes, so the chart shows escalation */
  if (a->nmarks < STATS_MARKS && (!a->nmarks || a->marks[a->nmarks - 1].action != act) &&
      grow((void **)&a->marks, &a->capmarks, a->nmarks + 1, sizeof *a->marks)) {
    struct mark *m = &a->marks[a->nmarks++];
    m->ts = r->lev->ts;
    m->action = act;
    const struct limit *l = r->v.limit ? r->v.limit : r->v.nhits ? r->v.hits[0].limit : NULL;
    uint64_t cnt = r->v.limit ? r->v.count : r->v.nhits ? r->v.hits[0].count : 0;
    if (r->v.was_suspended) snprintf(m->reason, sizeof m->reason, "account suspended");
    else if (l && !strcmp(l->name, "risk-score"))
      snprintf(m->reason, sizeof m->reason, "risk score %.1f: %s", r->v.score, r->v.reasons);
    else if (l)
      snprintf(m->reason, sizeof m->reason, "%s: %llu %s per %s > %llu%s", l->name,
               (unsigned long long)cnt, conf_metric_name(l->metric), conf_window_name(l->win),
               (unsigned long long)l->max, r->v.limit ? "" : " (shadow)");
  }
}

static void note_login(struct acct_stats *a, const struct logfeed_result *r) {
  bool ok = r->lev->kind == LE_LOGIN_OK;
  if (ok) a->logins_ok++;
  else a->logins_fail++;
  const char *ip = r->client ? r->client : "";
  for (size_t i = 0; i < a->nlogins; i++) /* keep new addresses, and one per hour */
    if (!strcmp(a->logins[i].ip, ip) && a->logins[i].ok == ok &&
        a->logins[i].ts / 3600 == r->lev->ts / 3600)
      return;
  if (a->nlogins == STATS_LOGINS || !grow((void **)&a->logins, &a->caplogins, a->nlogins + 1, sizeof *a->logins))
    return;
  struct login_mark *m = &a->logins[a->nlogins++];
  m->ts = r->lev->ts;
  m->ok = ok;
  snprintf(m->ip, sizeof m->ip, "%s", ip);
}

static void on_message(struct acct_stats *a, const struct logfeed_result *r) {
  uint32_t rc = r->nrcpt;
  a->msgs++;
  a->rcpts += rc;
  if (!a->first_action_ts) {
    a->msgs_before++;
    a->rcpts_before += rc;
  }
  if (r->stopped) {
    a->stopped_msgs++;
    a->stopped_rcpts += rc;
  }
  if (r->client) topk_add(a->clients, r->client, strlen(r->client), 1);
  add_hour(a, r->lev->ts, 1, rc);
}

static void on_recipient(struct replay_stats *s, struct acct_stats *a, const struct logfeed_result *r) {
  const struct strview rc = r->lev->rcpt;
  const char *at = rc.len ? memchr(rc.p, '@', rc.len) : NULL;
  if (at) topk_add(a->domains, at + 1, (size_t)(rc.p + rc.len - at - 1), 1);
  if (r->fed && r->stopped) a->stopped_rcpts++; /* refused at this recipient itself */
  if (s->recipients_of && !strcmp(s->recipients_of, a->account) && rc.len) {
    char addr[320];
    (void)sv_copy(addr, sizeof addr, rc);
    if (!strmap_get(s->recipients, addr) && strmap_set(s->recipients, addr, s) < 0) return;
  }
}

void replay_stats_on_result(void *arg, const struct logfeed_result *r) {
  struct replay_stats *s = arg;
  if (!r->account || !*r->account) return;
  struct acct_stats *a = acct(s, r->account);
  if (!a) return;
  if (!a->first_ts) a->first_ts = r->lev->ts;
  a->last_ts = r->lev->ts;
  enum logev_kind k = r->lev->kind;
  /* the action first: the message that triggers it is not "before" it */
  if (r->fed) note_action(a, r);
  if (k == LE_LOGIN_OK || k == LE_LOGIN_FAIL) note_login(a, r);
  if ((k == LE_QUEUED || k == LE_ARRIVAL) && !r->duplicate) on_message(a, r);
  if (k == LE_DELIVERY && !r->duplicate) on_recipient(s, a, r);
}

static int by_first_action(const void *x, const void *y) {
  const struct acct_stats *a = *(struct acct_stats *const *)x, *b = *(struct acct_stats *const *)y;
  if (a->first_action_ts != b->first_action_ts) return a->first_action_ts < b->first_action_ts ? -1 : 1;
  return strcmp(a->account, b->account);
}

struct acct_stats **replay_stats_flagged(struct replay_stats *s, size_t *n) {
  free(s->flagged);
  s->flagged = calloc(strmap_count(s->accounts) + 1, sizeof *s->flagged);
  s->nflagged = 0;
  size_t pos = 0;
  const char *k;
  void *v;
  while (s->flagged && strmap_next(s->accounts, &pos, &k, &v))
    if (((struct acct_stats *)v)->first_action_ts) s->flagged[s->nflagged++] = v;
  if (s->nflagged) qsort(s->flagged, s->nflagged, sizeof *s->flagged, by_first_action);
  for (size_t i = 0; i < s->nflagged; i++) {
    topk_sort(s->flagged[i]->domains);
    topk_sort(s->flagged[i]->clients);
  }
  *n = s->nflagged;
  return s->flagged;
}

void replay_stats_totals(const struct replay_stats *s, uint64_t *accounts, uint64_t *msgs,
                         uint64_t *stopped_msgs, uint64_t *stopped_rcpts) {
  *accounts = strmap_count(s->accounts);
  *msgs = *stopped_msgs = *stopped_rcpts = 0;
  size_t pos = 0;
  const char *k;
  void *v;
  while (strmap_next(s->accounts, &pos, &k, &v)) {
    const struct acct_stats *a = v;
    *msgs += a->msgs;
    *stopped_msgs += a->stopped_msgs;
    *stopped_rcpts += a->stopped_rcpts;
  }
}

void replay_stats_recipients(const struct replay_stats *s, void (*cb)(void *, const char *),
                             void *arg) {
  size_t pos = 0;
  const char *k;
  void *v;
  while (strmap_next(s->recipients, &pos, &k, &v)) cb(arg, k);
}
