/* where.h - where a client address is: its GeoIP country, operator (ASN)
 * and location, and whether it is in a hosting/VPN network.  The sources
 * look this up (the engine stays pure) and pass it with the event; a
 * `struct where` remembers the last address, since an SMTP session asks
 * for the same client at every RCPT and at the end of each message. */
#ifndef MF_WHERE_H
#define MF_WHERE_H

#include <stdbool.h>

#include "core/geoip.h"
#include "core/hostnets.h"

struct where {
  char client[64];     /* the address looked up last, "" none */
  bool located;        /* g holds something */
  struct geo g;
  const char *hosting; /* label from hostnets_match, or NULL */
};

/* Look client (text; NULL or "" = none) up unless it is the address w
 * looked up last. geo and hn may be NULL (not configured); both must live
 * as long as w is used (the daemon opens them once). */
void where_lookup(struct where *w, const struct geoip *geo, const struct hostnets *hn,
                  const char *client);
/* What an event carries: the GeoIP answer, or NULL when nothing was found. */
static inline const struct geo *where_geo(const struct where *w) { return w->located ? &w->g : NULL; }

#endif
