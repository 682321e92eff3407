/* parse_dovecot.c - Dovecot 2.3/2.4 login and auth lines into login events
 *
 * Two families of lines matter:
 *  - login processes (imap-login, pop3-login, submission-login,
 *    managesieve-login): "<message>: user=<u>, method=M, rip=R, lip=L,
 *    mpid=N, TLS|secured, session=<S>". "Login" (2.3) and "Logged in"
 *    (2.4) give LE_LOGIN_OK; a message with "(auth failed, N attempts"
 *    (2.3 "Disconnected (...)", "Aborted login (...)", 2.4 "Login aborted:
 *    ... (auth_failed)"), "(tried to use disallowed|disabled X auth)" or
 *    "(proxy dest auth failed)" gives LE_LOGIN_FAIL with attempts; every
 *    other message ("no auth attempts", "Inactivity", ...) is LE_NONE.
 *    service is the process name without "-login", reason the message.
 *  - the auth process (auth_verbose=yes): "auth: passwd-file(u,ip[,<s>]):
 *    unknown user|Password mismatch", "auth-worker(N): pam(u,ip):
 *    pam_authenticate() failed: ...", "... conn unix:auth-worker (...):
 *    auth-worker<N>: sql(u,ip): ...", 2.4 "auth(u,ip,sasl:login)<s>: sql:
 *    Password mismatch", and PAM's own "pam_unix(dovecot:auth):
 *    authentication failure; ... rhost=IP [user=U]". These give
 *    LE_LOGIN_FAIL with service "auth" and reason set.
 *
 * Double counting: an IMAP/POP3 failure shows up twice, once per password
 * check in the auth process and once in the login process's disconnect
 * line (which carries attempts=N). SMTP AUTH through Postfix or Exim shows
 * up in the auth process and in the MTA's own log. So service "auth"
 * events are a second view of failures counted elsewhere: a consumer that
 * reads the login and MTA logs should ignore them (they also carry no
 * protocol), and use them only when it reads nothing else.
 *
 * Where the process name is: syslog has program "dovecot" and the message
 * "imap-login: ..." (sometimes nested "dovecot: auth(default): ..."); a
 * log_path file has it as the program ("imap-login", "auth-worker(304)",
 * "auth(u,ip,sasl:login)<s>"). Both are handled, as is a level ("Info: ")
 * before or after the process name.
 *
 * Parsing is bounded scanning over views (memchr/memmem, no regex, no
 * allocation). User names are attacker-controlled: the real "rip=" is
 * found after the last ">, method=" / ">, rip=", never inside user=<...>.
 * Lines of a known process with no event are LE_NONE; a login line whose
 * fields are broken, or an unknown process, is a miss (LM_DOVECOT).
 */
#include <stdbool.h>
#include <string.h>

#include "core/numparse.h"
#include "sources/logparse_internal.h"

#define DOVECOT_NEST_MAX 3         /* "dovecot: auth(default): ..." prefixes followed */
#define DOVECOT_AUTH_SKIP_MAX 4    /* "conn ...: auth-worker<N>: " prefixes skipped */
#define DOVECOT_ATTEMPTS_MAX 100000000u
#define DOVECOT_IP_MAX 45          /* longest textual IPv6 address */

static const struct strview SV_AUTH = {"auth", 4};

/* One process token: "imap-login", "auth-worker(304)", "auth(u,ip,sasl:login)<s>". */
struct dc_proc {
  struct strview name, args, sess;
};

/* ---- view helpers ---- */


/* Offset of the first s in v, or -1. */

/* Offset of the last s in v, or -1. */
static long sv_rfind(struct strview v, const char *s, size_t n) {
  long last = -1, off = 0, f;
  while ((f = sv_find(sv_from(v, (size_t)off), s, n)) >= 0) {
    last = off + f;
    off = last + 1;
  }
  return last;
}
#define SV_RFIND(v, lit) sv_rfind((v), (lit), sizeof(lit) - 1)

