/* test_window.c - sliding-window ring arithmetic at its edges */
#include "testutil.h"

#include "engine/window.h"

static void sum_after(win_ring b, enum window_kind w, uint32_t last, uint32_t now, uint64_t want) {
  window_roll(b, w, last, now);
  assert_int_equal(window_sum(b), want);
}

/* A count stays inside the window for at least its whole length. */
static void test_count_stays_for_full_window(void **state) {
  const enum window_kind kinds[] = {WIN_MINUTE, WIN_HOUR, WIN_DAY};
  for (int k = 0; k < 3; k++) {
    enum window_kind w = kinds[k];
    uint32_t T = window_secs(w);
    for (uint32_t start = 1000000; start < 1000000 + T; start += T / 7 + 1) {
      win_ring b = {0};
      window_add(b, w, start, 5);
      win_ring c;
      memcpy(c, b, sizeof c);
      sum_after(c, w, start, start + T - 1, 5); /* still counted just before T */
      memcpy(c, b, sizeof c);
      sum_after(c, w, start, start + T + T / 6 + 1, 0); /* gone after T + T/6 */
    }
  }
}

static void test_roll_far_clears(void **state) {
  win_ring b = {0};
  window_add(b, WIN_HOUR, 7200, 3);
  window_add(b, WIN_HOUR, 7200 + 600, 4);
  sum_after(b, WIN_HOUR, 7200 + 600, 7200 + 600, 7);
  sum_after(b, WIN_HOUR, 7200 + 600, 7200 + 600 + 10 * 3600, 0);
}

static void test_time_going_back_is_ignored(void **state) {
  win_ring b = {0};
  window_add(b, WIN_MINUTE, 600, 2);
  sum_after(b, WIN_MINUTE, 600, 500, 2);
}

static void test_add_saturates(void **state) {
  win_ring b = {0};
  window_add(b, WIN_DAY, 86400, UINT32_MAX - 1);
  window_add(b, WIN_DAY, 86400, 10);
  assert_int_equal(window_sum(b), UINT32_MAX);
}

/* Never more than N in any window: the sum covers at least the last T. */
static void test_sum_covers_window(void **state) {
  win_ring b = {0};
  uint32_t last = 0;
  uint64_t in_window = 0;
  uint32_t times[200];
  for (int i = 0; i < 200; i++) {
    uint32_t now = 50000 + (uint32_t)i * 37;
    window_roll(b, WIN_HOUR, last, now);
    last = now;
    window_add(b, WIN_HOUR, now, 1);
    times[i] = now;
    in_window = 0;
    for (int j = 0; j <= i; j++)
      if (times[j] + 3600 > now) in_window++;
    assert_true(window_sum(b) >= in_window);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_count_stays_for_full_window),
      cmocka_unit_test(test_roll_far_clears),
      cmocka_unit_test(test_time_going_back_is_ignored),
      cmocka_unit_test(test_add_saturates),
      cmocka_unit_test(test_sum_covers_window),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
