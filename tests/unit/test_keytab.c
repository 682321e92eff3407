/* test_keytab.c - the compact hash table: put, get, delete, remask, encode */
#include "testutil.h"

#include "engine/keytab.h"

static void test_put_get_many_and_delete(void **state) {
  struct keytab *t = keytab_new();
  char k[32];
  for (int i = 0; i < 20000; i++) {
    int n = snprintf(k, sizeof k, "user%d", i);
    struct rec *r = keytab_put(t, k, (size_t)n, 0x7);
    assert_non_null(r);
    rec_ring(r, 0, 0)[0] = (uint32_t)i;
  }
  assert_int_equal(keytab_count(t), 20000);
  for (int i = 0; i < 20000; i += 2) {
    int n = snprintf(k, sizeof k, "user%d", i);
    keytab_del(t, keytab_get(t, k, (size_t)n));
  }
  assert_int_equal(keytab_count(t), 10000);
  for (int i = 0; i < 20000; i++) {
    int n = snprintf(k, sizeof k, "user%d", i);
    struct rec *r = keytab_get(t, k, (size_t)n);
    if (i % 2) {
      assert_non_null(r);
      assert_int_equal(rec_ring(r, 0, 0)[0], i);
      assert_string_equal(rec_key(r), k);
    } else {
      assert_null(r);
    }
  }
  keytab_free(t);
}

static bool drop_odd(struct rec *r, void *arg) { return rec_ring(r, 0, 0)[0] % 2; }

static void test_sweep_deletes_matching_only(void **state) {
  struct keytab *t = keytab_new();
  char k[32];
  for (int i = 0; i < 5000; i++) {
    int n = snprintf(k, sizeof k, "k%d", i);
    rec_ring(keytab_put(t, k, (size_t)n, 1), 0, 0)[0] = (uint32_t)i;
  }
  size_t pos = 0, dropped = 0;
  for (int round = 0; round < 100 && keytab_count(t) > 2500; round++)
    dropped += keytab_sweep(t, &pos, 1000, drop_odd, NULL);
  assert_int_equal(dropped, 2500);
  assert_int_equal(keytab_count(t), 2500);
  size_t it = 0;
  struct rec *r;
  while ((r = keytab_next(t, &it))) assert_int_equal(rec_ring(r, 0, 0)[0] % 2, 0);
  keytab_free(t);
}

static void test_remask_keeps_common_rings(void **state) {
  struct keytab *t = keytab_new();
  struct rec *r = keytab_put(t, "alice", 5, 0x5); /* bits 0 and 2 */
  rec_ring(r, 0, 0)[1] = 11;
  rec_ring(r, 0, 2)[3] = 22;
  r = keytab_remask(t, r, 0x6); /* bits 1 and 2 */
  assert_ptr_equal(keytab_get(t, "alice", 5), r);
  assert_null(rec_ring(r, 0, 0));
  assert_int_equal(window_sum(rec_ring(r, 0, 1)), 0);
  assert_int_equal(rec_ring(r, 0, 2)[3], 22);
  assert_string_equal(rec_key(r), "alice");
  keytab_free(t);
}

static void test_encode_decode_roundtrip(void **state) {
  struct keytab *a = keytab_new(), *b = keytab_new();
  struct rec *r = keytab_put(a, "bob", 3, 0x13);
  r->last = 123456;
  rec_ring(r, 1, 1)[6] = 9;
  uint8_t buf[512];
  size_t n = rec_encode(r, buf, sizeof buf);
  assert_true(n > 7);
  struct rec *d = rec_decode(b, "bob", 3, buf, n, 0x13);
  assert_non_null(d);
  assert_int_equal(d->last, 123456);
  assert_int_equal(rec_ring(d, 1, 1)[6], 9);
  assert_null(rec_decode(b, "x", 1, buf, n - 1, 0x13)); /* truncated */
  buf[0] = 99;
  assert_null(rec_decode(b, "y", 1, buf, n, 0x13)); /* unknown format */
  keytab_free(a);
  keytab_free(b);
}

static void test_record_is_small(void **state) {
  /* the memory budget per account rests on this layout: a 12-byte header,
   * 28 bytes a ring, the key and its NUL, nothing else */
  assert_true(sizeof(struct rec) <= 12);
  assert_int_equal(sizeof(win_ring), 28);
  assert_int_equal(rec_size(0xff, 20), sizeof(struct rec) + 8 * 28 + 21);
  assert_int_equal(rec_size(0x01, 5), sizeof(struct rec) + 28 + 6);
  print_message("# record bytes with 8 rings and a 20-byte key: %zu\n", rec_size(0xff, 20));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_put_get_many_and_delete),
      cmocka_unit_test(test_sweep_deletes_matching_only),
      cmocka_unit_test(test_remask_keeps_common_rings),
      cmocka_unit_test(test_encode_decode_roundtrip),
      cmocka_unit_test(test_record_is_small),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
