/* authpol_codec.c - parse Dovecot auth policy requests, format replies.
 *
 * Dovecot (auth-policy.c, 2.3 and 2.4) POSTs to URL?command=allow|report a
 * compact JSON object: the configured attributes as strings, keys sorted,
 * "a/b" keys as nested objects, then for report "success" and
 * "policy_reject", then always "tls" (booleans). It reads back only
 * {"status":N,"msg":"..."}.
 *
 * The parser is a bounded recursive descent over the body (no allocation):
 * it validates the whole text as JSON (strings as UTF-8, no NUL), keeps
 * views of the fields mailfuse uses and skips everything else. Values with
 * escapes are decoded into req->esc. Every limit is in the header; a body
 * that breaks one is refused with a short reason that never quotes input.
 */
#include "sources/authpol_codec.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- query */

static int fail(char *why, size_t whylen, const char *msg) {
  snprintf(why, whylen, "%s", msg);
  return -1;
}

/* command=allow|report among &-separated parameters (Dovecot appends
 * "?command=X", or "command=X" when the URL ends in '&'). */
static int parse_query(const char *q, struct authpol_req *req, char *why, size_t whylen) {
  if (!q) return fail(why, whylen, "missing command");
  size_t qlen = strnlen(q, AUTHPOL_QUERY_MAX + 1);
  if (qlen > AUTHPOL_QUERY_MAX) return fail(why, whylen, "query too long");
  struct strview rest = sv_mk(q, qlen);
  bool seen = false;
  while (rest.len) {
    const char *amp = memchr(rest.p, '&', rest.len);
    size_t n = amp ? (size_t)(amp - rest.p) : rest.len;
    struct strview param = sv_mk(rest.p, n);
    rest = sv_from(rest, amp ? n + 1 : n);
    if (!SV_STARTS(param, "command=")) continue;
    struct strview v = sv_from(param, sizeof "command=" - 1);
    if (seen) return fail(why, whylen, "repeated command");
    seen = true;
    if (sv_eq(v, "allow")) req->cmd = AP_ALLOW;
    else if (sv_eq(v, "report")) req->cmd = AP_REPORT;
    else return fail(why, whylen, "unknown command");
  }
  return seen ? 0 : fail(why, whylen, "missing command");
}

/* ----------------------------------------------------------------- json */

struct jp {
  const char *base, *p, *end;
  struct authpol_req *req;
  char *why;
  size_t whylen;
};

static int jerr(struct jp *j, const char *what) {
  snprintf(j->why, j->whylen, "bad json at byte %zu: %s", (size_t)(j->p - j->base), what);
  return -1;
}

