/* test_login.c - the login side of the engine: where a login comes from
 * (country, operator, hosting network, travel) marks the account at risk,
 * and a risky login can suspend at once (login_suspend_risk). */
#include "testutil.h"

#include "core/geoip.h"
#include "engine/engine.h"
#include "engine/profile.h"
#include "engine/signals.h"

#define DAY 86400
#define T0 1800000000

static const struct geo BERLIN = {"DE", 64500, "TEST-DE-ISP", 52.52, 13.40, true};
static const struct geo BERLIN_OTHER_ISP = {"DE", 64501, "TEST-DE-OTHER", 52.50, 13.42, true};
static const struct geo SAO_PAULO = {"BR", 64502, "TEST-BR-ISP", -23.55, -46.63, true};
/* a German address that GeoIP places far away: travel without a new country */
static const struct geo DE_FAR = {"DE", 64500, "TEST-DE-ISP", 40.71, -74.00, true};

static struct conf *login_conf(const char *extra) {
  char text[2048];
  snprintf(text, sizeof text, "%sscore = true;\n%s", BASE_CONF, extra);
  return conf_from_text(text);
}

static void login(struct engine *e, const char *acct, const char *ip, const struct geo *g,
                  const char *hosting, int64_t t, struct verdict *out) {
  struct verdict v;
  struct event ev = {EV_LOGIN_OK, acct, NULL, ip, NULL, 0, NULL, NULL, g, hosting};
  assert_int_equal(engine_feed(e, &ev, t, &v), 0);
  if (out) *out = v;
}

/* Mail and logins from Berlin for two weeks: a known account, not cold. */
static void history(struct engine *e, const char *acct) {
  static const char *const r[] = {"colleague@example.edu"};
  for (int d = 0; d < 14; d++) {
    int64_t t = T0 + (int64_t)d * DAY;
    login(e, acct, "198.51.100.7", &BERLIN, NULL, t, NULL);
    for (int m = 0; m < 25 / 14 + 2; m++) {
      struct txn tx = {0};
      struct verdict v;
      struct event rc = {EV_RCPT, acct, "example.edu", "198.51.100.7", "example.edu", 0, &tx, acct, NULL, NULL};
      struct event eom = {EV_EOM, acct, "example.edu", "198.51.100.7", NULL, 1, &tx, acct, NULL, NULL};
      assert_int_equal(engine_feed(e, &rc, t + 60 + m, &v), 0);
      assert_int_equal(engine_feed(e, &eom, t + 60 + m, &v), 0);
      (void)r;
    }
  }
}

static const struct profile *risk_of(struct engine *e, const char *acct, int64_t t, const char **why) {
  struct score s;
  const struct profile *p = engine_explain(e, acct, t, &s);
  assert_non_null(p);
  *why = p->login_reason;
  return p;
}

static void test_known_place_no_risk(void **state) {
  struct conf *c = login_conf("");
  struct engine *e = engine_new(c);
  history(e, "alice@example.edu");
  int64_t t = T0 + 14 * DAY;
  login(e, "alice@example.edu", "198.51.100.8", &BERLIN, NULL, t, NULL);
  const char *why;
  const struct profile *p = risk_of(e, "alice@example.edu", t + 1, &why);
  assert_true(p->login_risk <= 0 || t + 1 >= p->login_risk_until);
  engine_free(e);
  conf_free(c);
}

static void test_new_country_marks_at_risk(void **state) {
  struct conf *c = login_conf("");
  struct engine *e = engine_new(c);
  history(e, "alice@example.edu");
  int64_t t = T0 + 14 * DAY + 12 * 3600; /* half a day after the last login: not travel */
  login(e, "alice@example.edu", "203.0.113.7", &SAO_PAULO, NULL, t, NULL);
  const char *why;
  const struct profile *p = risk_of(e, "alice@example.edu", t + 1, &why);
  assert_true(p->login_risk >= 3);
  assert_non_null(strstr(why, "BR"));
  assert_non_null(strstr(why, "country it never used"));
  /* an intruder's country is not learned while the account is at risk */
  login(e, "alice@example.edu", "203.0.113.7", &SAO_PAULO, NULL, t + 600, NULL);
  p = risk_of(e, "alice@example.edu", t + 601, &why);
  assert_non_null(strstr(why, "country it never used"));
  engine_free(e);
  conf_free(c);
}

static void test_new_operator_is_weaker(void **state) {
  struct conf *c = login_conf("");
  struct engine *e = engine_new(c);
  history(e, "alice@example.edu");
  int64_t t = T0 + 14 * DAY + 3600;
  login(e, "alice@example.edu", "100.64.0.9", &BERLIN_OTHER_ISP, NULL, t, NULL);
  const char *why;
  const struct profile *p = risk_of(e, "alice@example.edu", t + 1, &why);
  assert_true(p->login_risk >= 1 && p->login_risk < 5);
  assert_true(strstr(why, "AS64501") != NULL || strstr(why, "network it never used") != NULL);
  engine_free(e);
  conf_free(c);
}

