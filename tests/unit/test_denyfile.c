/* test_denyfile.c - the Dovecot deny passwd-file: exact content, bare
 * names for the account domain, skipped names, atomic replace keeping the
 * mode, an mtime that moves on every write, errors. */
#include "testutil.h"

#include <dirent.h>
#include <sys/stat.h>
#include <time.h>

#include "actions/denyfile.h"

#define HEADER_START "# written by mailfuse"

static char dir[64], path[128];

static int setup(void **state) {
  snprintf(dir, sizeof dir, "/tmp/mf-deny-XXXXXX");
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/deny-users", dir);
  return 0;
}

static int teardown(void **state) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd) == 0 ? 0 : -1;
}

/* The file without its first (comment) line; static buffer. */
static const char *body(void) {
  static char buf[8192];
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  assert_true(strncmp(buf, HEADER_START, strlen(HEADER_START)) == 0);
  assert_non_null(strstr(buf, "overwritten"));
  char *nl = strchr(buf, '\n');
  assert_non_null(nl);
  return nl + 1;
}

static void write_ok(const char *const *acc, size_t n, const char *domain, size_t want_skipped) {
  char err[256] = "";
  size_t skipped = 99;
  if (denyfile_write(path, acc, n, domain, &skipped, err, sizeof err) != 0)
    fail_msg("denyfile_write: %s", err);
  assert_int_equal(skipped, want_skipped);
}

struct content_case {
  const char *name;
  const char *accounts[6];
  const char *domain;
  const char *want;
};

static const struct content_case content_cases[] = {
    {"bare name for the account domain", {"alice@example.edu", "carol"}, "example.edu",
     "alice@example.edu\nalice\ncarol\n"},
    {"other domains stay whole", {"dave@other.org", "eve@example.edu.evil"}, "example.edu",
     "dave@other.org\neve@example.edu.evil\n"},
    {"domain compared without case; lowercased copies",
     {"Bob@Example.EDU"}, "example.edu", "Bob@Example.EDU\nbob@example.edu\nBob\nbob\n"},
    {"each name once", {"alice", "alice@example.edu", "ALICE", "alice"}, "example.edu",
     "alice\nalice@example.edu\nALICE\n"},
    {"no domain: no bare names", {"alice@example.edu"}, NULL, "alice@example.edu\n"},
    {"empty domain: no bare names", {"alice@example.edu"}, "", "alice@example.edu\n"},
    {"empty local part", {"@example.edu"}, "example.edu", "@example.edu\n"},
    {"utf-8 kept", {"j\xc3\xb6rg@example.edu"}, "example.edu",
     "j\xc3\xb6rg@example.edu\nj\xc3\xb6rg\n"},
    {"nothing", {NULL}, "example.edu", ""},
};

static void test_content(void **state) {
  for (size_t i = 0; i < sizeof content_cases / sizeof *content_cases; i++) {
    const struct content_case *c = &content_cases[i];
    size_t n = 0;
    while (n < 6 && c->accounts[n]) n++;
    write_ok(c->accounts, n, c->domain, 0);
    const char *got = body();
    if (strcmp(got, c->want) != 0) fail_msg("%s: got\n%s\nwant\n%s", c->name, got, c->want);
  }
}

static void test_bad_names_skipped(void **state) {
  char longname[DENYFILE_NAME_MAX + 2];
  memset(longname, 'a', sizeof longname - 1);
  longname[sizeof longname - 1] = 0;
  const char *acc[] = {"ok@example.edu", "bad:name", "white space", "tab\tname", "nl\nname",
                       "cr\rname",       "ctl\x01",  "del\x7f",     "",         "#comment",
                       longname,         NULL,       "also-ok"};
  size_t n = sizeof acc / sizeof *acc;
  write_ok(acc, n, "example.edu", n - 2);
  assert_string_equal(body(), "ok@example.edu\nok\nalso-ok\n");
  write_ok(acc, n, "example.edu", n - 2);
  longname[DENYFILE_NAME_MAX] = 0; /* exactly the limit: taken */
  const char *one[] = {longname};
  write_ok(one, 1, NULL, 0);
  assert_int_equal(strlen(body()), DENYFILE_NAME_MAX + 1);
}

static size_t entries_in_dir(void) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

static void test_replace_keeps_mode_no_temp_left(void **state) {
  const char *acc[] = {"alice"};
  write_ok(acc, 1, NULL, 0);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0644);
  assert_int_equal(chmod(path, 0640), 0);
  const char *acc2[] = {"bob"};
  write_ok(acc2, 1, NULL, 0);
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0640);
  assert_string_equal(body(), "bob\n");
  assert_int_equal(entries_in_dir(), 1);
}

/* Dovecot notices a new version only by mtime seconds or size: equal-size
 * versions written within one second must still differ in mtime. */
static void test_mtime_moves_on_every_write(void **state) {
  const char *names[] = {"alice", "bobby", "carol", "alice"};
  time_t last = 0;
  for (size_t i = 0; i < 4; i++) {
    write_ok(&names[i], 1, NULL, 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    if (i) assert_true(st.st_mtime > last);
    last = st.st_mtime;
  }
  assert_true(last <= time(NULL) + 4);
}

static void test_errors(void **state) {
  char err[256] = "";
  const char *acc[] = {"alice"};
  char missing[192];
  snprintf(missing, sizeof missing, "%s/no-such-dir/deny", dir);
  assert_int_equal(denyfile_write(missing, acc, 1, NULL, NULL, err, sizeof err), -1);
  assert_non_null(strstr(err, "no-such-dir"));
  assert_non_null(strstr(err, "No such file"));
  char huge[5000];
  memset(huge, 'x', sizeof huge - 1);
  huge[0] = '/';
  huge[sizeof huge - 1] = 0;
  assert_int_equal(denyfile_write(huge, acc, 1, NULL, NULL, err, sizeof err), -1);
  assert_non_null(strstr(err, "too long"));
  /* the target is a directory: rename fails, the temp file is removed */
  assert_int_equal(mkdir(path, 0755), 0);
  assert_int_equal(denyfile_write(path, acc, 1, NULL, NULL, err, sizeof err), -1);
  assert_non_null(strstr(err, "rename"));
  assert_int_equal(entries_in_dir(), 1);
  assert_int_equal(rmdir(path), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_content, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_names_skipped, setup, teardown),
      cmocka_unit_test_setup_teardown(test_replace_keeps_mode_no_temp_left, setup, teardown),
      cmocka_unit_test_setup_teardown(test_mtime_moves_on_every_write, setup, teardown),
      cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