static void ws(struct jp *j) {
  while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
    j->p++;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* The 4 hex digits at p (p..p+4 inside the input); -1 if not hex. */
static long hex4(const char *p) {
  long v = 0;
  for (int i = 0; i < 4; i++) {
    int h = hexval(p[i]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0:
 * no overlongs, no surrogates, nothing above U+10FFFF (RFC 3629). */
static size_t utf8_len(const unsigned char *p, size_t n) {
  if (p[0] < 0x80) return 1;
  size_t len = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 ? 2 : 0;
  if (len == 0 || p[0] > 0xf4 || n < len) return 0;
  for (size_t i = 1; i < len; i++)
    if ((p[i] & 0xc0) != 0x80) return 0;
  if (p[0] == 0xe0 && p[1] < 0xa0) return 0; /* overlong */
  if (p[0] == 0xed && p[1] >= 0xa0) return 0; /* surrogate */
  if (p[0] == 0xf0 && p[1] < 0x90) return 0; /* overlong */
  if (p[0] == 0xf4 && p[1] >= 0x90) return 0; /* > U+10FFFF */
  return len;
}

/* A JSON \u escape (four hex digits) at j->p, just after the backslash-u: one code point,
 * or a surrogate pair; advances past it. The code point in *cp. */
static int scan_u(struct jp *j, long *cp) {
  if (j->end - j->p < 4 || (*cp = hex4(j->p)) < 0) return jerr(j, "bad \\u escape");
  j->p += 4;
  if (*cp >= 0xdc00 && *cp <= 0xdfff) return jerr(j, "lone low surrogate");
  if (*cp >= 0xd800 && *cp <= 0xdbff) {
    long lo;
    if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u' || (lo = hex4(j->p + 2)) < 0 ||
        lo < 0xdc00 || lo > 0xdfff)
      return jerr(j, "lone high surrogate");
    j->p += 6;
    *cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
  }
  if (*cp == 0) return jerr(j, "NUL in string");
  return 0;
}

/* One escape after the backslash; advances past it. */
static int scan_escape(struct jp *j) {
  if (j->p >= j->end) return jerr(j, "unterminated string");
  char c = *j->p++;
  if (c == 'u') {
    long cp;
    return scan_u(j, &cp);
  }
  if (!strchr("\"\\/bfnrt", c) || c == 0) return jerr(j, "bad escape");
  return 0;
}

/* A string at j->p (on the quote): validates it, gives the raw bytes
 * between the quotes, and whether there were escapes. */
static int scan_string(struct jp *j, struct strview *raw, bool *had_esc) {
  const char *start = ++j->p;
  *had_esc = false;
  while (j->p < j->end) {
    unsigned char c = (unsigned char)*j->p;
    if (c == '"') {
      *raw = sv_mk(start, (size_t)(j->p - start));
      j->p++;
      return 0;
    }
    if (c == '\\') {
      *had_esc = true;
      j->p++;
      if (scan_escape(j) < 0) return -1;
    } else if (c < 0x20) {
      return jerr(j, "control character in string");
    } else {
      size_t n = utf8_len((const unsigned char *)j->p, (size_t)(j->end - j->p));
      if (!n) return jerr(j, "invalid UTF-8");
      j->p += n;
    }
  }
  return jerr(j, "unterminated string");
}

static size_t put_utf8(char *out, long cp) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xc0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xe0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  out[0] = (char)(0xf0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
  out[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

/* Decode a string scan_string() validated; out NULL only counts. Never
 * longer than raw. Returns the decoded length. */
static size_t unescape(struct strview raw, char *out) {
  size_t o = 0;
  char tmp[4];
  for (size_t i = 0; i < raw.len;) {
    if (raw.p[i] != '\\') {
      if (out) out[o] = raw.p[i];
      o++, i++;
      continue;
    }
    char c = raw.p[i + 1];
    i += 2;
    if (c != 'u') {
      const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
      if (out) out[o] = to[strchr(from, c) - from];
      o++;
      continue;
    }
    long cp = hex4(raw.p + i);
    i += 4;
    if (cp >= 0xd800 && cp <= 0xdbff) {
      cp = 0x10000 + ((cp - 0xd800) << 10) + (hex4(raw.p + i + 2) - 0xdc00);
      i += 6;
    }
    size_t n = put_utf8(out ? out + o : tmp, cp);
    o += n;
  }
  return o;
}

/* ------------------------------------------------------- skipping values */

static int skip_value(struct jp *j, int depth);

static int skip_number(struct jp *j) {
  const char *p = j->p, *e = j->end;
  if (p < e && *p == '-') p++;
  if (p < e && *p == '0') p++;
  else if (p < e && *p >= '1' && *p <= '9')
    while (p < e && *p >= '0' && *p <= '9') p++;
  else
    return jerr(j, "bad number");
  if (p < e && *p == '.') {
    if (++p >= e || *p < '0' || *p > '9') return jerr(j, "bad number");
    while (p < e && *p >= '0' && *p <= '9') p++;
  }
  if (p < e && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < e && (*p == '+' || *p == '-')) p++;
    if (p >= e || *p < '0' || *p > '9') return jerr(j, "bad number");
    while (p < e && *p >= '0' && *p <= '9') p++;
  }
  j->p = p;
  return 0;
}

static int skip_literal(struct jp *j, const char *lit) {
  size_t n = strlen(lit);
  if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0) return jerr(j, "bad value");
  j->p += n;
  return 0;
}

/* Elements of an array at j->p (on the '['). */
static int skip_array(struct jp *j, int depth) {
  j->p++;
  ws(j);
  if (j->p < j->end && *j->p == ']') {
    j->p++;
    return 0;
  }
  for (;;) {
    if (skip_value(j, depth + 1) < 0) return -1;
    ws(j);
    if (j->p >= j->end) return jerr(j, "unterminated array");
    if (*j->p == ']') {
      j->p++;
      return 0;
    }
    if (*j->p != ',') return jerr(j, "want , or ]");
    j->p++;
    ws(j);
  }
}

static int parse_object(struct jp *j, int depth, bool top);

/* Any value at j->p (after white space); depth is the value's own depth. */
static int skip_value(struct jp *j, int depth) {
  if (depth > AUTHPOL_DEPTH_MAX) return jerr(j, "nested too deep");
  if (j->p >= j->end) return jerr(j, "want a value");
  bool esc;
  struct strview raw;
  switch (*j->p) {
    case '{': return parse_object(j, depth, false);
    case '[': return skip_array(j, depth);
    case '"': return scan_string(j, &raw, &esc);
    case 't': return skip_literal(j, "true");
    case 'f': return skip_literal(j, "false");
    case 'n': return skip_literal(j, "null");
    default: return skip_number(j);
  }
}

/* --------------------------------------------------------- known fields */

enum ftype { F_STR, F_BOOL };

struct field {
  const char *name;
  enum ftype type;
  size_t off;     /* struct strview or bool in struct authpol_req */
  size_t has_off; /* bool has_X, for F_BOOL */
};

#define STRF(n) {#n, F_STR, offsetof(struct authpol_req, n), 0}
#define BOOLF(n) \
  {#n, F_BOOL, offsetof(struct authpol_req, n), offsetof(struct authpol_req, has_##n)}

static const struct field fields[] = {
    STRF(login),     STRF(remote),    STRF(protocol),      STRF(session_id), STRF(device_id),
    STRF(fail_type), STRF(pwhash),    BOOLF(success),      BOOLF(policy_reject),
    BOOLF(tls),
};

/* The field a top-level key names, or NULL. Keys may carry escapes too. */
static const struct field *field_of(struct strview key, bool had_esc) {
  char buf[128];
  if (had_esc) {
    if (key.len > sizeof buf) return NULL; /* can't be one of ours */
    key = sv_mk(buf, unescape(key, buf));
  }
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
    if (key.len == strlen(fields[i].name) && memcmp(key.p, fields[i].name, key.len) == 0)
      return &fields[i];
  return NULL;
}

static int field_err(struct jp *j, const struct field *f, const char *what) {
  snprintf(j->why, j->whylen, "field %s: %s", f->name, what);
  return -1;
}

/* A string field's value: a view into the body, or decoded into esc[]. */
static int take_string(struct jp *j, const struct field *f) {
  struct strview raw;
  bool had_esc;
  if (j->p >= j->end || *j->p != '"') return field_err(j, f, "want a string");
  if (scan_string(j, &raw, &had_esc) < 0) return -1;
  struct authpol_req *r = j->req;
  struct strview *dst = (struct strview *)((char *)r + f->off);
  size_t n = had_esc ? unescape(raw, NULL) : raw.len;
  if (n > AUTHPOL_VALUE_MAX) return field_err(j, f, "value too long");
  if (!had_esc) {
    *dst = raw;
    return 0;
  }
  if (n > sizeof r->esc - r->esc_used) return field_err(j, f, "escaped values too long");
  *dst = sv_mk(r->esc + r->esc_used, unescape(raw, r->esc + r->esc_used));
  r->esc_used += n;
  return 0;
}

static int take_bool(struct jp *j, const struct field *f) {
  bool *dst = (bool *)((char *)j->req + f->off);
  size_t left = (size_t)(j->end - j->p);
  if (left >= 4 && memcmp(j->p, "true", 4) == 0) {
    *dst = true;
    j->p += 4;
  } else if (left >= 5 && memcmp(j->p, "false", 5) == 0) {
    *dst = false;
    j->p += 5;
  } else {
    return field_err(j, f, "want true or false");
  }
  *(bool *)((char *)j->req + f->has_off) = true;
  return 0;
}

/* key:value of an object at j->p (on the key's quote). */
static int parse_member(struct jp *j, int depth, bool top) {
  struct strview key;
  bool had_esc;
  if (j->p >= j->end || *j->p != '"') return jerr(j, "want a key");
  if (scan_string(j, &key, &had_esc) < 0) return -1;
  if (++j->req->nkeys > AUTHPOL_KEYS_MAX) return jerr(j, "too many keys");
  ws(j);
  if (j->p >= j->end || *j->p != ':') return jerr(j, "want :");
  j->p++;
  ws(j);
  const struct field *f = top ? field_of(key, had_esc) : NULL;
  if (!f) return skip_value(j, depth + 1);
  return f->type == F_STR ? take_string(j, f) : take_bool(j, f);
}

/* An object at j->p (on the '{'); top = the request itself. */
static int parse_object(struct jp *j, int depth, bool top) {
  j->p++;
  ws(j);
  if (j->p < j->end && *j->p == '}') {
    j->p++;
    return 0;
  }
  for (;;) {
    if (parse_member(j, depth, top) < 0) return -1;
    ws(j);
    if (j->p >= j->end) return jerr(j, "unterminated object");
    if (*j->p == '}') {
      j->p++;
      return 0;
    }
    if (*j->p != ',') return jerr(j, "want , or }");
    j->p++;
    ws(j);
  }
}

int authpol_parse(const char *query, const char *body, size_t len, struct authpol_req *req,
                  char *why, size_t whylen) {
  memset(req, 0, offsetof(struct authpol_req, esc));
  if (parse_query(query, req, why, whylen) < 0) return -1;
  if (len > AUTHPOL_BODY_MAX) return fail(why, whylen, "body too large");
  struct jp j = {body, body, body + len, req, why, whylen};
  ws(&j);
  if (j.p >= j.end) return fail(why, whylen, "empty body");
  if (*j.p != '{') return jerr(&j, "want an object");
  if (parse_object(&j, 1, true) < 0) return -1;
  ws(&j);
  if (j.p != j.end) return jerr(&j, "data after the object");
  return 0;
}

/* --------------------------------------------------------------- replies */

/* Append s (cut to AUTHPOL_MSG_MAX input bytes at a character boundary)
 * as the inside of a JSON string; invalid UTF-8 becomes U+FFFD. Returns
 * the new length, or -1 when out is full. */
static int put_escaped(char *out, size_t o, size_t cap, const char *s) {
  static const char hex[] = "0123456789abcdef";
  size_t n = s ? strnlen(s, AUTHPOL_MSG_MAX) : 0;
  /* s[n] exists: the NUL, or the first byte past the cut; never cut a character */
  for (int k = 0; k < 3 && n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80; k++) n--;
  for (size_t i = 0; i < n;) {
    unsigned char c = (unsigned char)s[i];
    char e[8];
    size_t el = 0, used = 1;
    if (c == '"' || c == '\\') {
      e[el++] = '\\', e[el++] = (char)c;
    } else if (c < 0x20) {
      const char *sh = c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : NULL;
      if (sh) memcpy(e, sh, el = 2);
      else memcpy(e, "\\u00", 4), e[4] = hex[c >> 4], e[5] = hex[c & 15], el = 6;
    } else if (c < 0x80) {
      e[el++] = (char)c;
    } else if ((used = utf8_len((const unsigned char *)s + i, n - i)) > 0) {
      memcpy(e, s + i, el = used);
    } else {
      memcpy(e, "\\ufffd", el = 6), used = 1;
    }
    if (o + el >= cap) return -1;
    memcpy(out + o, e, el);
    o += el;
    i += used;
  }
  return (int)o;
}

/* head + escaped text + "\"}" into out; the length or -1. */
static int format_obj(const char *head, const char *text, char *out, size_t outlen) {
  int h = snprintf(out, outlen, "%s", head);
  if (h < 0 || (size_t)h >= outlen) return -1;
  int o = put_escaped(out, (size_t)h, outlen, text);
  if (o < 0 || (size_t)o + 3 > outlen) return -1;
  memcpy(out + o, "\"}", 3);
  return o + 2;
}

int authpol_format(int status, const char *msg, char *out, size_t outlen) {
  char head[48];
  snprintf(head, sizeof head, "{\"status\":%d,\"msg\":\"", status);
  return format_obj(head, msg, out, outlen);
}

int authpol_format_error(const char *why, char *out, size_t outlen) {
  return format_obj("{\"error\":\"", why, out, outlen);
}
