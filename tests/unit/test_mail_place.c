/* test_mail_place.c - where a submission comes from, on the mail path:
 * with GeoIP a new country, a new operator, a hosting network and mail
 * far from the last login (faster than travel) are signals; a country is
 * learned from mail the way a network is (seen again on a later day); and
 * struct where looks an address up once for a run of requests. */
#include "testutil.h"

#include <string.h>

#include "core/geoip.h"
#include "core/where.h"
#include "engine/engine.h"
#include "engine/profile.h"
#include "engine/signals.h"

#define DAY 86400
#define T0 1800000000
#define HOME_IP "198.51.100.7"

static const struct geo BERLIN = {"DE", 64500, "TEST-DE-ISP", 52.52, 13.40, true};
static const struct geo BERLIN_OTHER_ISP = {"DE", 64501, "TEST-DE-OTHER", 52.50, 13.42, true};
static const struct geo SAO_PAULO = {"BR", 64502, "TEST-BR-ISP", -23.55, -46.63, true};

static struct conf *score_conf(void) {
  return conf_from_text(BASE_CONF "score = true;\n");
}

/* One message to one recipient from ip (located at g, or not). */
static enum action mail(struct engine *e, const char *acct, const char *ip, const struct geo *g,
                        const char *hosting, const char *rcpt_domain, int64_t t) {
  struct txn tx = {0};
  struct verdict v;
  struct event rc = {EV_RCPT, acct, "example.edu", ip, rcpt_domain, 0, &tx, acct, g, hosting};
  struct event eom = {EV_EOM, acct, "example.edu", ip, NULL, 1, &tx, acct, g, hosting};
  assert_int_equal(engine_feed(e, &rc, t, &v), 0);
  enum action a = v.action;
  assert_int_equal(engine_feed(e, &eom, t, &v), 0);
  return v.action > a ? v.action : a;
}

/* Two weeks of mail from home (Berlin), no logins: places learned from mail only. */
static void history(struct engine *e, const char *acct) {
  for (int d = 0; d < 14; d++)
    for (int m = 0; m < 3; m++)
      assert_int_equal(mail(e, acct, HOME_IP, &BERLIN, NULL, "example.edu", T0 + (int64_t)d * DAY + 3600 * (9 + m)),
                       ACT_DUNNO);
}

/* The score of one message from ip at g, as the engine would compute it. */
static void score_of(struct engine *e, const char *acct, const char *ip, const struct geo *g,
                     const char *hosting, int64_t t, struct score *s) {
  struct score tmp;
  const struct profile *p = engine_explain(e, acct, t, &tmp);
  assert_non_null(p);
  struct signal_ctx x = {0};
  x.c = NULL;
  x.p = p;
  x.now = t;
  x.client_net = profile_net(ip, false);
  x.client_wide = profile_net(ip, true);
  x.client = ip;
  x.explain = true;
  x.geo = g;
  x.hosting = hosting;
  struct conf *c = score_conf();
  x.c = c;
  signals_score(&x, s);
  conf_free(c);
}

static const struct signal *signal_named(const struct score *s, const char *name) {
  for (size_t i = 0; i < s->n; i++)
    if (!strcmp(s->s[i].name, name)) return &s->s[i];
  return NULL;
}

static void test_country_learned_from_mail(void **state) {
  struct conf *c = score_conf();
  struct engine *e = engine_new(c);
  history(e, "alice@example.edu");
  struct score s;
  const struct profile *p = engine_explain(e, "alice@example.edu", T0 + 14 * DAY, &s);
  assert_non_null(p);
  assert_int_equal(p->countries[0], profile_cc("DE"));
  assert_int_equal(p->asns[0], 64500);
  engine_free(e);
  conf_free(c);
}

