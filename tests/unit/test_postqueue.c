/* test_postqueue.c - picking an account's messages out of `postqueue -j`
 * output: real lines from the test bed, any chunking, bad and overlong
 * lines, queue ids that must never reach postsuper, top domains. */
#include "testutil.h"

#include "actions/postqueue.h"

/* Captured from tests/bed (Postfix 3.7, enable_long_queue_ids=yes), sink stopped. */
#define L_ALICE1                                                                              \
  "{\"queue_name\": \"deferred\", \"queue_id\": \"4jYBYX5T4hz1bcvf\", \"arrival_time\": "      \
  "1795452128, \"message_size\": 390, \"forced_expire\": false, \"sender\": "                  \
  "\"alice@example.edu\", \"recipients\": [{\"address\": \"rcpt00001-00@example.net\", "       \
  "\"delay_reason\": \"connect to 127.0.0.1[127.0.0.1]:21026: Connection refused\"}, "         \
  "{\"address\": \"rcpt00001-01@example.net\", \"delay_reason\": \"connect to "                \
  "127.0.0.1[127.0.0.1]:21026: Connection refused\"}]}\n"
#define L_BOB                                                                                 \
  "{\"queue_name\": \"deferred\", \"queue_id\": \"4jYBYX74sPz1bd47\", \"arrival_time\": "      \
  "1795452128, \"message_size\": 391, \"forced_expire\": false, \"sender\": "                  \
  "\"bob@example.edu\", \"recipients\": [{\"address\": \"rcpt00001-00@example.net\", "         \
  "\"delay_reason\": \"connect to 127.0.0.1[127.0.0.1]:21026: Connection refused\"}]}\n"
#define L_ALICE2                                                                              \
  "{\"queue_name\": \"deferred\", \"queue_id\": \"4jYBYX5c3Fz1bcw7\", \"arrival_time\": "      \
  "1795452128, \"message_size\": 390, \"forced_expire\": false, \"sender\": "                  \
  "\"alice@example.edu\", \"recipients\": [{\"address\": \"rcpt00002-00@example.net\", "       \
  "\"delay_reason\": \"connect to 127.0.0.1[127.0.0.1]:21026: Connection refused\"}, "         \
  "{\"address\": \"rcpt00002-01@example.net\", \"delay_reason\": \"connect to "                \
  "127.0.0.1[127.0.0.1]:21026: Connection refused\"}]}\n"
#define L_CAROL_HELD                                                                          \
  "{\"queue_name\": \"hold\", \"queue_id\": \"4jYBYX671Dz1bcwR\", \"arrival_time\": "          \
  "1795452128, \"message_size\": 393, \"forced_expire\": false, \"sender\": "                  \
  "\"Carol@Example.EDU\", \"recipients\": [{\"address\": \"rcpt00001-00@Example.ORG\", "       \
  "\"delay_reason\": \"connect to 127.0.0.1[127.0.0.1]:21026: Connection refused\"}]}\n"
/* short (hex) queue ids, as without enable_long_queue_ids */
#define L_ALICE_SHORT                                                                         \
  "{\"queue_name\": \"active\", \"queue_id\": \"6F9AAA74718\", \"arrival_time\": 1795451839, " \
  "\"message_size\": 385, \"forced_expire\": false, \"sender\": \"alice@example.edu\", "       \
  "\"recipients\": [{\"address\": \"x@example.com\"}, {\"address\": \"y@Example.COM\"}]}\n"
#define L_BOUNCE                                                                              \
  "{\"queue_name\": \"incoming\", \"queue_id\": \"72F1AA7471B\", \"arrival_time\": "           \
  "1795451839, \"message_size\": 2100, \"forced_expire\": false, \"sender\": \"\", "           \
  "\"recipients\": [{\"address\": \"alice@example.edu\"}]}\n"

#define QUEUE L_ALICE1 L_BOB L_ALICE2 L_CAROL_HELD L_ALICE_SHORT L_BOUNCE

static const char *ALICE[] = {"alice@example.edu"};

static struct pq_select *run(const char *const *senders, size_t ns, const char *const *qids,
                             size_t nq, const char *text, size_t chunk) {
  struct pq_select *s = pq_select_new(senders, ns, qids, nq);
  assert_non_null(s);
  size_t len = strlen(text);
  if (!chunk) chunk = len ? len : 1;
  for (size_t off = 0; off < len; off += chunk)
    pq_select_feed(s, text + off, len - off < chunk ? len - off : chunk);
  pq_select_end(s);
  return s;
}

static void want_summary(const struct pq_select *s, uint64_t lines, uint64_t bad,
                         uint64_t matched, uint64_t held, uint64_t rcpts) {
  struct pq_summary m;
  pq_select_summary(s, &m);
  assert_int_equal(m.lines, lines);
  assert_int_equal(m.bad_lines, bad);
  assert_int_equal(m.matched, matched);
  assert_int_equal(m.already_held, held);
  assert_int_equal(m.recipients, rcpts);
}

