/* reply.h - a verdict as a Postfix policy answer */
#ifndef MF_REPLY_H
#define MF_REPLY_H

#include <stddef.h>

#include "core/conf.h"
#include "engine/engine.h"

#define REPLY_MAX 600

/* Write "action=...\n\n" for v into buf (REPLY_MAX bytes); returns length. */
size_t reply_format(const struct conf *c, const struct verdict *v, const char *account,
                    char *buf, size_t len);
/* The answer for an internal error: "action=<fail_action>\n\n". */
size_t reply_fail(const struct conf *c, char *buf, size_t len);
/* Expand {account} {limit} {max} {count} {window} in tmpl into dst. */
void reply_expand(const char *tmpl, const struct limit *l, const char *account, char *dst,
                  size_t len);

#endif
