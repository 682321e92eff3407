/* ctl_server.c - control requests: one JSON object per line in, one out.
 *
 * Only root and mailfuse's own user may talk to it (SO_PEERCRED), on top
 * of the socket's file mode.  suspend and release answer only once the
 * change is on disk, like a suspension made by a limit.
 */
#include "ctl/ctl_server.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "actions/contain.h"
#include "core/isotime.h"
#include "core/log.h"
#include "ctl/ctl_contain.h"
#include "daemon.h"
#include "engine/keytab.h"
#include "engine/profile.h"
#include "engine/signals.h"
#include "sources/auth_server.h"
#include "sources/listeners.h"
#include "sources/logsource.h"

struct ctl_server {
  struct daemon *d;
  struct listener_set *ls;
  struct cconn *conns;
};

struct cconn {
  struct ctl_server *cs;
  struct bufferevent *bev; /* NULL once the client left during a store write */
  uid_t uid;
  bool waiting;
  json_t *pending; /* reply sent when the store write is done */
  struct cconn *prev, *next;
};

static const char *iso_time_s(int64_t t, char *buf, size_t len) {
  if (!t) return "never";
  iso_time(t, buf, len);
  return buf;
}

static void cconn_free(struct cconn *c) {
  if (c->bev) bufferevent_free(c->bev);
  c->bev = NULL;
  if (c->prev) c->prev->next = c->next;
  else if (c->cs->conns == c) c->cs->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  c->prev = c->next = NULL;
  if (!c->waiting) {
    json_decref(c->pending);
    free(c);
  }
}

static void on_write_done(struct bufferevent *bev, void *arg) { cconn_free(arg); }

static void send_reply(struct cconn *c, json_t *reply) {
  char *txt = json_dumps(reply, JSON_COMPACT);
  json_decref(reply);
  if (!txt) {
    cconn_free(c);
    return;
  }
  bufferevent_write(c->bev, txt, strlen(txt));
  bufferevent_write(c->bev, "\n", 1);
  free(txt);
  bufferevent_setcb(c->bev, NULL, on_write_done, NULL, c);
}

static json_t *error_reply(const char *msg) { return json_pack("{s:b,s:s}", "ok", 0, "error", msg); }

static json_t *acts(const uint64_t *v) {
  json_t *o = json_object();
  for (int a = 0; a < ACT__N; a++) json_object_set_new(o, conf_action_name(a), json_integer((json_int_t)v[a]));
  return o;
}

static json_t *auth_json(struct daemon *d) {
  if (!d->auth) return json_null();
  struct auth_server_stats s;
  auth_server_get_stats(d->auth, &s);
  return json_pack("{s:I,s:I,s:I,s:I,s:I,s:{s:I,s:I,s:I},s:I,s:{s:I,s:I,s:I},s:I}", "requests",
                   (json_int_t)s.requests, "allow", (json_int_t)s.allow_requests, "report",
                   (json_int_t)s.report_requests, "bad_requests", (json_int_t)s.bad_requests,
                   "unauthorized", (json_int_t)s.unauthorized, "answers", "allow",
                   (json_int_t)s.decided_allow, "delay", (json_int_t)s.decided_delay, "reject",
                   (json_int_t)s.decided_reject, "blocked_addresses",
                   (json_int_t)blocktab_count(engine_blocks(d->engine)), "connections", "current",
                   (json_int_t)s.conns_current, "total", (json_int_t)s.conns_total, "refused",
                   (json_int_t)s.conns_refused, "timeouts", (json_int_t)s.timeouts);
}

