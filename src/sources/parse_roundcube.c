/* parse_roundcube.c - Roundcube userlogins and errors lines into login events
 *
 * Lines (file "[d-M-Y H:i:s O]: [<sess8> ]text" or syslog program
 * "roundcube", "[<sess8> ]text"):
 *  - userlogins (log_logins=true, rcmail::log_login):
 *      "Successful login for U (ID: n) from IP in session S"  -> LE_LOGIN_OK
 *      "Failed login for U from IP in session S (error: n)"   -> LE_LOGIN_FAIL
 *      "FAILED login for U from IP" (old versions)            -> LE_LOGIN_FAIL
 *  - errors: "IMAP Error: Login failed for U [against H ]from IP. <IMAP
 *    reply> in FILE on line N (...)"                          -> LE_LOGIN_FAIL
 *    (not when the reply is "Could not connect ...": the IMAP server was
 *    down, no password was checked).
 * Everything else Roundcube logs (PHP and DB errors, other IMAP errors) is
 * LE_NONE. service is "webmail" (a static view).
 *
 * The client address: Roundcube writes "REMOTE_ADDR[ (X-Real-IP: a,
 * X-Forwarded-For: b)]" (older versions without the space). We take the
 * first address, as fail2ban's roundcube-auth filter does (its sample
 * gh-1303 expects 192.0.2.2 from "192.0.2.2(X-Real-IP: 192.0.2.3,..."):
 * Roundcube's remote_ip() already replaces REMOTE_ADDR with the forwarded
 * address when the proxy is in its proxy_whitelist, and the headers in
 * parentheses are whatever the client sent, so trusting them would let
 * anyone choose the address that gets blamed.
 *
 * The user name is the client's own text and may contain " from 1.2.3.4"
 * (fail2ban's injection cases). An address counts only when it is a valid
 * IP followed by the end of the line, " in session ", "(X-" / " (X-", or
 * ". " and an upper-case word (the IMAP reply, "AUTHENTICATE ..."); the
 * first such " from " wins. A userlogins failure and the errors line of
 * the same attempt are the same failure: reason says which log it came
 * from ("Failed login" / "IMAP Error: Login failed") so a consumer that
 * reads both can keep one (prefer userlogins, it has the session).
 */
#include <stdbool.h>
#include <string.h>

#include "core/netaddr.h"
#include "sources/logparse_internal.h"

#define RC_SESS_MAX 64   /* "<sess>" prefix: log_session_id is 8, allow more */
#define RC_IP_MAX 45     /* longest textual IPv6 address */

static const struct strview SV_WEBMAIL = {"webmail", 7};



/* Strip "<sess> " (Roundcube's log_session_id); returns the id or empty. */
static struct strview rc_strip_sess(struct strview *msg) {
  if (msg->len < 3 || msg->p[0] != '<') return SV_NULL;
  size_t lim = msg->len < RC_SESS_MAX + 2 ? msg->len : RC_SESS_MAX + 2;
  const char *gt = memchr(msg->p, '>', lim);
  if (!gt) return SV_NULL;
  struct strview id = sv_mk(msg->p + 1, (size_t)(gt - msg->p) - 1);
  size_t used = (size_t)(gt - msg->p) + 1;
  while (used < msg->len && msg->p[used] == ' ') used++;
  *msg = sv_from(*msg, used);
  return id;
}

static bool rc_ip_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '.' ||
         c == ':';
}

/* True when what follows a candidate address shows it is Roundcube's own field. */
static bool rc_after_ok(struct strview t) {
  if (t.len == 0 || SV_STARTS(t, " in session ") || SV_STARTS(t, "(X-") || SV_STARTS(t, " (X-"))
    return true;
  if (t.p[0] != '.') return false;
  if (t.len == 1) return true;
  return t.len >= 3 && t.p[1] == ' ' && t.p[2] >= 'A' && t.p[2] <= 'Z';
}

/* The address after " from " at v[at], or empty when it is not a real field. */
static struct strview rc_addr_at(struct strview v, size_t at) {
  struct strview t = sv_from(v, at);
  size_t n = 0;
  struct netaddr a;
  while (n < t.len && n <= RC_IP_MAX && rc_ip_char(t.p[n])) n++;
  if (n > 0 && t.p[n - 1] == '.') n--; /* "1.2.3.4. AUTHENTICATE" */
  if (n == 0 || !rc_after_ok(sv_from(t, n)) || netaddr_parse(t.p, n, &a) < 0) return SV_NULL;
  return sv_mk(t.p, n);
}

