/* fuzz_http_req.c - libFuzzer target for the HTTP request-head parser.
 *
 * Input: bytes as a connection would receive them (seeds: captured and
 * hand-made requests, tests/fuzz-seeds/http_req/). The input is copied to a
 * buffer of its exact size, so ASan sees any read past it.
 * Checks: the result is -1, 0 or a head length within the input and the
 * limit; every view lies inside the head; an accepted head holds only
 * CRLF-ended lines without control bytes (an oracle independent of the
 * parser's own loop); the result depends on the head only (the head alone
 * gives the same answer, one byte less gives "need more"); "need more"
 * only below the limit; the api header check changes api_ok and nothing
 * else. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sources/http_req.h"

#define CHECK(cond)                                                             \
  do {                                                                          \
    if (!(cond)) {                                                              \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      abort();                                                                  \
    }                                                                           \
  } while (0)

static const struct http_api api = {{"X-API-Key", 9}, {"s3cret", 6}};

static void inside(struct strview v, const char *buf, size_t h) {
  if (!v.len) return;
  CHECK(v.p >= buf && v.p + v.len <= buf + h);
}

/* Lines end in CRLF; no other control byte but HTAB; no NUL. */
static void clean_head(const char *buf, size_t h) {
  CHECK(h >= 4 && memcmp(buf + h - 4, "\r\n\r\n", 4) == 0);
  for (size_t i = 0; i < h; i++) {
    unsigned char c = (unsigned char)buf[i];
    if (c == '\r') CHECK(i + 1 < h && buf[i + 1] == '\n');
    else if (c == '\n') CHECK(i > 0 && buf[i - 1] == '\r');
    else CHECK(c >= ' ' || c == '\t');
    CHECK(c != 0x7f);
  }
}

static bool same_req(const struct http_req *a, const struct http_req *b, bool api_too) {
  return a->method.p == b->method.p && a->method.len == b->method.len &&
         a->target.p == b->target.p && a->target.len == b->target.len && a->path.len == b->path.len &&
         a->query.len == b->query.len && a->has_query == b->has_query && a->post == b->post &&
         a->minor == b->minor && a->keep_alive == b->keep_alive &&
         a->has_length == b->has_length && a->length == b->length &&
         a->expect_continue == b->expect_continue && a->head_len == b->head_len &&
         (!api_too || a->api_ok == b->api_ok);
}

static void check_parsed(const char *buf, size_t size, long h, const struct http_req *r) {
  CHECK((size_t)h <= size && h <= HTTP_HEAD_MAX && r->head_len == (size_t)h);
  clean_head(buf, (size_t)h);
  inside(r->method, buf, (size_t)h);
  inside(r->target, buf, (size_t)h);
  inside(r->path, buf, (size_t)h);
  inside(r->query, buf, (size_t)h);
  CHECK(r->method.len > 0 && r->target.len > 0 && r->minor <= 1);
  CHECK(r->post == (r->method.len == 4 && memcmp(r->method.p, "POST", 4) == 0));
  CHECK(r->has_query || r->query.len == 0);
  CHECK(!r->expect_continue || r->minor == 1);
  struct http_req r2;
  enum http_err e2;
  CHECK(http_req_parse(buf, (size_t)h, &api, &r2, &e2) == h && same_req(r, &r2, true));
  CHECK(http_req_parse(buf, (size_t)h - 1, &api, &r2, &e2) == 0);
  CHECK(http_req_parse(buf, size, NULL, &r2, &e2) == h && same_req(r, &r2, false) && r2.api_ok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *buf = malloc(size ? size : 1);
  if (!buf) return 0;
  memcpy(buf, data, size);
  struct http_req r;
  enum http_err e;
  long h = http_req_parse(buf, size, &api, &r, &e);
  CHECK(h >= -1);
  if (h > 0) {
    CHECK(e == HTTP_ERR_NONE);
    check_parsed(buf, size, h, &r);
  } else if (h == 0) {
    CHECK(e == HTTP_ERR_NONE && size < HTTP_HEAD_MAX);
    struct http_req r2;
    CHECK(http_req_parse(buf, size / 2, &api, &r2, &e) == 0);
  } else {
    CHECK(e > HTTP_ERR_NONE && e < HTTP_ERR__N);
    int st = http_err_status(e);
    CHECK(st == 400 || st == 411 || st == 417 || st == 431 || st == 505);
    CHECK(e != HTTP_ERR_TOO_LARGE || size >= HTTP_HEAD_MAX);
    struct http_req r2;
    enum http_err e2;
    CHECK(http_req_parse(buf, size, NULL, &r2, &e2) == -1 && e2 == e);
  }
  free(buf);
  return 0;
}