static json_t *cmd_status(struct daemon *d, json_t *req, struct cconn *c) {
  struct writer_stats ws;
  writer_get_stats(d->writer, &ws);
  json_t *errs = json_object();
  json_t *logs = d->logs ? logsource_status(d->logs) : json_null();
  for (int e = 0; e < SE__N; e++)
    json_object_set_new(errs, stats_err_name(e), json_integer((json_int_t)d->stats.errors[e]));
  return json_pack(
      "{s:b,s:I,s:I,s:o,s:o,s:o,s:{s:I,s:I},s:{s:s,s:I,s:I,s:I,s:I,s:I,s:s,s:I},"
      "s:{s:I,s:I,s:I,s:I,s:I},s:{s:s,s:b,s:I,s:I},s:o,s:o,s:o}",
      "ok", 1, "uptime", (json_int_t)(daemon_now() - d->stats.started), "requests",
      (json_int_t)d->stats.requests, "decisions", acts(d->stats.decisions), "shadow_decisions",
      acts(d->stats.shadow_decisions), "errors", errs, "connections", "current",
      (json_int_t)d->stats.conns_current, "total", (json_int_t)d->stats.conns_total, "store",
      "backend", ws.store.backend ? ws.store.backend : d->conf->store, "keys",
      (json_int_t)ws.store.keys, "bytes", (json_int_t)ws.store.bytes, "map_size",
      (json_int_t)ws.store.map_size, "flushes", (json_int_t)ws.batches, "errors",
      (json_int_t)ws.errors, "last_error", ws.last_error, "pending",
      (json_int_t)writer_pending(d->writer), "tracked", "accounts",
      (json_int_t)engine_key_count(d->engine, PER_ACCOUNT), "sender_domains",
      (json_int_t)engine_key_count(d->engine, PER_SENDER_DOMAIN), "client_addresses",
      (json_int_t)engine_key_count(d->engine, PER_CLIENT), "suspended",
      (json_int_t)susptab_count(engine_suspensions(d->engine)), "profiles",
      (json_int_t)engine_profile_count(d->engine), "config", "path",
      d->conf->path ? d->conf->path : "", "shadow", d->conf->shadow, "reloads",
      (json_int_t)d->stats.reloads, "reload_failures", (json_int_t)d->stats.reload_failures, "logs",
      logs, "containment", d->contain ? contain_status_json(d->contain) : json_null(), "auth",
      auth_json(d));
}

/* The account as the policy server names it (lowercased, account_domain
 * added), so `ctl show dave` finds what `sasl_username=dave` counted. */
static const char *account_arg(struct daemon *d, json_t *req, char *buf, size_t len) {
  const char *a = json_string_value(json_object_get(req, "account"));
  if (!a || !*a || strlen(a) >= len) return NULL;
  return conf_account_name(d->conf, a, strlen(a), buf, len) == 0 ? buf : NULL;
}

static json_t *susp_json(const struct susp *s) {
  char since[32];
  iso_time(s->since, since, sizeof since);
  return json_pack("{s:s,s:s,s:s,s:s}", "account", s->account, "since", since, "by", s->by,
                   "reason", s->reason);
}

static json_t *limits_json(struct daemon *d, const char *acct, int64_t cnt[MET__N][WIN__N]) {
  json_t *arr = json_array();
  const struct conf *c = d->conf;
  const struct limit_set *ls = conf_account_limits(c, conf_group_of(c, acct));
  for (size_t i = 0; i < ls->n; i++) {
    const struct limit *l = &ls->v[i];
    if (l->per != PER_ACCOUNT) continue;
    json_array_append_new(
        arr, json_pack("{s:s,s:s,s:s,s:I,s:I,s:s,s:b}", "name", l->name, "count",
                       conf_metric_name(l->metric), "window", conf_window_name(l->win), "max",
                       (json_int_t)l->max, "current", (json_int_t)cnt[l->metric][l->win],
                       "action", conf_action_name(l->action), "shadow", l->shadow || c->shadow));
  }
  return arr;
}

static json_t *cmd_show(struct daemon *d, json_t *req, struct cconn *c) {
  char acct[KEY_MAX + 1];
  if (!account_arg(d, req, acct, sizeof acct)) return error_reply("show needs an account");
  int64_t now = daemon_now(), cnt[MET__N][WIN__N];
  int known = engine_counts(d->engine, PER_ACCOUNT, acct, now, cnt);
  json_t *counters = json_object();
  for (int m = 0; m < MET__N; m++) {
    json_t *w = json_object();
    for (int k = 0; k < WIN__N; k++)
      if (cnt[m][k] >= 0) json_object_set_new(w, conf_window_name(k), json_integer(cnt[m][k]));
    if (json_object_size(w)) json_object_set_new(counters, conf_metric_name(m), w);
    else json_decref(w);
  }
  const struct susp *s = susptab_get(engine_suspensions(d->engine), acct);
  const struct limit *tl = NULL;
  bool throttled = engine_throttled(d->engine, acct, now, &tl);
  int g = conf_group_of(d->conf, acct);
  const struct exemption *x = conf_exemption(d->conf, acct, now);
  json_t *ex = json_null();
  if (x) {
    char until[32] = "";
    if (x->until) iso_time(x->until, until, sizeof until);
    ex = json_pack("{s:s,s:s}", "until", until, "reason", x->reason ? x->reason : "");
  }
  return json_pack("{s:b,s:s,s:b,s:s,s:s,s:o,s:o,s:o,s:o,s:s?}", "ok", 1, "account", acct,
                   "known", known, "state", s ? "suspended" : throttled ? "throttled" : "active",
                   "group", g >= 0 ? d->conf->groups[g].name : "default", "suspension",
                   s ? susp_json(s) : json_null(), "exempt", ex, "counters", counters, "limits",
                   limits_json(d, acct, cnt), "throttled_by", tl ? tl->name : NULL);
}

