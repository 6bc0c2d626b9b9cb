/* store.c - see store.h. */
#include "persist/store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "base/log.h"

#define STORE_LOG_BAD_MAX 20 /* unreadable records logged one by one; the rest only counted */
#define STORE_WALK_SECONDS 60
#define STORE_SEAL_KEEP (1u << 20) /* the write buffer is kept between records up to this size */

struct store {
    const store_engine_ops *ops;
    void *eng;
    record_keys cur, old;
    bool has_old;
    bool in_batch;
    char *path;
    store_stats stats;
    record_nonce nonce; /* of the writes: a fresh random start every batch */
    uint8_t *seal;      /* the sealed record being written (reused: no allocation per record) */
    size_t seal_cap;
};

/* Runs the engine's structural walk over path in a child process: a corrupt file that makes the engine
 * crash or hang is reported here instead of crashing the broker. Returns 0 or -1 with err. */
static int store_check_structure(const store_engine_ops *ops, const store_options *o, char *err, size_t errlen)
{
    struct stat st;
    int fds[2];
    if (stat(o->path, &st) != 0)
        return 0; /* a new store */
    pid_t pid = pipe2(fds, O_CLOEXEC) == 0 ? fork() : -1;
    if (pid < 0) {
        snprintf(err, errlen, "%s: cannot check the store: %s", o->path, strerror(errno));
        return -1;
    }
    if (pid == 0) { /* opens and walks; the engine's message goes back through the pipe */
        char cerr[256] = "";
        close(fds[0]);
        alarm(STORE_WALK_SECONDS);
        void *e = ops->open(o->path, o->map_size, false, cerr, sizeof cerr);
        if (e && ops->walk(e) == STORE_OK) {
            ops->close(e); /* SQLite: the recovered write-ahead log is checkpointed here, once */
            _exit(0);
        }
        if (e)
            snprintf(cerr, sizeof cerr, "%s: the store file is structurally corrupt (the %s engine's check failed)",
                     o->path, ops->name);
        if (write(fds[1], cerr, strnlen(cerr, sizeof cerr - 1)) < 0)
            _exit(4);
        _exit(3);
    }
    close(fds[1]);
    char why[256] = "";
    ssize_t n, got = 0;
    while (got < (ssize_t)sizeof why - 1 && ((n = read(fds[0], why + got, sizeof why - 1 - (size_t)got)) > 0 ||
                                            (n < 0 && errno == EINTR)))
        got += n > 0 ? n : 0;
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 3))
        snprintf(err, errlen,
                 "%s: the store file is structurally corrupt (reading it %s %d); `rampart store-salvage` copies its "
                 "intact records into a new store; or move it away to start with an empty store, or restore a backup",
                 o->path, WIFSIGNALED(status) ? "failed with signal" : "exited with",
                 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    else if (strstr(why, "has the store open")) /* in use, not damaged: nothing to move or restore */
        snprintf(err, errlen, "%s", why);
    else if (why[0])
        snprintf(err, errlen, "%s; move it away to start with an empty store, or restore a backup", why);
    else
        snprintf(err, errlen, "%s: the store file cannot be read; move it away to start with an empty store, or "
                              "restore a backup", o->path);
    return -1;
}

/*
 * The index key of a record. Message records are numbered by the broker (a counter that says nothing about
 * topics or clients), so their index is the number itself, sparing a keyed hash per message written and
 * deleted; every other kind is indexed by HMAC (record_index).
 */
static void store_index(const record_keys *k, uint8_t kind, const uint8_t *lkey, size_t lkey_len,
                        uint8_t out[RECORD_INDEX_LEN])
{
    if (kind == STORE_KIND_MSG && lkey_len == 8) {
        memset(out, 0, RECORD_INDEX_LEN);
        out[0] = kind;
        memcpy(out + 1, lkey, 8);
        return;
    }
    record_index(k, kind, lkey, lkey_len, out);
}

typedef struct store_rotation {
    store *s;
    uint8_t **keys, **values;
    size_t *value_lens;
    size_t count, cap;
    bool oom;
} store_rotation;

