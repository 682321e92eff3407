/* test_policy_codec.c - the policy protocol parser: table cases and the
 * golden files in tests/policy (NNN-name.in -> NNN-name.out). */
#include <dirent.h>

#include "testutil.h"

#include "sources/policy_codec.h"

/* What the parser made of the input, as one line per request or error. */
static void describe(const char *in, size_t len, char *out, size_t outlen) {
  size_t o = 0, pos = 0;
  out[0] = 0;
  while (pos < len) {
    struct policy_req r;
    enum policy_err err;
    long used = policy_parse(in + pos, len - pos, &r, &err);
    int n;
    if (used < 0)
      n = snprintf(out + o, outlen - o, "error %s\n", policy_err_name(err));
    else if (used == 0)
      n = snprintf(out + o, outlen - o, "incomplete %zu\n", len - pos);
    else
      n = snprintf(out + o, outlen - o,
                   "request attrs=%u state=%.*s user=%.*s sender=%.*s rcpt=%.*s count=%.*s "
                   "instance=%.*s client=%.*s\n",
                   r.nattrs, (int)r.protocol_state.len, r.protocol_state.p,
                   (int)r.sasl_username.len, r.sasl_username.p, (int)r.sender.len, r.sender.p,
                   (int)r.recipient.len, r.recipient.p, (int)r.recipient_count.len,
                   r.recipient_count.p, (int)r.instance.len, r.instance.p,
                   (int)r.client_address.len, r.client_address.p);
    if (n < 0 || (size_t)n >= outlen - o) return;
    o += (size_t)n;
    if (used <= 0) return;
    pos += (size_t)used;
  }
}

static void test_golden_files(void **state) {
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/tests/policy", getenv("MAILFUSE_SRCDIR"));
  DIR *d = opendir(dir);
  assert_non_null(d);
  struct dirent *de;
  int n = 0;
  static char in[1 << 20], want[1 << 16], got[1 << 16];
  while ((de = readdir(d))) {
    size_t l = strlen(de->d_name);
    if (l < 4 || strcmp(de->d_name + l - 3, ".in") != 0) continue;
    char p[1400];
    snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    size_t il = fread(in, 1, sizeof in, f);
    fclose(f);
    snprintf(p + strlen(p) - 3, 5, ".out");
    f = fopen(p, "rb");
    if (!f) fail_msg("missing %s", p);
    size_t wl = fread(want, 1, sizeof want - 1, f);
    want[wl] = 0;
    fclose(f);
    describe(in, il, got, sizeof got);
    if (strcmp(got, want) != 0) fail_msg("%s:\n got: %s\nwant: %s", de->d_name, got, want);
    n++;
  }
  closedir(d);
  assert_true(n >= 8);
  print_message("# %d golden files\n", n);
}

static void test_limits_at_edges(void **state) {
  static char buf[POLICY_REQ_MAX + 4096];
  struct policy_req r;
  enum policy_err err;
  /* a line of exactly POLICY_LINE_MAX is fine, one more byte is not */
  size_t o = (size_t)snprintf(buf, sizeof buf, "request=smtpd_access_policy\nx=");
  memset(buf + o, 'a', POLICY_LINE_MAX - 2);
  o += POLICY_LINE_MAX - 2;
  memcpy(buf + o, "\n\n", 2);
  assert_true(policy_parse(buf, o + 2, &r, &err) > 0);
  buf[o] = 'a';
  memcpy(buf + o + 1, "\n\n", 2);
  assert_int_equal(policy_parse(buf, o + 3, &r, &err), -1);
  assert_int_equal(err, PERR_LINE_TOO_LONG);
  /* POLICY_ATTRS_MAX attributes fine, one more refused before the end is seen */
  o = (size_t)snprintf(buf, sizeof buf, "request=smtpd_access_policy\n");
  for (int i = 1; i < POLICY_ATTRS_MAX; i++) o += (size_t)snprintf(buf + o, sizeof buf - o, "a%d=1\n", i);
  memcpy(buf + o, "\n", 1);
  assert_true(policy_parse(buf, o + 1, &r, &err) > 0);
  o += (size_t)snprintf(buf + o, sizeof buf - o, "one=more\n");
  assert_int_equal(policy_parse(buf, o, &r, &err), -1);
  assert_int_equal(err, PERR_TOO_MANY_ATTRS);
  /* an unfinished partial line with a NUL is garbage at once */
  assert_int_equal(policy_parse("request=smt\0pd", 14, &r, &err), -1);
  assert_int_equal(err, PERR_GARBAGE);
  /* an unfinished request is not an error */
  assert_int_equal(policy_parse("request=smtpd_access_policy\nsasl_use", 36, &r, &err), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_golden_files),
      cmocka_unit_test(test_limits_at_edges),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