static void want_text(const char *got, size_t len, size_t nlines, const char *want) {
  assert_non_null(got);
  assert_string_equal(got, want);
  assert_int_equal(len, strlen(want));
  size_t n = 0;
  for (const char *p = want; *p; p++) n += *p == '\n';
  assert_int_equal(nlines, n);
}

/* The ids to hold (postsuper -h). */
static void want_ids(const struct pq_select *s, const char *want) {
  size_t len;
  const char *ids = pq_select_ids(s, &len);
  want_text(ids, len, pq_select_nids(s), want);
}

/* The ids held already (postsuper -H). */
static void want_held(const struct pq_select *s, const char *want) {
  size_t len;
  const char *ids = pq_select_held_ids(s, &len);
  want_text(ids, len, pq_select_nheld(s), want);
}

static void test_real_lines_by_sender(void **state) {
  struct pq_select *s = run(ALICE, 1, NULL, 0, QUEUE, 0);
  want_summary(s, 6, 0, 3, 0, 6);
  want_ids(s, "4jYBYX5T4hz1bcvf\n4jYBYX5c3Fz1bcw7\n6F9AAA74718\n");
  want_held(s, "");
  const char *dom[4];
  uint64_t cnt[4];
  assert_int_equal(pq_select_top_domains(s, 4, dom, cnt), 2);
  assert_string_equal(dom[0], "example.net");
  assert_int_equal(cnt[0], 4);
  assert_string_equal(dom[1], "example.com"); /* x@example.com and y@Example.COM */
  assert_int_equal(cnt[1], 2);
  pq_select_free(s);
}

static void test_sender_case_and_hold(void **state) {
  const char *carol[] = {"carol@EXAMPLE.edu", "", "nobody@example.edu"};
  struct pq_select *s = run(carol, 3, NULL, 0, QUEUE, 0);
  /* carol's message is held already: matched, nothing to hold; "" matches no bounce */
  want_summary(s, 6, 0, 1, 1, 1);
  want_ids(s, "");
  want_held(s, "4jYBYX671Dz1bcwR\n");
  const char *dom[1];
  uint64_t cnt[1];
  assert_int_equal(pq_select_top_domains(s, 1, dom, cnt), 1);
  assert_string_equal(dom[0], "example.org");
  pq_select_free(s);
}

static void test_by_queue_id(void **state) {
  const char *qids[] = {"4jYBYX74sPz1bd47", "72F1AA7471B", "4jYBYX671Dz1bcwR", "NOTTHERE1"};
  struct pq_select *s = run(NULL, 0, qids, 4, QUEUE, 0);
  want_summary(s, 6, 0, 3, 1, 3);
  want_ids(s, "4jYBYX74sPz1bd47\n72F1AA7471B\n");
  want_held(s, "4jYBYX671Dz1bcwR\n");
  pq_select_free(s);
  /* both lists: a message matched by both counts once; ids are case-sensitive */
  const char *lower[] = {"4jybyx74spz1bd47", "6F9AAA74718"};
  s = run(ALICE, 1, lower, 2, QUEUE, 0);
  want_summary(s, 6, 0, 3, 0, 6);
  pq_select_free(s);
}

/* Every chunking of the input gives the same answer as one whole feed. */
static void test_any_chunking(void **state) {
  const char *text = QUEUE L_ALICE1; /* no trailing newline issue: ends in \n */
  struct pq_select *whole = run(ALICE, 1, NULL, 0, text, 0);
  size_t wlen;
  const char *wids = pq_select_ids(whole, &wlen);
  for (size_t chunk = 1; chunk <= strlen(text) + 1; chunk += chunk < 64 ? 1 : 97) {
    struct pq_select *s = run(ALICE, 1, NULL, 0, text, chunk);
    want_summary(s, 7, 0, 3, 0, 6); /* the repeated line counts as a line, not a match */
    size_t len;
    const char *ids = pq_select_ids(s, &len);
    assert_int_equal(len, wlen);
    assert_memory_equal(ids, wids, len);
    pq_select_free(s);
  }
  pq_select_free(whole);
}

static void test_last_line_without_newline(void **state) {
  const char *text = L_BOB L_ALICE1;
  size_t n = strlen(text) - 1; /* drop the final '\n' */
  struct pq_select *s = pq_select_new(ALICE, 1, NULL, 0);
  pq_select_feed(s, text, n);
  want_summary(s, 1, 0, 0, 0, 0);
  pq_select_end(s);
  want_summary(s, 2, 0, 1, 0, 2);
  want_ids(s, "4jYBYX5T4hz1bcvf\n");
  pq_select_free(s);
}

