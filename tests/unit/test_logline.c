/* test_logline.c - logline_split(): every frame with real lines (anchors-login.md
 * 5.1-5.6, mailbed/README.md, fail2ban/CrowdSec samples), year inference across
 * New Year, zones and offsets, garbage frames; and logparse()'s dispatch by
 * program and its names. */
#include "sources/logevent.h"
#include "sources/logline.h"
#include "testutil.h"

#define NOW 1795435200 /* 2026-11-23T12:00:00Z */

struct want {
  int rc;
  enum logline_kind kind;
  int64_t ts;
  uint32_t usec;
  const char *host, *prog, *pid, *msg;
};

struct tcase {
  const char *name;
  const char *line;
  int tz;
  struct want w;
};

#define FAIL \
  { -1, 0, 0, 0, NULL, NULL, NULL, NULL }

static const struct tcase cases[] = {
    /* classic syslog, year inferred from NOW */
    {"mailbed submission smtpd",
     "Nov 23 11:38:49 mailbed postfix/submission/smtpd[5382]: 0FC56A78811: "
     "client=unknown[127.0.0.1], "
     "sasl_method=PLAIN, sasl_username=alice",
     0,
     {0, LL_SYSLOG, 1795433929, 0, "mailbed", "postfix/submission/smtpd", "5382",
      "0FC56A78811: client=unknown[127.0.0.1], sasl_method=PLAIN, sasl_username=alice"}},
    {"day space-padded",
     "Apr  6 13:05:01 server postfix/smtpd[20589]: NOQUEUE: x",
     0,
     {0, LL_SYSLOG, 1775480701, 0, "server", "postfix/smtpd", "20589", "NOQUEUE: x"}},
    {"day bare",
     "Aug 3 15:30:49 ksusha postfix/smtpd[17041]: warning: x",
     0,
     {0, LL_SYSLOG, 1785771049, 0, "ksusha", "postfix/smtpd", "17041", "warning: x"}},
    {"day zero-padded",
     "Jun 04 22:24:28 machine postfix/smtpd[3967801]: m",
     0,
     {0, LL_SYSLOG, 1780611868, 0, "machine", "postfix/smtpd", "3967801", "m"}},
    {"tz_offset east",
     "Nov 23 11:38:49 mailbed postfix/qmgr[5100]: 0FC56A78811: removed",
     3600,
     {0, LL_SYSLOG, 1795433929 - 3600, 0, "mailbed", "postfix/qmgr", "5100",
      "0FC56A78811: removed"}},
    {"tz_offset west",
     "Nov 23 11:38:49 h p: m",
     -5 * 3600,
     {0, LL_SYSLOG, 1795433929 + 5 * 3600, 0, "h", "p", "", "m"}},
    {"short-precise fraction",
     "Nov 23 11:38:49.123456 h postfix/smtp[1]: m",
     0,
     {0, LL_SYSLOG, 1795433929, 123456, "h", "postfix/smtp", "1", "m"}},
    {"instance name",
     "Jan 31 13:55:24 xxx postfix-incoming/smtpd[3462]: NOQUEUE: reject: x",
     0,
     {0, LL_SYSLOG, 1769867724, 0, "xxx", "postfix-incoming/smtpd", "3462", "NOQUEUE: reject: x"}},
    {"tag without pid",
     "Jun 13 16:30:54 platypus dovecot: imap-login: Disconnected (auth failed, 2 attempts)",
     0,
     {0, LL_SYSLOG, 1781368254, 0, "platypus", "dovecot", "",
      "imap-login: Disconnected (auth failed, 2 attempts)"}},
    {"roundcube via syslog",
     "May 19 06:07:48 server roundcube[21296]: <crk9n97i> IMAP Error: x",
     0,
     {0, LL_SYSLOG, 1779170868, 0, "server", "roundcube", "21296", "<crk9n97i> IMAP Error: x"}},
    {"empty message",
     "Nov 23 11:38:49 h prog[7]:",
     0,
     {0, LL_SYSLOG, 1795433929, 0, "h", "prog", "7", ""}},
    {"CRLF",
     "Nov 23 11:38:49 h prog[7]: m\r",
     0,
     {0, LL_SYSLOG, 1795433929, 0, "h", "prog", "7", "m"}},
    {"RFC 3164 with PRI",
     "<22>Nov 23 11:38:49 mailbed postfix/qmgr[5100]: m",
     0,
     {0, LL_SYSLOG, 1795433929, 0, "mailbed", "postfix/qmgr", "5100", "m"}},
    {"docker compose prefix",
     "postfix-mailcow-1  | Sep 28 22:57:32 host postfix/smtpd[12]: connect from x[192.0.2.1]",
     0,
     {0, LL_SYSLOG, 1790636252, 0, "host", "postfix/smtpd", "12", "connect from x[192.0.2.1]"}},

    /* RFC 3339 / ISO 8601 */
    {"rsyslog RFC 3339 usec",
     "2023-03-14T00:00:31.185246+01:00 helga postfix/postscreen[3163107]: CONNECT from "
     "[192.0.2.1]:36942 to [192.0.2.2]:25",
     0,
     {0, LL_SYSLOG, 1678748431, 185246, "helga", "postfix/postscreen", "3163107",
      "CONNECT from [192.0.2.1]:36942 to [192.0.2.2]:25"}},
    {"RFC 3339 +00:00",
     "2024-08-26T01:33:38.572449+00:00 machine postfix/smtpd[60203]: NOQUEUE: reject: x",
     0,
     {0, LL_SYSLOG, 1724636018, 572449, "machine", "postfix/smtpd", "60203", "NOQUEUE: reject: x"}},
    {"journalctl short-iso +0900",
     "2023-04-13T22:00:01+0900 host postfix/smtpd[123]: m",
     0,
     {0, LL_SYSLOG, 1681390801, 0, "host", "postfix/smtpd", "123", "m"}},
    {"journalctl short-iso-precise",
     "2023-04-13T22:00:01.123456+0900 host postfix/smtpd[123]: m",
     0,
     {0, LL_SYSLOG, 1681390801, 123456, "host", "postfix/smtpd", "123", "m"}},
    {"Z and 3 digits",
     "2023-04-13T13:00:01.123Z host p[1]: m",
     0,
     {0, LL_SYSLOG, 1681390801, 123000, "host", "p", "1", "m"}},
    {"1 digit, negative offset",
     "2023-04-13T08:00:01.5-05:00 host p[1]: m",
     0,
     {0, LL_SYSLOG, 1681390801, 500000, "host", "p", "1", "m"}},
    {"hour-only offset",
     "2023-04-13T22:00:01+09 host p[1]: m",
     0,
     {0, LL_SYSLOG, 1681390801, 0, "host", "p", "1", "m"}},
    {"ISO without zone uses tz_offset",
     "2023-04-13T22:00:01 host p[1]: m",
     9 * 3600,
     {0, LL_SYSLOG, 1681390801, 0, "host", "p", "1", "m"}},
    {"9 fraction digits",
     "2023-04-13T13:00:01.123456789Z host p[1]: m",
     0,
     {0, LL_SYSLOG, 1681390801, 123456, "host", "p", "1", "m"}},

    /* RFC 5424 */
    {"RFC 5424",
     "<22>1 2023-04-13T22:00:01.123456+09:00 host postfix 123 - - msg here",
     0,
     {0, LL_SYSLOG, 1681390801, 123456, "host", "postfix", "123", "msg here"}},
    {"RFC 5424 SD and BOM",
     "<165>1 2023-04-13T13:00:01Z mx.example.com postfix/smtpd 8710 ID47 [exampleSDID@32473 "
     "iut=\"3\" a=\"x\\]y\"][b@1 c=\"d\"] \xEF\xBB\xBFwarning: m",
     0,
     {0, LL_SYSLOG, 1681390801, 0, "mx.example.com", "postfix/smtpd", "8710", "warning: m"}},
    {"RFC 5424 nil fields",
     "<22>1 2023-04-13T13:00:01Z - - - - -",
     0,
     {0, LL_SYSLOG, 1681390801, 0, "", "", "", ""}},

    /* Dovecot log_path: no host, level stripped */
    {"dovecot log_path login",
     "2026-11-23 11:51:40 imap-login: Info: Login: user=<alice>, method=PLAIN, rip=127.0.0.1, "
     "lip=127.0.0.1, mpid=12292, secured, session=<SoOGN/Bg2Op/AAAB>",
     0,
     {0, LL_NOHOST, 1795434700, 0, "", "imap-login", "",
      "Login: user=<alice>, method=PLAIN, rip=127.0.0.1, lip=127.0.0.1, mpid=12292, secured, "
      "session=<SoOGN/Bg2Op/AAAB>"}},
    {"dovecot log_path session process",
     "2026-11-23 11:51:40 imap(alice)<12292><SoOGN/Bg2Op/AAAB>: Info: Disconnected: Logged out "
     "in=33 out=747",
     0,
     {0, LL_NOHOST, 1795434700, 0, "", "imap(alice)<12292><SoOGN/Bg2Op/AAAB>", "",
      "Disconnected: Logged out in=33 out=747"}},
    {"dovecot log_path Warning",
     "2026-11-23 11:51:40 master: Warning: Killed with signal 15 (by pid=12364 uid=0 code=kill)",
     0,
     {0, LL_NOHOST, 1795434700, 0, "", "master", "",
      "Killed with signal 15 (by pid=12364 uid=0 code=kill)"}},
    {"dovecot log_path Error",
     "2026-11-23 11:51:40 auth: Error: policy(carol,127.0.0.1,<ab7XAPBgnKB/AAAB>): Policy server "
     "HTTP error",
     0,
     {0, LL_NOHOST, 1795434700, 0, "", "auth", "",
      "policy(carol,127.0.0.1,<ab7XAPBgnKB/AAAB>): Policy server HTTP error"}},
    {"dovecot log_path classic stamp",
     "Nov 23 11:51:40 pop3-login: Info: Aborted login (auth failed, 1 attempts)",
     0,
     {0, LL_NOHOST, 1795434700, 0, "", "pop3-login", "",
      "Aborted login (auth failed, 1 attempts)"}},
    {"dovecot 2.4 auth layout",
     "Nov 23 11:51:40 auth(info@example.com,192.0.2.110,sasl:login)<CvN+E95Uf4e7eEnj>: Info: sql: "
     "Password mismatch",
     0,
     {0, LL_NOHOST, 1795434700, 0, "",
      "auth(info@example.com,192.0.2.110,sasl:login)<CvN+E95Uf4e7eEnj>", "",
      "sql: Password mismatch"}},
    {"multilog TAI64N",
     "@400000004c91b044077a9e94 imap-login: Info: Aborted login (auth failed, 1 attempts)",
     0,
     {0, LL_NOHOST, 1284616250, 125476, "", "imap-login", "",
      "Aborted login (auth failed, 1 attempts)"}},
    {"host-less syslog with pid",
     "Nov 23 11:51:40 postfix/smtpd[9]: connect from x[192.0.2.1]",
     0,
     {0, LL_NOHOST, 1795434700, 0, "", "postfix/smtpd", "9", "connect from x[192.0.2.1]"}},

    /* Roundcube */
    {"roundcube userlogins",
     "[13-Apr-2023 22:00:01 +0900]: <4z506z6r> Failed login for admin@example.com from 1.2.3.4",
     0,
     {0, LL_ROUNDCUBE, 1681390801, 0, "", "roundcube", "",
      "<4z506z6r> Failed login for admin@example.com from 1.2.3.4"}},
    {"roundcube old, +0200",
     "[22-Jan-2013 22:28:21 +0200]: FAILED login for user1 from 192.0.43.10",
     0,
     {0, LL_ROUNDCUBE, 1358886501, 0, "", "roundcube", "",
      "FAILED login for user1 from 192.0.43.10"}},
    {"roundcube -0400",
     "[10-May-2015 13:02:52 -0400]: <4z506z6r> Failed login for admin@example.com from 1.2.3.4 in "
     "session 4z506z6rvddstv6k7jz08hxo27 (error: 0)",
     0,
     {0, LL_ROUNDCUBE, 1431277372, 0, "", "roundcube", "",
      "<4z506z6r> Failed login for admin@example.com from 1.2.3.4 in session "
      "4z506z6rvddstv6k7jz08hxo27 (error: 0)"}},

    /* Exim mainlog */
    {"exim pid and id",
     "2014-08-10 11:18:35 [28107] 1gsu1C-003dCu-Hb <= aaron@domain.com H=x",
     0,
     {0, LL_EXIM, 1407669515, 0, "", "exim", "28107", "1gsu1C-003dCu-Hb <= aaron@domain.com H=x"}},
    {"exim zone",
     "2023-04-13 22:00:01 +0900 1gsu1C-003dCu-Hb Completed",
     0,
     {0, LL_EXIM, 1681390801, 0, "", "exim", "", "1gsu1C-003dCu-Hb Completed"}},
    {"exim zone and pid",
     "2023-04-13 22:00:01 +0900 [123] Start queue run: pid=123",
     0,
     {0, LL_EXIM, 1681390801, 0, "", "exim", "123", "Start queue run: pid=123"}},
    {"exim no zone uses tz_offset",
     "2023-04-13 22:00:01 1gsu1C-003dCu-Hb Completed",
     9 * 3600,
     {0, LL_EXIM, 1681390801, 0, "", "exim", "", "1gsu1C-003dCu-Hb Completed"}},
    {"exim authenticator failed",
     "2014-01-12 02:07:48 dovecot_login authenticator failed for h1832461.stratoserver.net (User) "
     "[85.214.85.40]: 535 Incorrect authentication data (set_id=scanner)",
     0,
     {0, LL_EXIM, 1389492468, 0, "", "exim", "",
      "dovecot_login authenticator failed for h1832461.stratoserver.net (User) [85.214.85.40]: 535 "
      "Incorrect authentication data (set_id=scanner)"}},
    {"exim 4.97 long id",
     "2024-03-21 19:26:06 1rnK0m-000000002iA-3nGt DKIM: d=x",
     0,
     {0, LL_EXIM, 1711049166, 0, "", "exim", "", "1rnK0m-000000002iA-3nGt DKIM: d=x"}},
    {"exim Warning word",
     "2024-03-21 19:26:06 Warning: No server certificate defined",
     0,
     {0, LL_EXIM, 1711049166, 0, "", "exim", "", "Warning: No server certificate defined"}},
    {"ISO-space stamp with host and tag",
     "2019-10-22 03:39:17 mx1.fqdn.local exim[29786]: dovecot_login authenticator failed",
     0,
     {0, LL_SYSLOG, 1571715557, 0, "mx1.fqdn.local", "exim", "29786",
      "dovecot_login authenticator failed"}},
    {"stamp only inside the message",
     "mail.example.com exim[3751842]: 2021-07-17 23:20:49 plain_server authenticator failed",
     0,
     {0, LL_SYSLOG, 1626564049, 0, "mail.example.com", "exim", "3751842",
      "plain_server authenticator failed"}},

    /* garbage */
    {"empty", "", 0, FAIL},
    {"words", "hello world, this is not a log line", 0, FAIL},
    {"bad month", "Foo 23 11:38:49 host prog: x", 0, FAIL},
    {"day 32", "Nov 32 11:38:49 host prog: x", 0, FAIL},
    {"day 0", "Nov  0 11:38:49 host prog: x", 0, FAIL},
    {"hour 25", "Nov 23 25:38:49 host prog: x", 0, FAIL},
    {"minute 60", "Nov 23 11:60:49 host prog: x", 0, FAIL},
    {"stamp only", "Nov 23 11:38:49", 0, FAIL},
    {"no tag", "Nov 23 11:38:49 host", 0, FAIL},
    {"tag without colon", "Nov 23 11:38:49 host last message repeated 3 times", 0, FAIL},
    {"unterminated pid", "Nov 23 11:38:49 host prog[123 msg", 0, FAIL},
    {"pid without colon", "Nov 23 11:38:49 host prog[123] msg", 0, FAIL},
    {"iso month 13", "2023-13-01T00:00:00Z host p: x", 0, FAIL},
    {"iso zone hour 25", "2023-04-13T22:00:01+25:00 host p: x", 0, FAIL},
    {"iso empty fraction", "2023-04-13T22:00:01. host p: x", 0, FAIL},
    {"iso zone garbage", "2023-04-13T22:00:01+x host p: x", 0, FAIL},
    {"iso truncated", "2023-04-13T22:00", 0, FAIL},
    {"5424 nil time", "<22>1 - host app - - - msg", 0, FAIL},
    {"5424 unterminated SD", "<22>1 2023-04-13T13:00:01Z h a p m [x y=\"z\"", 0, FAIL},
    {"5424 too few fields", "<22>1 2023-04-13T13:00:01Z h a", 0, FAIL},
    {"PRI too long", "<123456>1 2023-04-13T13:00:01Z h a p m - x", 0, FAIL},
    {"PRI unterminated", "<22 Nov 23 11:38:49 h p: m", 0, FAIL},
    {"roundcube no bracket", "[13-Apr-2023 22:00:01 +0900: x", 0, FAIL},
    {"roundcube bad month", "[13-Apx-2023 22:00:01 +0900]: x", 0, FAIL},
    {"tai64n bad hex", "@40000000zc91b044077a9e94 imap-login: Info: x", 0, FAIL},
    {"tai64n short", "@400000004c91b044 imap-login: Info: x", 0, FAIL},
    {"container then garbage", "web-1  | hello there", 0, FAIL},
    {"container without bar", "web-1  hello | Nov 23 11:38:49 h p: m", 0, FAIL},
    {"binary", "\x01\x02\x03\xff\xfe", 0, FAIL},
};

