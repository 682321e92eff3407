/* engine.c - the pure engine: one event and the time in, a verdict out.
 *
 * No I/O, no clock, no globals: the same code answers Postfix live and
 * replays old logs.  State is a keytab of counter records per key kind
 * (account, sender domain, client address) and the suspension table.
 * Records changed since the last collect are on the dirty list; the daemon
 * writes them to the store in batches.  A message is charged once, at
 * END-OF-MESSAGE (or DATA, by config); a throttled or suspended message is
 * not charged, so a client retrying after our 4xx is never counted twice.
 */
#include "engine/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/detect.h"
#include "engine/keytab.h"
#include "engine/limits.h"
#include "engine/login_guard.h"
#include "core/netaddr.h"

struct engine {
  const struct conf *conf;
  uint16_t gen;
  struct keytab *tab[PER__N];
  struct susptab *susp;
  struct blocktab *blocks;
  struct rec **dirty;
  size_t ndirty, dcap;
  char **gone; /* "P:key" of dropped records, P the per index digit */
  size_t ngone, gcap;
  size_t sweep_pos[PER__N];
  int sweep_per;
  int64_t latest; /* the latest time fed: the engine's own "now" for expiry */
  struct detect *dt; /* profiles and the risk score */
  struct login_guard *lg; /* failed logins per network and account */
};

struct engine *engine_new(const struct conf *conf) {
  struct engine *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  e->conf = conf;
  e->gen = 1;
  e->susp = susptab_new();
  e->blocks = blocktab_new();
  char err[256];
  e->dt = detect_new(conf, err, sizeof err);
  e->lg = login_guard_new();
  int ok = e->susp != NULL && e->blocks != NULL && e->dt != NULL && e->lg != NULL;
  for (int p = 0; p < PER__N; p++) ok = ok && (e->tab[p] = keytab_new()) != NULL;
  if (!ok) {
    engine_free(e);
    return NULL;
  }
  return e;
}

void engine_free(struct engine *e) {
  if (!e) return;
  for (int p = 0; p < PER__N; p++) keytab_free(e->tab[p]);
  susptab_free(e->susp);
  blocktab_free(e->blocks);
  login_guard_free(e->lg);
  detect_free(e->dt);
  for (size_t i = 0; i < e->ngone; i++) free(e->gone[i]);
  free(e->gone);
  free(e->dirty);
  free(e);
}

static void mark_dirty(struct engine *e, struct rec *r) {
  if (r->flags & REC_DIRTY) return;
  if (e->ndirty == e->dcap) {
    size_t ncap = e->dcap ? e->dcap * 2 : 256;
    struct rec **nd = realloc(e->dirty, ncap * sizeof *nd);
    if (!nd) return; /* stays clean: written at the next change or lost at a crash */
    e->dirty = nd;
    e->dcap = ncap;
  }
  r->flags |= REC_DIRTY;
  e->dirty[e->ndirty++] = r;
}

static void push_gone(struct engine *e, enum limit_per per, const char *key) {
  if (e->ngone == e->gcap) {
    size_t ncap = e->gcap ? e->gcap * 2 : 64;
    char **ng = realloc(e->gone, ncap * sizeof *ng);
    if (!ng) return; /* the stale record expires again after the next load */
    e->gone = ng;
    e->gcap = ncap;
  }
  size_t n = strlen(key) + 3;
  char *g = malloc(n);
  if (!g) return;
  snprintf(g, n, "%d:%s", (int)per, key);
  e->gone[e->ngone++] = g;
}

void engine_set_conf(struct engine *e, const struct conf *conf) {
  e->conf = conf;
  detect_set_conf(e->dt, conf);
  e->gen++;
  e->ndirty = 0;
  for (int p = 0; p < PER__N; p++) {
    size_t pos = 0;
    struct rec *r;
    while ((r = keytab_next(e->tab[p], &pos))) {
      r = keytab_remask(e->tab[p], r, conf->slot_mask[p]);
      if (r->flags & REC_DIRTY) {
        r->flags &= (uint8_t)~REC_DIRTY;
        mark_dirty(e, r);
      }
    }
  }
}