static void test_faster_than_travel(void **state) {
  struct conf *c = login_conf("");
  struct engine *e = engine_new(c);
  history(e, "alice@example.edu");
  int64_t t = T0 + 13 * DAY + 3600; /* one hour after the last Berlin login */
  login(e, "alice@example.edu", "198.51.100.9", &DE_FAR, NULL, t, NULL);
  const char *why;
  const struct profile *p = risk_of(e, "alice@example.edu", t + 1, &why);
  assert_true(p->login_risk >= 3);
  print_message("# %s (%.1f)\n", why, p->login_risk);
  assert_non_null(strstr(why, "faster than travel"));
  engine_free(e);
  conf_free(c);
}

static void test_hosting_network(void **state) {
  struct conf *c = login_conf("");
  struct engine *e = engine_new(c);
  history(e, "alice@example.edu");
  int64_t t = T0 + 14 * DAY + 3600;
  login(e, "alice@example.edu", "198.51.100.77", &BERLIN, "AS64510 (hosting)", t, NULL);
  const char *why;
  const struct profile *p = risk_of(e, "alice@example.edu", t + 1, &why);
  assert_true(p->login_risk >= 2);
  assert_non_null(strstr(why, "hosting"));
  engine_free(e);
  conf_free(c);
}

/* login_suspend_risk: a sprayer's successful login suspends at once. */
static void test_risky_login_suspends_when_asked(void **state) {
  struct conf *c = login_conf("login_suspend_risk = 5;\nblock_time = 0;\n");
  struct engine *e = engine_new(c);
  history(e, "carol@example.edu");
  int64_t t = T0 + 14 * DAY + 3600;
  char a[64];
  struct verdict v;
  for (int i = 0; i < 12; i++) {
    snprintf(a, sizeof a, "user%d@example.edu", i);
    struct event f = {EV_LOGIN_FAIL, a, NULL, "198.51.100.66", NULL, 0, NULL, NULL, NULL, NULL};
    assert_int_equal(engine_feed(e, &f, t + i, &v), 0);
  }
  login(e, "carol@example.edu", "198.51.100.66", &BERLIN, NULL, t + 60, &v);
  assert_true(v.suspended_now);
  assert_non_null(susptab_get(engine_suspensions(e), "carol@example.edu"));
  struct login_verdict lv;
  struct event chk = {EV_LOGIN_OK, "carol@example.edu", NULL, "198.51.100.8", NULL, 0, NULL, NULL, NULL, NULL};
  engine_login_check(e, &chk, t + 61, &lv);
  assert_true(lv.status < 0);
  engine_free(e);
  conf_free(c);
}

/* Failures spread over many addresses of one account: delayed, never refused. */
static void test_targeted_guessing_is_delayed_not_refused(void **state) {
  struct conf *c = login_conf("login_account_failures = 5;\n");
  struct engine *e = engine_new(c);
  struct verdict v;
  char ip[32];
  for (int i = 0; i < 40; i++) {
    snprintf(ip, sizeof ip, "203.0.%d.%d", 100 + i / 200, 1 + i % 200);
    struct event f = {EV_LOGIN_FAIL, "dave@example.edu", NULL, ip, NULL, 0, NULL, NULL, NULL, NULL};
    assert_int_equal(engine_feed(e, &f, T0 + i, &v), 0);
  }
  struct login_verdict lv;
  struct event chk = {EV_LOGIN_OK, "dave@example.edu", NULL, "192.0.2.5", NULL, 0, NULL, NULL, NULL, NULL};
  engine_login_check(e, &chk, T0 + 50, &lv);
  assert_int_equal(lv.status, (int)c->login_delay);
  assert_non_null(strstr(lv.reason, "this account"));
  engine_free(e);
  conf_free(c);
}

/* The site's own networks are never delayed or blocked, however they fail. */
static void test_never_block_networks(void **state) {
  struct conf *c = login_conf("webmail_networks = [ \"192.0.2.10\" ];\n");
  struct engine *e = engine_new(c);
  struct verdict v;
  char a[64];
  for (int i = 0; i < 50; i++) {
    snprintf(a, sizeof a, "user%d@example.edu", i);
    struct event f = {EV_LOGIN_FAIL, a, NULL, "192.0.2.10", NULL, 0, NULL, NULL, NULL, NULL};
    assert_int_equal(engine_feed(e, &f, T0 + i, &v), 0);
    assert_false(v.blocked_now);
  }
  struct login_verdict lv;
  struct event chk = {EV_LOGIN_OK, "bob@example.edu", NULL, "192.0.2.10", NULL, 0, NULL, NULL, NULL, NULL};
  engine_login_check(e, &chk, T0 + 60, &lv);
  assert_int_equal(lv.status, 0);
  engine_free(e);
  conf_free(c);
}


/* An unlocated login in between (webmail host, unknown address) breaks the
 * travel chain: the next far-away login is judged by its country only. */
