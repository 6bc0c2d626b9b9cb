/*
 * store_salvage.c - `rampart store-salvage -c CONFIG [-o OUTPUT]`: copies every readable, authenticated record of a
 * damaged store (the broker refuses to start on it: "structurally corrupt") into a new store, and reports what
 * was lost (docs/persistence.md, "Salvaging a damaged store"). The broker must be stopped. The new store is
 * written with the configured persistence_engine; the damaged file is read with the engine that wrote it (LMDB as
 * below, SQLite by salvage_child_sqlite with the same protocol and the same search).
 *
 * Reading a damaged LMDB file can crash the reader (LMDB does not checksum pages), so the file is only ever read
 * in child processes. A child opens the file read-only, positions a cursor at a start key (MDB_SET_RANGE) and
 * streams the records it reads, in key order, through a pipe; it stops at the end of the file, at a read error
 * or at anything out of order, or it dies. The parent authenticates each record with the persistence keys
 * (record_open), writes the good ones into the new store through the store API (re-encrypted under the current
 * key), and after a failure looks for the next readable part of the file: the smallest start key above the last
 * key read from which a cursor can read again (exponential then binary search over the 33-byte key space, one
 * child per probe). Every record on an intact page reachable through intact branch pages is recovered; the
 * records of a damaged page are lost and counted (LMDB's record count minus what was read).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lmdb.h>
#include <openssl/crypto.h>
#include <sqlite3.h>

#include "config/config.h"
#include "persist/record.h"
#include "persist/store.h"
#include "tools/commands.h"

#define SALVAGE_KEY_LEN RECORD_INDEX_LEN   /* every store key: kind || 32 bytes */
/* The largest value the store writes (a sealed record: record.h); larger ones are not the store's: treated as
 * damage. The buffer for it is only touched as far as a value fills it. */
#define SALVAGE_VALUE_MAX (RECORD_OVERHEAD + RECORD_MAX_LKEY + RECORD_MAX_VALUE)
#define SALVAGE_CHILD_SECONDS 30           /* one child's reading time at most (a loop in a damaged page) */
#define SALVAGE_PROBES_MAX 20000           /* children started at most */
#define SALVAGE_BATCH 512                  /* records per commit of the new store */

/* What a child says, one byte then its fields: */
enum { MSG_OPENED = 'O', MSG_RECORD = 'R', MSG_END = 'E', MSG_FAILED = 'F' };

typedef struct salvage_key {
    uint8_t b[SALVAGE_KEY_LEN];
} salvage_key;

typedef struct salvage {
    const char *path;
    const record_keys *keys[2];
    size_t nkeys;
    store *out;
    size_t in_batch;
    uint64_t entries;          /* LMDB's own count of records (from the first child), 0 = unknown */
    bool entries_known, opened;
    uint64_t recovered[STORE_KIND_META + 1], unauthenticated, unknown_key, junk, damaged_regions, probes;
    bool sqlite;               /* the damaged file is an SQLite store (persistence_engine sqlite), not LMDB */
    salvage_key max_seen;      /* the highest key counted (re-reads are not counted twice) */
    bool any_seen;
    int write_error;
    uint8_t *value; /* SALVAGE_VALUE_MAX bytes: one value read from a child */
} salvage;

/* ---- 264-bit key arithmetic (big endian) ---------------------------------------------------------------- */

static int key_cmp(const salvage_key *a, const salvage_key *b)
{
    return memcmp(a->b, b->b, SALVAGE_KEY_LEN);
}

/* k += 2^bit. Returns false on overflow (k is then unchanged). */
static bool key_add_pow2(salvage_key *k, unsigned bit)
{
    salvage_key r = *k;
    int i = SALVAGE_KEY_LEN - 1 - (int)(bit / 8);
    unsigned carry = 1u << (bit % 8);

    for (; i >= 0 && carry; i--) {
        unsigned v = r.b[i] + carry;
        r.b[i] = (uint8_t)v;
        carry = v >> 8;
    }
    if (carry)
        return false;
    *k = r;
    return true;
}

