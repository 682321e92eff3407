/* test_geoip.c - country, location and AS lookups against the test
 * databases of tests/geoip (see its README.md for the networks), open
 * errors, and the great-circle distance. */
#include "testutil.h"

#include <math.h>

#include "core/geoip.h"

static char city_db[512], asn_db[512], script[512];

static int setup(void **state) {
  const char *src = getenv("MAILFUSE_SRCDIR");
  if (!src) src = ".";
  snprintf(city_db, sizeof city_db, "%s/tests/geoip/test-city.mmdb", src);
  snprintf(asn_db, sizeof asn_db, "%s/tests/geoip/test-asn.mmdb", src);
  snprintf(script, sizeof script, "%s/tests/geoip/make_test_mmdb.pl", src);
  return 0;
}

static struct geoip *open_both(void) {
  char err[512];
  struct geoip *g = geoip_open(city_db, asn_db, err, sizeof err);
  if (!g) fail_msg("geoip_open: %s", err);
  return g;
}

#define BERLIN 52.5200, 13.4050
#define NO_LOC 0, 0

static const struct {
  const char *addr, *country;
  uint32_t asn;
  const char *org;
  bool has_loc;
  double lat, lon;
} known[] = {
    {"10.1.2.3", "DE", 64496, "EXAMPLE-UNIVERSITY", true, BERLIN},
    {"192.0.2.7", "US", 64497, "EXAMPLE-NEW-YORK-ISP", true, 40.7128, -74.0060},
    {"198.51.100.20", "DE", 64498, "EXAMPLE-BERLIN-ISP", true, BERLIN},
    /* 47 bytes would cut the 'Ç' of SERVIÇOS in two: the whole letter goes */
    {"203.0.113.7", "BR", 64499, "EXAMPLE-SÃO-PAULO-TELECOMUNICAÇÕES-DE-SERVI", true, -23.5505,
     -46.6333},
    {"100.64.200.1", "DE", 64500, "EXAMPLE-BERLIN-MOBILE", true, BERLIN},
    {"100.65.0.1", "DE", 64510, "TEST-HOSTING", true, 50.1109, 8.6821},
    {"2001:db8::1", "FR", 65536, "EXAMPLE-PARIS-V6", true, 48.8566, 2.3522},
    {"2001:DB8:ffff:1::25", "FR", 65536, "EXAMPLE-PARIS-V6", true, 48.8566, 2.3522},
    {"::ffff:203.0.113.7", "BR", 64499, "EXAMPLE-SÃO-PAULO-TELECOMUNICAÇÕES-DE-SERVI", true,
     -23.5505, -46.6333},
    {"198.18.0.1", "IE", 0, "", false, NO_LOC},     /* country only */
    {"198.19.255.254", "", 65551, "EXAMPLE-ASN-ONLY", false, NO_LOC}, /* ASN only */
};

static void check_geo(const struct geo *g, size_t i) {
  assert_string_equal(g->country, known[i].country);
  assert_int_equal(g->asn, known[i].asn);
  assert_string_equal(g->org, known[i].org);
  assert_int_equal(g->has_loc, known[i].has_loc);
  assert_true(fabs(g->lat - known[i].lat) < 1e-9);
  assert_true(fabs(g->lon - known[i].lon) < 1e-9);
}

static void test_known_networks(void **state) {
  struct geoip *g = open_both();
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
    struct geo out;
    print_message("# %s\n", known[i].addr);
    assert_int_equal(geoip_lookup(g, known[i].addr, &out), 0);
    check_geo(&out, i);
  }
  geoip_free(g);
}

static bool all_zero(const struct geo *g) {
  static const struct geo zero;
  return memcmp(g, &zero, sizeof zero) == 0;
}

