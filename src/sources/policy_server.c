/* policy_server.c - Postfix SMTP access policy delegation over libevent.
 *
 * Each smtpd keeps one persistent connection and sends one request at a
 * time; we answer each with one "action=" line.  Per connection we keep the
 * message in progress (struct txn, keyed by Postfix's `instance`) so that
 * recipients seen at RCPT and the count at END-OF-MESSAGE belong together.
 *
 * Bad input never ends the process: the connection is dropped, the case is
 * counted for `ctl status` and logged at a capped rate.  A reply that
 * announces a suspension waits until the suspension is on disk; meanwhile
 * that connection reads nothing more and every other one is served.
 */
#include "sources/policy_server.h"

#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "actions/decision_log.h"
#include "actions/reply.h"
#include "core/log.h"
#include "core/numparse.h"
#include "core/where.h"
#include "daemon.h"
#include "engine/keytab.h"
#include "sources/listeners.h"
#include "sources/logfeed.h"
#include "sources/logsource.h"
#include "sources/policy_codec.h"

/* Unread replies a client may leave before it counts as a slow reader. */
#define POLICY_OUT_MAX (64 * 1024)
#define POLICY_IN_FIRST 2048 /* input buffers start small: 2,000 idle smtpds cost little */

struct pconn {
  struct policy_server *ps;
  int fd;                   /* -1 once closed while a store write was pending */
  struct event *rd, *wr;
  char *in;                 /* bytes read, not yet parsed */
  size_t in_len, in_cap;
  char *out;                /* replies the socket did not take yet */
  size_t out_len, out_off;
  struct txn txn;
  bool waiting;             /* a reply is held until a suspension is on disk */
  char pending[REPLY_MAX];
  size_t pending_len;
  struct where where;       /* the SMTP client looked up last (risk score only) */
  struct pconn *prev, *next;
};

struct policy_server {
  struct daemon *d;
  struct listener_set *ls;
  struct pconn *conns;
  size_t nconns;
  struct log_rl rl;
};

static void conn_free(struct pconn *c) {
  struct policy_server *ps = c->ps;
  if (c->rd) event_free(c->rd);
  if (c->wr) event_free(c->wr);
  c->rd = c->wr = NULL;
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
  free(c->in);
  free(c->out);
  c->in = c->out = NULL;
  if (c->prev) c->prev->next = c->next;
  else if (ps->conns == c) ps->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  c->prev = c->next = NULL;
  ps->nconns--;
  ps->d->stats.conns_current--;
  /* a connection waiting on the store is freed by the store's callback */
  if (!c->waiting) free(c);
}

static void count_error(struct pconn *c, enum stat_err e, const char *detail) {
  struct daemon *d = c->ps->d;
  d->stats.errors[e]++;
  if (log_rl_allow(&c->ps->rl, daemon_now(), "policy_input"))
    log_warn("policy_input", "error=%s detail=%s connections=%zu", stats_err_name(e), detail,
             c->ps->nconns);
}

static enum stat_err err_of(enum policy_err e) {
  switch (e) {
    case PERR_LINE_TOO_LONG: return SE_LINE_TOO_LONG;
    case PERR_TOO_MANY_ATTRS: return SE_TOO_MANY_ATTRS;
    case PERR_TOO_LARGE: return SE_TOO_LARGE;
    default: return SE_GARBAGE;
  }
}

static enum ev_kind kind_of(struct strview state) {
  if (sv_eq(state, "RCPT")) return EV_RCPT;
  if (sv_eq(state, "DATA")) return EV_DATA;
  if (sv_eq(state, "END-OF-MESSAGE")) return EV_EOM;
  return EV_OTHER;
}

static const char *domain_of(const char *addr) {
  const char *at = strrchr(addr, '@');
  return at && at[1] ? at + 1 : NULL;
}

static void count_decision(struct stats *st, const struct verdict *v) {
  st->decisions[v->action]++;
  enum action worst = ACT_DUNNO;
  for (size_t i = 0; i < v->nhits; i++)
    if (v->hits[i].shadow && v->hits[i].limit->action > worst) worst = v->hits[i].limit->action;
  if (worst != ACT_DUNNO) st->shadow_decisions[worst]++;
  if (v->no_account) st->errors[SE_NO_ACCOUNT]++;
}

static void on_persisted(void *arg, int rc);
static void process_input(struct pconn *c);

/* Write what the socket takes now, keep the rest for on_write. -1: the
 * client has left more than POLICY_OUT_MAX unread (slow reader). */
