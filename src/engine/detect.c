/* detect.c - profiles, login state and the risk score, as the engine uses them.
 *
 * Order per message event: observe (recent activity counts every attempt),
 * judge (the score against what is normal for this account), then learn
 * (the habits, domains and shares of what was let through, never of what
 * was flagged, so an intruder cannot teach the profile).  Logins keep
 * per-address failure state (brute force, password spraying: one address,
 * many accounts) and per-account login risk, which later mail inherits for
 * a day.
 */
#include "engine/detect.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/geoip.h"
#include "core/strmap.h"
#include "engine/domains.h"

#define LOGIN_RISK_SECONDS 86400
#define LOGIN_RISK_OTHER_MAX 4.5f /* a login's risk unless from a sprayer (see login_ok) */
#define BRUTE_FAILURES 20
#define IPSTATE_MAX 200000
#define IP_ACCOUNTS 32
#define SITE_ALPHA 0.001f
#define SITE_KEY "@site"
#define DORMANT_SECONDS (30 * 86400)

struct ipstate {
  win_ring fails;
  uint32_t accts[IP_ACCOUNTS];
  uint8_t nacct;
  uint32_t last;
};

/* A profile waiting to be written; the key is the map's own copy, which
 * lives as long as the profile (profiles are never deleted). */
struct queued {
  const char *account;
  struct profile *p;
  int64_t since; /* when it was queued: the list is in this order */
};

/* A FIFO: q[head..n) are waiting. */
struct qlist {
  struct queued *q;
  size_t head, n, cap;
};

struct detect {
  const struct conf *c;
  /* What changed since it was last written: learning (written every
   * profile_flush_interval) and login state (with the next flush). */
  struct qlist learned, urgent;
  struct domains *dom;
  struct strmap *profiles; /* account -> struct profile */
  struct strmap *ips;      /* address -> struct ipstate */
  struct profile site;     /* shares over every account: the site's usual */
  int64_t site_since;      /* when it changed first since it was written */
};

/* The score's own limits, so replies, logs and reports treat it like one. */
static struct limit score_limits[ACT__N] = {
    [ACT_ALERT] = {"risk-score", PER_ACCOUNT, MET_MESSAGES, WIN_HOUR, 0, ACT_ALERT, false, NULL, 0},
    [ACT_THROTTLE] = {"risk-score", PER_ACCOUNT, MET_MESSAGES, WIN_HOUR, 0, ACT_THROTTLE, false,
                      "mailfuse: unusual sending from {account}, try again later", 0},
    [ACT_HOLD] = {"risk-score", PER_ACCOUNT, MET_MESSAGES, WIN_HOUR, 0, ACT_HOLD, false,
                  "mailfuse: held for review, unusual sending from {account}", 0},
    [ACT_SUSPEND] = {"risk-score", PER_ACCOUNT, MET_MESSAGES, WIN_HOUR, 0, ACT_SUSPEND, false,
                     "mailfuse: account {account} is suspended (unusual sending), contact your mail administrator", 0},
};

bool detect_is_score_limit(const struct limit *l) {
  return l >= score_limits && l < score_limits + ACT__N;
}

struct detect *detect_new(const struct conf *c, char *err, size_t errlen) {
  struct detect *d = calloc(1, sizeof *d);
  if (!d) return NULL;
  d->c = c;
  if (!(d->dom = domains_new(c->freemail_file, err, errlen)) || !(d->profiles = strmap_new()) ||
      !(d->ips = strmap_new())) {
    detect_free(d);
    return NULL;
  }
  return d;
}

void detect_free(struct detect *d) {
  if (!d) return;
  free(d->learned.q);
  free(d->urgent.q);
  domains_free(d->dom);
  strmap_free_values(d->profiles, free);
  strmap_free_values(d->ips, free);
  free(d);
}

void detect_set_conf(struct detect *d, const struct conf *c) { d->c = c; }

