/* test_store.c - LMDB persistence: counters and suspensions survive a
 * reopen, idle keys expire, the map grows up to its cap and then fails
 * cleanly. */
#include "testutil.h"

#include "engine/engine.h"
#include "store/persist.h"
#include "store/store.h"

#define T0 1800000000

static char dir[64];

static struct conf *conf_in_dir(const char *extra) {
  char text[4096];
  snprintf(text, sizeof text,
           "listen = [ \"inet:127.0.0.1:1\" ];\nstate_dir = \"%s\";\nlocal_domains = [ "
           "\"example.edu\" ];\nlimits = ( { name = \"m\"; per = \"account\"; count = "
           "\"messages\"; window = \"day\"; max = 1000; action = \"throttle\"; } );\n%s",
           dir, extra);
  return conf_from_text(text);
}

static int setup(void **state) {
  snprintf(dir, sizeof dir, "/tmp/mf-store-XXXXXX");
  assert_non_null(mkdtemp(dir));
  return 0;
}

static int teardown(void **state) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static void send(struct engine *e, const char *acct, int64_t now) {
  struct txn t = {0};
  struct verdict v;
  struct event r = {EV_RCPT, acct, "example.edu", "192.0.2.7", "example.net", 0, &t, NULL, NULL, NULL};
  struct event m = {EV_EOM, acct, "example.edu", "192.0.2.7", NULL, 1, &t, NULL, NULL, NULL};
  assert_int_equal(engine_feed(e, &r, now, &v), 0);
  assert_int_equal(engine_feed(e, &m, now, &v), 0);
}

static void write_all(struct engine *e, struct store *s) {
  struct store_batch b = {0};
  assert_int_equal(persist_collect(e, &b), 0);
  char err[256];
  if (b.n && store_apply(s, &b, err, sizeof err) < 0) fail_msg("apply: %s", err);
  store_batch_clear(&b);
}

static int64_t day_count(struct engine *e, const char *acct, int64_t now) {
  int64_t c[MET__N][WIN__N];
  if (!engine_counts(e, PER_ACCOUNT, acct, now, c)) return -1;
  return c[MET_MESSAGES][WIN_DAY];
}

static void test_counters_and_suspensions_survive(void **state) {
  struct conf *c = conf_in_dir("");
  char err[256];
  struct store *s = store_open(c, err, sizeof err);
  assert_non_null(s);
  struct engine *e = engine_new(c);
  for (int i = 0; i < 7; i++) send(e, "alice", T0);
  send(e, "bob", T0);
  assert_int_equal(engine_suspend(e, "mallory", T0, "ctl:uid=0", "phished"), 0);
  write_all(e, s);
  struct store_batch b = {0};
  assert_int_equal(persist_suspension(e, "mallory", &b), 0);
  assert_int_equal(store_apply(s, &b, err, sizeof err), 0);
  store_batch_clear(&b);
  engine_free(e);
  store_close(s);

  s = store_open(c, err, sizeof err);
  e = engine_new(c);
  assert_int_equal(persist_load(e, s), 0);
  assert_int_equal(day_count(e, "alice", T0 + 60), 7);
  assert_int_equal(day_count(e, "bob", T0 + 60), 1);
  const struct susp *sp = susptab_get(engine_suspensions(e), "mallory");
  assert_non_null(sp);
  assert_string_equal(sp->reason, "phished");
  assert_int_equal(sp->since, T0);
  /* release is durable too */
  assert_int_equal(engine_release(e, "mallory"), 1);
  memset(&b, 0, sizeof b);
  assert_int_equal(persist_suspension(e, "mallory", &b), 0);
  assert_int_equal(store_apply(s, &b, err, sizeof err), 0);
  store_batch_clear(&b);
  engine_free(e);
  store_close(s);
  s = store_open(c, err, sizeof err);
  e = engine_new(c);
  assert_int_equal(persist_load(e, s), 0);
  assert_null(susptab_get(engine_suspensions(e), "mallory"));
  struct store_stats st;
  assert_int_equal(store_stats(s, &st), 0);
  assert_int_equal(st.keys, 2); /* alice and bob; the release deleted mallory */
  engine_free(e);
  store_close(s);
  conf_free(c);
}

