/* login_guard.c - sliding hours of failed logins per network and per account.
 * Bounded: at most GUARD_MAX keys of each kind; when full, keys quiet for an
 * hour are dropped first, and a new key is not tracked if none is. */
#include "engine/login_guard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/netaddr.h"
#include "core/strmap.h"
#include "engine/window.h"

#define GUARD_MAX 100000

struct fails {
  win_ring r;
  uint32_t last;
};

struct login_guard {
  struct strmap *nets, *accts;
};

struct login_guard *login_guard_new(void) {
  struct login_guard *g = calloc(1, sizeof *g);
  if (g && (!(g->nets = strmap_new()) || !(g->accts = strmap_new()))) {
    login_guard_free(g);
    return NULL;
  }
  return g;
}

void login_guard_free(struct login_guard *g) {
  if (!g) return;
  strmap_free_values(g->nets, free);
  strmap_free_values(g->accts, free);
  free(g);
}

/* "a.b.c" for an IPv4 /24, the first 8 bytes in hex for an IPv6 /64. */
static int net_key(const char *client, char *out, size_t len) {
  struct netaddr a;
  if (!client || netaddr_parse(client, strlen(client), &a) < 0) return -1;
  const uint8_t *b = a.bytes;
  if (a.family == 4) snprintf(out, len, "%u.%u.%u", b[0], b[1], b[2]);
  else snprintf(out, len, "%02x%02x:%02x%02x:%02x%02x:%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]);
  return 0;
}

static void prune(struct strmap *m, uint32_t now) {
  size_t pos = 0, n = 0;
  const char *k;
  void *v;
  char *drop[256];
  while (n < 256 && strmap_next(m, &pos, &k, &v))
    if (((struct fails *)v)->last + 3600 < now) drop[n++] = (char *)k;
  for (size_t i = 0; i < n; i++) {
    char key[320];
    snprintf(key, sizeof key, "%s", drop[i]); /* the map frees its key on delete */
    free(strmap_del(m, key));
  }
}

static struct fails *get(struct strmap *m, const char *key, uint32_t now, int create) {
  struct fails *f = strmap_get(m, key);
  if (f) {
    window_roll(f->r, WIN_HOUR, f->last, now);
    f->last = now;
    return f;
  }
  if (!create) return NULL;
  if (strmap_count(m) >= GUARD_MAX) prune(m, now);
  if (strmap_count(m) >= GUARD_MAX || !(f = calloc(1, sizeof *f))) return NULL;
  f->last = now;
  if (strmap_set(m, key, f) < 0) {
    free(f);
    return NULL;
  }
  return f;
}

static uint32_t clamp(int64_t t) { return t < 0 ? 0 : t > UINT32_MAX ? UINT32_MAX : (uint32_t)t; }

void login_guard_failed(struct login_guard *g, const char *account, const char *client, int64_t now64) {
  uint32_t now = clamp(now64);
  char nk[64];
  struct fails *f;
  if (net_key(client, nk, sizeof nk) == 0 && (f = get(g->nets, nk, now, 1))) window_add(f->r, WIN_HOUR, now, 1);
  if (account && *account && strlen(account) < 300 && (f = get(g->accts, account, now, 1)))
    window_add(f->r, WIN_HOUR, now, 1);
}

void login_guard_counts(struct login_guard *g, const char *account, const char *client, int64_t now64,
                        uint64_t *net_fails, uint64_t *acct_fails) {
  uint32_t now = clamp(now64);
  char nk[64];
  struct fails *f;
  *net_fails = *acct_fails = 0;
  if (net_key(client, nk, sizeof nk) == 0 && (f = get(g->nets, nk, now, 0))) *net_fails = window_sum(f->r);
  if (account && *account && (f = get(g->accts, account, now, 0))) *acct_fails = window_sum(f->r);
}
