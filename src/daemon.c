/* daemon.c - `mailfuse serve`: wiring of config, store, engine, sources.
 *
 * One event loop (libevent) serves every socket; one writer thread does all
 * disk writes.  Counters are flushed in one batch per flush_interval (the
 * most a kill -9 can lose); suspensions are written as they happen and
 * announced only once written.  SIGHUP reloads the config (a bad file is
 * refused, the old config stays); SIGTERM stops listening, lets pending
 * replies out, flushes everything and exits.
 */
#include "daemon.h"

#include <event2/event.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "core/conf_internal.h"
#include "actions/contain.h"
#include "actions/decision_log.h"
#include "actions/webhook.h"
#include "core/log.h"
#include "core/strmap.h"
#include "engine/keytab.h"
#include "store/persist.h"
#include "ctl/ctl_server.h"
#include "sources/logfeed.h"
#include "sources/logsource.h"
#include "sources/auth_server.h"
#include "sources/policy_server.h"
#include "sources/auth_decide.h"
#include "core/geoip.h"
#include "core/hostnets.h"

int64_t daemon_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return (int64_t)ts.tv_sec;
}

static void on_flushed(void *arg, int rc, const char *err, const struct store_batch *b) {
  struct daemon *d = arg;
  d->flushing = false;
  if (rc == 0) {
    char acct[KEY_MAX + 1];
    for (size_t i = 0; i < b->n; i++) {
      const struct store_op *o = &b->ops[i];
      if (o->table != ST_SUSPENSIONS || o->klen >= sizeof acct) continue;
      memcpy(acct, store_op_key(b, o), o->klen);
      acct[o->klen] = 0;
      strmap_del(d->susp_retry, acct);
    }
    return;
  }
  d->stats.errors[SE_STORE]++;
  log_error("store_error", "what=flush error=\"%s\" ops=%zu retry=next_flush", err, b->n);
  persist_requeue(d->engine, b); /* suspensions stay in susp_retry */
}

#define FLUSH_SLICE 1024 /* records per loop turn: a big flush never stalls requests for long */

/* Finish the batch: read positions, suspension retries; hand it to the writer. */
static void flush_submit(struct daemon *d) {
  struct store_batch *b = &d->pending;
  int failed = d->logs && logsource_collect(d->logs, b) < 0;
  if (d->contain && contain_collect(d->contain, b) < 0) failed = 1;
  size_t pos = 0;
  const char *acct;
  void *v;
  while (strmap_next(d->susp_retry, &pos, &acct, &v))
    if (persist_suspension(d->engine, acct, b) < 0) failed = 1;
  if (failed) {
    d->stats.errors[SE_INTERNAL]++;
    log_error("internal", "what=flush_batch error=out_of_memory");
  }
  d->collecting = false;
  if (b->n == 0) {
    store_batch_clear(b);
    return;
  }
  d->flushing = true;
  if (writer_submit_flush(d->writer, b, on_flushed, d) < 0) d->flushing = false;
}

static void on_collect(evutil_socket_t fd, short what, void *arg) {
  struct daemon *d = arg;
  long left = persist_collect_some(d->engine, &d->pending, FLUSH_SLICE, d->profiles_by);
  if (left < 0) {
    d->stats.errors[SE_INTERNAL]++;
    log_error("internal", "what=flush_batch error=out_of_memory");
  }
  if (left > 0) event_active(d->collect_ev, EV_TIMEOUT, 0); /* next slice after other events */
  else flush_submit(d);
}

/* force: write every learned profile now, whatever profile_flush_interval says */
static void flush(struct daemon *d, bool force) {
  if (d->flushing || d->collecting) return; /* the last batch is still being built or written */
  d->profiles_by = force ? INT64_MAX : daemon_now() - (int64_t)d->conf->profile_flush_interval;
  d->collecting = true;
  writer_reuse(d->writer, &d->pending);
  on_collect(-1, 0, d);
}

/* At shutdown: everything, now. */
static void flush_all(struct daemon *d) {
  while (d->collecting) on_collect(-1, 0, d);
  writer_drain(d->writer); /* so the next flush is not skipped as "still writing" */
  flush(d, true);
  while (d->collecting) on_collect(-1, 0, d);
}

struct persist_ctx {
  struct daemon *d;
  persist_done_fn done;
  void *arg;
  char account[];
};

static void on_susp_written(void *arg, int rc, const char *err, const struct store_batch *b) {
  struct persist_ctx *p = arg;
  if (rc < 0) {
    p->d->stats.errors[SE_STORE]++;
    log_error("store_error", "what=suspension account=%s error=\"%s\" retry=next_flush "
              "note=in_force_in_memory", p->account, err);
    if (strmap_set(p->d->susp_retry, p->account, p->d) < 0) p->d->stats.errors[SE_INTERNAL]++;
  }
  if (p->done) p->done(p->arg, rc);
  free(p);
}

