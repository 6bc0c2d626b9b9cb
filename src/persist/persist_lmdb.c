/*
 * persist_lmdb.c - the LMDB engine behind store_engine_ops. One environment file (MDB_NOSUBDIR) plus its
 * "-lock" file; one unnamed database; one write transaction per batch. Durable mode keeps LMDB's default
 * synchronous commit (data pages fsync'd, then the meta page); relaxed mode opens with MDB_NOSYNC and the
 * store syncs on a timer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/statvfs.h>

#include <lmdb.h>

#include "persist/store_engine.h"

typedef struct lmdb_engine {
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *txn; /* the open write batch, or NULL */
    bool failed;  /* a put or delete of the open batch failed: commit refuses */
    int fail_rc;
} lmdb_engine;

/* Maps an LMDB or errno result to STORE_*. */
static int lmdb_result(int rc)
{
    if (rc == 0)
        return STORE_OK;
    if (rc == MDB_MAP_FULL || rc == ENOSPC || rc == EDQUOT || rc == MDB_TXN_FULL)
        return STORE_FULL;
    if (rc == MDB_NOTFOUND)
        return STORE_NOT_FOUND;
    return STORE_ERROR;
}

static void *lmdb_open(const char *path, uint64_t map_size, bool durable, char *err, size_t errlen)
{
    lmdb_engine *e = calloc(1, sizeof *e);
    MDB_txn *txn = NULL;
    int rc;
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if ((rc = mdb_env_create(&e->env)) != 0 || (rc = mdb_env_set_mapsize(e->env, (size_t)map_size)) != 0 ||
        (rc = mdb_env_set_maxreaders(e->env, 4)) != 0 ||
        (rc = mdb_env_open(e->env, path, MDB_NOSUBDIR | MDB_NOTLS | (durable ? 0 : MDB_NOSYNC), 0600)) != 0) {
        snprintf(err, errlen, "%s: %s", path, mdb_strerror(rc));
        goto fail;
    }
    if ((rc = mdb_txn_begin(e->env, NULL, 0, &txn)) != 0 || (rc = mdb_dbi_open(txn, NULL, 0, &e->dbi)) != 0 ||
        (rc = mdb_txn_commit(txn)) != 0) {
        txn = NULL;
        snprintf(err, errlen, "%s: %s", path, mdb_strerror(rc));
        goto fail;
    }
    return e;
fail:
    if (txn)
        mdb_txn_abort(txn);
    if (e->env)
        mdb_env_close(e->env);
    free(e);
    return NULL;
}

static void lmdb_close(void *ep)
{
    lmdb_engine *e = ep;
    if (!e)
        return;
    if (e->txn)
        mdb_txn_abort(e->txn);
    mdb_env_close(e->env);
    free(e);
}

static int lmdb_begin(void *ep)
{
    lmdb_engine *e = ep;
    if (e->txn)
        return STORE_OK;
    e->failed = false;
    return lmdb_result(mdb_txn_begin(e->env, NULL, 0, &e->txn));
}

static int lmdb_put(void *ep, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    lmdb_engine *e = ep;
    MDB_val key = {kl, (void *)k}, val = {vl, (void *)v};
    if (!e->txn || e->failed)
        return e->failed ? lmdb_result(e->fail_rc) : STORE_ERROR;
    int rc = mdb_put(e->txn, e->dbi, &key, &val, 0);
    if (rc) {
        e->failed = true;
        e->fail_rc = rc;
    }
    return lmdb_result(rc);
}

static int lmdb_del(void *ep, const uint8_t *k, size_t kl)
{
    lmdb_engine *e = ep;
    MDB_val key = {kl, (void *)k};
    if (!e->txn || e->failed)
        return e->failed ? lmdb_result(e->fail_rc) : STORE_ERROR;
    int rc = mdb_del(e->txn, e->dbi, &key, NULL);
    if (rc == MDB_NOTFOUND)
        return STORE_OK;
    if (rc) {
        e->failed = true;
        e->fail_rc = rc;
    }
    return lmdb_result(rc);
}

static void lmdb_abort(void *ep)
{
    lmdb_engine *e = ep;
    if (e->txn)
        mdb_txn_abort(e->txn);
    e->txn = NULL;
    e->failed = false;
}

