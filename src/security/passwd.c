/* passwd.c - see passwd.h. */
#include "security/passwd.h"

#include <argon2.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct passwd_db {
    passwd_entry *entries; /* sorted by username */
    size_t count;
};

passwd_argon2_params passwd_argon2_default(void)
{
    passwd_argon2_params p = {19456, 2, 1};
    return p;
}

const char *passwd_scheme_name(enum passwd_scheme scheme)
{
    switch (scheme) {
    case PASSWD_SCHEME_SHA512: return "sha512 ($6$)";
    case PASSWD_SCHEME_PBKDF2_SHA512: return "pbkdf2-sha512 ($7$)";
    case PASSWD_SCHEME_ARGON2ID: return "argon2id";
    case PASSWD_SCHEME_SCRAM_SHA256: return "scram-sha-256";
    default: return "none";
    }
}

bool passwd_scheme_is_weak(enum passwd_scheme scheme)
{
    return scheme == PASSWD_SCHEME_SHA512 || scheme == PASSWD_SCHEME_PBKDF2_SHA512;
}

/* ---- base64 ------------------------------------------------------------------------------------------ */

static bool b64_char_valid(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

int passwd_b64_decode(const char *s, size_t len, uint8_t *out, size_t cap)
{
    char buf[4 * 64];
    uint8_t tmp[3 * 64];
    size_t data_len = len, padded;
    int n;

    while (data_len > 0 && s[data_len - 1] == '=' && len - data_len < 2)
        data_len--;
    for (size_t i = 0; i < data_len; i++)
        if (!b64_char_valid(s[i]))
            return -1;
    if (data_len % 4 == 1 || data_len == 0)
        return -1;
    padded = (data_len + 3) / 4 * 4;
    if (padded > sizeof buf || (len != data_len && len != padded))
        return -1;
    memcpy(buf, s, data_len);
    memset(buf + data_len, '=', padded - data_len);
    n = EVP_DecodeBlock(tmp, (const unsigned char *)buf, (int)padded);
    if (n < 0)
        return -1;
    n -= (int)(padded - data_len); /* EVP_DecodeBlock counts padding as zero bytes */
    if (n < 0 || (size_t)n > cap)
        return -1;
    memcpy(out, tmp, (size_t)n);
    return n;
}

int passwd_b64_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
    if ((len + 2) / 3 * 4 + 1 > cap)
        return -1;
    return EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

/* ---- hash parsing -------------------------------------------------------------------------------------- */

/* Splits s[0..len) at '$' into at most max fields (the leading '$' gives an empty first field). */
static size_t split_dollar(const char *s, size_t len, const char **f, size_t *fl, size_t max)
{
    size_t n = 0, start = 0;

    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '$') {
            if (n == max)
                return max + 1;
            f[n] = s + start;
            fl[n] = i - start;
            n++;
            start = i + 1;
        }
    }
    return n;
}

/* Parses a decimal uint32 in s[0..len) within [min, max]. */
static int parse_u32(const char *s, size_t len, uint32_t min, uint32_t max, uint32_t *out)
{
    uint64_t v = 0;

    if (len == 0 || len > 10)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v < min || v > max)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int parse_salt_hash(passwd_hash *h, const char *salt, size_t salt_len, const char *hash, size_t hash_len,
                           size_t hash_min, const char **why)
{
    int n = passwd_b64_decode(salt, salt_len, h->salt, sizeof h->salt);

    if (n < 8) {
        *why = "salt is not base64 of 8 to 64 bytes";
        return -1;
    }
    h->salt_len = (size_t)n;
    n = passwd_b64_decode(hash, hash_len, h->hash, sizeof h->hash);
    if (n < (int)hash_min) {
        *why = "hash is not base64 of the expected length";
        return -1;
    }
    h->hash_len = (size_t)n;
    return 0;
}

