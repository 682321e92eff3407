/* postqueue.c - pick an account's messages out of `postqueue -j` output.
 *
 * `postqueue -j` prints one JSON object per queued message and line:
 *   {"queue_name": "deferred", "queue_id": "6F9AAA74718", "arrival_time": 1795451839,
 *    "message_size": 385, "forced_expire": false, "sender": "alice@example.edu",
 *    "recipients": [{"address": "x@example.net", "delay_reason": "..."}]}
 * A queue can hold a million of them, so the output is never kept: lines are
 * cut out of the chunks as they arrive (a line wholly inside a chunk is parsed
 * in place, only one split across chunks is copied, up to PQ_LINE_MAX bytes),
 * parsed with jansson and forgotten.  What stays is, per matching message, its
 * queue id (in a set: showq walks the queues one after the other, so a message
 * that moves meanwhile may be listed twice; it counts once), the "ID\n" text
 * for `postsuper -h -` (or, when held already, for `postsuper -H -`), and a
 * count per recipient domain.
 *
 * Invariants: only ids of [0-9A-Za-z]{1,PQ_QID_MAX} ever reach the ids texts
 * (postsuper reads them; anything else on that line is a bad line).  Bad input
 * never ends the scan: the line is counted in bad_lines.  Running out of
 * memory sets `oom`, after which pq_select_ids() answers NULL rather than a
 * list that may lack messages.
 */
#include "actions/postqueue.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/strmap.h"

/* A growing, NUL-terminated byte buffer. */
struct pq_buf {
  char *p;
  size_t len, cap;
};

/* The matching messages' queue ids: open addressing over offsets (+1; 0 is
 * empty) of "ID\n" records in text, so each id costs its bytes plus a slot. */
struct idset {
  uint64_t *slot;
  size_t cap, n;
  struct pq_buf text;
};

struct pq_select {
  struct strmap *senders; /* lowercased */
  struct strmap *qids;
  struct strmap *domains; /* lowercased domain -> count, stored in the pointer */
  struct idset seen;      /* every matching message */
  struct pq_buf ids;      /* "ID\n" of those not yet held */
  size_t nids;
  struct pq_buf held;     /* "ID\n" of those already in the hold queue (for a release) */
  size_t nheld;
  struct pq_buf line;     /* a line split across chunks */
  struct pq_buf lower;    /* scratch: the sender lowercased */
  bool skipping;          /* the current line is over PQ_LINE_MAX: drop to its end */
  bool oom;
  struct pq_summary sum;
};

static int buf_add(struct pq_buf *b, const char *data, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return -1;
    b->p = p;
    b->cap = cap;
  }
  if (n) memcpy(b->p + b->len, data, n);
  b->len += n;
  b->p[b->len] = 0;
  return 0;
}

static char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c; }

static bool qid_valid(const char *id, size_t n) {
  if (n == 0 || n > PQ_QID_MAX) return false;
  for (size_t i = 0; i < n; i++) {
    char c = id[i];
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))) return false;
  }
  return true;
}

static uint64_t hash_id(const char *id, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)id[i]) * 1099511628211ull;
  return h ^ (h >> 29);
}

/* Slot index holding id, or the empty slot where it would go. */
static size_t idset_find(const struct idset *set, const char *id, size_t n, uint64_t h) {
  size_t i = h & (set->cap - 1);
  for (; set->slot[i]; i = (i + 1) & (set->cap - 1)) {
    /* byte by byte: a stored id ends at its '\n', which no id byte equals */
    const char *have = set->text.p + set->slot[i] - 1;
    size_t j = 0;
    while (j < n && have[j] == id[j]) j++;
    if (j == n && have[n] == '\n') return i;
  }
  return i;
}

static int idset_grow(struct idset *set) {
  size_t cap = set->cap ? set->cap * 2 : 1024;
  uint64_t *slot = calloc(cap, sizeof *slot);
  if (!slot) return -1;
  for (size_t i = 0; i < set->cap; i++) {
    if (!set->slot[i]) continue;
    const char *id = set->text.p + set->slot[i] - 1;
    size_t j = hash_id(id, strcspn(id, "\n")) & (cap - 1);
    while (slot[j]) j = (j + 1) & (cap - 1);
    slot[j] = set->slot[i];
  }
  free(set->slot);
  set->slot = slot;
  set->cap = cap;
  return 0;
}

