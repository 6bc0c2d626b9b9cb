/* ban.c - see ban.h. */
#include "security/ban.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "security/ban_seal.h"

#define BAN_FILE_MAX (16u * 1024 * 1024)

struct ban_list {
    ban_entry *entries;
    size_t count, cap;
};

static const char *const kind_names[] = {"address", "network", "username", "clientid"};

const char *ban_kind_name(enum ban_kind kind)
{
    return (unsigned)kind < 4 ? kind_names[kind] : "?";
}

int ban_kind_parse(const char *s, enum ban_kind *out)
{
    for (unsigned i = 0; i < 4; i++) {
        if (!strcmp(s, kind_names[i])) {
            *out = (enum ban_kind)i;
            return 0;
        }
    }
    return -1;
}

ban_list *ban_list_new(void)
{
    return calloc(1, sizeof(ban_list));
}

static void entry_clear(ban_entry *e)
{
    free(e->value);
    free(e->reason);
    memset(e, 0, sizeof *e);
}

void ban_list_free(ban_list *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->count; i++)
        entry_clear(&b->entries[i]);
    free(b->entries);
    free(b);
}

static ban_entry *find_entry(const ban_list *b, enum ban_kind kind, const uint8_t *v, size_t len)
{
    for (size_t i = 0; i < b->count; i++) {
        ban_entry *e = &b->entries[i];
        if (e->kind == kind && e->value_len == len && !memcmp(e->value, v, len))
            return e;
    }
    return NULL;
}

/* Validates value for kind and fills base/bits of e. */
static int value_check(ban_entry *e, const char **why)
{
    if (e->value_len == 0 || e->value_len > BAN_VALUE_MAX) {
        *why = "value must be 1 to 1024 bytes";
        return -1;
    }
    if (e->kind == BAN_ADDRESS) {
        if (strlen((char *)e->value) != e->value_len || sec_addr_parse((char *)e->value, &e->base) < 0) {
            *why = "not an IPv4 or IPv6 address";
            return -1;
        }
        e->bits = e->base.family == 4 ? 32 : 128;
    } else if (e->kind == BAN_NETWORK) {
        if (strlen((char *)e->value) != e->value_len || sec_cidr_parse((char *)e->value, &e->base, &e->bits) < 0) {
            *why = "not a network ADDRESS/BITS";
            return -1;
        }
    }
    return 0;
}