static void str_eq(const char *what, const char *name, struct strview v, const char *want) {
  if (!sv_eq(v, want))
    fail_msg("%s: %s = \"%.*s\", want \"%s\"", name, what, (int)v.len, v.p ? v.p : "", want);
}

static void test_table(void **state) {
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    const struct tcase *c = &cases[i];
    struct logtime t = {0, 0, c->tz, NOW};
    struct logline l;
    memset(&l, 0, sizeof l);
    int rc = logline_split(c->line, strlen(c->line), &t, &l);
    if (rc != c->w.rc) fail_msg("%s: rc %d, want %d", c->name, rc, c->w.rc);
    if (rc < 0) continue;
    if (l.kind != c->w.kind) fail_msg("%s: kind %d, want %d", c->name, l.kind, c->w.kind);
    if (l.ts != c->w.ts)
      fail_msg("%s: ts %lld, want %lld", c->name, (long long)l.ts, (long long)c->w.ts);
    if (l.usec != c->w.usec) fail_msg("%s: usec %u, want %u", c->name, l.usec, c->w.usec);
    str_eq("host", c->name, l.host, c->w.host);
    str_eq("prog", c->name, l.prog, c->w.prog);
    str_eq("pid", c->name, l.pid, c->w.pid);
    str_eq("msg", c->name, l.msg, c->w.msg);
  }
  print_message("# %zu frame cases\n", sizeof cases / sizeof *cases);
}

