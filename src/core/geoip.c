/* geoip.c - country, location and AS of an address from MaxMind DB files
 *
 * Two optional libmaxminddb handles, opened with MMDB_MODE_MMAP: a country
 * or city database and an ASN database (GeoLite2 layouts, or other files
 * with the same keys). Opening checks the layout: one of the first records
 * in address order must have the key (country or autonomous_system_number),
 * so a file given for the other kind fails at start-up, not silently at
 * every lookup. A lookup parses the text once into a sockaddr and walks
 * each tree with MMDB_lookup_sockaddr; values are read with pre-built key
 * paths (MMDB_aget_value), no allocation. It runs
 * on the event loop for every login: about 1 us with a City and an ASN file
 * of GeoLite2 size in cache, 2-4 us cold, ~11k instructions, three quarters
 * of them libmaxminddb skipping name maps in City records (a Country file
 * is cheaper). Measurements: tests/geoip/README.md.
 *
 * Invariants: a handle is read-only after geoip_open(), so lookups from
 * several threads are safe. A value of the wrong type in a record is
 * treated as absent, never trusted. A reload opens a new handle and swaps
 * the pointer; the old one is freed when no lookup uses it.
 */
#include "core/geoip.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/netaddr.h"

struct geoip {
  MMDB_s country;
  MMDB_s asn;
  bool has_country, has_asn;
};

static const char *const PATH_ISO[] = {"country", "iso_code", NULL};
static const char *const PATH_COUNTRY[] = {"country", NULL};
static const char *const PATH_LOCATION[] = {"location", NULL};
static const char *const KEY_ISO[] = {"iso_code", NULL};
static const char *const KEY_LAT[] = {"latitude", NULL};
static const char *const KEY_LON[] = {"longitude", NULL};
static const char *const PATH_ASN[] = {"autonomous_system_number", NULL};
static const char *const PATH_ORG[] = {"autonomous_system_organization", NULL};

/* How far geoip_open() looks for a record with the expected key: the
 * first records in address order. Real databases have it in nearly every
 * record; a bound keeps opening a huge file of the wrong kind quick. */
#define LAYOUT_PROBE_RECORDS 64
#define LAYOUT_PROBE_NODES 100000

/* True when the record has a value of that type at path. */
static bool entry_get(MMDB_entry_s *e, const char *const *path, uint32_t type,
                      MMDB_entry_data_s *out) {
  return MMDB_aget_value(e, out, path) == MMDB_SUCCESS && out->has_data && out->type == type;
}

static bool entry_has_layout(MMDB_entry_s *e, const char *const *path) {
  MMDB_entry_data_s d;
  return MMDB_aget_value(e, &d, path) == MMDB_SUCCESS && d.has_data;
}

/* Walk the search tree depth first from the root and return 1 when one of
 * the first data records has path, 0 when none has, -1 when the tree has
 * no data record in reach or cannot be read. */
static int probe_layout(const MMDB_s *db, const char *const *path) {
  struct { uint32_t node; uint16_t depth; } stack[260];
  size_t sp = 0, nodes = 0, records = 0;
  stack[sp].node = 0, stack[sp++].depth = 0;
  while (sp > 0 && nodes++ < LAYOUT_PROBE_NODES && records < LAYOUT_PROBE_RECORDS) {
    sp--;
    uint32_t node = stack[sp].node;
    uint16_t depth = stack[sp].depth;
    MMDB_search_node_s n;
    if (MMDB_read_node(db, node, &n) != MMDB_SUCCESS) return -1;
    /* right first, so that the left (lower addresses) is visited first */
    uint8_t types[2] = {n.right_record_type, n.left_record_type};
    uint64_t recs[2] = {n.right_record, n.left_record};
    MMDB_entry_s entries[2] = {n.right_record_entry, n.left_record_entry};
    for (int i = 0; i < 2; i++) {
      if (types[i] == MMDB_RECORD_TYPE_DATA) {
        records++;
        if (entry_has_layout(&entries[i], path)) return 1;
      } else if (types[i] == MMDB_RECORD_TYPE_SEARCH_NODE && depth < db->depth &&
                 sp < sizeof stack / sizeof stack[0]) {
        /* depth bounds the walk: aliased IPv6 subtrees point back into IPv4 */
        stack[sp].node = (uint32_t)recs[i], stack[sp++].depth = (uint16_t)(depth + 1);
      }
    }
  }
  return records ? 0 : -1;
}