/* The midpoint (lo + hi) / 2, rounded down; lo <= hi. */
static salvage_key key_mid(const salvage_key *lo, const salvage_key *hi)
{
    salvage_key m;
    unsigned carry = 0;

    for (int i = SALVAGE_KEY_LEN - 1; i >= 0; i--) { /* sum, 265 bits: the carry is the top bit */
        unsigned v = (unsigned)lo->b[i] + hi->b[i] + carry;
        m.b[i] = (uint8_t)v;
        carry = v >> 8;
    }
    for (int i = 0; i < SALVAGE_KEY_LEN; i++) { /* shift right by one */
        unsigned next = m.b[i] & 1;
        m.b[i] = (uint8_t)(m.b[i] >> 1 | carry << 7);
        carry = next;
    }
    return m;
}

/* ---- the child: reads the file from a start key -------------------------------------------------------- */

static void child_write(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            _exit(2);
        b += w;
        n -= (size_t)w;
    }
}

/* Streams records from start (up to max records, 0 = all) to fd; never returns. */
static void salvage_child(const char *path, const salvage_key *start, uint64_t max, int fd)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    MDB_cursor *cur = NULL;
    MDB_stat st;
    MDB_val key = {SALVAGE_KEY_LEN, (void *)start->b}, val;
    salvage_key prev;
    bool have_prev = false;
    uint64_t n = 0;
    int rc;

    alarm(SALVAGE_CHILD_SECONDS);
    if (mdb_env_create(&env) || mdb_env_open(env, path, MDB_RDONLY | MDB_NOSUBDIR | MDB_NOLOCK, 0600) ||
        mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) || mdb_dbi_open(txn, NULL, 0, &dbi) ||
        mdb_cursor_open(txn, dbi, &cur))
        _exit(3); /* no MSG_OPENED: the file cannot be opened at all */
    uint64_t entries = mdb_stat(txn, dbi, &st) == 0 ? (uint64_t)st.ms_entries : UINT64_MAX;
    child_write(fd, "O", 1);
    child_write(fd, &entries, sizeof entries);
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        uint32_t kl = (uint32_t)key.mv_size, vl = (uint32_t)val.mv_size;
        if (key.mv_size != SALVAGE_KEY_LEN || val.mv_size > SALVAGE_VALUE_MAX ||
            (have_prev && memcmp(key.mv_data, prev.b, SALVAGE_KEY_LEN) <= 0))
            break; /* damage: a key that is not the store's, or out of order */
        memcpy(prev.b, key.mv_data, SALVAGE_KEY_LEN);
        have_prev = true;
        child_write(fd, "R", 1);
        child_write(fd, &kl, sizeof kl);
        child_write(fd, &vl, sizeof vl);
        child_write(fd, key.mv_data, kl);
        child_write(fd, val.mv_data, vl);
        if (max && ++n == max) {
            rc = MDB_NOTFOUND;
            break;
        }
    }
    child_write(fd, rc == MDB_NOTFOUND ? "E" : "F", 1);
    _exit(0); /* no cleanup: the file may be damaged; the kernel unmaps it */
}

/*
 * The same for an SQLite store: opened read-write (a read-only connection cannot recover a WAL without a -shm
 * file) but never written: exclusive locking keeps the WAL index in memory, the child only SELECTs and exits
 * without closing (no checkpoint). One range query from start. SQLite reports a damaged page as an error (SQLITE_CORRUPT) rather than
 * crashing, but it runs in a child all the same. Its record count needs a full scan, which stops at the damage:
 * "unknown" then.
 */
