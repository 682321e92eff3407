/* test_score.c - profiles, signals and the risk score, through the engine:
 * each signal moves for its reason, the origin gate holds, learning stops
 * while an account is flagged, logins carry risk into mail. */
#include <math.h>

#include "testutil.h"

#include "engine/domains.h"
#include "engine/engine.h"
#include "engine/profile.h"
#include "engine/signals.h"

#define DAY 86400
#define T0 1800000000 /* a Friday 08:00 UTC */

static struct conf *score_conf(void) {
  return conf_from_text(BASE_CONF "score = true;\nsite_country = \"us\";\n");
}

/* One message from acct at t from client, to the recipients given. */
static enum action send1(struct engine *e, const char *acct, int64_t t, const char *client,
                         const char *const *rcpts, int n, struct verdict *out) {
  struct txn tx = {0};
  struct verdict v;
  enum action worst = ACT_DUNNO;
  for (int i = 0; i < n; i++) {
    struct event ev = {EV_RCPT, acct, "example.edu", client, strchr(rcpts[i], '@') + 1, 0, &tx, acct, NULL, NULL};
    assert_int_equal(engine_feed(e, &ev, t, &v), 0);
    if (v.action > worst) worst = v.action;
    if (out) *out = v;
    if (v.action == ACT_THROTTLE || v.action >= ACT_SUSPEND) return worst;
  }
  struct event eom = {EV_EOM, acct, "example.edu", client, NULL, (uint32_t)n, &tx, acct, NULL, NULL};
  assert_int_equal(engine_feed(e, &eom, t, &v), 0);
  if (v.action > worst) worst = v.action;
  if (out && v.action >= worst) *out = v;
  return worst;
}

static const char *const USUAL[] = {"colleague@example.edu", "partner@partner.org"};

/* Three weeks of an ordinary user: a few messages on working days, from home. */
static void normal_history(struct engine *e, const char *acct) {
  for (int d = 0; d < 21; d++)
    for (int m = 0; m < 4; m++)
      send1(e, acct, T0 + (int64_t)d * DAY + m * 3600, "10.1.2.3", USUAL, 2, NULL);
}

static void test_normal_mail_is_quiet(void **state) {
  struct conf *c = score_conf();
  struct engine *e = engine_new(c);
  normal_history(e, "alice@example.edu");
  struct verdict v;
  assert_int_equal(send1(e, "alice@example.edu", T0 + 21 * DAY + 3600, "10.1.2.3", USUAL, 2, &v), ACT_DUNNO);
  assert_true(v.score < 3);
  engine_free(e);
  conf_free(c);
}

static void test_burst_from_new_network_is_contained(void **state) {
  struct conf *c = score_conf();
  struct engine *e = engine_new(c);
  normal_history(e, "alice@example.edu");
  int64_t t = T0 + 21 * DAY + 14 * 3600;
  char rc[64];
  const char *r[1] = {rc};
  enum action worst = ACT_DUNNO;
  int sent = 0;
  struct verdict v = {0};
  for (int i = 0; i < 60 && worst < ACT_HOLD; i++, sent++) {
    snprintf(rc, sizeof rc, "victim%d@freemail%d.ru", i, i);
    worst = send1(e, "alice@example.edu", t + i, "203.0.113.50", r, 1, &v);
  }
  print_message("# contained after %d messages, score %.1f: %s\n", sent, v.score, v.reasons);
  assert_true(worst >= ACT_HOLD);
  assert_true(sent <= 30);
  assert_non_null(strstr(v.reasons, "new_network"));
  engine_free(e);
  conf_free(c);
}

