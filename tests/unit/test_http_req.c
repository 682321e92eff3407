/* test_http_req.c - the strict HTTP/1.x request-head parser: the captured
 * Dovecot request (and every prefix of it), a table of accepted and refused
 * heads, the api header check and the 8 KiB limit. */
#include "testutil.h"

#include "sources/http_req.h"

#define HOST "Host: x\r\n"

static const struct http_api api = {{"X-API-Key", 9}, {"s3cret", 6}};

static bool sv_is(struct strview v, const char *s) { return sv_eq(v, s ? s : ""); }

/* The request Dovecot 2.3.19 sent (tests/authpolicy/raw-allow.http). */
static size_t load_capture(char *buf, size_t cap) {
  char path[1024];
  snprintf(path, sizeof path, "%s/tests/authpolicy/raw-allow.http", getenv("MAILFUSE_SRCDIR"));
  FILE *fp = fopen(path, "rb");
  assert_non_null(fp);
  size_t n = fread(buf, 1, cap, fp);
  fclose(fp);
  return n;
}

static void test_capture(void **state) {
  (void)state;
  static char raw[4096];
  size_t n = load_capture(raw, sizeof raw);
  struct http_req r;
  enum http_err e;
  long h = http_req_parse(raw, n, &api, &r, &e);
  assert_true(h > 0);
  assert_int_equal(n - (size_t)h, 131); /* Content-Length: 131 */
  assert_int_equal(r.head_len, (size_t)h);
  assert_true(sv_is(r.method, "POST") && r.post);
  assert_true(sv_is(r.target, "/?command=allow"));
  assert_true(sv_is(r.path, "/") && sv_is(r.query, "command=allow") && r.has_query);
  assert_int_equal(r.minor, 1);
  assert_true(r.keep_alive && r.has_length && r.api_ok && !r.expect_continue);
  assert_int_equal(r.length, 131);
  /* every shorter prefix is incomplete; what follows the head changes nothing */
  for (size_t i = 0; i < (size_t)h; i++) {
    struct http_req p;
    assert_int_equal(http_req_parse(raw, i, &api, &p, &e), 0);
  }
  for (size_t i = (size_t)h; i <= n; i++) {
    struct http_req p;
    assert_int_equal(http_req_parse(raw, i, &api, &p, &e), h);
    assert_int_equal(p.length, 131);
    assert_true(p.api_ok && sv_is(p.query, "command=allow"));
  }
  assert_true(http_req_parse(raw, (size_t)h, NULL, &r, &e) == h && r.api_ok); /* not asked */
  static const struct http_api other = {{"x-api-key", 9}, {"s3cre", 5}};
  assert_true(http_req_parse(raw, (size_t)h, &other, &r, &e) == h && !r.api_ok);
}

struct tcase {
  const char *name, *in;
  int want;             /* 1 parsed, 0 need more, -1 error */
  enum http_err err;
  const char *method, *path, *query;
  unsigned minor;
  bool keep_alive;
  long length;          /* -1: no Content-Length */
  bool api_ok;
};

/* Head of a request without the api header: parsed, no length, keep-alive 1.1. */
#define OK11(name, in, path, query) {name, in, 1, HTTP_ERR_NONE, "POST", path, query, 1, true, -1, false}
#define BAD(name, in, e) {name, in, -1, e, NULL, NULL, NULL, 0, false, -1, false}