/* A sequence of year-less stamps through one logtime. */
struct yseq {
  const char *line;
  int64_t ts; /* -1: the line must not split */
};

static void run_years(const char *name, struct logtime t, const struct yseq *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    struct logline l;
    int rc = logline_split(s[i].line, strlen(s[i].line), &t, &l);
    if (s[i].ts < 0) {
      if (rc != -1) fail_msg("%s[%zu]: split, want -1", name, i);
      continue;
    }
    if (rc != 0) fail_msg("%s[%zu]: rc %d", name, i, rc);
    if (l.ts != s[i].ts)
      fail_msg("%s[%zu] %s: ts %lld, want %lld", name, i, s[i].line, (long long)l.ts,
               (long long)s[i].ts);
  }
}

#define RUN_YEARS(name, t, s) run_years(name, t, s, sizeof s / sizeof *s)

static void test_new_year(void **state) {
  /* file written on 2026-01-05: the December lines are from 2025 */
  static const struct yseq a[] = {
      {"Dec 30 10:00:00 h p: m", 1767088800},
      {"Dec 31 23:59:59 h p: m", 1767225599},
      {"garbage line", -1},
      {"2026-08-14T12:00:00Z h p: iso lines do not move the year", 1786708800},
      {"Jan  1 00:00:01 h p: m", 1767225601},
      {"Dec 31 23:59:58 h p: late line from before midnight", 1767225598},
      {"Jan  2 08:00:00 h p: m", 1767340800},
  };
  RUN_YEARS("new year", ((struct logtime){0, 0, 0, 1767571200}), a);
  /* a month back near a month's end keeps the year */
  static const struct yseq b[] = {
      {"Feb  1 00:00:00 h p: m", 1769904000},
      {"Jan 31 23:59:59 h p: late", 1769903999},
      {"Feb  1 00:00:00 h p: m", 1769904000},
  };
  RUN_YEARS("month back", ((struct logtime){0, 0, 0, NOW}), b);
  /* the month after now's month is still this year; two after is last year */
  static const struct yseq c[] = {{"Dec  1 00:00:00 h p: m", 1796083200}};
  RUN_YEARS("next month", ((struct logtime){0, 0, 0, NOW}), c);
  static const struct yseq d[] = {{"Oct  1 00:00:00 h p: m", 1759276800}};
  RUN_YEARS("two months on", ((struct logtime){0, 0, 0, 1786708800}), d);
  /* the caller's year wins */
  static const struct yseq e[] = {{"Feb 29 12:00:00 h p: m", 1709208000}};
  RUN_YEARS("preset year", ((struct logtime){2024, 0, 0, NOW}), e);
  /* local time decides the first year: 00:30Z on Jan 1 is Dec 31 at UTC-1 */
  static const struct yseq f[] = {{"Dec 31 23:30:00 h p: m", 1767227400}};
  RUN_YEARS("zone and year", ((struct logtime){0, 0, -3600, 1767227400}), f);
}