/* The same burst from the account's own network: at most a throttle. */
static void test_origin_gate(void **state) {
  struct conf *c = score_conf();
  struct engine *e = engine_new(c);
  normal_history(e, "teacher@example.edu");
  int64_t t = T0 + 21 * DAY + 10 * 3600;
  char rc[64];
  const char *r[1] = {rc};
  enum action worst = ACT_DUNNO;
  for (int i = 0; i < 300; i++) {
    snprintf(rc, sizeof rc, "student%d@gmail.com", i);
    enum action a = send1(e, "teacher@example.edu", t + i * 12, "10.1.2.3", r, 1, NULL);
    if (a > worst) worst = a;
  }
  assert_true(worst >= ACT_ALERT);
  assert_true(worst <= ACT_THROTTLE);
  engine_free(e);
  conf_free(c);
}

static void test_learning_stops_while_flagged(void **state) {
  struct conf *c = score_conf();
  struct engine *e = engine_new(c);
  normal_history(e, "bob@example.edu");
  int64_t t = T0 + 21 * DAY + 14 * 3600;
  const char *r[1] = {"x@attacker.example"};
  for (int i = 0; i < 80; i++) send1(e, "bob@example.edu", t + i, "203.0.113.9", r, 1, NULL);
  struct score s;
  const struct profile *p = engine_explain(e, "bob@example.edu", t + 100, &s);
  assert_non_null(p);
  assert_false(profile_has(p->wide, PROFILE_WIDE, profile_net("203.0.113.9", true)));
  engine_free(e);
  conf_free(c);
}

static void login(struct engine *e, enum ev_kind k, const char *acct, const char *ip, int64_t t) {
  struct verdict v;
  struct event ev = {k, acct, NULL, ip, NULL, 0, NULL, NULL, NULL, NULL};
  assert_int_equal(engine_feed(e, &ev, t, &v), 0);
}

static void test_spraying_then_success_throttles_first_mail(void **state) {
  struct conf *c = score_conf();
  c->block_time = 0; /* the score alone: the sprayer's address is not blocked */
  struct engine *e = engine_new(c);
  normal_history(e, "carol@example.edu");
  int64_t t = T0 + 21 * DAY + 2 * 3600;
  char a[64];
  for (int i = 0; i < 40; i++) {
    snprintf(a, sizeof a, "user%d@example.edu", i);
    login(e, EV_LOGIN_FAIL, a, "198.51.100.66", t + i);
  }
  login(e, EV_LOGIN_OK, "carol@example.edu", "198.51.100.66", t + 60);
  struct verdict v;
  const char *r[1] = {"someone@partner.org"};
  enum action act = send1(e, "carol@example.edu", t + 120, "198.51.100.66", r, 1, &v);
  assert_true(act >= ACT_THROTTLE);
  assert_non_null(strstr(v.reasons, "login_risk"));
  engine_free(e);
  conf_free(c);
}

/* With blocks on (the default), the sprayer's address is blocked at its
 * tenth account: its logins are refused before the password is checked,
 * and its mail is refused even under a stolen login. */
static void test_sprayer_is_blocked(void **state) {
  struct conf *c = score_conf();
  struct engine *e = engine_new(c);
  normal_history(e, "carol@example.edu");
  int64_t t = T0 + 21 * DAY + 2 * 3600;
  char a[64];
  struct verdict v;
  bool blocked = false;
  for (int i = 0; i < 12; i++) {
    snprintf(a, sizeof a, "user%d@example.edu", i);
    struct event ev = {EV_LOGIN_FAIL, a, NULL, "198.51.100.66", NULL, 0, NULL, NULL, NULL, NULL};
    assert_int_equal(engine_feed(e, &ev, t + i, &v), 0);
    if (v.blocked_now) {
      assert_int_equal(i + 1, (int)c->login_spray_accounts);
      blocked = true;
    }
  }
  assert_true(blocked);
  struct login_verdict lv;
  struct event chk = {EV_LOGIN_OK, "carol@example.edu", NULL, "198.51.100.66", NULL, 0, NULL, NULL, NULL, NULL};
  engine_login_check(e, &chk, t + 30, &lv);
  assert_true(lv.status < 0);
  assert_non_null(strstr(lv.reason, "blocked"));
  const char *r[1] = {"someone@partner.org"};
  assert_int_equal(send1(e, "carol@example.edu", t + 120, "198.51.100.66", r, 1, &v), ACT_REJECT);
  assert_true(v.client_blocked);
  /* the owner, from home, is untouched */
  engine_login_check(e, &(struct event){EV_LOGIN_OK, "carol@example.edu", NULL, "192.0.2.44", NULL, 0, NULL, NULL, NULL, NULL}, t + 30, &lv);
  assert_int_equal(lv.status, 0);
  engine_free(e);
  conf_free(c);
}