/* Parses "m=M,t=T,p=P" of an argon2id PHC string. */
static int parse_argon2_params(passwd_hash *h, const char *s, size_t len)
{
    const char *keys = "mtp";
    uint32_t *dst[3] = {&h->memory_kib, &h->iterations, &h->lanes};
    const uint32_t max[3] = {PASSWD_ARGON2_MEMORY_MAX, PASSWD_ARGON2_TIME_MAX, PASSWD_ARGON2_LANES_MAX};
    size_t pos = 0;

    for (int k = 0; k < 3; k++) {
        size_t end = pos;
        if (len - pos < 3 || s[pos] != keys[k] || s[pos + 1] != '=')
            return -1;
        end = pos + 2;
        while (end < len && s[end] != ',')
            end++;
        if (parse_u32(s + pos + 2, end - pos - 2, 1, max[k], dst[k]) < 0)
            return -1;
        if (k < 2 && end == len)
            return -1;
        pos = end + 1;
    }
    if (pos != len + 1 || h->memory_kib < 8 * h->lanes)
        return -1;
    return 0;
}

int passwd_hash_parse(const char *s, size_t len, passwd_hash *out, const char **why)
{
    const char *f[8];
    size_t fl[8];
    size_t n = split_dollar(s, len, f, fl, 7);

    memset(out, 0, sizeof *out);
    *why = "unknown password hash scheme (expected $6$, $7$, $argon2id$ or $scram-sha-256$)";
    if (n < 2 || fl[0] != 0)
        return -1;
    if (fl[1] == 1 && f[1][0] == '6') {
        out->scheme = PASSWD_SCHEME_SHA512;
        if (n != 4) {
            *why = "a $6$ hash has the form $6$SALT$HASH";
            return -1;
        }
        return parse_salt_hash(out, f[2], fl[2], f[3], fl[3], 64, why);
    }
    if (fl[1] == 1 && f[1][0] == '7') {
        out->scheme = PASSWD_SCHEME_PBKDF2_SHA512;
        if (n != 5 || parse_u32(f[2], fl[2], 1, PASSWD_PBKDF2_ITER_MAX, &out->iterations) < 0) {
            *why = "a $7$ hash has the form $7$ITERATIONS$SALT$HASH (1 to 10000000 iterations)";
            return -1;
        }
        return parse_salt_hash(out, f[3], fl[3], f[4], fl[4], 64, why);
    }
    if (fl[1] == 8 && !memcmp(f[1], "argon2id", 8)) {
        out->scheme = PASSWD_SCHEME_ARGON2ID;
        if (n != 6 || fl[2] != 4 || memcmp(f[2], "v=19", 4) || parse_argon2_params(out, f[3], fl[3]) < 0) {
            *why = "an argon2id hash has the form $argon2id$v=19$m=KIB,t=N,p=N$SALT$HASH (m <= 1048576, t <= 64, "
                   "p <= 16)";
            return -1;
        }
        return parse_salt_hash(out, f[4], fl[4], f[5], fl[5], 16, why);
    }
    if (fl[1] == 13 && !memcmp(f[1], "scram-sha-256", 13)) {
        out->scheme = PASSWD_SCHEME_SCRAM_SHA256;
        if (n != 6 || parse_u32(f[2], fl[2], 4096, PASSWD_PBKDF2_ITER_MAX, &out->iterations) < 0) {
            *why = "a scram-sha-256 hash has the form $scram-sha-256$ITERATIONS$SALT$STOREDKEY$SERVERKEY "
                   "(at least 4096 iterations)";
            return -1;
        }
        if (parse_salt_hash(out, f[3], fl[3], f[4], fl[4], 32, why) < 0)
            return -1;
        if (out->hash_len != 32 || passwd_b64_decode(f[5], fl[5], out->server_key, 32) != 32) {
            *why = "scram-sha-256 keys must be base64 of 32 bytes";
            return -1;
        }
        return 0;
    }
    return -1;
}

/* ---- verification -------------------------------------------------------------------------------------- */

static int derive_sha512(const passwd_hash *h, const uint8_t *pw, size_t len, uint8_t *out)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int outlen = 0;
    int rc = -1;

    if (ctx && EVP_DigestInit_ex(ctx, EVP_sha512(), NULL) == 1 && EVP_DigestUpdate(ctx, pw, len) == 1 &&
        EVP_DigestUpdate(ctx, h->salt, h->salt_len) == 1 && EVP_DigestFinal_ex(ctx, out, &outlen) == 1 &&
        outlen == 64)
        rc = 0;
    EVP_MD_CTX_free(ctx);
    return rc;
}

