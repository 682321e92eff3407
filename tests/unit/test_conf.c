/* test_conf.c - config errors carry file:line; the key table is complete */
#include "testutil.h"

#include "core/conf_internal.h"

struct bad {
  const char *name, *text, *want; /* want: substring of "LINE: why" */
};

static const struct bad bad_cases[] = {
    {"syntax", "listen = [ \"inet:1.2.3.4:1\" \n", "2: syntax error"},
    {"unknown key", "\n\nlisten_on = [ ];\n", "3: unknown key 'listen_on'"},
    {"bad enum", "log_level = \"loud\";\n", "1: log_level: 'loud' is not one of"},
    {"bad number", "flush_interval = \"soon\";\n", "1: flush_interval: 'soon' is not a number"},
    {"out of bounds", "flush_interval = 600.0;\n", "1: flush_interval: 600 is out of bounds"},
    {"bad size", "store_map_size = \"lots\";\n", "1: store_map_size: 'lots' is not a size"},
    {"bad listener", "listen = [ \"tcp:1\" ];\n", "listen: 'tcp:1' is neither"},
    {"limit field typo", "limits = (\n { name = \"a\"; per = \"account\"; count = \"messages\";"
     " window = \"hour\"; max = 1; action = \"hold\"; maxx = 2; }\n);\n",
     "2: unknown limit field 'maxx'"},
    {"limit bad per", "limits = ( { name = \"a\"; per = \"user\"; count = \"messages\"; "
     "window = \"hour\"; max = 1; action = \"hold\"; } );\n", "1: limit a: per must be"},
    {"limit missing", "limits = ( { name = \"a\"; per = \"account\"; } );\n",
     "lacks required field 'count'"},
    {"limit bad action", "limits = ( { name = \"a\"; per = \"account\"; count = \"messages\"; "
     "window = \"hour\"; max = 1; action = \"explode\"; } );\n", "action must be alert, throttle"},
    {"negative max", "limits = ( { name = \"a\"; per = \"account\"; count = \"messages\"; "
     "window = \"hour\"; max = -1; action = \"hold\"; } );\n", "max must be an integer"},
    {"duplicate limit", "limits = (\n { name = \"a\"; per = \"account\"; count = \"messages\"; "
     "window = \"hour\"; max = 1; action = \"hold\"; },\n { name = \"a\"; per = \"account\"; "
     "count = \"messages\"; window = \"day\"; max = 1; action = \"hold\"; }\n);\n",
     "3: limit a: name already used on line 2"},
    {"group limit not per account", "groups = ( { name = \"g\"; members = [ \"x\" ]; limits = ( "
     "{ name = \"a\"; per = \"client_address\"; count = \"messages\"; window = \"hour\"; "
     "max = 1; action = \"hold\"; } ); } );\n", "group limits must be per account"},
    {"exemption date", "exemptions = ( { account = \"x\"; until = \"next week\"; } );\n",
     "until must be"},
    {"exemption twice", "exemptions = ( { account = \"x\"; }, { account = \"X\"; } );\n",
     "listed twice"},
    {"sender net", "sender_account_networks = [ \"10.0.0.0/33\" ];\n", "not an address or CIDR"},
    {"fail action", "fail_action = \"MAYBE\";\n", "not a Postfix access(5) action"},
};

static void test_bad_configs(void **state) {
  for (size_t i = 0; i < sizeof bad_cases / sizeof *bad_cases; i++) {
    const char *err = conf_error_of(bad_cases[i].text);
    if (!strstr(err, bad_cases[i].want))
      fail_msg("%s: got '%s', want '%s'", bad_cases[i].name, err, bad_cases[i].want);
  }
}

static void test_missing_file(void **state) {
  char err[256];
  assert_null(conf_load("/nonexistent/mailfuse.conf", err, sizeof err));
  assert_non_null(strstr(err, "/nonexistent/mailfuse.conf:0: cannot read"));
}

static void test_defaults_valid_and_documented(void **state) {
  struct conf *c = conf_defaults();
  assert_non_null(c);
  assert_int_equal(c->nlisten, 2);
  assert_true(c->flush_interval <= 1.0); /* the most a crash may lose, by default */
  assert_string_equal(c->fail_action, "DUNNO");
  conf_free(c);
  for (size_t i = 0; i < conf_nkeys; i++) {
    assert_non_null(conf_keys[i].doc);
    assert_true(strlen(conf_keys[i].doc) > 10);
  }
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  char *buf = calloc(1, 1 << 20);
  size_t n = fread(buf, 1, (1 << 20) - 1, f);
  buf[n] = 0;
  fclose(f);
  return buf;
}

/* The example config loads and mentions every key (set or commented). */
static void test_example_config(void **state) {
  const char *src = getenv("MAILFUSE_SRCDIR");
  assert_non_null(src);
  char path[1024];
  snprintf(path, sizeof path, "%s/etc/mailfuse.conf", src);
  char err[512];
  struct conf *c = conf_load(path, err, sizeof err);
  if (!c) fail_msg("%s", err);
  assert_true(c->limits.n >= 5);
  conf_free(c);
  char *text = slurp(path);
  assert_non_null(text);
  for (size_t i = 0; i < conf_nkeys; i++) {
    char pat[80];
    snprintf(pat, sizeof pat, "%s =", conf_keys[i].name);
    if (!strstr(text, pat)) fail_msg("etc/mailfuse.conf does not mention %s", conf_keys[i].name);
  }
  free(text);
}

static void test_account_names(void **state) {
  struct conf *c = conf_from_text(BASE_CONF "account_domain = \"Example.EDU\";\n");
  char out[64];
  assert_int_equal(conf_account_name(c, "Dave", 4, out, sizeof out), 0);
  assert_string_equal(out, "dave@example.edu");
  assert_int_equal(conf_account_name(c, "dave@Example.edu", 16, out, sizeof out), 0);
  assert_string_equal(out, "dave@example.edu");
  assert_int_equal(conf_account_name(c, "", 0, out, sizeof out), 0);
  assert_string_equal(out, "");
  assert_int_equal(conf_account_name(c, "averyveryverylongname", 21, out, 16), -1);
  assert_int_equal(strlen(out), 15);
  conf_free(c);
  c = conf_from_text(BASE_CONF);
  assert_int_equal(conf_account_name(c, "Dave", 4, out, sizeof out), 0);
  assert_string_equal(out, "dave");
  conf_free(c);
}

static void test_local_domains(void **state) {
  struct conf *c = conf_from_text(BASE_CONF);
  assert_true(conf_is_local_domain(c, "example.edu"));
  assert_true(conf_is_local_domain(c, "mail.cs.example.edu"));
  assert_false(conf_is_local_domain(c, "example.edu.evil.net"));
  assert_false(conf_is_local_domain(c, "notexample.edu"));
  conf_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bad_configs),
      cmocka_unit_test(test_missing_file),
      cmocka_unit_test(test_defaults_valid_and_documented),
      cmocka_unit_test(test_example_config),
      cmocka_unit_test(test_local_domains),
      cmocka_unit_test(test_account_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
