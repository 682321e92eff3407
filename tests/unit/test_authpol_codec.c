/* test_authpol_codec.c - the Dovecot auth policy codec: the golden files in
 * tests/authpolicy (real captured requests), table cases for broken JSON,
 * wrong types and limits, and the reply formatter. */
#include <dirent.h>
#include <jansson.h>

#include "testutil.h"

#include "sources/authpol_codec.h"

static size_t sv_put(char *out, size_t o, size_t cap, const char *name, struct strview v) {
  int n = snprintf(out + o, cap - o, " %s=%.*s", name, (int)v.len, v.p ? v.p : "");
  return n < 0 || (size_t)n >= cap - o ? cap - 1 : o + (size_t)n;
}

static const char *tri(bool has, bool v) { return !has ? "-" : v ? "true" : "false"; }

/* What the parser made of target ("/path?query") + body, as one line. */
static void describe(const char *target, const char *body, size_t len, char *out, size_t cap) {
  const char *q = strchr(target, '?');
  static struct authpol_req r;
  char why[AUTHPOL_WHY_MAX];
  if (authpol_parse(q ? q + 1 : NULL, body, len, &r, why, sizeof why) < 0) {
    snprintf(out, cap, "error %s\n", why);
    return;
  }
  size_t o = (size_t)snprintf(out, cap, "%s", r.cmd == AP_ALLOW ? "allow" : "report");
  o = sv_put(out, o, cap, "login", r.login);
  o = sv_put(out, o, cap, "remote", r.remote);
  o = sv_put(out, o, cap, "protocol", r.protocol);
  o = sv_put(out, o, cap, "session_id", r.session_id);
  o = sv_put(out, o, cap, "device_id", r.device_id);
  o = sv_put(out, o, cap, "pwhash", r.pwhash);
  o = sv_put(out, o, cap, "fail_type", r.fail_type);
  snprintf(out + o, cap - o, " success=%s policy_reject=%s tls=%s\n",
           tri(r.has_success, r.success), tri(r.has_policy_reject, r.policy_reject),
           tri(r.has_tls, r.tls));
}

static size_t read_file(const char *path, char *buf, size_t cap) {
  FILE *f = fopen(path, "rb");
  if (!f) fail_msg("cannot open %s", path);
  size_t n = fread(buf, 1, cap - 1, f);
  buf[n] = 0;
  fclose(f);
  return n;
}

static void test_golden_files(void **state) {
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/tests/authpolicy", getenv("MAILFUSE_SRCDIR"));
  DIR *d = opendir(dir);
  assert_non_null(d);
  struct dirent *de;
  int n = 0;
  static char in[1 << 16], want[4096], got[4096];
  while ((de = readdir(d))) {
    size_t l = strlen(de->d_name);
    if (l < 4 || strcmp(de->d_name + l - 3, ".in") != 0) continue;
    char p[1400];
    snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
    size_t il = read_file(p, in, sizeof in);
    char *nl = memchr(in, '\n', il);
    assert_non_null(nl);
    *nl = 0;
    snprintf(p + strlen(p) - 3, 5, ".out");
    read_file(p, want, sizeof want);
    describe(in, nl + 1, il - (size_t)(nl + 1 - in), got, sizeof got);
    if (strcmp(got, want) != 0) fail_msg("%s:\n got: %s\nwant: %s", de->d_name, got, want);
    n++;
  }
  closedir(d);
  assert_true(n >= 19);
  print_message("# %d golden files\n", n);
}

struct pcase {
  const char *name, *target, *body, *want; /* want: a prefix of describe() */
};

#define A "/?command=allow"
#define R "/?command=report"
#define BJ "error bad json at byte "