/* Collects the records of the old key, re-sealed under the current one. */
static int store_rotate_collect(void *ctx, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    store_rotation *r = ctx;
    store *s = r->s;
    uint32_t id;
    record_view view;
    const record_keys *keys[1] = {&s->old};
    if (!record_key_id(v, vl, &id) || id != s->old.id || id == s->cur.id)
        return STORE_OK;
    if (record_open(keys, 1, k, kl, v, vl, &view) != RECORD_OK)
        return STORE_OK; /* reported when the broker reads it */
    if (r->count == r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 64;
        uint8_t **nk = realloc(r->keys, ncap * sizeof *nk);
        if (nk)
            r->keys = nk;
        uint8_t **nv = realloc(r->values, ncap * sizeof *nv);
        if (nv)
            r->values = nv;
        size_t *nl = realloc(r->value_lens, ncap * sizeof *nl);
        if (nl)
            r->value_lens = nl;
        if (!nk || !nv || !nl) {
            record_view_free(&view);
            r->oom = true;
            return STORE_ERROR;
        }
        r->cap = ncap;
    }
    uint8_t *old_index = malloc(RECORD_INDEX_LEN * 2);
    uint8_t *sealed = NULL;
    size_t slen = 0;
    if (!old_index) {
        record_view_free(&view);
        r->oom = true;
        return STORE_ERROR;
    }
    memcpy(old_index, k, RECORD_INDEX_LEN);
    store_index(&s->cur, view.kind, view.lkey, view.lkey_len, old_index + RECORD_INDEX_LEN);
    int rc = record_seal(&s->cur, old_index + RECORD_INDEX_LEN, view.kind, view.lkey, view.lkey_len, view.value,
                         view.value_len, &sealed, &slen);
    record_view_free(&view);
    if (rc < 0) {
        free(old_index);
        r->oom = true;
        return STORE_ERROR;
    }
    r->keys[r->count] = old_index;
    r->values[r->count] = sealed;
    r->value_lens[r->count] = slen;
    r->count++;
    return STORE_OK;
}

/* Rewrites every record of the old key under the current key, in one batch. Returns 0 or -1 with err. */
static int store_rotate(store *s, char *err, size_t errlen)
{
    store_rotation r = {.s = s};
    int rc = STORE_OK;
    for (int kind = 1; kind <= STORE_KIND_META && rc == STORE_OK; kind++)
        rc = s->ops->scan(s->eng, (uint8_t)kind, store_rotate_collect, &r);
    if (rc == STORE_OK && r.count) {
        rc = s->ops->begin(s->eng);
        for (size_t i = 0; i < r.count && rc == STORE_OK; i++) {
            rc = s->ops->put(s->eng, r.keys[i] + RECORD_INDEX_LEN, RECORD_INDEX_LEN, r.values[i], r.value_lens[i]);
            bool moved = memcmp(r.keys[i], r.keys[i] + RECORD_INDEX_LEN, RECORD_INDEX_LEN) != 0;
            if (rc == STORE_OK && moved) /* a message record keeps its index: rewritten in place */
                rc = s->ops->del(s->eng, r.keys[i], RECORD_INDEX_LEN);
        }
        rc = rc == STORE_OK ? s->ops->commit(s->eng) : (s->ops->abort(s->eng), rc);
    }
    for (size_t i = 0; i < r.count; i++) {
        free(r.keys[i]);
        free(r.values[i]);
    }
    free(r.keys);
    free(r.values);
    free(r.value_lens);
    if (rc != STORE_OK) {
        snprintf(err, errlen, "%s: rewriting records under the new key failed (%s)", s->path,
                 r.oom ? "out of memory" : rc == STORE_FULL ? "no space" : "storage error");
        return -1;
    }
    s->stats.rotated = r.count;
    if (r.count)
        log_notice("persistence: %zu records rewritten from the old key (id %08x) to the current key (id %08x)",
                   r.count, s->old.id, s->cur.id);
    return 0;
}

store *store_open(const store_options *o, char *err, size_t errlen)
{
    store *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(o->path))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (!(s->ops = store_engine_find(o->engine))) {
        snprintf(err, errlen, "unknown storage engine %s", o->engine);
        goto fail;
    }
    const char *written_by = store_engine_of_file(o->path);
    if (written_by && strcmp(written_by, s->ops->name) != 0) {
        snprintf(err, errlen, "%s: this store was written by the %s engine, but the broker uses %s "
                 "(persistence_engine); set persistence_engine %s, or move the file away to start with an empty store",
                 o->path, written_by, s->ops->name, written_by);
        goto fail;
    }
    if (record_keys_derive(o->key, &s->cur) < 0 || (o->old_key && record_keys_derive(o->old_key, &s->old) < 0)) {
        snprintf(err, errlen, "cannot derive the persistence keys");
        goto fail;
    }
    s->has_old = o->old_key != NULL;
    if (store_check_structure(s->ops, o, err, errlen) < 0)
        goto fail;
    if (!(s->eng = s->ops->open(o->path, o->map_size, o->durable, err, errlen)))
        goto fail;
    if (s->has_old && store_rotate(s, err, errlen) < 0)
        goto fail;
    return s;
