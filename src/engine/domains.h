/* domains.h - what a recipient domain says: ours, free-mail, foreign */
#ifndef MF_DOMAINS_H
#define MF_DOMAINS_H

#include <stdbool.h>

#include "core/conf.h"

struct domains;

/* The built-in free-mail list, plus extra_file (one domain per line, '#'
 * comments) when not empty. NULL with err set. Caller frees with domains_free(). */
struct domains *domains_new(const char *extra_file, char *err, size_t errlen);
void domains_free(struct domains *d);
/* True for a free-mail provider's domain (or a subdomain of one). */
bool domains_freemail(const struct domains *d, const char *domain);
/* True when the domain's country-code TLD is not the site's (generic TLDs
 * such as .com are not foreign: they say nothing about a country). */
bool domains_foreign(const struct conf *c, const char *domain);
size_t domains_count(const struct domains *d);

#endif