/* SCRAM: StoredKey = SHA-256(HMAC(SaltedPassword, "Client Key")), SaltedPassword = PBKDF2-SHA256. */
static int derive_scram_stored(const passwd_hash *h, const uint8_t *pw, size_t len, uint8_t *stored)
{
    uint8_t salted[32], client_key[32];
    unsigned int klen = 0;
    int rc = -1;

    if (PKCS5_PBKDF2_HMAC((const char *)pw, (int)len, h->salt, (int)h->salt_len, (int)h->iterations,
                          EVP_sha256(), 32, salted) == 1 &&
        HMAC(EVP_sha256(), salted, 32, (const uint8_t *)"Client Key", 10, client_key, &klen) && klen == 32 &&
        SHA256(client_key, 32, stored))
        rc = 0;
    OPENSSL_cleanse(salted, sizeof salted);
    OPENSSL_cleanse(client_key, sizeof client_key);
    return rc;
}

int passwd_hash_verify(const passwd_hash *h, const uint8_t *pw, size_t len)
{
    uint8_t derived[PASSWD_HASH_MAX];
    int rc = -1;

    if (len > INT32_MAX || h->hash_len == 0 || h->hash_len > sizeof derived)
        return -1;
    switch (h->scheme) {
    case PASSWD_SCHEME_SHA512:
        rc = h->hash_len == 64 ? derive_sha512(h, pw, len, derived) : -1;
        break;
    case PASSWD_SCHEME_PBKDF2_SHA512:
        rc = PKCS5_PBKDF2_HMAC((const char *)pw, (int)len, h->salt, (int)h->salt_len, (int)h->iterations,
                               EVP_sha512(), (int)h->hash_len, derived) == 1
                 ? 0
                 : -1;
        break;
    case PASSWD_SCHEME_ARGON2ID:
        rc = argon2id_hash_raw(h->iterations, h->memory_kib, h->lanes, pw, len, h->salt, h->salt_len, derived,
                               h->hash_len) == ARGON2_OK
                 ? 0
                 : -1;
        break;
    case PASSWD_SCHEME_SCRAM_SHA256:
        rc = h->hash_len == 32 ? derive_scram_stored(h, pw, len, derived) : -1;
        break;
    default:
        break;
    }
    if (rc == 0)
        rc = CRYPTO_memcmp(derived, h->hash, h->hash_len) == 0 ? 1 : 0;
    OPENSSL_cleanse(derived, sizeof derived);
    return rc;
}

int passwd_hash_make_argon2id(const uint8_t *pw, size_t len, const passwd_argon2_params *params, char *out,
                              size_t cap)
{
    uint8_t salt[16];
    int rc;

    if (RAND_bytes(salt, sizeof salt) != 1)
        return -1;
    rc = argon2id_hash_encoded(params->time_cost, params->memory_kib, params->lanes, pw, len, salt, sizeof salt,
                               32, out, cap);
    OPENSSL_cleanse(salt, sizeof salt);
    return rc == ARGON2_OK ? 0 : -1;
}

int passwd_scram_derive(const uint8_t *pw, size_t len, passwd_hash *h)
{
    uint8_t salted[32];
    unsigned int klen = 0;
    int rc = -1;

    if (len > INT32_MAX || h->iterations == 0)
        return -1;
    h->scheme = PASSWD_SCHEME_SCRAM_SHA256;
    h->hash_len = 32;
    if (derive_scram_stored(h, pw, len, h->hash) == 0 &&
        PKCS5_PBKDF2_HMAC((const char *)pw, (int)len, h->salt, (int)h->salt_len, (int)h->iterations, EVP_sha256(),
                          32, salted) == 1 &&
        HMAC(EVP_sha256(), salted, 32, (const uint8_t *)"Server Key", 10, h->server_key, &klen) && klen == 32)
        rc = 0;
    OPENSSL_cleanse(salted, sizeof salted);
    return rc;
}