static int open_one(MMDB_s *db, const char *file, const char *const *path, const char *kind,
                    char *err, size_t errlen) {
  errno = 0;
  int rc = MMDB_open(file, MMDB_MODE_MMAP, db);
  if (rc != MMDB_SUCCESS) {
    /* "Error opening the specified MaxMind DB file" alone does not say why */
    if ((rc == MMDB_FILE_OPEN_ERROR || rc == MMDB_IO_ERROR) && errno)
      snprintf(err, errlen, "%s: cannot open: %s", file, strerror(errno));
    else
      snprintf(err, errlen, "%s: cannot open: %s", file, MMDB_strerror(rc));
    return -1;
  }
  int p = probe_layout(db, path);
  if (p == 1) return 0;
  if (p == 0)
    snprintf(err, errlen, "%s: not %s database (type %s: its records have no %s)", file, kind,
             db->metadata.database_type ? db->metadata.database_type : "?", path[0]);
  else
    snprintf(err, errlen, "%s: no records can be read", file);
  MMDB_close(db);
  return -1;
}

struct geoip *geoip_open(const char *country_db, const char *asn_db, char *err, size_t errlen) {
  struct geoip *g = calloc(1, sizeof *g);
  if (!g) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  if (country_db && *country_db) {
    if (open_one(&g->country, country_db, PATH_ISO, "a country or city", err, errlen) < 0) {
      geoip_free(g);
      return NULL;
    }
    g->has_country = true;
  }
  if (asn_db && *asn_db) {
    if (open_one(&g->asn, asn_db, PATH_ASN, "an ASN", err, errlen) < 0) {
      geoip_free(g);
      return NULL;
    }
    g->has_asn = true;
  }
  return g;
}

void geoip_free(struct geoip *g) {
  if (!g) return;
  if (g->has_country) MMDB_close(&g->country);
  if (g->has_asn) MMDB_close(&g->asn);
  free(g);
}

/* Parse text into a sockaddr (IPv4-mapped IPv6 becomes IPv4); 0 or -1. */
static int to_sockaddr(const char *addr, struct sockaddr_storage *ss) {
  struct netaddr a;
  if (!addr || netaddr_parse(addr, strlen(addr), &a) < 0) return -1;
  memset(ss, 0, sizeof *ss);
  if (a.family == 4) {
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    in->sin_family = AF_INET;
    memcpy(&in->sin_addr, a.bytes, 4);
  } else {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    in6->sin6_family = AF_INET6;
    memcpy(&in6->sin6_addr, a.bytes, 16);
  }
  return 0;
}

/* The record for sa in db, or false (absent, or an IPv6 address in an
 * IPv4-only file, or a damaged tree: all mean "not known here"). */
static bool find(const MMDB_s *db, const struct sockaddr *sa, MMDB_entry_s *out) {
  int mmdb_err = MMDB_SUCCESS;
  MMDB_lookup_result_s r = MMDB_lookup_sockaddr(db, sa, &mmdb_err);
  if (mmdb_err != MMDB_SUCCESS || !r.found_entry) return false;
  *out = r.entry;
  return true;
}

static bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }

/* The map at path in e, as an entry of its own. Each MMDB_aget_value()
 * from the top of a City record skips the big name maps (city, continent)
 * before its key again, and that is three quarters of a lookup; finding
 * "location" once and its two doubles inside it saves two such walks (a
 * fifth of the instructions of a lookup). */
static bool submap(MMDB_entry_s *e, const char *const *path, MMDB_entry_s *out) {
  MMDB_entry_data_s d;
  if (!entry_get(e, path, MMDB_DATA_TYPE_MAP, &d)) return false;
  out->mmdb = e->mmdb;
  out->offset = d.offset;
  return true;
}