int ban_list_add(ban_list *b, enum ban_kind kind, const uint8_t *value, size_t len, int64_t expires, int64_t now,
                 const char *reason, const char **why)
{
    ban_entry n = {.kind = kind, .value_len = len, .expires = expires, .added = now}, *old;

    if ((unsigned)kind > BAN_CLIENTID || expires < 0) {
        *why = "bad kind or expiry";
        return -1;
    }
    n.value = malloc(len + 1);
    n.reason = strndup(reason ? reason : "", BAN_REASON_MAX);
    if (!n.value || !n.reason) {
        *why = "out of memory";
        goto fail;
    }
    memcpy(n.value, value, len);
    n.value[len] = 0;
    for (char *p = n.reason; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    if (value_check(&n, why) < 0)
        goto fail;
    old = find_entry(b, kind, value, len);
    if (old) {
        entry_clear(old);
        *old = n;
        return 0;
    }
    if (b->count >= BAN_MAX_ENTRIES) {
        *why = "ban list full (65536 entries)";
        goto fail;
    }
    if (b->count == b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 16;
        ban_entry *ne = realloc(b->entries, ncap * sizeof *ne);
        if (!ne) {
            *why = "out of memory";
            goto fail;
        }
        b->entries = ne;
        b->cap = ncap;
    }
    b->entries[b->count++] = n;
    return 0;
fail:
    entry_clear(&n);
    return -1;
}

int ban_list_del(ban_list *b, enum ban_kind kind, const uint8_t *value, size_t len)
{
    ban_entry *e = find_entry(b, kind, value, len);

    if (!e)
        return 0;
    entry_clear(e);
    *e = b->entries[--b->count];
    return 1;
}

size_t ban_list_expire(ban_list *b, int64_t now, void (*fn)(const ban_entry *e, void *ctx), void *ctx)
{
    size_t removed = 0;

    for (size_t i = 0; i < b->count;) {
        ban_entry *e = &b->entries[i];
        if (e->expires != 0 && e->expires <= now) {
            if (fn)
                fn(e, ctx);
            entry_clear(e);
            *e = b->entries[--b->count];
            removed++;
        } else {
            i++;
        }
    }
    return removed;
}

static bool bytes_eq(const ban_entry *e, const uint8_t *v, size_t len)
{
    return v && e->value_len == len && !memcmp(e->value, v, len);
}

const ban_entry *ban_list_match(const ban_list *b, const sec_addr *addr, const uint8_t *user, size_t ulen,
                                const uint8_t *client_id, size_t clen, int64_t now)
{
    for (size_t i = 0; b && i < b->count; i++) {
        const ban_entry *e = &b->entries[i];
        bool hit = false;

        if (e->expires != 0 && e->expires <= now)
            continue;
        switch (e->kind) {
        case BAN_ADDRESS:
        case BAN_NETWORK: hit = addr && sec_addr_in_cidr(addr, &e->base, e->bits); break;
        case BAN_USERNAME: hit = bytes_eq(e, user, ulen); break;
        case BAN_CLIENTID: hit = bytes_eq(e, client_id, clen); break;
        }
        if (hit)
            return e;
    }
    return NULL;
}

/* Orders entries by kind, then value bytes (qsort over pointers). */
static int entry_order(const void *x, const void *y)
{
    const ban_entry *a = *(const ban_entry *const *)x, *b = *(const ban_entry *const *)y;
    size_t n = a->value_len < b->value_len ? a->value_len : b->value_len;
    int c;

    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    c = memcmp(a->value, b->value, n);
    if (c)
        return c;
    return a->value_len < b->value_len ? -1 : a->value_len > b->value_len ? 1 : 0;
}

/* The entries of b as a sorted array of pointers (*out NULL and 0 for an empty list). -1 out of memory. */
static int sorted_entries(const ban_list *b, const ban_entry ***out, size_t *n)
{
    *out = NULL;
    *n = b ? b->count : 0;
    if (!*n)
        return 0;
    const ban_entry **v = malloc(*n * sizeof *v);
    if (!v)
        return -1;
    for (size_t i = 0; i < *n; i++)
        v[i] = &b->entries[i];
    qsort(v, *n, sizeof *v, entry_order);
    *out = v;
    return 0;
}

long ban_list_diff(const ban_list *before, const ban_list *after,
                   void (*fn)(enum ban_change change, const ban_entry *e, void *ctx), void *ctx)
{
    const ban_entry **x = NULL, **y = NULL;
    size_t nx, ny, i = 0, j = 0;
    long changes = -1;

    if (sorted_entries(before, &x, &nx) < 0 || sorted_entries(after, &y, &ny) < 0)
        goto out;
    changes = 0;
    while (i < nx || j < ny) {
        int c = i == nx ? 1 : j == ny ? -1 : entry_order(&x[i], &y[j]);
        if (c < 0) {
            fn(BAN_CHANGE_REMOVED, x[i++], ctx);
        } else if (c > 0) {
            fn(BAN_CHANGE_ADDED, y[j++], ctx);
        } else {
            if (x[i]->expires != y[j]->expires)
                fn(BAN_CHANGE_CHANGED, y[j], ctx);
            else
                changes--; /* the same ban: not a difference */
            i++;
            j++;
        }
        changes++;
    }
out:
    free(x);
    free(y);
    return changes;
}

size_t ban_list_count(const ban_list *b)
{
    return b ? b->count : 0;
}

const ban_entry *ban_list_at(const ban_list *b, size_t i)
{
    return b && i < b->count ? &b->entries[i] : NULL;
}

/* ---- text form ------------------------------------------------------------------------------------------ */

char *ban_value_encode(const uint8_t *v, size_t len, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (size_t i = 0; i < len && o + 4 < cap; i++) {
        if (v[i] > ' ' && v[i] < 0x7f && v[i] != '%') {
            out[o++] = (char)v[i];
        } else {
            out[o++] = '%';
            out[o++] = hex[v[i] >> 4];
            out[o++] = hex[v[i] & 15];
        }
    }
    out[o] = 0;
    return out;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Decodes a percent-encoded token into out (cap bytes). Returns the length or -1. */
static int value_decode(const char *s, size_t len, uint8_t *out, size_t cap)
{
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= len)
                return -1;
            hi = hexval(s[i + 1]);
            lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = hi * 16 + lo;
            i += 2;
        } else if (c <= ' ' || c >= 0x7f) {
            return -1;
        }
        if (o >= cap)
            return -1;
        out[o++] = (uint8_t)c;
    }
    return (int)o;
}

