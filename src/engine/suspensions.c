/* suspensions.c - the table of suspended accounts (rare, so plain entries).
 * Stored as small JSON texts so an administrator can read them with mdb_dump. */
#include "engine/suspensions.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/strmap.h"

struct susptab {
  struct strmap *m;
};

static void susp_free(void *arg) {
  struct susp *s = arg;
  if (!s) return;
  free(s->account);
  free(s->by);
  free(s->reason);
  free(s);
}

struct susptab *susptab_new(void) {
  struct susptab *t = calloc(1, sizeof *t);
  if (t && !(t->m = strmap_new())) {
    free(t);
    return NULL;
  }
  return t;
}

void susptab_free(struct susptab *t) {
  if (!t) return;
  strmap_free_values(t->m, susp_free);
  free(t);
}

const struct susp *susptab_get(const struct susptab *t, const char *account) {
  return strmap_get(t->m, account);
}

const struct susp *susptab_add(struct susptab *t, const char *account, int64_t since,
                               const char *by, const char *reason) {
  struct susp *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->account = strdup(account);
  s->since = since;
  s->by = strdup(by ? by : "");
  s->reason = strdup(reason ? reason : "");
  if (!s->account || !s->by || !s->reason) {
    susp_free(s);
    return NULL;
  }
  struct susp *old = strmap_get(t->m, account);
  if (strmap_set(t->m, account, s) < 0) {
    susp_free(s);
    return NULL;
  }
  susp_free(old);
  return s;
}

int susptab_del(struct susptab *t, const char *account) {
  struct susp *s = strmap_del(t->m, account);
  susp_free(s);
  return s != NULL;
}

size_t susptab_count(const struct susptab *t) { return strmap_count(t->m); }

const struct susp *susptab_next(const struct susptab *t, size_t *pos) {
  const char *k;
  void *v;
  return strmap_next(t->m, pos, &k, &v) ? v : NULL;
}

char *susp_to_json(const struct susp *s) {
  json_t *o = json_pack("{s:I,s:s,s:s}", "since", (json_int_t)s->since, "by", s->by, "reason",
                        s->reason);
  char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
  json_decref(o);
  return txt;
}

int susptab_add_json(struct susptab *t, const char *account, const char *json, size_t len) {
  json_t *o = json_loadb(json, len, 0, NULL);
  json_int_t since = 0;
  const char *by = "", *reason = "";
  int rc = -1;
  if (o && json_unpack(o, "{s:I,s:s,s:s}", "since", &since, "by", &by, "reason", &reason) == 0)
    rc = susptab_add(t, account, since, by, reason) ? 0 : -1;
  json_decref(o);
  return rc;
}
