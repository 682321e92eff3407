/* profile.c - the learned profile of one account.
 *
 * Volume is an exponentially weighted mean and variance of messages per
 * hour over about two weeks (hours without mail count as zeros), with a
 * slowly decaying peak, so that a bursty but legitimate sender is judged
 * against its own bursts.  Recipient domains it wrote to live in a small
 * Bloom filter (a false "known" only makes mailfuse more lenient).  Networks
 * are kept as hashes of the /24 and the /16 (without GeoIP the /16 stands
 * in for "country or operator"), with the oldest evicted.  The recent
 * activity rings are the same sliding buckets as the limits use.
 */
#include "engine/profile.h"

#include <math.h>
#include <string.h>

#include "core/netaddr.h"

#define VOL_ALPHA (1.0f / (14.0f * 24.0f)) /* two weeks of hours */
#define PEAK_DECAY 0.9990f                  /* per hour: halves in about a month */
#define SHARE_ALPHA 0.01f                   /* per recipient */
#define PROFILE_FORMAT 1

static uint32_t fnv(const void *p, size_t n, uint32_t seed) {
  uint32_t h = 2166136261u ^ seed;
  for (size_t i = 0; i < n; i++) h = (h ^ ((const uint8_t *)p)[i]) * 16777619u;
  return h ? h : 1;
}

uint32_t profile_net(const char *ip, bool wide) {
  struct netaddr a;
  if (!ip || netaddr_parse(ip, strlen(ip), &a) < 0) return 0;
  size_t n = a.family == 4 ? (wide ? 2 : 3) : (wide ? 4 : 6);
  return fnv(a.bytes, n, a.family);
}

static void bloom_hashes(const char *d, uint32_t *h1, uint32_t *h2) {
  *h1 = fnv(d, strlen(d), 0);
  *h2 = fnv(d, strlen(d), 0x9e3779b9u);
}

static void bits_of(uint32_t h1, uint32_t h2, uint32_t bits[3]) {
  for (int i = 0; i < 3; i++) bits[i] = (h1 + (uint32_t)i * h2) % (PROFILE_BLOOM_BYTES * 8);
}

static void bloom_bits(const char *d, uint32_t bits[3]) {
  uint32_t h1, h2;
  bloom_hashes(d, &h1, &h2);
  bits_of(h1, h2, bits);
}

static void bloom_set(struct profile *p, uint32_t h1, uint32_t h2) {
  uint32_t b[3];
  bits_of(h1, h2, b);
  for (int i = 0; i < 3; i++) p->bloom[b[i] / 8] |= (uint8_t)(1u << (b[i] % 8));
}

bool profile_knows_domain(const struct profile *p, const char *domain) {
  uint32_t b[3];
  bloom_bits(domain, b);
  for (int i = 0; i < 3; i++)
    if (!(p->bloom[b[i] / 8] & (1u << (b[i] % 8)))) return false;
  return true;
}

void profile_learn_domain(struct profile *p, const char *domain, int64_t now) {
  int64_t day = now / 86400;
  if (day != p->today_day) { /* yesterday's new domains are known from now on */
    for (uint8_t i = 0; i < p->ntoday; i++) bloom_set(p, p->today_h1[i], p->today_h2[i]);
    p->ntoday = 0;
    p->today_day = day;
  }
  if (profile_knows_domain(p, domain)) return;
  uint32_t h1, h2;
  bloom_hashes(domain, &h1, &h2);
  for (uint8_t i = 0; i < p->ntoday; i++)
    if (p->today_h1[i] == h1 && p->today_h2[i] == h2) return;
  if (p->ntoday < PROFILE_TODAY) { /* beyond that, learned the next day it is written to */
    p->today_h1[p->ntoday] = h1;
    p->today_h2[p->ntoday++] = h2;
  }
  p->dirty = true;
}

bool profile_has(const uint32_t *set, size_t n, uint32_t v) {
  for (size_t i = 0; i < n; i++)
    if (set[i] == v) return true;
  return false;
}

void profile_add(uint32_t *set, size_t n, uint32_t v) {
  if (!v || profile_has(set, n, v)) return;
  memmove(set + 1, set, (n - 1) * sizeof *set); /* newest first, oldest falls off */
  set[0] = v;
}

void profile_learn_network(struct profile *p, uint32_t net, uint32_t wide, int64_t now) {
  if (!net) return;
  if (profile_has(p->nets, PROFILE_NETS, net) && profile_has(p->wide, PROFILE_WIDE, wide)) return;
  int64_t day = now / 86400;
  if (p->cand_net == net && day > p->cand_day) {
    profile_add(p->nets, PROFILE_NETS, net);
    profile_add(p->wide, PROFILE_WIDE, wide);
    p->cand_net = p->cand_wide = 0;
  } else if (p->cand_net != net) {
    p->cand_net = net;
    p->cand_wide = wide;
    p->cand_day = day;
  }
  p->dirty = true;
}