static uint32_t clamp_now(int64_t now) {
  return now < 0 ? 0 : now > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)now;
}

/* The record of a key, rolled to now; NULL if this kind keeps nothing. */
static struct rec *get_rec(struct engine *e, enum limit_per per, const char *key, uint32_t now) {
  if (!key || !*key || !e->conf->slot_mask[per]) return NULL;
  struct rec *r = keytab_put(e->tab[per], key, strlen(key), e->conf->slot_mask[per]);
  if (!r) return NULL;
  r->flags |= (uint8_t)(per << REC_PER_SHIFT);
  if (r->last == 0) r->last = now; /* new */
  rec_roll(r, now);
  return r;
}

static void charge(struct engine *e, struct rec *r, const uint64_t d[MET__N], uint32_t now) {
  if (!r) return;
  for (int m = 0; m < MET__N; m++)
    for (int w = 0; w < WIN__N; w++) {
      uint32_t *ring = rec_ring(r, m, w);
      if (ring && d[m]) window_add(ring, (enum window_kind)w, now, d[m] > UINT32_MAX ? UINT32_MAX : (uint32_t)d[m]);
    }
  mark_dirty(e, r);
}

/* What the event would add to each metric, were it let through. */
static void deltas(const struct event *ev, bool is_ext, uint64_t d[MET__N]) {
  const struct txn *t = ev->txn;
  memset(d, 0, sizeof(uint64_t) * MET__N);
  if (ev->kind == EV_LOG_RCPT) { /* recipients were charged with the message */
    d[MET_EXTERNAL] = is_ext;
    return;
  }
  if (ev->kind == EV_LOG_QUEUED) { /* externals follow with each EV_LOG_RCPT */
    d[MET_MESSAGES] = 1;
    d[MET_RECIPIENTS] = ev->rcpt_count;
    return;
  }
  if (t->charged) return;
  d[MET_MESSAGES] = 1;
  if (ev->kind == EV_RCPT) {
    d[MET_RECIPIENTS] = t->rcpts + 1;
    d[MET_EXTERNAL] = is_ext ? t->ext + 1 : 0;
  } else if (ev->kind == EV_DATA || ev->kind == EV_EOM) {
    d[MET_RECIPIENTS] = ev->rcpt_count;
    if (t->rcpts) /* seen at RCPT: exact, but never more than were accepted */
      d[MET_EXTERNAL] = t->ext < ev->rcpt_count ? t->ext : ev->rcpt_count;
    else if (ev->rcpt_count == 1 && ev->rcpt_domain)
      d[MET_EXTERNAL] = is_ext;
    else /* no RCPT-stage requests: count all as external (the safe side) */
      d[MET_EXTERNAL] = ev->rcpt_count;
  }
}

static int group_of(struct engine *e, struct rec *r, const char *account) {
  if (r->gen != e->gen) {
    r->group = (int16_t)conf_group_of(e->conf, account);
    r->gen = e->gen;
  }
  return r->group;
}

static void suspend_reason(const struct verdict *v, char *buf, size_t len) {
  const struct limit *l = v->limit;
  if (detect_is_score_limit(l)) {
    snprintf(buf, len, "risk score %.1f: %s", v->score, v->reasons);
    return;
  }
  snprintf(buf, len, "limit %s: %llu %s per %s, max %llu", l->name, (unsigned long long)v->count,
           conf_metric_name(l->metric), conf_window_name(l->win), (unsigned long long)l->max);
}

static bool never_block(const struct conf *c, const char *client) {
  struct netaddr a;
  return !client || netaddr_parse(client, strlen(client), &a) < 0 ||
         netmask_list_contains(c->never_nets, c->nnever_nets, &a);
}

/* The address a suspension came from is blocked for block_time, unless it
 * is one of the site's own (loopback, trusted submitters, never_block). */