int passwd_hash_make_scram(const uint8_t *pw, size_t len, uint32_t iterations, char *out, size_t cap)
{
    passwd_hash h;
    char salt64[32], stored64[48], server64[48];
    int rc = -1;

    memset(&h, 0, sizeof h);
    h.salt_len = 16;
    h.iterations = iterations;
    if (iterations < 4096 || RAND_bytes(h.salt, (int)h.salt_len) != 1)
        return -1;
    if (passwd_scram_derive(pw, len, &h) < 0)
        goto done;
    passwd_b64_encode(h.salt, 16, salt64, sizeof salt64);
    passwd_b64_encode(h.hash, 32, stored64, sizeof stored64);
    passwd_b64_encode(h.server_key, 32, server64, sizeof server64);
    if (snprintf(out, cap, "$scram-sha-256$%" PRIu32 "$%s$%s$%s", iterations, salt64, stored64, server64) <
        (int)cap)
        rc = 0;
done:
    OPENSSL_cleanse(&h, sizeof h);
    return rc;
}

int passwd_hash_make_dummy(const passwd_argon2_params *params, passwd_hash *h)
{
    memset(h, 0, sizeof *h);
    h->scheme = PASSWD_SCHEME_ARGON2ID;
    h->iterations = params->time_cost;
    h->memory_kib = params->memory_kib;
    h->lanes = params->lanes;
    h->salt_len = 16;
    h->hash_len = 32;
    return RAND_bytes(h->salt, 16) == 1 && RAND_bytes(h->hash, 32) == 1 ? 0 : -1;
}

/* ---- lines ------------------------------------------------------------------------------------------------ */

void passwd_entry_clear(passwd_entry *e)
{
    free(e->username);
    if (e->hash_text) {
        OPENSSL_cleanse(e->hash_text, strlen(e->hash_text));
        free(e->hash_text);
    }
    OPENSSL_cleanse(&e->hash, sizeof e->hash);
    memset(e, 0, sizeof *e);
}

static int parse_i64(const char *s, size_t len, int64_t *out)
{
    int64_t v = 0;

    if (len == 0 || len > 15)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Parses the optional "set=N,max_age=N" fields. */
static int parse_fields(passwd_entry *e, const char *s, size_t len, const char **why)
{
    size_t pos = 0;

    while (pos < len) {
        size_t end = pos, eq;
        while (end < len && s[end] != ',')
            end++;
        eq = pos;
        while (eq < end && s[eq] != '=')
            eq++;
        if (eq - pos == 3 && !memcmp(s + pos, "set", 3)) {
            if (eq == end || parse_i64(s + eq + 1, end - eq - 1, &e->set_time) < 0) {
                *why = "set= needs a unix time in seconds";
                return -1;
            }
        } else if (eq - pos == 7 && !memcmp(s + pos, "max_age", 7)) {
            if (eq == end || parse_i64(s + eq + 1, end - eq - 1, &e->max_age) < 0) {
                *why = "max_age= needs a number of seconds";
                return -1;
            }
        } else {
            *why = "unknown field after the hash (known: set=, max_age=)";
            return -1;
        }
        pos = end + 1;
        if (end + 1 == len) {
            *why = "empty field after ','";
            return -1;
        }
    }
    return 0;
}

int passwd_line_parse(const char *line, size_t len, passwd_entry *out, const char **why)
{
    size_t start = 0, colon, hash_end;

    memset(out, 0, sizeof *out);
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
        len--;
    while (start < len && (line[start] == ' ' || line[start] == '\t'))
        start++;
    if (start == len || line[start] == '#')
        return 0;
    if (start != 0) {
        *why = "leading blanks before the username";
        return -1;
    }
    if (len > PASSWD_LINE_MAX) {
        *why = "line too long";
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f) {
            *why = "control character in line";
            return -1;
        }
    }
    colon = 0;
    while (colon < len && line[colon] != ':')
        colon++;
    if (colon == 0 || colon == len) {
        *why = colon == 0 ? "empty username" : "missing ':' between username and password hash";
        return -1;
    }
    hash_end = colon + 1;
    while (hash_end < len && line[hash_end] != ':')
        hash_end++;
    if (passwd_hash_parse(line + colon + 1, hash_end - colon - 1, &out->hash, why) < 0)
        return -1;
    if (hash_end < len && parse_fields(out, line + hash_end + 1, len - hash_end - 1, why) < 0)
        return -1;
    out->username = strndup(line, colon);
    out->hash_text = strndup(line + colon + 1, hash_end - colon - 1);
    if (!out->username || !out->hash_text) {
        passwd_entry_clear(out);
        *why = "out of memory";
        return -1;
    }
    return 1;
}

