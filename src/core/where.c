/* where.c - a client address's GeoIP answer and hosting label, remembered */
#include "core/where.h"

#include <string.h>

void where_lookup(struct where *w, const struct geoip *geo, const struct hostnets *hn,
                  const char *client) {
  if (!client) client = "";
  size_t n = strlen(client);
  if (n < sizeof w->client && !strcmp(w->client, client) && (n || !w->located)) return;
  w->located = geo && n && geoip_lookup(geo, client, &w->g) == 0;
  w->hosting = n ? hostnets_match(hn, client, w->located ? w->g.asn : 0) : NULL;
  if (n < sizeof w->client) memcpy(w->client, client, n + 1);
  else w->client[0] = 0; /* too long to remember (not an address): looked up each time */
}