static bool qlist_push(struct qlist *l, const char *account, struct profile *p, int64_t now) {
  if (l->head && l->head * 2 >= l->n) { /* reuse the front that was taken */
    memmove(l->q, l->q + l->head, (l->n - l->head) * sizeof *l->q);
    l->n -= l->head;
    l->head = 0;
  }
  if (l->n == l->cap) {
    size_t ncap = l->cap ? l->cap * 2 : 1024;
    struct queued *nq = realloc(l->q, ncap * sizeof *nq);
    if (!nq) return false; /* written with a later change */
    l->q = nq;
    l->cap = ncap;
  }
  /* a clock going back (a replayed log out of order) must not break the order */
  if (l->n > l->head && now < l->q[l->n - 1].since) now = l->q[l->n - 1].since;
  l->q[l->n++] = (struct queued){account, p, now};
  return true;
}

/* Put the account on the list of learned changes once (profile_roll and
 * the learners only set p->dirty; this records who and since when, so a
 * flush never scans them all and writes each about profile_flush_interval
 * after its first change: spread like the traffic, not in one burst). */
static void note_dirty(struct detect *d, const char *account, struct profile *p, int64_t now) {
  if (!p->queued) p->queued = qlist_push(&d->learned, strmap_key(d->profiles, account), p, now);
}

/* Login state changed: what a restart must not forget (a risky login, the
 * failures before it) is written with the next flush, within a second. */
static void note_urgent(struct detect *d, const char *account, struct profile *p) {
  p->dirty = true;
  if (!p->urgent) p->urgent = qlist_push(&d->urgent, strmap_key(d->profiles, account), p, 0);
}

static struct profile *profile_of(struct detect *d, const char *account, int64_t now) {
  struct profile *p = strmap_get(d->profiles, account);
  if (p) {
    note_dirty(d, account, p, now);
    return p;
  }
  if (!(p = calloc(1, sizeof *p))) return NULL;
  p->first_seen = now;
  p->dirty = true;
  if (strmap_set(d->profiles, account, p) < 0) {
    free(p);
    return NULL;
  }
  note_dirty(d, account, p, now);
  return p;
}

/* Does this client address say anything about who is sending? A webmail
 * or relay on this host (loopback, sender_account_networks) does not. */
static bool informative(const struct conf *c, const char *client) {
  struct netaddr a;
  if (!client || netaddr_parse(client, strlen(client), &a) < 0) return false;
  if ((a.family == 4 && a.bytes[0] == 127) || (a.family == 6 && a.bytes[15] == 1 &&
                                               !memcmp(a.bytes, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 15)))
    return false;
  return !netmask_list_contains(c->sender_nets, c->nsender_account_networks, &a);
}

static bool is_message(enum ev_kind k) { return k == EV_EOM || k == EV_LOG_QUEUED || k == EV_DATA; }
static bool is_recipient(enum ev_kind k) { return k == EV_RCPT || k == EV_LOG_RCPT; }

void detect_observe(struct detect *d, const struct event *ev, int64_t now, bool is_ext,
                    struct detect_seen *seen) {
  memset(seen, 0, sizeof *seen);
  struct profile *p = profile_of(d, ev->account, now);
  if (!p) return;
  seen->p = p;
  int64_t idle = p->last_active ? now - p->last_active : 0;
  profile_roll(p, now);
  if (is_message(ev->kind) && !(ev->txn && ev->txn->charged)) {
    if (idle > DORMANT_SECONDS) {
      p->woke_at = now;
      p->woke_days = (uint32_t)(idle / 86400);
    }
    profile_count_message(p, now, false);
  }
  if (informative(d->c, ev->client)) {
    p->last_net = seen->net = profile_net(ev->client, false);
    p->last_wide = seen->wide = profile_net(ev->client, true);
  }
  if (is_recipient(ev->kind) && ev->rcpt_domain && is_ext) {
    seen->freemail = domains_freemail(d->dom, ev->rcpt_domain);
    seen->foreign = domains_foreign(d->c, ev->rcpt_domain);
    profile_recent_add(p, RC_EXT, now, 1);
    if (!profile_knows_domain(p, ev->rcpt_domain)) profile_recent_add(p, RC_NEWDOM, now, 1);
    if (seen->freemail) profile_recent_add(p, RC_FREEMAIL, now, 1);
    if (seen->foreign) profile_recent_add(p, RC_FOREIGN, now, 1);
  }
}

