/* test_hostnets.c - the hosting/VPN network list: built-in ASNs, a site
 * file's ASNs and CIDRs (IPv4, IPv6, longest prefix first), and its
 * errors, which name file:line. */
#include "testutil.h"

#include "core/hostnets.h"

static char path[64];

static int teardown(void **state) {
  if (path[0]) unlink(path);
  path[0] = 0;
  return 0;
}

/* Write len bytes to a fresh temporary file; its name is in path. */
static void write_site(const char *text, size_t len) {
  snprintf(path, sizeof path, "/tmp/mf-hostnets-XXXXXX");
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, len), (ssize_t)len);
  close(fd);
}

static struct hostnets *load(const char *text) {
  char err[512];
  write_site(text, strlen(text));
  struct hostnets *h = hostnets_new(path, err, sizeof err);
  if (!h) fail_msg("hostnets_new: %s", err);
  return h;
}

static void expect_label(const struct hostnets *h, const char *addr, uint32_t asn,
                         const char *want) {
  const char *got = hostnets_match(h, addr, asn);
  print_message("# %s AS%u -> %s\n", addr ? addr : "(null)", asn, got ? got : "(none)");
  if (!want) assert_null(got);
  else {
    assert_non_null(got);
    assert_string_equal(got, want);
  }
}

static void test_builtin_asns(void **state) {
  char err[256];
  struct hostnets *h = hostnets_new("", err, sizeof err);
  assert_non_null(h);
  assert_true(hostnets_count_asns(h) >= 30);
  assert_int_equal(hostnets_count_cidrs(h), 0);
  expect_label(h, NULL, 16509, "AS16509 (hosting)");     /* Amazon */
  expect_label(h, "", 24940, "AS24940 (hosting)");        /* Hetzner */
  expect_label(h, "192.0.2.7", 212238, "AS212238 (hosting)"); /* the last line */
  expect_label(h, "192.0.2.7", 15169, NULL); /* Google's main AS: left out on purpose */
  expect_label(h, "192.0.2.7", 64496, NULL);
  expect_label(h, "192.0.2.7", 0, NULL);
  hostnets_free(h);
  hostnets_free(NULL);
  assert_non_null(h = hostnets_new(NULL, err, sizeof err));
  hostnets_free(h);
}

static const char SITE[] =
    "# site list\n"
    "\n"
    "   \t\n"
    "AS64510 # TEST-HOSTING\n"
    "  as64511\r\n"
    "65551#no space before the note\n"
    "198.51.100.0/24   # VPN exit range\n"
    "192.0.2.7\n"
    "2001:db8:abcd::/48\n"
    "2001:DB8:ABCD:12::/64 # more specific\n"
    "AS16509 # also built in: stays (hosting)\n"
    "198.51.100.0/24 # listed twice\n"
    "0.0.0.0/0 # everything, only to test the shortest prefix\n"
    "# no newline at the end\n"
    "AS65536";