static void salvage_child_sqlite(const char *path, const salvage_key *start, uint64_t max, int fd)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    salvage_key prev;
    bool have_prev = false;
    uint64_t n = 0, entries = UINT64_MAX;
    int rc;

    alarm(SALVAGE_CHILD_SECONDS);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA locking_mode = EXCLUSIVE", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT count(*) FROM kv", -1, &st, NULL) != SQLITE_OK)
        _exit(3);
    if (sqlite3_step(st) == SQLITE_ROW)
        entries = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(db, "SELECT k, v FROM kv WHERE k >= ?1 ORDER BY k", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_blob(st, 1, start->b, SALVAGE_KEY_LEN, SQLITE_STATIC) != SQLITE_OK)
        _exit(3);
    child_write(fd, "O", 1);
    child_write(fd, &entries, sizeof entries);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const void *k = sqlite3_column_blob(st, 0), *v = sqlite3_column_blob(st, 1);
        uint32_t kl = (uint32_t)sqlite3_column_bytes(st, 0), vl = (uint32_t)sqlite3_column_bytes(st, 1);
        if (!k || kl != SALVAGE_KEY_LEN || vl > SALVAGE_VALUE_MAX ||
            (have_prev && memcmp(k, prev.b, SALVAGE_KEY_LEN) <= 0))
            break; /* damage: a key that is not the store's, or out of order */
        memcpy(prev.b, k, SALVAGE_KEY_LEN);
        have_prev = true;
        child_write(fd, "R", 1);
        child_write(fd, &kl, sizeof kl);
        child_write(fd, &vl, sizeof vl);
        child_write(fd, k, kl);
        child_write(fd, vl ? v : "", vl);
        if (max && ++n == max) {
            rc = SQLITE_DONE;
            break;
        }
    }
    child_write(fd, rc == SQLITE_DONE ? "E" : "F", 1);
    _exit(0); /* no cleanup: nothing is written to the damaged file */
}

/* ---- the parent -------------------------------------------------------------------------------------------- */

/* Reads exactly n bytes. Returns false at end of stream or on error. */
static bool read_full(int fd, void *p, size_t n)
{
    uint8_t *b = p;
    while (n) {
        ssize_t r = read(fd, b, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        b += r;
        n -= (size_t)r;
    }
    return true;
}

/* One record read from the file: authenticated records go to the new store; each key is counted once. */
static void salvage_take(salvage *s, const uint8_t *k, const uint8_t *v, size_t vl)
{
    salvage_key key;
    record_view view;
    enum record_status st;

    memcpy(key.b, k, SALVAGE_KEY_LEN);
    if (s->any_seen && key_cmp(&key, &s->max_seen) <= 0)
        return; /* read again after a failure: counted already */
    s->max_seen = key;
    s->any_seen = true;
    st = record_open(s->keys, s->nkeys, k, SALVAGE_KEY_LEN, v, vl, &view);
    if (st != RECORD_OK) {
        if (st == RECORD_UNKNOWN_KEY)
            s->unknown_key++;
        else
            s->unauthenticated++;
        return;
    }
    if (view.kind >= 1 && view.kind <= STORE_KIND_META && !s->write_error) {
        if (s->in_batch == 0 && store_begin(s->out) != STORE_OK)
            s->write_error = STORE_ERROR;
        else if (store_put(s->out, (enum store_kind)view.kind, view.lkey, view.lkey_len, view.value,
                           view.value_len) != STORE_OK)
            s->write_error = STORE_ERROR;
        else if (++s->in_batch == SALVAGE_BATCH) {
            s->write_error = store_commit(s->out);
            s->in_batch = 0;
        }
        if (!s->write_error)
            s->recovered[view.kind]++;
    } else if (view.kind < 1 || view.kind > STORE_KIND_META) {
        s->junk++;
    }
    record_view_free(&view);
}

/*
 * Runs one child from start (max records, 0 = all); the records it reads are taken (salvage_take) only when
 * max is 0 (a probe only says whether a cursor can read from start, so that taken records stay in key order).
 * *read_any says whether it read at least one record, *last gets the last key read. Returns 1 when the child
 * reached the end of the file (or max), 0 when it failed (error, damage, death), -1 when it could not even
 * open the file.
 */
static int salvage_run(salvage *s, const salvage_key *start, uint64_t max, bool *read_any, salvage_key *last)
{
    int fds[2], status = 0, result = 0;
    pid_t pid;
    uint8_t *value = s->value;
    char tag;

    *read_any = false;
    if (pipe(fds) < 0)
        return -1;
    s->probes++;
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, 2); /* LMDB's assertion messages on a damaged page are not the tool's output */
        close(fds[0]);
        if (s->sqlite)
            salvage_child_sqlite(s->path, start, max, fds[1]);
        salvage_child(s->path, start, max, fds[1]);
    }
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        return -1;
    }
    uint64_t entries;
    if (!read_full(fds[0], &tag, 1) || tag != MSG_OPENED || !read_full(fds[0], &entries, sizeof entries)) {
        result = -1;
        goto done;
    }
    if (!s->entries_known && entries != UINT64_MAX) {
        s->entries = entries;
        s->entries_known = true;
    }
    s->opened = true;
    while (read_full(fds[0], &tag, 1) && tag == MSG_RECORD) {
        uint32_t kl, vl;
        uint8_t k[SALVAGE_KEY_LEN];
        if (!read_full(fds[0], &kl, sizeof kl) || !read_full(fds[0], &vl, sizeof vl) || kl != SALVAGE_KEY_LEN ||
            vl > SALVAGE_VALUE_MAX || !read_full(fds[0], k, kl) || !read_full(fds[0], value, vl)) {
            tag = MSG_FAILED;
            break;
        }
        if (!max)
            salvage_take(s, k, value, vl);
        memcpy(last->b, k, SALVAGE_KEY_LEN);
        *read_any = true;
    }
    result = tag == MSG_END ? 1 : 0;
