/* test_log.c - log_esc: untrusted bytes into a log value never overflow
 * the buffer, whatever they are and however small it is (fuzz_hostnets
 * found an overflow by two bytes with escapes near the end). */
#include "testutil.h"

#include "core/log.h"

static void test_esc_fits_every_size(void **state) {
  char src[300];
  for (size_t i = 0; i < sizeof src; i++) src[i] = (char)(i % 3 == 0 ? 0x1c : i % 3 == 1 ? '"' : ' ');
  for (size_t len = 0; len < 120; len++) {
    char buf[128 + 16];
    memset(buf, 'Z', sizeof buf);
    log_esc(buf, len, src, sizeof src);
    for (size_t i = len; i < sizeof buf; i++) assert_int_equal(buf[i], 'Z'); /* nothing past len */
    if (len) assert_true(strlen(buf) < len);
  }
}

static void test_esc_values(void **state) {
  char buf[64];
  assert_string_equal(log_esc(buf, sizeof buf, "plain", 5), "plain");
  assert_string_equal(log_esc(buf, sizeof buf, "a b", 3), "\"a b\"");
  assert_string_equal(log_esc(buf, sizeof buf, "x\ny", 3), "x\\x0ay");
  assert_string_equal(log_esc(buf, sizeof buf, "", 0), "\"\"");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_esc_fits_every_size),
      cmocka_unit_test(test_esc_values),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
