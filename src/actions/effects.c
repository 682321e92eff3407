/* effects.c - containment effects as jobs: build them from the config on
 * the loop thread, run them on a runner thread. Programs are run without a
 * shell (spawn.c); every one has command_timeout. */
#include "actions/effects.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/strview.h"

#include "actions/denyfile.h"
#include "actions/postqueue.h"
#include "actions/spawn.h"
#include "actions/webhook.h"

#define DOVEADM_NO_USERS 68 /* doveadm kick: "no users kicked" (nobody had a session) */

/* ---- string vectors (NULL-terminated) */

static void strv_free(char **v) {
  for (size_t i = 0; v && v[i]; i++) free(v[i]);
  free(v);
}

static size_t strv_len(char **v) {
  size_t n = 0;
  while (v && v[n]) n++;
  return n;
}

/* Append a copy of s; 0 or -1 (v untouched on failure). */
static int strv_add(char ***v, const char *s) {
  size_t n = strv_len(*v);
  char **nv = realloc(*v, (n + 2) * sizeof *nv);
  if (!nv) return -1;
  *v = nv;
  if (!(nv[n] = strdup(s))) {
    nv[n] = NULL;
    return -1;
  }
  nv[n + 1] = NULL;
  return 0;
}

static char **strv_copy(const char *const *src, size_t n) {
  char **v = calloc(n + 1, sizeof *v);
  for (size_t i = 0; v && i < n; i++)
    if (!(v[i] = strdup(src[i]))) {
      strv_free(v);
      return NULL;
    }
  return v;
}

/* The Postfix program with -c DIR for a non-default instance. */
static int postfix_argv(char ***v, const struct conf *c, const char *prog) {
  if (strv_add(v, prog) < 0) return -1;
  if (c->postfix_config_dir[0] && (strv_add(v, "-c") < 0 || strv_add(v, c->postfix_config_dir) < 0))
    return -1;
  return 0;
}

static struct fx_job *job_new(const struct conf *c, enum fx kind, const char *account,
                              uint64_t incident) {
  struct fx_job *j = calloc(1, sizeof *j);
  if (!j) return NULL;
  j->kind = kind;
  j->incident = incident;
  j->timeout = c->command_timeout;
  j->attempt = 1;
  j->also_ok = -1;
  str_copy(j->account, sizeof j->account, account ? account : "");
  return j;
}

void fx_job_free(struct fx_job *j) {
  if (!j) return;
  strv_free(j->argv);
  strv_free(j->argv2);
  strv_free(j->argv3);
  strv_free(j->senders);
  strv_free(j->qids);
  strv_free(j->headers);
  free(j->in);
  free(j->path);
  free(j->domain);
  free(j);
}

/* ---- constructors */

struct fx_job *fx_job_deny(const struct conf *c, const char *const *accounts, size_t n) {
  if (!c->dovecot_deny_file[0]) return NULL;
  struct fx_job *j = job_new(c, FX_DENY, NULL, 0);
  if (!j) return NULL;
  size_t len = 0;
  for (size_t i = 0; i < n; i++) len += strlen(accounts[i]) + 1;
  j->in = malloc(len + 1);
  j->path = strdup(c->dovecot_deny_file);
  j->domain = strdup(c->account_domain);
  if (!j->in || !j->path || !j->domain) {
    fx_job_free(j);
    return NULL;
  }
  char *p = j->in;
  for (size_t i = 0; i < n; i++) {
    size_t l = strlen(accounts[i]) + 1;
    memcpy(p, accounts[i], l);
    p += l;
  }
  j->in_len = len;
  j->naccounts = n;
  return j;
}

/* Expand %a %n %r %i %% in one argument. */
static char *expand(const char *arg, const struct conf *c, const char *account, const char *reason,
                    uint64_t incident) {
  char name[KEY_MAX + 1], id[24];
  str_copy(name, sizeof name, account);
  const char *at = strrchr(name, '@');
  if (at && c->account_domain[0] && !strcasecmp(at + 1, c->account_domain)) name[at - name] = 0;
  snprintf(id, sizeof id, "%llu", (unsigned long long)incident);
  size_t cap = strlen(arg) + 1;
  for (const char *p = arg; *p; p++)
    if (*p == '%') cap += strlen(account) + strlen(reason) + sizeof id;
  char *out = malloc(cap), *o = out;
  if (!out) return NULL;
  for (const char *p = arg; *p; p++) {
    const char *val = NULL;
    if (*p == '%' && p[1]) {
      switch (p[1]) {
        case 'a': val = account; break;
        case 'n': val = name; break;
        case 'r': val = reason; break;
        case 'i': val = id; break;
        case '%': val = "%"; break;
        default: break;
      }
    }
    if (val) {
      size_t l = strlen(val);
      memcpy(o, val, l);
      o += l;
      p++;
    } else {
      *o++ = *p;
    }
  }
  *o = 0;
  return out;
}

