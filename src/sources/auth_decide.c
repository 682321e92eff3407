/* auth_decide.c - Dovecot asks before a login (command=allow) and reports
 * its outcome (command=report). An allow is answered from the engine's
 * state (blocks, suspensions, failures per address, network and account);
 * a report is a login event for the engine, as a Dovecot log line is.
 * The GeoIP lookup is done here so that the engine stays pure. */
#include "sources/auth_decide.h"

#include <stdio.h>
#include <string.h>

#include "core/where.h"
#include "core/hostnets.h"
#include "core/netaddr.h"
#include "daemon.h"
#include "engine/keytab.h"

/* Webmail must pass the user's address (Roundcube: login_trusted_networks
 * in Dovecot and the IMAP ID x-originating-ip); when most logins still come
 * from a webmail host, nobody can tell an intruder from the owner. */
static void watch_webmail(struct daemon *d, const char *client) {
  const struct conf *c = d->conf;
  if (!c->nwebmail_networks) return;
  struct netaddr a;
  d->logins++;
  if (netaddr_parse(client, strlen(client), &a) == 0 &&
      netmask_list_contains(c->webmail_nets, c->nwebmail_networks, &a))
    d->webmail_logins++;
  if (d->logins >= 50 && d->webmail_logins * 10 >= d->logins * 9) {
    static struct log_rl rl;
    if (log_rl_allow(&rl, daemon_now() / 3600, "webmail_address"))
      log_warn("webmail_address", "logins=%llu from_webmail_host=%llu note=Dovecot_sees_the_webmail_host_"
               "not_the_user:_set_login_trusted_networks_and_Roundcube_imap_conn_options_(README)",
               (unsigned long long)d->logins, (unsigned long long)d->webmail_logins);
    d->logins = d->webmail_logins = 0;
  }
}

void auth_decide(void *arg, const struct authpol_req *req, struct authpol_verdict *out) {
  struct daemon *d = arg;
  const struct conf *c = d->conf;
  char account[KEY_MAX + 1] = "", client[64] = "";
  if (req->login.len && req->login.len < sizeof account)
    (void)conf_account_name(c, req->login.p, req->login.len, account, sizeof account);
  if (sv_copy(client, sizeof client, req->remote) < 0) client[0] = 0;
  int64_t now = daemon_now();
  bool ok = req->has_success && req->success;
  struct event ev = {ok ? EV_LOGIN_OK : EV_LOGIN_FAIL, account[0] ? account : NULL, NULL,
                     client[0] ? client : NULL, NULL, 0, NULL, NULL, NULL, NULL};
  if (req->cmd == AP_ALLOW) { /* answered from failure counts and blocks: no GeoIP needed */
    watch_webmail(d, client);
    struct login_verdict lv;
    engine_login_check(d->engine, &ev, now, &lv);
    out->status = lv.status;
    if (lv.status < 0) snprintf(out->msg, sizeof out->msg, "mailfuse: login refused, contact your mail administrator");
    if (lv.blocked_now) daemon_block_made(d, client, account[0] ? account : NULL, false);
    if (lv.status && log_rl_allow(&d->auth_rl, now, "auth_decision")) {
      char esc[LOG_ESC_MAX];
      log_info("auth_decision", "account=%s client=%s protocol=%.*s answer=%s%d reason=%s",
               account[0] ? account : "-", client[0] ? client : "-", (int)req->protocol.len,
               req->protocol.p ? req->protocol.p : "", lv.status < 0 ? "reject" : "delay", lv.status,
               log_esc(esc, sizeof esc, lv.reason, strlen(lv.reason)));
    }
    return;
  }
  /* report: a refusal by a policy (ours) or an internal error says nothing about the client */
  if (req->policy_reject || (req->fail_type.len && (sv_eq(req->fail_type, "internal") ||
                                                    sv_eq(req->fail_type, "policy"))))
    return;
  if (!ok && !client[0]) return;
  struct where w = {0}; /* where a login came from weighs on a success */
  if (ok) where_lookup(&w, d->geo, d->hosting, client);
  ev.geo = where_geo(&w);
  ev.hosting = w.hosting;
  struct verdict v;
  if (engine_feed(d->engine, &ev, now, &v) < 0) {
    d->stats.errors[SE_INTERNAL]++;
    return;
  }
  daemon_after_verdict(d, &ev, &v, NULL);
  if (v.suspended_now) {
    char esc[LOG_ESC_MAX];
    log_warn("suspend", "account=%s by=mailfuse reason=%s", account,
             log_esc(esc, sizeof esc, v.reasons, strlen(v.reasons)));
    daemon_persist_suspension(d, account, NULL, NULL);
  }
}