static void block_intruder(struct engine *e, const struct event *ev, int64_t now, const char *why,
                           struct verdict *v) {
  const struct conf *c = e->conf;
  if (c->block_time <= 0 || c->shadow || never_block(c, ev->client)) return;
  char reason[200];
  int n = snprintf(reason, sizeof reason, "suspension of %.100s: %.80s", ev->account, why);
  (void)n;
  if (blocktab_add(e->blocks, ev->client, now, now + (int64_t)c->block_time, "mailfuse", reason))
    v->blocked_now = true;
}

/* An address that failed on login_spray_accounts accounts is blocked for
 * block_time (never in shadow mode, never the site's own); true if now. */
static bool block_sprayer(struct engine *e, const char *client, unsigned accts, int64_t now) {
  const struct conf *c = e->conf;
  if (accts < (unsigned)c->login_spray_accounts || c->block_time <= 0 || c->shadow ||
      never_block(c, client) || blocktab_get(e->blocks, client, now))
    return false;
  char why[200];
  snprintf(why, sizeof why, "password spraying: failed logins on %u accounts in an hour", accts);
  return blocktab_add(e->blocks, client, now, now + (int64_t)c->block_time, "mailfuse", why) != NULL;
}

/* A login's outcome: the score's profile learns it; failures count per
 * address, network and account; a password sprayer is blocked; a success
 * risky enough suspends the account (login_suspend_risk). */
static int feed_login(struct engine *e, const struct event *ev, int64_t now, struct verdict *v) {
  const struct conf *c = e->conf;
  detect_login(e->dt, ev, now);
  if (ev->kind == EV_LOGIN_FAIL) {
    login_guard_failed(e->lg, ev->account, ev->client, now);
    uint64_t fails;
    unsigned accts;
    detect_ip_info(e->dt, ev->client, now, &fails, &accts);
    v->blocked_now = block_sprayer(e, ev->client, accts, now);
    return 0;
  }
  const char *why = NULL;
  float risk = ev->account ? detect_login_risk(e->dt, ev->account, now, &why) : 0;
  if (c->login_suspend_risk > 0 && risk >= c->login_suspend_risk && !c->shadow &&
      !susptab_get(e->susp, ev->account)) {
    char reason[200];
    snprintf(reason, sizeof reason, "risky login (%.1f): %s", risk, why ? why : "");
    if (engine_suspend(e, ev->account, now, "mailfuse", reason) < 0) return -1;
    v->action = ACT_SUSPEND;
    v->suspended_now = true;
    v->score = risk;
    snprintf(v->reasons, sizeof v->reasons, "%s", reason);
  }
  return 0;
}

void engine_login_check(struct engine *e, const struct event *ev, int64_t now,
                        struct login_verdict *lv) {
  const struct conf *c = e->conf;
  memset(lv, 0, sizeof *lv);
  if (now > e->latest) e->latest = now;
  const struct block *b = blocktab_get(e->blocks, ev->client, now);
  if (b) {
    lv->status = -1;
    snprintf(lv->reason, sizeof lv->reason, "address blocked: %.140s", b->reason);
    return;
  }
  if (ev->account && susptab_get(e->susp, ev->account)) {
    lv->status = -1;
    snprintf(lv->reason, sizeof lv->reason, "account suspended");
    return;
  }
  uint64_t ip_fails, net_fails, acct_fails;
  unsigned accts;
  detect_ip_info(e->dt, ev->client, now, &ip_fails, &accts);
  login_guard_counts(e->lg, ev->account, ev->client, now, &net_fails, &acct_fails);
  bool exempt = never_block(c, ev->client);
  if (!exempt && accts >= (unsigned)c->login_spray_accounts) {
    lv->status = -1;
    snprintf(lv->reason, sizeof lv->reason, "password spraying: failed logins on %u accounts", accts);
    lv->blocked_now = block_sprayer(e, ev->client, accts, now);
  } else if (!exempt && ip_fails >= (uint64_t)c->login_reject_failures) {
    lv->status = -1;
    snprintf(lv->reason, sizeof lv->reason, "brute force: %llu failed logins from this address in an hour",
             (unsigned long long)ip_fails);
  } else if (!exempt && ip_fails >= (uint64_t)c->login_delay_failures) {
    lv->status = (int)c->login_delay;
    snprintf(lv->reason, sizeof lv->reason, "%llu failed logins from this address in an hour",
             (unsigned long long)ip_fails);
  } else if (!exempt && net_fails >= (uint64_t)c->login_network_failures) {
    lv->status = (int)c->login_delay;
    snprintf(lv->reason, sizeof lv->reason, "%llu failed logins from this network in an hour",
             (unsigned long long)net_fails);
  } else if (acct_fails >= (uint64_t)c->login_account_failures) {
    lv->status = (int)c->login_delay;
    snprintf(lv->reason, sizeof lv->reason, "%llu failed logins of this account in an hour",
             (unsigned long long)acct_fails);
  }
  if (c->shadow && lv->status) lv->status = 0; /* decided and logged, not applied */
}

