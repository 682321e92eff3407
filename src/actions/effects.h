/* effects.h - the slow effects of containment as self-contained jobs.
 *
 * A job copies everything it needs from the config when it is made (the
 * config may be reloaded while it waits), runs on a runner thread
 * (fx_job_work), and carries its result back to the loop thread. */
#ifndef MF_EFFECTS_H
#define MF_EFFECTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "actions/incident.h"
#include "core/conf.h"

#define FXJ_TOP 5

struct fx_job {
  enum fx kind;
  void *owner;       /* the caller's; effects.c never touches it */
  char event[12];    /* alerts: "incident", "escalated", "released" */
  uint64_t incident; /* 0: not tied to one (the deny file, ctl block) */
  char account[KEY_MAX + 1];
  char addr[48];     /* FX_NFT: the address; unblock when del */
  bool del;
  int attempt;       /* 1 for the first */
  int also_ok;       /* an exit status that counts as success too (-1: none) */
  double timeout;
  /* what to run */
  char **argv, **argv2; /* FX_HOLD/RELEASE/DELETE: postqueue -j, then postsuper */
  char **argv3;         /* FX_RELEASE_HELD: postqueue -i (one ID appended each time) */
  char *in;             /* stdin, or the deny file's account list (NUL-separated), or the webhook body */
  size_t in_len;
  char *path;           /* FX_DENY: the file; FX_WEBHOOK: the URL */
  char *domain;         /* FX_DENY: account_domain */
  char **senders, **qids; /* queue selection */
  size_t nsenders, nqids, naccounts, nheaders;
  char **headers;       /* FX_WEBHOOK */
  /* result */
  int rc;
  char err[256];
  uint64_t n; /* messages held / released / deleted; accounts written */
  char top[FXJ_TOP][64];
  uint64_t top_n[FXJ_TOP];
};

/* Constructors: NULL when out of memory or not configured. */
struct fx_job *fx_job_deny(const struct conf *c, const char *const *accounts, size_t n);
/* kick_command / suspend_command / release_command with placeholders
 * expanded (%a account, %n name without account_domain, %r reason, %i incident, %% a %). */
struct fx_job *fx_job_command(const struct conf *c, enum fx kind, char *const *cmd, size_t ncmd,
                              const char *account, const char *reason, uint64_t incident);
/* FX_HOLD (not yet held -> hold), FX_RELEASE_HELD, FX_DELETE_HELD. */
struct fx_job *fx_job_queue(const struct conf *c, enum fx kind, const char *account,
                            const char *const *senders, size_t nsenders, const char *const *qids,
                            size_t nqids, uint64_t incident);
struct fx_job *fx_job_nft(const struct conf *c, const char *addr, int64_t seconds, bool del,
                          uint64_t incident);
/* The alert e-mail (message text made by the caller) and the webhook. */
struct fx_job *fx_job_email(const struct conf *c, const char *message, uint64_t incident);
struct fx_job *fx_job_webhook(const struct conf *c, const char *body, uint64_t incident);

/* On a runner thread. */
void fx_job_work(void *job);
void fx_job_free(struct fx_job *j);

#endif
