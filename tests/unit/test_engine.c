/* test_engine.c - limits, windows, groups, exemptions, shadow, suspension:
 * each at its edge, through the engine's public interface. */
#include "testutil.h"

#include "engine/engine.h"

#define T0 1800000000 /* a fixed "now": the engine never reads the clock */

struct fx {
  struct conf *c;
  struct engine *e;
};

static struct fx *fx_new(const char *limits_and_more) {
  char text[8192];
  snprintf(text, sizeof text, "%s%s", BASE_CONF, limits_and_more);
  struct fx *f = calloc(1, sizeof *f);
  f->c = conf_from_text(text);
  f->e = engine_new(f->c);
  return f;
}

static void fx_free(struct fx *f) {
  engine_free(f->e);
  conf_free(f->c);
  free(f);
}

/* One message: a RCPT request per recipient, then END-OF-MESSAGE. Returns
 * the worst action seen; stops at the first non-DUNNO RCPT answer that
 * refuses (throttle, suspend, reject), as a client would. */
static enum action send_msg(struct fx *f, const char *acct, const char *const *rcpts, int n,
                            int64_t now, struct verdict *last) {
  struct txn t = {0};
  struct verdict v;
  enum action worst = ACT_DUNNO;
  uint32_t accepted = 0;
  for (int i = 0; i < n; i++) {
    const char *at = strrchr(rcpts[i], '@');
    struct event ev = {EV_RCPT, acct, "example.edu", "192.0.2.1", at + 1, 0, &t, NULL, NULL, NULL};
    assert_int_equal(engine_feed(f->e, &ev, now, &v), 0);
    if (v.action > worst) worst = v.action;
    if (v.action == ACT_THROTTLE || v.action >= ACT_SUSPEND) {
      if (last) *last = v;
      return worst;
    }
    accepted++;
  }
  struct event eom = {EV_EOM, acct, "example.edu", "192.0.2.1", NULL, accepted, &t, NULL, NULL, NULL};
  assert_int_equal(engine_feed(f->e, &eom, now, &v), 0);
  if (v.action > worst) worst = v.action;
  if (last) *last = v;
  return worst;
}

static const char *const ONE_EXT[] = {"x@example.net"};
static const char *const ONE_INT[] = {"y@example.edu"};

static int64_t count(struct fx *f, enum limit_per per, const char *key, enum metric m,
                     enum window_kind w, int64_t now) {
  int64_t c[MET__N][WIN__N];
  engine_counts(f->e, per, key, now, c);
  return c[m][w];
}

static void test_messages_per_minute_edge(void **state) {
  struct fx *f = fx_new("limits = ( { name = \"m\"; per = \"account\"; count = \"messages\"; "
                        "window = \"minute\"; max = 5; action = \"throttle\"; } );\n");
  for (int i = 0; i < 5; i++) assert_int_equal(send_msg(f, "alice", ONE_EXT, 1, T0, NULL), ACT_DUNNO);
  struct verdict v;
  assert_int_equal(send_msg(f, "alice", ONE_EXT, 1, T0 + 10, &v), ACT_THROTTLE);
  assert_string_equal(v.limit->name, "m");
  assert_int_equal(v.count, 6);
  /* the refused message was not charged: retries never double-count */
  assert_int_equal(send_msg(f, "alice", ONE_EXT, 1, T0 + 20, NULL), ACT_THROTTLE);
  assert_int_equal(count(f, PER_ACCOUNT, "alice", MET_MESSAGES, WIN_MINUTE, T0 + 20), 5);
  /* still refused just before a minute, allowed once the window has passed */
  assert_int_equal(send_msg(f, "alice", ONE_EXT, 1, T0 + 59, NULL), ACT_THROTTLE);
  assert_int_equal(send_msg(f, "alice", ONE_EXT, 1, T0 + 60 + 11, NULL), ACT_DUNNO);
  /* another account is not affected */
  assert_int_equal(send_msg(f, "bob", ONE_EXT, 1, T0 + 20, NULL), ACT_DUNNO);
  fx_free(f);
}