static void count_throttle(struct engine *e, struct rec *ra, const struct limit_set *ls,
                           uint32_t now, struct verdict *v) {
  uint64_t d[MET__N] = {0};
  d[MET_THROTTLED] = 1;
  charge(e, ra, d, now);
  limits_check_metric(ls, PER_ACCOUNT, ra, MET_THROTTLED, 1, e->conf->shadow, v);
}

int engine_feed(struct engine *e, const struct event *ev, int64_t now64, struct verdict *v) {
  const struct conf *c = e->conf;
  struct txn none = {0};
  struct txn *t = ev->txn ? ev->txn : &none;
  memset(v, 0, sizeof *v);
  if (now64 > e->latest) e->latest = now64;
  /* a blocked address is refused at the door; logs and login reports are facts and are counted */
  if ((ev->kind == EV_RCPT || ev->kind == EV_DATA || ev->kind == EV_EOM || ev->kind == EV_OTHER) &&
      blocktab_get(e->blocks, ev->client, now64)) {
    v->action = ACT_REJECT;
    v->client_blocked = true;
    return 0;
  }
  if (ev->kind == EV_LOGIN_OK || ev->kind == EV_LOGIN_FAIL) return feed_login(e, ev, now64, v);
  if (!ev->account || !*ev->account) {
    v->no_account = true;
    return 0;
  }
  if (susptab_get(e->susp, ev->account)) {
    v->action = ACT_REJECT;
    v->was_suspended = true;
    return 0;
  }
  uint32_t now = clamp_now(now64);
  struct rec *ra = get_rec(e, PER_ACCOUNT, ev->account, now);
  if (!ra) return -1;
  struct rec *rd = get_rec(e, PER_SENDER_DOMAIN, ev->sender_domain, now);
  struct rec *rc = get_rec(e, PER_CLIENT, ev->client, now);
  bool is_ext = ev->rcpt_domain && !conf_is_local_domain(c, ev->rcpt_domain);
  uint64_t d[MET__N];
  struct event evt = *ev;
  evt.txn = t;
  deltas(&evt, is_ext, d);
  const struct limit_set *als = conf_account_limits(c, group_of(e, ra, ev->account));
  bool exempt = conf_exemption(c, ev->account, now64) != NULL;
  struct detect_seen seen = {0};
  if (c->score) detect_observe(e->dt, &evt, now64, is_ext, &seen);
  if (!exempt) {
    limits_check(als, PER_ACCOUNT, ra, d, c->shadow, v);
    detect_judge(e->dt, &seen, &evt, now64, v);
    if (rd) limits_check(&c->limits, PER_SENDER_DOMAIN, rd, d, c->shadow, v);
    if (rc) limits_check(&c->limits, PER_CLIENT, rc, d, c->shadow, v);
    /* only limit throttles escalate: the score escalates by itself */
    if (v->action == ACT_THROTTLE && !t->throttled && ev->kind != EV_LOG_RCPT &&
        !detect_is_score_limit(v->limit)) {
      t->throttled = true;
      count_throttle(e, ra, als, now, v);
    }
  }
  detect_learn(e->dt, &seen, &evt, now64, is_ext, v->action);
  if (v->action == ACT_SUSPEND) {
    char why[400];
    suspend_reason(v, why, sizeof why);
    if (engine_suspend(e, ev->account, now64, "mailfuse", why) < 0) return -1;
    v->suspended_now = true;
    block_intruder(e, ev, now64, why, v);
    return 0;
  }
  if (v->action == ACT_THROTTLE) return 0;
  if (ev->kind == EV_RCPT) {
    t->rcpts++;
    t->ext += is_ext;
  }
  bool charge_now = ev->kind == EV_LOG_QUEUED || ev->kind == EV_LOG_RCPT ||
                    (!t->charged && (ev->kind == EV_EOM || (ev->kind == EV_DATA && c->charge_at_data)));
  if (charge_now) {
    d[MET_THROTTLED] = 0;
    charge(e, ra, d, now);
    charge(e, rd, d, now);
    charge(e, rc, d, now);
    t->charged = true;
  }
  return 0;
}