static const struct tcase cases[] = {
    OK11("minimal", "POST / HTTP/1.1\r\n" HOST "\r\n", "/", NULL),
    OK11("path and query", "POST /policy?site=edu&command=allow HTTP/1.1\r\n" HOST "\r\n", "/policy",
         "site=edu&command=allow"),
    OK11("empty query", "POST /p? HTTP/1.1\r\n" HOST "\r\n", "/p", ""),
    OK11("absolute form", "POST http://127.0.0.1:10080/a?command=report HTTP/1.1\r\n" HOST "\r\n",
         "/a", "command=report"),
    OK11("absolute form, no path", "POST HTTPS://h?command=allow HTTP/1.1\r\n" HOST "\r\n", "",
         "command=allow"),
    OK11("empty lines before", "\r\n\r\nPOST / HTTP/1.1\r\n" HOST "\r\n", "/", NULL),
    OK11("empty host", "POST / HTTP/1.1\r\nHost:\r\n\r\n", "/", NULL),
    OK11("obs-text and tabs in a value", "POST / HTTP/1.1\r\n" HOST "X-A: \t\xc3\xa9 t\t\r\n\r\n", "/", NULL),
    OK11("keep-alive among tokens", "POST / HTTP/1.1\r\n" HOST "Connection: Upgrade, keep-alive\r\n\r\n",
         "/", NULL),
    {"content-length", "POST / HTTP/1.1\r\n" HOST "Content-Length: 0042\r\n\r\n", 1, HTTP_ERR_NONE,
     "POST", "/", NULL, 1, true, 42, false},
    {"same content-length twice", "POST / HTTP/1.1\r\n" HOST "Content-Length: 7\r\ncontent-length:7 \r\n\r\n",
     1, HTTP_ERR_NONE, "POST", "/", NULL, 1, true, 7, false},
    {"close", "POST / HTTP/1.1\r\n" HOST "Connection: keep-alive, CLOSE\r\n\r\n", 1, HTTP_ERR_NONE, "POST",
     "/", NULL, 1, false, -1, false},
    {"1.0 closes", "POST / HTTP/1.0\r\n\r\n", 1, HTTP_ERR_NONE, "POST", "/", NULL, 0, false, -1, false},
    {"1.0 keep-alive", "POST / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 1, HTTP_ERR_NONE, "POST",
     "/", NULL, 0, true, -1, false},
    {"1.0 expect ignored", "POST / HTTP/1.0\r\nExpect: x\r\n\r\n", 1, HTTP_ERR_NONE, "POST", "/", NULL,
     0, false, -1, false},
    {"GET", "GET /x HTTP/1.1\r\n" HOST "\r\n", 1, HTTP_ERR_NONE, "GET", "/x", NULL, 1, true, -1, false},
    {"lower-case post is another method", "post / HTTP/1.1\r\n" HOST "\r\n", 1, HTTP_ERR_NONE, "post",
     "/", NULL, 1, true, -1, false},
    {"asterisk", "OPTIONS * HTTP/1.1\r\n" HOST "\r\n", 1, HTTP_ERR_NONE, "OPTIONS", "*", NULL, 1, true,
     -1, false},
    {"api header", "POST / HTTP/1.1\r\n" HOST "x-API-key:   s3cret \t\r\n\r\n", 1, HTTP_ERR_NONE, "POST",
     "/", NULL, 1, true, -1, true},
    {"api header wrong", "POST / HTTP/1.1\r\n" HOST "X-API-Key: s3cretX\r\n\r\n", 1, HTTP_ERR_NONE,
     "POST", "/", NULL, 1, true, -1, false},
    {"api header twice", "POST / HTTP/1.1\r\n" HOST "X-API-Key: s3cret\r\nX-API-Key: s3cret\r\n\r\n", 1,
     HTTP_ERR_NONE, "POST", "/", NULL, 1, true, -1, false},
    {"api header empty", "POST / HTTP/1.1\r\n" HOST "X-API-Key:\r\n\r\n", 1, HTTP_ERR_NONE, "POST", "/",
     NULL, 1, true, -1, false},
    {"api name is not a prefix", "POST / HTTP/1.1\r\n" HOST "X-API-Key2: s3cret\r\n\r\n", 1,
     HTTP_ERR_NONE, "POST", "/", NULL, 1, true, -1, false},

    {"empty", "", 0, HTTP_ERR_NONE, NULL, NULL, NULL, 0, false, -1, false},
    {"no blank line yet", "POST / HTTP/1.1\r\n" HOST, 0, HTTP_ERR_NONE, NULL, NULL, NULL, 0, false, -1,
     false},
    {"only empty lines", "\r\n\r\n\r\n", 0, HTTP_ERR_NONE, NULL, NULL, NULL, 0, false, -1, false},
    {"bare LF lines never end a head", "POST / HTTP/1.1\n" HOST "\n\n", 0, HTTP_ERR_NONE, NULL, NULL,
     NULL, 0, false, -1, false},

    BAD("bare LF", "POST / HTTP/1.1\n" HOST "\r\n", HTTP_ERR_SYNTAX),
    BAD("bare CR", "POST / HTTP/1.1\r\nHost: x\ry\r\n\r\n", HTTP_ERR_SYNTAX),
    BAD("lone CR first", "\rPOST / HTTP/1.1\r\n" HOST "\r\n", HTTP_ERR_SYNTAX),
    BAD("two spaces", "POST  / HTTP/1.1\r\n" HOST "\r\n", HTTP_ERR_SYNTAX),
    BAD("trailing space", "POST / HTTP/1.1 \r\n" HOST "\r\n", HTTP_ERR_SYNTAX),
    BAD("no target", "POST HTTP/1.1\r\n" HOST "\r\n", HTTP_ERR_SYNTAX),
    BAD("relative target", "POST policy HTTP/1.1\r\n" HOST "\r\n", HTTP_ERR_SYNTAX),
    BAD("other scheme", "POST ftp://h/ HTTP/1.1\r\n" HOST "\r\n", HTTP_ERR_SYNTAX),
    BAD("control in target", "POST /\x01 HTTP/1.1\r\n" HOST "\r\n", HTTP_ERR_SYNTAX),
    BAD("8-bit target", "POST /\xc3\xa9 HTTP/1.1\r\n" HOST "\r\n", HTTP_ERR_SYNTAX),
    BAD("method not a token", "PO(ST / HTTP/1.1\r\n" HOST "\r\n", HTTP_ERR_SYNTAX),
    BAD("not HTTP", "POST / HTTPS/1.1\r\n" HOST "\r\n", HTTP_ERR_SYNTAX),
    BAD("version garbage", "POST / HTTP/1.x\r\n" HOST "\r\n", HTTP_ERR_SYNTAX),
    BAD("version 2", "POST / HTTP/2.0\r\n" HOST "\r\n", HTTP_ERR_VERSION),
    BAD("version 1.2", "POST / HTTP/1.2\r\n" HOST "\r\n", HTTP_ERR_VERSION),
    BAD("version 0.9", "POST / HTTP/0.9\r\n" HOST "\r\n", HTTP_ERR_VERSION),
    BAD("no colon", "POST / HTTP/1.1\r\n" HOST "Junk\r\n\r\n", HTTP_ERR_SYNTAX),
    BAD("space before colon", "POST / HTTP/1.1\r\nHost : x\r\n\r\n", HTTP_ERR_SYNTAX),
    BAD("empty name", "POST / HTTP/1.1\r\n" HOST ": x\r\n\r\n", HTTP_ERR_SYNTAX),
    BAD("obs-fold", "POST / HTTP/1.1\r\n" HOST "X-A: a\r\n b\r\n\r\n", HTTP_ERR_SYNTAX),
    BAD("NUL in value", "POST / HTTP/1.1\r\n" HOST "X-A: a\0b\r\n\r\n", HTTP_ERR_SYNTAX),
    BAD("DEL in value", "POST / HTTP/1.1\r\n" HOST "X-A: a\x7f\r\n\r\n", HTTP_ERR_SYNTAX),
    BAD("length not a number", "POST / HTTP/1.1\r\n" HOST "Content-Length: 1e3\r\n\r\n", HTTP_ERR_LENGTH),
    BAD("length empty", "POST / HTTP/1.1\r\n" HOST "Content-Length:\r\n\r\n", HTTP_ERR_LENGTH),
    BAD("length negative", "POST / HTTP/1.1\r\n" HOST "Content-Length: -1\r\n\r\n", HTTP_ERR_LENGTH),
    BAD("length list", "POST / HTTP/1.1\r\n" HOST "Content-Length: 5, 5\r\n\r\n", HTTP_ERR_LENGTH),
    BAD("length overflow", "POST / HTTP/1.1\r\n" HOST "Content-Length: 18446744073709551616\r\n\r\n",
        HTTP_ERR_LENGTH),
    BAD("two lengths", "POST / HTTP/1.1\r\n" HOST "Content-Length: 5\r\nContent-Length: 6\r\n\r\n",
        HTTP_ERR_LENGTH),
    BAD("chunked", "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n", HTTP_ERR_CHUNKED),
    BAD("chunked and length", "POST / HTTP/1.1\r\n" HOST "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        HTTP_ERR_CHUNKED),
    BAD("identity too", "POST / HTTP/1.1\r\n" HOST "transfer-encoding: identity\r\n\r\n", HTTP_ERR_CHUNKED),
    BAD("no host", "POST / HTTP/1.1\r\n\r\n", HTTP_ERR_HOST),
    BAD("two hosts", "POST / HTTP/1.1\r\n" HOST HOST "\r\n", HTTP_ERR_HOST),
    BAD("two hosts in 1.0", "POST / HTTP/1.0\r\n" HOST HOST "\r\n", HTTP_ERR_HOST),
    BAD("expect other", "POST / HTTP/1.1\r\n" HOST "Expect: 200-ok\r\n\r\n", HTTP_ERR_EXPECT),
};

static void test_table(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const struct tcase *t = &cases[i];
    size_t n = strlen(t->in);
    if (strstr(t->name, "NUL")) n = strlen(t->in) + 1 + strlen(t->in + strlen(t->in) + 1);
    struct http_req r;
    enum http_err e;
    long h = http_req_parse(t->in, n, &api, &r, &e);
    int got = h > 0 ? 1 : (int)h;
    if (got != t->want) fail_msg("%s: returned %ld (err %d), want %d", t->name, h, e, t->want);
    if (got < 0) {
      if (e != t->err) fail_msg("%s: error %d, want %d", t->name, e, t->err);
      continue;
    }
    assert_int_equal(e, HTTP_ERR_NONE);
    if (got == 0) continue;
    if ((size_t)h != n) fail_msg("%s: head of %ld bytes, want %zu", t->name, h, n);
    if (!sv_is(r.method, t->method) || !sv_is(r.path, t->path) || !sv_is(r.query, t->query) ||
        r.has_query != (t->query != NULL))
      fail_msg("%s: method/path/query %.*s %.*s %.*s", t->name, (int)r.method.len, r.method.p,
               (int)r.path.len, r.path.p, (int)r.query.len, r.query.p);
    if (r.minor != t->minor || r.keep_alive != t->keep_alive || r.api_ok != t->api_ok ||
        r.has_length != (t->length >= 0) || (t->length >= 0 && r.length != (uint64_t)t->length))
      fail_msg("%s: minor %u keep_alive %d api_ok %d length %d/%llu", t->name, r.minor,
               r.keep_alive, r.api_ok, r.has_length, (unsigned long long)r.length);
    assert_int_equal(r.post, sv_eq(r.method, "POST"));
  }
}