static json_t *cmd_list(struct daemon *d, json_t *req, struct cconn *c) {
  json_t *sus = json_array(), *thr = json_array();
  const struct susptab *st = engine_suspensions(d->engine);
  size_t pos = 0;
  const struct susp *s;
  while ((s = susptab_next(st, &pos))) json_array_append_new(sus, susp_json(s));
  int64_t now = daemon_now();
  const char *k;
  pos = 0;
  while ((k = engine_next_key(d->engine, PER_ACCOUNT, &pos))) {
    const struct limit *l = NULL;
    if (!susptab_get(st, k) && engine_throttled(d->engine, k, now, &l))
      json_array_append_new(thr, json_pack("{s:s,s:s}", "account", k, "limit", l->name));
  }
  return json_pack("{s:b,s:o,s:o}", "ok", 1, "suspended", sus, "throttled", thr);
}

static json_t *signals_json(const struct score *s) {
  json_t *a = json_array();
  for (size_t i = 0; i < s->n; i++)
    json_array_append_new(a, json_pack("{s:s,s:s,s:f,s:s}", "name", s->s[i].name, "kind",
                                       s->s[i].who ? "who" : "what", "value", (double)s->s[i].value,
                                       "why", s->s[i].why));
  return a;
}

static json_t *profile_json(const struct profile *p) {
  char a[32], b[32], c[32];
  json_t *hours = json_array();
  uint32_t total = 0;
  for (int h = 0; h < 24; h++) total += p->hours[h];
  for (int h = 0; h < 24; h++)
    if (total && p->hours[h] * 20 >= total) json_array_append_new(hours, json_integer(h));
  int nets = 0, wide = 0, bits = 0;
  for (int i = 0; i < PROFILE_NETS; i++) nets += p->nets[i] != 0;
  for (int i = 0; i < PROFILE_WIDE; i++) wide += p->wide[i] != 0;
  for (int i = 0; i < PROFILE_BLOOM_BYTES; i++) bits += __builtin_popcount(p->bloom[i]);
  json_t *j = json_pack(
      "{s:s,s:s,s:I,s:I,s:{s:f,s:f,s:f},s:o,s:i,s:i,s:f,s:{s:f,s:f,s:f,s:f},s:{s:s,s:f,s:s,s:s,s:i},"
      "s:{s:I,s:I,s:I,s:I,s:I}}",
      "first_seen", iso_time_s(p->first_seen, a, sizeof a), "last_active", iso_time_s(p->last_active, b, sizeof b),
      "messages_learned", (json_int_t)p->msgs_learned, "recipients_learned", (json_int_t)p->rcpts_learned,
      "hourly_volume", "mean", (double)p->vol_mean, "sd", (double)sqrtf(p->vol_var > 0 ? p->vol_var : 0),
      "peak", (double)p->vol_peak, "usual_hours_utc", hours, "networks_24", nets, "networks_16", wide,
      "domain_memory_fill", (double)bits / (PROFILE_BLOOM_BYTES * 8), "shares", "external",
      (double)p->share_ext, "freemail", (double)p->share_freemail, "foreign", (double)p->share_foreign,
      "bounce", (double)p->share_bounce, "login", "last", iso_time_s(p->login_at, c, sizeof c), "risk",
      (double)(p->login_risk_until > daemon_now() ? p->login_risk : 0), "reason", p->login_reason,
      "risk_until", p->login_risk_until > daemon_now() ? "active" : "none", "failed_recent",
      (int)p->fails_recent, "last_hour", "messages", (json_int_t)profile_recent(p, RC_MSGS),
      "external_recipients", (json_int_t)profile_recent(p, RC_EXT), "new_domain_recipients",
      (json_int_t)profile_recent(p, RC_NEWDOM), "freemail_recipients", (json_int_t)profile_recent(p, RC_FREEMAIL),
      "foreign_recipients", (json_int_t)profile_recent(p, RC_FOREIGN));
  /* the places it is known to send and log in from (GeoIP), newest first */
  json_t *cc = json_array(), *as = json_array();
  for (int i = 0; i < PROFILE_COUNTRIES && p->countries[i]; i++) {
    char code[3] = {(char)(p->countries[i] >> 8), (char)(p->countries[i] & 0xff), 0};
    json_array_append_new(cc, json_string(code));
  }
  for (int i = 0; i < PROFILE_ASNS && p->asns[i]; i++) json_array_append_new(as, json_integer(p->asns[i]));
  json_object_set_new(j, "countries", cc);
  json_object_set_new(j, "operators", as);
  return j;
}