static bool sender_mismatch(const struct event *ev) {
  if (!ev->sender || !*ev->sender || !strchr(ev->account, '@')) return false;
  return strcasecmp(ev->sender, ev->account) != 0;
}

/* The score of p now, for the event's client (net, wide); without an event
 * (ctl explain) for the last informative client it used. */
static void score_now(struct detect *d, const struct profile *p, uint32_t net, uint32_t wide,
                      const struct event *ev, int64_t now, struct score *s) {
  struct signal_ctx x = {d->c, p, 0, 0, now, ev ? net : p->last_net, ev ? wide : p->last_wide,
                         ev ? ev->client : "(its last client)", ev && sender_mismatch(ev),
                         ev ? ev->sender : NULL, ev == NULL, ev && net ? ev->geo : NULL,
                         ev && net ? ev->hosting : NULL};
  detect_site(d, &x.site_foreign, &x.site_freemail);
  signals_score(&x, s);
}

static bool shadowed(const struct conf *c, enum action a) {
  const char *name = conf_action_name(a);
  for (size_t i = 0; i < c->nscore_shadow; i++)
    if (!strcmp(c->score_shadow[i], name)) return true;
  return c->shadow;
}

void detect_judge(struct detect *d, const struct detect_seen *seen, const struct event *ev,
                  int64_t now, struct verdict *v) {
  const struct profile *p = seen->p;
  if (!p || !(is_message(ev->kind) || is_recipient(ev->kind))) return;
  struct score s;
  score_now(d, p, seen->net, seen->wide, ev, now, &s);
  v->score = s.total;
  if (s.action == ACT_DUNNO) return;
  signals_reasons(&s, 4, v->reasons, sizeof v->reasons);
  const struct limit *l = &score_limits[s.action];
  bool sh = shadowed(d->c, s.action);
  uint64_t count = (uint64_t)lroundf(s.total * 10);
  if (v->nhits < VERDICT_HITS) v->hits[v->nhits++] = (struct hit){l, count, sh};
  if (!sh && s.action > v->action) {
    v->action = s.action;
    v->limit = l;
    v->count = count;
  }
}

static void learn_site(struct detect *d, bool ext, bool fm, bool fo, int64_t now) {
  d->site.share_ext += SITE_ALPHA * ((float)ext - d->site.share_ext);
  d->site.share_freemail += SITE_ALPHA * ((float)fm - d->site.share_freemail);
  d->site.share_foreign += SITE_ALPHA * ((float)fo - d->site.share_foreign);
  if (!d->site.dirty) d->site_since = now;
  d->site.dirty = true;
}

static void geo_learn(struct profile *p, const struct event *ev) {
  if (!ev->geo) return;
  profile_add_country(p, profile_cc(ev->geo->country));
  if (ev->geo->asn && !profile_has(p->asns, PROFILE_ASNS, ev->geo->asn)) {
    profile_add(p->asns, PROFILE_ASNS, ev->geo->asn);
    p->dirty = true;
  }
}

