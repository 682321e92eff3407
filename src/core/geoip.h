/* geoip.h - country, location and autonomous system of an address (MaxMind DB files) */
#ifndef MF_GEOIP_H
#define MF_GEOIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct geo {
  char country[3]; /* ISO code, "" unknown */
  uint32_t asn;    /* 0 unknown */
  char org[48];    /* AS organisation, truncated */
  double lat, lon; bool has_loc; /* from a City database's location, when present */
};

struct geoip;

/* Open a country or city database (GeoLite2-Country/City layout: country.iso_code,
 * location.latitude/longitude) and/or an ASN database (GeoLite2-ASN layout:
 * autonomous_system_number, autonomous_system_organization). Either path may be ""
 * or NULL (not used; with neither, every lookup finds nothing). NULL with err
 * "file: why" when a given file cannot be opened or has the wrong layout.
 * Caller frees with geoip_free(). */
struct geoip *geoip_open(const char *country_db, const char *asn_db, char *err, size_t errlen);
/* Look up an address given as text (IPv4 or IPv6). 0 when anything was found,
 * -1 otherwise (out zeroed): unknown address, bad text, or a damaged file. */
int geoip_lookup(const struct geoip *g, const char *addr, struct geo *out)
    __attribute__((warn_unused_result));
void geoip_free(struct geoip *g);
/* Great-circle distance in km. */
double geo_distance_km(double lat1, double lon1, double lat2, double lon2);
/* Could nobody cover km in that many hours? True past 500 km at more than
 * 900 km/h (an airliner); times under a quarter-hour count as one, since a
 * city database places an address tens of km off. */
bool geo_faster_than_travel(double km, double hours);

#endif