static void test_recipients_and_external_apart(void **state) {
  struct fx *f = fx_new(
      "limits = ( { name = \"r\"; per = \"account\"; count = \"recipients\"; window = \"hour\"; "
      "max = 4; action = \"throttle\"; },\n"
      " { name = \"x\"; per = \"account\"; count = \"external_recipients\"; window = \"day\"; "
      "max = 2; action = \"hold\"; } );\n");
  const char *const r3[] = {"a@example.net", "b@sub.example.edu", "c@example.edu"};
  assert_int_equal(send_msg(f, "alice", r3, 3, T0, NULL), ACT_DUNNO);
  assert_int_equal(count(f, PER_ACCOUNT, "alice", MET_RECIPIENTS, WIN_HOUR, T0), 3);
  assert_int_equal(count(f, PER_ACCOUNT, "alice", MET_EXTERNAL, WIN_DAY, T0), 1);
  /* 4th recipient fine, 5th refused at RCPT */
  const char *const r2[] = {"d@example.edu", "e@example.edu"};
  assert_int_equal(send_msg(f, "alice", r2, 2, T0 + 1, NULL), ACT_THROTTLE);
  assert_int_equal(count(f, PER_ACCOUNT, "alice", MET_RECIPIENTS, WIN_HOUR, T0 + 1), 3);
  /* external: second external ok, third is held (hold lets the message in) */
  struct fx *g = fx_new("limits = ( { name = \"x\"; per = \"account\"; count = "
                        "\"external_recipients\"; window = \"day\"; max = 2; action = \"hold\"; } );\n");
  assert_int_equal(send_msg(g, "bob", ONE_EXT, 1, T0, NULL), ACT_DUNNO);
  assert_int_equal(send_msg(g, "bob", ONE_INT, 1, T0, NULL), ACT_DUNNO);
  assert_int_equal(send_msg(g, "bob", ONE_EXT, 1, T0, NULL), ACT_DUNNO);
  assert_int_equal(send_msg(g, "bob", ONE_EXT, 1, T0, NULL), ACT_HOLD);
  assert_int_equal(count(g, PER_ACCOUNT, "bob", MET_EXTERNAL, WIN_DAY, T0), 3);
  fx_free(f);
  fx_free(g);
}

static void test_domain_and_client_keys(void **state) {
  struct fx *f = fx_new(
      "limits = ( { name = \"d\"; per = \"sender_domain\"; count = \"messages\"; window = "
      "\"hour\"; max = 3; action = \"throttle\"; },\n"
      " { name = \"c\"; per = \"client_address\"; count = \"messages\"; window = \"hour\"; "
      "max = 100; action = \"throttle\"; } );\n");
  assert_int_equal(send_msg(f, "a1", ONE_EXT, 1, T0, NULL), ACT_DUNNO);
  assert_int_equal(send_msg(f, "a2", ONE_EXT, 1, T0, NULL), ACT_DUNNO);
  assert_int_equal(send_msg(f, "a3", ONE_EXT, 1, T0, NULL), ACT_DUNNO);
  struct verdict v;
  assert_int_equal(send_msg(f, "a4", ONE_EXT, 1, T0, &v), ACT_THROTTLE);
  assert_string_equal(v.limit->name, "d");
  assert_int_equal(count(f, PER_CLIENT, "192.0.2.1", MET_MESSAGES, WIN_HOUR, T0), 3);
  fx_free(f);
}

static const char *GROUPS =
    "limits = ( { name = \"m\"; per = \"account\"; count = \"messages\"; window = \"minute\"; "
    "max = 2; action = \"throttle\"; } );\n"
    "groups = ( { name = \"bulk\"; members = [ \"News@example.edu\", \"@lists.example.edu\" ];\n"
    "  limits = ( { name = \"bm\"; per = \"account\"; count = \"messages\"; window = \"minute\"; "
    "max = 4; action = \"throttle\"; } ); } );\n"
    "exemptions = ( { account = \"probe@example.edu\"; },\n"
    "  { account = \"temp@example.edu\"; until = \"2027-01-15\"; reason = \"migration\"; } );\n";

static void test_groups(void **state) {
  struct fx *f = fx_new(GROUPS);
  const char *members[] = {"news@example.edu", "x@lists.example.edu"};
  for (int m = 0; m < 2; m++) {
    for (int i = 0; i < 4; i++) assert_int_equal(send_msg(f, members[m], ONE_EXT, 1, T0, NULL), ACT_DUNNO);
    struct verdict v;
    assert_int_equal(send_msg(f, members[m], ONE_EXT, 1, T0, &v), ACT_THROTTLE);
    assert_string_equal(v.limit->name, "bm");
  }
  assert_int_equal(engine_group_of(f->e, "news@example.edu"), 0);
  assert_int_equal(engine_group_of(f->e, "x@sub.lists.example.edu"), -1);
  for (int i = 0; i < 2; i++) assert_int_equal(send_msg(f, "other@example.edu", ONE_EXT, 1, T0, NULL), ACT_DUNNO);
  assert_int_equal(send_msg(f, "other@example.edu", ONE_EXT, 1, T0, NULL), ACT_THROTTLE);
  fx_free(f);
}

