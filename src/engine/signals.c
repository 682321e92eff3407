/* signals.c - the risk signals and how they combine.
 *
 * Every signal is a number with a name and a one-line reason.  They fall
 * in two kinds:
 *   what is sent (volume against the account's own history, never-seen
 *   recipient domains, free-mail and foreign shares against its usual and
 *   the site's, an hour it never sends at, bounces, a sender other than
 *   the login), capped at 8 together;
 *   who sends it (a network the account never used, a risky login: after
 *   failures, from a password-spraying address, from a new network; a
 *   dormant account waking up), capped at 6 together.
 * The score is their sum.  Thresholds (score_alert/throttle/hold/suspend)
 * give the action, with two gates: any action needs MAIL_EVIDENCE from the
 * mail itself (or a login from a spraying address), and hold and suspend
 * also need "who" evidence of at least ORIGIN_GATE.  A legitimate heavy day (a teacher
 * mailing 300 students) can reach a throttle, but mail is only held or an
 * account suspended when its origin is unusual as well.
 */
#include "engine/signals.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WHAT_CAP 8.0f
#define WHO_CAP 6.0f
#define ORIGIN_GATE 1.5f
#define MAIL_EVIDENCE 1.0f /* volume, new domains, free-mail, foreign, bounces */
#define SPRAY_LOGIN 5.0f   /* a login from a password-spraying address acts alone */
#define COLD_MESSAGES 20
#define COLD_SECONDS (3 * 86400)

static void add(struct score *s, const char *name, bool who, float v, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void add(struct score *s, const char *name, bool who, float v, const char *fmt, ...) {
  if (v < 0.05f || s->n == SIGNALS_MAX) return;
  struct signal *g = &s->s[s->n++];
  g->name = name;
  g->who = who;
  g->value = v;
  g->why[0] = 0;
  if (!s->explain) return; /* reasons are written only when someone reads them */
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g->why, sizeof g->why, fmt, ap);
  va_end(ap);
}

static float clampf(float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }

static bool cold(const struct signal_ctx *x) {
  return x->p->msgs_learned < COLD_MESSAGES || x->now - x->p->first_seen < COLD_SECONDS;
}

static void volume(const struct signal_ctx *x, struct score *s) {
  const struct profile *p = x->p;
  float m = (float)profile_recent(p, RC_MSGS), e = (float)profile_recent(p, RC_EXT);
  float sd = sqrtf(p->vol_var > 0 ? p->vol_var : 0);
  float expected = cold(x) ? 10.0f : fmaxf(3.0f, fmaxf(p->vol_mean + 4 * sd, 1.2f * p->vol_peak));
  float vm = m > expected ? 1.5f * log2f((m + 1) / (expected + 1)) : 0;
  float ve = e > 3 * expected ? 1.5f * log2f((e + 1) / (3 * expected + 1)) : 0;
  add(s, "volume", false, clampf(fmaxf(vm, ve), 0, 4),
      "%.0f messages and %.0f external recipients in the last hour; usual at most %.1f an hour", m, e,
      expected);
}

static void recipients(const struct signal_ctx *x, struct score *s) {
  const struct profile *p = x->p;
  float ext = (float)profile_recent(p, RC_EXT);
  if (ext < 5) return;
  float nd = (float)profile_recent(p, RC_NEWDOM), fm = (float)profile_recent(p, RC_FREEMAIL),
        fo = (float)profile_recent(p, RC_FOREIGN);
  float ramp = fminf(1.0f, ext / 10.0f);
  add(s, "new_domains", false, (cold(x) ? 1.0f : 3.0f) * (nd / ext) * ramp,
      "%.0f of %.0f external recipients in domains it never wrote to", nd, ext);
  float base = fmaxf(p->share_ext, 0.01f);
  float usual_fm = fmaxf(fminf(1.0f, p->share_freemail / base), x->site_freemail);
  float usual_fo = fmaxf(fminf(1.0f, p->share_foreign / base), x->site_foreign);
  add(s, "freemail", false, clampf(4 * (fm / ext - usual_fm - 0.2f), 0, 2) * ramp,
      "%.0f%% of external recipients at free-mail providers, usual %.0f%%", 100 * fm / ext, 100 * usual_fm);
  add(s, "foreign", false, clampf(4 * (fo / ext - usual_fo - 0.2f), 0, 2) * ramp,
      "%.0f%% of external recipients in foreign country domains, usual %.0f%%", 100 * fo / ext,
      100 * usual_fo);
}

static void habits(const struct signal_ctx *x, struct score *s) {
  const struct profile *p = x->p;
  if (!cold(x) && profile_recent(p, RC_MSGS)) {
    uint32_t total = 0;
    for (int h = 0; h < 24; h++) total += p->hours[h];
    int hod = (int)((x->now / 3600) % 24);
    if (total >= 30 && (float)p->hours[hod] / (float)total < 0.01f)
      add(s, "unusual_hour", false, 1.5f, "sending at %02d:00 UTC, an hour it used for %.1f%% of its mail",
          hod, 100.0f * p->hours[hod] / (float)total);
  }
  float dl = (float)profile_recent(p, RC_DELIVERED), bo = (float)profile_recent(p, RC_BOUNCED);
  if (dl + bo >= 10 && bo / (dl + bo) > fmaxf(0.2f, 3 * p->share_bounce))
    add(s, "bounces", false, 2.0f, "%.0f of %.0f deliveries in the last hour bounced, usual %.0f%%", bo,
        dl + bo, 100 * p->share_bounce);
  if (x->sender_mismatch)
    add(s, "sender_mismatch", false, 1.0f, "envelope sender %s is not the login", x->sender ? x->sender : "");
}

