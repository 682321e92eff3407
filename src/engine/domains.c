/* domains.c - classification of recipient domains for the risk signals.
 * The free-mail list is data/freemail.txt, embedded at build time. */
#include "engine/domains.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/strmap.h"

extern const char freemail_data[];
extern const size_t freemail_data_len;

struct domains {
  struct strmap *freemail;
};

static int add_lines(struct domains *d, const char *text, size_t len) {
  const char *p = text, *end = text + len;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
    char dom[256];
    size_t o = 0;
    for (size_t i = 0; i < l && o + 1 < sizeof dom; i++)
      if (!isspace((unsigned char)p[i])) dom[o++] = (char)tolower((unsigned char)p[i]);
    dom[o] = 0;
    if (o && dom[0] != '#' && strmap_set(d->freemail, dom, d) < 0) return -1;
    p += l + 1;
  }
  return 0;
}

struct domains *domains_new(const char *extra_file, char *err, size_t errlen) {
  struct domains *d = calloc(1, sizeof *d);
  if (!d || !(d->freemail = strmap_new()) || add_lines(d, freemail_data, freemail_data_len) < 0) {
    snprintf(err, errlen, "out of memory");
    domains_free(d);
    return NULL;
  }
  if (extra_file && *extra_file) {
    FILE *f = fopen(extra_file, "r");
    char *buf = f ? malloc(1 << 22) : NULL;
    size_t n = buf ? fread(buf, 1, 1 << 22, f) : 0;
    if (f) fclose(f);
    if (!buf || add_lines(d, buf, n) < 0) {
      snprintf(err, errlen, "freemail_file %s: cannot read it", extra_file);
      free(buf);
      domains_free(d);
      return NULL;
    }
    free(buf);
  }
  return d;
}

void domains_free(struct domains *d) {
  if (!d) return;
  strmap_free(d->freemail);
  free(d);
}

bool domains_freemail(const struct domains *d, const char *domain) {
  for (const char *p = domain; p && *p;) { /* the domain, then each parent */
    if (strmap_get(d->freemail, p)) return true;
    p = strchr(p, '.');
    if (p) p++;
  }
  return false;
}

bool domains_foreign(const struct conf *c, const char *domain) {
  const char *tld = strrchr(domain, '.');
  tld = tld ? tld + 1 : domain;
  if (strlen(tld) != 2 || !isalpha((unsigned char)tld[0]) || !isalpha((unsigned char)tld[1])) return false;
  return !c->site_country[0] || strcasecmp(tld, c->site_country) != 0;
}

size_t domains_count(const struct domains *d) { return strmap_count(d->freemail); }
