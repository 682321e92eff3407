/* parse_exim.c - Exim main log lines into arrival, delivery and login events
 *
 * The message (after the time stamp; logline_split may leave "[pid] " and,
 * in syslog or journal form, Exim's own "YYYY-MM-DD HH:MM:SS[.fff][ +ZZZZ] "
 * in front: both are skipped here) is one of:
 *  - "<id> <= sender H=name (helo) [ip]:port I=... P=esmtpa A=auth:user
 *    S=size id=msgid T="subject" from <sender> for rcpt rcpt..."
 *      -> LE_ARRIVAL: qid (the Exim message id), sender, ip (bracketed H=
 *         address), user (A= id, between the first and the next ':'),
 *         method (A= authenticator), size, msgid, rcpts/nrcpt (the "for"
 *         list when log_selector has +received_recipients).
 *  - "<id> => rcpt [<orig>] R=router T=transport H=host [ip] ..." and the
 *    "->" (more addresses), ">>" (cutthrough) lines -> LE_DELIVERY status
 *    "sent"; "**" -> "bounced"; "==" -> "deferred"; relay is the H= host
 *    and address (or the transport for local deliveries), dsn the first
 *    "N.N.N" code in the error text. "<id> Completed" -> LE_REMOVED.
 *  - "NAME authenticator failed for host (helo) [ip]:port ...: 535 ...
 *    (set_id=user)" -> LE_LOGIN_FAIL, service "smtp", method NAME. A 4xx
 *    code ("435 Unable to authenticate at present") is the auth backend
 *    being down, not a wrong password: LE_NONE.
 * Everything else is LE_NONE; a line of a shape above with broken fields
 * is a miss (LM_EXIM).
 *
 * H= and the client part of "authenticator failed for" may carry a helo
 * in parentheses that looks like an address ("([1.2.3.5]) [1.2.3.4]"):
 * the address is the first token that starts with '['. set_id= is the
 * client's own text and comes last; it runs to the final ')'.
 * Static views ("sent", "smtp", ...) are used where the line has no text.
 */
#include <stdbool.h>
#include <string.h>

#include "core/numparse.h"
#include "sources/logparse_internal.h"

#define EXIM_ID_MIN 16        /* "1gsu1C-003dCu-Hb"; 4.97+ ids are 23 */
#define EXIM_ID_MAX 23
#define EXIM_RCPTS_MAX 100000 /* recipients counted on one "<=" line */
#define EXIM_SIZE_MAX (UINT64_C(1) << 50)

static const struct strview SV_SMTP = {"smtp", 4};
static const struct strview SV_SENT = {"sent", 4};
static const struct strview SV_BOUNCED = {"bounced", 7};
static const struct strview SV_DEFERRED = {"deferred", 8};



/* The first space-separated token of v. */
static struct strview sv_token(struct strview v) {
  const char *sp = v.len ? memchr(v.p, ' ', v.len) : NULL;
  return sp ? sv_mk(v.p, (size_t)(sp - v.p)) : v;
}

/* v after its first token and the spaces behind it. */
static struct strview sv_next(struct strview v, struct strview tok) {
  size_t i = (size_t)(tok.p - v.p) + tok.len;
  while (i < v.len && v.p[i] == ' ') i++;
  return sv_from(v, i);
}

static bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