/* 1 when id is new (and now in), 0 when it was in already, -1 out of memory. */
static int idset_add(struct idset *set, const char *id, size_t n) {
  if ((set->n + 1) * 2 > set->cap && idset_grow(set) < 0) return -1;
  uint64_t h = hash_id(id, n);
  size_t i = idset_find(set, id, n, h);
  if (set->slot[i]) return 0;
  size_t off = set->text.len;
  if (buf_add(&set->text, id, n) < 0 || buf_add(&set->text, "\n", 1) < 0) return -1;
  set->slot[i] = off + 1;
  set->n++;
  return 1;
}

static void count_domain(struct pq_select *s, const char *addr) {
  const char *at = strrchr(addr, '@');
  if (!at || !at[1] || strlen(at + 1) > PQ_DOMAIN_MAX) return;
  char dom[PQ_DOMAIN_MAX + 1];
  size_t n = 0;
  for (const char *p = at + 1; *p; p++) dom[n++] = ascii_lower(*p);
  dom[n] = 0;
  uintptr_t c = (uintptr_t)strmap_get(s->domains, dom);
  if (!c && strmap_count(s->domains) >= PQ_DOMAINS_MAX) return;
  /* out of memory here only makes the domain report short; the ids stay right */
  (void)!strmap_set(s->domains, dom, (void *)(c + 1));
}

static void count_recipients(struct pq_select *s, json_t *rcpts) {
  size_t i;
  json_t *r;
  json_array_foreach(rcpts, i, r) {
    const char *addr = json_string_value(json_object_get(r, "address"));
    if (!addr) continue;
    s->sum.recipients++;
    count_domain(s, addr);
  }
}

static bool matches(struct pq_select *s, const char *id, json_t *sender) {
  if (strmap_get(s->qids, id)) return true;
  if (!strmap_count(s->senders)) return false;
  const char *snd = json_string_value(sender);
  size_t n = json_string_length(sender);
  s->lower.len = 0;
  if (buf_add(&s->lower, snd, n) < 0) {
    s->oom = true;
    return false;
  }
  for (size_t i = 0; i < n; i++) s->lower.p[i] = ascii_lower(s->lower.p[i]);
  return strmap_get(s->senders, s->lower.p) != NULL;
}

/* Record one parsed line; -1 when it is not a usable queue entry. */
static int take_message(struct pq_select *s, json_t *o) {
  const char *qname = json_string_value(json_object_get(o, "queue_name"));
  json_t *jid = json_object_get(o, "queue_id");
  json_t *sender = json_object_get(o, "sender");
  json_t *rcpts = json_object_get(o, "recipients");
  if (!qname || !json_is_string(jid) || !json_is_string(sender)) return -1;
  if (rcpts && !json_is_array(rcpts)) return -1;
  const char *id = json_string_value(jid);
  size_t idlen = json_string_length(jid);
  if (!qid_valid(id, idlen)) return -1;
  if (!matches(s, id, sender)) return 0;
  int fresh = idset_add(&s->seen, id, idlen);
  if (fresh < 0) s->oom = true;
  if (fresh <= 0) return 0;
  s->sum.matched++;
  if (strcmp(qname, "hold") == 0) {
    s->sum.already_held++;
    if (buf_add(&s->held, id, idlen) < 0 || buf_add(&s->held, "\n", 1) < 0) s->oom = true;
    else s->nheld++;
  } else if (buf_add(&s->ids, id, idlen) < 0 || buf_add(&s->ids, "\n", 1) < 0) {
    s->oom = true;
  } else {
    s->nids++;
  }
  if (rcpts) count_recipients(s, rcpts);
  return 0;
}

static void take_line(struct pq_select *s, const char *p, size_t n) {
  if (n == 0) return;
  s->sum.lines++;
  if (n > PQ_LINE_MAX) {
    s->sum.bad_lines++;
    return;
  }
  json_error_t e;
  json_t *o = json_loadb(p, n, 0, &e);
  if (!json_is_object(o) || take_message(s, o) < 0) s->sum.bad_lines++;
  json_decref(o);
}

