/* test_parse_roundcube.c - parse_roundcube() on real Roundcube userlogins and errors lines
 *
 * Lines from ../shared/research/anchors-login.md 5.4 and fail2ban's
 * roundcube-auth samples (including its injection cases). The first table
 * builds the struct logline by hand; the second runs raw lines through
 * logline_split + logparse.
 */
#include "parsetest.h"

#define MISS (-1) /* want: parse_roundcube returns 0 with LM_ROUNDCUBE */

struct rcase {
  const char *name;
  const char *msg; /* the message after "[date]: " or "roundcube[pid]: " */
  int kind;        /* enum logev_kind, or MISS */
  const char *user, *ip, *session, *reason; /* NULL: must be empty (reason: not checked) */
};

static const struct rcase cases[] = {
    /* userlogins */
    {"successful login", "<4z506z6r> Successful login for admin@example.com (ID: 1) from 1.2.3.4 "
     "in session 4z506z6rvddstv6k7jz08hxo27",
     LE_LOGIN_OK, "admin@example.com", "1.2.3.4", "4z506z6rvddstv6k7jz08hxo27", NULL},
    {"successful login behind a proxy: REMOTE_ADDR wins",
     "Successful login for alice (ID: 7) from 10.0.0.5 (X-Real-IP: 203.0.113.9,X-Forwarded-For: "
     "198.51.100.1) in session abc123",
     LE_LOGIN_OK, "alice", "10.0.0.5", "abc123", NULL},
    {"failed login with session and error", "<4z506z6r> Failed login for admin@example.com from "
     "1.2.3.4 in session 4z506z6rvddstv6k7jz08hxo27 (error: 0)",
     LE_LOGIN_FAIL, "admin@example.com", "1.2.3.4", "4z506z6rvddstv6k7jz08hxo27", "Failed login"},
    {"failed login without the session prefix",
     "Failed login for foo.bar-admin@some-thing.example.com from 1.2.3.4 in session "
     "2z506z6rvddstv6k7jz08hxo27 (error: 0)",
     LE_LOGIN_FAIL, "foo.bar-admin@some-thing.example.com", "1.2.3.4",
     "2z506z6rvddstv6k7jz08hxo27", NULL},
    {"old FAILED login", "FAILED login for user1 from 192.0.43.10", LE_LOGIN_FAIL, "user1",
     "192.0.43.10", NULL, "FAILED login"},
    {"IPv6 client", "Failed login for bob from 2001:db8::1 in session x1 (error: 0)",
     LE_LOGIN_FAIL, "bob", "2001:db8::1", "x1", NULL},
    /* errors */
    {"IMAP Error 1.0", "IMAP Error: Login failed for admin@example.com from 1.2.3.4. AUTHENTICATE "
     "PLAIN: Authentication failed. in /docroot/path/program/lib/Roundcube/rcube_imap.php on line "
     "184 (POST /?_task=login?_task=login&_action=login)",
     LE_LOGIN_FAIL, "admin@example.com", "1.2.3.4", NULL, "IMAP Error: Login failed"},
    {"IMAP Error 1.5 with against host", "<3z506z6r> IMAP Error: Login failed for "
     "admin@example.com against localhost from 1.2.3.4. AUTHENTICATE PLAIN: Authentication "
     "failed. in /docroot/path/program/lib/Roundcube/rcube_imap.php on line 221 (POST "
     "/?_task=login?_task=login&_action=login)",
     LE_LOGIN_FAIL, "admin@example.com", "1.2.3.4", "3z506z6r", NULL},
    {"X-Real-IP without a space (gh-1303)", "<j2pncet8> IMAP Error: Login failed for "
     "user@example.com from 192.0.2.2(X-Real-IP: 192.0.2.3,X-Forwarded-For: 192.0.2.4). "
     "AUTHENTICATE PLAIN: Authentication failed. in "
     "/usr/share/roundcubemail/program/lib/Roundcube/rcube_imap.php on line 197 (POST "
     "/?_task=login?_task=login&_action=login)",
     LE_LOGIN_FAIL, "user@example.com", "192.0.2.2", "j2pncet8", NULL},
    {"old IMAP Error without reply", "IMAP Error: Login failed for sales@example.com from "
     "10.1.1.47",
     LE_LOGIN_FAIL, "sales@example.com", "10.1.1.47", NULL, NULL},
    /* fail2ban's injection cases */
    {"injection 1", "IMAP Error: Login failed for admin from 127.0.0.1 from 1.2.3.4. AUTHENTICATE "
     "PLAIN: A0002 NO Login failed. in /usr/share/roundcube/program/include/rcube_imap.php on "
     "line 205 (POST /wmail/?_task=login&_action=login)",
     LE_LOGIN_FAIL, "admin from 127.0.0.1", "1.2.3.4", NULL, NULL},
    {"injection 1 with dot", "IMAP Error: Login failed for admin from 127.0.0.1. from 1.2.3.4. "
     "AUTHENTICATE PLAIN: A0002 NO Login failed. in "
     "/usr/share/roundcube/program/include/rcube_imap.php on line 205 (POST "
     "/wmail/?_task=login&_action=login)",
     LE_LOGIN_FAIL, "admin from 127.0.0.1.", "1.2.3.4", NULL, NULL},
    {"injection 2, echoed by the IMAP reply", "IMAP Error: Login failed for admin from 127.0.0.1 "
     "from 1.2.3.4. AUTHENTICATE PLAIN: A0002 NO Login failed. user=admin from 127.0.0.1 in "
     "/usr/share/roundcube/program/include/rcube_imap.php on line 205 (POST "
     "/wmail/?_task=login&_action=login)",
     LE_LOGIN_FAIL, "admin from 127.0.0.1", "1.2.3.4", NULL, NULL},
    {"injection 3, no reply", "IMAP Error: Login failed for admin from 127.0.0.1 from 1.2.3.4",
     LE_LOGIN_FAIL, "admin from 127.0.0.1", "1.2.3.4", NULL, NULL},
    {"injection 4", "IMAP Error: Login failed for admin from 127.0.0.1 in from 1.2.3.4. "
     "AUTHENTICATE PLAIN: A0002 NO Login failed. user=admin from 127.0.0.1 in in "
     "/usr/share/roundcube/program/include/rcube_imap.php on line 205 (POST "
     "/wmail/?_task=login&_action=login)",
     LE_LOGIN_FAIL, "admin from 127.0.0.1 in", "1.2.3.4", NULL, NULL},
    /* nothing for us */
    {"IMAP server down is not a password failure", "IMAP Error: Login failed for bob against "
     "imap.example.com from 192.0.2.7. Could not connect to ssl://imap.example.com:993: "
     "Connection refused in /usr/share/roundcube/program/lib/Roundcube/rcube_imap.php on line 211",
     LE_NONE, NULL, NULL, NULL, NULL},
    {"other IMAP error", "<abcdefgh> IMAP Error: Empty startup greeting (localhost:143) in "
     "/usr/share/roundcube/program/lib/Roundcube/rcube_imap_generic.php on line 1034",
     LE_NONE, NULL, NULL, NULL, NULL},
    {"PHP error", "PHP Error: Failed to load plugin file (GET /?_task=mail)", LE_NONE, NULL, NULL,
     NULL, NULL},
    {"failed login without an address is a miss", "Failed login for admin from nowhere", MISS,
     NULL, NULL, NULL, NULL},
};