/* How many "p:ACCOUNT" entries a batch holds for this account. */
static int profile_ops(const struct store_batch *b, const char *acct) {
  int n = 0;
  size_t l = strlen(acct);
  for (size_t i = 0; i < b->n; i++) {
    const char *k = store_op_key(b, &b->ops[i]);
    if (b->ops[i].klen == l + 2 && !memcmp(k, "p:", 2) && !memcmp(k + 2, acct, l)) n++;
  }
  return n;
}

/* Learned profiles are written once they have waited profile_flush_interval
 * (the daemon passes now - interval), oldest first; login state with the next
 * flush; a failed write is written again. */
static void test_profiles_written_when_due(void **state) {
  struct conf *c = conf_in_dir("score = true;\n");
  struct engine *e = engine_new(c);
  send(e, "alice", T0);
  send(e, "bob", T0);
  struct store_batch b = {0};
  assert_int_equal(persist_collect_some(e, &b, 4096, T0 - 60), 0);
  assert_true(b.n > 0); /* the counters */
  assert_int_equal(profile_ops(&b, "alice"), 0);
  assert_int_equal(profile_ops(&b, "bob"), 0);
  store_batch_clear(&b);

  struct event fail = {EV_LOGIN_FAIL, "alice", NULL, "198.51.100.9", NULL, 0, NULL, NULL, NULL, NULL};
  struct verdict v;
  assert_int_equal(engine_feed(e, &fail, T0 + 1, &v), 0);
  send(e, "carol", T0 + 100); /* changed later: waits longer */
  assert_int_equal(persist_collect_some(e, &b, 4096, T0 - 59), 0);
  assert_int_equal(profile_ops(&b, "alice"), 1); /* login state: at once */
  assert_int_equal(profile_ops(&b, "bob"), 0);
  store_batch_clear(&b);

  /* due: what learned by T0, in slices (max 1 counter record -> 1 profile per call) */
  long left;
  int alice = 0, bob = 0, carol = 0, site = 0, calls = 0;
  do {
    left = persist_collect_some(e, &b, 1, T0 + 10);
    assert_true(left >= 0);
    alice += profile_ops(&b, "alice");
    bob += profile_ops(&b, "bob");
    carol += profile_ops(&b, "carol");
    site += profile_ops(&b, "@site");
    store_batch_clear(&b);
    calls++;
  } while (left > 0);
  assert_true(calls >= 2);
  assert_int_equal(alice, 0); /* written above and not changed since */
  assert_int_equal(bob, 1);
  assert_int_equal(carol, 0); /* her first change is younger */
  assert_int_equal(site, 1);
  assert_int_equal(persist_collect_some(e, &b, 4096, T0 + 100), 0);
  assert_int_equal(profile_ops(&b, "carol"), 1);
  store_batch_clear(&b);

  /* a failed write: requeued, and written with the next flush */
  send(e, "bob", T0 + 200);
  assert_int_equal(persist_collect_some(e, &b, 4096, INT64_MAX), 0);
  assert_int_equal(profile_ops(&b, "bob"), 1);
  persist_requeue(e, &b);
  store_batch_clear(&b);
  assert_int_equal(persist_collect_some(e, &b, 4096, T0 - 60), 0);
  assert_int_equal(profile_ops(&b, "bob"), 1);
  store_batch_clear(&b);
  engine_free(e);
  conf_free(c);
}