static void test_new_country_and_operator(void **state) {
  struct conf *c = score_conf();
  struct engine *e = engine_new(c);
  history(e, "alice@example.edu");
  int64_t t = T0 + 14 * DAY + 10 * 3600;
  struct score s;
  score_of(e, "alice@example.edu", HOME_IP, &BERLIN, NULL, t, &s);
  assert_null(signal_named(&s, "new_country"));
  assert_null(signal_named(&s, "new_operator"));
  assert_null(signal_named(&s, "new_network"));

  /* Brazil: a country it never used, whatever the prefix says */
  score_of(e, "alice@example.edu", "203.0.113.8", &SAO_PAULO, NULL, t, &s);
  const struct signal *g = signal_named(&s, "new_country");
  assert_non_null(g);
  assert_true(g->who && g->value >= 2.0f);
  assert_non_null(strstr(g->why, "BR"));
  assert_null(signal_named(&s, "new_network")); /* the country says it, not the /16 */

  /* Germany through another operator: weaker */
  score_of(e, "alice@example.edu", "192.0.2.9", &BERLIN_OTHER_ISP, NULL, t, &s);
  assert_null(signal_named(&s, "new_country"));
  g = signal_named(&s, "new_operator");
  assert_non_null(g);
  assert_true(g->value > 0.5f && g->value < 2.0f);
  assert_non_null(strstr(g->why, "AS64501"));

  /* without GeoIP the prefixes stand in, as before */
  score_of(e, "alice@example.edu", "203.0.113.8", NULL, NULL, t, &s);
  assert_non_null(signal_named(&s, "new_network"));
  assert_null(signal_named(&s, "new_country"));
  engine_free(e);
  conf_free(c);
}

static void test_hosting_and_two_places(void **state) {
  struct conf *c = score_conf();
  struct engine *e = engine_new(c);
  history(e, "alice@example.edu");
  int64_t t = T0 + 14 * DAY + 10 * 3600;
  struct score s;
  score_of(e, "alice@example.edu", HOME_IP, &BERLIN, "AS64500 (site list)", t, &s);
  const struct signal *g = signal_named(&s, "hosting");
  assert_non_null(g);
  assert_true(g->who);
  assert_non_null(strstr(g->why, "AS64500 (site list)"));

  /* a login in Berlin, then mail from Sao Paulo 30 minutes later */
  struct verdict v;
  struct event in = {EV_LOGIN_OK, "alice@example.edu", NULL, HOME_IP, NULL, 0, NULL, NULL, &BERLIN, NULL};
  assert_int_equal(engine_feed(e, &in, t, &v), 0);
  score_of(e, "alice@example.edu", "203.0.113.8", &SAO_PAULO, NULL, t + 1800, &s);
  g = signal_named(&s, "two_places");
  assert_non_null(g);
  assert_non_null(strstr(g->why, "faster than travel"));
  /* the same distance inside one country (GeoIP's centre-of-country
   * placement of mobile addresses) is no evidence */
  static const struct geo DE_FAR = {"DE", 64500, "TEST-DE-ISP", 40.71, -74.00, true};
  score_of(e, "alice@example.edu", HOME_IP, &DE_FAR, NULL, t + 1800, &s);
  assert_null(signal_named(&s, "two_places"));
  /* two days later the same is a journey */
  score_of(e, "alice@example.edu", "203.0.113.8", &SAO_PAULO, NULL, t + 2 * DAY, &s);
  assert_null(signal_named(&s, "two_places"));
  engine_free(e);
  conf_free(c);
}

/* A burst to new external domains from a new country is held; the same
 * burst from home is at most throttled (no origin evidence). */