static const struct pcase cases[] = {
    {"escapes decoded", A, "{\"login\":\"al\\\"ice\\\\x\\/y\",\"tls\":true}",
     "allow login=al\"ice\\x/y remote= "},
    {"unicode escapes", A, "{\"login\":\"j\\u00fcrgen\\ud83d\\ude00\"}",
     "allow login=j\xc3\xbcrgen\xf0\x9f\x98\x80 remote="},
    {"raw utf-8", A, "{\"login\":\"j\xc3\xbcrgen\"}", "allow login=j\xc3\xbcrgen "},
    {"escaped key", A, "{\"log\\u0069n\":\"alice\"}", "allow login=alice "},
    {"nested login ignored", A, "{\"attrs\":{\"login\":\"evil\"},\"login\":\"a\"}",
     "allow login=a "},
    {"only nested login", A, "{\"attrs\":{\"login\":\"evil\"}}", "allow login= "},
    {"other values skipped", A,
     "{\"x\":[1,-2.5e+3,0.5,1E-2,true,false,null,{\"a\":[]},\"s\"],\"login\":\"a\"}",
     "allow login=a "},
    {"repeated key: last wins", R,
     "{\"login\":\"a\",\"login\":\"b\",\"success\":false,\"success\":true}",
     "report login=b remote= protocol= session_id= device_id= pwhash= fail_type= success=true "},
    {"white space", A, " \r\n\t{ \"login\" : \"a\" ,\n\"tls\" : true }\n",
     "allow login=a remote= protocol= session_id= device_id= pwhash= fail_type= success=- "
     "policy_reject=- tls=true"},
    {"empty object", R, "{}", "report login= remote="},
    {"no query", "/", "{}", "error missing command"},
    {"no command", "/?foo=1&bar", "{}", "error missing command"},
    {"unknown command", "/?command=reset", "{}", "error unknown command"},
    {"empty command", "/?command=", "{}", "error unknown command"},
    {"repeated command", "/?command=allow&command=report", "{}", "error repeated command"},
    {"empty body", A, "", "error empty body"},
    {"blank body", A, "  \n", "error empty body"},
    {"array body", A, "[]", BJ "0: want an object"},
    {"string body", A, "\"x\"", BJ "0: want an object"},
    {"trailing data", A, "{}x", BJ "2: data after"},
    {"two objects", A, "{}{}", BJ "2: data after"},
    {"unterminated object", A, "{\"login\":\"a\"", BJ "12"},
    {"unterminated string", A, "{\"login\":\"a", BJ "11: unterminated"},
    {"missing colon", A, "{\"login\" \"a\"}", BJ "9: want :"},
    {"trailing comma", A, "{\"login\":\"a\",}", BJ "13: want a key"},
    {"unquoted key", A, "{login:\"a\"}", BJ "1: want a key"},
    {"single quotes", A, "{'login':'a'}", BJ "1: want a key"},
    {"login number", A, "{\"login\":1}", "error field login: want a string"},
    {"login null", A, "{\"login\":null}", "error field login: want a string"},
    {"login object", A, "{\"login\":{\"a\":1}}", "error field login: want a string"},
    {"remote array", A, "{\"remote\":[\"1.2.3.4\"]}", "error field remote: want a string"},
    {"tls string", A, "{\"tls\":\"secured\"}", "error field tls: want true or false"},
    {"success null", R, "{\"success\":null}", "error field success: want true or false"},
    {"success number", R, "{\"success\":1}", "error field success: want true or false"},
    {"bad escape", A, "{\"x\":\"\\x\"}", BJ "8: bad escape"},
    {"short \\u", A, "{\"x\":\"\\u12\"}", BJ "8: bad \\u escape"},
    {"lone high surrogate", A, "{\"x\":\"\\ud800x\"}", BJ "12: lone high"},
    {"lone low surrogate", A, "{\"x\":\"\\udc00\"}", BJ "12: lone low"},
    {"escaped NUL", A, "{\"login\":\"a\\u0000b\"}", BJ "17: NUL"},
    {"raw tab", A, "{\"login\":\"a\tb\"}", BJ "11: control"},
    {"invalid utf-8", A, "{\"login\":\"\xff\"}", BJ "10: invalid UTF-8"},
    {"overlong utf-8", A, "{\"login\":\"\xc0\xaf\"}", BJ "10: invalid"},
    {"utf-8 surrogate", A, "{\"login\":\"\xed\xa0\x80\"}", BJ "10: invalid"},
    {"above U+10FFFF", A, "{\"login\":\"\xf4\x90\x80\x80\"}", BJ "10: invalid"},
    {"cut utf-8", A, "{\"login\":\"\xe2\x82\"}", BJ "10: invalid"},
    {"leading zero", A, "{\"x\":01}", BJ "6: want , or }"},
    {"bare minus", A, "{\"x\":-}", BJ "5: bad number"},
    {"no fraction", A, "{\"x\":1.}", BJ "5: bad number"},
    {"no exponent", A, "{\"x\":1e}", BJ "5: bad number"},
    {"plus sign", A, "{\"x\":+1}", BJ "5: bad number"},
    {"bad literal", A, "{\"x\":tru}", BJ "5: bad value"},
    {"bad array", A, "{\"x\":[1 2]}", BJ "8: want , or ]"},
};