/* One address guessing: allowed, then delayed, then refused. */
static void test_brute_force_delay_then_reject(void **state) {
  struct conf *c = score_conf();
  struct engine *e = engine_new(c);
  int64_t t = T0;
  struct verdict v;
  struct login_verdict lv;
  struct event ev = {EV_LOGIN_FAIL, "dave@example.edu", NULL, "203.0.113.50", NULL, 0, NULL, NULL, NULL, NULL};
  int first_delay = -1, first_reject = -1;
  for (int i = 0; i < 30; i++) {
    engine_login_check(e, &ev, t + i, &lv);
    if (lv.status > 0 && first_delay < 0) first_delay = i;
    if (lv.status < 0 && first_reject < 0) first_reject = i;
    assert_int_equal(engine_feed(e, &ev, t + i, &v), 0);
  }
  assert_int_equal(first_delay, (int)c->login_delay_failures);
  assert_int_equal(first_reject, (int)c->login_reject_failures);
  engine_free(e);
  conf_free(c);
}

static void test_dormant_account_wakes(void **state) {
  struct conf *c = score_conf();
  struct engine *e = engine_new(c);
  normal_history(e, "dora@example.edu");
  struct verdict v;
  send1(e, "dora@example.edu", T0 + 120 * DAY, "10.1.2.3", USUAL, 2, &v);
  assert_true(v.action <= ACT_ALERT); /* waking up alone is no reason to act */
  struct score s;
  assert_non_null(engine_explain(e, "dora@example.edu", T0 + 120 * DAY + 60, &s));
  bool seen = false;
  for (size_t i = 0; i < s.n; i++) seen |= !strcmp(s.s[i].name, "dormant") && strstr(s.s[i].why, "silent days");
  assert_true(seen);
  engine_free(e);
  conf_free(c);
}

static void test_domain_classes(void **state) {
  struct conf *c = score_conf();
  char err[128];
  struct domains *d = domains_new(NULL, err, sizeof err);
  assert_non_null(d);
  assert_true(domains_freemail(d, "gmail.com"));
  assert_true(domains_freemail(d, "mx.yahoo.co.uk"));
  assert_false(domains_freemail(d, "example.edu"));
  assert_true(domains_count(d) > 50);
  assert_true(domains_foreign(c, "uni-heidelberg.de"));
  assert_false(domains_foreign(c, "example.us"));
  assert_false(domains_foreign(c, "example.com"));
  domains_free(d);
  conf_free(c);
}

static void test_profile_is_compact(void **state) {
  print_message("# profile bytes: %zu\n", sizeof(struct profile));
  assert_true(sizeof(struct profile) < 1024);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_normal_mail_is_quiet),
      cmocka_unit_test(test_burst_from_new_network_is_contained),
      cmocka_unit_test(test_origin_gate),
      cmocka_unit_test(test_learning_stops_while_flagged),
      cmocka_unit_test(test_spraying_then_success_throttles_first_mail),
    cmocka_unit_test(test_sprayer_is_blocked),
    cmocka_unit_test(test_brute_force_delay_then_reject),
      cmocka_unit_test(test_dormant_account_wakes),
      cmocka_unit_test(test_domain_classes),
      cmocka_unit_test(test_profile_is_compact),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