struct fx_job *fx_job_command(const struct conf *c, enum fx kind, char *const *cmd, size_t ncmd,
                              const char *account, const char *reason, uint64_t incident) {
  if (!ncmd) return NULL;
  struct fx_job *j = job_new(c, kind, account, incident);
  if (!j) return NULL;
  if (kind == FX_KICK) j->also_ok = DOVEADM_NO_USERS;
  if (!(j->argv = calloc(ncmd + 1, sizeof *j->argv))) goto fail;
  for (size_t i = 0; i < ncmd; i++)
    if (!(j->argv[i] = expand(cmd[i], c, account, reason ? reason : "", incident))) goto fail;
  return j;
fail:
  fx_job_free(j);
  return NULL;
}

struct fx_job *fx_job_queue(const struct conf *c, enum fx kind, const char *account,
                            const char *const *senders, size_t nsenders, const char *const *qids,
                            size_t nqids, uint64_t incident) {
  struct fx_job *j = job_new(c, kind, account, incident);
  if (!j) return NULL;
  const char *op = kind == FX_HOLD ? "-h" : kind == FX_RELEASE_HELD ? "-H" : "-d";
  j->timeout = c->command_timeout;
  if (postfix_argv(&j->argv, c, c->postqueue_command) < 0 || strv_add(&j->argv, "-j") < 0 ||
      postfix_argv(&j->argv2, c, c->postsuper_command) < 0 || strv_add(&j->argv2, op) < 0 ||
      strv_add(&j->argv2, "-") < 0 ||
      (kind == FX_DELETE_HELD && strv_add(&j->argv2, "hold") < 0) ||
      (kind == FX_RELEASE_HELD && postfix_argv(&j->argv3, c, c->postqueue_command) < 0) ||
      !(j->senders = strv_copy(senders, nsenders)) || !(j->qids = strv_copy(qids, nqids))) {
    fx_job_free(j);
    return NULL;
  }
  j->nsenders = nsenders;
  j->nqids = nqids;
  return j;
}

struct fx_job *fx_job_nft(const struct conf *c, const char *addr, int64_t seconds, bool del,
                          uint64_t incident) {
  bool v6 = strchr(addr, ':') != NULL;
  const char *set = v6 ? c->nft_set6 : c->nft_set;
  if (!set[0]) return NULL;
  struct fx_job *j = job_new(c, FX_NFT, NULL, incident);
  if (!j) return NULL;
  str_copy(j->addr, sizeof j->addr, addr);
  j->del = del;
  char elem[128];
  if (del) snprintf(elem, sizeof elem, "{ %s }", addr);
  else snprintf(elem, sizeof elem, "{ %s timeout %llds }", addr, (long long)(seconds > 0 ? seconds : 1));
  /* "nft add element FAMILY TABLE SET { ADDR timeout Ns }": the set name is three words */
  char words[3][64] = {{0}};
  if (sscanf(set, "%63s %63s %63s", words[0], words[1], words[2]) != 3 ||
      strv_add(&j->argv, c->nft_command) < 0 || strv_add(&j->argv, del ? "delete" : "add") < 0 ||
      strv_add(&j->argv, "element") < 0 || strv_add(&j->argv, words[0]) < 0 ||
      strv_add(&j->argv, words[1]) < 0 || strv_add(&j->argv, words[2]) < 0 ||
      strv_add(&j->argv, elem) < 0) {
    fx_job_free(j);
    return NULL;
  }
  return j;
}

struct fx_job *fx_job_email(const struct conf *c, const char *message, uint64_t incident) {
  if (!c->nalert_email || !c->nsendmail_command) return NULL;
  struct fx_job *j = job_new(c, FX_EMAIL, NULL, incident);
  if (!j) return NULL;
  if (!(j->argv = strv_copy((const char *const *)c->sendmail_command, c->nsendmail_command)) ||
      strv_add(&j->argv, "-f") < 0 || strv_add(&j->argv, c->alert_from) < 0 ||
      strv_add(&j->argv, "--") < 0)
    goto fail;
  for (size_t i = 0; i < c->nalert_email; i++)
    if (strv_add(&j->argv, c->alert_email[i]) < 0) goto fail;
  if (!(j->in = strdup(message))) goto fail;
  j->in_len = strlen(message);
  return j;
fail:
  fx_job_free(j);
  return NULL;
}

struct fx_job *fx_job_webhook(const struct conf *c, const char *body, uint64_t incident) {
  if (!c->webhook_url[0]) return NULL;
  struct fx_job *j = job_new(c, FX_WEBHOOK, NULL, incident);
  if (!j) return NULL;
  j->timeout = c->webhook_timeout;
  if (!(j->path = strdup(c->webhook_url)) || !(j->in = strdup(body)) ||
      !(j->headers = strv_copy((const char *const *)c->webhook_headers, c->nwebhook_headers))) {
    fx_job_free(j);
    return NULL;
  }
  j->in_len = strlen(body);
  j->nheaders = c->nwebhook_headers;
  return j;
}