/* Where the client is, against where the account sends and logs in from.
 * With GeoIP (and a profile that knows a country): a new country, else a
 * new operator (ASN), else a new /24. Without it, address prefixes stand
 * in: a new /16 for "somewhere else", a new /24. */
static void place(const struct signal_ctx *x, struct score *s) {
  const struct profile *p = x->p;
  bool c = cold(x);
  const struct geo *g = x->geo;
  uint16_t cc = g ? profile_cc(g->country) : 0;
  bool new_net = x->client_net && !c && p->nets[0] && !profile_has(p->nets, PROFILE_NETS, x->client_net);
  /* "new" needs something known: an account whose places are not learned yet says nothing */
  if (cc && p->countries[0]) {
    if (!profile_has_country(p, cc))
      add(s, "new_country", true, c ? 0.5f : 2.0f, "client %s is in %s, a country it never sent or logged in from",
          x->client, g->country);
    else if (g->asn && p->asns[0] && !profile_has(p->asns, PROFILE_ASNS, g->asn))
      add(s, "new_operator", true, c ? 0.5f : 1.0f, "client %s is in AS%u %s, a network operator it never used",
          x->client, (unsigned)g->asn, g->org);
    else if (new_net)
      add(s, "new_subnet", true, 0.5f, "client %s is in a /24 it never used", x->client);
  } else if (x->client_wide && p->wide[0] && !profile_has(p->wide, PROFILE_WIDE, x->client_wide)) {
    add(s, "new_network", true, c ? 0.5f : 2.0f, "client %s is in a network it never used", x->client);
  } else if (new_net) {
    add(s, "new_subnet", true, 0.5f, "client %s is in a /24 it never used", x->client);
  }
  if (x->hosting)
    add(s, "hosting", true, 2.0f, "client %s is in a hosting/VPN network: %s", x->client, x->hosting);
  /* mail from one country while the account logged in from another, far
   * away, sooner than anyone travels. Within one country GeoIP often puts
   * mobile and unknown addresses at the country's centre, hundreds of km
   * off: that alone is no evidence. */
  if (g && g->has_loc && p->login_has_loc && p->login_at && x->now >= p->login_at && cc &&
      p->login_country && cc != p->login_country) {
    double km = geo_distance_km(p->login_lat / 100.0, p->login_lon / 100.0, g->lat, g->lon);
    double h = (double)(x->now - p->login_at) / 3600.0;
    if (geo_faster_than_travel(km, h))
      add(s, "two_places", true, 2.0f, "client %s is %.0f km from the login %.1f h before (faster than travel)",
          x->client, km, h);
  }
}

static void origin(const struct signal_ctx *x, struct score *s) {
  const struct profile *p = x->p;
  place(x, s);
  if (p->login_risk > 0 && x->now < p->login_risk_until)
    add(s, "login_risk", true, p->login_risk, "%s", p->login_reason);
  if (p->woke_at && x->now - p->woke_at < 86400)
    add(s, "dormant", true, 2.0f, "sending again after %u silent days", p->woke_days);
}

static int by_value(const void *a, const void *b) {
  float x = ((const struct signal *)a)->value, y = ((const struct signal *)b)->value;
  return x < y ? 1 : x > y ? -1 : 0;
}

static void score_pass(const struct signal_ctx *x, struct score *s, bool explain);

void signals_score(const struct signal_ctx *x, struct score *s) {
  /* most messages score below every threshold: compute the numbers only,
   * and write the reasons in a second pass when there is an action */
  score_pass(x, s, x->explain);
  if (!x->explain && s->action != ACT_DUNNO) score_pass(x, s, true);
}

static void score_pass(const struct signal_ctx *x, struct score *s, bool explain) {
  memset(s, 0, sizeof *s);
  s->explain = explain;
  volume(x, s);
  recipients(x, s);
  habits(x, s);
  origin(x, s);
  for (size_t i = 0; i < s->n; i++) {
    if (s->s[i].who) s->who += s->s[i].value;
    else s->what += s->s[i].value;
  }
  s->who = fminf(s->who, WHO_CAP);
  s->what = fminf(s->what, WHAT_CAP);
  s->total = s->who + s->what;
  /* mail evidence: what the recipients and the volume say (not the hour or
   * the sender alone). Without it nothing happens, however unusual the
   * origin (a traveller sending as usual), unless the login was a sprayer's. */
  float evidence = 0, login = 0;
  for (size_t i = 0; i < s->n; i++) {
    const char *nm = s->s[i].name;
    if (!s->s[i].who && strcmp(nm, "unusual_hour") && strcmp(nm, "sender_mismatch")) evidence += s->s[i].value;
    if (!strcmp(nm, "login_risk")) login = s->s[i].value;
  }
  const struct conf *c = x->c;
  if (evidence < MAIL_EVIDENCE && login < SPRAY_LOGIN) s->action = ACT_DUNNO;
  else if (s->total >= c->score_suspend && s->who >= ORIGIN_GATE) s->action = ACT_SUSPEND;
  else if (s->total >= c->score_hold && s->who >= ORIGIN_GATE) s->action = ACT_HOLD;
  else if (s->total >= c->score_throttle) s->action = ACT_THROTTLE;
  else if (s->total >= c->score_alert) s->action = ACT_ALERT;
  if (s->n > 1) qsort(s->s, s->n, sizeof *s->s, by_value);
}

void signals_reasons(const struct score *s, size_t n, char *buf, size_t len) {
  size_t o = 0;
  buf[0] = 0;
  for (size_t i = 0; i < s->n && i < n && o < len; i++) {
    int w = snprintf(buf + o, len - o, "%s%s %.1f (%s)", i ? ", " : "", s->s[i].name, s->s[i].value,
                     s->s[i].why);
    if (w < 0) break;
    o += (size_t)w;
  }
}