void daemon_persist_suspension(struct daemon *d, const char *account, persist_done_fn done,
                               void *arg) {
  struct store_batch b = {0};
  size_t al = strlen(account);
  struct persist_ctx *p = malloc(sizeof *p + al + 1);
  if (!p || persist_suspension(d->engine, account, &b) < 0) {
    store_batch_clear(&b);
    free(p);
    if (strmap_set(d->susp_retry, account, d) < 0) d->stats.errors[SE_INTERNAL]++;
    if (done) done(arg, -1);
    return;
  }
  p->d = d;
  p->done = done;
  p->arg = arg;
  memcpy(p->account, account, al + 1);
  if (writer_submit(d->writer, &b, on_susp_written, p) < 0) {
    free(p);
    if (done) done(arg, -1);
  }
}

static void on_block_written(void *arg, int rc, const char *err, const struct store_batch *b) {
  struct daemon *d = arg;
  if (rc == 0) return;
  d->stats.errors[SE_STORE]++;
  log_error("store_error", "what=block error=\"%s\" note=in_force_in_memory", err);
}

void daemon_persist_block(struct daemon *d, const char *addr) {
  struct store_batch b = {0};
  char canon[48];
  if (block_canon(addr, canon, sizeof canon) < 0 ||
      persist_block(d->engine, canon, daemon_now(), &b) < 0 ||
      writer_submit(d->writer, &b, on_block_written, d) < 0) {
    store_batch_clear(&b);
    d->stats.errors[SE_INTERNAL]++;
    log_error("internal", "what=persist_block addr=%s", addr);
  }
}

void daemon_block_made(struct daemon *d, const char *addr, const char *account, bool by_suspension) {
  int64_t now = daemon_now();
  const struct block *b = engine_block_of(d->engine, addr, now);
  if (!b) return;
  char esc[LOG_ESC_MAX];
  log_warn("block", "addr=%s account=%s until=+%llds by=mailfuse reason=%s", b->addr,
           account ? account : "-", (long long)(b->until - now),
           log_esc(esc, sizeof esc, b->reason, strlen(b->reason)));
  daemon_persist_block(d, b->addr);
  /* a suspension's incident adds its address to nftables itself (and says so) */
  if (!by_suspension && d->contain) contain_block_changed(d->contain, b->addr, b->until, now);
}

void daemon_after_verdict(struct daemon *d, const struct event *ev, const struct verdict *v,
                          const char *qid) {
  if (v->blocked_now && ev->client) daemon_block_made(d, ev->client, ev->account, v->suspended_now);
  if (d->contain) contain_verdict(d->contain, ev, v, qid, daemon_now());
}

static void on_flush_timer(evutil_socket_t fd, short what, void *arg) { flush(arg, false); }

struct expired {
  struct daemon *d;
  struct store_batch b;
};

static void on_block_expired(void *arg, const struct block *bl) {
  struct expired *x = arg;
  log_info("unblock", "addr=%s by=expiry", bl->addr);
  if (store_batch_add(&x->b, ST_BLOCKS, bl->addr, strlen(bl->addr), NULL, 0) < 0)
    x->d->stats.errors[SE_INTERNAL]++;
}

static void on_sweep_timer(evutil_socket_t fd, short what, void *arg) {
  struct daemon *d = arg;
  int64_t now = daemon_now();
  engine_sweep(d->engine, engine_latest(d->engine), 4096);
  struct expired x = {d, {0}};
  /* blocks go by the clock: a block is about the present, not about log time */
  if (blocktab_expire(engine_blocks(d->engine), now, on_block_expired, &x) &&
      writer_submit(d->writer, &x.b, on_block_written, d) < 0)
    d->stats.errors[SE_INTERNAL]++;
  store_batch_clear(&x.b);
  if (d->contain) contain_tick(d->contain, now);
}

static void arm_flush_timer(struct daemon *d) {
  double s = d->conf->flush_interval;
  struct timeval tv = {(time_t)s, (suseconds_t)((s - (double)(time_t)s) * 1e6)};
  event_add(d->flush_timer, &tv);
}

static void warn_restart_keys(const struct conf *old, const struct conf *nc) {
  for (size_t i = 0; i < conf_nkeys; i++) {
    const struct conf_key *k = &conf_keys[i];
    if (k->reload || k->type == KT_SECTION) continue;
    const char *a = (const char *)old + k->off, *b = (const char *)nc + k->off;
    int same;
    if (k->type == KT_STR) same = !strcmp(*(char *const *)a, *(char *const *)b);
    else if (k->type == KT_STRLIST) {
      size_t na = *(const size_t *)((const char *)old + k->count_off);
      size_t nb = *(const size_t *)((const char *)nc + k->count_off);
      same = na == nb;
      for (size_t j = 0; same && j < na; j++)
        same = !strcmp((*(char **const *)a)[j], (*(char **const *)b)[j]);
    } else {
      same = !memcmp(a, b, 8);
    }
    if (!same) log_warn("reload", "key=%s note=changed_but_needs_restart", k->name);
  }
}