void detect_learn(struct detect *d, const struct detect_seen *seen, const struct event *ev,
                  int64_t now, bool is_ext, enum action final) {
  struct profile *p = seen->p;
  if (!p || final >= ACT_THROTTLE) return;
  bool risky = p->login_risk > 0 && now < p->login_risk_until;
  if (is_recipient(ev->kind) && ev->rcpt_domain) {
    profile_learn_recipient(p, is_ext, seen->freemail, seen->foreign);
    learn_site(d, is_ext, seen->freemail, seen->foreign, now);
    if (is_ext && !risky) profile_learn_domain(p, ev->rcpt_domain, now);
  }
  if (is_message(ev->kind) && !risky) {
    p->msgs_learned++;
    int hod = (int)((now / 3600) % 24), wd = (int)((now / 86400 + 4) % 7);
    if (p->hours[hod] < UINT16_MAX) p->hours[hod]++;
    if (p->wdays[wd] < UINT16_MAX) p->wdays[wd]++;
    if (seen->net) {
      profile_learn_network(p, seen->net, seen->wide, now);
      /* a network it is known to use teaches its country and operator (a
       * new country is learned the way a new network is: seen again on a
       * later day, not from the intruder's first messages) */
      if (profile_has(p->nets, PROFILE_NETS, seen->net)) geo_learn(p, ev);
    }
    p->dirty = true;
  }
}

static uint32_t acct_hash(const char *a) {
  uint32_t h = 2166136261u;
  for (; *a; a++) h = (h ^ (uint8_t)*a) * 16777619u;
  return h ? h : 1;
}

static void forget_old_ips(struct detect *d, uint32_t now) {
  size_t pos = 0;
  const char *k;
  void *v;
  char *drop[512];
  size_t n = 0;
  while (n < 512 && strmap_next(d->ips, &pos, &k, &v))
    if (((struct ipstate *)v)->last + 3600 < now) drop[n++] = (char *)k;
  for (size_t i = 0; i < n; i++) {
    char key[64];
    snprintf(key, sizeof key, "%s", drop[i]); /* the map frees its key on delete */
    free(strmap_del(d->ips, key));
  }
}

static struct ipstate *ip_of(struct detect *d, const char *ip, uint32_t now) {
  struct ipstate *s = strmap_get(d->ips, ip);
  if (s) {
    window_roll(s->fails, WIN_HOUR, s->last, now);
    if (window_sum(s->fails) == 0) s->nacct = 0; /* a quiet hour: forget who it tried */
    s->last = now;
    return s;
  }
  if (strmap_count(d->ips) >= IPSTATE_MAX) forget_old_ips(d, now);
  if (strmap_count(d->ips) >= IPSTATE_MAX || !(s = calloc(1, sizeof *s))) return NULL;
  s->last = now;
  if (strmap_set(d->ips, ip, s) < 0) {
    free(s);
    return NULL;
  }
  return s;
}

static void login_failed(struct detect *d, struct ipstate *s, const struct event *ev, uint32_t now) {
  if (s) {
    window_add(s->fails, WIN_HOUR, now, 1);
    uint32_t h = ev->account ? acct_hash(ev->account) : 0;
    if (h && s->nacct < IP_ACCOUNTS && !profile_has(s->accts, s->nacct, h)) s->accts[s->nacct++] = h;
  }
  struct profile *p = ev->account ? strmap_get(d->profiles, ev->account) : NULL;
  if (!p) return; /* unknown account: nothing to protect */
  if (now - p->fails_at > 3600) p->fails_recent = 0;
  if (p->fails_recent < UINT16_MAX) p->fails_recent++;
  p->fails_at = now;
  note_urgent(d, ev->account, p);
}

/* Country, operator, hosting network and travel of a successful login. */
static void geo_signals(struct profile *p, const struct event *ev, int64_t now, bool cold,
                        float *risk, char *why, size_t whylen) {
  if (ev->hosting) {
    *risk += 2;
    if (!why[0]) snprintf(why, whylen, "login from a hosting/VPN network: %s", ev->hosting);
  }
  const struct geo *g = ev->geo;
  if (!g || cold) return;
  uint16_t cc = profile_cc(g->country);
  bool new_cc = cc && p->countries[0] && !profile_has_country(p, cc);
  if (new_cc) {
    *risk += 3;
    if (!why[0]) snprintf(why, whylen, "login from %s, a country it never used (%s)", g->country, ev->client);
  } else if (g->asn && p->asns[0] && !profile_has(p->asns, PROFILE_ASNS, g->asn)) {
    *risk += 1;
    if (!why[0]) snprintf(why, whylen, "login from AS%u, an operator it never used", (unsigned)g->asn);
  }
  if (g->has_loc && p->login_has_loc && p->login_at && now > p->login_at - 1) {
    double km = geo_distance_km(p->login_lat / 100.0, p->login_lon / 100.0, g->lat, g->lon);
    double h = (double)(now - p->login_at) / 3600.0;
    if (geo_faster_than_travel(km, h)) {
      *risk += 3;
      if (!why[0] || new_cc)
        snprintf(why, whylen, "%.0f km from the last login %.1f h before (faster than travel)", km, h);
    }
  }
}


