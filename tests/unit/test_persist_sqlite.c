/* test_persist_sqlite.c - every store test of test_persist.c again on the SQLite engine, then what is proper
 * to SQLite: a batch survives a crash through the write-ahead log, relaxed mode with sync, a store of the
 * other engine or a foreign SQLite database is refused with a clear error, a damaged page is caught by the
 * structural check. */
#define TEST_PERSIST_ENGINE "sqlite"
#include "test_persist.c"

#include <sqlite3.h>
#include <sys/wait.h>

static store *open_engine(const char *path, const char *engine, bool durable, char *err, size_t errlen)
{
    store_options o = {.path = path, .engine = engine, .map_size = 8 << 20, .durable = durable, .key = key_a};
    return store_open(&o, err, errlen);
}

TEST(sqlite_committed_batch_survives_a_crash_through_the_wal)
{
    char *dir = tmpdir_make(), path[256], wal[300], err[256] = "";
    snprintf(path, sizeof path, "%s/rampart.sqlite", dir);
    snprintf(wal, sizeof wal, "%s-wal", path);
    pid_t pid = fork();
    if (pid == 0) { /* commits, then dies without closing: the batch is only in the WAL */
        store *s = open_engine(path, "sqlite", true, err, sizeof err);
        int rc = s ? store_begin(s) : STORE_ERROR;
        if (rc == STORE_OK)
            rc = store_put(s, STORE_KIND_SESSION, "client-crash", 12, "state-PLUGH", 11);
        if (rc == STORE_OK)
            rc = store_commit(s);
        _exit(rc == STORE_OK ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    struct stat st;
    CHECK(stat(wal, &st) == 0 && st.st_size > 0);
    FILE *f = fopen(wal, "rb");
    static char buf[1 << 20];
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f)
        fclose(f);
    CHECK(n > 0 && !memmem(buf, n, "PLUGH", 5) && !memmem(buf, n, "client-crash", 12));
    store *s = open_engine(path, "sqlite", true, err, sizeof err);
    CHECK(s != NULL);
    if (s) {
        seen r = {0};
        CHECK_EQ(store_iterate(s, STORE_KIND_SESSION, collect, &r), STORE_OK);
        CHECK_EQ(r.count, 1);
        CHECK_STR(r.keys[0], "client-crash");
        CHECK_STR(r.values[0], "state-PLUGH");
        store_close(s);
    }
    tmpdir_remove(dir);
}

TEST(sqlite_relaxed_mode_commits_and_syncs)
{
    char *dir = tmpdir_make(), path[256], err[256] = "";
    snprintf(path, sizeof path, "%s/rampart.sqlite", dir);
    store *s = open_engine(path, "sqlite", false, err, sizeof err);
    CHECK(s != NULL);
    if (!s) {
        tmpdir_remove(dir);
        return;
    }
    CHECK_EQ(store_begin(s), STORE_OK);
    CHECK_EQ(store_put(s, STORE_KIND_RETAIN, "a/b", 3, "v", 1), STORE_OK);
    CHECK_EQ(store_commit(s), STORE_OK);
    CHECK_EQ(store_sync(s), STORE_OK);
    uint64_t map_free = 0, fs_free = 0;
    store_space(s, &map_free, &fs_free);
    CHECK(map_free > (6u << 20) && map_free <= (8u << 20));
    CHECK(fs_free > 0 && fs_free != UINT64_MAX);
    store_close(s);
    s = open_engine(path, "sqlite", false, err, sizeof err);
    seen r = {0};
    CHECK(s && store_iterate(s, STORE_KIND_RETAIN, collect, &r) == STORE_OK && r.count == 1);
    store_close(s);
    tmpdir_remove(dir);
}

TEST(sqlite_a_store_of_the_other_engine_is_refused_by_name)
{
    char *dir = tmpdir_make(), path[256], err[512] = "";
    snprintf(path, sizeof path, "%s/store", dir);
    store *s = open_engine(path, "lmdb", true, err, sizeof err);
    CHECK(s != NULL);
    store_close(s);
    CHECK_STR(store_engine_of_file(path), "lmdb");
    CHECK(open_engine(path, "sqlite", true, err, sizeof err) == NULL);
    CHECK(strstr(err, "written by the lmdb engine") && strstr(err, "persistence_engine lmdb"));
    tmpdir_remove(dir);

    dir = tmpdir_make();
    snprintf(path, sizeof path, "%s/store", dir);
    s = open_engine(path, "sqlite", true, err, sizeof err);
    CHECK(s != NULL);
    store_close(s);
    CHECK_STR(store_engine_of_file(path), "sqlite");
    err[0] = 0;
    CHECK(open_engine(path, "lmdb", true, err, sizeof err) == NULL);
    CHECK(strstr(err, "written by the sqlite engine") && strstr(err, "persistence_engine sqlite"));
    CHECK(open_engine(path, "rocksdb", true, err, sizeof err) == NULL);
    CHECK(strstr(err, "unknown storage engine") != NULL);
    tmpdir_remove(dir);
}

TEST(sqlite_a_foreign_sqlite_database_is_refused)
{
    char *dir = tmpdir_make(), path[256], err[512] = "";
    snprintf(path, sizeof path, "%s/other.db", dir);
    sqlite3 *db = NULL;
    CHECK_EQ(sqlite3_open(path, &db), SQLITE_OK);
    CHECK_EQ(sqlite3_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES (1)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    CHECK(open_engine(path, "sqlite", true, err, sizeof err) == NULL);
    CHECK(strstr(err, "not a Rampart store") != NULL || strstr(err, "cannot be read") != NULL);
    tmpdir_remove(dir);
}

TEST(sqlite_a_damaged_page_is_caught_before_the_broker_reads_it)
{
    char *dir = tmpdir_make(), path[256], err[512] = "";
    snprintf(path, sizeof path, "%s/rampart.sqlite", dir);
    store *s = open_engine(path, "sqlite", true, err, sizeof err);
    CHECK(s != NULL);
    if (!s) {
        tmpdir_remove(dir);
        return;
    }
    static uint8_t value[300];
    memset(value, 'v', sizeof value);
    store_begin(s);
    for (int i = 0; i < 400; i++) {
        char k[16];
        snprintf(k, sizeof k, "c%d", i);
        store_put(s, STORE_KIND_SESSION, k, strlen(k), value, sizeof value);
    }
    CHECK_EQ(store_commit(s), STORE_OK);
    store_close(s);
    int fd = open(path, O_RDWR);
    static uint8_t junk[4096];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)(i * 131 + 7);
    CHECK_EQ(pwrite(fd, junk, sizeof junk, 4096), (ssize_t)sizeof junk); /* page 2: a B-tree page */
    close(fd);
    CHECK(open_engine(path, "sqlite", true, err, sizeof err) == NULL);
    CHECK(strstr(err, "rampart.sqlite") && (strstr(err, "corrupt") || strstr(err, "cannot be read")));
    tmpdir_remove(dir);
}

TEST(sqlite_a_second_opener_is_refused_while_the_store_is_open)
{
    char *dir = tmpdir_make(), path[256], err[512] = "";
    snprintf(path, sizeof path, "%s/rampart.sqlite", dir);
    store *s = open_engine(path, "sqlite", true, err, sizeof err);
    CHECK(s != NULL);
    store_begin(s);
    store_put(s, STORE_KIND_META, "m", 1, "1", 1);
    CHECK_EQ(store_commit(s), STORE_OK);
    CHECK(open_engine(path, "sqlite", true, err, sizeof err) == NULL);
    CHECK(strstr(err, "database is locked") && strstr(err, "another broker"));
    CHECK(strstr(err, "move it away") == NULL); /* the store is in use, not damaged */
    store_close(s);
    s = open_engine(path, "sqlite", true, err, sizeof err); /* free again once closed */
    CHECK(s != NULL);
    store_close(s);
    tmpdir_remove(dir);
}