static void test_table(void **state) {
  char got[4096];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const struct pcase *c = &cases[i];
    describe(c->target, c->body, strlen(c->body), got, sizeof got);
    if (strncmp(got, c->want, strlen(c->want)) != 0)
      fail_msg("%s:\n got: %s\nwant: %s...", c->name, got, c->want);
  }
}

/* A NUL byte is not JSON, inside a string or out. */
static void test_nul_bytes(void **state) {
  char got[512];
  describe("/?command=allow", "{\"login\":\"a\0b\"}", 15, got, sizeof got);
  assert_string_equal(got, "error bad json at byte 11: control character in string\n");
  describe("/?command=allow", "{}\0", 3, got, sizeof got);
  assert_string_equal(got, "error bad json at byte 2: data after the object\n");
}

/* levels objects or arrays below the top object, the innermost empty. */
static size_t nest(char *body, size_t cap, int levels, bool arrays) {
  size_t o = (size_t)snprintf(body, cap, "{\"login\":\"a\",\"k\":");
  for (int i = 0; i < levels; i++)
    o += (size_t)snprintf(body + o, cap - o, "%s", arrays ? "[" : i < levels - 1 ? "{\"k\":" : "{");
  for (int i = 0; i < levels; i++)
    o += (size_t)snprintf(body + o, cap - o, "%s", arrays ? "]" : "}");
  return o + (size_t)snprintf(body + o, cap - o, "}");
}

/* The top object is depth 1: AUTHPOL_DEPTH_MAX in all is fine, one more is not. */
static void test_depth(void **state) {
  char body[512], got[512];
  for (int arrays = 0; arrays <= 1; arrays++) {
    size_t n = nest(body, sizeof body, AUTHPOL_DEPTH_MAX - 1, arrays);
    describe("/?command=allow", body, n, got, sizeof got);
    if (strncmp(got, "allow login=a ", 14) != 0) fail_msg("%s: %s", body, got);
    n = nest(body, sizeof body, AUTHPOL_DEPTH_MAX, arrays);
    describe("/?command=allow", body, n, got, sizeof got);
    if (!strstr(got, "nested too deep")) fail_msg("%s: %s", body, got);
  }
}

static void test_key_limit(void **state) {
  static char body[16384];
  char got[512];
  size_t o = (size_t)snprintf(body, sizeof body, "{\"a\":{");
  for (int i = 1; i < AUTHPOL_KEYS_MAX - 1; i++)
    o += (size_t)snprintf(body + o, sizeof body - o, "%s\"k%d\":%d", i > 1 ? "," : "", i, i);
  /* AUTHPOL_KEYS_MAX keys in all */
  o += (size_t)snprintf(body + o, sizeof body - o, "},\"login\":\"x\"}");
  describe("/?command=allow", body, o, got, sizeof got);
  assert_true(strncmp(got, "allow login=x ", 14) == 0);
  memcpy(body + o - 1, ",\"z\":1}", 8); /* one more */
  describe("/?command=allow", body, o + 6, got, sizeof got);
  assert_non_null(strstr(got, "too many keys"));
}