static bool is_alnum(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* ---- prefixes ---- */

/* Skip "YYYY-MM-DD HH:MM:SS[.fff][ +ZZZZ] " (Exim's stamp inside syslog). */
static struct strview ex_skip_stamp(struct strview v) {
  static const char shape[] = "dddd-dd-dd dd:dd:dd";
  size_t n = sizeof shape - 1, i;
  if (v.len <= n) return v;
  for (i = 0; i < n; i++)
    if (shape[i] == 'd' ? !is_digit(v.p[i]) : v.p[i] != shape[i]) return v;
  if (i < v.len && v.p[i] == '.')
    for (i++; i < v.len && is_digit(v.p[i]);) i++;
  if (i + 6 <= v.len && v.p[i] == ' ' && (v.p[i + 1] == '+' || v.p[i + 1] == '-') &&
      is_digit(v.p[i + 2]) && is_digit(v.p[i + 5]))
    i += 6;
  if (i >= v.len || v.p[i] != ' ') return v;
  return sv_from(v, i + 1);
}

/* Skip "[pid] " (log_selector +pid). */
static struct strview ex_skip_pid(struct strview v) {
  size_t i = 1;
  if (v.len < 4 || v.p[0] != '[') return v;
  while (i < v.len && is_digit(v.p[i])) i++;
  if (i == 1 || i + 1 >= v.len || v.p[i] != ']' || v.p[i + 1] != ' ') return v;
  return sv_from(v, i + 2);
}

/* True for an Exim message id: three dash-separated alphanumeric parts. */
static bool ex_is_id(struct strview t) {
  int dashes = 0;
  if (t.len < EXIM_ID_MIN || t.len > EXIM_ID_MAX) return false;
  for (size_t i = 0; i < t.len; i++) {
    if (t.p[i] == '-') dashes++;
    else if (!is_alnum(t.p[i])) return false;
  }
  return dashes == 2 && t.p[6] == '-';
}

/* ---- fields ---- */

/* "[ip]" or "[ip]:port" at the start of t: the ip, or empty. */
static struct strview ex_bracket_ip(struct strview t) {
  const char *rb = t.len > 2 && t.p[0] == '[' ? memchr(t.p, ']', t.len) : NULL;
  return rb && rb - t.p > 1 ? sv_mk(t.p + 1, (size_t)(rb - t.p) - 1) : SV_NULL;
}

/* The client address in "name (helo) [ip]:port ...": the first token
 * starting with '[' (a helo in parentheses is skipped), up to limit tokens. */
static struct strview ex_host_ip(struct strview v, int limit, struct strview *through) {
  for (int i = 0; i < limit && v.len; i++) {
    struct strview tok = sv_token(v);
    if (tok.p[0] == '[') {
      if (through) *through = tok;
      return ex_bracket_ip(tok);
    }
    v = sv_next(v, tok);
  }
  return SV_NULL;
}

/* Position of " key" (key like "H=") in v as a field start, or -1. */
static long ex_field(struct strview v, const char *key) {
  size_t n = strlen(key), off = 0;
  long f;
  if (sv_starts(v, key, n)) return 0;
  while ((f = sv_find(sv_from(v, off), key, n)) >= 0) {
    size_t at = off + (size_t)f;
    if (at > 0 && v.p[at - 1] == ' ') return (long)at;
    off = at + 1;
  }
  return -1;
}

/* Value of a one-token field "key=value", or empty. */
static struct strview ex_value(struct strview v, const char *key) {
  long at = ex_field(v, key);
  return at < 0 ? SV_NULL : sv_token(sv_from(v, (size_t)at + strlen(key)));
}

/* v up to a quoted T="..." subject (which may hold anything), for field search. */
static struct strview ex_before_subject(struct strview v, struct strview *after) {
  long t = ex_field(v, "T=\"");
  *after = SV_NULL;
  if (t < 0) return v;
  size_t i = (size_t)t + 3;
  while (i < v.len && !(v.p[i] == '"' && (i + 1 == v.len || v.p[i + 1] == ' '))) {
    if (v.p[i] == '\\') i++;
    i++;
  }
  *after = sv_from(v, i + 1);
  return sv_mk(v.p, (size_t)t);
}

/* ---- arrivals ---- */

/* "A=authenticator:id[:sender]" into method and user. */
static void ex_auth_field(struct strview a, struct logev *ev) {
  const char *c = a.len ? memchr(a.p, ':', a.len) : NULL;
  if (!c) {
    ev->method = a;
    return;
  }
  ev->method = sv_mk(a.p, (size_t)(c - a.p));
  struct strview rest = sv_from(a, (size_t)(c - a.p) + 1);
  const char *c2 = rest.len ? memchr(rest.p, ':', rest.len) : NULL;
  ev->user = c2 ? sv_mk(rest.p, (size_t)(c2 - rest.p)) : rest;
}

/* The "for a b c" list at the end of an arrival (after the subject). */
static void ex_rcpts(struct strview tail, struct logev *ev) {
  long f = ex_field(tail, "for ");
  if (f < 0) return;
  ev->rcpts = sv_from(tail, (size_t)f + 4);
  struct strview v = ev->rcpts;
  while (v.len && ev->nrcpt < EXIM_RCPTS_MAX) {
    struct strview tok = sv_token(v);
    if (tok.len) ev->nrcpt++;
    v = sv_next(v, tok);
  }
}

static int ex_arrival(struct strview qid, struct strview rest, struct logev *ev) {
  struct strview after_subject;
  struct strview f = ex_before_subject(rest, &after_subject);
  ev->kind = LE_ARRIVAL;
  ev->qid = qid;
  struct strview sender = sv_token(rest);
  if (sender.len == 0) return -1;
  ev->sender = sv_eq(sender, "<>") ? sv_mk(sender.p, 0) : sender; /* bounce */
  ev->service = SV_SMTP;
  long h = ex_field(f, "H=");
  if (h >= 0) ev->ip = ex_host_ip(sv_from(f, (size_t)h + 2), 4, NULL);
  ex_auth_field(ex_value(f, "A="), ev);
  ev->msgid = ex_value(f, "id=");
  struct strview size = ex_value(f, "S=");
  uint64_t n;
  if (size.len && num_parse_u64(size.p, size.len, EXIM_SIZE_MAX, &n) == 0) ev->size = n;
  ex_rcpts(after_subject.p ? after_subject : f, ev);
  return 0;
}

/* ---- deliveries ---- */

/* The first "N.N.N" status code (dsn) in the error text, or empty. */
static struct strview ex_dsn(struct strview v) {
  for (size_t i = 0; i + 5 <= v.len; i++) {
    if ((v.p[i] != '2' && v.p[i] != '4' && v.p[i] != '5') || v.p[i + 1] != '.') continue;
    if (i > 0 && v.p[i - 1] != ' ') continue;
    size_t j = i + 2, dots = 0;
    while (j < v.len && (is_digit(v.p[j]) || (v.p[j] == '.' && ++dots))) j++;
    if (dots == 1 && is_digit(v.p[j - 1]) && (j == v.len || v.p[j] == ' '))
      return sv_mk(v.p + i, j - i);
  }
  return SV_NULL;
}

/* "rcpt [<orig>]": the address the sender used. */
static struct strview ex_rcpt(struct strview rest) {
  struct strview tok = sv_token(rest);
  if (memchr(tok.p, '@', tok.len)) return tok;
  struct strview orig = sv_token(sv_next(rest, tok));
  if (orig.len > 2 && orig.p[0] == '<' && orig.p[orig.len - 1] == '>')
    return sv_mk(orig.p + 1, orig.len - 2);
  return tok;
}

static int ex_delivery(struct strview qid, struct strview flag, struct strview rest,
                       struct logev *ev) {
  ev->kind = LE_DELIVERY;
  ev->qid = qid;
  ev->status = flag.p[0] == '*' ? SV_BOUNCED : flag.p[0] == '=' && flag.p[1] == '=' ? SV_DEFERRED
                                                                                   : SV_SENT;
  ev->rcpt = ex_rcpt(rest);
  long h = ex_field(rest, "H=");
  struct strview last;
  if (h >= 0 && ex_host_ip(sv_from(rest, (size_t)h + 2), 4, &last).len) {
    const char *start = rest.p + h + 2;
    ev->relay = sv_mk(start, (size_t)(last.p + last.len - start));
    if (ev->relay.p[ev->relay.len - 1] == ':') ev->relay.len--;
  } else {
    ev->relay = ex_value(rest, "T=");
  }
  long colon = SV_FIND(rest, ": ");
  if (colon >= 0 && ev->status.p != SV_SENT.p) ev->dsn = ex_dsn(sv_from(rest, (size_t)colon));
  return ev->rcpt.len ? 0 : -1;
}

/* ---- authenticator failures ---- */

/* "NAME authenticator failed for host (helo) [ip]:port ...: 535 ... (set_id=u)". */
static int ex_auth_failed(struct strview v, long at, struct logev *ev) {
  struct strview client = sv_from(v, (size_t)at + 26);
  long colon = SV_FIND(client, ": ");
  if (colon < 0) return -1;
  struct strview code = sv_from(client, (size_t)colon + 2);
  if (code.len == 0 || code.p[0] != '5') return 1; /* 4xx: backend trouble */
  ev->ip = ex_host_ip(sv_mk(client.p, (size_t)colon), 4, NULL);
  if (ev->ip.len == 0) return -1;
  ev->kind = LE_LOGIN_FAIL;
  ev->service = SV_SMTP;
  ev->method = sv_mk(v.p, (size_t)at);
  ev->attempts = 1;
  ev->reason = code;
  long s = SV_FIND(code, "(set_id=");
  if (s >= 0 && code.p[code.len - 1] == ')') {
    ev->user = sv_mk(code.p + s + 8, code.len - (size_t)s - 9);
    ev->reason.len = (size_t)s;
    while (ev->reason.len && ev->reason.p[ev->reason.len - 1] == ' ') ev->reason.len--;
  }
  return 0;
}

/* ---- dispatch ---- */

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

/* Lines that start with a message id: "<id> FLAG ..." or "<id> Completed". */
static int ex_message_line(struct strview id, struct strview rest, struct logev *ev) {
  struct strview flag = sv_token(rest);
  struct strview after = sv_next(rest, flag);
  if (sv_eq(flag, "<=")) return ex_arrival(id, after, ev);
  if (sv_eq(flag, "=>") || sv_eq(flag, "->") || sv_eq(flag, ">>") || sv_eq(flag, "**") ||
      sv_eq(flag, "=="))
    return ex_delivery(id, flag, after, ev);
  if (sv_eq(flag, "Completed")) {
    ev->kind = LE_REMOVED;
    ev->qid = id;
  }
  return 0;
}

int parse_exim(const struct logline *l, struct logev *ev, enum logparse_miss *miss) {
  struct strview v = ex_skip_pid(ex_skip_stamp(ex_skip_pid(l->msg)));
  ev_reset(ev);
  struct strview first = sv_token(v);
  int rc = 0;
  if (ex_is_id(first)) {
    rc = ex_message_line(first, sv_next(v, first), ev);
  } else {
    long at = SV_FIND(v, " authenticator failed for ");
    if (at > 0 && memchr(v.p, ' ', (size_t)at) == NULL) rc = ex_auth_failed(v, at, ev);
  }
  if (rc < 0) {
    ev_reset(ev);
    *miss = LM_EXIM;
    return 0;
  }
  if (rc > 0) ev_reset(ev);
  return 1;
}
