/* test_effects.c - containment effects as jobs, run for real on this
 * thread: placeholders in hooks, the alert e-mail through a sendmail
 * stand-in, the deny file, the nft command line, time limits. */
#include <sys/stat.h>

#include "testutil.h"

#include "actions/effects.h"

static char dir[64];

static int setup(void **state) {
  strcpy(dir, "/tmp/mf-fx-XXXXXX");
  assert_non_null(mkdtemp(dir));
  return 0;
}

static int teardown(void **state) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  static char buf[8192];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = 0;
  fclose(f);
  return buf;
}

/* A script that writes its arguments (one a line) and its stdin to files. */
static void script(const char *name, const char *body) {
  char path[128];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fprintf(f, "#!/bin/sh\n%s\n", body);
  fclose(f);
  assert_int_equal(chmod(path, 0755), 0);
}

static struct conf *conf_with(const char *extra) {
  char text[2048];
  snprintf(text, sizeof text, "%saccount_domain = \"example.edu\";\n%s", BASE_CONF, extra);
  return conf_from_text(text);
}

static void test_hook_placeholders(void **state) {
  char extra[512], out[160];
  script("hook", "for a in \"$@\"; do echo \"$a\"; done > \"$(dirname \"$0\")/args\"");
  snprintf(extra, sizeof extra, "suspend_command = [ \"%s/hook\", \"%%a\", \"%%n\", \"%%r\", \"id=%%i\", \"100%%%%\" ];\n", dir);
  struct conf *c = conf_with(extra);
  struct fx_job *j = fx_job_command(c, FX_HOOK, c->suspend_command, c->nsuspend_command,
                                    "alice@example.edu", "limit x; rm -rf / `id`", 7);
  assert_non_null(j);
  fx_job_work(j);
  assert_int_equal(j->rc, 0);
  snprintf(out, sizeof out, "%s/args", dir);
  /* no shell: the reason arrives as one argument, untouched */
  assert_string_equal(slurp(out), "alice@example.edu\nalice\nlimit x; rm -rf / `id`\nid=7\n100%\n");
  fx_job_free(j);
  conf_free(c);
}

static void test_failing_hook_reports(void **state) {
  char extra[256];
  script("bad", "echo 'ldap: server down' >&2; exit 3");
  snprintf(extra, sizeof extra, "suspend_command = [ \"%s/bad\", \"%%a\" ];\n", dir);
  struct conf *c = conf_with(extra);
  struct fx_job *j = fx_job_command(c, FX_HOOK, c->suspend_command, c->nsuspend_command, "a@example.edu", "", 1);
  fx_job_work(j);
  assert_int_equal(j->rc, -1);
  assert_non_null(strstr(j->err, "exit 3"));
  assert_non_null(strstr(j->err, "ldap: server down"));
  fx_job_free(j);
  conf_free(c);
}

static void test_hook_time_limit(void **state) {
  char extra[256];
  script("slow", "sleep 30");
  snprintf(extra, sizeof extra, "suspend_command = [ \"%s/slow\" ];\ncommand_timeout = 1;\n", dir);
  struct conf *c = conf_with(extra);
  struct fx_job *j = fx_job_command(c, FX_HOOK, c->suspend_command, c->nsuspend_command, "a@example.edu", "", 1);
  fx_job_work(j);
  assert_int_equal(j->rc, -1);
  assert_non_null(strstr(j->err, "timed out"));
  fx_job_free(j);
  conf_free(c);
}

static void test_alert_email(void **state) {
  char extra[512], path[128];
  script("sendmail", "d=$(dirname \"$0\"); for a in \"$@\"; do echo \"$a\"; done > \"$d/mail.args\"; cat > \"$d/mail.txt\"");
  snprintf(extra, sizeof extra,
           "alert_email = [ \"postmaster@example.edu\", \"noc@example.edu\" ];\nalert_from = \"mailfuse@example.edu\";\n"
           "sendmail_command = [ \"%s/sendmail\", \"-i\" ];\n", dir);
  struct conf *c = conf_with(extra);
  struct fx_job *j = fx_job_email(c, "Subject: [mailfuse] alice suspended\n\nbody\n", 3);
  assert_non_null(j);
  fx_job_work(j);
  assert_int_equal(j->rc, 0);
  snprintf(path, sizeof path, "%s/mail.args", dir);
  assert_string_equal(slurp(path), "-i\n-f\nmailfuse@example.edu\n--\npostmaster@example.edu\nnoc@example.edu\n");
  snprintf(path, sizeof path, "%s/mail.txt", dir);
  assert_string_equal(slurp(path), "Subject: [mailfuse] alice suspended\n\nbody\n");
  fx_job_free(j);
  conf_free(c);
  /* not configured: no job */
  c = conf_with("");
  assert_null(fx_job_email(c, "x", 1));
  assert_null(fx_job_webhook(c, "{}", 1));
  assert_null(fx_job_deny(c, NULL, 0));
  conf_free(c);
}

static void test_deny_file(void **state) {
  char extra[256], path[128];
  snprintf(path, sizeof path, "%s/deny", dir);
  snprintf(extra, sizeof extra, "dovecot_deny_file = \"%s\";\n", path);
  struct conf *c = conf_with(extra);
  const char *acc[] = {"alice@example.edu", "bob@other.org"};
  struct fx_job *j = fx_job_deny(c, acc, 2);
  fx_job_work(j);
  assert_int_equal(j->rc, 0);
  char *txt = slurp(path);
  assert_non_null(strstr(txt, "\nalice@example.edu\n"));
  assert_non_null(strstr(txt, "\nalice\n"));
  assert_non_null(strstr(txt, "\nbob@other.org\n"));
  assert_null(strstr(txt, "\nbob\n"));
  fx_job_free(j);
  conf_free(c);
}

static void test_nft_command_line(void **state) {
  struct conf *c = conf_with("nft_set = \"inet mailfuse blocked4\";\nnft_set6 = \"inet mailfuse blocked6\";\n");
  struct fx_job *j = fx_job_nft(c, "198.51.100.7", 3600, false, 1);
  assert_non_null(j);
  const char *want[] = {"/usr/sbin/nft", "add", "element", "inet", "mailfuse", "blocked4", "{ 198.51.100.7 timeout 3600s }"};
  for (int i = 0; i < 7; i++) assert_string_equal(j->argv[i], want[i]);
  assert_null(j->argv[7]);
  fx_job_free(j);
  j = fx_job_nft(c, "2001:db8::1", 0, true, 0);
  assert_string_equal(j->argv[1], "delete");
  assert_string_equal(j->argv[5], "blocked6");
  assert_string_equal(j->argv[6], "{ 2001:db8::1 }");
  fx_job_free(j);
  conf_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_hook_placeholders, setup, teardown),
      cmocka_unit_test_setup_teardown(test_failing_hook_reports, setup, teardown),
      cmocka_unit_test_setup_teardown(test_hook_time_limit, setup, teardown),
      cmocka_unit_test_setup_teardown(test_alert_email, setup, teardown),
      cmocka_unit_test_setup_teardown(test_deny_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_nft_command_line, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
