/* hostnets.c - known hosting, VPN and anonymising networks, by ASN and by CIDR
 *
 * Two sorted arrays built once at start-up (or reload): ASNs, and CIDR
 * networks keyed by (family, prefix, masked bytes). A lookup is a binary
 * search for the ASN, and for the address one binary search per distinct
 * prefix length present, longest first, so the most specific network wins.
 * Lists are a few hundred to a few hundred thousand entries; there are
 * rarely more than a dozen distinct prefix lengths.
 *
 * Entries come from the built-in list (data/hosting_asns.txt, embedded by
 * tools/embed.py, labelled "hosting") and an optional site file (labelled
 * "site list"); both go through the same line parser. An entry listed twice
 * keeps its first label, so a built-in one stays "hosting". Any bad line
 * fails the whole load with "file:line: why": a half-loaded list would
 * silently stop flagging networks.
 */
#include "core/hostnets.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/netaddr.h"
#include "core/numparse.h"

extern const char hosting_asns_data[];
extern const size_t hosting_asns_data_len;

struct asn_entry {
  uint32_t asn;
  uint32_t seq; /* load order, so that sorting keeps the first of duplicates */
  char label[32]; /* "AS4294967295 (site list)" */
};

/* The sorted array holds only keys (24 bytes), so that a binary search
 * touches few cache lines; labels sit apart, in load order. */
struct cidr_entry {
  struct netmask m;
  uint32_t seq; /* load order: index into cidr_labels */
};

typedef char cidr_label[64]; /* "ffff:...:ffff/128 (site list)" */

struct hostnets {
  struct asn_entry *asns;
  size_t nasn, capasn;
  struct cidr_entry *cidrs;
  size_t ncidr, capcidr;
  cidr_label *cidr_labels;
  size_t caplabels;
  /* distinct prefix lengths in the list, longest first */
  uint8_t pfx4[33], pfx6[129];
  size_t npfx4, npfx6;
};

/* Where a line comes from, for labels and errors. */
struct source {
  const char *name;  /* file name in errors */
  const char *label; /* "hosting" or "site list" */
};

static void *grow(void *arr, size_t *cap, size_t n, size_t size) {
  if (n < *cap) return arr;
  size_t ncap = *cap ? *cap * 2 : 256;
  void *p = realloc(arr, ncap * size);
  if (p) *cap = ncap;
  return p;
}

static int add_asn(struct hostnets *h, uint32_t asn, const char *label) {
  struct asn_entry *a = grow(h->asns, &h->capasn, h->nasn, sizeof *a);
  if (!a) return -1;
  h->asns = a;
  a += h->nasn;
  a->asn = asn;
  a->seq = (uint32_t)h->nasn++;
  snprintf(a->label, sizeof a->label, "AS%u (%s)", asn, label);
  return 0;
}

static int add_cidr(struct hostnets *h, const struct netmask *m, const char *label) {
  struct cidr_entry *c = grow(h->cidrs, &h->capcidr, h->ncidr, sizeof *c);
  if (!c) return -1;
  h->cidrs = c;
  cidr_label *l = grow(h->cidr_labels, &h->caplabels, h->ncidr, sizeof *l);
  if (!l) return -1;
  h->cidr_labels = l;
  c[h->ncidr].m = *m;
  c[h->ncidr].seq = (uint32_t)h->ncidr;
  char text[INET6_ADDRSTRLEN];
  inet_ntop(m->net.family == 4 ? AF_INET : AF_INET6, m->net.bytes, text, sizeof text);
  snprintf(l[h->ncidr], sizeof l[h->ncidr], "%s/%u (%s)", text, m->prefix, label);
  h->ncidr++;
  return 0;
}

/* "AS16509", "as16509" or "16509" into *asn; 0 or -1 (not an ASN at all). */
static int parse_asn(const char *tok, size_t len, uint64_t *asn) {
  if (len > 2 && (tok[0] == 'A' || tok[0] == 'a') && (tok[1] == 'S' || tok[1] == 's'))
    tok += 2, len -= 2;
  return num_parse_u64(tok, len, UINT32_MAX, asn);
}