/* "Expect: 100-continue" in 1.1 is reported; the body length too. */
static void test_expect(void **state) {
  (void)state;
  static const char in[] = "POST / HTTP/1.1\r\n" HOST "Expect: 100-Continue\r\nContent-Length: 3\r\n\r\n{}x";
  struct http_req r;
  enum http_err e;
  assert_int_equal(http_req_parse(in, sizeof in - 1, NULL, &r, &e), sizeof in - 4);
  assert_true(r.expect_continue && r.length == 3);
}

/* A head of up to HTTP_HEAD_MAX bytes is parsed; past it: 431. */
static void test_head_limit(void **state) {
  (void)state;
  static char buf[HTTP_HEAD_MAX + 64];
  static const char start[] = "POST / HTTP/1.1\r\n" HOST "X-Pad: ";
  size_t len = HTTP_HEAD_MAX; /* the head exactly at the limit */
  memset(buf, 'p', sizeof buf);
  memcpy(buf, start, sizeof start - 1);
  memcpy(buf + len - 4, "\r\n\r\n", 4);
  struct http_req r;
  enum http_err e;
  assert_int_equal(http_req_parse(buf, sizeof buf, NULL, &r, &e), HTTP_HEAD_MAX);
  assert_int_equal(http_req_parse(buf, len - 1, NULL, &r, &e), 0);
  memcpy(buf + len - 4, "pp\r\n\r\n", 6); /* one byte more */
  assert_int_equal(http_req_parse(buf, len - 1, NULL, &r, &e), 0);
  assert_int_equal(http_req_parse(buf, len, NULL, &r, &e), -1);
  assert_int_equal(e, HTTP_ERR_TOO_LARGE);
  assert_int_equal(http_req_parse(buf, sizeof buf, NULL, &r, &e), -1);
  assert_int_equal(e, HTTP_ERR_TOO_LARGE);
  memset(buf, '\r', sizeof buf); /* endless CR: no head, never more than the limit read */
  assert_int_equal(http_req_parse(buf, sizeof buf, NULL, &r, &e), -1);
  for (size_t i = 0; i < sizeof buf; i += 2) buf[i + 1] = '\n'; /* endless empty lines */
  assert_int_equal(http_req_parse(buf, sizeof buf, NULL, &r, &e), -1);
  assert_int_equal(e, HTTP_ERR_TOO_LARGE);
  assert_int_equal(http_req_parse(buf, HTTP_HEAD_MAX - 2, NULL, &r, &e), 0);
}

static void test_err_names(void **state) {
  (void)state;
  static const int status[HTTP_ERR__N] = {400, 400, 431, 505, 400, 411, 400, 417};
  for (int e = 0; e < HTTP_ERR__N; e++) {
    assert_int_equal(http_err_status((enum http_err)e), status[e]);
    assert_true(strlen(http_err_text((enum http_err)e)) > 3);
  }
  assert_string_equal(http_err_text(HTTP_ERR__N), "unknown error");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_capture),    cmocka_unit_test(test_table),
      cmocka_unit_test(test_expect),     cmocka_unit_test(test_head_limit),
      cmocka_unit_test(test_err_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
