/* test_parse_exim.c - parse_exim() on Exim main log lines
 *
 * Lines from ../shared/research/anchors-login.md 5.5 and the fail2ban,
 * CrowdSec and Wazuh exim samples; delivery lines follow the Exim spec's
 * main log format (chapter "Log files"). The first table builds the
 * struct logline by hand, the second runs raw lines through logline_split
 * + logparse.
 */
#include "parsetest.h"

#define MISS (-1) /* want: parse_exim returns 0 with LM_EXIM */

struct ecase {
  const char *name;
  const char *msg; /* as logline_split leaves it for an Exim mainlog line */
  int kind;        /* enum logev_kind, or MISS */
  const char *qid, *sender, *user, *ip, *method, *rcpt, *rcpts, *relay, *status, *dsn, *msgid;
  unsigned nrcpt;
  uint64_t size;
};

static const struct ecase cases[] = {
    /* arrivals */
    {"authenticated arrival (research 5.5)",
     "1gsu1C-003dCu-Hb <= aaron@domain.com H=localhost (10.5.40.204) [127.0.0.1]:39753 "
     "I=[127.0.0.1]:25 P=esmtpa A=dovecot_plain:aaron@domain.com S=4315 M8S=0 "
     "id=d2b648f00f1a1b0813c483d552778dc6@domain.com T=\"what's up?!? ;-)\" from "
     "<aaron@domain.com> for aaron+forward@domain.com",
     LE_ARRIVAL, "1gsu1C-003dCu-Hb", "aaron@domain.com", "aaron@domain.com", "127.0.0.1",
     "dovecot_plain", NULL, "aaron+forward@domain.com", NULL, NULL, NULL,
     "d2b648f00f1a1b0813c483d552778dc6@domain.com", 1, 4315},
    {"helo that looks like an address, quoted subject with \" for \"",
     "1rnXyZ-000ABD-Qw <= spam@example.org H=([10.0.0.1]) [203.0.113.5]:1234 P=esmtpsa "
     "X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no A=login:victim@example.edu S=1200 id=x@y "
     "T=\"cheap \\\"meds\\\" for you\" from <spam@example.org> for a@example.net b@example.net "
     "c@example.net",
     LE_ARRIVAL, "1rnXyZ-000ABD-Qw", "spam@example.org", "victim@example.edu", "203.0.113.5",
     "login", NULL, "a@example.net b@example.net c@example.net", NULL, NULL, NULL, "x@y", 3, 1200},
    {"bounce from the local system, no A=",
     "1rnXyZ-000ABC-Qw <= <> R=1rnXyA-000ABC-Aa U=mailnull P=local S=2345 T=\"Mail delivery "
     "failed: returning message to sender\" for bob@example.com",
     LE_ARRIVAL, "1rnXyZ-000ABC-Qw", NULL, NULL, NULL, NULL, NULL, "bob@example.com", NULL, NULL,
     NULL, NULL, 1, 2345},
    {"A= with smtp_mailauth sender",
     "1rnXyZ-000ABG-Qw <= a@example.edu H=(pc) [192.0.2.44]:5000 P=esmtpa "
     "A=plain_server:a@example.edu:a@example.edu S=99",
     LE_ARRIVAL, "1rnXyZ-000ABG-Qw", "a@example.edu", "a@example.edu", "192.0.2.44",
     "plain_server", NULL, NULL, NULL, NULL, NULL, NULL, 0, 99},
    {"Exim 4.97 long message id",
     "1rXyZa-00000000Abc-0Xyz <= b@example.edu H=(pc) [192.0.2.45]:5000 P=esmtpsa "
     "A=login:b@example.edu S=10 for x@example.net",
     LE_ARRIVAL, "1rXyZa-00000000Abc-0Xyz", "b@example.edu", "b@example.edu", "192.0.2.45",
     "login", NULL, "x@example.net", NULL, NULL, NULL, NULL, 1, 10},
    /* deliveries */
    {"remote delivery",
     "1rnXyZ-000ABD-Qw => a@example.net R=dnslookup T=remote_smtp H=mx.example.net "
     "[198.51.100.7] X=TLS1.2:ECDHE-RSA-AES128-GCM-SHA256:128 CV=yes C=\"250 2.0.0 OK id=1abc\"",
     LE_DELIVERY, "1rnXyZ-000ABD-Qw", NULL, NULL, NULL, NULL, "a@example.net", NULL,
     "mx.example.net [198.51.100.7]", "sent", NULL, NULL, 0, 0},
    {"additional address",
     "1rnXyZ-000ABD-Qw -> b@example.net R=dnslookup T=remote_smtp H=mx.example.net "
     "[198.51.100.7]",
     LE_DELIVERY, "1rnXyZ-000ABD-Qw", NULL, NULL, NULL, NULL, "b@example.net", NULL,
     "mx.example.net [198.51.100.7]", "sent", NULL, NULL, 0, 0},
    {"bounce with dsn",
     "1rnXyZ-000ABD-Qw ** c@example.net R=dnslookup T=remote_smtp H=mx2.example.net "
     "[198.51.100.8]: SMTP error from remote mail server after RCPT TO:<c@example.net>: 550 5.1.1 "
     "<c@example.net>: Recipient address rejected: User unknown",
     LE_DELIVERY, "1rnXyZ-000ABD-Qw", NULL, NULL, NULL, NULL, "c@example.net", NULL,
     "mx2.example.net [198.51.100.8]", "bounced", "5.1.1", NULL, 0, 0},
    {"deferred",
     "1rnXyZ-000ABE-Qw == d@example.net R=dnslookup T=remote_smtp defer (-44) H=mx3.example.net "
     "[198.51.100.9]: SMTP error from remote mail server after RCPT TO:<d@example.net>: 451 4.7.1 "
     "Greylisted, try again later",
     LE_DELIVERY, "1rnXyZ-000ABE-Qw", NULL, NULL, NULL, NULL, "d@example.net", NULL,
     "mx3.example.net [198.51.100.9]", "deferred", "4.7.1", NULL, 0, 0},
    {"local delivery: the original address",
     "1rnXyZ-000ABF-Qw => bob <bob@example.com> R=localuser T=local_delivery", LE_DELIVERY,
     "1rnXyZ-000ABF-Qw", NULL, NULL, NULL, NULL, "bob@example.com", NULL, "local_delivery", "sent",
     NULL, NULL, 0, 0},
    {"completed", "1rnXyZ-000ABF-Qw Completed", LE_REMOVED, "1rnXyZ-000ABF-Qw", NULL, NULL, NULL,
     NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0},
    /* authenticator failures */
    {"auth failed with set_id (research 5.5)",
     "dovecot_login authenticator failed for h1832461.stratoserver.net (User) [85.214.85.40]: 535 "
     "Incorrect authentication data (set_id=scanner)",
     LE_LOGIN_FAIL, NULL, NULL, "scanner", "85.214.85.40", "dovecot_login", NULL, NULL, NULL, NULL,
     NULL, NULL, 0, 0},
    {"auth failed with port, I= and Ci=",
     "dovecot_login authenticator failed for (User) [194.169.175.1]:21298 I=[22.33.44.55]:465 "
     "Ci=30416: 535 Incorrect authentication data (set_id=uaf589@example.com)",
     LE_LOGIN_FAIL, NULL, NULL, "uaf589@example.com", "194.169.175.1", "dovecot_login", NULL, NULL,
     NULL, NULL, NULL, NULL, 0, 0},
    {"auth failed, helo in brackets",
     "login authenticator failed for rrcs-24-106-174-74.se.biz.rr.com ([192.168.2.33]) "
     "[24.106.174.74]: 535 Incorrect authentication data (set_id=brian)",
     LE_LOGIN_FAIL, NULL, NULL, "brian", "24.106.174.74", "login", NULL, NULL, NULL, NULL, NULL,
     NULL, 0, 0},
    {"auth failed, no set_id, Time(s) suffix",
     "plain authenticator failed for ([192.168.2.102]) [91.218.72.71]: 535 Incorrect "
     "authentication data: 1 Time(s)",
     LE_LOGIN_FAIL, NULL, NULL, NULL, "91.218.72.71", "plain", NULL, NULL, NULL, NULL, NULL, NULL,
     0, 0},
    {"auth failed over IPv6 (Wazuh)",
     "dovecot_plain authenticator failed for (test) [::1]:39454: 535 Incorrect authentication data "
     "(set_id=test)",
     LE_LOGIN_FAIL, NULL, NULL, "test", "::1", "dovecot_plain", NULL, NULL, NULL, NULL, NULL, NULL,
     0, 0},
    {"set_id is the client's text, to the last ')'",
     "dovecot_login authenticator failed for (User) [192.0.2.5]:1: 535 Incorrect authentication "
     "data (set_id=evil) (set_id=root)",
     LE_LOGIN_FAIL, NULL, NULL, "evil) (set_id=root", "192.0.2.5", "dovecot_login", NULL, NULL,
     NULL, NULL, NULL, NULL, 0, 0},
    {"pid and journal time stamp in front",
     "2021-07-17 23:20:49 [3751842] plain_server authenticator failed for ([192.0.2.17]) "
     "[192.0.2.27]: 535 Incorrect authentication data",
     LE_LOGIN_FAIL, NULL, NULL, NULL, "192.0.2.27", "plain_server", NULL, NULL, NULL, NULL, NULL,
     NULL, 0, 0},
    /* nothing for us */
    {"435: the auth backend is down",
     "dovecot_login authenticator failed for (User) [194.169.175.1]:21298: 435 Unable to "
     "authenticate at present (set_id=uaf589@example.com)",
     LE_NONE, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0},
    {"RCPT reject", "H=imfo.test.biz [1.2.3.4]:35328 X=TLS1.2:ECDHE-RSA-AES256-GCM-SHA384:256 "
     "CV=no F=<jack@test.biz> rejected RCPT <sales@toto.com.au>: No Such User Here",
     LE_NONE, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0},
    {"connection lost", "SMTP connection from (hydra) [10.101.1.10]:53682 lost", LE_NONE, NULL,
     NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0},
    {"no host name found", "no host name found for IP address 192.0.2.8", LE_NONE, NULL, NULL,
     NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0},
    {"Frozen message", "1rnXyZ-000ABF-Qw Frozen (delivery error message)", LE_NONE, NULL, NULL,
     NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0},
    /* broken shapes */
    {"arrival without a sender", "1rnXyZ-000ABF-Qw <=", MISS, NULL, NULL, NULL, NULL, NULL, NULL,
     NULL, NULL, NULL, NULL, NULL, 0, 0},
    {"auth failure without an address",
     "x authenticator failed for nothing: 535 Incorrect authentication data", MISS, NULL, NULL,
     NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0},
};

