/* test_qlink.c - the queue-ID link table stays bounded and dedupes statuses */
#include "testutil.h"

#include "sources/qlink.h"

static void test_link_and_expire(void **state) {
  struct qlink *q = qlink_new(1000, 3600);
  struct qlink_entry *e = qlink_put(q, "ABC123", 6, 1000);
  assert_non_null(e);
  qlink_set(e, "alice@example.edu", "192.0.2.1");
  assert_ptr_equal(qlink_get(q, "ABC123", 6), e);
  assert_string_equal(e->account, "alice@example.edu");
  assert_null(qlink_get(q, "ABC124", 6));
  qlink_expire(q, 1000 + 3599);
  assert_non_null(qlink_get(q, "ABC123", 6));
  qlink_expire(q, 1000 + 3601);
  assert_null(qlink_get(q, "ABC123", 6));
  assert_null(qlink_put(q, "0123456789012345678901234567890123456789", 40, 1)); /* too long */
  qlink_free(q);
}

static void test_bounded_count(void **state) {
  struct qlink *q = qlink_new(100, 1 << 30);
  char id[16];
  for (int i = 0; i < 1000; i++) {
    int n = snprintf(id, sizeof id, "Q%05d", i);
    assert_non_null(qlink_put(q, id, (size_t)n, i));
  }
  assert_true(qlink_count(q) <= 100);
  assert_non_null(qlink_get(q, "Q00999", 6)); /* the newest stay */
  assert_null(qlink_get(q, "Q00000", 6));
  qlink_del(q, "Q00999", 6);
  assert_null(qlink_get(q, "Q00999", 6));
  qlink_free(q);
}

static void test_first_status_once(void **state) {
  struct qlink *q = qlink_new(10, 100);
  struct qlink_entry *e = qlink_put(q, "X1", 2, 0);
  assert_int_equal(qlink_first_status(e, "a@example.net", 13), 1);
  assert_int_equal(qlink_first_status(e, "b@example.net", 13), 1);
  assert_int_equal(qlink_first_status(e, "a@example.net", 13), 0); /* deferred, then sent */
  qlink_free(q);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_link_and_expire),
      cmocka_unit_test(test_bounded_count),
      cmocka_unit_test(test_first_status_once),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
