/* decision_log.c - the decision log line:
 *   decision account=alice client=198.51.100.7 sender=alice@example.edu stage=RCPT
 *     action=throttle limit=account-minute count=31 max=30 metric=messages window=minute
 *     shadow=no hits=account-minute
 * Shadow hits show what would have happened: action=dunno would=hold shadow=yes. */
#include "actions/decision_log.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"

static const char *esc(char *buf, size_t len, const char *s) {
  return log_esc(buf, len, s ? s : "", s ? strlen(s) : 0);
}

#define RL_SLOTS 4096

struct rl_slot {
  uint32_t hash;
  int64_t minute;
  uint32_t lines, suppressed;
  int worst; /* most severe action logged this minute: a worse one is always logged */
};

struct decision_rl {
  struct rl_slot slot[RL_SLOTS];
};

struct decision_rl *decision_rl_new(void) { return calloc(1, sizeof(struct decision_rl)); }
void decision_rl_free(struct decision_rl *rl) { free(rl); }

static uint32_t fnv(uint32_t h, const char *s) {
  for (; s && *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
  return h;
}

/* 1 to log this line (*suppressed set to lines held back before it), 0 to
 * hold it back. Lines are counted per account, or per sender domain or
 * client when a limit of that kind decided (one domain crossing its limit
 * must not write a line for each of its thousands of accounts). */
static int rl_allow(const struct decision_ctx *d, const struct limit *l, enum action act,
                    uint32_t *suppressed) {
  *suppressed = 0;
  if (!d->rl || !d->per_minute || !d->account) return 1;
  uint32_t h = 2166136261u;
  if (l && l->per == PER_SENDER_DOMAIN) h = fnv(fnv(h, l->name), strrchr(d->sender ? d->sender : "", '@'));
  else if (l && l->per == PER_CLIENT) h = fnv(fnv(h, l->name), d->client);
  else h = fnv(h, d->account);
  struct rl_slot *s = &d->rl->slot[h % RL_SLOTS];
  int64_t minute = (d->at ? d->at : d->now) / 60;
  if (s->hash != h || s->minute != minute) {
    *suppressed = s->hash == h ? s->suppressed : 0;
    *s = (struct rl_slot){h, minute, 0, 0, -1};
  }
  if (s->lines < d->per_minute || (int)act > s->worst) {
    if ((int)act > s->worst) s->worst = (int)act;
    s->lines++;
    return 1;
  }
  s->suppressed++;
  return 0;
}

void decision_log(const struct decision_ctx *d, const struct verdict *v, bool global_shadow) {
  if (v->action == ACT_DUNNO && v->nhits == 0) return;
  const struct limit *key_limit = v->limit;
  for (size_t i = 0; !key_limit && i < v->nhits; i++) key_limit = v->hits[i].limit;
  uint32_t held;
  if (!rl_allow(d, key_limit, v->action, &held)) return;
  char a[300], cl[80], s[300], hits[400] = "";
  const struct hit *worst = NULL;
  size_t o = 0;
  for (size_t i = 0; i < v->nhits; i++) {
    const struct hit *h = &v->hits[i];
    if (h->shadow && (!worst || h->limit->action > worst->limit->action)) worst = h;
    int n = snprintf(hits + o, sizeof hits - o, "%s%s%s", o ? "," : "", h->limit->name,
                     h->shadow ? "(shadow)" : "");
    if (n < 0 || (size_t)n >= sizeof hits - o) break;
    o += (size_t)n;
  }
  const struct limit *l = v->limit ? v->limit : worst ? worst->limit : NULL;
  uint64_t count = v->limit ? v->count : worst ? worst->count : 0;
  char detail[300] = "";
  if (l)
    snprintf(detail, sizeof detail, " limit=%s count=%llu max=%llu metric=%s window=%s", l->name,
             (unsigned long long)count, (unsigned long long)l->max, conf_metric_name(l->metric),
             conf_window_name(l->win));
  char would[40] = "", at[40] = "";
  if (d->at) {
    time_t t = (time_t)d->at;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(at, sizeof at, " at=%Y-%m-%dT%H:%M:%SZ", &tm);
  }
  if (worst && (!v->limit || worst->limit->action > v->action))
    snprintf(would, sizeof would, " would=%s", conf_action_name(worst->limit->action));
  char sc[LOG_ESC_MAX + 32] = "";
  if (v->score > 0) {
    char esc_r[LOG_ESC_MAX];
    snprintf(sc, sizeof sc, " score=%.1f reasons=%s", v->score,
             log_esc(esc_r, sizeof esc_r, v->reasons, strlen(v->reasons)));
  }
  char sup[40] = "";
  if (held) snprintf(sup, sizeof sup, " suppressed_before=%u", held);
  log_info("decision", "account=%s client=%s sender=%s stage=%s%s action=%s%s%s%s shadow=%s%s%s%s%s",
           esc(a, sizeof a, d->account), esc(cl, sizeof cl, d->client),
           esc(s, sizeof s, d->sender), d->stage, at, conf_action_name(v->action), would, detail, sc,
           (worst && !v->limit) || global_shadow ? "yes" : "no", *hits ? " hits=" : "", hits,
           v->was_suspended ? " reason=suspended" : "", sup);
}
