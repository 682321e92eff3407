/* logfeed.c - from log events to engine events.
 *
 * Postfix: the smtpd "client=, sasl_username=" line names the account of a
 * queue id; qmgr's first "from=, nrcpt=" line charges the message with its
 * recipients (later "from=" lines of the same id are re-queues after a
 * deferral, not new mail); each recipient's first delivery status charges
 * one external recipient when its domain is not ours.  A message the
 * policy server already charged (same queue id) is not counted again.
 * Exim: an arrival ("<=", with A= for the account) charges the message and
 * the recipients its "for" list names.  Logins pass through to the engine
 * (login signals come with the login-guard work) and to the callback.
 *
 * In replay this is how "what would mailfuse have done" is computed: a
 * message the engine refuses is counted as stopped, and its deliveries are
 * not charged, as they would not have happened.
 */
#include "sources/logfeed.h"

#include "core/where.h"
#include "core/hostnets.h"

#include <stdlib.h>
#include <string.h>

#include "sources/qlink.h"

#define QLINK_MAX 500000
#define QLINK_TTL (5 * 86400) /* Postfix's maximal_queue_lifetime default */

struct logfeed {
  struct engine *e;
  const struct conf *c;
  struct qlink *q;
  const struct geoip *geo;    /* may be NULL */
  const struct hostnets *hn;  /* may be NULL */
  struct where where;         /* the last client looked up (the lookup is the source's job) */
};

void logfeed_set_geo(struct logfeed *f, const struct geoip *geo, const struct hostnets *hn) {
  f->geo = geo;
  f->hn = hn;
}


struct logfeed *logfeed_new(struct engine *e, const struct conf *c) {
  struct logfeed *f = calloc(1, sizeof *f);
  if (!f || !(f->q = qlink_new(QLINK_MAX, QLINK_TTL))) {
    free(f);
    return NULL;
  }
  f->e = e;
  f->c = c;
  return f;
}

void logfeed_free(struct logfeed *f) {
  if (!f) return;
  qlink_free(f->q);
  free(f);
}

void logfeed_set_conf(struct logfeed *f, const struct conf *c) { f->c = c; }

size_t logfeed_pending(const struct logfeed *f) { return qlink_count(f->q); }

void logfeed_mark_policy(struct logfeed *f, const char *qid, int64_t now) {
  struct qlink_entry *q = qlink_put(f->q, qid, strlen(qid), now);
  if (q) {
    q->flags |= QL_POLICY;
    qlink_touch(f->q, q);
  }
}

void logfeed_collect(struct logfeed *f, void (*cb)(void *, const char *, const struct qlink_entry *),
                     void *arg) {
  qlink_collect(f->q, cb, arg);
}

int logfeed_restore(struct logfeed *f, const char *qid, const char *text) {
  return qlink_restore(f->q, qid, text);
}

static void copy_sv(char *dst, size_t len, struct strview v) { (void)sv_copy(dst, len, v); }

static const char *domain_of(const char *addr) {
  const char *at = strrchr(addr, '@');
  return at && at[1] ? at + 1 : NULL;
}

static bool stops(enum action a) { return a == ACT_THROTTLE || a >= ACT_HOLD; }

/* Feed one engine event and fill the result's verdict. */
/* Where a submission came from, for the risk score (and only then: a
 * lookup per message costs time the limits do not need). */
static void locate(struct logfeed *f, struct event *ev) {
  if (!f->c->score || !ev->client) return;
  where_lookup(&f->where, f->geo, f->hn, ev->client);
  ev->geo = where_geo(&f->where);
  ev->hosting = f->where.hosting;
}

static int feed(struct logfeed *f, struct logfeed_result *r, struct event *ev) {
  r->kind = ev->kind;
  r->fed = true;
  if (engine_feed(f->e, ev, r->lev->ts, &r->v) < 0) return -1;
  r->stopped = stops(r->v.action);
  return 0;
}

static void account_of(struct logfeed *f, struct strview user, char *out, size_t len) {
  (void)conf_account_name(f->c, user.p, user.len, out, len);
}

/* An unauthenticated submission from a sender_account_networks host is charged to its sender. */
static void sender_as_account(struct logfeed *f, const char *client, const char *sender, char *out,
                              size_t len) {
  struct netaddr a;
  if (!client || !*sender || !f->c->nsender_account_networks ||
      netaddr_parse(client, strlen(client), &a) < 0 ||
      !netmask_list_contains(f->c->sender_nets, f->c->nsender_account_networks, &a))
    return;
  (void)conf_account_name(f->c, sender, strlen(sender), out, len);
}

static int on_queued(struct logfeed *f, const struct logev *l, struct logfeed_result *r) {
  struct qlink_entry *q = qlink_get(f->q, l->qid.p, l->qid.len);
  if (!q) return 0; /* not submitted through smtpd (bounce, pickup) or before the log began */
  char sender[KEY_MAX + 1], acct[KEY_MAX + 1] = "";
  copy_sv(sender, sizeof sender, l->sender);
  for (char *p = sender; *p; p++) *p = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
  if (q->account) snprintf(acct, sizeof acct, "%s", q->account);
  else sender_as_account(f, q->client, sender, acct, sizeof acct);
  r->account = q->account ? q->account : NULL;
  r->client = q->client;
  if (!q->account && acct[0]) qlink_set(q, acct, NULL), r->account = q->account;
  if (q->flags & (QL_POLICY | QL_QUEUED)) {
    r->duplicate = true;
    return 0;
  }
  q->flags |= QL_QUEUED;
  q->nrcpt = l->nrcpt;
  r->nrcpt = l->nrcpt;
  qlink_touch(f->q, q);
  if (!r->account) return 0;
  struct event ev = {EV_LOG_QUEUED, r->account, domain_of(sender), q->client, NULL, l->nrcpt, NULL, sender, NULL, NULL};
  locate(f, &ev);
  if (feed(f, r, &ev) < 0) return -1;
  if (r->stopped) q->flags |= QL_STOPPED;
  qlink_touch(f->q, q);
  return 0;
}