done:
    close(fds[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0) && result == 1)
        result = 0;
    return result;
}

/* A probe: can a cursor read from start? (One record, or the end of the file.) */
static bool salvage_probe(salvage *s, const salvage_key *start)
{
    bool any;
    salvage_key last;
    return salvage_run(s, start, 1, &any, &last) == 1;
}

/*
 * After a failure at or after lo (lo itself unreadable as a start): the smallest start key above lo from
 * which a cursor reads again, in *next. Returns false when there is none (the rest of the file is lost) or the
 * probe budget is spent.
 */
static bool salvage_skip(salvage *s, const salvage_key *lo_in, salvage_key *next)
{
    salvage_key lo = *lo_in, hi = *lo_in;
    unsigned bit;

    for (bit = 0; bit < SALVAGE_KEY_LEN * 8; bit++) { /* exponential: lo + 1, + 2, + 4, ... */
        hi = *lo_in;
        if (!key_add_pow2(&hi, bit) || s->probes >= SALVAGE_PROBES_MAX)
            return false;
        if (salvage_probe(s, &hi))
            break;
        lo = hi;
    }
    if (bit == SALVAGE_KEY_LEN * 8)
        return false;
    for (;;) { /* binary: lo fails, hi reads; stop when they are adjacent */
        salvage_key one = lo;
        if (!key_add_pow2(&one, 0) || key_cmp(&one, &hi) >= 0 || s->probes >= SALVAGE_PROBES_MAX)
            break;
        salvage_key mid = key_mid(&lo, &hi);
        if (salvage_probe(s, &mid))
            hi = mid;
        else
            lo = mid;
    }
    *next = hi;
    return true;
}

/* Reads the whole file, skipping damaged parts. Returns 0, or -1 when the file cannot be opened at all. */
static int salvage_read_all(salvage *s)
{
    salvage_key start, last;
    bool any;

    memset(&start, 0, sizeof start);
    for (;;) {
        int rc = salvage_run(s, &start, 0, &any, &last);
        if (rc < 0 && !s->opened)
            return -1;
        if (rc == 1 || s->probes >= SALVAGE_PROBES_MAX)
            return 0;
        s->damaged_regions++;
        salvage_key from = any ? last : start; /* the failure lies after the last key read, or at start */
        if (any && !key_add_pow2(&from, 0))
            return 0;
        if (!any || !salvage_probe(s, &from)) {
            if (!salvage_skip(s, &from, &start))
                return 0;
        } else {
            start = from;
        }
    }
}