static int lmdb_commit(void *ep)
{
    lmdb_engine *e = ep;
    if (!e->txn)
        return STORE_OK;
    if (e->failed) {
        int rc = lmdb_result(e->fail_rc);
        lmdb_abort(e);
        return rc;
    }
    int rc = mdb_txn_commit(e->txn); /* frees the transaction, committed or not */
    e->txn = NULL;
    return lmdb_result(rc);
}

static int lmdb_scan(void *ep, uint8_t prefix, store_engine_scan_fn fn, void *ctx)
{
    lmdb_engine *e = ep;
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val key = {1, &prefix}, val;
    int rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn), out = STORE_OK;
    if (rc == 0)
        rc = mdb_cursor_open(txn, e->dbi, &cur);
    if (rc)
        goto done;
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        if (key.mv_size < 1 || ((const uint8_t *)key.mv_data)[0] != prefix)
            break;
        out = fn(ctx, key.mv_data, key.mv_size, val.mv_data, val.mv_size);
        if (out == STORE_STOP) {
            out = STORE_OK;
            break;
        }
        if (out != STORE_OK)
            break;
    }
    if (rc == MDB_NOTFOUND || rc == 0)
        rc = 0;
done:
    if (cur)
        mdb_cursor_close(cur);
    if (txn)
        mdb_txn_abort(txn);
    return rc ? lmdb_result(rc) : out;
}

static int lmdb_sync(void *ep)
{
    lmdb_engine *e = ep;
    return lmdb_result(mdb_env_sync(e->env, 1));
}

/* Pages on LMDB's free list (reusable), read from the free database (dbi 0). */
static uint64_t lmdb_free_pages(lmdb_engine *e)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val key, val;
    uint64_t n = 0;
    if (mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn) != 0)
        return 0;
    if (mdb_cursor_open(txn, 0, &cur) == 0) {
        while (mdb_cursor_get(cur, &key, &val, MDB_NEXT) == 0)
            if (val.mv_size >= sizeof(size_t)) {
                size_t cnt;
                memcpy(&cnt, val.mv_data, sizeof cnt);
                n += cnt;
            }
        mdb_cursor_close(cur);
    }
    mdb_txn_abort(txn);
    return n;
}

static void lmdb_usage(void *ep, uint64_t *used, uint64_t *high, uint64_t *cap)
{
    lmdb_engine *e = ep;
    MDB_envinfo info;
    MDB_stat st;
    *used = *high = *cap = 0;
    if (mdb_env_info(e->env, &info) != 0 || mdb_env_stat(e->env, &st) != 0)
        return;
    uint64_t pages = (uint64_t)info.me_last_pgno + 1, freep = lmdb_free_pages(e);
    *used = (pages > freep ? pages - freep : 0) * st.ms_psize;
    *high = pages * st.ms_psize;
    *cap = info.me_mapsize;
}

static uint64_t lmdb_fs_free(void *ep)
{
    lmdb_engine *e = ep;
    struct statvfs vf;
    mdb_filehandle_t fd;
    if (mdb_env_get_fd(e->env, &fd) != 0 || fstatvfs(fd, &vf) != 0)
        return UINT64_MAX;
    return (uint64_t)vf.f_bavail * vf.f_frsize;
}

/* Touches every byte of every record (a crash here means a structurally corrupt file). */
static int lmdb_walk_fn(void *ctx, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    unsigned *sum = ctx;
    for (size_t i = 0; i < kl; i++)
        *sum += k[i];
    for (size_t i = 0; i < vl; i++)
        *sum += v[i];
    return STORE_OK;
}

static int lmdb_walk(void *ep)
{
    unsigned sum = 0;
    for (unsigned p = 0; p < 256; p++) {
        int rc = lmdb_scan(ep, (uint8_t)p, lmdb_walk_fn, &sum);
        if (rc != STORE_OK)
            return rc;
    }
    return sum == 0xFFFFFFFFu ? STORE_OK : STORE_OK;
}

const store_engine_ops store_engine_lmdb = {
    .name = "lmdb",
    .open = lmdb_open,
    .close = lmdb_close,
    .begin = lmdb_begin,
    .put = lmdb_put,
    .del = lmdb_del,
    .commit = lmdb_commit,
    .abort = lmdb_abort,
    .scan = lmdb_scan,
    .sync = lmdb_sync,
    .usage = lmdb_usage,
    .fs_free = lmdb_fs_free,
    .walk = lmdb_walk,
};
