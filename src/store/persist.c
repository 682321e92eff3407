/* persist.c - mapping between engine state and store entries.
 *
 * Counter records live in the "counters" table under "a:ACCOUNT",
 * "d:DOMAIN" or "c:ADDRESS", learned profiles under "p:ACCOUNT" (and
 * "p:@site"); suspensions in "suspensions" under the account, as JSON
 * (readable with mdb_dump).
 */
#include "store/persist.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "engine/keytab.h"

#define STORE_KEY_MAX (KEY_MAX + 3)

static const char per_prefix[PER__N] = {'a', 'd', 'c'};

struct collect_ctx {
  struct store_batch *b;
  int failed;
};

/* "X:KEY" into k (room for STORE_KEY_MAX); its length, or 0 if too long.
 * Twice per dirty record each flush: no printf. */
static size_t prefixed(char *k, char prefix, const char *key) {
  size_t n = strlen(key);
  if (n + 2 >= STORE_KEY_MAX) return 0;
  k[0] = prefix;
  k[1] = ':';
  memcpy(k + 2, key, n + 1);
  return n + 2;
}

static void emit(void *arg, enum limit_per per, const char *key, const uint8_t *data, size_t len) {
  struct collect_ctx *cx = arg;
  char k[STORE_KEY_MAX];
  size_t kl = prefixed(k, per_prefix[per], key);
  if (!kl || store_batch_add(cx->b, ST_COUNTERS, k, kl, data, len) < 0) cx->failed = 1;
}

static void emit_profile(void *arg, const char *account, const uint8_t *data, size_t len) {
  struct collect_ctx *cx = arg;
  char k[STORE_KEY_MAX];
  size_t kl = prefixed(k, 'p', account);
  if (!kl || store_batch_add(cx->b, ST_COUNTERS, k, kl, data, len) < 0) cx->failed = 1;
}

/* A profile is ~900 bytes, a counter record ~100: fewer per slice. */
#define PROFILE_SLICE_DIV 8

long persist_collect_some(struct engine *e, struct store_batch *b, size_t max, int64_t profiles_by) {
  struct collect_ctx cx = {b, 0};
  size_t left = engine_collect_some(e, emit, &cx, max);
  if (!left) left = engine_collect_profiles(e, emit_profile, &cx, max / PROFILE_SLICE_DIV + 1, profiles_by);
  return cx.failed ? -1 : (long)left;
}

int persist_collect(struct engine *e, struct store_batch *b) {
  return persist_collect_some(e, b, SIZE_MAX - 1, INT64_MAX) < 0 ? -1 : 0;
}

int persist_suspension(struct engine *e, const char *account, struct store_batch *b) {
  const struct susp *s = susptab_get(engine_suspensions(e), account);
  char *json = s ? susp_to_json(s) : NULL;
  if (s && !json) return -1;
  int rc = store_batch_add(b, ST_SUSPENSIONS, account, strlen(account), json,
                           json ? strlen(json) : 0);
  free(json);
  return rc;
}

int persist_block(struct engine *e, const char *addr, int64_t now, struct store_batch *b) {
  const struct block *bl = engine_block_of(e, addr, now);
  char *json = bl ? block_to_json(bl) : NULL;
  if (bl && !json) return -1;
  int rc = store_batch_add(b, ST_BLOCKS, addr, strlen(addr), json, json ? strlen(json) : 0);
  free(json);
  return rc;
}

struct load_ctx {
  struct engine *e;
  int bad;
};

static int load_counter(void *arg, const char *key, size_t klen, const void *val, size_t vlen) {
  struct load_ctx *lx = arg;
  char k[STORE_KEY_MAX];
  if (klen >= 3 && klen < sizeof k && key[0] == 'p' && key[1] == ':') { /* a learned profile */
    memcpy(k, key, klen);
    k[klen] = 0;
    if (engine_load_profile(lx->e, k + 2, val, vlen) < 0) {
      log_warn("store_load", "what=bad_profile key=%s", k);
      lx->bad++;
    }
    return 0;
  }
  int p = 0;
  while (klen >= 3 && p < PER__N && key[0] != per_prefix[p]) p++;
  if (klen < 3 || klen >= sizeof k || key[1] != ':' || p == PER__N) {
    lx->bad++;
    return 0;
  }
  memcpy(k, key, klen);
  k[klen] = 0;
  if (engine_load(lx->e, (enum limit_per)p, k + 2, val, vlen) < 0) {
    log_warn("store_load", "what=bad_record key=%s", k);
    lx->bad++;
  }
  return 0;
}

static int load_susp(void *arg, const char *key, size_t klen, const void *val, size_t vlen) {
  struct load_ctx *lx = arg;
  char k[STORE_KEY_MAX];
  if (klen == 0 || klen >= sizeof k) {
    lx->bad++;
    return 0;
  }
  memcpy(k, key, klen);
  k[klen] = 0;
  if (engine_load_suspension(lx->e, k, val, vlen) < 0) {
    log_warn("store_load", "what=bad_suspension account=%s", k);
    lx->bad++;
  }
  return 0;
}

static int load_block(void *arg, const char *key, size_t klen, const void *val, size_t vlen) {
  struct load_ctx *lx = arg;
  char k[64];
  if (klen == 0 || klen >= sizeof k) {
    lx->bad++;
    return 0;
  }
  memcpy(k, key, klen);
  k[klen] = 0;
  if (blocktab_add_json(engine_blocks(lx->e), k, val, vlen) < 0) {
    log_warn("store_load", "what=bad_block addr=%s", k);
    lx->bad++;
  }
  return 0;
}

int persist_load(struct engine *e, struct store *s) {
  struct load_ctx lx = {e, 0};
  if (store_scan(s, ST_COUNTERS, load_counter, &lx) < 0 ||
      store_scan(s, ST_SUSPENSIONS, load_susp, &lx) < 0 ||
      store_scan(s, ST_BLOCKS, load_block, &lx) < 0)
    return -1;
  return lx.bad;
}

void persist_requeue(struct engine *e, const struct store_batch *b) {
  char k[STORE_KEY_MAX];
  for (size_t i = 0; i < b->n; i++) {
    const struct store_op *o = &b->ops[i];
    if (o->table != ST_COUNTERS || o->klen < 3 || o->klen >= sizeof k) continue;
    memcpy(k, store_op_key(b, o), o->klen);
    k[o->klen] = 0;
    if (k[0] == 'p' && k[1] == ':') engine_mark_profile_dirty(e, k + 2);
    for (int p = 0; p < PER__N; p++)
      if (k[0] == per_prefix[p]) engine_mark_dirty(e, (enum limit_per)p, k + 2);
  }
}