static json_t *cmd_explain(struct daemon *d, json_t *req, struct cconn *c) {
  char acct[KEY_MAX + 1];
  if (!account_arg(d, req, acct, sizeof acct)) return error_reply("explain needs an account");
  if (!d->conf->score) return error_reply("the risk score is off (score = false)");
  struct score s;
  const struct profile *p = engine_explain(d->engine, acct, daemon_now(), &s);
  if (!p) return error_reply("no profile for this account yet");
  return json_pack("{s:b,s:s,s:{s:f,s:f,s:f,s:s,s:o},s:o}", "ok", 1, "account", acct, "score", "total",
                   (double)s.total, "who", (double)s.who, "what", (double)s.what, "would",
                   conf_action_name(s.action), "signals", signals_json(&s), "profile", profile_json(p));
}

static void on_persisted(void *arg, int rc) {
  struct cconn *c = arg;
  c->waiting = false;
  json_t *reply = c->pending;
  c->pending = NULL;
  json_object_set_new(reply, "durable", json_boolean(rc == 0));
  if (!c->bev) {
    json_decref(reply);
    free(c);
    return;
  }
  send_reply(c, reply);
}

static json_t *wait_persist(struct daemon *d, struct cconn *c, const char *acct, json_t *reply) {
  c->waiting = true;
  c->pending = reply;
  daemon_persist_suspension(d, acct, on_persisted, c);
  return NULL;
}

static json_t *cmd_suspend(struct daemon *d, json_t *req, struct cconn *c) {
  char acct[KEY_MAX + 1], by[32], esc[LOG_ESC_MAX];
  if (!account_arg(d, req, acct, sizeof acct)) return error_reply("suspend needs an account");
  const char *reason = json_string_value(json_object_get(req, "reason"));
  if (!reason || !*reason) return error_reply("suspend needs --reason TEXT");
  snprintf(by, sizeof by, "ctl:uid=%u", (unsigned)c->uid);
  if (engine_suspend(d->engine, acct, daemon_now(), by, reason) < 0)
    return error_reply("out of memory");
  log_warn("suspend", "account=%s by=%s reason=%s", acct, by,
           log_esc(esc, sizeof esc, reason, strlen(reason)));
  contain_suspended(d->contain, acct, by, reason, daemon_now());
  return wait_persist(d, c, acct,
                      json_pack("{s:b,s:s,s:s}", "ok", 1, "account", acct, "state", "suspended"));
}

/* Lifts the suspension (if any) and closes the account's incident, with
 * its held mail released, deleted or kept on hold. */
static json_t *cmd_release(struct daemon *d, json_t *req, struct cconn *c) {
  char acct[KEY_MAX + 1], by[32], msg[200];
  if (!account_arg(d, req, acct, sizeof acct)) return error_reply("release needs an account");
  int mode = ctl_held_mode(req);
  if (mode < 0) return error_reply("held must be \"release\" or \"delete\"");
  snprintf(by, sizeof by, "ctl:uid=%u", (unsigned)c->uid);
  int was = engine_release(d->engine, acct);
  if (!was && !contain_open_incident(d->contain, acct))
    return error_reply("account is not suspended and has no open incident");
  uint64_t id = contain_released(d->contain, acct, by, (enum held_mode)mode, daemon_now(), msg, sizeof msg);
  log_warn("release", "account=%s by=%s incident=%llu held=%s", acct, by, (unsigned long long)id,
           mode == HELD_RELEASE ? "release" : mode == HELD_DELETE ? "delete" : "keep");
  json_t *reply = json_pack("{s:b,s:s,s:s,s:I,s:s}", "ok", 1, "account", acct, "state", "active",
                            "incident", (json_int_t)id, "note", msg);
  if (!was) return reply;
  return wait_persist(d, c, acct, reply);
}

static char *by_of(struct cconn *c, char *buf, size_t len) {
  snprintf(buf, len, "ctl:uid=%u", (unsigned)c->uid);
  return buf;
}