/* Copy a country record's fields; true when any was there. */
static bool read_country(MMDB_entry_s *e, struct geo *out) {
  MMDB_entry_data_s d, lat, lon;
  MMDB_entry_s country, loc;
  bool any = false;
  if (submap(e, PATH_COUNTRY, &country) &&
      entry_get(&country, KEY_ISO, MMDB_DATA_TYPE_UTF8_STRING, &d) && d.data_size == 2 &&
      is_upper(d.utf8_string[0]) && is_upper(d.utf8_string[1])) {
    memcpy(out->country, d.utf8_string, 2);
    out->country[2] = 0;
    any = true;
  }
  if (submap(e, PATH_LOCATION, &loc) && entry_get(&loc, KEY_LAT, MMDB_DATA_TYPE_DOUBLE, &lat) &&
      entry_get(&loc, KEY_LON, MMDB_DATA_TYPE_DOUBLE, &lon) && fabs(lat.double_value) <= 90 &&
      fabs(lon.double_value) <= 180) {
    out->lat = lat.double_value;
    out->lon = lon.double_value;
    out->has_loc = true;
    any = true;
  }
  return any;
}

/* Copy at most dstlen-1 bytes of s without cutting a UTF-8 sequence in two;
 * control bytes become '?', since the name ends up in log lines. */
static void copy_org(char *dst, size_t dstlen, const char *s, size_t len) {
  size_t n = len < dstlen - 1 ? len : dstlen - 1;
  if (n < len)
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--; /* s[n] continues a sequence */
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    dst[i] = (char)(c < 0x20 || c == 0x7f ? '?' : c);
  }
  dst[n] = 0;
}

/* Copy an ASN record's fields; true when it has a number (org alone is no AS). */
static bool read_asn(MMDB_entry_s *e, struct geo *out) {
  MMDB_entry_data_s d;
  if (MMDB_aget_value(e, &d, PATH_ASN) != MMDB_SUCCESS || !d.has_data) return false;
  if (d.type == MMDB_DATA_TYPE_UINT32) out->asn = d.uint32;
  else if (d.type == MMDB_DATA_TYPE_UINT16) out->asn = d.uint16;
  else if (d.type == MMDB_DATA_TYPE_UINT64 && d.uint64 <= UINT32_MAX) out->asn = (uint32_t)d.uint64;
  if (!out->asn) return false;
  if (entry_get(e, PATH_ORG, MMDB_DATA_TYPE_UTF8_STRING, &d))
    copy_org(out->org, sizeof out->org, d.utf8_string, d.data_size);
  return true;
}

int geoip_lookup(const struct geoip *g, const char *addr, struct geo *out) {
  memset(out, 0, sizeof *out);
  struct sockaddr_storage ss;
  if (!g || to_sockaddr(addr, &ss) < 0) return -1;
  const struct sockaddr *sa = (const struct sockaddr *)&ss;
  MMDB_entry_s e;
  bool any = false;
  if (g->has_country && find(&g->country, sa, &e)) any |= read_country(&e, out);
  if (g->has_asn && find(&g->asn, sa, &e)) any |= read_asn(&e, out);
  return any ? 0 : -1;
}

double geo_distance_km(double lat1, double lon1, double lat2, double lon2) {
  const double r = 6371.0088; /* mean Earth radius (IUGG) */
  const double rad = M_PI / 180;
  double dlat = (lat2 - lat1) * rad, dlon = (lon2 - lon1) * rad;
  double a = sin(dlat / 2) * sin(dlat / 2) +
             cos(lat1 * rad) * cos(lat2 * rad) * sin(dlon / 2) * sin(dlon / 2);
  /* haversine; the clamp guards rounding just above 1 for antipodes */
  return 2 * r * asin(sqrt(a < 1 ? a : 1));
}

#define TRAVEL_KMH 900.0
#define TRAVEL_MIN_KM 500.0

bool geo_faster_than_travel(double km, double hours) {
  return km > TRAVEL_MIN_KM && km / (hours > 0.25 ? hours : 0.25) > TRAVEL_KMH;
}