static void reload(struct daemon *d) {
  char err[512], esc[LOG_ESC_MAX];
  struct conf *nc = conf_load(d->conf_path, err, sizeof err);
  if (!nc) {
    d->stats.reload_failures++;
    log_error("reload_refused", "error=%s note=old_config_stays", log_esc(esc, sizeof esc, err, strlen(err)));
    return;
  }
  if (log_setup(nc->log_level, nc->log_target, nc->syslog_facility) < 0)
    log_error("reload", "what=log_setup");
  warn_restart_keys(d->conf, nc);
  engine_set_conf(d->engine, nc);
  if (d->logs) logfeed_set_conf(logsource_feed(d->logs), nc);
  if (d->auth) auth_server_set_conf(d->auth, nc);
  struct conf *old = d->conf;
  d->conf = nc;
  conf_free(old);
  d->stats.reloads++;
  arm_flush_timer(d);
  log_info("reloaded", "config=%s limits=%zu groups=%zu shadow=%s", nc->path, nc->limits.n,
           nc->ngroups, nc->shadow ? "yes" : "no");
}

static void shutdown_now(struct daemon *d) {
  if (d->stopping) return;
  d->stopping = true;
  log_info("stopping", "pending_writes=%zu", writer_pending(d->writer));
  policy_server_stop_listening(d->policy);
  if (d->auth) auth_server_stop_listening(d->auth);
  ctl_server_free(d->ctl);
  d->ctl = NULL;
  writer_drain(d->writer); /* in-flight suspensions: their replies go out now */
  flush_all(d);
  writer_drain(d->writer);
  struct timeval grace = {0, 200000}; /* let queued replies reach their clients */
  event_base_loopexit(d->base, &grace);
}

static void on_signal(evutil_socket_t sig, short what, void *arg) {
  struct daemon *d = arg;
  if (sig == SIGHUP) reload(d);
  else shutdown_now(d);
}

#define FD_RESERVE 64 /* descriptors kept for the store, control socket, logs */

/* Raise the descriptor limit for max_connections; returns the number of
 * policy connections that really fit, so that accept() never runs dry. */
static int64_t raise_fd_limit(int64_t want) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0) return want;
  rlim_t need = (rlim_t)want + FD_RESERVE;
  if (rl.rlim_cur < need) {
    rl.rlim_cur = need < rl.rlim_max ? need : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) getrlimit(RLIMIT_NOFILE, &rl);
  }
  if (rl.rlim_cur >= need) return want;
  int64_t fit = rl.rlim_cur > 2 * FD_RESERVE ? (int64_t)rl.rlim_cur - FD_RESERVE : (int64_t)rl.rlim_cur / 2;
  log_warn("fd_limit", "limit=%llu max_connections=%lld effective=%lld note=raise_LimitNOFILE",
           (unsigned long long)rl.rlim_cur, (long long)want, (long long)fit);
  return fit;
}

/* libevent's own warnings, through our logger and its rate cap. */
static void libevent_log(int severity, const char *msg) {
  static struct log_rl rl;
  if (severity < EVENT_LOG_WARN || !log_rl_allow(&rl, daemon_now(), "libevent")) return;
  log_warn("libevent", "msg=\"%s\"", msg);
}