/* One line (without its newline); 0, or -1 with why set. */
static int parse_line(struct hostnets *h, const char *p, size_t len, const struct source *src,
                      char *why, size_t whylen) {
  if (memchr(p, 0, len)) return snprintf(why, whylen, "NUL byte in line"), -1;
  const char *hash = memchr(p, '#', len);
  if (hash) len = (size_t)(hash - p);
  while (len && isspace((unsigned char)*p)) p++, len--;
  while (len && isspace((unsigned char)p[len - 1])) len--;
  if (!len) return 0;
  char tok[HOSTNETS_LINE_MAX + 1], esc[96];
  memcpy(tok, p, len);
  tok[len] = 0;
  log_esc(esc, sizeof esc, tok, len);
  for (size_t i = 0; i < len; i++)
    if (isspace((unsigned char)tok[i]))
      return snprintf(why, whylen, "%s: one ASN or network per line ('#' starts a note)", esc), -1;
  uint64_t asn;
  if (parse_asn(tok, len, &asn) == 0) {
    if (asn == 0) return snprintf(why, whylen, "AS0 is not an AS"), -1;
    return add_asn(h, (uint32_t)asn, src->label) < 0 ? (snprintf(why, whylen, "out of memory"), -1) : 0;
  }
  struct netmask m;
  struct netaddr given;
  const char *slash = strchr(tok, '/');
  if (netmask_parse(tok, &m) < 0 ||
      netaddr_parse(tok, slash ? (size_t)(slash - tok) : len, &given) < 0)
    return snprintf(why, whylen, "%s: not an ASN (AS16509) or a network (192.0.2.0/24)", esc), -1;
  if (memcmp(given.bytes, m.net.bytes, sizeof given.bytes) != 0) {
    char net[INET6_ADDRSTRLEN];
    inet_ntop(m.net.family == 4 ? AF_INET : AF_INET6, m.net.bytes, net, sizeof net);
    return snprintf(why, whylen, "%s: host bits set (%s/%u?)", esc, net, m.prefix), -1;
  }
  return add_cidr(h, &m, src->label) < 0 ? (snprintf(why, whylen, "out of memory"), -1) : 0;
}

/* All lines of text; 0, or -1 with err "name:line: why". */
static int parse_text(struct hostnets *h, const char *text, size_t len, const struct source *src,
                      char *err, size_t errlen) {
  const char *p = text, *end = text + len;
  for (unsigned lineno = 1; p < end; lineno++) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
    char why[256];
    if (l > HOSTNETS_LINE_MAX) {
      snprintf(err, errlen, "%s:%u: line longer than %d bytes", src->name, lineno, HOSTNETS_LINE_MAX);
      return -1;
    }
    if (parse_line(h, p, l, src, why, sizeof why) < 0) {
      snprintf(err, errlen, "%s:%u: %s", src->name, lineno, why);
      return -1;
    }
    p += l + 1;
  }
  return 0;
}

/* The whole file in a malloc'd buffer (caller frees), at most HOSTNETS_FILE_MAX. */
static char *read_file(const char *path, size_t *len, char *err, size_t errlen) {
  FILE *f = fopen(path, "r");
  if (!f) return snprintf(err, errlen, "%s: cannot open: %m", path), NULL;
  size_t cap = 0, n = 0;
  char *buf = NULL;
  const char *why = NULL;
  while (!why) {
    if (n == cap) { /* one byte past the limit tells "too large" from "exactly the limit" */
      size_t ncap = cap ? cap * 2 : 65536;
      if (ncap > HOSTNETS_FILE_MAX + 1) ncap = HOSTNETS_FILE_MAX + 1;
      char *b = realloc(buf, ncap);
      if (!b) {
        why = "out of memory";
        break;
      }
      buf = b, cap = ncap;
    }
    size_t r = fread(buf + n, 1, cap - n, f);
    n += r;
    if (n > HOSTNETS_FILE_MAX) why = "larger than HOSTNETS_FILE_MAX (16 MiB)";
    else if (r == 0 && ferror(f)) why = "read error";
    else if (r == 0) break;
  }
  fclose(f);
  if (why) {
    snprintf(err, errlen, "%s: %s", path, why);
    free(buf);
    return NULL;
  }
  *len = n;
  return buf;
}

