/* recent.c - a fixed ring of recent message events (see recent.h) */
#include "actions/recent.h"

#include <stdlib.h>
#include <string.h>

struct recent {
  struct recent_ev v[RECENT_N];
  size_t head; /* next slot */
};

static uint64_t hash(const char *s) { /* FNV-1a */
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h | 1; /* 0 marks an empty slot */
}

struct recent *recent_new(void) { return calloc(1, sizeof(struct recent)); }
void recent_free(struct recent *r) { free(r); }

static void put(char *dst, size_t len, const char *src) {
  size_t n = src ? strnlen(src, len - 1) : 0;
  memcpy(dst, src ? src : "", n);
  dst[n] = 0;
}

void recent_add(struct recent *r, const char *account, int64_t at, const char *domain,
                const char *client, const char *qid, const char *sender) {
  if (!account || !*account) return;
  struct recent_ev *e = &r->v[r->head];
  r->head = (r->head + 1) % RECENT_N;
  e->acct = hash(account);
  e->at = at;
  put(e->domain, sizeof e->domain, domain);
  put(e->client, sizeof e->client, client);
  put(e->qid, sizeof e->qid, qid);
  put(e->sender, sizeof e->sender, sender);
}

void recent_each(const struct recent *r, const char *account, int64_t since,
                 void (*cb)(void *arg, const struct recent_ev *e), void *arg) {
  uint64_t h = hash(account);
  for (size_t k = 1; k <= RECENT_N; k++) {
    const struct recent_ev *e = &r->v[(r->head + RECENT_N - k) % RECENT_N];
    if (!e->acct) break;
    if (e->acct == h && e->at >= since) cb(arg, e);
  }
}