static void test_two_new_years(void **state) {
  struct logtime t = {0, 0, 0, 1767571200}; /* 2026-01-05 */
  const char *lines[] = {"Nov 30 00:00:00 h p: m", "Jan  1 00:00:00 h p: m",
                         "Jun  1 00:00:00 h p: m", "Dec  1 00:00:00 h p: m",
                         "Jan  1 00:00:00 h p: m"};
  struct logline l;
  for (size_t i = 0; i < 5; i++)
    assert_int_equal(logline_split(lines[i], strlen(lines[i]), &t, &l), 0);
  assert_int_equal(t.year, 2027);
  assert_int_equal(l.ts, 1798761600); /* 2027-01-01 */
}

static void test_too_long(void **state) {
  static char buf[LOG_LINE_MAX + 2];
  const char *head = "Nov 23 11:38:49 h p[1]: ";
  size_t hl = strlen(head);
  memcpy(buf, head, hl);
  memset(buf + hl, 'x', sizeof buf - hl);
  struct logtime t = {0, 0, 0, NOW};
  struct logline l;
  assert_int_equal(logline_split(buf, LOG_LINE_MAX, &t, &l), 0);
  assert_int_equal(l.msg.len, LOG_LINE_MAX - hl);
  assert_int_equal(logline_split(buf, LOG_LINE_MAX + 1, &t, &l), -1);
}