int engine_suspend(struct engine *e, const char *account, int64_t now, const char *by,
                   const char *reason) {
  return susptab_add(e->susp, account, now, by, reason) ? 0 : -1;
}

int engine_release(struct engine *e, const char *account) { return susptab_del(e->susp, account); }

const struct susptab *engine_suspensions(const struct engine *e) { return e->susp; }

const struct block *engine_block(struct engine *e, const char *addr, int64_t now, int64_t until,
                                 const char *by, const char *reason) {
  return blocktab_add(e->blocks, addr, now, until, by, reason);
}

int engine_unblock(struct engine *e, const char *addr) { return blocktab_del(e->blocks, addr); }

struct blocktab *engine_blocks(const struct engine *e) { return e->blocks; }

const struct block *engine_block_of(const struct engine *e, const char *addr, int64_t now) {
  return blocktab_get(e->blocks, addr, now);
}

int engine_counts(struct engine *e, enum limit_per per, const char *key, int64_t now,
                  int64_t out[MET__N][WIN__N]) {
  struct rec *r = keytab_get(e->tab[per], key, strlen(key));
  for (int m = 0; m < MET__N; m++)
    for (int w = 0; w < WIN__N; w++) {
      uint32_t *ring = r ? rec_ring(r, m, w) : NULL;
      if (!ring && !(e->conf->slot_mask[per] & (1u << (m * WIN__N + w)))) {
        out[m][w] = -1;
        continue;
      }
      win_ring copy = {0};
      if (ring) {
        memcpy(copy, ring, sizeof copy);
        window_roll(copy, (enum window_kind)w, r->last, clamp_now(now));
      }
      out[m][w] = (int64_t)window_sum(copy);
    }
  return r != NULL;
}

int engine_group_of(struct engine *e, const char *account) {
  return conf_group_of(e->conf, account);
}

bool engine_throttled(struct engine *e, const char *account, int64_t now,
                      const struct limit **limit) {
  int64_t cnt[MET__N][WIN__N];
  if (!engine_counts(e, PER_ACCOUNT, account, now, cnt)) return false;
  const struct limit_set *ls = conf_account_limits(e->conf, conf_group_of(e->conf, account));
  for (size_t i = 0; i < ls->n; i++) {
    const struct limit *l = &ls->v[i];
    if (l->per == PER_ACCOUNT && l->action == ACT_THROTTLE && !l->shadow && !e->conf->shadow &&
        l->metric != MET_THROTTLED && cnt[l->metric][l->win] >= (int64_t)l->max) {
      if (limit) *limit = l;
      return true;
    }
  }
  return false;
}

int64_t engine_latest(const struct engine *e) { return e->latest; }