static void login_ok(struct detect *d, struct ipstate *s, const struct event *ev, int64_t now) {
  struct profile *p = profile_of(d, ev->account, now);
  if (!p) return;
  float risk = 0;
  char why[64] = "";
  bool inf = informative(d->c, ev->client);
  uint32_t wide = inf ? profile_net(ev->client, true) : 0;
  bool cold = p->msgs_learned < 20 && !p->login_at;
  bool sprayer = s && s->nacct >= (unsigned)d->c->login_spray_accounts;
  if (sprayer) {
    risk += 5;
    snprintf(why, sizeof why, "login from %s, which failed on %u accounts", ev->client, s->nacct);
  } else if (s && window_sum(s->fails) >= BRUTE_FAILURES) {
    risk += 3;
    snprintf(why, sizeof why, "login from %s after %llu failures", ev->client,
             (unsigned long long)window_sum(s->fails));
  }
  geo_signals(p, ev, now, cold, &risk, why, sizeof why);
  bool known = wide && profile_has(p->wide, PROFILE_WIDE, wide);
  if (p->fails_recent >= 3 && now - p->fails_at < 3600 && !known) { /* the owner, at home, after a spray: no */
    risk += 2;
    if (!why[0]) snprintf(why, sizeof why, "login after %u failed attempts", p->fails_recent);
  }
  if (wide && !cold && p->wide[0] && !profile_has(p->wide, PROFILE_WIDE, wide)) {
    risk += 2;
    if (!why[0]) snprintf(why, sizeof why, "login from %s, a network it never used", ev->client);
  }
  /* only a sprayer's login may act without evidence from the mail (signals.c,
   * SPRAY_LOGIN): a traveller's new country and network together stay below it */
  if (!sprayer && risk > LOGIN_RISK_OTHER_MAX) risk = LOGIN_RISK_OTHER_MAX;
  /* a risky login, or the end of a run of failures, must survive a crash;
   * the ordinary login (IMAP clients log in every few minutes) is learning */
  if (risk > 0 || p->fails_recent) note_urgent(d, ev->account, p);
  p->login_at = now;
  p->login_wide = wide;
  p->fails_recent = 0;
  p->dirty = true;
  if (risk > 0) {
    bool active = now < p->login_risk_until;
    if (!active || risk >= p->login_risk) {
      p->login_risk = risk;
      snprintf(p->login_reason, sizeof p->login_reason, "%s", why);
    }
    p->login_risk_until = now + LOGIN_RISK_SECONDS;
  } else if (inf && !(p->login_risk > 0 && now < p->login_risk_until)) {
    profile_learn_network(p, profile_net(ev->client, false), wide, now);
  }
  if (risk <= 0 || !p->countries[0]) geo_learn(p, ev); /* a clean login (or the first ones) teaches */
  /* travel is judged between this login and the next: an unlocated one in
   * between (webmail host, unknown address) breaks the chain */
  p->login_country = ev->geo ? profile_cc(ev->geo->country) : 0;
  p->login_has_loc = ev->geo && ev->geo->has_loc;
  if (p->login_has_loc) {
    p->login_lat = (int16_t)lrint(ev->geo->lat * 100);
    p->login_lon = (int16_t)lrint(ev->geo->lon * 100);
  }
}