static void test_unlocated_login_breaks_travel(void **state) {
  struct conf *c = login_conf("");
  struct engine *e = engine_new(c);
  history(e, "alice@example.edu");
  int64_t t = T0 + 13 * DAY + 1800;
  login(e, "alice@example.edu", "127.0.0.1", NULL, NULL, t, NULL);
  login(e, "alice@example.edu", "198.51.100.9", &DE_FAR, NULL, t + 60, NULL);
  const char *why;
  const struct profile *p = risk_of(e, "alice@example.edu", t + 61, &why);
  assert_true(p->login_risk <= 0 || strstr(why, "travel") == NULL);
  engine_free(e);
  conf_free(c);
}

/* A traveller: new country and new network together stay below what acts
 * without evidence from the mail; a usual message is let through. */
static void test_traveller_usual_mail_passes(void **state) {
  struct conf *c = login_conf("");
  struct engine *e = engine_new(c);
  history(e, "carol@example.edu");
  int64_t t = T0 + 14 * DAY + 12 * 3600;
  login(e, "carol@example.edu", "203.0.113.8", &SAO_PAULO, NULL, t, NULL);
  const char *why;
  const struct profile *p = risk_of(e, "carol@example.edu", t + 1, &why);
  assert_true(p->login_risk > 0 && p->login_risk < 5);
  struct txn tx = {0};
  struct verdict v;
  struct event rc = {EV_RCPT, "carol@example.edu", "example.edu", "203.0.113.8", "example.edu", 0, &tx, "carol@example.edu", NULL, NULL};
  assert_int_equal(engine_feed(e, &rc, t + 120, &v), 0);
  assert_int_equal(v.action, ACT_DUNNO);
  engine_free(e);
  conf_free(c);
}


/* Many addresses of one /24, each under the per-address threshold: the
 * network is delayed (a botnet slice or a NAT), another network is not. */
static void test_network_failures_delay(void **state) {
  struct conf *c = login_conf("login_network_failures = 20;\n");
  struct engine *e = engine_new(c);
  struct verdict v;
  char ip[32], acct[64];
  for (int i = 0; i < 20; i++) {
    snprintf(ip, sizeof ip, "203.0.113.%d", 1 + i);
    snprintf(acct, sizeof acct, "user%d@example.edu", i % 3);
    struct event f = {EV_LOGIN_FAIL, acct, NULL, ip, NULL, 0, NULL, NULL, NULL, NULL};
    assert_int_equal(engine_feed(e, &f, T0 + i, &v), 0);
  }
  struct login_verdict lv;
  struct event chk = {EV_LOGIN_OK, "bob@example.edu", NULL, "203.0.113.200", NULL, 0, NULL, NULL, NULL, NULL};
  engine_login_check(e, &chk, T0 + 30, &lv);
  assert_int_equal(lv.status, (int)c->login_delay);
  assert_non_null(strstr(lv.reason, "this network"));
  struct event other = {EV_LOGIN_OK, "bob@example.edu", NULL, "198.51.100.20", NULL, 0, NULL, NULL, NULL, NULL};
  engine_login_check(e, &other, T0 + 30, &lv);
  assert_int_equal(lv.status, 0);
  engine_free(e);
  conf_free(c);
}


/* Shadow mode decides and logs but blocks nothing: not at the failures,
 * not when the sprayer asks again. */
static void test_shadow_blocks_nothing(void **state) {
  struct conf *c = login_conf("shadow = true;\n");
  struct engine *e = engine_new(c);
  struct verdict v;
  char a[64];
  for (int i = 0; i < 15; i++) {
    snprintf(a, sizeof a, "user%d@example.edu", i);
    struct event f = {EV_LOGIN_FAIL, a, NULL, "198.51.100.66", NULL, 0, NULL, NULL, NULL, NULL};
    assert_int_equal(engine_feed(e, &f, T0 + i, &v), 0);
    assert_false(v.blocked_now);
  }
  struct login_verdict lv;
  struct event chk = {EV_LOGIN_OK, "carol@example.edu", NULL, "198.51.100.66", NULL, 0, NULL, NULL, NULL, NULL};
  engine_login_check(e, &chk, T0 + 30, &lv);
  assert_int_equal(lv.status, 0);
  assert_false(lv.blocked_now);
  assert_int_equal(blocktab_count(engine_blocks(e)), 0);
  engine_free(e);
  conf_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_known_place_no_risk),
      cmocka_unit_test(test_new_country_marks_at_risk),
      cmocka_unit_test(test_new_operator_is_weaker),
      cmocka_unit_test(test_faster_than_travel),
      cmocka_unit_test(test_hosting_network),
      cmocka_unit_test(test_risky_login_suspends_when_asked),
      cmocka_unit_test(test_targeted_guessing_is_delayed_not_refused),
      cmocka_unit_test(test_never_block_networks),
      cmocka_unit_test(test_unlocated_login_breaks_travel),
      cmocka_unit_test(test_traveller_usual_mail_passes),
      cmocka_unit_test(test_network_failures_delay),
      cmocka_unit_test(test_shadow_blocks_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