static int on_delivery(struct logfeed *f, const struct logev *l, struct logfeed_result *r) {
  struct qlink_entry *q = qlink_get(f->q, l->qid.p, l->qid.len);
  if (!q || !q->account) return 0;
  r->account = q->account;
  r->client = q->client;
  if ((q->flags & QL_POLICY) || !qlink_first_status(q, l->rcpt.p, l->rcpt.len)) {
    r->duplicate = true;
    return 0;
  }
  if (q->flags & QL_STOPPED) {
    r->stopped = true; /* this recipient would not have been reached */
    return 0;
  }
  char rcpt[KEY_MAX + 1];
  copy_sv(rcpt, sizeof rcpt, l->rcpt);
  for (char *p = rcpt; *p; p++) *p = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
  struct event ev = {EV_LOG_RCPT, q->account, NULL, q->client, domain_of(rcpt), 0, NULL, NULL, NULL, NULL};
  locate(f, &ev);
  return feed(f, r, &ev);
}

static size_t count_words(struct strview v) {
  size_t n = 0;
  for (size_t i = 0; i < v.len; i++)
    if (v.p[i] != ' ' && (i == 0 || v.p[i - 1] == ' ')) n++;
  return n;
}

static int on_arrival(struct logfeed *f, const struct logev *l, struct logfeed_result *r,
                      char *acct, size_t alen, char *client, size_t clen) {
  if (!l->user.len) return 0; /* not authenticated: inbound mail */
  account_of(f, l->user, acct, alen);
  copy_sv(client, clen, l->ip);
  r->account = acct;
  r->client = client;
  char sender[KEY_MAX + 1];
  copy_sv(sender, sizeof sender, l->sender);
  struct qlink_entry *q = qlink_put(f->q, l->qid.p, l->qid.len, l->ts);
  if (q) qlink_set(q, acct, client), q->flags |= QL_QUEUED, qlink_touch(f->q, q);
  uint32_t n = l->nrcpt ? l->nrcpt : (uint32_t)count_words(l->rcpts);
  r->nrcpt = n;
  struct event ev = {EV_LOG_QUEUED, acct, domain_of(sender), client, NULL, n, NULL, sender, NULL, NULL};
  locate(f, &ev);
  if (feed(f, r, &ev) < 0) return -1;
  if (q && r->stopped) q->flags |= QL_STOPPED, qlink_touch(f->q, q);
  return 0;
}

int logfeed_feed(struct logfeed *f, const struct logev *l, logfeed_fn cb, void *arg) {
  struct logfeed_result r;
  memset(&r, 0, sizeof r);
  r.lev = l;
  char acct[KEY_MAX + 1] = "", client[64] = "";
  int rc = 0;
  qlink_expire(f->q, l->ts);
  switch (l->kind) {
    case LE_SUBMIT: {
      struct qlink_entry *q = qlink_put(f->q, l->qid.p, l->qid.len, l->ts);
      account_of(f, l->user, acct, sizeof acct);
      copy_sv(client, sizeof client, l->ip);
      if (q) qlink_set(q, acct, client), qlink_touch(f->q, q);
      r.account = acct[0] ? acct : NULL;
      r.client = client;
      break;
    }
    case LE_QUEUED: rc = on_queued(f, l, &r); break;
    case LE_DELIVERY: rc = on_delivery(f, l, &r); break;
    case LE_ARRIVAL: rc = on_arrival(f, l, &r, acct, sizeof acct, client, sizeof client); break;
    case LE_REMOVED: qlink_del(f->q, l->qid.p, l->qid.len); break;
    case LE_LOGIN_FAIL:
      /* Dovecot's auth process logs the same failure as the login
       * process (auth_verbose): count the login line only */
      if (sv_eq(l->service, "auth")) break;
      /* fall through */
    case LE_LOGIN_OK: {
      account_of(f, l->user, acct, sizeof acct);
      copy_sv(client, sizeof client, l->ip);
      r.account = acct[0] ? acct : NULL;
      r.client = client;
      where_lookup(&f->where, f->geo, f->hn, client);
      struct event ev = {l->kind == LE_LOGIN_OK ? EV_LOGIN_OK : EV_LOGIN_FAIL, r.account, NULL,
                         client, NULL, 0, NULL, NULL, where_geo(&f->where), f->where.hosting};
      rc = feed(f, &r, &ev);
      break;
    }
    default: {
      struct qlink_entry *q = l->qid.len ? qlink_get(f->q, l->qid.p, l->qid.len) : NULL;
      if (q) {
        r.account = q->account;
        r.client = q->client;
      }
      break;
    }
  }
  if (cb) cb(arg, &r);
  return rc;
}