static int cmp_asn(const void *a, const void *b) {
  const struct asn_entry *x = a, *y = b;
  if (x->asn != y->asn) return x->asn < y->asn ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Order by family, prefix, then bytes: a lookup masks to one prefix and searches. */
static int cmp_net(const struct netmask *x, const struct netmask *y) {
  if (x->net.family != y->net.family) return x->net.family < y->net.family ? -1 : 1;
  if (x->prefix != y->prefix) return x->prefix < y->prefix ? -1 : 1;
  return memcmp(x->net.bytes, y->net.bytes, sizeof x->net.bytes);
}

static int cmp_cidr(const void *a, const void *b) {
  const struct cidr_entry *x = a, *y = b;
  int c = cmp_net(&x->m, &y->m);
  if (c) return c;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Sort both arrays, drop later duplicates, note the prefix lengths in use. */
static void index_entries(struct hostnets *h) {
  size_t o = 0;
  if (h->nasn) qsort(h->asns, h->nasn, sizeof *h->asns, cmp_asn);
  for (size_t i = 0; i < h->nasn; i++)
    if (o == 0 || h->asns[o - 1].asn != h->asns[i].asn) h->asns[o++] = h->asns[i];
  h->nasn = o;
  o = 0;
  if (h->ncidr) qsort(h->cidrs, h->ncidr, sizeof *h->cidrs, cmp_cidr);
  for (size_t i = 0; i < h->ncidr; i++)
    if (o == 0 || cmp_net(&h->cidrs[o - 1].m, &h->cidrs[i].m) != 0) h->cidrs[o++] = h->cidrs[i];
  h->ncidr = o;
  bool seen4[33] = {0}, seen6[129] = {0};
  for (size_t i = 0; i < h->ncidr; i++)
    (h->cidrs[i].m.net.family == 4 ? seen4 : seen6)[h->cidrs[i].m.prefix] = true;
  for (int p = 32; p >= 0; p--)
    if (seen4[p]) h->pfx4[h->npfx4++] = (uint8_t)p;
  for (int p = 128; p >= 0; p--)
    if (seen6[p]) h->pfx6[h->npfx6++] = (uint8_t)p;
}

struct hostnets *hostnets_new(const char *extra_file, char *err, size_t errlen) {
  struct hostnets *h = calloc(1, sizeof *h);
  if (!h) return snprintf(err, errlen, "out of memory"), NULL;
  const struct source builtin = {"hosting_asns.txt", "hosting"};
  int rc = parse_text(h, hosting_asns_data, hosting_asns_data_len, &builtin, err, errlen);
  if (rc == 0 && extra_file && *extra_file) {
    const struct source site = {extra_file, "site list"};
    size_t len = 0;
    char *text = read_file(extra_file, &len, err, errlen);
    rc = text ? parse_text(h, text, len, &site, err, errlen) : -1;
    free(text);
  }
  if (rc < 0) {
    hostnets_free(h);
    return NULL;
  }
  index_entries(h);
  return h;
}

void hostnets_free(struct hostnets *h) {
  if (!h) return;
  free(h->asns);
  free(h->cidrs);
  free(h->cidr_labels);
  free(h);
}

static const char *match_addr(const struct hostnets *h, const struct netaddr *a) {
  const uint8_t *pfx = a->family == 4 ? h->pfx4 : h->pfx6;
  size_t npfx = a->family == 4 ? h->npfx4 : h->npfx6;
  for (size_t i = 0; i < npfx; i++) {
    struct netmask key = {*a, pfx[i]};
    unsigned full = key.prefix / 8, rest = key.prefix % 8;
    if (rest) key.net.bytes[full++] &= (uint8_t)(0xffu << (8 - rest));
    memset(key.net.bytes + full, 0, sizeof key.net.bytes - full);
    size_t lo = 0, hi = h->ncidr;
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      int c = cmp_net(&h->cidrs[mid].m, &key);
      if (c == 0) return h->cidr_labels[h->cidrs[mid].seq];
      if (c < 0) lo = mid + 1;
      else hi = mid;
    }
  }
  return NULL;
}

const char *hostnets_match(const struct hostnets *h, const char *addr, uint32_t asn) {
  struct netaddr a;
  if (!h) return NULL;
  if (h->ncidr && addr && *addr && netaddr_parse(addr, strlen(addr), &a) == 0) {
    const char *label = match_addr(h, &a);
    if (label) return label;
  }
  size_t lo = 0, hi = asn ? h->nasn : 0;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (h->asns[mid].asn == asn) return h->asns[mid].label;
    if (h->asns[mid].asn < asn) lo = mid + 1;
    else hi = mid;
  }
  return NULL;
}

size_t hostnets_count_asns(const struct hostnets *h) { return h->nasn; }
size_t hostnets_count_cidrs(const struct hostnets *h) { return h->ncidr; }