static void test_idle_keys_expire(void **state) {
  struct conf *c = conf_in_dir("idle_expiry = 3600;\n");
  char err[256];
  struct store *s = store_open(c, err, sizeof err);
  struct engine *e = engine_new(c);
  send(e, "old", T0);
  send(e, "fresh", T0 + 2 * 86400);
  write_all(e, s);
  /* a sweep a day later: "old" has empty windows and idled long enough */
  for (int i = 0; i < 16; i++) engine_sweep(e, T0 + 2 * 86400 + 60, 1 << 20);
  assert_int_equal(day_count(e, "old", T0 + 2 * 86400 + 60), -1);
  assert_int_equal(day_count(e, "fresh", T0 + 2 * 86400 + 60), 1);
  write_all(e, s); /* carries the deletion */
  engine_free(e);
  store_close(s);
  s = store_open(c, err, sizeof err);
  e = engine_new(c);
  assert_int_equal(persist_load(e, s), 0);
  assert_int_equal(day_count(e, "old", T0 + 2 * 86400 + 60), -1);
  assert_int_equal(day_count(e, "fresh", T0 + 2 * 86400 + 60), 1);
  engine_free(e);
  store_close(s);
  conf_free(c);
}

static void fill(struct engine *e, int from, int n) {
  char a[32];
  for (int i = from; i < from + n; i++) {
    snprintf(a, sizeof a, "user%07d@example.edu", i);
    send(e, a, T0);
  }
}

static void test_map_grows_then_caps(void **state) {
  struct conf *c = conf_in_dir("store_map_size = \"1M\";\nstore_map_size_max = \"16M\";\n");
  char err[256];
  struct store *s = store_open(c, err, sizeof err);
  struct engine *e = engine_new(c);
  fill(e, 0, 20000); /* ~3 MB of records: more than the initial map */
  write_all(e, s);
  struct store_stats st;
  assert_int_equal(store_stats(s, &st), 0);
  assert_true(st.map_size > 1024 * 1024);
  assert_true(st.keys >= 20000);
  engine_free(e);
  store_close(s);
  conf_free(c);
  /* a cap that cannot hold the batch: a clean error, nothing corrupted */
  teardown(state);
  setup(state);
  c = conf_in_dir("store_map_size = \"1M\";\nstore_map_size_max = \"1M\";\n");
  s = store_open(c, err, sizeof err);
  e = engine_new(c);
  fill(e, 0, 20000);
  struct store_batch b = {0};
  assert_int_equal(persist_collect(e, &b), 0);
  assert_int_equal(store_apply(s, &b, err, sizeof err), -1);
  assert_non_null(strstr(err, "MDB_MAP_FULL"));
  /* the failed batch is requeued: the records are dirty again */
  persist_requeue(e, &b);
  store_batch_clear(&b);
  memset(&b, 0, sizeof b);
  assert_int_equal(persist_collect(e, &b), 0);
  assert_int_equal(b.n, 20000);
  store_batch_clear(&b);
  engine_free(e);
  store_close(s);
  conf_free(c);
}

static void test_bad_entries_skipped(void **state) {
  struct conf *c = conf_in_dir("");
  char err[256];
  struct store *s = store_open(c, err, sizeof err);
  struct store_batch b = {0};
  assert_int_equal(store_batch_add(&b, ST_COUNTERS, "a:x", 3, "junk", 4), 0);
  assert_int_equal(store_batch_add(&b, ST_COUNTERS, "zz", 2, "junk", 4), 0);
  assert_int_equal(store_batch_add(&b, ST_SUSPENSIONS, "y", 1, "{", 1), 0);
  assert_int_equal(store_apply(s, &b, err, sizeof err), 0);
  store_batch_clear(&b);
  struct engine *e = engine_new(c);
  assert_int_equal(persist_load(e, s), 3);
  engine_free(e);
  store_close(s);
  conf_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_counters_and_suspensions_survive, setup, teardown),
      cmocka_unit_test_setup_teardown(test_idle_keys_expire, setup, teardown),
      cmocka_unit_test_setup_teardown(test_profiles_written_when_due, setup, teardown),
      cmocka_unit_test_setup_teardown(test_map_grows_then_caps, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_entries_skipped, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
