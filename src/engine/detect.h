/* detect.h - learned profiles and the risk score, inside the engine */
#ifndef MF_DETECT_H
#define MF_DETECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/conf.h"
#include "engine/engine.h"
#include "engine/profile.h"
#include "engine/signals.h"

struct detect;

/* NULL with err set (free-mail list unreadable). Caller frees with detect_free(). */
struct detect *detect_new(const struct conf *c, char *err, size_t errlen);
void detect_free(struct detect *d);
void detect_set_conf(struct detect *d, const struct conf *c);
/* What observing one event worked out, for judging and learning it: the
 * profile is looked up, the client address parsed and the recipient domain
 * classified once per event. */
struct detect_seen {
  struct profile *p;  /* NULL when out of memory: judge and learn do nothing */
  uint32_t net, wide; /* the client's networks; 0 when it says nothing (webmail host) */
  bool freemail, foreign;
};

/* Account a message event in the account's recent activity (before deciding). */
void detect_observe(struct detect *d, const struct event *ev, int64_t now, bool is_ext,
                    struct detect_seen *seen);
/* The risk score for this event; adds a hit to v (and raises v->action unless
 * that threshold is in shadow mode). */
void detect_judge(struct detect *d, const struct detect_seen *seen, const struct event *ev,
                  int64_t now, struct verdict *v);
/* After the verdict: learn what was let through (nothing while flagged). */
void detect_learn(struct detect *d, const struct detect_seen *seen, const struct event *ev,
                  int64_t now, bool is_ext, enum action final);
/* A login succeeded or failed (account may be NULL for a failure). */
void detect_login(struct detect *d, const struct event *ev, int64_t now);
/* Failures from an address in the last hour, and how many accounts they hit. */
void detect_ip_info(struct detect *d, const char *ip, int64_t now, uint64_t *fails, unsigned *accounts);
/* The login risk of an account now (0 when none), and its reason. */
float detect_login_risk(struct detect *d, const char *account, int64_t now, const char **why);
/* For `ctl explain`: the profile (NULL if none) and the score as of now. */
const struct profile *detect_explain(struct detect *d, const char *account, int64_t now, struct score *s);
/* The site's usual shares. */
void detect_site(const struct detect *d, float *foreign, float *freemail);
/* True if l is one of the score's own pseudo-limits. */
bool detect_is_score_limit(const struct limit *l);

/* Persistence of profiles: changed ones to cb (and marked clean). Login
 * state changes always; then up to max of the profiles that learned
 * something and first changed at or before queued_by (event time;
 * INT64_MAX: all), the site's too. Returns how many of those are left for
 * the next call. */
typedef void (*detect_emit_fn)(void *arg, const char *account, const uint8_t *data, size_t len);
size_t detect_collect_some(struct detect *d, detect_emit_fn cb, void *arg, size_t max,
                           int64_t queued_by);
/* Write this profile again with the next flush (its last write failed). */
void detect_mark_dirty(struct detect *d, const char *account);
/* Load one back. */
int detect_load(struct detect *d, const char *account, const uint8_t *data, size_t len);
size_t detect_count(const struct detect *d);

#endif
