/* store_lmdb.c - the embedded LMDB backend.
 *
 * One environment in state_dir with a named database per table.  Only the
 * writer thread writes (and, after start-up, is the only user), so growing
 * the map on MDB_MAP_FULL is safe: no other transaction can be open.  Each
 * apply() is one write transaction committed with a sync: batches make that
 * one fsync per flush interval, not one per request.
 */
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/store.h"

static const char *const db_names[ST__N] = {"counters", "suspensions", "meta", "blocks", "incidents"};

struct lmdb_store {
  MDB_env *env;
  MDB_dbi dbi[ST__N];
  size_t map_size, map_max;
};

static void lmdb_close(void *h) {
  struct lmdb_store *s = h;
  if (!s) return;
  if (s->env) mdb_env_close(s->env);
  free(s);
}

static void *lmdb_open(const struct conf *c, char *err, size_t errlen) {
  struct lmdb_store *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->map_size = c->store_map_size;
  s->map_max = c->store_map_size_max;
  int rc;
  if (mkdir(c->state_dir, 0750) < 0 && errno != EEXIST) {
    snprintf(err, errlen, "state_dir %s: %s", c->state_dir, strerror(errno));
    goto fail;
  }
  if ((rc = mdb_env_create(&s->env)) || (rc = mdb_env_set_maxdbs(s->env, ST__N)) ||
      (rc = mdb_env_set_mapsize(s->env, s->map_size)) ||
      (rc = mdb_env_open(s->env, c->state_dir, MDB_NOTLS | MDB_WRITEMAP, 0640))) {
    snprintf(err, errlen, "lmdb %s: %s", c->state_dir, mdb_strerror(rc));
    goto fail;
  }
  /* an existing file may be larger than the configured initial map */
  MDB_envinfo info;
  mdb_env_info(s->env, &info);
  s->map_size = info.me_mapsize;
  MDB_txn *txn;
  if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn))) {
    snprintf(err, errlen, "lmdb: %s", mdb_strerror(rc));
    goto fail;
  }
  for (int t = 0; t < ST__N; t++)
    if ((rc = mdb_dbi_open(txn, db_names[t], MDB_CREATE, &s->dbi[t]))) {
      mdb_txn_abort(txn);
      snprintf(err, errlen, "lmdb db %s: %s", db_names[t], mdb_strerror(rc));
      goto fail;
    }
  if ((rc = mdb_txn_commit(txn))) {
    snprintf(err, errlen, "lmdb: %s", mdb_strerror(rc));
    goto fail;
  }
  return s;
fail:
  lmdb_close(s);
  return NULL;
}

static int lmdb_scan(void *h, enum store_table t, store_scan_fn cb, void *arg) {
  struct lmdb_store *s = h;
  MDB_txn *txn;
  MDB_cursor *cur;
  if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)) return -1;
  if (mdb_cursor_open(txn, s->dbi[t], &cur)) {
    mdb_txn_abort(txn);
    return -1;
  }
  MDB_val k, v;
  int rc = 0;
  for (int op = MDB_FIRST; mdb_cursor_get(cur, &k, &v, (MDB_cursor_op)op) == 0; op = MDB_NEXT)
    if (cb(arg, k.mv_data, k.mv_size, v.mv_data, v.mv_size) < 0) {
      rc = -1;
      break;
    }
  mdb_cursor_close(cur);
  mdb_txn_abort(txn);
  return rc;
}

static int apply_once(struct lmdb_store *s, const struct store_batch *b) {
  MDB_txn *txn;
  int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
  if (rc) return rc;
  for (size_t i = 0; i < b->n; i++) {
    const struct store_op *o = &b->ops[i];
    MDB_val k = {o->klen, (void *)store_op_key(b, o)}, v = {o->vlen, (void *)store_op_val(b, o)};
    rc = o->del ? mdb_del(txn, s->dbi[o->table], &k, NULL) : mdb_put(txn, s->dbi[o->table], &k, &v, 0);
    if (rc == MDB_NOTFOUND) rc = 0;
    if (rc) {
      mdb_txn_abort(txn);
      return rc;
    }
  }
  return mdb_txn_commit(txn);
}

static int lmdb_apply(void *h, const struct store_batch *b, char *err, size_t errlen) {
  struct lmdb_store *s = h;
  for (;;) {
    int rc = apply_once(s, b);
    if (rc == 0) return 0;
    if (rc == MDB_MAP_FULL && s->map_size < s->map_max) {
      size_t want = s->map_size * 2 > s->map_max ? s->map_max : s->map_size * 2;
      if (mdb_env_set_mapsize(s->env, want) == 0) {
        s->map_size = want;
        continue;
      }
    }
    snprintf(err, errlen, "lmdb write: %s", mdb_strerror(rc));
    return -1;
  }
}

static int lmdb_stats(void *h, struct store_stats *st) {
  struct lmdb_store *s = h;
  MDB_txn *txn;
  MDB_envinfo info;
  MDB_stat ms;
  memset(st, 0, sizeof *st);
  st->backend = "lmdb";
  if (mdb_env_info(s->env, &info) || mdb_env_stat(s->env, &ms)) return -1;
  st->map_size = info.me_mapsize;
  st->bytes = (uint64_t)(info.me_last_pgno + 1) * ms.ms_psize;
  if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)) return -1;
  for (int t = 0; t < ST__N; t++)
    if (mdb_stat(txn, s->dbi[t], &ms) == 0) st->keys += ms.ms_entries;
  mdb_txn_abort(txn);
  return 0;
}

const struct store_backend store_lmdb = {
    "lmdb", lmdb_open, lmdb_close, lmdb_scan, lmdb_apply, lmdb_stats,
};
