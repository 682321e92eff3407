/* qlink.c - the queue-ID link table.
 *
 * Postfix logs a message's account once (smtpd "client=..., sasl_username=")
 * and its recipients later, under the queue id.  This table joins them.
 * Memory is bounded twice: entries live at most `ttl` seconds (a queue id
 * that never completes, such as a log that starts mid-stream), and there
 * are never more than `max` of them (the oldest go first).  Entries are in
 * a FIFO by creation, which is also time order, so expiry is cheap.
 */
#include "sources/qlink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/strmap.h"

struct node {
  struct qlink_entry e;
  struct node *prev, *next; /* FIFO, oldest first */
};

struct qlink {
  struct strmap *map; /* qid -> node */
  struct strmap *changed; /* qids written or deleted since the last collect */
  struct node *head, *tail;
  size_t max;
  int64_t ttl;
};

struct qlink *qlink_new(size_t max, int64_t ttl) {
  struct qlink *q = calloc(1, sizeof *q);
  if (!q || !(q->map = strmap_new()) || !(q->changed = strmap_new())) {
    if (q) strmap_free(q->map);
    free(q);
    return NULL;
  }
  q->max = max;
  q->ttl = ttl;
  return q;
}

static void node_free(struct node *n) {
  free(n->e.account);
  free(n->e.client);
  free(n->e.rcpt_hash);
  free(n);
}

static void unlink_node(struct qlink *q, struct node *n) {
  if (n->prev) n->prev->next = n->next;
  else q->head = n->next;
  if (n->next) n->next->prev = n->prev;
  else q->tail = n->prev;
}

void qlink_free(struct qlink *q) {
  if (!q) return;
  while (q->head) {
    struct node *n = q->head;
    q->head = n->next;
    node_free(n);
  }
  strmap_free(q->map);
  strmap_free(q->changed);
  free(q);
}

static void mark(struct qlink *q, const char *qid) {
  if (!strmap_get(q->changed, qid) && strmap_set(q->changed, qid, q) < 0) {
    /* out of memory: this entry is not saved; a restart may count it again */
  }
}

void qlink_touch(struct qlink *q, const struct qlink_entry *e) { mark(q, e->qid); }

void qlink_collect(struct qlink *q, void (*cb)(void *, const char *, const struct qlink_entry *),
                   void *arg) {
  size_t pos = 0;
  const char *k;
  void *v;
  while (strmap_next(q->changed, &pos, &k, &v)) {
    struct node *n = strmap_get(q->map, k);
    cb(arg, k, n ? &n->e : NULL);
  }
  strmap_free(q->changed);
  q->changed = strmap_new();
}

int qlink_encode(const struct qlink_entry *e, char *buf, size_t len) {
  int n = snprintf(buf, len, "%u %u %lld %s %s", e->flags, e->nrcpt, (long long)e->first_seen,
                   e->account ? e->account : "-", e->client ? e->client : "-");
  return n < 0 || (size_t)n >= len ? -1 : n;
}

int qlink_restore(struct qlink *q, const char *qid, const char *text) {
  unsigned flags, nrcpt;
  long long first;
  char acct[320], client[64];
  if (sscanf(text, "%u %u %lld %319s %63s", &flags, &nrcpt, &first, acct, client) != 5) return -1;
  struct qlink_entry *e = qlink_put(q, qid, strlen(qid), first);
  if (!e) return -1;
  e->flags = (uint8_t)flags;
  e->nrcpt = nrcpt;
  qlink_set(e, strcmp(acct, "-") ? acct : NULL, strcmp(client, "-") ? client : NULL);
  strmap_del(q->changed, qid); /* restored: it is on disk already */
  return 0;
}

static int copy_qid(char *dst, const char *qid, size_t len) {
  if (len == 0 || len >= QID_MAX) return -1;
  memcpy(dst, qid, len);
  dst[len] = 0;
  return 0;
}

struct qlink_entry *qlink_get(struct qlink *q, const char *qid, size_t len) {
  char k[QID_MAX];
  if (copy_qid(k, qid, len) < 0) return NULL;
  struct node *n = strmap_get(q->map, k);
  return n ? &n->e : NULL;
}

struct qlink_entry *qlink_put(struct qlink *q, const char *qid, size_t len, int64_t now) {
  struct qlink_entry *e = qlink_get(q, qid, len);
  if (e) return e;
  struct node *n = calloc(1, sizeof *n);
  if (!n || copy_qid(n->e.qid, qid, len) < 0 || strmap_set(q->map, n->e.qid, n) < 0) {
    free(n);
    return NULL;
  }
  n->e.first_seen = now;
  mark(q, n->e.qid);
  n->prev = q->tail;
  if (q->tail) q->tail->next = n;
  else q->head = n;
  q->tail = n;
  if (strmap_count(q->map) > q->max) qlink_expire(q, now);
  return &n->e;
}

static char *dup_or_null(const char *s) { return s && *s ? strdup(s) : NULL; }

void qlink_set(struct qlink_entry *e, const char *account, const char *client) {
  if (account) {
    free(e->account);
    e->account = dup_or_null(account);
  }
  if (client) {
    free(e->client);
    e->client = dup_or_null(client);
  }
}

int qlink_first_status(struct qlink_entry *e, const char *rcpt, size_t len) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)rcpt[i]) * 16777619u;
  for (uint32_t i = 0; i < e->nseen; i++)
    if (e->rcpt_hash[i] == h) return 0;
  if (e->nseen == e->rcpt_cap) {
    if (e->rcpt_cap >= QLINK_RCPT_DEDUP) return 1; /* past the cap: count, do not remember */
    uint32_t ncap = e->rcpt_cap ? e->rcpt_cap * 2 : 4;
    uint32_t *nh = realloc(e->rcpt_hash, ncap * sizeof *nh);
    if (!nh) return 1;
    e->rcpt_hash = nh;
    e->rcpt_cap = ncap;
  }
  e->rcpt_hash[e->nseen++] = h;
  return 1;
}

void qlink_del(struct qlink *q, const char *qid, size_t len) {
  char k[QID_MAX];
  if (copy_qid(k, qid, len) < 0) return;
  struct node *n = strmap_del(q->map, k);
  if (!n) return;
  mark(q, k);
  unlink_node(q, n);
  node_free(n);
}

void qlink_expire(struct qlink *q, int64_t now) {
  while (q->head && (q->head->e.first_seen + q->ttl < now || strmap_count(q->map) > q->max)) {
    struct node *n = q->head;
    strmap_del(q->map, n->e.qid);
    mark(q, n->e.qid);
    unlink_node(q, n);
    node_free(n);
  }
}

size_t qlink_count(const struct qlink *q) { return strmap_count(q->map); }