struct bad_case {
  const char *name, *line;
};

#define ALICE_WITH_ID(id)                                                                  \
  "{\"queue_name\": \"deferred\", \"queue_id\": " id ", \"sender\": \"alice@example.edu\", " \
  "\"recipients\": []}\n"

static const struct bad_case bad_cases[] = {
    {"not json", "queue_id=ABC sender=alice@example.edu\n"},
    {"truncated json", "{\"queue_name\": \"deferred\", \"queue_id\": \"ABC\"\n"},
    {"array", "[1, 2, 3]\n"},
    {"no queue_id", "{\"queue_name\": \"deferred\", \"sender\": \"alice@example.edu\"}\n"},
    {"no queue_name", "{\"queue_id\": \"ABC\", \"sender\": \"alice@example.edu\"}\n"},
    {"no sender", "{\"queue_name\": \"deferred\", \"queue_id\": \"ABC\"}\n"},
    {"sender not a string",
     "{\"queue_name\": \"deferred\", \"queue_id\": \"ABC\", \"sender\": 7}\n"},
    {"id a number", ALICE_WITH_ID("12345")},
    {"id empty", ALICE_WITH_ID("\"\"")},
    {"id with slash", ALICE_WITH_ID("\"../../etc/passwd\"")},
    {"id with space", ALICE_WITH_ID("\"ABC DEF\"")},
    {"id with newline", ALICE_WITH_ID("\"ABC\\nDEF\"")},
    {"id with dash", ALICE_WITH_ID("\"-d ALL\"")},
    {"id non-ascii", ALICE_WITH_ID("\"ABC\\u00e9\"")},
    {"id with NUL", ALICE_WITH_ID("\"ABC\\u0000DEF\"")},
    {"id too long", ALICE_WITH_ID("\"0123456789abcdef0123456789ABCDEFx\"")},
    {"recipients not an array",
     "{\"queue_name\": \"deferred\", \"queue_id\": \"ABC\", \"sender\": \"alice@example.edu\", "
     "\"recipients\": \"x@example.net\"}\n"},
    {"invalid utf-8", "{\"queue_name\": \"deferred\", \"queue_id\": \"ABC\", \"sender\": "
                      "\"alice@example.edu\xff\"}\n"},
};

static void test_bad_lines_counted_never_held(void **state) {
  for (size_t i = 0; i < sizeof bad_cases / sizeof *bad_cases; i++) {
    char text[1024];
    snprintf(text, sizeof text, "%s%s", bad_cases[i].line, L_ALICE_SHORT);
    struct pq_select *s = run(ALICE, 1, NULL, 0, text, 0);
    struct pq_summary m;
    pq_select_summary(s, &m);
    if (m.lines != 2 || m.bad_lines != 1)
      fail_msg("%s: lines=%llu bad=%llu", bad_cases[i].name, (unsigned long long)m.lines,
               (unsigned long long)m.bad_lines);
    want_ids(s, "6F9AAA74718\n");
    pq_select_free(s);
  }
  /* the control: the same shape with a good id is taken */
  struct pq_select *s = run(ALICE, 1, NULL, 0, ALICE_WITH_ID("\"ABC\""), 0);
  want_summary(s, 1, 0, 1, 0, 0);
  want_ids(s, "ABC\n");
  pq_select_free(s);
}

static void test_blank_and_crlf_lines(void **state) {
  char text[2048];
  snprintf(text, sizeof text, "\n\n%.*s\r\n\n", (int)strlen(L_ALICE_SHORT) - 1, L_ALICE_SHORT);
  struct pq_select *s = run(ALICE, 1, NULL, 0, text, 0);
  want_summary(s, 1, 0, 1, 0, 2);
  want_ids(s, "6F9AAA74718\n");
  pq_select_free(s);
}

/* A line of exactly len bytes (plus '\n') that matches alice with id ID. */
static char *padded_line(size_t len, const char *id) {
  char head[256];
  int h = snprintf(head, sizeof head,
                   "{\"queue_name\": \"deferred\", \"queue_id\": \"%s\", \"sender\": "
                   "\"alice@example.edu\", \"pad\": \"",
                   id);
  char *line = malloc(len + 2);
  assert_non_null(line);
  memcpy(line, head, (size_t)h);
  memset(line + h, 'x', len - (size_t)h - 2);
  memcpy(line + len - 2, "\"}\n", 4);
  return line;
}