/* Values: AUTHPOL_VALUE_MAX decoded bytes kept; escaped values share esc[]. */
static void test_value_limits(void **state) {
  static char body[AUTHPOL_VALUE_MAX * 20], got[AUTHPOL_VALUE_MAX * 4];
  static char plain[AUTHPOL_VALUE_MAX + 2], escd[AUTHPOL_VALUE_MAX * 6 + 1];
  memset(plain, 'a', AUTHPOL_VALUE_MAX);
  plain[AUTHPOL_VALUE_MAX] = 0;
  for (size_t i = 0; i < AUTHPOL_VALUE_MAX; i++) memcpy(escd + 6 * i, "\\u0062", 6);
  escd[6 * AUTHPOL_VALUE_MAX] = 0;
  int n = snprintf(body, sizeof body, "{\"login\":\"%s\"}", plain);
  describe("/?command=allow", body, (size_t)n, got, sizeof got);
  assert_true(strncmp(got, "allow login=aaaa", 16) == 0);
  plain[AUTHPOL_VALUE_MAX] = 'a', plain[AUTHPOL_VALUE_MAX + 1] = 0;
  n = snprintf(body, sizeof body, "{\"login\":\"%s\"}", plain);
  describe("/?command=allow", body, (size_t)n, got, sizeof got);
  assert_string_equal(got, "error field login: value too long\n");
  /* two escaped values fill esc[] exactly; a third does not fit */
  n = snprintf(body, sizeof body, "{\"login\":\"%s\",\"device_id\":\"%s\"}", escd, escd);
  describe("/?command=allow", body, (size_t)n, got, sizeof got);
  assert_true(strncmp(got, "allow login=bbbb", 16) == 0);
  assert_non_null(strstr(got, " device_id=bbbb"));
  n = snprintf(body, sizeof body, "{\"login\":\"%s\",\"device_id\":\"%s\",\"remote\":\"\\u0031\"}",
               escd, escd);
  describe("/?command=allow", body, (size_t)n, got, sizeof got);
  assert_string_equal(got, "error field remote: escaped values too long\n");
  /* a huge value under a key we do not keep is fine */
  static char big[200000];
  memset(big, 'x', sizeof big - 1);
  char *huge = malloc(sizeof big + 64);
  assert_non_null(huge);
  n = snprintf(huge, sizeof big + 64, "{\"attrs\":\"%s\",\"login\":\"a\"}", big);
  describe("/?command=allow", huge, (size_t)n, got, sizeof got);
  assert_true(strncmp(got, "allow login=a ", 14) == 0);
  free(huge);
}

static void test_body_limit(void **state) {
  char *body = malloc(AUTHPOL_BODY_MAX + 1);
  assert_non_null(body);
  memset(body, ' ', AUTHPOL_BODY_MAX + 1);
  memcpy(body, "{}", 2);
  char got[512];
  describe("/?command=allow", body, AUTHPOL_BODY_MAX, got, sizeof got);
  assert_true(strncmp(got, "allow ", 6) == 0);
  describe("/?command=allow", body, AUTHPOL_BODY_MAX + 1, got, sizeof got);
  assert_string_equal(got, "error body too large\n");
  free(body);
  static char q[AUTHPOL_QUERY_MAX + 16];
  memset(q, 'x', sizeof q - 1);
  memcpy(q, "/?command=allow&", 16);
  describe(q, "{}", 2, got, sizeof got);
  assert_string_equal(got, "error query too long\n");
}

/* Views point into the body or into esc[]; never elsewhere. */
static void test_views_inside(void **state) {
  const char *body = "{\"login\":\"a\\nb\",\"remote\":\"1.2.3.4\"}";
  static struct authpol_req r;
  char why[AUTHPOL_WHY_MAX];
  assert_int_equal(authpol_parse("command=allow", body, strlen(body), &r, why, sizeof why), 0);
  assert_ptr_equal(r.remote.p, body + 26);
  assert_ptr_equal(r.login.p, r.esc);
  assert_int_equal(r.login.len, 3);
  assert_memory_equal(r.login.p, "a\nb", 3);
  assert_int_equal(r.nkeys, 2);
}