/* ---- the command ------------------------------------------------------------------------------------------ */

static void salvage_usage(void)
{
    fprintf(stderr, "usage: rampart store-salvage -c CONFIG [-o OUTPUT]\n"
                    "Copies every readable, authenticated record of the configuration's store into OUTPUT (default:\n"
                    "the store's path with .salvaged; it must not exist) and reports what was lost. Stop the broker\n"
                    "first. Then move OUTPUT in place of the store (and delete the store's -lock file).\n");
}

/* Loads cfg's keys into cur/old (wiped by the caller). Returns 1 with an old key, 0 without, -1 (printed). */
static int salvage_keys(const rampart_config *cfg, uint8_t cur[RECORD_MASTER_KEY_LEN],
                        uint8_t old[RECORD_MASTER_KEY_LEN])
{
    const struct config_persistence *pc = &cfg->persist;
    char err[512] = "";
    int has_old;

    if (!pc->enabled) {
        fprintf(stderr, "rampart store-salvage: persistence is false in the configuration: no store\n");
        return -1;
    }
    if (store_key_load(pc->key_file, pc->key_env, pc->key_credential, "persistence_key", cur, err, sizeof err) != 1) {
        fprintf(stderr, "rampart store-salvage: %s\n", err[0] ? err : "persistence true needs a key");
        return -1;
    }
    has_old = store_key_load(pc->key_old_file, pc->key_old_env, pc->key_old_credential, "persistence_key_old", old,
                             err, sizeof err);
    if (has_old < 0)
        fprintf(stderr, "rampart store-salvage: %s\n", err);
    return has_old;
}

/* Prints the report; returns the exit status: 0 nothing lost, 1 records lost or skipped. */
static int salvage_report(const salvage *s, const char *in, const char *out)
{
    uint64_t got = 0, lost;

    for (int k = 1; k <= STORE_KIND_META; k++)
        got += s->recovered[k];
    printf("rampart store-salvage: %s: recovered %" PRIu64 " records (retained %" PRIu64 ", sessions %" PRIu64
           ", messages %" PRIu64 ", other %" PRIu64 ") into %s\n",
           in, got, s->recovered[STORE_KIND_RETAIN], s->recovered[STORE_KIND_SESSION], s->recovered[STORE_KIND_MSG],
           s->recovered[STORE_KIND_META], out);
    lost = s->entries_known && s->entries > got + s->unauthenticated + s->unknown_key + s->junk
               ? s->entries - got - s->unauthenticated - s->unknown_key - s->junk
               : 0;
    printf("rampart store-salvage: %" PRIu64 " damaged region%s skipped; %" PRIu64 " records unreadable (lost)%s; "
           "%" PRIu64 " failed authentication; %" PRIu64 " under an unknown key; %" PRIu64 " probes\n",
           s->damaged_regions, s->damaged_regions == 1 ? "" : "s", lost,
           s->entries_known ? "" : " (the file's own count is unreadable: unknown)", s->unauthenticated,
           s->unknown_key, s->probes);
    return lost || s->damaged_regions || s->unauthenticated || s->unknown_key || s->junk ? 1 : 0;
}