int passwd_line_format(const passwd_entry *e, char *out, size_t cap)
{
    int n;

    if (e->set_time || e->max_age)
        n = snprintf(out, cap, "%s:%s:set=%" PRId64 ",max_age=%" PRId64, e->username, e->hash_text, e->set_time,
                     e->max_age);
    else
        n = snprintf(out, cap, "%s:%s", e->username, e->hash_text);
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

/* ---- the file ----------------------------------------------------------------------------------------- */

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const passwd_entry *)a)->username, ((const passwd_entry *)b)->username);
}

void passwd_db_free(passwd_db *db)
{
    if (!db)
        return;
    for (size_t i = 0; i < db->count; i++)
        passwd_entry_clear(&db->entries[i]);
    free(db->entries);
    free(db);
}

static int db_push(passwd_db *db, size_t *cap, passwd_entry *e)
{
    if (db->count == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        passwd_entry *n = realloc(db->entries, ncap * sizeof *n);
        if (!n)
            return -1;
        db->entries = n;
        *cap = ncap;
    }
    db->entries[db->count++] = *e;
    return 0;
}

int passwd_db_parse(const char *name, const char *buf, size_t len, passwd_db **out, char *err, size_t errlen)
{
    passwd_db *db = calloc(1, sizeof *db);
    size_t cap = 0, pos = 0;
    unsigned line_no = 0;
    const char *why = "out of memory";

    *out = NULL;
    if (!db)
        goto fail;
    while (pos < len) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) : len;
        passwd_entry e;
        int r;

        line_no++;
        if (memchr(buf + pos, '\0', end - pos)) {
            why = "NUL byte in line";
            goto fail;
        }
        r = passwd_line_parse(buf + pos, end - pos, &e, &why);
        if (r < 0)
            goto fail;
        if (r == 1) {
            e.line = line_no;
            if (db_push(db, &cap, &e) < 0) {
                passwd_entry_clear(&e);
                why = "out of memory";
                goto fail;
            }
        }
        pos = end + 1;
    }
    if (db->count)
        qsort(db->entries, db->count, sizeof *db->entries, entry_cmp);
    for (size_t i = 1; i < db->count; i++) {
        if (!strcmp(db->entries[i].username, db->entries[i - 1].username)) {
            line_no = db->entries[i].line > db->entries[i - 1].line ? db->entries[i].line : db->entries[i - 1].line;
            why = "duplicate username";
            goto fail;
        }
    }
    *out = db;
    return 0;
fail:
    snprintf(err, errlen, "%s:%u: %s", name, line_no, why);
    passwd_db_free(db);
    return -1;
}

int passwd_db_load(const char *path, passwd_db **out, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    char *buf = NULL;
    size_t got = 0;
    int rc = -1;

    *out = NULL;
    if (fd < 0 || fstat(fd, &st) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > PASSWD_FILE_MAX) {
        snprintf(err, errlen, "%s: not a regular file of at most %u bytes", path, PASSWD_FILE_MAX);
        goto done;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto done;
    }
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(err, errlen, "%s: read failed: %s", path, n < 0 ? strerror(errno) : "file shrank");
            goto done;
        }
        got += (size_t)n;
    }
    rc = passwd_db_parse(path, buf, got, out, err, errlen);
done:
    if (buf) {
        OPENSSL_cleanse(buf, got);
        free(buf);
    }
    if (fd >= 0)
        close(fd);
    return rc;
}

const passwd_entry *passwd_db_find(const passwd_db *db, const uint8_t *u, size_t len)
{
    size_t lo = 0, hi = db ? db->count : 0;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *name = db->entries[mid].username;
        size_t nlen = strlen(name);
        int c = memcmp(name, u, nlen < len ? nlen : len);
        if (c == 0)
            c = nlen < len ? -1 : nlen > len ? 1 : 0;
        if (c == 0)
            return &db->entries[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

size_t passwd_db_count(const passwd_db *db)
{
    return db ? db->count : 0;
}

const passwd_entry *passwd_db_at(const passwd_db *db, size_t i)
{
    return db && i < db->count ? &db->entries[i] : NULL;
}