struct fcase {
  int status;
  const char *msg, *want;
};

static void test_format(void **state) {
  static const struct fcase fc[] = {
      {0, "", "{\"status\":0,\"msg\":\"\"}"},
      {0, NULL, "{\"status\":0,\"msg\":\"\"}"},
      {-1, "blocked by test policy", "{\"status\":-1,\"msg\":\"blocked by test policy\"}"},
      {3, "slow down", "{\"status\":3,\"msg\":\"slow down\"}"},
      {-2147483647 - 1, "x", "{\"status\":-2147483648,\"msg\":\"x\"}"},
      {-1, "a\"b\\c\n\t\r\x01\x1f/",
       "{\"status\":-1,\"msg\":\"a\\\"b\\\\c\\n\\t\\r\\u0001\\u001f/\"}"},
      {-1, "j\xc3\xbcrgen \xf0\x9f\x98\x80",
       "{\"status\":-1,\"msg\":\"j\xc3\xbcrgen \xf0\x9f\x98\x80\"}"},
      {-1, "bad \xff\xc0\xaf byte", "{\"status\":-1,\"msg\":\"bad \\ufffd\\ufffd\\ufffd byte\"}"},
  };
  char out[AUTHPOL_REPLY_MAX];
  for (size_t i = 0; i < sizeof fc / sizeof fc[0]; i++) {
    int n = authpol_format(fc[i].status, fc[i].msg, out, sizeof out);
    assert_int_equal(n, (int)strlen(fc[i].want));
    assert_string_equal(out, fc[i].want);
    json_error_t jerr;
    json_t *j = json_loads(out, 0, &jerr); /* and jansson reads it back */
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "status")), fc[i].status);
    json_decref(j);
  }
  /* exactly enough room, then one byte short */
  int n = authpol_format(-1, "slow down", out, sizeof out);
  assert_int_equal(authpol_format(-1, "slow down", out, (size_t)n + 1), n);
  assert_int_equal(authpol_format(-1, "slow down", out, (size_t)n), -1);
  assert_int_equal(authpol_format(-1, "x", out, 8), -1);
  n = authpol_format_error("missing command", out, sizeof out);
  assert_string_equal(out, "{\"error\":\"missing command\"}");
  assert_int_equal(n, 27);
}

/* Long texts are cut to AUTHPOL_MSG_MAX bytes, never inside a character;
 * the worst case fits AUTHPOL_REPLY_MAX. */
static void test_format_cut(void **state) {
  char msg[AUTHPOL_MSG_MAX * 2], out[AUTHPOL_REPLY_MAX], want[AUTHPOL_REPLY_MAX];
  memset(msg, 'a', sizeof msg - 1);
  msg[sizeof msg - 1] = 0;
  memcpy(msg + AUTHPOL_MSG_MAX - 1, "\xc3\xbc", 2); /* straddles the cut */
  authpol_format(-1, msg, out, sizeof out);
  snprintf(want, sizeof want, "{\"status\":-1,\"msg\":\"%.*s\"}", AUTHPOL_MSG_MAX - 1, msg);
  assert_string_equal(out, want);
  memset(msg, 1, sizeof msg - 1); /* every byte becomes \u0001 */
  assert_true(authpol_format(-2147483647 - 1, msg, out, sizeof out) > 6 * AUTHPOL_MSG_MAX);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_golden_files), cmocka_unit_test(test_table),
      cmocka_unit_test(test_nul_bytes),    cmocka_unit_test(test_depth),
      cmocka_unit_test(test_key_limit),    cmocka_unit_test(test_value_limits),
      cmocka_unit_test(test_body_limit),   cmocka_unit_test(test_views_inside),
      cmocka_unit_test(test_format),       cmocka_unit_test(test_format_cut),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