/* A newline after a line that was buffered or is being skipped. */
static void line_done(struct pq_select *s) {
  if (s->skipping) {
    s->sum.lines++;
    s->sum.bad_lines++;
    s->skipping = false;
  } else {
    take_line(s, s->line.p, s->line.len);
  }
  s->line.len = 0;
}

static void line_append(struct pq_select *s, const char *data, size_t n) {
  if (s->skipping || n == 0) return;
  if (n > PQ_LINE_MAX - s->line.len) {
    s->skipping = true;
  } else if (buf_add(&s->line, data, n) < 0) {
    s->oom = true;
    s->skipping = true;
  }
  if (s->skipping) s->line.len = 0;
}

void pq_select_feed(struct pq_select *s, const char *data, size_t len) {
  while (len > 0) {
    const char *nl = memchr(data, '\n', len);
    size_t n = nl ? (size_t)(nl - data) : len;
    if (nl && !s->skipping && s->line.len == 0) {
      take_line(s, data, n); /* the usual case: the whole line is in this chunk */
    } else {
      line_append(s, data, n);
      if (nl) line_done(s);
    }
    n += nl ? 1 : 0;
    data += n;
    len -= n;
  }
}

void pq_select_end(struct pq_select *s) {
  if (s->skipping || s->line.len) line_done(s);
}

void pq_select_summary(const struct pq_select *s, struct pq_summary *out) { *out = s->sum; }

const char *pq_select_ids(const struct pq_select *s, size_t *len) {
  *len = 0;
  if (s->oom) return NULL;
  *len = s->ids.len;
  return s->ids.p ? s->ids.p : "";
}

size_t pq_select_nids(const struct pq_select *s) { return s->nids; }

const char *pq_select_held_ids(const struct pq_select *s, size_t *len) {
  *len = 0;
  if (s->oom) return NULL;
  *len = s->held.len;
  return s->held.p ? s->held.p : "";
}

size_t pq_select_nheld(const struct pq_select *s) { return s->nheld; }

struct dom_count {
  const char *name;
  uint64_t n;
};

static int by_count(const void *a, const void *b) {
  const struct dom_count *x = a, *y = b;
  if (x->n != y->n) return x->n < y->n ? 1 : -1;
  return strcmp(x->name, y->name);
}

size_t pq_select_top_domains(const struct pq_select *s, size_t k, const char **domains,
                             uint64_t *counts) {
  size_t n = strmap_count(s->domains);
  if (!k || !n) return 0;
  struct dom_count *all = malloc(n * sizeof *all);
  if (!all) return 0;
  size_t pos = 0, i = 0;
  const char *key;
  void *val;
  while (i < n && strmap_next(s->domains, &pos, &key, &val))
    all[i++] = (struct dom_count){key, (uint64_t)(uintptr_t)val};
  qsort(all, i, sizeof *all, by_count);
  if (k > i) k = i;
  for (size_t j = 0; j < k; j++) {
    domains[j] = all[j].name;
    counts[j] = all[j].n;
  }
  free(all);
  return k;
}

static int set_all(struct strmap *m, const char *const *list, size_t n, bool lower) {
  for (size_t i = 0; i < n; i++) {
    if (!list[i] || (lower && !list[i][0])) continue;
    char *k = strdup(list[i]);
    if (!k) return -1;
    for (char *p = k; lower && *p; p++) *p = ascii_lower(*p);
    int rc = strmap_set(m, k, (void *)1);
    free(k);
    if (rc < 0) return -1;
  }
  return 0;
}

struct pq_select *pq_select_new(const char *const *senders, size_t nsenders,
                                const char *const *qids, size_t nqids) {
  struct pq_select *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  if (!(s->senders = strmap_new()) || !(s->qids = strmap_new()) ||
      !(s->domains = strmap_new()) || set_all(s->senders, senders, nsenders, true) < 0 ||
      set_all(s->qids, qids, nqids, false) < 0 || idset_grow(&s->seen) < 0) {
    pq_select_free(s);
    return NULL;
  }
  return s;
}

void pq_select_free(struct pq_select *s) {
  if (!s) return;
  strmap_free(s->senders);
  strmap_free(s->qids);
  strmap_free(s->domains);
  free(s->seen.slot);
  free(s->seen.text.p);
  free(s->ids.p);
  free(s->held.p);
  free(s->line.p);
  free(s->lower.p);
  free(s);
}