static void test_overlong_line_skipped(void **state) {
  char *max = padded_line(PQ_LINE_MAX, "MAXLEN1");
  char *over = padded_line(PQ_LINE_MAX + 1, "TOOLONG1");
  size_t ml = strlen(max), ol = strlen(over), al = strlen(L_ALICE_SHORT);
  char *text = malloc(ml + ol + al + 1);
  memcpy(text, over, ol);
  memcpy(text + ol, max, ml);
  memcpy(text + ol + ml, L_ALICE_SHORT, al + 1);
  size_t chunks[] = {0, 1000, 65536, PQ_LINE_MAX + 7};
  for (size_t i = 0; i < sizeof chunks / sizeof *chunks; i++) {
    struct pq_select *s = run(ALICE, 1, NULL, 0, text, chunks[i]);
    want_summary(s, 3, 1, 2, 0, 2);
    want_ids(s, "MAXLEN1\n6F9AAA74718\n");
    pq_select_free(s);
  }
  /* an overlong last line without newline, too */
  struct pq_select *s = pq_select_new(ALICE, 1, NULL, 0);
  pq_select_feed(s, over, ol - 1);
  pq_select_end(s);
  want_summary(s, 1, 1, 0, 0, 0);
  pq_select_free(s);
  free(text);
  free(max);
  free(over);
}

static void test_top_domains_order(void **state) {
  const char *text =
      "{\"queue_name\": \"deferred\", \"queue_id\": \"A1\", \"sender\": \"alice@example.edu\", "
      "\"recipients\": [{\"address\": \"a@b.example\"}, {\"address\": \"b@a.example\"}, "
      "{\"address\": \"c@C.example\"}, {\"address\": \"d@c.example\"}, {\"address\": "
      "\"noat\"}, {\"address\": \"e@\"}, {\"nope\": 1}, 5, "
      "{\"address\": \"\\\"x@y\\\"@z.example\"}]}\n";
  struct pq_select *s = run(ALICE, 1, NULL, 0, text, 0);
  want_summary(s, 1, 0, 1, 0, 7);
  const char *dom[8];
  uint64_t cnt[8];
  assert_int_equal(pq_select_top_domains(s, 8, dom, cnt), 4);
  assert_string_equal(dom[0], "c.example");
  assert_int_equal(cnt[0], 2);
  assert_string_equal(dom[1], "a.example"); /* ties: by name */
  assert_string_equal(dom[2], "b.example");
  assert_string_equal(dom[3], "z.example");
  assert_int_equal(pq_select_top_domains(s, 1, dom, cnt), 1);
  assert_string_equal(dom[0], "c.example");
  assert_int_equal(pq_select_top_domains(s, 0, dom, cnt), 0);
  pq_select_free(s);
  s = run(ALICE, 1, NULL, 0, "", 0);
  assert_int_equal(pq_select_top_domains(s, 8, dom, cnt), 0);
  want_ids(s, "");
  pq_select_free(s);
  pq_select_free(NULL);
}

/* Many messages: the id set grows; a message listed twice counts once. */
static void test_many_messages(void **state) {
  enum { N = 20000 };
  struct pq_select *s = pq_select_new(ALICE, 1, NULL, 0);
  char line[512];
  for (int round = 0; round < 2; round++) {
    for (int i = 0; i < N; i++) {
      int n = snprintf(line, sizeof line,
                       "{\"queue_name\": \"%s\", \"queue_id\": \"Q%07dx\", \"sender\": \"%s\", "
                       "\"recipients\": [{\"address\": \"r%d@d%d.example\"}]}\n",
                       i % 10 == 0 ? "hold" : "deferred", i,
                       i % 2 ? "ALICE@example.edu" : "bob@example.edu", i, i % 3);
      pq_select_feed(s, line, (size_t)n);
    }
  }
  pq_select_end(s);
  /* odd i are alice's; none of them is a multiple of 10, so none is held */
  want_summary(s, 2 * N, 0, N / 2, 0, N / 2);
  assert_int_equal(pq_select_nids(s), N / 2);
  size_t len;
  const char *ids = pq_select_ids(s, &len);
  assert_int_equal(len, (size_t)(N / 2) * 10);
  assert_memory_equal(ids, "Q0000001x\nQ0000003x\n", 20);
  const char *dom[3];
  uint64_t cnt[3];
  assert_int_equal(pq_select_top_domains(s, 3, dom, cnt), 3);
  assert_int_equal(cnt[0] + cnt[1] + cnt[2], N / 2);
  pq_select_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_real_lines_by_sender),
      cmocka_unit_test(test_sender_case_and_hold),
      cmocka_unit_test(test_by_queue_id),
      cmocka_unit_test(test_any_chunking),
      cmocka_unit_test(test_last_line_without_newline),
      cmocka_unit_test(test_bad_lines_counted_never_held),
      cmocka_unit_test(test_blank_and_crlf_lines),
      cmocka_unit_test(test_overlong_line_skipped),
      cmocka_unit_test(test_top_domains_order),
      cmocka_unit_test(test_many_messages),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
