/* http_req.c - a strict parser for the head of one HTTP/1.x request (RFC 9112).
 *
 * A pure function over bytes: no allocation, nothing kept between calls.
 * It first looks for the blank line that ends the head (one memmem over
 * at most HTTP_HEAD_MAX bytes) and answers "need more" until it is there,
 * so a head that arrives byte by byte costs a memmem per call, not a
 * parse; then it parses the whole head in one pass.
 *
 * Strict on purpose (the only client is Dovecot's, or a proxy): lines end
 * in CRLF (a bare CR or LF, or any other control byte, is an error), one
 * space between the parts of the request line, the method and header
 * names are tokens, no white space before a header's colon, no obs-fold,
 * HTTP/1.0 and 1.1 only, one Host in 1.1, a Content-Length of digits (two
 * copies only if equal), and no Transfer-Encoding at all: bodies are read
 * by Content-Length only, so a chunked one is refused (411) rather than
 * misread. Empty lines before the request line are skipped (RFC 9112
 * 2.2). The first bad line decides the error.
 */
#include "sources/http_req.h"

#include <string.h>

#include "core/numparse.h"

static long fail(enum http_err *err, enum http_err e) {
  *err = e;
  return -1;
}

/* RFC 9110 5.6.2 tchar */
static bool is_tchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-')
    return true;
  return c && strchr("!#$%&'*+.^_`|~", c) != NULL;
}

static bool is_token(struct strview v) {
  if (!v.len) return false;
  for (size_t i = 0; i < v.len; i++)
    if (!is_tchar((unsigned char)v.p[i])) return false;
  return true;
}