/* Find user and ip in "U [against H ]from IP..." (v starts at U); 0 or -1. */
static int rc_user_from(struct strview v, struct logev *ev) {
  size_t off = 0;
  long f;
  while ((f = SV_FIND(sv_from(v, off), " from ")) >= 0) {
    size_t at = off + (size_t)f;
    struct strview ip = rc_addr_at(v, at + 6);
    if (ip.len) {
      ev->ip = ip;
      ev->user = sv_mk(v.p, at);
      return 0;
    }
    off = at + 1;
  }
  return -1;
}

/* Cut " against HOST" (1.5+) and " (ID: n)" (successful logins) off the user. */
static void rc_trim_user(struct strview *user) {
  static const char *const tails[] = {" against ", " (ID: "};
  for (size_t t = 0; t < sizeof tails / sizeof tails[0]; t++) {
    size_t n = strlen(tails[t]);
    for (size_t i = user->len; i-- > 0;) {
      if (i + n <= user->len && memcmp(user->p + i, tails[t], n) == 0) {
        if (memchr(user->p + i + n, ' ', user->len - i - n) == NULL) user->len = i;
        break;
      }
    }
  }
}

/* Session id after " in session " (userlogins), if any. */
static struct strview rc_session(struct strview v, struct strview ip) {
  struct strview t = sv_from(v, (size_t)(ip.p - v.p) + ip.len);
  long at = SV_FIND(t, " in session ");
  if (at < 0) return SV_NULL;
  t = sv_from(t, (size_t)at + 12);
  const char *sp = memchr(t.p, ' ', t.len);
  return sp ? sv_mk(t.p, (size_t)(sp - t.p)) : t;
}

/* The kinds of Roundcube line we read, by their fixed prefix. */
static const struct rc_shape {
  const char *prefix;
  enum logev_kind kind;
  size_t reason_len; /* reason = this many bytes of the prefix */
} rc_shapes[] = {
    {"Successful login for ", LE_LOGIN_OK, 0},
    {"Failed login for ", LE_LOGIN_FAIL, 12},
    {"FAILED login for ", LE_LOGIN_FAIL, 12},
    {"IMAP Error: Login failed for ", LE_LOGIN_FAIL, 24},
    {"Login failed for ", LE_LOGIN_FAIL, 12},
};

static int rc_event(const struct rc_shape *sh, struct strview msg, struct strview sess,
                    struct logev *ev, enum logparse_miss *miss) {
  struct strview body = sv_from(msg, strlen(sh->prefix));
  if (rc_user_from(body, ev) < 0) {
    *miss = LM_ROUNDCUBE;
    return 0;
  }
  struct strview after = sv_from(body, (size_t)(ev->ip.p - body.p) + ev->ip.len);
  if (sh->kind == LE_LOGIN_FAIL && SV_FIND(after, ". Could not connect") == 0) {
    ev->ip = ev->user = SV_NULL; /* IMAP server unreachable: not a password failure */
    return 1;
  }
  rc_trim_user(&ev->user);
  ev->kind = sh->kind;
  ev->service = SV_WEBMAIL;
  ev->session = rc_session(body, ev->ip);
  if (ev->session.len == 0) ev->session = sess;
  if (sh->kind == LE_LOGIN_FAIL) {
    ev->attempts = 1;
    ev->reason = sv_mk(msg.p, sh->reason_len);
  }
  return 1;
}

static void ev_reset(struct logev *ev) {
  int64_t ts = ev->ts;
  uint32_t usec = ev->usec;
  enum logev_source src = ev->source;
  memset(ev, 0, sizeof *ev);
  ev->ts = ts;
  ev->usec = usec;
  ev->source = src;
  ev->kind = LE_NONE;
}

int parse_roundcube(const struct logline *l, struct logev *ev, enum logparse_miss *miss) {
  struct strview msg = l->msg;
  ev_reset(ev);
  struct strview sess = rc_strip_sess(&msg);
  for (size_t i = 0; i < sizeof rc_shapes / sizeof rc_shapes[0]; i++) {
    const struct rc_shape *sh = &rc_shapes[i];
    if (sv_starts(msg, sh->prefix, strlen(sh->prefix))) return rc_event(sh, msg, sess, ev, miss);
  }
  return 1; /* other Roundcube errors and notices */
}
