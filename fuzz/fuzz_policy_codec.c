/* fuzz_policy_codec.c - libFuzzer target for the policy protocol parser.
 * Parses a stream of requests the way the server does and checks that
 * every view stays inside the input. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sources/policy_codec.h"

static void inside(struct strview v, const char *base, size_t len) {
  if (v.len) assert(v.p >= base && v.p + v.len <= base + len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *p = (const char *)data;
  size_t pos = 0;
  while (pos < size) {
    struct policy_req r;
    enum policy_err err;
    size_t take = size - pos < POLICY_REQ_MAX ? size - pos : POLICY_REQ_MAX;
    long used = policy_parse(p + pos, take, &r, &err);
    if (used <= 0) break;
    assert((size_t)used <= take);
    const struct strview *views = &r.request;
    for (size_t i = 0; i < 12; i++) inside(views[i], p + pos, (size_t)used);
    pos += (size_t)used;
  }
  return 0;
}