/* Splits the next space-separated token of line[*pos..len). */
static int next_token(const char *line, size_t len, size_t *pos, const char **tok, size_t *tlen)
{
    while (*pos < len && line[*pos] == ' ')
        (*pos)++;
    if (*pos == len)
        return -1;
    *tok = line + *pos;
    while (*pos < len && line[*pos] != ' ')
        (*pos)++;
    *tlen = (size_t)(line + *pos - *tok);
    return 0;
}

static int token_i64(const char *t, size_t len, int64_t *out)
{
    char buf[24];
    char *end;

    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, t, len);
    buf[len] = 0;
    if (buf[0] < '0' || buf[0] > '9')
        return -1;
    errno = 0;
    *out = strtoll(buf, &end, 10);
    return *end || errno ? -1 : 0;
}

static int parse_line(ban_list *b, const char *line, size_t len, const char **why)
{
    const char *t[4];
    size_t tl[4], pos = 0;
    char kind[16];
    enum ban_kind k;
    uint8_t value[BAN_VALUE_MAX];
    int vlen;
    int64_t expires, added;
    char reason[BAN_REASON_MAX + 1];

    for (int i = 0; i < 4; i++) {
        if (next_token(line, len, &pos, &t[i], &tl[i]) < 0) {
            *why = "expected KIND VALUE EXPIRES ADDED [REASON]";
            return -1;
        }
    }
    if (tl[0] >= sizeof kind || (memcpy(kind, t[0], tl[0]), kind[tl[0]] = 0, ban_kind_parse(kind, &k) < 0)) {
        *why = "unknown kind (address, network, username, clientid)";
        return -1;
    }
    vlen = value_decode(t[1], tl[1], value, sizeof value);
    if (vlen <= 0) {
        *why = "bad percent-encoded value";
        return -1;
    }
    if (token_i64(t[2], tl[2], &expires) < 0 || token_i64(t[3], tl[3], &added) < 0) {
        *why = "EXPIRES and ADDED must be unix seconds";
        return -1;
    }
    while (pos < len && line[pos] == ' ')
        pos++;
    snprintf(reason, sizeof reason, "%.*s", (int)(len - pos), line + pos);
    if (ban_list_add(b, k, value, (size_t)vlen, expires, added, reason, why) < 0)
        return -1;
    return 0;
}

int ban_list_parse(const char *name, const char *buf, size_t len, ban_list **out, char *err, size_t errlen)
{
    ban_list *b = ban_list_new();
    size_t pos = 0;
    unsigned line_no = 0;
    const char *why = "out of memory";

    *out = NULL;
    if (!b)
        goto fail;
    while (pos < len) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) : len, l = end - pos;
        const char *line = buf + pos;

        line_no++;
        pos = end + 1;
        if (l > 0 && line[l - 1] == '\r')
            l--;
        if (l == 0 || line[0] == '#')
            continue;
        for (size_t i = 0; i < l; i++) {
            if ((unsigned char)line[i] < 0x20) {
                why = "control character in line";
                goto fail;
            }
        }
        if (parse_line(b, line, l, &why) < 0)
            goto fail;
    }
    *out = b;
    return 0;
fail:
    snprintf(err, errlen, "%s:%u: %s", name, line_no, why);
    ban_list_free(b);
    return -1;
}

/* Reads the whole of path into *buf (malloc'd, *len bytes plus a NUL). Returns 1, 0 when the file does not
 * exist, or -1 with err. */
