/* netaddr.c - address parsing and CIDR matching via inet_pton */
#include "core/netaddr.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "core/numparse.h"

int netaddr_parse(const char *s, size_t len, struct netaddr *out) {
  char tmp[64];
  if (len == 0 || len >= sizeof tmp) return -1;
  memcpy(tmp, s, len);
  tmp[len] = 0;
  memset(out, 0, sizeof *out);
  if (inet_pton(AF_INET, tmp, out->bytes) == 1) {
    out->family = 4;
    return 0;
  }
  if (inet_pton(AF_INET6, tmp, out->bytes) == 1) {
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(out->bytes, mapped, 12) == 0) {
      memmove(out->bytes, out->bytes + 12, 4);
      memset(out->bytes + 4, 0, 12);
      out->family = 4;
    } else {
      out->family = 6;
    }
    return 0;
  }
  return -1;
}

int netmask_parse(const char *s, struct netmask *out) {
  const char *slash = strchr(s, '/');
  size_t alen = slash ? (size_t)(slash - s) : strlen(s);
  if (netaddr_parse(s, alen, &out->net) < 0) return -1;
  unsigned maxp = out->net.family == 4 ? 32 : 128;
  uint64_t p = maxp;
  if (slash && num_parse_u64(slash + 1, strlen(slash + 1), maxp, &p) < 0) return -1;
  out->prefix = (uint8_t)p;
  /* zero host bits so that matching is a plain prefix compare */
  for (unsigned bit = out->prefix; bit < maxp; bit++)
    out->net.bytes[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
  return 0;
}

bool netmask_contains(const struct netmask *m, const struct netaddr *a) {
  if (m->net.family != a->family || a->family == 0) return false;
  unsigned full = m->prefix / 8, rest = m->prefix % 8;
  if (memcmp(m->net.bytes, a->bytes, full) != 0) return false;
  if (rest == 0) return true;
  uint8_t mask = (uint8_t)(0xffu << (8 - rest));
  return (a->bytes[full] & mask) == m->net.bytes[full];
}

bool netmask_list_contains(const struct netmask *m, size_t n, const struct netaddr *a) {
  for (size_t i = 0; i < n; i++)
    if (netmask_contains(&m[i], a)) return true;
  return false;
}