fail:
    store_close(s);
    return NULL;
}

int store_rekey(store *s, const uint8_t key[RECORD_MASTER_KEY_LEN], char *err, size_t errlen)
{
    record_keys next;
    if (s->in_batch) {
        snprintf(err, errlen, "a batch is open");
        return -1;
    }
    if (record_keys_derive(key, &next) < 0) {
        snprintf(err, errlen, "cannot derive the persistence keys");
        return -1;
    }
    if (next.id == s->cur.id) {
        record_keys_wipe(&next);
        return 0;
    }
    record_keys saved_old = s->old;
    bool saved_has_old = s->has_old;
    s->old = s->cur;
    s->cur = next;
    s->has_old = true;
    if (store_rotate(s, err, errlen) < 0) { /* nothing was written: back to the running key */
        record_keys_wipe(&s->cur);
        s->cur = s->old;
        s->old = saved_old;
        s->has_old = saved_has_old;
        return -1;
    }
    record_keys_wipe(&saved_old); /* the running key stays readable as the old key until the next rekey */
    return 0;
}

void store_close(store *s)
{
    if (!s)
        return;
    if (s->eng)
        s->ops->close(s->eng);
    record_keys_wipe(&s->cur);
    record_keys_wipe(&s->old);
    free(s->seal);
    free(s->path);
    free(s);
}

int store_begin(store *s)
{
    s->nonce.left = 0;
    int rc = s->ops->begin(s->eng);
    s->in_batch = rc == STORE_OK;
    return rc;
}

bool store_in_batch(const store *s)
{
    return s->in_batch;
}

int store_put(store *s, enum store_kind kind, const void *lkey, size_t lkey_len, const void *value, size_t len)
{
    uint8_t index[RECORD_INDEX_LEN];
    size_t need = record_sealed_len(lkey_len, len);
    if (need > s->seal_cap) {
        size_t ncap = s->seal_cap ? s->seal_cap : 1024;
        while (ncap < need)
            ncap *= 2;
        uint8_t *n = realloc(s->seal, ncap);
        if (!n)
            return STORE_ERROR;
        s->seal = n;
        s->seal_cap = ncap;
    }
    store_index(&s->cur, (uint8_t)kind, lkey, lkey_len, index);
    size_t rlen = record_seal_to(&s->cur, &s->nonce, index, (uint8_t)kind, lkey, lkey_len, value, len, s->seal,
                                 s->seal_cap);
    int rc = rlen ? s->ops->put(s->eng, index, sizeof index, s->seal, rlen) : STORE_ERROR;
    if (s->seal_cap > STORE_SEAL_KEEP) { /* an unusually large record: give the memory back */
        free(s->seal);
        s->seal = NULL;
        s->seal_cap = 0;
    }
    return rc;
}

int store_del(store *s, enum store_kind kind, const void *lkey, size_t lkey_len)
{
    uint8_t index[RECORD_INDEX_LEN];
    store_index(&s->cur, (uint8_t)kind, lkey, lkey_len, index);
    return s->ops->del(s->eng, index, sizeof index);
}

int store_commit(store *s)
{
    int rc = s->ops->commit(s->eng);
    s->in_batch = false;
    if (rc == STORE_OK)
        s->stats.commits++;
    else
        s->stats.commit_failures++;
    return rc;
}

void store_abort(store *s)
{
    s->ops->abort(s->eng);
    s->in_batch = false;
}

typedef struct store_iter_ctx {
    store *s;
    store_iter_fn fn;
    void *ctx;
} store_iter_ctx;

static int store_iter_one(void *ctx, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    store_iter_ctx *ic = ctx;
    store *s = ic->s;
    const record_keys *keys[2] = {&s->cur, s->has_old ? &s->old : NULL};
    record_view view;
    enum record_status st = record_open(keys, 2, k, kl, v, vl, &view);
    if (st == RECORD_NO_MEMORY)
        return STORE_ERROR;
    if (st != RECORD_OK) {
        if (st == RECORD_UNKNOWN_KEY)
            s->stats.unknown_key++;
        else
            s->stats.corrupt++;
        uint32_t id = 0;
        record_key_id(v, vl, &id);
        if (s->stats.corrupt + s->stats.unknown_key <= STORE_LOG_BAD_MAX)
            log_warning("persistence: skipped a record of kind %u (%zu bytes, key id %08x): %s", k[0], vl, id,
                        record_status_name(st));
        return STORE_OK;
    }
    int rc = ic->fn(ic->ctx, view.lkey, view.lkey_len, view.value, view.value_len);
    record_view_free(&view);
    return rc;
}