static int start(struct daemon *d) {
  char err[512];
  if (!(d->store = store_open(d->conf, err, sizeof err))) fatal("store: %s", err);
  if (!(d->engine = engine_new(d->conf)) || !(d->susp_retry = strmap_new()) ||
      !(d->decision_rl = decision_rl_new()))
    fatal("out of memory (or the free-mail list)");
  int bad = persist_load(d->engine, d->store);
  if (bad < 0) fatal("store: cannot read %s", d->conf->state_dir);
  if (bad > 0) log_warn("store_load", "skipped=%d note=bad_entries_ignored", bad);
  if (!(d->logs = logsource_new(d, err, sizeof err))) fatal("logs: %s", err);
  if (!(d->writer = writer_new(d->store, d->base))) fatal("cannot start the writer thread");
  if (!(d->policy = policy_server_new(d, err, sizeof err))) fatal("%s", err);
  if (!(d->contain = contain_new(d, err, sizeof err))) fatal("containment: %s", err);
  if (!(d->hosting = hostnets_new(d->conf->hosting_networks_file, err, sizeof err))) fatal("%s", err);
  if ((d->conf->geoip_city_db[0] || d->conf->geoip_asn_db[0]) &&
      !(d->geo = geoip_open(d->conf->geoip_city_db, d->conf->geoip_asn_db, err, sizeof err)))
    fatal("geoip: %s", err);
  if (d->logs) logfeed_set_geo(logsource_feed(d->logs), d->geo, d->hosting);
  if (d->conf->nauth_listen &&
      !(d->auth = auth_server_new(d->base, d->conf, auth_decide, d, err, sizeof err)))
    fatal("auth policy: %s", err);
  if (!(d->ctl = ctl_server_new(d, err, sizeof err))) fatal("control socket: %s", err);
  d->ev_hup = evsignal_new(d->base, SIGHUP, on_signal, d);
  d->ev_term = evsignal_new(d->base, SIGTERM, on_signal, d);
  d->ev_int = evsignal_new(d->base, SIGINT, on_signal, d);
  d->flush_timer = event_new(d->base, -1, EV_PERSIST, on_flush_timer, d);
  d->sweep_timer = event_new(d->base, -1, EV_PERSIST, on_sweep_timer, d);
  d->collect_ev = event_new(d->base, -1, 0, on_collect, d);
  struct timeval one = {1, 0};
  if (!d->ev_hup || !d->ev_term || !d->ev_int || !d->flush_timer || !d->sweep_timer || !d->collect_ev ||
      event_add(d->ev_hup, NULL) || event_add(d->ev_term, NULL) || event_add(d->ev_int, NULL) ||
      event_add(d->sweep_timer, &one))
    fatal("cannot set up signals and timers");
  arm_flush_timer(d);
  return 0;
}

/* Effects under way finish (each is time-limited), then the incidents are
 * written one last time. */
static void stop_containment(struct daemon *d) {
  contain_stop(d->contain);
  struct store_batch b = {0};
  if (d->contain && contain_collect(d->contain, &b) == 0 && b.n && writer_submit(d->writer, &b, NULL, NULL) == 0)
    writer_drain(d->writer);
  store_batch_clear(&b);
  contain_free(d->contain);
  d->contain = NULL;
}

int daemon_run(const char *path) {
  struct daemon d;
  memset(&d, 0, sizeof d);
  char err[512];
  d.conf_path = path;
  if (!(d.conf = conf_load(path, err, sizeof err))) fatal("%s", err);
  if (log_setup(d.conf->log_level, d.conf->log_target, d.conf->syslog_facility) < 0)
    fatal("cannot set up logging");
  signal(SIGPIPE, SIG_IGN);
  /* Big buffers (a flush batch of 100,000 records, the hash tables) come
   * straight from mmap and go back to the system when freed.  glibc would
   * otherwise raise this threshold after the first such free and keep
   * later ones on its heap, where a freed flush batch stays resident. */
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  if (webhook_global_init() < 0) fatal("cannot initialise libcurl");
  /* flush batches are one big arena each: have glibc map them so that they
   * go back to the kernel when freed, instead of staying in the heap */
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  d.max_conns = raise_fd_limit(d.conf->max_connections);
  event_set_log_callback(libevent_log);
  if (!(d.base = event_base_new())) fatal("cannot create the event loop");
  d.stats.started = daemon_now();
  start(&d);
  size_t nsusp = susptab_count(engine_suspensions(d.engine));
  log_info("started", "config=%s listen=%zu accounts=%zu suspended=%zu shadow=%s store=%s "
           "auth_port=%d geoip=%s hosting_asns=%zu",
           path, d.conf->nlisten, engine_key_count(d.engine, PER_ACCOUNT), nsusp,
           d.conf->shadow ? "yes" : "no", d.conf->state_dir, d.auth ? auth_server_port(d.auth) : -1,
           d.geo ? "yes" : "no", hostnets_count_asns(d.hosting));
  event_base_dispatch(d.base);
  policy_server_free(d.policy);
  ctl_server_free(d.ctl);
  auth_server_free(d.auth);
  stop_containment(&d);
  writer_free(d.writer);
  logsource_free(d.logs);
  event_free(d.ev_hup);
  event_free(d.ev_term);
  event_free(d.ev_int);
  event_free(d.flush_timer);
  event_free(d.sweep_timer);
  event_free(d.collect_ev);
  store_batch_clear(&d.pending);
  engine_free(d.engine);
  store_close(d.store);
  strmap_free(d.susp_retry);
  decision_rl_free(d.decision_rl);
  geoip_free(d.geo);
  hostnets_free(d.hosting);
  log_info("stopped", "requests=%llu", (unsigned long long)d.stats.requests);
  conf_free(d.conf);
  event_base_free(d.base);
  webhook_global_cleanup();
  return 0;
}