static void test_burst_from_new_country_is_held(void **state) {
  struct conf *c = score_conf();
  struct engine *e = engine_new(c);
  history(e, "alice@example.edu");
  history(e, "bob@example.edu");
  int64_t t = T0 + 14 * DAY + 11 * 3600;
  enum action worst_alice = ACT_DUNNO, worst_bob = ACT_DUNNO;
  int held_at = -1;
  for (int i = 0; i < 40; i++) {
    char dom[64];
    snprintf(dom, sizeof dom, "new%d.example.com", i);
    enum action a = mail(e, "alice@example.edu", "203.0.113.8", &SAO_PAULO, NULL, dom, t + i * 2);
    if (a >= ACT_HOLD && held_at < 0) held_at = i;
    if (a > worst_alice) worst_alice = a;
    a = mail(e, "bob@example.edu", HOME_IP, &BERLIN, NULL, dom, t + i * 2);
    if (a > worst_bob) worst_bob = a;
  }
  print_message("# alice held at message %d, worst %d; bob worst %d\n", held_at, worst_alice, worst_bob);
  assert_true(held_at >= 0 && held_at < 40);
  assert_true(worst_bob < ACT_HOLD);
  engine_free(e);
  conf_free(c);
}

/* A new country is learned like a new network: not from the first
 * messages, only when its network is seen again on a later day. */
static void test_new_country_learned_on_a_later_day(void **state) {
  struct conf *c = score_conf();
  struct engine *e = engine_new(c);
  history(e, "alice@example.edu");
  int64_t t = T0 + 14 * DAY + 10 * 3600;
  for (int i = 0; i < 3; i++) (void)mail(e, "alice@example.edu", "203.0.113.8", &SAO_PAULO, NULL, "example.edu", t + i);
  struct score s;
  const struct profile *p = engine_explain(e, "alice@example.edu", t + 10, &s);
  assert_false(profile_has_country(p, profile_cc("BR")));
  (void)mail(e, "alice@example.edu", "203.0.113.8", &SAO_PAULO, NULL, "example.edu", t + DAY);
  (void)mail(e, "alice@example.edu", "203.0.113.8", &SAO_PAULO, NULL, "example.edu", t + DAY + 60);
  p = engine_explain(e, "alice@example.edu", t + DAY + 120, &s);
  assert_true(profile_has_country(p, profile_cc("BR")));
  assert_true(profile_has_country(p, profile_cc("DE")));
  engine_free(e);
  conf_free(c);
}

static void test_where_remembers_the_last_address(void **state) {
  char city[1024], asn[1024], err[256];
  const char *src = getenv("MAILFUSE_SRCDIR");
  assert_non_null(src);
  snprintf(city, sizeof city, "%s/tests/geoip/test-city.mmdb", src);
  snprintf(asn, sizeof asn, "%s/tests/geoip/test-asn.mmdb", src);
  struct geoip *geo = geoip_open(city, asn, err, sizeof err);
  if (!geo) fail_msg("geoip_open: %s", err);
  struct hostnets *hn = hostnets_new(NULL, err, sizeof err);
  assert_non_null(hn);
  struct where w = {0};
  where_lookup(&w, geo, hn, "203.0.113.7");
  assert_non_null(where_geo(&w));
  assert_string_equal(where_geo(&w)->country, "BR");
  where_lookup(&w, geo, hn, "203.0.113.7"); /* remembered */
  assert_string_equal(where_geo(&w)->country, "BR");
  where_lookup(&w, geo, hn, "198.51.100.20");
  assert_string_equal(where_geo(&w)->country, "DE");
  where_lookup(&w, geo, hn, "");
  assert_null(where_geo(&w));
  assert_null(w.hosting);
  where_lookup(&w, geo, hn, "192.0.2.7");
  assert_string_equal(where_geo(&w)->country, "US");
  where_lookup(&w, geo, hn, "not an address");
  assert_null(where_geo(&w));
  where_lookup(&w, NULL, hn, "203.0.113.7"); /* no GeoIP configured */
  assert_null(where_geo(&w));
  hostnets_free(hn);
  geoip_free(geo);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_country_learned_from_mail),
      cmocka_unit_test(test_new_country_and_operator),
      cmocka_unit_test(test_hosting_and_two_places),
      cmocka_unit_test(test_burst_from_new_country_is_held),
      cmocka_unit_test(test_new_country_learned_on_a_later_day),
      cmocka_unit_test(test_where_remembers_the_last_address),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