/* The line is never written and every view lies inside it. */
static void test_views_inside(void **state) {
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    size_t n = strlen(cases[i].line);
    char *copy = malloc(n + 1);
    memcpy(copy, cases[i].line, n + 1);
    struct logtime t = {0, 0, 0, NOW};
    struct logline l;
    if (logline_split(copy, n, &t, &l) == 0) {
      const struct strview *v[] = {&l.host, &l.pid, &l.msg, &l.prog};
      size_t nv = l.kind == LL_ROUNDCUBE || l.kind == LL_EXIM ? 3 : 4;
      for (size_t j = 0; j < nv; j++)
        if (v[j]->len) assert_true(v[j]->p >= copy && v[j]->p + v[j]->len <= copy + n);
    }
    assert_memory_equal(copy, cases[i].line, n + 1);
    free(copy);
  }
}

/* logparse(): which parser a program reaches. */
static void test_dispatch(void **state) {
  static const struct {
    const char *line;
    int rc;
    enum logev_source src;
    enum logparse_miss miss;
  } d[] = {
      {"Nov 23 11:38:49 h postfix/qmgr[1]: 0FC56A78811: removed", 1, LS_POSTFIX, LM_NONE},
      {"Nov 23 11:38:49 h postfix-out/submission/smtpd[1]: connect from x[192.0.2.1]", 1,
       LS_POSTFIX, LM_NONE},
      {"Nov 23 11:38:49 h postfix/smtpd[1]: something we do not know", 0, 0, LM_POSTFIX},
      {"Nov 23 11:38:49 h postfixx[1]: x", 0, 0, LM_OTHER_PROGRAM},
      {"Nov 23 11:38:49 h CRON[1]: (root) CMD (x)", 0, 0, LM_OTHER_PROGRAM},
      {"Nov 23 11:38:49 h amavis[1]: (1-1) Passed CLEAN", 0, 0, LM_OTHER_PROGRAM},
      {"Nov 23 11:38:49 h imap[1]: not dovecot in syslog", 0, 0, LM_OTHER_PROGRAM},
  };
  for (size_t i = 0; i < sizeof d / sizeof *d; i++) {
    struct logtime t = {0, 0, 0, NOW};
    struct logline l;
    struct logev ev;
    enum logparse_miss m = LM__N;
    assert_int_equal(logline_split(d[i].line, strlen(d[i].line), &t, &l), 0);
    int rc = logparse(&l, &ev, &m);
    if (rc != d[i].rc) fail_msg("%s: rc %d miss %s", d[i].line, rc, logparse_miss_name(m));
    if (rc == 1) {
      assert_int_equal(ev.source, d[i].src);
      assert_int_equal(ev.ts, l.ts);
    } else {
      assert_int_equal(m, d[i].miss);
    }
  }
  /* Dovecot, Roundcube and Exim programs reach their parsers (whatever they make of it) */
  static const struct {
    const char *line;
    enum logev_source src;
    enum logparse_miss miss;
  } r[] = {
      {"Nov 23 11:38:49 h dovecot: imap-login: Login: user=<a>", LS_DOVECOT, LM_DOVECOT},
      {"2026-11-23 11:51:40 imap-login: Info: Login: user=<a>", LS_DOVECOT, LM_DOVECOT},
      {"2026-11-23 11:51:40 lmtp(bob)<1><x>: Info: saved mail to INBOX", LS_DOVECOT, LM_DOVECOT},
      {"2026-11-23 11:51:40 auth-worker(304): Info: pam(u,1.2.3.4): x", LS_DOVECOT, LM_DOVECOT},
      {"[13-Apr-2023 22:00:01 +0900]: <4z506z6r> x", LS_ROUNDCUBE, LM_ROUNDCUBE},
      {"2023-04-13 22:00:01 1gsu1C-003dCu-Hb Completed", LS_EXIM, LM_EXIM},
      {"Nov 23 11:38:49 h exim4[1]: 1gsu1C-003dCu-Hb Completed", LS_EXIM, LM_EXIM},
  };
  for (size_t i = 0; i < sizeof r / sizeof *r; i++) {
    struct logtime t = {0, 0, 0, NOW};
    struct logline l;
    struct logev ev;
    enum logparse_miss m = LM_NONE;
    assert_int_equal(logline_split(r[i].line, strlen(r[i].line), &t, &l), 0);
    if (logparse(&l, &ev, &m) == 1)
      assert_int_equal(ev.source, r[i].src);
    else if (m != r[i].miss)
      fail_msg("%s: miss %s", r[i].line, logparse_miss_name(m));
  }
}