static struct logline mkline(const char *msg) { return mkline_of(LL_ROUNDCUBE, "roundcube", msg); }


static void check_case(const struct rcase *c) {
  struct logline l = mkline(c->msg);
  struct logev ev;
  enum logparse_miss miss = LM_NONE;
  memset(&ev, 0, sizeof ev);
  int rc = parse_roundcube(&l, &ev, &miss);
  if (c->kind == MISS) {
    if (rc != 0 || miss != LM_ROUNDCUBE) fail_msg("%s: want a miss, got rc %d", c->name, rc);
    return;
  }
  if (rc != 1) fail_msg("%s: unexpected miss", c->name);
  if ((int)ev.kind != c->kind) fail_msg("%s: kind %s", c->name, logev_kind_name(ev.kind));
  want_sv(c->name, "user", ev.user, c->user);
  want_sv(c->name, "ip", ev.ip, c->ip);
  want_sv(c->name, "session", ev.session, c->session);
  if (c->reason) want_sv(c->name, "reason", ev.reason, c->reason);
  want_sv(c->name, "service", ev.service, c->kind == LE_NONE ? NULL : "webmail");
  assert_int_equal(ev.attempts, c->kind == LE_LOGIN_FAIL ? 1 : 0);
}

static void test_table(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(&cases[i]);
}

static const struct {
  const char *line;
  enum logev_kind kind;
  const char *ip, *user;
} raw[] = {
    {"[10-May-2015 13:02:52 -0400]: <4z506z6r> Failed login for admin@example.com from 1.2.3.4 "
     "in session 4z506z6rvddstv6k7jz08hxo27 (error: 0)",
     LE_LOGIN_FAIL, "1.2.3.4", "admin@example.com"},
    {"[10-May-2015 13:02:52 -0400]: <4z506z6r> Successful login for admin@example.com (ID: 1) "
     "from 1.2.3.4 in session 4z506z6rvddstv6k7jz08hxo27",
     LE_LOGIN_OK, "1.2.3.4", "admin@example.com"},
    {"[22-Jan-2013 22:28:21 +0200]: FAILED login for user1 from 192.0.43.10", LE_LOGIN_FAIL,
     "192.0.43.10", "user1"},
    {"May 19 06:07:48 server roundcube[21296]: <crk9n97i> IMAP Error: Login failed for test from "
     "192.0.2.1. AUTHENTICATE PLAIN: Authentication failed. in "
     "/usr/share/php5/Roundcube/rcube_imap.php on line 193 (POST /mail/?_task=login&_action=login)",
     LE_LOGIN_FAIL, "192.0.2.1", "test"},
    {"May 26 07:12:40 hamster roundcube: IMAP Error: Login failed for sales@example.com from "
     "10.1.1.47",
     LE_LOGIN_FAIL, "10.1.1.47", "sales@example.com"},
};

static void test_pipeline(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++) {
    struct logev ev = parse_raw(raw[i].line, raw[i].kind, LS_ROUNDCUBE);
    want_sv(raw[i].line, "ip", ev.ip, raw[i].ip);
    want_sv(raw[i].line, "user", ev.user, raw[i].user);
  }
}

/* Every prefix of every case must parse without reading past its end (ASan). */
static void test_truncated(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) parse_prefixes(parse_roundcube, mkline(""), cases[i].msg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_table),
      cmocka_unit_test(test_pipeline),
      cmocka_unit_test(test_truncated),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
