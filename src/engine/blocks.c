/* blocks.c - the table of blocked client addresses (few, so plain entries).
 * Stored as small JSON texts, like suspensions. */
#include "engine/blocks.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/netaddr.h"
#include "core/strmap.h"

struct blocktab {
  struct strmap *m;
};

struct blocktab *blocktab_new(void) {
  struct blocktab *t = calloc(1, sizeof *t);
  if (t && !(t->m = strmap_new())) {
    free(t);
    return NULL;
  }
  return t;
}

void blocktab_free(struct blocktab *t) {
  if (!t) return;
  strmap_free_values(t->m, free);
  free(t);
}

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int block_canon(const char *text, char *out, size_t len) {
  struct netaddr a;
  if (!text || netaddr_parse(text, strlen(text), &a) < 0) return -1;
  if (a.family == 6 && !memcmp(a.bytes, v4mapped, 12)) {
    memmove(a.bytes, a.bytes + 12, 4);
    a.family = 4;
  }
  char buf[INET6_ADDRSTRLEN];
  if (!inet_ntop(a.family == 4 ? AF_INET : AF_INET6, a.bytes, buf, sizeof buf)) return -1;
  if (strlen(buf) >= len) return -1;
  memcpy(out, buf, strlen(buf) + 1);
  return 0;
}

const struct block *blocktab_get(const struct blocktab *t, const char *addr, int64_t now) {
  if (!addr || strmap_count(t->m) == 0) return NULL;
  const struct block *b = strmap_get(t->m, addr); /* the usual case: Postfix's canonical text */
  if (!b) {
    char c[48];
    if (block_canon(addr, c, sizeof c) < 0) return NULL;
    b = strmap_get(t->m, c);
  }
  return b && b->until > now ? b : NULL;
}

static void copy_line(char *dst, size_t len, const char *src) {
  snprintf(dst, len, "%s", src ? src : "");
  for (char *p = dst; *p; p++)
    if (*p == '\n' || *p == '\r') *p = ' ';
}

const struct block *blocktab_add(struct blocktab *t, const char *addr, int64_t since, int64_t until,
                                 const char *by, const char *reason) {
  char c[48];
  if (block_canon(addr, c, sizeof c) < 0) return NULL;
  struct block *b = strmap_get(t->m, c);
  if (b) {
    if (until > b->until || b->until <= since) {
      b->until = until;
      b->since = since;
      copy_line(b->by, sizeof b->by, by);
      copy_line(b->reason, sizeof b->reason, reason);
    }
    return b;
  }
  if (!(b = calloc(1, sizeof *b))) return NULL;
  memcpy(b->addr, c, sizeof c);
  b->since = since;
  b->until = until;
  copy_line(b->by, sizeof b->by, by);
  copy_line(b->reason, sizeof b->reason, reason);
  if (strmap_set(t->m, c, b) < 0) {
    free(b);
    return NULL;
  }
  return b;
}

int blocktab_del(struct blocktab *t, const char *addr) {
  char c[48];
  if (block_canon(addr, c, sizeof c) < 0) return 0;
  struct block *b = strmap_del(t->m, c);
  free(b);
  return b != NULL;
}

size_t blocktab_count(const struct blocktab *t) { return strmap_count(t->m); }

const struct block *blocktab_next(const struct blocktab *t, size_t *pos) {
  const char *k;
  void *v;
  return strmap_next(t->m, pos, &k, &v) ? v : NULL;
}

size_t blocktab_expire(struct blocktab *t, int64_t now, void (*cb)(void *, const struct block *),
                       void *arg) {
  size_t n = 0, pos = 0;
  const char *k;
  void *v;
  while (strmap_next(t->m, &pos, &k, &v)) {
    struct block *b = v;
    if (b->until > now) continue;
    if (cb) cb(arg, b);
    strmap_del(t->m, b->addr);
    free(b);
    pos = 0; /* the map changed under the cursor: start over (few entries) */
    n++;
  }
  return n;
}

char *block_to_json(const struct block *b) {
  json_t *o = json_pack("{s:I,s:I,s:s,s:s}", "since", (json_int_t)b->since, "until",
                        (json_int_t)b->until, "by", b->by, "reason", b->reason);
  char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
  json_decref(o);
  return s;
}

int blocktab_add_json(struct blocktab *t, const char *addr, const char *json, size_t len) {
  json_error_t err;
  json_t *o = json_loadb(json, len, 0, &err);
  json_int_t since = 0, until = 0;
  const char *by = "", *reason = "";
  int rc = -1;
  if (o && json_unpack(o, "{s:I,s:I,s?s,s?s}", "since", &since, "until", &until, "by", &by,
                       "reason", &reason) == 0 &&
      blocktab_add(t, addr, since, until, by, reason))
    rc = 0;
  json_decref(o);
  return rc;
}