/* Opens the output store and salvages into it. Returns the exit status. */
static int salvage_into(salvage *s, const rampart_config *cfg, const char *in, const char *out,
                        const uint8_t cur[RECORD_MASTER_KEY_LEN], bool durable)
{
    store_options o = {.path = out, .engine = cfg->persist.engine, .map_size = cfg->persist.max_size,
                       .durable = durable, .key = cur};
    char err[600];
    int rc = 2;

    s->out = store_open(&o, err, sizeof err);
    if (!s->out) {
        fprintf(stderr, "rampart store-salvage: %s\n", err);
        return 2;
    }
    if (salvage_read_all(s) < 0) {
        fprintf(stderr, "rampart store-salvage: %s: not an %s file or its header is destroyed: nothing to "
                "salvage\n", in, s->sqlite ? "SQLite" : "LMDB");
        goto out;
    }
    if (!s->write_error && s->in_batch)
        s->write_error = store_commit(s->out);
    if (s->write_error) {
        fprintf(stderr, "rampart store-salvage: writing %s failed (%s)\n", out,
                s->write_error == STORE_FULL ? "no space: raise persistence_max_size or free disk space" : "error");
        goto out;
    }
    rc = salvage_report(s, in, out);
out:
    store_close(s->out);
    s->out = NULL;
    if (rc == 2) {
        unlink(out);
        char lock[4400];
        if (snprintf(lock, sizeof lock, "%s-lock", out) < (int)sizeof lock)
            unlink(lock);
        if (snprintf(lock, sizeof lock, "%s-wal", out) < (int)sizeof lock) /* SQLite's */
            unlink(lock);
    }
    return rc;
}

int rampart_store_salvage_main(int argc, char **argv)
{
    const char *config = NULL, *out = NULL;
    char in[4096], outbuf[4200];
    uint8_t cur[RECORD_MASTER_KEY_LEN], old[RECORD_MASTER_KEY_LEN];
    record_keys kc, ko;
    rampart_config cfg;
    config_errors errs;
    salvage s;
    struct stat st;
    int opt, rc = 2, has_old;
    const char *written_by;

    optind = 1;
    while ((opt = getopt(argc, argv, "c:o:")) != -1) {
        if (opt == 'c')
            config = optarg;
        else if (opt == 'o')
            out = optarg;
        else {
            salvage_usage();
            return 2;
        }
    }
    if (!config || optind != argc) {
        salvage_usage();
        return 2;
    }
    memset(&s, 0, sizeof s);
    config_errors_init(&errs);
    if (config_load(&cfg, config, &errs) != 0) {
        config_errors_print(&errs, stderr);
        config_errors_free(&errs);
        return 2;
    }
    config_errors_free(&errs);
    memset(&kc, 0, sizeof kc);
    memset(&ko, 0, sizeof ko);
    has_old = salvage_keys(&cfg, cur, old);
    if (has_old < 0)
        goto out;
    if (config_persistence_path(&cfg, in, sizeof in) < 0 || stat(in, &st) != 0) {
        fprintf(stderr, "rampart store-salvage: %s: no store file\n", in);
        goto out;
    }
    if (!out) {
        snprintf(outbuf, sizeof outbuf, "%s.salvaged", in);
        out = outbuf;
    }
    if (stat(out, &st) == 0) {
        fprintf(stderr, "rampart store-salvage: %s exists: move it away or name another with -o\n", out);
        goto out;
    }
    if (record_keys_derive(cur, &kc) < 0 || (has_old && record_keys_derive(old, &ko) < 0)) {
        fprintf(stderr, "rampart store-salvage: cannot derive the persistence keys\n");
        goto out;
    }
    s.value = malloc(SALVAGE_VALUE_MAX);
    if (!s.value) {
        fprintf(stderr, "rampart store-salvage: out of memory\n");
        goto out;
    }
    s.path = in;
    written_by = store_engine_of_file(in); /* unknown (a destroyed header): the configured engine */
    if (!written_by)
        written_by = cfg.persist.engine ? cfg.persist.engine : "lmdb";
    s.sqlite = strcmp(written_by, "sqlite") == 0;
    s.keys[0] = &kc;
    s.keys[1] = &ko;
    s.nkeys = has_old ? 2 : 1;
    rc = salvage_into(&s, &cfg, in, out, cur, !cfg.persist.relaxed);
out:
    free(s.value);
    record_keys_wipe(&kc);
    record_keys_wipe(&ko);
    OPENSSL_cleanse(cur, sizeof cur);
    OPENSSL_cleanse(old, sizeof old);
    config_free(&cfg);
    return rc;
}