static unsigned char lower(unsigned char c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* v equals s (lower case) without regard to ASCII case. */
static bool eq_nocase(struct strview v, const char *s, size_t n) {
  if (v.len != n) return false;
  for (size_t i = 0; i < n; i++)
    if (lower((unsigned char)v.p[i]) != (unsigned char)s[i]) return false;
  return true;
}
#define EQ_NOCASE(v, lit) eq_nocase((v), (lit), sizeof(lit) - 1)

static bool same_name(struct strview a, struct strview b) {
  if (a.len != b.len) return false;
  for (size_t i = 0; i < a.len; i++)
    if (lower((unsigned char)a.p[i]) != lower((unsigned char)b.p[i])) return false;
  return true;
}

/* a equals the secret b; the time taken depends on b's length only. */
static bool same_secret(struct strview a, struct strview b) {
  unsigned char d = a.len != b.len;
  for (size_t i = 0; i < b.len; i++)
    d |= (unsigned char)(b.p[i] ^ (i < a.len ? a.p[i] : 0));
  return d == 0;
}

static struct strview trim_ows(struct strview v) {
  while (v.len && (v.p[0] == ' ' || v.p[0] == '\t')) v.p++, v.len--;
  while (v.len && (v.p[v.len - 1] == ' ' || v.p[v.len - 1] == '\t')) v.len--;
  return v;
}

/* ------------------------------------------------------------ request line */

/* origin-form "/path?q", absolute-form "http://host/path?q", or "*". */
static int parse_target(struct strview t, struct http_req *req) {
  for (size_t i = 0; i < t.len; i++)
    if ((unsigned char)t.p[i] <= ' ' || (unsigned char)t.p[i] >= 0x7f) return -1;
  struct strview rest = t;
  if (t.len == 1 && t.p[0] == '*') { /* OPTIONS only: answered 405 */
    req->path = t;
    req->query = sv_mk(t.p + 1, 0);
    return 0;
  }
  if (t.len && t.p[0] != '/') {
    long sep = SV_FIND(t, "://");
    struct strview scheme = sv_mk(t.p, sep > 0 ? (size_t)sep : 0);
    if (!EQ_NOCASE(scheme, "http") && !EQ_NOCASE(scheme, "https")) return -1;
    rest = sv_from(t, (size_t)sep + 3);
    size_t a = 0; /* the authority ends at the path or the query */
    while (a < rest.len && rest.p[a] != '/' && rest.p[a] != '?') a++;
    rest = sv_from(rest, a);
  } else if (!t.len) {
    return -1;
  }
  const char *q = memchr(rest.p, '?', rest.len);
  req->path = sv_mk(rest.p, q ? (size_t)(q - rest.p) : rest.len);
  req->has_query = q != NULL;
  req->query = q ? sv_mk(q + 1, rest.len - (size_t)(q + 1 - rest.p)) : sv_mk(rest.p + rest.len, 0);
  return 0;
}

/* "METHOD SP target SP HTTP/1.x" */
static int parse_request_line(struct strview line, struct http_req *req, enum http_err *err) {
  const char *sp1 = memchr(line.p, ' ', line.len);
  if (!sp1) return (int)fail(err, HTTP_ERR_SYNTAX);
  req->method = sv_mk(line.p, (size_t)(sp1 - line.p));
  struct strview rest = sv_from(line, req->method.len + 1);
  const char *sp2 = memchr(rest.p, ' ', rest.len);
  if (!is_token(req->method) || !sp2) return (int)fail(err, HTTP_ERR_SYNTAX);
  req->target = sv_mk(rest.p, (size_t)(sp2 - rest.p));
  struct strview ver = sv_from(rest, req->target.len + 1);
  if (parse_target(req->target, req) < 0) return (int)fail(err, HTTP_ERR_SYNTAX);
  if (ver.len != 8 || !SV_STARTS(ver, "HTTP/") || ver.p[6] != '.' || ver.p[5] < '0' ||
      ver.p[5] > '9' || ver.p[7] < '0' || ver.p[7] > '9')
    return (int)fail(err, HTTP_ERR_SYNTAX);
  if (ver.p[5] != '1' || (ver.p[7] != '0' && ver.p[7] != '1')) return (int)fail(err, HTTP_ERR_VERSION);
  req->minor = (unsigned)(ver.p[7] - '0');
  req->post = sv_eq(req->method, "POST");
  return 0;
}

/* ----------------------------------------------------------------- headers */

/* What the header lines told so far. */
struct hstate {
  const struct http_api *api;
  unsigned hosts, apis;
  bool api_match, conn_close, conn_keep;
};

/* "close" and "keep-alive" among the comma-separated tokens of Connection. */
static void connection_tokens(struct strview v, struct hstate *h) {
  while (v.len) {
    const char *comma = memchr(v.p, ',', v.len);
    size_t n = comma ? (size_t)(comma - v.p) : v.len;
    struct strview tok = trim_ows(sv_mk(v.p, n));
    if (EQ_NOCASE(tok, "close")) h->conn_close = true;
    else if (EQ_NOCASE(tok, "keep-alive")) h->conn_keep = true;
    v = sv_from(v, comma ? n + 1 : n);
  }
}

static int content_length(struct strview v, struct http_req *req, enum http_err *err) {
  uint64_t n;
  if (num_parse_u64(v.p, v.len, UINT64_MAX, &n) < 0 || (req->has_length && n != req->length))
    return (int)fail(err, HTTP_ERR_LENGTH);
  req->has_length = true;
  req->length = n;
  return 0;
}

/* One header we care about (the others are only checked for syntax). */
static int header(struct strview name, struct strview v, struct http_req *req, struct hstate *h,
                  enum http_err *err) {
  if (h->api && same_name(name, h->api->name)) {
    h->apis++;
    h->api_match = same_secret(v, h->api->value);
  }
  if (EQ_NOCASE(name, "content-length")) return content_length(v, req, err);
  if (EQ_NOCASE(name, "transfer-encoding")) return (int)fail(err, HTTP_ERR_CHUNKED);
  if (EQ_NOCASE(name, "host")) h->hosts++;
  else if (EQ_NOCASE(name, "connection")) connection_tokens(v, h);
  else if (EQ_NOCASE(name, "expect") && req->minor == 1) { /* 1.0 has no Expect (RFC 9110 10.1.1) */
    if (!EQ_NOCASE(v, "100-continue")) return (int)fail(err, HTTP_ERR_EXPECT);
    req->expect_continue = true;
  }
  return 0;
}

/* "name: value": a token, a colon right after it, visible bytes, spaces and tabs. */
static int header_line(struct strview line, struct http_req *req, struct hstate *h,
                       enum http_err *err) {
  const char *colon = memchr(line.p, ':', line.len);
  if (!colon) return (int)fail(err, HTTP_ERR_SYNTAX);
  struct strview name = sv_mk(line.p, (size_t)(colon - line.p));
  struct strview v = sv_from(line, name.len + 1);
  if (!is_token(name)) return (int)fail(err, HTTP_ERR_SYNTAX); /* also obs-fold and " :" */
  for (size_t i = 0; i < v.len; i++) {
    unsigned char c = (unsigned char)v.p[i];
    if ((c < ' ' && c != '\t') || c == 0x7f) return (int)fail(err, HTTP_ERR_SYNTAX);
  }
  return header(name, trim_ows(v), req, h, err);
}

/* --------------------------------------------------------------------- head */

/* Each CRLF-ended line of [p, stop) (stop is just after the last CRLF). */
static int parse_lines(const char *p, const char *stop, const struct http_api *api,
                       struct http_req *req, enum http_err *err) {
  struct hstate h = {.api = api};
  for (bool first = true; p < stop; first = false) {
    const char *cr = memchr(p, '\r', (size_t)(stop - p)); /* found: stop ends in CRLF */
    if (cr[1] != '\n') return (int)fail(err, HTTP_ERR_SYNTAX);
    /* no check for a bare LF here: every byte of a line is checked below */
    struct strview line = sv_mk(p, (size_t)(cr - p));
    int rc = first ? parse_request_line(line, req, err) : header_line(line, req, &h, err);
    if (rc < 0) return -1;
    p = cr + 2;
  }
  if (h.hosts > 1 || (h.hosts == 0 && req->minor == 1)) return (int)fail(err, HTTP_ERR_HOST);
  req->keep_alive = !h.conn_close && (req->minor == 1 || h.conn_keep);
  req->api_ok = !api || (h.apis == 1 && h.api_match);
  return 0;
}

long http_req_parse(const char *buf, size_t len, const struct http_api *api, struct http_req *req,
                    enum http_err *err) {
  memset(req, 0, sizeof *req);
  *err = HTTP_ERR_NONE;
  size_t lim = len < HTTP_HEAD_MAX ? len : HTTP_HEAD_MAX, start = 0;
  while (start + 2 <= lim && buf[start] == '\r' && buf[start + 1] == '\n') start += 2;
  const char *end = lim - start >= 4 ? memmem(buf + start, lim - start, "\r\n\r\n", 4) : NULL;
  if (!end) return len >= HTTP_HEAD_MAX ? fail(err, HTTP_ERR_TOO_LARGE) : 0;
  if (parse_lines(buf + start, end + 2, api, req, err) < 0) {
    memset(req, 0, sizeof *req);
    return -1;
  }
  req->head_len = (size_t)(end + 4 - buf);
  return (long)req->head_len;
}

int http_err_status(enum http_err e) {
  switch (e) {
    case HTTP_ERR_TOO_LARGE: return 431;
    case HTTP_ERR_VERSION: return 505;
    case HTTP_ERR_CHUNKED: return 411;
    case HTTP_ERR_EXPECT: return 417;
    default: return 400;
  }
}

const char *http_err_text(enum http_err e) {
  static const char *const text[HTTP_ERR__N] = {
      [HTTP_ERR_NONE] = "no error",
      [HTTP_ERR_SYNTAX] = "malformed request line or header",
      [HTTP_ERR_TOO_LARGE] = "request head over 8192 bytes",
      [HTTP_ERR_VERSION] = "HTTP/1.0 or HTTP/1.1 only",
      [HTTP_ERR_LENGTH] = "bad Content-Length",
      [HTTP_ERR_CHUNKED] = "Transfer-Encoding not supported: send Content-Length",
      [HTTP_ERR_HOST] = "HTTP/1.1 needs exactly one Host header",
      [HTTP_ERR_EXPECT] = "only Expect: 100-continue is supported",
  };
  return (unsigned)e < HTTP_ERR__N ? text[e] : "unknown error";
}