static int send_reply(struct pconn *c, const char *buf, size_t n) {
  if (c->out_len == c->out_off) {
    c->out_len = c->out_off = 0;
    ssize_t w = send(c->fd, buf, n, MSG_NOSIGNAL);
    if (w == (ssize_t)n) return 0;
    if (w < 0 && errno != EAGAIN && errno != EINTR) return 0; /* the read side will see the error */
    if (w > 0) buf += w, n -= (size_t)w;
  }
  if (c->out_len - c->out_off + n > POLICY_OUT_MAX) return -1;
  if (!c->out && !(c->out = malloc(POLICY_OUT_MAX + REPLY_MAX))) return -1;
  if (c->out_off) { /* compact */
    memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
    c->out_len -= c->out_off;
    c->out_off = 0;
  }
  memcpy(c->out + c->out_len, buf, n);
  c->out_len += n;
  event_add(c->wr, NULL);
  return 0;
}

/* Answer one request; views in r are valid during the call only. -1 when
 * the connection must be dropped (slow reader). */
static int handle(struct pconn *c, const struct policy_req *r) {
  struct daemon *d = c->ps->d;
  const struct conf *conf = d->conf;
  d->stats.requests++;
  if (!(r->instance.len < INSTANCE_MAX && sv_eq(r->instance, c->txn.instance)) ||
      r->instance.len == 0) {
    memset(&c->txn, 0, sizeof c->txn);
    sv_copy(c->txn.instance, sizeof c->txn.instance, r->instance);
  }
  char account[KEY_MAX + 1], sender[KEY_MAX + 1], client[64], rcpt[KEY_MAX + 1], stage[24];
  char num[24];
  (void)conf_account_name(conf, r->sasl_username.p, r->sasl_username.len, account, sizeof account);
  (void)sv_copy_lower(sender, sizeof sender, r->sender);
  (void)sv_copy(client, sizeof client, r->client_address);
  (void)sv_copy_lower(rcpt, sizeof rcpt, r->recipient);
  (void)sv_copy(stage, sizeof stage, r->protocol_state);
  if (!account[0] && sender[0] && conf->nsender_account_networks) {
    struct netaddr a;
    if (netaddr_parse(client, strlen(client), &a) == 0 &&
        netmask_list_contains(conf->sender_nets, conf->nsender_account_networks, &a))
      (void)conf_account_name(conf, sender, strlen(sender), account, sizeof account);
  }
  uint64_t rc = 0;
  if (sv_copy(num, sizeof num, r->recipient_count) < 0 ||
      num_parse_u64(num, strlen(num), UINT32_MAX, &rc) < 0)
    rc = 0;
  if (rc == 0) /* not what Postfix sends at DATA/END-OF-MESSAGE: use what we saw */
    rc = c->txn.rcpts ? c->txn.rcpts : rcpt[0] != 0;
  struct event ev = {
      .kind = kind_of(r->protocol_state),
      .account = account[0] ? account : NULL,
      .sender_domain = domain_of(sender),
      .client = client[0] ? client : NULL,
      .rcpt_domain = domain_of(rcpt),
      .rcpt_count = (uint32_t)rc,
      .txn = &c->txn,
      .sender = sender[0] ? sender : NULL,
  };
  if (conf->score) { /* where the client is weighs on the score, not on the limits */
    where_lookup(&c->where, d->geo, d->hosting, client);
    ev.geo = where_geo(&c->where);
    ev.hosting = c->where.hosting;
  }
  struct verdict v;
  char reply[REPLY_MAX];
  size_t n;
  if (engine_feed(d->engine, &ev, daemon_now(), &v) < 0) {
    d->stats.errors[SE_INTERNAL]++;
    log_error("internal", "what=engine_feed account=%s answer=fail_action", account);
    n = reply_fail(conf, reply, sizeof reply);
    memset(&v, 0, sizeof v);
  } else {
    n = reply_format(conf, &v, account, reply, sizeof reply);
  }
  count_decision(&d->stats, &v);
  char qid[64] = "";
  if (r->queue_id.len && sv_copy(qid, sizeof qid, r->queue_id) < 0) qid[0] = 0;
  if (ev.kind == EV_EOM && c->txn.charged && qid[0] && logsource_active(d->logs))
    logfeed_mark_policy(logsource_feed(d->logs), qid, daemon_now());
  struct decision_ctx dc = {account, client, sender, stage, c->txn.instance, ev.rcpt_count, 0,
                            d->decision_rl, (unsigned)conf->decision_log_limit, daemon_now()};
  decision_log(&dc, &v, conf->shadow);
  daemon_after_verdict(d, &ev, &v, qid[0] ? qid : NULL);
  if (v.suspended_now) {
    memcpy(c->pending, reply, n);
    c->pending_len = n;
    c->waiting = true;
    event_del(c->rd);
    daemon_persist_suspension(d, account, on_persisted, c);
    return 0;
  }
  return send_reply(c, reply, n);
}

static void on_persisted(void *arg, int rc) {
  struct pconn *c = arg;
  c->waiting = false;
  if (c->fd < 0) { /* the client left meanwhile */
    free(c);
    return;
  }
  /* rc < 0: the suspension holds in memory and is retried; answer anyway */
  if (send_reply(c, c->pending, c->pending_len) < 0) {
    count_error(c, SE_SLOW_READER, "replies_not_read");
    conn_free(c);
    return;
  }
  struct timeval idle = {(time_t)c->ps->d->conf->client_idle_timeout, 0};
  event_add(c->rd, &idle);
  process_input(c);
}