/* ---- work, on a runner thread */

static int run(struct fx_job *j, char **argv, const void *in, size_t len, spawn_out_fn out, void *arg) {
  struct spawn_result r;
  int rc = spawn_run((const char *const *)argv, in, len, out, arg, j->timeout, &r);
  if (rc < 0 && j->also_ok >= 0 && r.status == j->also_ok && !r.timed_out) return 0;
  if (rc < 0) {
    const char *base = strrchr(argv[0], '/');
    snprintf(j->err, sizeof j->err, "%.60s: %.190s", base ? base + 1 : argv[0], r.err);
  }
  return rc;
}

static void feed_select(void *arg, const char *data, size_t len) { pq_select_feed(arg, data, len); }

/* Read the queue and select the account's messages; NULL with j->err on failure. */
static struct pq_select *select_queue(struct fx_job *j) {
  struct pq_select *s = pq_select_new((const char *const *)j->senders, j->nsenders,
                                      (const char *const *)j->qids, j->nqids);
  if (!s) {
    snprintf(j->err, sizeof j->err, "out of memory");
    return NULL;
  }
  if (run(j, j->argv, NULL, 0, feed_select, s) < 0) {
    pq_select_free(s);
    return NULL;
  }
  pq_select_end(s);
  return s;
}

static void queue_work(struct fx_job *j) {
  struct pq_select *s = select_queue(j);
  if (!s) {
    j->rc = -1;
    return;
  }
  size_t len = 0;
  const char *ids = j->kind == FX_HOLD ? pq_select_ids(s, &len) : pq_select_held_ids(s, &len);
  size_t nids = j->kind == FX_HOLD ? pq_select_nids(s) : pq_select_nheld(s);
  if (!ids) {
    snprintf(j->err, sizeof j->err, "out of memory reading the queue");
    j->rc = -1;
    pq_select_free(s);
    return;
  }
  const char *doms[FXJ_TOP];
  uint64_t cnt[FXJ_TOP];
  size_t nt = pq_select_top_domains(s, FXJ_TOP, doms, cnt);
  for (size_t i = 0; i < nt; i++) {
    str_copy(j->top[i], sizeof j->top[i], doms[i]);
    j->top_n[i] = cnt[i];
  }
  j->rc = 0;
  if (nids && run(j, j->argv2, ids, len, NULL, NULL) < 0) j->rc = -1;
  if (j->rc == 0) j->n = nids;
  /* released mail waits in the deferred queue for the next queue run:
   * ask for delivery now, one message at a time, or all when many */
  if (j->rc == 0 && j->kind == FX_RELEASE_HELD && nids) {
    size_t base = strv_len(j->argv3);
    if (nids > 500) {
      if (strv_add(&j->argv3, "-f") == 0) (void)run(j, j->argv3, NULL, 0, NULL, NULL);
    } else {
      for (const char *p = ids; *p;) {
        const char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) : strlen(p);
        char id[PQ_QID_MAX + 1];
        snprintf(id, sizeof id, "%.*s", (int)l, p);
        if (strv_add(&j->argv3, "-i") == 0 && strv_add(&j->argv3, id) == 0)
          (void)run(j, j->argv3, NULL, 0, NULL, NULL); /* best effort: the queue manager gets it later anyway */
        while (strv_len(j->argv3) > base) {
          size_t n = strv_len(j->argv3);
          free(j->argv3[n - 1]);
          j->argv3[n - 1] = NULL;
        }
        p += l + (nl != NULL);
      }
    }
    j->err[0] = 0;
  }
  pq_select_free(s);
}

static void deny_work(struct fx_job *j) {
  const char **accts = calloc(j->naccounts + 1, sizeof *accts);
  if (!accts) {
    snprintf(j->err, sizeof j->err, "out of memory");
    j->rc = -1;
    return;
  }
  const char *p = j->in;
  for (size_t i = 0; i < j->naccounts; i++) {
    accts[i] = p;
    p += strlen(p) + 1;
  }
  size_t skipped = 0;
  j->rc = denyfile_write(j->path, accts, j->naccounts, j->domain, &skipped, j->err, sizeof j->err);
  j->n = j->naccounts - skipped;
  free(accts);
}

void fx_job_work(void *arg) {
  struct fx_job *j = arg;
  j->err[0] = 0;
  j->n = 0;
  switch (j->kind) {
    case FX_DENY:
    case FX_DENY_REMOVE: deny_work(j); break;
    case FX_HOLD:
    case FX_RELEASE_HELD:
    case FX_DELETE_HELD: queue_work(j); break;
    case FX_WEBHOOK:
      j->rc = webhook_post(j->path, (const char *const *)j->headers, j->nheaders, j->in, j->in_len,
                           j->timeout, j->err, sizeof j->err);
      break;
    default: /* kick, hooks, nft, e-mail: one program */
      j->rc = run(j, j->argv, j->in, j->in_len, NULL, NULL);
      break;
  }
}
