/* conf_actions.c - checks and derived values of the containment keys */
#include <stdlib.h>
#include <string.h>

#include "core/conf_internal.h"

/* Programs run without a shell and without a PATH search. */
static int absolute(struct conf_err *e, const char *key, const char *path) {
  if (!path[0] || path[0] == '/') return 0;
  return conf_fail(e, 0, "%s: '%s' must be an absolute path (no shell, no PATH search)", key, path);
}

static int command(struct conf_err *e, const char *key, char **argv, size_t n) {
  return n ? absolute(e, key, argv[0]) : 0;
}

/* "FAMILY TABLE SET": three words. */
static int nft_set_ok(struct conf_err *e, const char *key, const char *s) {
  if (!s[0]) return 0;
  int words = 0;
  for (const char *p = s; *p;) {
    while (*p == ' ') p++;
    if (!*p) break;
    words++;
    while (*p && *p != ' ') {
      if (!(*p == '_' || *p == '-' || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
            (*p >= 'A' && *p <= 'Z')))
        return conf_fail(e, 0, "%s: '%s' has a character nft names cannot have", key, s);
      p++;
    }
  }
  if (words != 3) return conf_fail(e, 0, "%s: '%s' is not \"FAMILY TABLE SET\"", key, s);
  return 0;
}

static const char *const loopback[] = {"127.0.0.0/8", "::1/128"};

int conf_finish_actions(struct conf *c, struct conf_err *e) {
  if (command(e, "kick_command", c->kick_command, c->nkick_command) < 0 ||
      command(e, "suspend_command", c->suspend_command, c->nsuspend_command) < 0 ||
      command(e, "release_command", c->release_command, c->nrelease_command) < 0 ||
      command(e, "sendmail_command", c->sendmail_command, c->nsendmail_command) < 0 ||
      absolute(e, "postqueue_command", c->postqueue_command) < 0 ||
      absolute(e, "postsuper_command", c->postsuper_command) < 0 ||
      absolute(e, "nft_command", c->nft_command) < 0 ||
      absolute(e, "dovecot_deny_file", c->dovecot_deny_file) < 0 ||
      nft_set_ok(e, "nft_set", c->nft_set) < 0 || nft_set_ok(e, "nft_set6", c->nft_set6) < 0)
    return -1;
  if (c->nalert_email && !c->nsendmail_command)
    return conf_fail(e, 0, "alert_email needs a sendmail_command");
  if (c->webhook_url[0] && strncmp(c->webhook_url, "http://", 7) != 0 &&
      strncmp(c->webhook_url, "https://", 8) != 0)
    return conf_fail(e, 0, "webhook_url: '%s' is not an http:// or https:// URL", c->webhook_url);
  for (size_t i = 0; i < c->nwebhook_headers; i++)
    if (!strchr(c->webhook_headers[i], ':') || strpbrk(c->webhook_headers[i], "\r\n"))
      return conf_fail(e, 0, "webhook_headers: '%s' is not \"Name: value\"", c->webhook_headers[i]);
  if (c->auth_api_header[0] &&
      (!strchr(c->auth_api_header, ':') || strpbrk(c->auth_api_header, "\r\n")))
    return conf_fail(e, 0, "auth_api_header: '%s' is not \"Name: value\"", c->auth_api_header);
  for (size_t i = 0; i < c->nauth_listen; i++)
    if (strncmp(c->auth_listen[i], "inet:", 5) != 0 && strncmp(c->auth_listen[i], "unix:/", 6) != 0)
      return conf_fail(e, 0, "auth_listen: '%s' is neither inet:HOST:PORT nor unix:/path",
                       c->auth_listen[i]);
  free(c->webmail_nets);
  if (!(c->webmail_nets = calloc(c->nwebmail_networks + 1, sizeof *c->webmail_nets)))
    return conf_fail(e, 0, "out of memory");
  for (size_t i = 0; i < c->nwebmail_networks; i++)
    if (netmask_parse(c->webmail_networks[i], &c->webmail_nets[i]) < 0)
      return conf_fail(e, 0, "webmail_networks: '%s' is not an address or CIDR network", c->webmail_networks[i]);
  if (c->login_delay_failures > c->login_reject_failures)
    return conf_fail(e, 0, "login_delay_failures must not exceed login_reject_failures");
  /* never blocked: loopback, the trusted submitters, the webmail servers, never_block */
  size_t n = 2 + c->nsender_account_networks + c->nwebmail_networks + c->nnever_block;
  free(c->never_nets);
  if (!(c->never_nets = calloc(n, sizeof *c->never_nets)))
    return conf_fail(e, 0, "out of memory");
  c->nnever_nets = 0;
  for (size_t i = 0; i < 2; i++)
    if (netmask_parse(loopback[i], &c->never_nets[c->nnever_nets++]) < 0)
      return conf_fail(e, 0, "internal: loopback network");
  for (size_t i = 0; i < c->nsender_account_networks; i++)
    c->never_nets[c->nnever_nets++] = c->sender_nets[i];
  for (size_t i = 0; i < c->nwebmail_networks; i++) c->never_nets[c->nnever_nets++] = c->webmail_nets[i];
  for (size_t i = 0; i < c->nnever_block; i++)
    if (netmask_parse(c->never_block[i], &c->never_nets[c->nnever_nets++]) < 0)
      return conf_fail(e, 0, "never_block: '%s' is not an address or CIDR network", c->never_block[i]);
  return 0;
}
