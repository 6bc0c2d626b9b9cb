/*
 * persist_sqlite.c - the SQLite engine behind store_engine_ops (persistence_engine sqlite). One database file
 * with one table `kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID` (a B-tree ordered by key bytes, as LMDB's),
 * marked as ours by its application_id. The connection runs in exclusive locking mode (one broker process
 * per store; no -shm file, no shared memory) with a write-ahead log next to the file ("NAME-wal").
 *
 * Durable mode: synchronous=FULL, so every commit appends the batch's pages to the WAL and syncs it before
 * COMMIT returns (one sync per batch); the WAL is copied into the database at checkpoints, synced too.
 * Relaxed mode: synchronous=NORMAL (commits reach the WAL unsynced, a broker crash loses nothing); `sync`
 * runs a checkpoint, which syncs the WAL and the database. The cap on the store's bytes is max_page_count.
 * Every statement is prepared once at open and reused.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <sqlite3.h>

#include "persist/store_engine.h"

#define SQLITE_ENGINE_APP_ID 0x52504d54 /* "RPMT": a Rampart store (PRAGMA application_id) */
#define SQLITE_ENGINE_FORMAT 1          /* PRAGMA user_version */

/* The prepared statements, in the order of sqlite_engine_sql. */
enum {
    SQ_BEGIN,
    SQ_COMMIT,
    SQ_ROLLBACK,
    SQ_PUT,
    SQ_DEL,
    SQ_SCAN,
    SQ_PAGE_COUNT,
    SQ_FREELIST_COUNT,
    SQ_CHECKPOINT,
    SQ_COUNT
};

static const char *const sqlite_engine_sql[SQ_COUNT] = {
    [SQ_BEGIN] = "BEGIN",
    [SQ_COMMIT] = "COMMIT",
    [SQ_ROLLBACK] = "ROLLBACK",
    [SQ_PUT] = "INSERT OR REPLACE INTO kv(k, v) VALUES (?1, ?2)",
    [SQ_DEL] = "DELETE FROM kv WHERE k = ?1",
    [SQ_SCAN] = "SELECT k, v FROM kv WHERE k >= ?1 ORDER BY k",
    [SQ_PAGE_COUNT] = "PRAGMA page_count",
    [SQ_FREELIST_COUNT] = "PRAGMA freelist_count",
    [SQ_CHECKPOINT] = "PRAGMA wal_checkpoint(PASSIVE)",
};

typedef struct sqlite_engine {
    sqlite3 *db;
    sqlite3_stmt *st[SQ_COUNT];
    int dir_fd;         /* the directory holding the file: statvfs without touching the file's locks */
    char *name;         /* the file's name in that directory */
    char *wal_name;     /* the WAL's: NAME-wal */
    uint64_t wal_limit; /* bytes: the WAL is checkpointed (and later cut back to this size) past it */
    uint64_t page_size; /* bytes */
    uint64_t max_pages; /* the cap, in pages */
    bool in_txn;
    bool failed; /* a put or delete of the open batch failed: commit refuses */
    int fail_rc; /* its STORE_* result */
} sqlite_engine;

/* Maps an SQLite result to STORE_*: no space (the cap, or the file system) is STORE_FULL. */
static int sqlite_result(sqlite_engine *e, int rc)
{
    if (rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW)
        return STORE_OK;
    int err = e && e->db ? sqlite3_system_errno(e->db) : 0;
    if ((rc & 0xff) == SQLITE_FULL || err == ENOSPC || err == EDQUOT)
        return STORE_FULL;
    return STORE_ERROR;
}