static void test_site_file(void **state) {
  struct hostnets *h = load(SITE);
  static const struct {
    const char *addr;
    uint32_t asn;
    const char *want;
  } cases[] = {
      {NULL, 64510, "AS64510 (site list)"},
      {NULL, 64511, "AS64511 (site list)"},
      {NULL, 65551, "AS65551 (site list)"},
      {NULL, 65536, "AS65536 (site list)"},
      {NULL, 16509, "AS16509 (hosting)"},
      {NULL, 24940, "AS24940 (hosting)"},
      {NULL, 64499, NULL},
      {"198.51.100.77", 0, "198.51.100.0/24 (site list)"},
      {"198.51.100.77", 16509, "198.51.100.0/24 (site list)"}, /* the network says more */
      {"::ffff:198.51.100.1", 0, "198.51.100.0/24 (site list)"},
      {"192.0.2.7", 0, "192.0.2.7/32 (site list)"},
      {"192.0.2.8", 64510, "0.0.0.0/0 (site list)"},
      {"2001:db8:abcd:12::1", 0, "2001:db8:abcd:12::/64 (site list)"},
      {"2001:db8:abcd:13::1", 0, "2001:db8:abcd::/48 (site list)"},
      {"2001:db8:abce::1", 64510, "AS64510 (site list)"},
      {"2001:db8:abce::1", 0, NULL},
      {"not-an-address", 64511, "AS64511 (site list)"},
      {"", 0, NULL},
      {NULL, 0, NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    expect_label(h, cases[i].addr, cases[i].asn, cases[i].want);
  assert_int_equal(hostnets_count_cidrs(h), 5);
  hostnets_free(h);
}

static void test_shipped_test_list(void **state) {
  const char *src = getenv("MAILFUSE_SRCDIR");
  char file[512], err[512];
  snprintf(file, sizeof file, "%s/tests/geoip/test-hostnets.txt", src ? src : ".");
  struct hostnets *h = hostnets_new(file, err, sizeof err);
  if (!h) fail_msg("%s", err);
  expect_label(h, "100.65.0.1", 64510, "AS64510 (site list)");
  expect_label(h, "192.0.2.250", 64497, "192.0.2.250/32 (site list)");
  expect_label(h, "192.0.2.7", 64497, NULL);
  expect_label(h, "2001:db8:bad:1::1", 65536, "2001:db8:bad::/48 (site list)");
  expect_label(h, "203.0.113.7", 64499, NULL);
  hostnets_free(h);
}

/* The error for a site file of len bytes; it must end with want after the file name. */
static void expect_error(const char *text, size_t len, const char *want) {
  char err[512] = "";
  write_site(text, len);
  struct hostnets *h = hostnets_new(path, err, sizeof err);
  print_message("# %s\n", err);
  assert_null(h);
  size_t plen = strlen(path);
  assert_true(strncmp(err, path, plen) == 0);
  assert_string_equal(err + plen, want);
  unlink(path);
}

static void test_bad_lines(void **state) {
  static const struct {
    const char *text, *want;
  } cases[] = {
      {"AS64510\nAS-64511\n", ":2: AS-64511: not an ASN (AS16509) or a network (192.0.2.0/24)"},
      {"# c\n\n198.51.100.7/24 # typo\n", ":3: 198.51.100.7/24: host bits set (198.51.100.0/24?)"},
      {"2001:db8::1/32\n", ":1: 2001:db8::1/32: host bits set (2001:db8::/32?)"},
      {"AS0\n", ":1: AS0 is not an AS"},
      {"AS4294967296\n", ":1: AS4294967296: not an ASN (AS16509) or a network (192.0.2.0/24)"},
      {"198.51.100.0/33\n", ":1: 198.51.100.0/33: not an ASN (AS16509) or a network (192.0.2.0/24)"},
      {"192.0.2.0/24 198.51.100.0/24\n",
       ":1: \"192.0.2.0/24 198.51.100.0/24\": one ASN or network per line ('#' starts a note)"},
      {"AS64510\nAS64511\n\x01\x02\n", ":3: \\x01\\x02: not an ASN (AS16509) or a network (192.0.2.0/24)"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    expect_error(cases[i].text, strlen(cases[i].text), cases[i].want);
  static const char nul[] = "AS64510\n192.0.2.0/24\0junk\n";
  expect_error(nul, sizeof nul - 1, ":2: NUL byte in line");
  char longline[HOSTNETS_LINE_MAX + 16];
  memset(longline, ' ', sizeof longline);
  memcpy(longline, "AS1 #", 5);
  longline[sizeof longline - 1] = '\n';
  expect_error(longline, sizeof longline, ":1: line longer than 512 bytes");
}

static void test_unreadable_file(void **state) {
  char err[512];
  assert_null(hostnets_new("/nonexistent/hosting.txt", err, sizeof err));
  assert_string_equal(err, "/nonexistent/hosting.txt: cannot open: No such file or directory");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_builtin_asns),
      cmocka_unit_test_teardown(test_site_file, teardown),
      cmocka_unit_test(test_shipped_test_list),
      cmocka_unit_test_teardown(test_bad_lines, teardown),
      cmocka_unit_test(test_unreadable_file),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