static json_t *cmd_incidents(struct daemon *d, json_t *req, struct cconn *c) { return ctl_incidents(d, req); }
static json_t *cmd_incident(struct daemon *d, json_t *req, struct cconn *c) { return ctl_incident(d, req); }
static json_t *cmd_blocks(struct daemon *d, json_t *req, struct cconn *c) { return ctl_blocks(d, req); }
static json_t *cmd_block(struct daemon *d, json_t *req, struct cconn *c) {
  char by[32];
  return ctl_block(d, req, by_of(c, by, sizeof by));
}
static json_t *cmd_unblock(struct daemon *d, json_t *req, struct cconn *c) {
  char by[32];
  return ctl_unblock(d, req, by_of(c, by, sizeof by));
}

static const struct {
  const char *name;
  json_t *(*fn)(struct daemon *, json_t *, struct cconn *);
} commands[] = {
    {"status", cmd_status}, {"show", cmd_show},       {"list", cmd_list},
    {"suspend", cmd_suspend}, {"release", cmd_release}, {"explain", cmd_explain},
    {"incidents", cmd_incidents}, {"incident", cmd_incident}, {"block", cmd_block},
    {"unblock", cmd_unblock}, {"blocks", cmd_blocks},
};

static void dispatch(struct cconn *c, const char *line, size_t len) {
  json_error_t jerr;
  json_t *req = json_loadb(line, len, 0, &jerr);
  const char *cmd = json_string_value(json_object_get(req, "cmd"));
  json_t *reply = NULL;
  size_t i = 0;
  while (cmd && i < sizeof commands / sizeof *commands && strcmp(commands[i].name, cmd) != 0) i++;
  if (!req || !cmd) reply = error_reply("request must be a JSON object with \"cmd\"");
  else if (i == sizeof commands / sizeof *commands) reply = error_reply("unknown command");
  else reply = commands[i].fn(c->cs->d, req, c);
  json_decref(req);
  if (reply) send_reply(c, reply);
}

static void on_read(struct bufferevent *bev, void *arg) {
  struct cconn *c = arg;
  struct evbuffer *in = bufferevent_get_input(bev);
  struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_LF);
  if (eol.pos < 0) {
    if (evbuffer_get_length(in) > CTL_REQUEST_MAX) cconn_free(c);
    return;
  }
  bufferevent_disable(bev, EV_READ);
  const char *line = (const char *)evbuffer_pullup(in, eol.pos);
  dispatch(c, line, (size_t)eol.pos);
}

static void on_event(struct bufferevent *bev, short what, void *arg) { cconn_free(arg); }

static void on_accept(evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg) {
  struct ctl_server *cs = arg;
  struct ucred cred;
  socklen_t cl = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 ||
      (cred.uid != 0 && cred.uid != geteuid())) {
    log_warn("ctl_denied", "uid=%d pid=%d", (int)cred.uid, (int)cred.pid);
    static const char deny[] = "{\"ok\":false,\"error\":\"permission denied\"}\n";
    ssize_t w = write(fd, deny, sizeof deny - 1);
    (void)w;
    close(fd);
    return;
  }
  struct cconn *c = calloc(1, sizeof *c);
  struct bufferevent *bev = c ? bufferevent_socket_new(cs->d->base, fd, BEV_OPT_CLOSE_ON_FREE) : NULL;
  if (!bev) {
    free(c);
    close(fd);
    return;
  }
  c->cs = cs;
  c->bev = bev;
  c->uid = cred.uid;
  c->next = cs->conns;
  if (cs->conns) cs->conns->prev = c;
  cs->conns = c;
  struct timeval tv = {30, 0};
  bufferevent_set_timeouts(bev, &tv, &tv);
  bufferevent_setcb(bev, on_read, NULL, on_event, c);
  bufferevent_enable(bev, EV_READ);
}

struct ctl_server *ctl_server_new(struct daemon *d, char *err, size_t errlen) {
  struct ctl_server *cs = calloc(1, sizeof *cs);
  if (!cs) return NULL;
  cs->d = d;
  char *spec[1];
  size_t n = strlen(d->conf->control_socket) + 6;
  spec[0] = malloc(n);
  snprintf(spec[0], n, "unix:%s", d->conf->control_socket);
  cs->ls = listeners_open(d->base, spec, 1, (int)d->conf->control_socket_mode, on_accept, cs,
                          err, errlen);
  free(spec[0]);
  if (!cs->ls) {
    free(cs);
    return NULL;
  }
  return cs;
}

void ctl_server_free(struct ctl_server *cs) {
  if (!cs) return;
  listeners_close(cs->ls);
  while (cs->conns) cconn_free(cs->conns);
  free(cs);
}
