/* fuzz_postqueue.c - libFuzzer target for the `postqueue -j` selector.
 * Feeds the input whole and again in chunks whose sizes come from its first
 * byte, and checks that both give the same answer, that only
 * [0-9A-Za-z]{1,PQ_QID_MAX} ids reach the postsuper texts, and that the top
 * domains come out in order. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "actions/postqueue.h"

static const char *const senders[] = {"alice@example.edu", "Bob@Example.EDU", ""};
static const char *const qids[] = {"4jYBYX5T4hz1bcvf", "6F9AAA74718", "A"};

static struct pq_select *run(const char *p, size_t size, size_t chunk) {
  struct pq_select *s = pq_select_new(senders, 3, qids, 3);
  assert(s);
  for (size_t off = 0; off < size; off += chunk)
    pq_select_feed(s, p + off, size - off < chunk ? size - off : chunk);
  pq_select_end(s);
  return s;
}

static void check_ids(const char *ids, size_t len, size_t nids) {
  assert(ids[len] == 0);
  size_t n = 0, run_len = 0;
  for (size_t i = 0; i < len; i++) {
    char c = ids[i];
    if (c == '\n') {
      assert(run_len >= 1 && run_len <= PQ_QID_MAX);
      run_len = 0;
      n++;
      continue;
    }
    assert((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'));
    run_len++;
  }
  assert(run_len == 0 && n == nids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *p = (const char *)data;
  size_t chunk = size ? (size_t)data[0] % 61 + 1 : 1;
  struct pq_select *whole = run(p, size, size ? size : 1);
  struct pq_select *parts = run(p, size, chunk);

  struct pq_summary a, b;
  pq_select_summary(whole, &a);
  pq_select_summary(parts, &b);
  assert(memcmp(&a, &b, sizeof a) == 0);
  assert(a.bad_lines <= a.lines && a.already_held <= a.matched);

  size_t la, lb;
  const char *ia = pq_select_ids(whole, &la), *ib = pq_select_ids(parts, &lb);
  assert(ia && ib && la == lb && memcmp(ia, ib, la) == 0);
  check_ids(ia, la, pq_select_nids(whole));
  assert(pq_select_nids(whole) == a.matched - a.already_held);
  ia = pq_select_held_ids(whole, &la);
  ib = pq_select_held_ids(parts, &lb);
  assert(ia && ib && la == lb && memcmp(ia, ib, la) == 0);
  check_ids(ia, la, pq_select_nheld(whole));
  assert(pq_select_nheld(whole) == a.already_held);

  const char *dom[8];
  uint64_t cnt[8];
  size_t k = pq_select_top_domains(parts, 8, dom, cnt);
  for (size_t i = 0; i < k; i++) {
    assert(cnt[i] >= 1 && strlen(dom[i]) <= PQ_DOMAIN_MAX);
    if (i) assert(cnt[i] <= cnt[i - 1]);
  }
  pq_select_free(whole);
  pq_select_free(parts);
  return 0;
}
