/* netaddr.h - IPv4/IPv6 addresses and CIDR networks */
#ifndef MF_NETADDR_H
#define MF_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct netaddr {
  uint8_t family; /* 4 or 6; 0 = none */
  uint8_t bytes[16];
};

struct netmask {
  struct netaddr net;
  uint8_t prefix;
};

/* Parse "1.2.3.4" or "2001:db8::1" (len bytes); 0 or -1. */
int netaddr_parse(const char *s, size_t len, struct netaddr *out)
    __attribute__((warn_unused_result));
/* Parse "1.2.3.0/24", "::1/128" or a bare address; 0 or -1. */
int netmask_parse(const char *s, struct netmask *out) __attribute__((warn_unused_result));
/* True when addr lies inside m. IPv4-mapped IPv6 addresses match IPv4 nets. */
bool netmask_contains(const struct netmask *m, const struct netaddr *addr);
/* True when addr is inside any of the n masks. */
bool netmask_list_contains(const struct netmask *m, size_t n, const struct netaddr *addr);

#endif
