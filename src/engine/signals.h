/* signals.h - named, explained signals and the risk score they add up to */
#ifndef MF_SIGNALS_H
#define MF_SIGNALS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/conf.h"
#include "core/geoip.h"
#include "engine/profile.h"

#define SIGNALS_MAX 16
#define SIGNAL_WHY 112

struct signal {
  const char *name;
  bool who; /* about the origin (who is sending) rather than the mail (what is sent) */
  float value;
  char why[SIGNAL_WHY];
};

struct score {
  bool explain; /* fill the why texts */
  float who, what, total;
  enum action action;
  size_t n;
  struct signal s[SIGNALS_MAX];
};

/* What the signals need to know about the event in hand. */
struct signal_ctx {
  const struct conf *c;
  const struct profile *p;
  float site_foreign, site_freemail; /* the site's usual shares */
  int64_t now;
  uint32_t client_net, client_wide; /* 0 when the client says nothing (webmail host) */
  const char *client;
  bool sender_mismatch;
  const char *sender;
  bool explain; /* always write the reasons (ctl explain) */
  /* where the client is (GeoIP, hosting list), NULL when unknown or when
   * the client says nothing (webmail host) */
  const struct geo *geo;
  const char *hosting;
};

/* Compute every signal and the score with its action (gates applied).
 * Signals are sorted, strongest first. */
void signals_score(const struct signal_ctx *x, struct score *out);
/* "name value (why), ..." of the strongest n signals. */
void signals_reasons(const struct score *s, size_t n, char *buf, size_t len);

#endif