static struct logline mkline(const char *msg) { return mkline_of(LL_EXIM, "exim", msg); }


static void check_case(const struct ecase *c) {
  struct logline l = mkline(c->msg);
  struct logev ev;
  enum logparse_miss miss = LM_NONE;
  memset(&ev, 0, sizeof ev);
  int rc = parse_exim(&l, &ev, &miss);
  if (c->kind == MISS) {
    if (rc != 0 || miss != LM_EXIM) fail_msg("%s: want a miss, got rc %d", c->name, rc);
    return;
  }
  if (rc != 1) fail_msg("%s: unexpected miss", c->name);
  if ((int)ev.kind != c->kind) fail_msg("%s: kind %s", c->name, logev_kind_name(ev.kind));
  want_sv(c->name, "qid", ev.qid, c->qid);
  want_sv(c->name, "sender", ev.sender, c->sender);
  want_sv(c->name, "user", ev.user, c->user);
  want_sv(c->name, "ip", ev.ip, c->ip);
  want_sv(c->name, "method", ev.method, c->method);
  want_sv(c->name, "rcpt", ev.rcpt, c->rcpt);
  want_sv(c->name, "rcpts", ev.rcpts, c->rcpts);
  want_sv(c->name, "relay", ev.relay, c->relay);
  want_sv(c->name, "status", ev.status, c->status);
  want_sv(c->name, "dsn", ev.dsn, c->dsn);
  want_sv(c->name, "msgid", ev.msgid, c->msgid);
  if (ev.nrcpt != c->nrcpt) fail_msg("%s: nrcpt %u, want %u", c->name, ev.nrcpt, c->nrcpt);
  if (ev.size != c->size) fail_msg("%s: size %llu", c->name, (unsigned long long)ev.size);
  bool smtp = c->kind == LE_ARRIVAL || c->kind == LE_LOGIN_FAIL;
  want_sv(c->name, "service", ev.service, smtp ? "smtp" : NULL);
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
    {"2014-08-10 11:18:35 [28107] 1gsu1C-003dCu-Hb <= aaron@domain.com H=localhost "
     "(10.5.40.204) [127.0.0.1]:39753 I=[127.0.0.1]:25 P=esmtpa A=dovecot_plain:aaron@domain.com "
     "S=4315 M8S=0 id=d2b648f00f1a1b0813c483d552778dc6@domain.com T=\"what's up?!? ;-)\" from "
     "<aaron@domain.com> for aaron+forward@domain.com",
     LE_ARRIVAL, "127.0.0.1", "aaron@domain.com"},
    {"2014-01-12 02:07:48 dovecot_login authenticator failed for h1832461.stratoserver.net "
     "(User) [85.214.85.40]: 535 Incorrect authentication data (set_id=scanner)",
     LE_LOGIN_FAIL, "85.214.85.40", "scanner"},
    {"2023-05-30 06:10:13.345 login authenticator failed for millis.example.org "
     "[192.0.2.12]:5432: 535 Incorrect authentication data (set_id=user)",
     LE_LOGIN_FAIL, "192.0.2.12", "user"},
    {"2019-10-22 03:39:17 mx1.fqdn.local exim[29786]: dovecot_login authenticator failed for "
     "(User) [192.0.2.37]: 535 Incorrect authentication data (set_id=test@domain.com)",
     LE_LOGIN_FAIL, "192.0.2.37", "test@domain.com"},
    {"Jun 29 16:04:05 server exim[1234]: dovecot_plain authenticator failed for (mail.test.com) "
     "[202.137.142.181]:47807: 535 Incorrect authentication data (set_id=dave)",
     LE_LOGIN_FAIL, "202.137.142.181", "dave"},
    {"2016-04-01 11:08:00 info exim[8001]: [8001] no MAIL in SMTP connection from (User) "
     "[192.0.2.29]:20042 I=[192.0.2.1]:25 Ci=8001 D=0.349s C=EHLO,AUTH,QUIT",
     LE_NONE, NULL, NULL},
};

static void test_pipeline(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++) {
    struct logev ev = parse_raw(raw[i].line, raw[i].kind, LS_EXIM);
    want_sv(raw[i].line, "ip", ev.ip, raw[i].ip);
    want_sv(raw[i].line, "user", ev.user, raw[i].user);
  }
}

/* Every prefix of every case must parse without reading past its end (ASan). */
static void test_truncated(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) parse_prefixes(parse_exim, mkline(""), cases[i].msg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_table),
      cmocka_unit_test(test_pipeline),
      cmocka_unit_test(test_truncated),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
