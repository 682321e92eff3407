/* test_incident.c - incident records (the audit trail) and the table of
 * blocked addresses: what is stored reads back the same, the trail and the
 * top lists stay bounded, expiry and canonical addresses work. */
#include "testutil.h"

#include "actions/incident.h"
#include "engine/blocks.h"

static void test_incident_roundtrip(void **state) {
  struct incident a = {0}, b;
  a.id = 42;
  strcpy(a.account, "alice@example.edu");
  a.opened = 1800000000;
  a.level = ACT_SUSPEND;
  strcpy(a.by, "mailfuse");
  strcpy(a.reason, "limit ext: 4, max 3");
  strcpy(a.client, "198.51.100.7");
  a.client_blocked = true;
  for (int i = 0; i < 6; i++) a.counts[i] = i == 5 ? -1 : i * 10;
  incident_add_domain(&a, "example.com", 3);
  incident_add_domain(&a, "example.net", 1);
  incident_add_client(&a, "198.51.100.7");
  incident_add_sender(&a, "alice@example.edu");
  incident_add_qid(&a, "4F2A1B3C");
  a.held = 3;
  a.fx[FX_HOLD].state = FXS_OK;
  a.fx[FX_HOLD].attempts = 2;
  strcpy(a.fx[FX_WEBHOOK].err, "HTTP 503");
  a.fx[FX_WEBHOOK].state = FXS_RUNNING; /* cut short by a restart: comes back as retrying */
  incident_audit(&a, a.opened, "mailfuse", "opened: %s", "suspended");
  json_t *o = incident_to_json(&a);
  assert_non_null(o);
  assert_int_equal(incident_from_json(&b, o), 0);
  json_decref(o);
  assert_int_equal(b.id, 42);
  assert_string_equal(b.account, a.account);
  assert_int_equal(b.level, ACT_SUSPEND);
  assert_string_equal(b.reason, a.reason);
  assert_true(b.client_blocked);
  assert_int_equal(b.counts[1], 10);
  assert_int_equal(b.counts[5], -1);
  assert_string_equal(b.top[0], "example.com");
  assert_int_equal(b.top_n[0], 3);
  assert_string_equal(b.senders[0], "alice@example.edu");
  assert_string_equal(b.qids[0], "4F2A1B3C");
  assert_int_equal(b.fx[FX_HOLD].state, FXS_OK);
  assert_int_equal(b.fx[FX_HOLD].attempts, 2);
  assert_int_equal(b.fx[FX_WEBHOOK].state, FXS_RETRY);
  assert_string_equal(b.fx[FX_WEBHOOK].err, "HTTP 503");
  assert_int_equal(b.naudit, 1);
  assert_string_equal(b.audit[0].what, "opened: suspended");
}

static void test_incident_rejects_bad_records(void **state) {
  struct incident b;
  json_t *o = json_pack("{s:s}", "account", "x");
  assert_int_equal(incident_from_json(&b, o), -1);
  json_decref(o);
  o = json_pack("{s:i,s:i}", "id", 3, "account", 7);
  assert_int_equal(incident_from_json(&b, o), -1);
  json_decref(o);
}

/* The trail keeps its first entry (the opening) and the latest ones. */
static void test_audit_is_bounded(void **state) {
  struct incident a = {0};
  for (int i = 0; i < INC_AUDIT_MAX + 10; i++) incident_audit(&a, i, "mailfuse", "entry %d\nwith a newline", i);
  assert_int_equal(a.naudit, INC_AUDIT_MAX);
  assert_int_equal(a.audit_dropped, 10);
  assert_string_equal(a.audit[0].what, "entry 0 with a newline");
  char last[64];
  snprintf(last, sizeof last, "entry %d with a newline", INC_AUDIT_MAX + 9);
  assert_string_equal(a.audit[INC_AUDIT_MAX - 1].what, last);
}

static void test_top_domains(void **state) {
  struct incident a = {0};
  const char *d[] = {"a.example", "b.example", "c.example", "d.example", "e.example"};
  for (int i = 0; i < 5; i++) incident_add_domain(&a, d[i], (uint64_t)(i + 1));
  incident_add_domain(&a, "small.example", 1); /* full, and no heavier than the smallest: ignored */
  assert_string_equal(a.top[0], "e.example");
  incident_add_domain(&a, "big.example", 9);
  assert_string_equal(a.top[0], "big.example");
  assert_int_equal(a.top_n[0], 9);
  /* the queue saw the same messages: the larger count stands */
  incident_max_domain(&a, "big.example", 5);
  assert_int_equal(a.top_n[0], 9);
  incident_max_domain(&a, "big.example", 12);
  assert_int_equal(a.top_n[0], 12);
}

static void test_blocks(void **state) {
  struct blocktab *t = blocktab_new();
  char c[48];
  assert_int_equal(block_canon("::ffff:198.51.100.7", c, sizeof c), 0);
  assert_string_equal(c, "198.51.100.7");
  assert_int_equal(block_canon("2001:DB8:0:0::1", c, sizeof c), 0);
  assert_string_equal(c, "2001:db8::1");
  assert_int_equal(block_canon("not-an-address", c, sizeof c), -1);
  assert_null(blocktab_add(t, "garbage", 0, 10, "x", "y"));
  assert_non_null(blocktab_add(t, "198.51.100.7", 100, 200, "mailfuse", "spray"));
  assert_non_null(blocktab_get(t, "::ffff:198.51.100.7", 150));
  assert_null(blocktab_get(t, "198.51.100.7", 200)); /* until is exclusive */
  /* a longer block extends, a shorter one does not shorten */
  blocktab_add(t, "198.51.100.7", 120, 300, "ctl:uid=0", "by hand");
  blocktab_add(t, "198.51.100.7", 130, 150, "mailfuse", "again");
  assert_int_equal(blocktab_get(t, "198.51.100.7", 250)->until, 300);
  char *js = block_to_json(blocktab_get(t, "198.51.100.7", 250));
  struct blocktab *t2 = blocktab_new();
  assert_int_equal(blocktab_add_json(t2, "198.51.100.7", js, strlen(js)), 0);
  assert_string_equal(blocktab_get(t2, "198.51.100.7", 250)->by, "ctl:uid=0");
  assert_int_equal(blocktab_add_json(t2, "198.51.100.8", "{\"until\":", 9), -1);
  free(js);
  blocktab_add(t, "2001:db8::1", 100, 400, "mailfuse", "x");
  assert_int_equal(blocktab_expire(t, 350, NULL, NULL), 1);
  assert_int_equal(blocktab_count(t), 1);
  assert_int_equal(blocktab_del(t, "2001:db8:0::1"), 1);
  assert_int_equal(blocktab_del(t, "2001:db8::1"), 0);
  blocktab_free(t);
  blocktab_free(t2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_incident_roundtrip),
      cmocka_unit_test(test_incident_rejects_bad_records),
      cmocka_unit_test(test_audit_is_bounded),
      cmocka_unit_test(test_top_domains),
      cmocka_unit_test(test_blocks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
