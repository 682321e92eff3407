/* hostnets.h - known hosting, VPN and anonymising networks, by ASN and by CIDR */
#ifndef MF_HOSTNETS_H
#define MF_HOSTNETS_H

#include <stddef.h>
#include <stdint.h>

/* Longest line of a site file, comment included. */
#define HOSTNETS_LINE_MAX 512
/* Largest site file read (a few hundred thousand networks). */
#define HOSTNETS_FILE_MAX (16u << 20)

struct hostnets;

/* The built-in ASN list (data/hosting_asns.txt, embedded at build time) plus
 * an optional site file (path "" or NULL = none) of lines "AS16509 # note" or
 * "CIDR # note" ('#' comments, blank lines ignored). NULL with err
 * "file:line: why" on a bad line, "file: why" when it cannot be read.
 * Caller frees with hostnets_free(). */
struct hostnets *hostnets_new(const char *extra_file, char *err, size_t errlen);
/* A label like "AS16509 (hosting)" or "198.51.100.0/24 (site list)" when addr
 * (text; NULL or "" = none) or asn (0 = none) is listed, else NULL. A CIDR
 * match (the longest prefix) wins over an ASN match; h NULL matches nothing.
 * Borrowed until hostnets_free(). O(log n) per distinct prefix length. */
const char *hostnets_match(const struct hostnets *h, const char *addr, uint32_t asn);
void hostnets_free(struct hostnets *h);
/* Number of ASNs and of CIDRs listed (for the start-up log line). */
size_t hostnets_count_asns(const struct hostnets *h);
size_t hostnets_count_cidrs(const struct hostnets *h);

#endif