/* Runs a prepared statement that returns no rows (or ignores them) and resets it. */
static int sqlite_run(sqlite_engine *e, int which)
{
    sqlite3_stmt *s = e->st[which];
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        ;
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Runs a prepared statement returning one integer (a PRAGMA); -1 on error. */
static int64_t sqlite_query_int(sqlite_engine *e, int which)
{
    sqlite3_stmt *s = e->st[which];
    int64_t v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_reset(s);
    return v;
}

/* One-off SQL returning one integer (open-time setup only); -1 on error. */
static int64_t sqlite_exec_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* Opens a descriptor on the directory holding path and keeps the names of the file and its WAL in it (for
 * fs_free). Returns 0, or -1 (out of memory, or the directory cannot be opened). */
static int sqlite_open_dir(sqlite_engine *e, const char *path)
{
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
    char dir[4096];
    size_t n = slash ? (size_t)(slash - path) : 0;
    if (n >= sizeof dir)
        return -1;
    memcpy(dir, path, n);
    dir[n] = 0;
    e->dir_fd = open(!slash ? "." : n ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    e->name = strdup(base);
    e->wal_name = malloc(strlen(base) + 5);
    if (!e->name || !e->wal_name)
        return -1;
    snprintf(e->wal_name, strlen(base) + 5, "%s-wal", base);
    return e->dir_fd >= 0 ? 0 : -1;
}

/*
 * Sizes the WAL: checkpointed past 1000 pages (SQLite's default), or past 1/16 of the cap or of the file
 * system if that is smaller (a small file system must not fill up with the WAL before the store itself).
 */
static int sqlite_size_wal(sqlite_engine *e)
{
    struct statvfs vf;
    uint64_t pages = 1000, cap = e->max_pages / 16;
    if (cap < pages)
        pages = cap;
    if (fstatvfs(e->dir_fd, &vf) == 0 && (uint64_t)vf.f_blocks * vf.f_frsize / e->page_size / 16 < pages)
        pages = (uint64_t)vf.f_blocks * vf.f_frsize / e->page_size / 16;
    if (pages < 16)
        pages = 16;
    e->wal_limit = pages * e->page_size;
    char sql[128];
    snprintf(sql, sizeof sql, "PRAGMA wal_autocheckpoint = %llu; PRAGMA journal_size_limit = %llu",
             (unsigned long long)pages, (unsigned long long)e->wal_limit);
    return sqlite3_exec(e->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/*
 * Checks that the file is a Rampart store, or a new empty database that becomes one (creating the table).
 * Returns 0, or -1 with err (another SQLite database, a newer format, not a database at all).
 */
static int sqlite_claim(sqlite_engine *e, const char *path, char *err, size_t errlen)
{
    int64_t app = sqlite_exec_int(e->db, "PRAGMA application_id");
    if (app < 0) {
        int code = sqlite3_extended_errcode(e->db) & 0xff;
        snprintf(err, errlen, "%s: %s%s", path, sqlite3_errmsg(e->db),
                 code == SQLITE_NOTADB ? " (not an SQLite store: was it written by another persistence_engine?)"
                 : code == SQLITE_BUSY ? " (another process, another broker?, has the store open)" : "");
        return -1;
    }
    if (app == 0 && sqlite_exec_int(e->db, "SELECT count(*) FROM sqlite_schema") != 0) {
        snprintf(err, errlen, "%s: an SQLite database that is not a Rampart store", path);
        return -1;
    }
    if (app != 0 && app != SQLITE_ENGINE_APP_ID) {
        snprintf(err, errlen, "%s: an SQLite database that is not a Rampart store (application_id %08llx)", path,
                 (unsigned long long)app);
        return -1;
    }
    if (app != 0) {
        int64_t format = sqlite_exec_int(e->db, "PRAGMA user_version");
        if (format != SQLITE_ENGINE_FORMAT) {
            snprintf(err, errlen, "%s: store format %lld is not supported (this broker writes format %d)", path,
                     (long long)format, SQLITE_ENGINE_FORMAT);
            return -1;
        }
        return 0;
    }
    char sql[256];
    snprintf(sql, sizeof sql,
             "BEGIN; CREATE TABLE kv (k BLOB PRIMARY KEY NOT NULL, v BLOB NOT NULL) WITHOUT ROWID; "
             "PRAGMA application_id = %d; PRAGMA user_version = %d; COMMIT",
             SQLITE_ENGINE_APP_ID, SQLITE_ENGINE_FORMAT);
    if (sqlite3_exec(e->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: creating the store: %s", path, sqlite3_errmsg(e->db));
        return -1;
    }
    return 0;
}

/* Sets the connection up: exclusive locking, WAL, the sync level, the size cap. Returns 0 or -1 with err. */
static int sqlite_configure(sqlite_engine *e, const char *path, uint64_t map_size, bool durable, char *err,
                            size_t errlen)
{
    if (sqlite3_exec(e->db, "PRAGMA locking_mode = EXCLUSIVE; PRAGMA temp_store = MEMORY", NULL, NULL, NULL) !=
            SQLITE_OK ||
        sqlite_claim(e, path, err, errlen) < 0)
        goto fail;
    if (sqlite3_exec(e->db, durable ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL", NULL, NULL,
                     NULL) != SQLITE_OK)
        goto fail;
    sqlite3_stmt *s = NULL;
    int ok = sqlite3_prepare_v2(e->db, "PRAGMA journal_mode = WAL", -1, &s, NULL) == SQLITE_OK &&
             sqlite3_step(s) == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(s, 0), "wal") == 0;
    sqlite3_finalize(s);
    int64_t page = sqlite_exec_int(e->db, "PRAGMA page_size");
    if (!ok || page <= 0)
        goto fail;
    e->page_size = (uint64_t)page;
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA max_page_count = %llu", (unsigned long long)(map_size / e->page_size));
    int64_t max = sqlite_exec_int(e->db, sql);
    if (max <= 0)
        goto fail;
    e->max_pages = (uint64_t)max;
    if (sqlite_size_wal(e) < 0)
        goto fail;
    return 0;
fail:
    if (!err[0])
        snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(e->db));
    return -1;
}

static void sqlite_close(void *ep)
{
    sqlite_engine *e = ep;
    if (!e)
        return;
    if (e->in_txn)
        sqlite_run(e, SQ_ROLLBACK);
    for (int i = 0; i < SQ_COUNT; i++)
        sqlite3_finalize(e->st[i]);
    sqlite3_close(e->db); /* checkpoints and removes the WAL */
    if (e->dir_fd >= 0)
        close(e->dir_fd);
    free(e->name);
    free(e->wal_name);
    free(e);
}

static void *sqlite_open(const char *path, uint64_t map_size, bool durable, char *err, size_t errlen)
{
    sqlite_engine *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    err[0] = 0;
    e->dir_fd = -1;
    errno = 0;
    if (sqlite_open_dir(e, path) < 0) {
        snprintf(err, errlen, "%s: cannot open its directory: %s", path, errno ? strerror(errno) : "out of memory");
        goto fail;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600); /* SQLite gives its WAL this mode */
    if (fd >= 0)
        close(fd); /* before SQLite opens it: closing a descriptor of the file would drop SQLite's locks */
    int rc = sqlite3_open_v2(path, &e->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, e->db ? sqlite3_errmsg(e->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_extended_result_codes(e->db, 1);
    if (sqlite_configure(e, path, map_size, durable, err, errlen) < 0)
        goto fail;
    for (int i = 0; i < SQ_COUNT; i++)
        if (sqlite3_prepare_v3(e->db, sqlite_engine_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &e->st[i], NULL) !=
            SQLITE_OK) {
            snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(e->db));
            goto fail;
        }
    return e;
fail:
    sqlite_close(e);
    return NULL;
}

static int sqlite_begin(void *ep)
{
    sqlite_engine *e = ep;
    if (e->in_txn)
        return STORE_OK;
    int rc = sqlite_run(e, SQ_BEGIN);
    e->in_txn = rc == SQLITE_OK;
    e->failed = false;
    return sqlite_result(e, rc);
}

/* Records the first failure of a batch (its later writes are refused, its commit rolls back). */
static int sqlite_batch_failed(sqlite_engine *e, int rc)
{
    e->failed = true;
    e->fail_rc = sqlite_result(e, rc);
    return e->fail_rc;
}

static int sqlite_put(void *ep, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    sqlite_engine *e = ep;
    sqlite3_stmt *s = e->st[SQ_PUT];
    if (!e->in_txn || e->failed)
        return e->failed ? e->fail_rc : STORE_ERROR;
    int rc = sqlite3_bind_blob64(s, 1, k, kl, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_blob64(s, 2, vl ? (const void *)v : "", vl, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite_run(e, SQ_PUT);
    else
        sqlite3_clear_bindings(s);
    return rc == SQLITE_OK ? STORE_OK : sqlite_batch_failed(e, rc);
}

static int sqlite_del(void *ep, const uint8_t *k, size_t kl)
{
    sqlite_engine *e = ep;
    if (!e->in_txn || e->failed)
        return e->failed ? e->fail_rc : STORE_ERROR;
    int rc = sqlite3_bind_blob64(e->st[SQ_DEL], 1, k, kl, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite_run(e, SQ_DEL); /* no row deleted is not an error */
    return rc == SQLITE_OK ? STORE_OK : sqlite_batch_failed(e, rc);
}

static void sqlite_abort(void *ep)
{
    sqlite_engine *e = ep;
    if (e->in_txn && !sqlite3_get_autocommit(e->db))
        sqlite_run(e, SQ_ROLLBACK);
    e->in_txn = false;
    e->failed = false;
}

/*
 * Commits the batch. On failure nothing of it stays (rolled back). When the file system is full, a
 * truncating checkpoint then gives the WAL's space back, so that the batch can be retried (deletions need
 * little room).
 */
static int sqlite_commit(void *ep)
{
    sqlite_engine *e = ep;
    if (!e->in_txn)
        return STORE_OK;
    int out = e->failed ? e->fail_rc : STORE_OK;
    if (!e->failed) {
        int rc = sqlite_run(e, SQ_COMMIT);
        out = sqlite_result(e, rc);
    }
    sqlite_abort(e);
    if (out == STORE_FULL)
        sqlite3_wal_checkpoint_v2(e->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    return out;
}

static int sqlite_scan(void *ep, uint8_t prefix, store_engine_scan_fn fn, void *ctx)
{
    sqlite_engine *e = ep;
    sqlite3_stmt *s = e->st[SQ_SCAN], *own = NULL;
    int rc, out = STORE_OK;
    if (sqlite3_stmt_busy(s)) { /* a scan inside a scan's callback: a statement of its own */
        if (sqlite3_prepare_v2(e->db, sqlite_engine_sql[SQ_SCAN], -1, &own, NULL) != SQLITE_OK)
            return STORE_ERROR;
        s = own;
    }
    rc = sqlite3_bind_blob(s, 1, &prefix, 1, SQLITE_TRANSIENT);
    while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const uint8_t *k = sqlite3_column_blob(s, 0);
        size_t kl = (size_t)sqlite3_column_bytes(s, 0);
        const uint8_t *v = sqlite3_column_blob(s, 1);
        size_t vl = (size_t)sqlite3_column_bytes(s, 1);
        if (!k || kl < 1 || k[0] != prefix) {
            rc = SQLITE_DONE;
            break;
        }
        out = fn(ctx, k, kl, v ? v : (const uint8_t *)"", vl);
        if (out != STORE_OK) {
            rc = SQLITE_DONE;
            break;
        }
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_DONE)
        out = sqlite_result(e, rc);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    sqlite3_finalize(own);
    return out == STORE_STOP ? STORE_OK : out;
}

/* Makes everything committed durable: a checkpoint syncs the WAL, copies it into the database, syncs that. */
static int sqlite_sync(void *ep)
{
    sqlite_engine *e = ep;
    return sqlite_result(e, sqlite_run(e, SQ_CHECKPOINT));
}

static void sqlite_usage(void *ep, uint64_t *used, uint64_t *high, uint64_t *cap)
{
    sqlite_engine *e = ep;
    int64_t pages = sqlite_query_int(e, SQ_PAGE_COUNT), freep = sqlite_query_int(e, SQ_FREELIST_COUNT);
    *used = *high = 0;
    *cap = e->max_pages * e->page_size;
    if (pages < 0 || freep < 0)
        return;
    *used = (uint64_t)(pages > freep ? pages - freep : 0) * e->page_size;
    *high = (uint64_t)pages * e->page_size;
}

/* Bytes of a file in the store's directory (0 if it does not exist). */
static uint64_t sqlite_file_size(sqlite_engine *e, const char *name)
{
    struct stat st;
    return fstatat(e->dir_fd, name, &st, 0) == 0 ? (uint64_t)st.st_size : 0;
}

/*
 * Free bytes on the file system, less what the store will take without growing logically: the WAL up to
 * twice its checkpoint size (a batch may go past it), and the pages a checkpoint will append to the database
 * file (its logical size, WAL included, less its size on disk). So a full file system is seen early enough
 * for deletions still to be committed and checkpointed.
 */
static uint64_t sqlite_fs_free(void *ep)
{
    sqlite_engine *e = ep;
    struct statvfs vf;
    if (fstatvfs(e->dir_fd, &vf) != 0)
        return UINT64_MAX;
    uint64_t avail = (uint64_t)vf.f_bavail * vf.f_frsize, wal = sqlite_file_size(e, e->wal_name);
    uint64_t disk = sqlite_file_size(e, e->name);
    int64_t pages = sqlite_query_int(e, SQ_PAGE_COUNT);
    uint64_t logical = pages > 0 ? (uint64_t)pages * e->page_size : 0;
    uint64_t reserve = (2 * e->wal_limit > wal ? 2 * e->wal_limit - wal : 0) + (logical > disk ? logical - disk : 0);
    return avail > reserve ? avail - reserve : 0;
}

/* SQLite's own structural check: every page of the B-trees and the free list is read and verified. */
static int sqlite_walk(void *ep)
{
    sqlite_engine *e = ep;
    sqlite3_stmt *s = NULL;
    int out = STORE_ERROR;
    if (sqlite3_prepare_v2(e->db, "PRAGMA quick_check(1)", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(s, 0);
        out = t && strcmp((const char *)t, "ok") == 0 ? STORE_OK : STORE_ERROR;
    }
    sqlite3_finalize(s);
    return out;
}

const store_engine_ops store_engine_sqlite = {
    .name = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .begin = sqlite_begin,
    .put = sqlite_put,
    .del = sqlite_del,
    .commit = sqlite_commit,
    .abort = sqlite_abort,
    .scan = sqlite_scan,
    .sync = sqlite_sync,
    .usage = sqlite_usage,
    .fs_free = sqlite_fs_free,
    .walk = sqlite_walk,
};