static void test_exemptions_and_expiry(void **state) {
  struct fx *f = fx_new(GROUPS);
  for (int i = 0; i < 10; i++) assert_int_equal(send_msg(f, "probe@example.edu", ONE_EXT, 1, T0, NULL), ACT_DUNNO);
  /* still counted while exempt */
  assert_int_equal(count(f, PER_ACCOUNT, "probe@example.edu", MET_MESSAGES, WIN_MINUTE, T0), 10);
  int64_t jan15 = 1799971200;
  for (int i = 0; i < 5; i++) assert_int_equal(send_msg(f, "temp@example.edu", ONE_EXT, 1, jan15 - 100, NULL), ACT_DUNNO);
  assert_int_equal(send_msg(f, "temp@example.edu", ONE_EXT, 1, jan15 + 3600, NULL), ACT_DUNNO);
  assert_int_equal(send_msg(f, "temp@example.edu", ONE_EXT, 1, jan15 + 3600, NULL), ACT_DUNNO);
  assert_int_equal(send_msg(f, "temp@example.edu", ONE_EXT, 1, jan15 + 3600, NULL), ACT_THROTTLE);
  fx_free(f);
}

static void test_shadow_per_limit_and_global(void **state) {
  struct fx *f = fx_new("limits = ( { name = \"m\"; per = \"account\"; count = \"messages\"; "
                        "window = \"minute\"; max = 1; action = \"suspend\"; shadow = true; } );\n");
  struct verdict v;
  assert_int_equal(send_msg(f, "alice", ONE_EXT, 1, T0, &v), ACT_DUNNO);
  assert_int_equal(send_msg(f, "alice", ONE_EXT, 1, T0, &v), ACT_DUNNO);
  assert_int_equal(v.nhits, 1);
  assert_true(v.hits[0].shadow);
  assert_null(susptab_get(engine_suspensions(f->e), "alice"));
  /* shadow hits do not stop counting */
  assert_int_equal(count(f, PER_ACCOUNT, "alice", MET_MESSAGES, WIN_MINUTE, T0), 2);
  fx_free(f);
  f = fx_new("shadow = true;\nlimits = ( { name = \"m\"; per = \"account\"; count = "
             "\"messages\"; window = \"minute\"; max = 1; action = \"throttle\"; } );\n");
  assert_int_equal(send_msg(f, "alice", ONE_EXT, 1, T0, &v), ACT_DUNNO);
  assert_int_equal(send_msg(f, "alice", ONE_EXT, 1, T0, &v), ACT_DUNNO);
  assert_true(v.nhits >= 1 && v.hits[0].shadow);
  fx_free(f);
}

static void test_suspend_and_release(void **state) {
  struct fx *f = fx_new("limits = ( { name = \"m\"; per = \"account\"; count = \"messages\"; "
                        "window = \"hour\"; max = 2; action = \"suspend\"; } );\n");
  struct verdict v;
  send_msg(f, "alice", ONE_EXT, 1, T0, NULL);
  send_msg(f, "alice", ONE_EXT, 1, T0, NULL);
  assert_int_equal(send_msg(f, "alice", ONE_EXT, 1, T0, &v), ACT_SUSPEND);
  assert_true(v.suspended_now);
  const struct susp *s = susptab_get(engine_suspensions(f->e), "alice");
  assert_non_null(s);
  assert_string_equal(s->by, "mailfuse");
  assert_non_null(strstr(s->reason, "limit m"));
  /* every later request is refused, even days later, until released */
  assert_int_equal(send_msg(f, "alice", ONE_INT, 1, T0 + 5 * 86400, &v), ACT_REJECT);
  assert_true(v.was_suspended);
  assert_int_equal(engine_release(f->e, "alice"), 1);
  assert_int_equal(engine_release(f->e, "alice"), 0);
  assert_int_equal(send_msg(f, "alice", ONE_INT, 1, T0 + 5 * 86400, NULL), ACT_DUNNO);
  fx_free(f);
}

static void test_throttle_escalates(void **state) {
  struct fx *f = fx_new(
      "limits = ( { name = \"m\"; per = \"account\"; count = \"messages\"; window = \"minute\"; "
      "max = 1; action = \"throttle\"; },\n"
      " { name = \"esc\"; per = \"account\"; count = \"throttled\"; window = \"hour\"; max = 3; "
      "action = \"suspend\"; } );\n");
  send_msg(f, "bot", ONE_EXT, 1, T0, NULL);
  for (int i = 0; i < 3; i++) assert_int_equal(send_msg(f, "bot", ONE_EXT, 1, T0 + 1, NULL), ACT_THROTTLE);
  struct verdict v;
  assert_int_equal(send_msg(f, "bot", ONE_EXT, 1, T0 + 2, &v), ACT_SUSPEND);
  assert_string_equal(v.limit->name, "esc");
  fx_free(f);
}

