/* test_reply.c - verdicts as Postfix actions, and text expansion */
#include "testutil.h"

#include "actions/reply.h"

static void test_actions(void **state) {
  struct conf *c = conf_from_text(BASE_CONF
      "limits = ( { name = \"burst\"; per = \"account\"; count = \"messages\"; window = "
      "\"minute\"; max = 30; action = \"throttle\"; },\n"
      " { name = \"own\"; per = \"account\"; count = \"messages\"; window = \"hour\"; max = 9; "
      "action = \"hold\"; text = \"held: {account} over {max}\"; } );\n");
  char buf[REPLY_MAX];
  struct verdict v = {0};
  reply_format(c, &v, "alice", buf, sizeof buf);
  assert_string_equal(buf, "action=DUNNO\n\n");
  v.action = ACT_ALERT;
  v.limit = &c->limits.v[0];
  reply_format(c, &v, "alice", buf, sizeof buf);
  assert_string_equal(buf, "action=DUNNO\n\n");
  v.action = ACT_THROTTLE;
  reply_format(c, &v, "alice", buf, sizeof buf);
  assert_string_equal(buf, "action=DEFER_IF_PERMIT mailfuse: alice is sending too much mail "
                           "(burst: 30 messages per minute), try again later\n\n");
  v.action = ACT_HOLD;
  v.limit = &c->limits.v[1];
  reply_format(c, &v, "alice", buf, sizeof buf);
  assert_string_equal(buf, "action=HOLD held: alice over 9\n\n");
  v.action = ACT_SUSPEND;
  v.limit = &c->limits.v[0];
  reply_format(c, &v, "alice", buf, sizeof buf);
  assert_non_null(strstr(buf, "action=REJECT mailfuse: account alice is suspended (burst)"));
  v.action = ACT_REJECT;
  v.limit = NULL;
  reply_format(c, &v, "alice", buf, sizeof buf);
  assert_string_equal(buf, "action=REJECT mailfuse: account alice is suspended, contact your "
                           "mail administrator\n\n");
  reply_fail(c, buf, sizeof buf);
  assert_string_equal(buf, "action=DUNNO\n\n");
  conf_free(c);
}

/* An account taken from a client's envelope sender can never break framing. */
static void test_untrusted_text_is_sanitised(void **state) {
  struct conf *c = conf_from_text(BASE_CONF);
  struct verdict v = {.action = ACT_REJECT};
  char buf[REPLY_MAX];
  size_t n = reply_format(c, &v, "evil\n\naction=OK\x01", buf, sizeof buf);
  assert_int_equal(strlen(buf), n);
  assert_null(strstr(buf, "\n\naction=OK"));
  assert_int_equal(buf[n - 1], '\n');
  assert_int_equal(buf[n - 2], '\n');
  assert_null(memchr(buf, '\n', n - 2));
  /* a long account is truncated, the reply stays bounded and framed */
  char longacct[2000];
  memset(longacct, 'x', sizeof longacct - 1);
  longacct[sizeof longacct - 1] = 0;
  n = reply_format(c, &v, longacct, buf, sizeof buf);
  assert_true(n < REPLY_MAX);
  assert_string_equal(buf + n - 2, "\n\n");
  conf_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_actions),
      cmocka_unit_test(test_untrusted_text_is_sanitised),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