/* One finished hour with `count` messages enters the statistics. */
static void fold_hour(struct profile *p, float count) {
  float d = count - p->vol_mean;
  p->vol_mean += VOL_ALPHA * d;
  p->vol_var = (1.0f - VOL_ALPHA) * (p->vol_var + VOL_ALPHA * d * d);
  p->vol_peak *= PEAK_DECAY;
  if (count > p->vol_peak) p->vol_peak = count;
}

void profile_roll(struct profile *p, int64_t now) {
  int64_t h = now / 3600;
  if (p->cur_hour == 0) p->cur_hour = h;
  if (h > p->cur_hour) {
    fold_hour(p, (float)p->cur_count);
    int64_t empty = h - p->cur_hour - 1;
    if (empty > 24 * 60) empty = 24 * 60; /* after two months everything has decayed anyway */
    for (int64_t i = 0; i < empty; i++) fold_hour(p, 0);
    p->cur_hour = h;
    p->cur_count = 0;
    p->dirty = true;
  }
  uint32_t last = p->last_rolled > 0 ? (uint32_t)p->last_rolled : (uint32_t)now;
  if (now > p->last_rolled) {
    for (int r = 0; r < RC__N; r++) window_roll(p->recent[r], WIN_HOUR, last, (uint32_t)now);
    p->last_rolled = now;
  }
}

void profile_count_message(struct profile *p, int64_t now, bool learn) {
  p->cur_count++;
  profile_recent_add(p, RC_MSGS, now, 1);
  p->last_active = now;
  if (!learn) return;
  p->msgs_learned++;
  int hod = (int)((now / 3600) % 24), wd = (int)((now / 86400 + 4) % 7); /* 1970-01-01 was a Thursday */
  if (p->hours[hod] < UINT16_MAX) p->hours[hod]++;
  if (p->wdays[wd] < UINT16_MAX) p->wdays[wd]++;
  p->dirty = true;
}

uint64_t profile_recent(const struct profile *p, enum recent r) { return window_sum(p->recent[r]); }

void profile_recent_add(struct profile *p, enum recent r, int64_t now, uint32_t n) {
  window_add(p->recent[r], WIN_HOUR, (uint32_t)now, n);
  p->dirty = true;
}

static void ewma(float *v, float x) { *v += SHARE_ALPHA * (x - *v); }

void profile_learn_recipient(struct profile *p, bool external, bool freemail, bool foreign) {
  ewma(&p->share_ext, external);
  ewma(&p->share_freemail, freemail);
  ewma(&p->share_foreign, foreign);
  p->rcpts_learned++;
  p->dirty = true;
}

uint16_t profile_cc(const char *cc) {
  return cc && cc[0] && cc[1] ? (uint16_t)(((uint8_t)cc[0] << 8) | (uint8_t)cc[1]) : 0;
}

bool profile_has_country(const struct profile *p, uint16_t cc) {
  for (size_t i = 0; i < PROFILE_COUNTRIES; i++)
    if (p->countries[i] == cc) return true;
  return false;
}

void profile_add_country(struct profile *p, uint16_t cc) {
  if (!cc || profile_has_country(p, cc)) return;
  memmove(p->countries + 1, p->countries, (PROFILE_COUNTRIES - 1) * sizeof *p->countries);
  p->countries[0] = cc;
  p->dirty = true;
}

size_t profile_encode(const struct profile *p, uint8_t *buf, size_t len) {
  if (len < sizeof *p + 1) return 0;
  buf[0] = PROFILE_FORMAT;
  memcpy(buf + 1, p, sizeof *p); /* native layout; the state dir is not shared across machines */
  buf[1 + offsetof(struct profile, dirty)] = 0;
  buf[1 + offsetof(struct profile, queued)] = 0;
  buf[1 + offsetof(struct profile, urgent)] = 0;
  return sizeof *p + 1;
}

int profile_decode(struct profile *p, const uint8_t *buf, size_t len) {
  if (len != sizeof *p + 1 || buf[0] != PROFILE_FORMAT) return -1;
  memcpy(p, buf + 1, sizeof *p);
  p->dirty = false;
  p->queued = false;
  p->urgent = false;
  p->login_reason[sizeof p->login_reason - 1] = 0;
  if (!isfinite(p->vol_mean) || !isfinite(p->vol_var) || !isfinite(p->vol_peak)) return -1;
  return 0;
}

/* Stored profiles are this struct's bytes: a field added in the wrong
 * place would change the size and make every stored profile unreadable. */
_Static_assert(sizeof(struct profile) == 864, "struct profile layout changed (stored format)");
