/* http_req.h - the head of one HTTP/1.x request, parsed strictly (no allocation) */
#ifndef MF_HTTP_REQ_H
#define MF_HTTP_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/strview.h"

/* Request line, headers and the blank line together (and any empty lines
 * before the request line). Dovecot sends about 250 bytes. */
#define HTTP_HEAD_MAX 8192

enum http_err {
  HTTP_ERR_NONE,
  HTTP_ERR_SYNTAX,    /* 400: request line or header line malformed */
  HTTP_ERR_TOO_LARGE, /* 431: no end of the head within HTTP_HEAD_MAX bytes */
  HTTP_ERR_VERSION,   /* 505: not HTTP/1.0 or HTTP/1.1 */
  HTTP_ERR_LENGTH,    /* 400: Content-Length not a number, or two different ones */
  HTTP_ERR_CHUNKED,   /* 411: Transfer-Encoding; we read bodies by Content-Length only */
  HTTP_ERR_HOST,      /* 400: no Host in HTTP/1.1, or more than one */
  HTTP_ERR_EXPECT,    /* 417: an Expect other than 100-continue */
  HTTP_ERR__N
};

/* The header a request must carry ("auth_api_header"): name compared
 * without regard to case, value without the white space around it, in
 * constant time. */
struct http_api {
  struct strview name, value;
};

/* A parsed head. Views point into the caller's buffer (valid while it is). */
struct http_req {
  struct strview method;  /* a token, case kept: "POST" */
  struct strview target;  /* as sent: "/?command=allow" */
  struct strview path;    /* target up to '?' (for absolute-form, after the authority) */
  struct strview query;   /* after the '?', empty if none */
  bool has_query;         /* the target has a '?' */
  bool post;              /* method is exactly POST */
  unsigned minor;         /* HTTP/1.minor: 0 or 1 */
  bool keep_alive;        /* 1.1 unless "Connection: close"; 1.0 only with "keep-alive" */
  bool has_length;        /* a Content-Length was sent */
  uint64_t length;        /* its value (0 without) */
  bool expect_continue;   /* HTTP/1.1 "Expect: 100-continue" */
  bool api_ok;            /* the api header came once, right; always true without api */
  size_t head_len;        /* bytes of the head, the blank line included */
};

/* Parse the head at the start of buf[0..len). Returns its length (> 0,
 * also in req->head_len), 0 when buf holds only part of a head (call
 * again with more), or -1 with *err set. api NULL: no header required.
 * The result for a given head never depends on the bytes after it. */
long http_req_parse(const char *buf, size_t len, const struct http_api *api, struct http_req *req,
                    enum http_err *err) __attribute__((warn_unused_result));
/* The HTTP status answering e (400, 411, 417, 431, 505). */
int http_err_status(enum http_err e);
/* A short reason for replies and logs ("header line malformed"). */
const char *http_err_text(enum http_err e);

#endif