static int ban_file_slurp(const char *path, char **buf, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    int rc = -1;

    *buf = NULL;
    *len = 0;
    if (!f) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    *buf = malloc(BAN_FILE_MAX + 1);
    if (!*buf) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto done;
    }
    *len = fread(*buf, 1, BAN_FILE_MAX + 1, f);
    if (ferror(f) || *len > BAN_FILE_MAX) {
        snprintf(err, errlen, "%s: unreadable or larger than %u bytes", path, BAN_FILE_MAX);
        goto done;
    }
    (*buf)[*len] = 0;
    rc = 1;
done:
    if (rc < 0) {
        free(*buf);
        *buf = NULL;
    }
    fclose(f);
    return rc;
}

/* Opens the sealed file buf[0..len) with keys and parses its text into *out. Returns 0 or -1 with err. */
static int ban_list_unseal(const char *path, const struct ban_keyring *keys, const char *buf, size_t len,
                           ban_list **out, enum ban_file_form *form, char *err, size_t errlen)
{
    uint8_t *plain = NULL;
    size_t plain_len = 0, which = 0;
    uint32_t id = 0;
    enum ban_seal_status st;
    int rc;

    if (!keys) {
        snprintf(err, errlen, "%s: the ban file is encrypted: it needs the persistence key (give the broker's "
                 "configuration: rampart ban -c FILE)", path);
        return -1;
    }
    st = ban_unseal(keys, (const uint8_t *)buf, len, &plain, &plain_len, &which);
    if (st == BAN_SEAL_UNKNOWN_KEY) {
        ban_seal_key_id((const uint8_t *)buf, len, &id);
        snprintf(err, errlen, "%s: the ban file is sealed under a key this configuration does not have (key id "
                 "%08" PRIx32 "): give that key as persistence_key_old_*", path, id);
        return -1;
    }
    if (st != BAN_SEAL_OK) {
        snprintf(err, errlen, "%s: the encrypted ban file is unreadable: %s; restore it from a backup or move it "
                 "away (its bans are then lost)", path, ban_seal_status_name(st));
        return -1;
    }
    rc = ban_list_parse(path, (const char *)plain, plain_len, out, err, errlen);
    ban_seal_plain_free(plain, plain_len);
    if (rc == 0 && form)
        *form = which == 0 ? BAN_FILE_SEALED : BAN_FILE_SEALED_OLD;
    return rc;
}

int ban_list_read(const char *path, const struct ban_keyring *keys, ban_list **out, enum ban_file_form *form,
                  char *err, size_t errlen)
{
    char *buf = NULL;
    size_t len = 0;
    int rc = ban_file_slurp(path, &buf, &len, err, errlen);

    *out = NULL;
    if (form)
        *form = BAN_FILE_ABSENT;
    if (rc <= 0) {
        if (rc == 0 && !(*out = ban_list_new()))
            snprintf(err, errlen, "%s: out of memory", path);
        return *out ? 0 : -1;
    }
    if (ban_seal_detect((const uint8_t *)buf, len)) {
        rc = ban_list_unseal(path, keys, buf, len, out, form, err, errlen);
    } else {
        rc = ban_list_parse(path, buf, len, out, err, errlen);
        if (rc == 0 && form)
            *form = BAN_FILE_PLAIN;
    }
    OPENSSL_cleanse(buf, len);
    free(buf);
    return rc;
}

int ban_list_load(const char *path, ban_list **out, char *err, size_t errlen)
{
    return ban_list_read(path, NULL, out, NULL, err, errlen);
}

/* The text form of b in *text (malloc'd, *len bytes). Returns 0 or -1 (out of memory). */
static int ban_list_text(const ban_list *b, char **text, size_t *len)
{
    char enc[BAN_VALUE_MAX * 3 + 8];
    FILE *f = open_memstream(text, len);
    int rc;

    if (!f)
        return -1;
    fprintf(f, "# Rampart ban list: KIND VALUE EXPIRES ADDED REASON (see docs/security.md)\n");
    for (size_t i = 0; i < b->count; i++) {
        const ban_entry *e = &b->entries[i];
        fprintf(f, "%s %s %" PRId64 " %" PRId64 " %s\n", ban_kind_name(e->kind),
                ban_value_encode(e->value, e->value_len, enc, sizeof enc), e->expires, e->added, e->reason);
    }
    OPENSSL_cleanse(enc, sizeof enc);
    rc = fflush(f) == 0 && !ferror(f) ? 0 : -1;
    if (fclose(f) != 0)
        rc = -1;
    if (rc < 0) {
        free(*text);
        *text = NULL;
    }
    return rc;
}