/* The bytes of v up to the first c (all of v when there is none). */
static struct strview sv_until(struct strview v, char c) {
  const char *e = v.len ? memchr(v.p, c, v.len) : NULL;
  return e ? sv_mk(v.p, (size_t)(e - v.p)) : v;
}

static bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '_';
}

/* True when v is shaped like an IPv4 or IPv6 address (cheap, no inet_pton). */
static bool looks_ip(struct strview v) {
  bool digit = false, sep = false;
  if (v.len < 2 || v.len > DOVECOT_IP_MAX) return false;
  for (size_t i = 0; i < v.len; i++) {
    char c = v.p[i];
    if (c >= '0' && c <= '9') digit = true;
    else if (c == '.' || c == ':') sep = true;
    else if (!((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return false;
  }
  return digit && sep;
}

/* ---- process token and level ---- */

/* Strip a leading Dovecot log level ("Info: "); true if one was there. */
static bool dc_strip_level(struct strview *v) {
  static const char *const levels[] = {"Info: ", "Debug: ", "Warning: ", "Warn: ",
                                       "Error: ", "Fatal: ", "Panic: "};
  for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
    size_t n = strlen(levels[i]);
    if (sv_starts(*v, levels[i], n)) {
      *v = sv_from(*v, n);
      return true;
    }
  }
  return false;
}

/* Parse "name[(args)][<x>...]" at the start of v; returns bytes used, 0 if
 * v does not start with a process token. */
static size_t dc_proc_parse(struct strview v, struct dc_proc *p) {
  size_t i = 0;
  memset(p, 0, sizeof *p);
  while (i < v.len && is_name_char(v.p[i])) i++;
  if (i == 0) return 0;
  p->name = sv_mk(v.p, i);
  if (i < v.len && v.p[i] == '(') {
    /* args end at the first ')' that ends the token: "): ", ")<" or the end */
    const char *q = v.p + i + 1, *end = v.p + v.len;
    while ((q = memchr(q, ')', (size_t)(end - q))) != NULL) {
      if (q + 1 == end || q[1] == '<' || (end - q > 2 && q[1] == ':' && q[2] == ' ')) break;
      q++;
    }
    if (!q) return 0;
    p->args = sv_mk(v.p + i + 1, (size_t)(q - v.p) - i - 1);
    i = (size_t)(q - v.p) + 1;
  }
  while (i < v.len && v.p[i] == '<') { /* 2.4 "<session>", imap(u)"<pid><session>" */
    const char *gt = memchr(v.p + i, '>', v.len - i);
    if (!gt) return 0;
    p->sess = sv_mk(v.p + i + 1, (size_t)(gt - v.p) - i - 1);
    i = (size_t)(gt - v.p) + 1;
  }
  return i;
}

/* Split "proc: rest" at the start of v; 0 ok, -1 not a process prefix. */
static int dc_proc_split(struct strview v, struct dc_proc *p, struct strview *rest) {
  size_t used = dc_proc_parse(v, p);
  if (used == 0 || used + 1 >= v.len || v.p[used] != ':' || v.p[used + 1] != ' ') return -1;
  *rest = sv_from(v, used + 2);
  return 0;
}

/* Find the Dovecot process and the message after it and its level, from
 * either layout. 0 ok, -1 when the line has no process token. */
static int dc_locate(const struct logline *l, struct dc_proc *p, struct strview *rest) {
  struct strview prog = l->prog, msg = l->msg;
  bool outer = sv_eq(prog, "dovecot") || sv_eq(prog, "Info") || sv_eq(prog, "Warn") ||
               sv_eq(prog, "Warning") || sv_eq(prog, "Error") || sv_eq(prog, "Fatal");
  if (!outer) {
    if (dc_proc_parse(prog, p) != prog.len) return -1;
    *rest = msg;
    dc_strip_level(rest);
    return 0;
  }
  for (int depth = 0; depth < DOVECOT_NEST_MAX; depth++) {
    dc_strip_level(&msg);
    if (dc_proc_split(msg, p, rest) < 0) return -1;
    if (!sv_eq(p->name, "dovecot")) {
      dc_strip_level(rest);
      return 0;
    }
    msg = *rest;
  }
  return -1;
}

/* ---- login processes ---- */

/* Value of "key" in the element list: the first occurrence at or after
 * from that starts the list or follows ", ", up to the next ','. */
static struct strview dc_elem(struct strview elems, size_t from, const char *key) {
  size_t n = strlen(key);
  struct strview v = sv_from(elems, from);
  long off = 0, f;
  while ((f = sv_find(sv_from(v, (size_t)off), key, n)) >= 0) {
    size_t at = from + (size_t)off + (size_t)f;
    if (at == 0 || (at >= 2 && elems.p[at - 2] == ',' && elems.p[at - 1] == ' '))
      return sv_until(sv_from(elems, at + n), ',');
    off += f + 1;
  }
  return SV_NULL;
}

/* Fill user, method, ip, lip, session from "user=<u>, method=M, rip=..."; 0 or -1
 * without rip. The user is the client's own text and may contain ", rip=":
 * the real rip is the last one (only server text follows it), and the
 * user ends at the last ">, " before it. */
static int dc_elements(struct strview elems, struct logev *ev) {
  long rip = SV_RFIND(elems, ", rip=");
  size_t ip_at = rip >= 0 ? (size_t)rip + 6 : 4;
  if (rip < 0 && !SV_STARTS(elems, "rip=")) return -1;
  ev->ip = sv_until(sv_from(elems, ip_at), ',');
  if (ev->ip.len == 0) return -1;
  struct strview before = sv_mk(elems.p, rip >= 0 ? (size_t)rip : 0);
  size_t after_user = 0;
  if (SV_STARTS(before, "user=<")) {
    long end = SV_RFIND(before, ">, ");
    if (end < 0 && before.len > 6 && before.p[before.len - 1] == '>') end = (long)before.len - 1;
    if (end < 6) return -1;
    ev->user = sv_mk(elems.p + 6, (size_t)end - 6);
    after_user = (size_t)end + 1;
  }
  long m = SV_FIND(sv_from(before, after_user), ", method=");
  if (m >= 0)
    ev->method = sv_until(sv_from(before, after_user + (size_t)m + 9), ',');
  else if (after_user == 0 && SV_STARTS(before, "method="))
    ev->method = sv_until(sv_from(before, 7), ',');
  size_t after_ip = ip_at + ev->ip.len;
  ev->lip = dc_elem(elems, after_ip, "lip=");
  long s = SV_RFIND(sv_from(elems, after_ip), ", session=<");
  if (s >= 0) ev->session = sv_until(sv_from(elems, after_ip + (size_t)s + 11), '>');
  return 0;
}

/* Attempts from "(auth failed, N attempts"; 1 when not a number. */
static uint32_t dc_attempts(struct strview head, long at) {
  struct strview num = sv_until(sv_from(head, (size_t)at + 14), ' ');
  uint64_t n;
  if (num_parse_u64(num.p, num.len, DOVECOT_ATTEMPTS_MAX, &n) < 0 || n == 0) return 1;
  return (uint32_t)n;
}

/* True when the login message (before the elements) reports a failed login. */
static bool dc_head_failed(struct strview head, uint32_t *attempts) {
  long at = SV_FIND(head, "(auth failed, ");
  if (at >= 0) {
    *attempts = dc_attempts(head, at);
    return true;
  }
  *attempts = 1;
  return SV_FIND(head, "(tried to use disallowed ") >= 0 ||
         SV_FIND(head, "(tried to use disabled ") >= 0 ||
         SV_FIND(head, "(proxy dest auth failed)") >= 0 ||
         (SV_STARTS(head, "proxy(") && SV_FIND(head, "): Login failed to ") >= 0);
}

static bool dc_head_ok(struct strview head) {
  return sv_eq(head, "Login") || sv_eq(head, "Logged in") ||
         (SV_STARTS(head, "proxy(") && SV_FIND(head, "): started proxying to ") >= 0);
}

/* Where the element list starts (the ": " before it), or -1. */
static long dc_elements_at(struct strview rest) {
  long at = SV_FIND(rest, ": user=<");
  if (at < 0) at = SV_FIND(rest, ": method=");
  if (at < 0) at = SV_FIND(rest, ": rip=");
  return at;
}

static int dc_login(const struct dc_proc *p, struct strview rest, struct logev *ev,
                    enum logparse_miss *miss) {
  long at = dc_elements_at(rest);
  if (at < 0) return 1; /* warnings, errors: no client, nothing for us */
  struct strview head = sv_mk(rest.p, (size_t)at);
  uint32_t attempts = 0;
  enum logev_kind kind = dc_head_ok(head)                  ? LE_LOGIN_OK
                         : dc_head_failed(head, &attempts) ? LE_LOGIN_FAIL
                                                           : LE_NONE;
  if (kind == LE_NONE) return 1;
  if (dc_elements(sv_from(rest, (size_t)at + 2), ev) < 0) {
    *miss = LM_DOVECOT;
    return 0;
  }
  ev->kind = kind;
  ev->service = sv_mk(p->name.p, p->name.len - 6); /* without "-login" */
  if (kind == LE_LOGIN_FAIL) {
    ev->attempts = attempts;
    ev->reason = head;
  }
  return 1;
}

/* ---- auth process ---- */

/* Split "user,ip[,<sess>|,|,sasl:mech]" from the right; 0 or -1. */
static int dc_req_args(struct strview args, struct logev *ev) {
  const char *end = args.p + args.len;
  for (int field = 0; field < 2; field++) {
    const char *c = end;
    while (c > args.p && c[-1] != ',') c--;
    if (c == args.p) return -1;
    struct strview f = sv_mk(c, (size_t)(end - c));
    if (field == 0 && (f.len == 0 || f.p[0] == '<' || SV_STARTS(f, "sasl:"))) {
      if (f.len > 2 && f.p[0] == '<') ev->session = sv_mk(f.p + 1, f.len - 2);
      if (SV_STARTS(f, "sasl:")) ev->method = sv_from(f, 5);
      end = c - 1;
      continue;
    }
    if (!looks_ip(f)) return -1;
    ev->ip = f;
    ev->user = sv_mk(args.p, (size_t)(c - 1 - args.p));
    return 0;
  }
  return -1;
}

/* The failure text, cut before any " (given password...)" detail; empty if none. */
static struct strview dc_auth_reason(struct strview r) {
  static const char *const fails[] = {"unknown user", "Password mismatch", "invalid credentials",
                                      "password mismatch"};
  if (SV_STARTS(r, "pam_authenticate() failed: ")) {
    bool temp = SV_FIND(r, "cannot retrieve") >= 0 || SV_FIND(r, "System error") >= 0;
    return temp ? SV_NULL : r;
  }
  for (size_t i = 0; i < sizeof fails / sizeof fails[0]; i++)
    if (sv_starts(r, fails[i], strlen(fails[i]))) return sv_mk(r.p, strlen(fails[i]));
  return SV_NULL;
}

/* "driver(args)[<sess>]: text" with args that carry user and ip; 0 or -1. */
static int dc_auth_request(struct strview v, struct logev *ev, struct strview *text) {
  struct dc_proc req;
  if (dc_proc_split(v, &req, text) < 0 || req.args.len == 0) return -1;
  if (dc_req_args(req.args, ev) < 0) return -1;
  if (req.sess.len) ev->session = req.sess;
  return 0;
}

/* "pam_unix(dovecot:auth): authentication failure; ... rhost=IP[ user=U]". */
static int dc_pam_unix(struct strview v, struct logev *ev) {
  struct strview t = v;
  while (t.len && t.p[t.len - 1] == ' ') t.len--;
  long u = SV_RFIND(t, " user=");
  long r = SV_RFIND(t, " rhost=");
  if (r < 0) return -1;
  if (u > r) {
    struct strview user = sv_from(t, (size_t)u + 6);
    if (memchr(user.p, ' ', user.len)) return -1;
    ev->user = user;
    t.len = (size_t)u;
    while (t.len && t.p[t.len - 1] == ' ') t.len--;
  }
  struct strview ip = sv_from(t, (size_t)r + 7);
  if (ip.len == 0 || memchr(ip.p, ' ', ip.len)) return -1;
  ev->ip = ip;
  ev->reason = sv_mk(v.p + 24, 22); /* "authentication failure" */
  return 0;
}

/* The failure reason of text, also behind one 2.4 "passdb[(name)]: " prefix. */
static struct strview dc_reason_of(struct strview text) {
  struct strview r = dc_auth_reason(text), after;
  struct dc_proc drv;
  if (r.len == 0 && dc_proc_split(text, &drv, &after) == 0) r = dc_auth_reason(after);
  return r;
}

/* Fill a LE_LOGIN_FAIL from an auth process line; LE_NONE when it is not one. */
static void dc_auth(const struct dc_proc *p, struct strview rest, struct logev *ev) {
  struct strview text = rest;
  struct logev e = *ev;
  bool found = false;
  if (SV_STARTS(rest, "pam_unix(dovecot:auth): authentication failure;")) {
    found = dc_pam_unix(rest, &e) == 0;
  } else if (p->args.len && memchr(p->args.p, ',', p->args.len)) {
    /* 2.4: "auth(u,ip,sasl:login)<s>: sql: Password mismatch" */
    found = dc_req_args(p->args, &e) == 0;
    if (p->sess.len) e.session = p->sess;
  } else {
    struct strview v = rest;
    for (int i = 0; i < DOVECOT_AUTH_SKIP_MAX && !found; i++) {
      found = dc_auth_request(v, &e, &text) == 0;
      long colon = SV_FIND(v, ": ");
      if (colon < 0) break;
      v = sv_from(v, (size_t)colon + 2);
    }
  }
  if (!found) return;
  if (!e.reason.len) e.reason = dc_reason_of(text);
  if (!e.reason.len) return;
  e.kind = LE_LOGIN_FAIL;
  e.service = SV_AUTH;
  e.attempts = 1;
  *ev = e;
}

/* ---- dispatch ---- */

static bool dc_is_login(struct strview name) {
  return name.len > 6 && memcmp(name.p + name.len - 6, "-login", 6) == 0;
}

static bool dc_is_auth(struct strview name) {
  return sv_eq(name, "auth") || sv_eq(name, "auth-worker") || sv_eq(name, "dovecot-auth");
}

/* Processes whose lines carry nothing for us (mail sessions, delivery, master). */
static bool dc_is_noise(struct strview name) {
  static const char *const names[] = {
      "imap", "pop3", "submission", "managesieve", "lmtp", "lda", "deliver", "master",
      "config", "log", "anvil", "stats", "indexer", "indexer-worker", "doveadm", "dict",
      "quota-status", "replicator", "aggregator", "director", "ssl-params", "IMAP", "POP3",
      "imap-hibernate", "imap-urlauth", "imap-urlauth-worker", "dns-client", "health-check"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (sv_eq(name, names[i])) return true;
  return false;
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

int parse_dovecot(const struct logline *l, struct logev *ev, enum logparse_miss *miss) {
  struct dc_proc p;
  struct strview rest;
  ev_reset(ev);
  if (dc_locate(l, &p, &rest) < 0) {
    /* "dovecot: Dovecot v2.3 starting up", "dovecot: Fatal: ...": master */
    if (sv_eq(l->prog, "dovecot")) return 1;
    *miss = LM_DOVECOT;
    return 0;
  }
  if (dc_is_login(p.name)) return dc_login(&p, rest, ev, miss);
  if (dc_is_auth(p.name)) {
    dc_auth(&p, rest, ev);
    return 1;
  }
  if (dc_is_noise(p.name)) return 1;
  *miss = LM_DOVECOT;
  return 0;
}