static void test_unknown_and_bad_text(void **state) {
  static const char *const addrs[] = {
      "8.8.8.8", "192.168.1.1", "100.66.0.1", "2001:db9::1", "::1", /* not in the files */
      "", "not-an-ip", "192.0.2.7/24", "192.0.2.256", " 192.0.2.7", "192.0.2.7 ",
      "1.2.3.4.5", "2001:db8:::1", "[2001:db8::1]",
      "2001:0db8:0000:0000:0000:0000:0000:0000:0001:extra-text-beyond-any-address-length",
  };
  struct geoip *g = open_both();
  for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++) {
    struct geo out;
    memset(&out, 0xAA, sizeof out);
    print_message("# '%s'\n", addrs[i]);
    assert_int_equal(geoip_lookup(g, addrs[i], &out), -1);
    assert_true(all_zero(&out));
  }
  struct geo out;
  memset(&out, 0xAA, sizeof out);
  assert_int_equal(geoip_lookup(g, NULL, &out), -1);
  assert_true(all_zero(&out));
  geoip_free(g);
}

static void test_one_database_only(void **state) {
  char err[512];
  struct geo out;
  struct geoip *g = geoip_open(city_db, "", err, sizeof err);
  assert_non_null(g);
  assert_int_equal(geoip_lookup(g, "203.0.113.7", &out), 0);
  assert_string_equal(out.country, "BR");
  assert_int_equal(out.asn, 0);
  assert_string_equal(out.org, "");
  assert_int_equal(geoip_lookup(g, "198.19.0.1", &out), -1); /* only in the ASN file */
  geoip_free(g);

  g = geoip_open(NULL, asn_db, err, sizeof err);
  assert_non_null(g);
  assert_int_equal(geoip_lookup(g, "203.0.113.7", &out), 0);
  assert_string_equal(out.country, "");
  assert_false(out.has_loc);
  assert_int_equal(out.asn, 64499);
  geoip_free(g);

  g = geoip_open("", "", err, sizeof err); /* GeoIP off: a handle that knows nothing */
  assert_non_null(g);
  assert_int_equal(geoip_lookup(g, "203.0.113.7", &out), -1);
  geoip_free(g);
  geoip_free(NULL);
}

/* geoip_open()'s error for (country, asn), which must contain want. */
static void expect_open_error(const char *country, const char *asn, const char *want) {
  char err[512] = "";
  struct geoip *g = geoip_open(country, asn, err, sizeof err);
  print_message("# %s\n", err);
  assert_null(g);
  if (!strstr(err, want)) fail_msg("error '%s' lacks '%s'", err, want);
}

static void test_open_errors(void **state) {
  expect_open_error("/nonexistent/city.mmdb", asn_db, "/nonexistent/city.mmdb: cannot open: No such file or directory");
  expect_open_error(city_db, "/nonexistent/asn.mmdb", "/nonexistent/asn.mmdb: cannot open");
  /* not a MaxMind DB file at all */
  expect_open_error(script, "", "make_test_mmdb.pl: cannot open");
  /* the right format, the wrong layout: each file given for the other */
  expect_open_error(asn_db, "", "test-asn.mmdb: not a country or city database");
  expect_open_error("", city_db, "test-city.mmdb: not an ASN database");
}

static void test_distance(void **state) {
  double d = geo_distance_km(52.5200, 13.4050, 40.7128, -74.0060); /* Berlin - New York */
  print_message("# Berlin-New York %.1f km\n", d);
  assert_true(fabs(d - 6385) < 6385 * 0.01);
  assert_true(fabs(geo_distance_km(40.7128, -74.0060, 52.5200, 13.4050) - d) < 1e-9);
  assert_true(geo_distance_km(BERLIN, BERLIN) < 1e-9);
  d = geo_distance_km(52.5200, 13.4050, 50.1109, 8.6821); /* Berlin - Frankfurt, ~424 km */
  assert_true(fabs(d - 424) < 5);
  d = geo_distance_km(0, 0, 0, 180); /* half the equator */
  assert_true(fabs(d - M_PI * 6371.0088) < 1);
  d = geo_distance_km(10, 20, -10, -160); /* antipodes: no NaN from rounding */
  assert_false(isnan(d));
  assert_true(fabs(d - M_PI * 6371.0088) < 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_known_networks),
      cmocka_unit_test(test_unknown_and_bad_text),
      cmocka_unit_test(test_one_database_only),
      cmocka_unit_test(test_open_errors),
      cmocka_unit_test(test_distance),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
