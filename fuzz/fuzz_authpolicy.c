/* fuzz_authpolicy.c - libFuzzer target for the Dovecot auth policy codec.
 *
 * Input: the HTTP request target ("/?command=allow") up to the first
 * newline, then the body (the format of tests/authpolicy/NNN-name.in).
 * Checks: every view lies in the body or in req.esc; jansson is the
 * oracle: what we accept it accepts (but for numbers it cannot represent)
 * with the same field values, and what it accepts we refuse only for our
 * own limits and types, never as bad JSON. The reply formatter gets the
 * input as text and must always produce JSON that jansson reads back. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sources/authpol_codec.h"

#define CHECK(cond)                                                       \
  do {                                                                    \
    if (!(cond)) {                                                        \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      abort();                                                            \
    }                                                                     \
  } while (0)

static struct authpol_req req;

static void inside(struct strview v, const char *body, size_t len) {
  if (!v.len) return;
  bool in_body = v.p >= body && v.p + v.len <= body + len;
  bool in_esc = v.p >= req.esc && v.p + v.len <= req.esc + req.esc_used;
  CHECK(in_body || in_esc);
}

/* Our value of a kept string field equals jansson's (absent = empty). */
static void same_string(json_t *obj, const char *key, struct strview v) {
  json_t *j = json_object_get(obj, key);
  if (!j) {
    CHECK(v.len == 0);
    return;
  }
  CHECK(json_is_string(j));
  CHECK(json_string_length(j) == v.len && memcmp(json_string_value(j), v.p, v.len) == 0);
}

static void same_bool(json_t *obj, const char *key, bool has, bool v) {
  json_t *j = json_object_get(obj, key);
  CHECK(has == (j != NULL));
  if (j) CHECK(json_is_boolean(j) && json_is_true(j) == v);
}

static void compare_accepted(const char *body, size_t len) {
  json_error_t jerr;
  json_t *j = json_loadb(body, len, 0, &jerr);
  if (!j) { /* only numbers jansson cannot hold may separate us */
    CHECK(strstr(jerr.text, "too big") || strstr(jerr.text, "overflow"));
    return;
  }
  CHECK(json_is_object(j));
  same_string(j, "login", req.login);
  same_string(j, "remote", req.remote);
  same_string(j, "protocol", req.protocol);
  same_string(j, "session_id", req.session_id);
  same_string(j, "device_id", req.device_id);
  same_string(j, "fail_type", req.fail_type);
  same_string(j, "pwhash", req.pwhash);
  same_bool(j, "success", req.has_success, req.success);
  same_bool(j, "policy_reject", req.has_policy_reject, req.policy_reject);
  same_bool(j, "tls", req.has_tls, req.tls);
  json_decref(j);
}

/* We refused; if jansson reads it, the reason must be ours, not the JSON. */
static void compare_refused(const char *body, size_t len, const char *why) {
  json_error_t jerr;
  if (memchr(body, 0, len)) return; /* jansson skips a NUL between tokens; JSON does not */
  json_t *j = json_loadb(body, len, 0, &jerr);
  if (!j) return;
  json_decref(j);
  CHECK(strncmp(why, "bad json", 8) != 0 || strstr(why, "nested too deep") ||
        strstr(why, "too many keys") || strstr(why, "want an object"));
}

static void check_format(const uint8_t *data, size_t size) {
  char msg[AUTHPOL_MSG_MAX * 2 + 1], out[AUTHPOL_REPLY_MAX];
  size_t n = size < sizeof msg - 1 ? size : sizeof msg - 1;
  memcpy(msg, data, n);
  msg[n] = 0;
  uint32_t raw = size >= 4 ? (uint32_t)data[0] | (uint32_t)data[1] << 8 |
                                 (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24
                           : UINT32_MAX;
  int status = (int)raw;
  int len = authpol_format(status, msg, out, sizeof out);
  CHECK(len > 0 && (size_t)len == strlen(out));
  json_error_t jerr;
  json_t *j = json_loads(out, 0, &jerr);
  CHECK(j && json_is_object(j));
  CHECK(json_integer_value(json_object_get(j, "status")) == status);
  CHECK(json_is_string(json_object_get(j, "msg")));
  json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *nl = memchr(data, '\n', size);
  size_t tlen = nl ? (size_t)(nl - (const char *)data) : 0;
  char *target = malloc(tlen + 1); /* exact size: ASan sees any overread */
  if (!target) return 0;
  memcpy(target, data, tlen);
  target[tlen] = 0;
  const char *q = strchr(target, '?');
  const char *body = nl ? nl + 1 : (const char *)data;
  size_t len = size - (size_t)(body - (const char *)data);
  char why[AUTHPOL_WHY_MAX];
  if (authpol_parse(q ? q + 1 : NULL, body, len, &req, why, sizeof why) == 0) {
    CHECK(req.cmd == AP_ALLOW || req.cmd == AP_REPORT);
    const struct strview *v[] = {&req.login,      &req.remote,    &req.protocol, &req.session_id,
                                 &req.device_id, &req.fail_type, &req.pwhash};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
      inside(*v[i], body, len);
      CHECK(v[i]->len <= AUTHPOL_VALUE_MAX);
    }
    CHECK(req.esc_used <= sizeof req.esc && req.nkeys <= AUTHPOL_KEYS_MAX);
    compare_accepted(body, len);
  } else {
    CHECK(strlen(why) > 0 && strlen(why) < sizeof why);
    if (q) compare_refused(body, len, why);
  }
  free(target);
  check_format(data, size);
  return 0;
}