static void test_charged_once_and_eom_only(void **state) {
  struct fx *f = fx_new("limits = ( { name = \"m\"; per = \"account\"; count = \"messages\"; "
                        "window = \"day\"; max = 100; action = \"throttle\"; },\n"
                        " { name = \"r\"; per = \"account\"; count = \"recipients\"; "
                        "window = \"day\"; max = 100; action = \"alert\"; } );\n");
  struct txn t = {0};
  struct verdict v;
  struct event data = {EV_DATA, "alice", NULL, NULL, NULL, 7, &t, NULL, NULL, NULL};
  struct event eom = {EV_EOM, "alice", NULL, NULL, NULL, 7, &t, NULL, NULL, NULL};
  assert_int_equal(engine_feed(f->e, &data, T0, &v), 0);
  assert_int_equal(engine_feed(f->e, &eom, T0, &v), 0);
  assert_int_equal(engine_feed(f->e, &eom, T0, &v), 0); /* a repeat of the same instance */
  assert_int_equal(count(f, PER_ACCOUNT, "alice", MET_MESSAGES, WIN_DAY, T0), 1);
  assert_int_equal(count(f, PER_ACCOUNT, "alice", MET_RECIPIENTS, WIN_DAY, T0), 7);
  fx_free(f);
  /* charge_at = data: charged at DATA, not again at END-OF-MESSAGE */
  f = fx_new("charge_at = \"data\";\nlimits = ( { name = \"x\"; per = \"account\"; count = "
             "\"external_recipients\"; window = \"day\"; max = 100; action = \"throttle\"; } );\n");
  memset(&t, 0, sizeof t);
  assert_int_equal(engine_feed(f->e, &data, T0, &v), 0);
  assert_int_equal(count(f, PER_ACCOUNT, "alice", MET_MESSAGES, WIN_DAY, T0), 1);
  /* no RCPT-stage requests were seen: all 7 count as external (safe side) */
  assert_int_equal(count(f, PER_ACCOUNT, "alice", MET_EXTERNAL, WIN_DAY, T0), 7);
  assert_int_equal(engine_feed(f->e, &eom, T0, &v), 0);
  assert_int_equal(count(f, PER_ACCOUNT, "alice", MET_MESSAGES, WIN_DAY, T0), 1);
  fx_free(f);
}

static void test_no_account(void **state) {
  struct fx *f = fx_new("");
  struct txn t = {0};
  struct verdict v;
  struct event ev = {EV_RCPT, NULL, "example.org", "203.0.113.1", "example.edu", 0, &t, NULL, NULL, NULL};
  assert_int_equal(engine_feed(f->e, &ev, T0, &v), 0);
  assert_true(v.no_account);
  assert_int_equal(v.action, ACT_DUNNO);
  fx_free(f);
}

static void test_reload_keeps_counters(void **state) {
  struct fx *f = fx_new("limits = ( { name = \"m\"; per = \"account\"; count = \"messages\"; "
                        "window = \"hour\"; max = 10; action = \"throttle\"; } );\n");
  for (int i = 0; i < 3; i++) send_msg(f, "alice", ONE_EXT, 1, T0, NULL);
  char text[1024];
  snprintf(text, sizeof text, "%s%s", BASE_CONF,
           "limits = ( { name = \"m2\"; per = \"account\"; count = \"messages\"; window = "
           "\"hour\"; max = 3; action = \"throttle\"; },\n { name = \"r\"; per = \"account\"; "
           "count = \"recipients\"; window = \"minute\"; max = 50; action = \"alert\"; } );\n");
  struct conf *c2 = conf_from_text(text);
  engine_set_conf(f->e, c2);
  conf_free(f->c);
  f->c = c2;
  assert_int_equal(count(f, PER_ACCOUNT, "alice", MET_MESSAGES, WIN_HOUR, T0), 3);
  assert_int_equal(send_msg(f, "alice", ONE_EXT, 1, T0, NULL), ACT_THROTTLE);
  fx_free(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_messages_per_minute_edge),
      cmocka_unit_test(test_recipients_and_external_apart),
      cmocka_unit_test(test_domain_and_client_keys),
      cmocka_unit_test(test_groups),
      cmocka_unit_test(test_exemptions_and_expiry),
      cmocka_unit_test(test_shadow_per_limit_and_global),
      cmocka_unit_test(test_suspend_and_release),
      cmocka_unit_test(test_throttle_escalates),
      cmocka_unit_test(test_charged_once_and_eom_only),
      cmocka_unit_test(test_no_account),
      cmocka_unit_test(test_reload_keeps_counters),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