static void test_names(void **state) {
  assert_string_equal(logev_kind_name(LE_NONE), "none");
  assert_string_equal(logev_kind_name(LE_LOGIN_FAIL), "login_fail");
  assert_string_equal(logev_kind_name(LE_DELIVERY), "delivery");
  assert_string_equal(logev_kind_name(LE_ARRIVAL), "arrival");
  assert_string_equal(logev_kind_name(LE__N), "unknown");
  assert_string_equal(logparse_miss_name(LM_FRAME), "frame");
  assert_string_equal(logparse_miss_name(LM_TOO_LONG), "too_long");
  assert_string_equal(logparse_miss_name(LM_OTHER_PROGRAM), "other_program");
  assert_string_equal(logparse_miss_name(LM__N), "unknown");
  for (int k = 0; k < LE__N; k++) {
    const char *n = logev_kind_name((enum logev_kind)k);
    assert_string_not_equal(n, "unknown");
    for (const char *p = n; *p; p++) assert_true((*p >= 'a' && *p <= 'z') || *p == '_');
  }
  for (int m = 0; m < LM__N; m++)
    assert_string_not_equal(logparse_miss_name((enum logparse_miss)m), "unknown");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_table),         cmocka_unit_test(test_new_year),
      cmocka_unit_test(test_two_new_years), cmocka_unit_test(test_too_long),
      cmocka_unit_test(test_views_inside),  cmocka_unit_test(test_dispatch),
      cmocka_unit_test(test_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