void detect_ip_info(struct detect *d, const char *ip, int64_t now, uint64_t *fails, unsigned *accounts) {
  *fails = 0;
  *accounts = 0;
  struct ipstate *s = ip ? strmap_get(d->ips, ip) : NULL;
  if (!s) return;
  win_ring r;
  memcpy(r, s->fails, sizeof r);
  window_roll(r, WIN_HOUR, s->last, now < 0 ? 0 : (uint32_t)now);
  *fails = window_sum(r);
  *accounts = *fails ? s->nacct : 0;
}

float detect_login_risk(struct detect *d, const char *account, int64_t now, const char **why) {
  struct profile *p = account ? strmap_get(d->profiles, account) : NULL;
  if (!p || p->login_risk <= 0 || now >= p->login_risk_until) return 0;
  if (why) *why = p->login_reason;
  return p->login_risk;
}

void detect_login(struct detect *d, const struct event *ev, int64_t now) {
  uint32_t t = now < 0 ? 0 : (uint32_t)now;
  struct ipstate *s = ev->client && *ev->client ? ip_of(d, ev->client, t) : NULL;
  if (ev->kind == EV_LOGIN_FAIL) login_failed(d, s, ev, t);
  else if (ev->account && *ev->account) login_ok(d, s, ev, now);
}

const struct profile *detect_explain(struct detect *d, const char *account, int64_t now, struct score *s) {
  struct profile *p = strmap_get(d->profiles, account);
  memset(s, 0, sizeof *s);
  if (!p) return NULL;
  profile_roll(p, now);
  score_now(d, p, 0, 0, NULL, now, s);
  return p;
}

void detect_site(const struct detect *d, float *foreign, float *freemail) {
  float base = d->site.share_ext > 0.01f ? d->site.share_ext : 0.01f;
  *foreign = fminf(1.0f, d->site.share_foreign / base);
  *freemail = fminf(1.0f, d->site.share_freemail / base);
}

static void emit(const struct queued *q, detect_emit_fn cb, void *arg) {
  uint8_t buf[sizeof(struct profile) + 16];
  if (!q->p->dirty) return;
  size_t n = profile_encode(q->p, buf, sizeof buf);
  q->p->dirty = false;
  if (n) cb(arg, q->account, buf, n);
}

size_t detect_collect_some(struct detect *d, detect_emit_fn cb, void *arg, size_t max,
                           int64_t queued_by) {
  for (size_t i = d->urgent.head; i < d->urgent.n; i++) {
    d->urgent.q[i].p->urgent = false;
    emit(&d->urgent.q[i], cb, arg);
  }
  d->urgent.head = d->urgent.n = 0;
  struct qlist *l = &d->learned;
  for (size_t done = 0; done < max && l->head < l->n && l->q[l->head].since <= queued_by; done++) {
    const struct queued *q = &l->q[l->head++];
    q->p->queued = false;
    emit(q, cb, arg);
  }
  if (l->head == l->n) l->head = l->n = 0;
  if (d->site.dirty && d->site_since <= queued_by) {
    struct queued site = {SITE_KEY, &d->site, 0};
    emit(&site, cb, arg);
  }
  /* what is left for this flush */
  return l->head < l->n && l->q[l->head].since <= queued_by ? l->n - l->head : 0;
}

void detect_mark_dirty(struct detect *d, const char *account) {
  struct profile *p = strcmp(account, SITE_KEY) ? strmap_get(d->profiles, account) : &d->site;
  if (p == &d->site) p->dirty = true;
  else if (p) note_urgent(d, account, p);
}

int detect_load(struct detect *d, const char *account, const uint8_t *data, size_t len) {
  if (!strcmp(account, SITE_KEY)) return profile_decode(&d->site, data, len);
  struct profile *p = profile_of(d, account, 0);
  if (!p || profile_decode(p, data, len) < 0) return -1;
  return 0;
}

size_t detect_count(const struct detect *d) { return strmap_count(d->profiles); }