/* Writes data[0..len) to fd entirely and syncs it. Returns 0 or -1 (errno). */
static int ban_write_fd(int fd, const uint8_t *data, size_t len)
{
    while (len) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return fsync(fd);
}

/* Replaces path by data[0..len) atomically: a temporary file (mode 0600, the old file's owner kept), fsync,
 * rename. Returns 0 or -1 with err. */
static int ban_file_replace(const char *path, const uint8_t *data, size_t len, char *err, size_t errlen)
{
    char tmp[4096];
    int fd = -1, rc = -1;
    struct stat st;

    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
        snprintf(err, errlen, "%s: path too long", path);
        return -1;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        return -1;
    }
    if (stat(path, &st) == 0) /* the operator's tool keeps the broker's ownership, and back */
        (void)!fchown(fd, st.st_uid, st.st_gid);
    if (ban_write_fd(fd, data, len) < 0) {
        snprintf(err, errlen, "%s: write failed: %s", tmp, strerror(errno));
        goto done;
    }
    if (rename(tmp, path) < 0) {
        snprintf(err, errlen, "%s: rename failed: %s", path, strerror(errno));
        goto done;
    }
    rc = 0;
done:
    close(fd);
    if (rc < 0)
        unlink(tmp);
    return rc;
}

int ban_list_write(const ban_list *b, const char *path, const struct ban_keyring *keys, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0, sealed_len = 0;
    uint8_t *sealed = NULL;
    int rc = -1;

    if (ban_list_text(b, &text, &len) < 0) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    if (keys && ban_seal(&keys->key[0], (const uint8_t *)text, len, &sealed, &sealed_len) < 0) {
        snprintf(err, errlen, "%s: cannot encrypt the ban list (out of memory or crypto failure)", path);
        goto done;
    }
    rc = keys ? ban_file_replace(path, sealed, sealed_len, err, errlen)
              : ban_file_replace(path, (const uint8_t *)text, len, err, errlen);
done:
    OPENSSL_cleanse(text, len);
    free(text);
    free(sealed);
    return rc;
}

int ban_list_save(const ban_list *b, const char *path, char *err, size_t errlen)
{
    return ban_list_write(b, path, NULL, err, errlen);
}

int ban_file_update_keyed(const char *path, const struct ban_keyring *keys, int (*fn)(ban_list *b, void *ctx),
                          void *ctx, ban_list **result, enum ban_file_form *form, char *err, size_t errlen)
{
    char lock_path[4096];
    int lock_fd, rc = -1;
    ban_list *b = NULL;
    enum ban_file_form found = BAN_FILE_ABSENT;

    if (result)
        *result = NULL;
    if (form)
        *form = BAN_FILE_ABSENT;
    if (snprintf(lock_path, sizeof lock_path, "%s.lock", path) >= (int)sizeof lock_path) {
        snprintf(err, errlen, "%s: path too long", path);
        return -1;
    }
    lock_fd = open(lock_path, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644); /* empty; any user may lock */
    if (lock_fd < 0 || flock(lock_fd, LOCK_EX) < 0) {
        snprintf(err, errlen, "%s: %s", lock_path, strerror(errno));
        goto done;
    }
    if (ban_list_read(path, keys, &b, &found, err, errlen) < 0)
        goto done;
    if (form)
        *form = found;
    rc = fn(b, ctx);
    if ((rc == 0 || (rc > 0 && keys && (found == BAN_FILE_PLAIN || found == BAN_FILE_SEALED_OLD))) &&
        ban_list_write(b, path, keys, err, errlen) < 0)
        rc = -1;
    if (rc >= 0 && result) {
        *result = b;
        b = NULL;
    }
done:
    ban_list_free(b);
    if (lock_fd >= 0)
        close(lock_fd);
    return rc;
}

int ban_file_update(const char *path, int (*fn)(ban_list *b, void *ctx), void *ctx, ban_list **result, char *err,
                    size_t errlen)
{
    return ban_file_update_keyed(path, NULL, fn, ctx, result, NULL, err, errlen);
}