int store_iterate(store *s, enum store_kind kind, store_iter_fn fn, void *ctx)
{
    store_iter_ctx ic = {s, fn, ctx};
    return s->ops->scan(s->eng, (uint8_t)kind, store_iter_one, &ic);
}

int store_sync(store *s)
{
    return s->ops->sync(s->eng);
}

void store_space(store *s, uint64_t *map_free, uint64_t *fs_free)
{
    uint64_t used = 0, high = 0, cap = 0;
    s->ops->usage(s->eng, &used, &high, &cap);
    *map_free = cap > used ? cap - used : 0;
    *fs_free = s->ops->fs_free(s->eng);
}

uint64_t store_room(store *s)
{
    uint64_t used = 0, high = 0, cap = 0, map_free = 0, fs_free = 0;
    s->ops->usage(s->eng, &used, &high, &cap);
    store_space(s, &map_free, &fs_free);
    uint64_t inside = high > used ? high - used : 0;      /* free pages within the file */
    uint64_t grow = cap > high ? cap - high : 0;          /* the map lets the file grow by this much */
    return inside + (grow < fs_free ? grow : fs_free);
}

const store_stats *store_get_stats(const store *s)
{
    return &s->stats;
}

/* ---- master keys ---- */

static int store_hex(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes 64 hex characters (trailing newline and blanks allowed). Returns 0 or -1. */
static int store_key_parse(const char *text, size_t len, uint8_t out[RECORD_MASTER_KEY_LEN])
{
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' ' || text[len - 1] == '\t'))
        len--;
    if (len != 2 * RECORD_MASTER_KEY_LEN)
        return -1;
    for (size_t i = 0; i < RECORD_MASTER_KEY_LEN; i++) {
        int hi = store_hex((unsigned char)text[2 * i]), lo = store_hex((unsigned char)text[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            OPENSSL_cleanse(out, RECORD_MASTER_KEY_LEN);
            return -1;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

/* Reads a key file that only its owner (and group) may read. */
static int store_key_file(const char *path, const char *what, uint8_t out[RECORD_MASTER_KEY_LEN], char *err,
                          size_t errlen)
{
    char buf[256];
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), rc = -1;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
        goto out;
    }
    if (st.st_mode & (S_IROTH | S_IWOTH)) {
        snprintf(err, errlen, "%s %s is readable or writable by other users (mode %04o); fix it with: chmod 600 %s",
                 what, path, (unsigned)(st.st_mode & 07777), path);
        goto out;
    }
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
        snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
        goto out;
    }
    if (store_key_parse(buf, (size_t)n, out) < 0) {
        snprintf(err, errlen, "%s %s: not a key (64 hexadecimal characters, e.g. from: openssl rand -hex 32)",
                 what, path);
        goto out;
    }
    rc = 1;
out:
    OPENSSL_cleanse(buf, sizeof buf);
    if (fd >= 0)
        close(fd);
    return rc;
}

int store_key_load(const char *file, const char *env, const char *credential, const char *what,
                   uint8_t out[RECORD_MASTER_KEY_LEN], char *err, size_t errlen)
{
    char opt[64];
    if (file) {
        snprintf(opt, sizeof opt, "%s_file", what);
        return store_key_file(file, opt, out, err, errlen);
    }
    if (credential) {
        const char *dir = getenv("CREDENTIALS_DIRECTORY");
        char path[PATH_MAX];
        if (!dir || strchr(credential, '/')) {
            snprintf(err, errlen, "%s_credential %s: %s", what, credential,
                     dir ? "a credential name has no '/'" : "$CREDENTIALS_DIRECTORY is not set");
            return -1;
        }
        snprintf(path, sizeof path, "%s/%s", dir, credential);
        snprintf(opt, sizeof opt, "%s_credential", what);
        return store_key_file(path, opt, out, err, errlen);
    }
    if (env) {
        char *v = getenv(env);
        if (!v) {
            snprintf(err, errlen, "%s_env: variable %s is not set (it is removed once read)", what, env);
            return -1;
        }
        size_t n = strlen(v);
        int rc = store_key_parse(v, n, out);
        OPENSSL_cleanse(v, n);
        unsetenv(env);
        if (rc < 0) {
            snprintf(err, errlen, "%s_env %s: not a key (64 hexadecimal characters)", what, env);
            return -1;
        }
        return 1;
    }
    return 0;
}