/* Answer every complete request in the input buffer. */
static void process_input(struct pconn *c) {
  size_t pos = 0;
  while (!c->waiting && pos < c->in_len) {
    size_t avail = c->in_len - pos;
    struct policy_req req;
    enum policy_err err;
    long used = policy_parse(c->in + pos, avail < POLICY_REQ_MAX ? avail : POLICY_REQ_MAX, &req, &err);
    if (used == 0) break;
    if (used < 0) {
      count_error(c, err_of(err), policy_err_name(err));
      conn_free(c);
      return;
    }
    if (handle(c, &req) < 0) {
      count_error(c, SE_SLOW_READER, "replies_not_read");
      conn_free(c);
      return;
    }
    pos += (size_t)used;
  }
  memmove(c->in, c->in + pos, c->in_len - pos);
  c->in_len -= pos;
}

static int grow_input(struct pconn *c) {
  if (c->in_len < c->in_cap) return 0;
  size_t ncap = c->in_cap ? c->in_cap * 2 : POLICY_IN_FIRST;
  if (ncap > POLICY_REQ_MAX + 4096) ncap = POLICY_REQ_MAX + 4096;
  if (ncap <= c->in_cap) return -1;
  char *n = realloc(c->in, ncap);
  if (!n) return -1;
  c->in = n;
  c->in_cap = ncap;
  return 0;
}

static void on_read(evutil_socket_t fd, short what, void *arg) {
  struct pconn *c = arg;
  if (what & EV_TIMEOUT) {
    c->ps->d->stats.errors[SE_IDLE_CLOSED]++;
    conn_free(c);
    return;
  }
  if (grow_input(c) < 0) { /* full and still no complete request */
    count_error(c, SE_TOO_LARGE, "request_too_large");
    conn_free(c);
    return;
  }
  ssize_t n = recv(fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    if (c->in_len) count_error(c, SE_INCOMPLETE, "closed_mid_request");
    conn_free(c);
    return;
  }
  c->in_len += (size_t)n;
  process_input(c);
}

static void on_write(evutil_socket_t fd, short what, void *arg) {
  struct pconn *c = arg;
  ssize_t w = send(fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
  if (w < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (w <= 0) {
    conn_free(c);
    return;
  }
  c->out_off += (size_t)w;
  if (c->out_off == c->out_len) {
    c->out_off = c->out_len = 0;
    event_del(c->wr);
  }
}

static void on_accept(evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg) {
  struct policy_server *ps = arg;
  struct daemon *d = ps->d;
  int64_t cap = d->conf->max_connections < d->max_conns ? d->conf->max_connections : d->max_conns;
  if (ps->nconns >= (size_t)cap) {
    d->stats.errors[SE_CONN_REFUSED]++;
    if (log_rl_allow(&ps->rl, daemon_now(), "policy_input"))
      log_warn("policy_input", "error=connections_refused max_connections=%lld",
               (long long)cap);
    close(fd);
    return;
  }
  if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6) {
    int one = 1; /* one small reply per request: never wait for Nagle */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  struct pconn *c = calloc(1, sizeof *c);
  if (c) {
    c->fd = fd;
    c->rd = event_new(d->base, fd, EV_READ | EV_PERSIST, on_read, c);
    c->wr = event_new(d->base, fd, EV_WRITE | EV_PERSIST, on_write, c);
  }
  struct timeval idle = {(time_t)d->conf->client_idle_timeout, 0};
  if (!c || !c->rd || !c->wr || evutil_make_socket_nonblocking(fd) < 0 || event_add(c->rd, &idle) < 0) {
    if (c && c->rd) event_free(c->rd);
    if (c && c->wr) event_free(c->wr);
    free(c);
    close(fd);
    d->stats.errors[SE_INTERNAL]++;
    return;
  }
  c->ps = ps;
  c->next = ps->conns;
  if (ps->conns) ps->conns->prev = c;
  ps->conns = c;
  ps->nconns++;
  d->stats.conns_current++;
  d->stats.conns_total++;
}

struct policy_server *policy_server_new(struct daemon *d, char *err, size_t errlen) {
  struct policy_server *ps = calloc(1, sizeof *ps);
  if (!ps) return NULL;
  ps->d = d;
  ps->ls = listeners_open(d->base, d->conf->listen, d->conf->nlisten, 0666, on_accept, ps, err,
                          errlen);
  if (!ps->ls) {
    free(ps);
    return NULL;
  }
  return ps;
}

void policy_server_stop_listening(struct policy_server *ps) {
  listeners_close(ps->ls);
  ps->ls = NULL;
}

void policy_server_free(struct policy_server *ps) {
  if (!ps) return;
  listeners_close(ps->ls);
  while (ps->conns) conn_free(ps->conns);
  free(ps);
}
