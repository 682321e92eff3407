/* reply.c - turn verdicts into access(5) actions for Postfix.
 *
 * throttle -> DEFER_IF_PERMIT (450 4.7.1), hold -> HOLD, suspend and every
 * request of a suspended account -> REJECT (5.7.1).  Alert-only and shadow
 * verdicts answer DUNNO.  Text that came from a client (an envelope sender
 * used as account) is reduced to printable ASCII so it can never break the
 * protocol's line framing.
 */
#include "actions/reply.h"

#include <stdio.h>
#include <string.h>

static void put(char *dst, size_t len, size_t *o, const char *s) {
  for (; *s && *o + 1 < len; s++) {
    unsigned char ch = (unsigned char)*s;
    dst[(*o)++] = (ch < 0x20 || ch >= 0x7f) ? '?' : (char)ch;
  }
  dst[*o] = 0;
}

void reply_expand(const char *tmpl, const struct limit *l, const char *account, char *dst,
                  size_t len) {
  size_t o = 0;
  char num[32];
  dst[0] = 0;
  for (const char *p = tmpl; *p && o + 1 < len;) {
    const char *val = NULL;
    size_t skip = 0;
    if (*p == '{') {
      const char *end = strchr(p, '}');
      size_t n = end ? (size_t)(end - p - 1) : 0;
      skip = end ? n + 2 : 0;
      if (n == 7 && !strncmp(p + 1, "account", 7)) val = account ? account : "";
      else if (n == 5 && !strncmp(p + 1, "limit", 5)) val = l ? l->name : "";
      else if (n == 5 && !strncmp(p + 1, "count", 5)) val = l ? conf_metric_name(l->metric) : "";
      else if (n == 6 && !strncmp(p + 1, "window", 6)) val = l ? conf_window_name(l->win) : "";
      else if (n == 3 && !strncmp(p + 1, "max", 3)) {
        snprintf(num, sizeof num, "%llu", l ? (unsigned long long)l->max : 0ull);
        val = num;
      }
    }
    if (val) {
      put(dst, len, &o, val);
      p += skip;
    } else {
      char one[2] = {*p++, 0};
      put(dst, len, &o, one);
    }
  }
}

size_t reply_format(const struct conf *c, const struct verdict *v, const char *account,
                    char *buf, size_t len) {
  const char *word = "DUNNO", *tmpl = NULL;
  switch (v->action) {
    case ACT_THROTTLE: word = "DEFER_IF_PERMIT"; tmpl = c->throttle_text; break;
    case ACT_HOLD: word = "HOLD"; tmpl = c->hold_text; break;
    case ACT_SUSPEND: word = "REJECT"; tmpl = c->suspend_text; break;
    case ACT_REJECT: word = "REJECT"; tmpl = v->client_blocked ? c->blocked_text : c->suspended_text; break;
    default: break;
  }
  if (v->limit && v->limit->text && v->action != ACT_REJECT) tmpl = v->limit->text;
  static const char dunno[] = "action=DUNNO\n\n";
  if (!tmpl && v->action == ACT_DUNNO && len >= sizeof dunno) { /* nearly every answer */
    memcpy(buf, dunno, sizeof dunno);
    return sizeof dunno - 1;
  }
  char text[400];
  text[0] = 0;
  if (tmpl) reply_expand(tmpl, v->limit, account, text, sizeof text);
  int n = snprintf(buf, len, "action=%s%s%s\n\n", word, *text ? " " : "", text);
  return n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
}

size_t reply_fail(const struct conf *c, char *buf, size_t len) {
  int n = snprintf(buf, len, "action=%s\n\n", c->fail_action);
  return n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
}