const struct profile *engine_explain(struct engine *e, const char *account, int64_t now,
                                     struct score *s) {
  return e->conf->score ? detect_explain(e->dt, account, now, s) : NULL;
}

size_t engine_collect_profiles(struct engine *e, void (*cb)(void *, const char *, const uint8_t *, size_t),
                               void *arg, size_t max, int64_t queued_by) {
  return detect_collect_some(e->dt, cb, arg, max, queued_by);
}

void engine_mark_profile_dirty(struct engine *e, const char *account) {
  detect_mark_dirty(e->dt, account);
}

int engine_load_profile(struct engine *e, const char *account, const uint8_t *data, size_t len) {
  return detect_load(e->dt, account, data, len);
}

size_t engine_profile_count(const struct engine *e) { return detect_count(e->dt); }

size_t engine_key_count(const struct engine *e, enum limit_per per) {
  return keytab_count(e->tab[per]);
}

const char *engine_next_key(const struct engine *e, enum limit_per per, size_t *pos) {
  struct rec *r = keytab_next(e->tab[per], pos);
  return r ? rec_key(r) : NULL;
}

size_t engine_collect_some(struct engine *e, engine_emit_fn cb, void *arg, size_t max) {
  uint8_t buf[16 + MET__N * WIN__N * sizeof(win_ring)];
  /* rings of a minute only: not worth a disk write (a restart loses at most a minute of them) */
  uint16_t minute_only = 0;
  for (int m = 0; m < MET__N; m++) minute_only |= (uint16_t)(1u << (m * WIN__N + WIN_MINUTE));
  for (size_t done = 0; done < max && e->ndirty; done++) { /* from the back: no shifting */
    struct rec *r = e->dirty[--e->ndirty];
    r->flags &= (uint8_t)~REC_DIRTY;
    if (!(r->mask & ~minute_only)) continue;
    size_t n = rec_encode(r, buf, sizeof buf);
    cb(arg, (enum limit_per)(r->flags >> REC_PER_SHIFT), rec_key(r), buf, n);
  }
  for (size_t i = 0; i < e->ngone; i++) {
    cb(arg, (enum limit_per)(e->gone[i][0] - '0'), e->gone[i] + 2, NULL, 0);
    free(e->gone[i]);
  }
  e->ngone = 0;
  return e->ndirty;
}

void engine_mark_dirty(struct engine *e, enum limit_per per, const char *key) {
  struct rec *r = keytab_get(e->tab[per], key, strlen(key));
  if (r) mark_dirty(e, r);
  else push_gone(e, per, key);
}

int engine_load(struct engine *e, enum limit_per per, const char *key, const uint8_t *data,
                size_t len) {
  size_t kl = strlen(key);
  if (kl == 0 || kl > KEY_MAX) return -1;
  struct rec *r = rec_decode(e->tab[per], key, kl, data, len, e->conf->slot_mask[per]);
  if (!r) return -1;
  r->flags |= (uint8_t)(per << REC_PER_SHIFT);
  return 0;
}

int engine_load_suspension(struct engine *e, const char *account, const char *json, size_t len) {
  return susptab_add_json(e->susp, account, json, len);
}

struct sweep_ctx {
  struct engine *e;
  enum limit_per per;
  uint32_t now;
};

static bool idle(struct rec *r, void *arg) {
  struct sweep_ctx *s = arg;
  if (r->flags & REC_DIRTY) return false;
  if ((double)(s->now - (s->now > r->last ? r->last : s->now)) < s->e->conf->idle_expiry) return false;
  rec_roll(r, s->now);
  if (!rec_empty(r)) return false;
  push_gone(s->e, s->per, rec_key(r));
  return true;
}

size_t engine_sweep(struct engine *e, int64_t now, size_t max_slots) {
  int p = e->sweep_per;
  e->sweep_per = (e->sweep_per + 1) % PER__N;
  struct sweep_ctx s = {e, (enum limit_per)p, clamp_now(now)};
  return keytab_sweep(e->tab[p], &e->sweep_pos[p], max_slots, idle, &s);
}
