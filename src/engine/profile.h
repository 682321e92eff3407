/* profile.h - what is normal for one account, learned continuously, compact */
#ifndef MF_PROFILE_H
#define MF_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/window.h"

#define PROFILE_BLOOM_BYTES 224 /* recipient domains it wrote to: 1792 bits, 3 hashes */
#define PROFILE_NETS 8          /* client networks (/24 or /48) it used */
#define PROFILE_WIDE 4          /* wider networks (/16 or /32): a proxy for country/operator */
#define PROFILE_COUNTRIES 4
#define PROFILE_ASNS 4
#define PROFILE_TODAY 8        /* new domains remembered per day before they are learned */

/* Recent activity, a sliding hour of 10-minute buckets (see window.h). */
enum recent { RC_MSGS, RC_EXT, RC_NEWDOM, RC_FREEMAIL, RC_FOREIGN, RC_DELIVERED, RC_BOUNCED, RC__N };

struct profile {
  int64_t first_seen, last_active, last_rolled; /* unix seconds */
  int64_t woke_at;                              /* first mail after a long silence */
  uint32_t woke_days;                           /* how long that silence was */
  uint32_t msgs_learned, rcpts_learned;         /* how much it learned from */
  /* hourly message volume: EWMA mean and variance, decayed peak */
  int64_t cur_hour;                             /* hour index of cur_count */
  uint32_t cur_count;
  float vol_mean, vol_var, vol_peak;
  /* usual shares of external, free-mail and foreign recipients, and bounces */
  float share_ext, share_freemail, share_foreign, share_bounce;
  uint16_t hours[24];  /* messages by hour of day (decayed, saturating) */
  uint16_t wdays[7];
  uint32_t nets[PROFILE_NETS];  /* hashed /24 (IPv4) or /48 (IPv6), 0 = empty */
  uint32_t wide[PROFILE_WIDE];  /* hashed /16 or /32 */
  uint16_t countries[PROFILE_COUNTRIES]; /* two letters packed, 0 = empty */
  uint32_t asns[PROFILE_ASNS];
  uint32_t cand_net, cand_wide; /* a network seen once: learned when seen again another day */
  int64_t cand_day;
  uint32_t last_net, last_wide; /* the last informative client, for `ctl explain` */
  /* domains first written to today: they stay "new" all day and enter the
   * Bloom filter on a later day (an intruder's few favourite domains do not
   * become "known" after one message) */
  uint32_t today_h1[PROFILE_TODAY], today_h2[PROFILE_TODAY];
  uint8_t ntoday;
  int64_t today_day;
  /* login state */
  int64_t login_at;             /* last successful login */
  uint32_t login_wide;          /* its wide network hash */
  uint16_t login_country;       /* its country (packed), 0 unknown */
  float login_risk;             /* from the login side, valid until login_risk_until */
  int64_t login_risk_until;
  char login_reason[64];
  uint16_t fails_recent;        /* failed logins since the last success (decayed by time) */
  int16_t login_lat, login_lon; /* where the last login was, in 1/100 degree (GeoIP city) */
  uint8_t login_has_loc;        /* (these three fill what was padding: the layout stays) */
  int64_t fails_at;
  win_ring recent[RC__N];
  uint8_t bloom[PROFILE_BLOOM_BYTES];
  bool dirty;
  bool queued; /* on the list of profiles to write at the next profile flush */
  bool urgent; /* on the list to write at the next flush (login state changed) */
};

/* A network key (hash of the /24 or /16) for an address text; 0 if not an address. */
uint32_t profile_net(const char *ip, bool wide);
/* Domain memory. */
bool profile_knows_domain(const struct profile *p, const char *domain);
void profile_learn_domain(struct profile *p, const char *domain, int64_t now);
/* A country code packed in 16 bits ("DE" -> 'D' << 8 | 'E'); 0 for none. */
uint16_t profile_cc(const char *cc);
/* Has the account sent or logged in from this country (packed)? */
bool profile_has_country(const struct profile *p, uint16_t cc);
/* Remember a country (packed; 0 ignored): newest first, the oldest falls out. */
void profile_add_country(struct profile *p, uint16_t cc);
/* Small sets: true if present; add evicts the oldest entry when full. */
bool profile_has(const uint32_t *set, size_t n, uint32_t v);
void profile_add(uint32_t *set, size_t n, uint32_t v);
/* Learn the client network of mail let through (or of a clean login): a
 * network becomes known only when it comes back on a later day, so an
 * intruder's first day is judged as new all day long. */
void profile_learn_network(struct profile *p, uint32_t net, uint32_t wide, int64_t now);
/* Fold finished hours into the volume statistics and roll the recent rings to now. */
void profile_roll(struct profile *p, int64_t now);
/* Count a message sent now (for volume and usual hours). */
void profile_count_message(struct profile *p, int64_t now, bool learn);
/* Recent sums. */
uint64_t profile_recent(const struct profile *p, enum recent r);
void profile_recent_add(struct profile *p, enum recent r, int64_t now, uint32_t n);
/* Learn one recipient's kind into the usual shares. */
void profile_learn_recipient(struct profile *p, bool external, bool freemail, bool foreign);
/* Serialize for the store (fixed layout, versioned); 0 on a too small buffer. */
size_t profile_encode(const struct profile *p, uint8_t *buf, size_t len);
/* 0, or -1 on bad data. */
int profile_decode(struct profile *p, const uint8_t *buf, size_t len);

#endif
