/*
 * ban.h - the ban list: addresses, networks (CIDR), usernames and client identifiers refused before any
 * password work, each with an optional expiry. Entries come from the login limiter (lockouts) and from the
 * operator (`rampart ban add|del|list`). The list is persisted in one file, written atomically (a temporary
 * file, fsync, rename) under an advisory lock (flock on PATH.lock) shared by the broker and the tool. With a
 * keyring (persistence encryption on, ban_seal.h) the file is the text form sealed with AES-256-GCM; without
 * one it is the text form itself.
 *
 * File format (docs/security.md): '#' comments, then one ban per line:
 *   KIND VALUE EXPIRES ADDED REASON
 * KIND is address|network|username|clientid; VALUE is percent-encoded (bytes outside '!'..'~' and '%' as %XX);
 * EXPIRES and ADDED are unix seconds (EXPIRES 0 = never); REASON is free text to the end of the line.
 */
#ifndef RAMPART_SECURITY_BAN_H
#define RAMPART_SECURITY_BAN_H

#include <stddef.h>
#include <stdint.h>

#include "security/addr.h"

#define BAN_DEFAULT_FILE "/var/lib/rampart/bans" /* when neither the config nor -f names one */
#define BAN_MAX_ENTRIES 65536
#define BAN_VALUE_MAX 1024
#define BAN_REASON_MAX 200

enum ban_kind { BAN_ADDRESS = 0, BAN_NETWORK, BAN_USERNAME, BAN_CLIENTID };

typedef struct ban_entry {
    enum ban_kind kind;
    uint8_t *value; /* decoded bytes, NUL-terminated for convenience */
    size_t value_len;
    int64_t expires; /* unix seconds; 0 = never */
    int64_t added;
    char *reason;
    sec_addr base; /* address and network bans */
    unsigned bits;
} ban_entry;

typedef struct ban_list ban_list;

ban_list *ban_list_new(void);
void ban_list_free(ban_list *b);

const char *ban_kind_name(enum ban_kind kind);
/* Parses "address", "network", "username", "clientid". Returns 0 or -1. */
int ban_kind_parse(const char *s, enum ban_kind *out);

/*
 * Adds (or replaces: same kind and value) a ban. value[0..len) is validated for its kind (an address, a CIDR
 * network; usernames and client ids any bytes, 1..BAN_VALUE_MAX). Returns 0, or -1 with *why.
 */
int ban_list_add(ban_list *b, enum ban_kind kind, const uint8_t *value, size_t len, int64_t expires, int64_t now,
                 const char *reason, const char **why);
/* Removes the ban of that kind and value. Returns 1 if one was removed, 0 if none existed. */
int ban_list_del(ban_list *b, enum ban_kind kind, const uint8_t *value, size_t len);
/* Removes bans whose expiry is <= now; calls fn (may be NULL) for each before removing. Returns the count. */
size_t ban_list_expire(ban_list *b, int64_t now, void (*fn)(const ban_entry *e, void *ctx), void *ctx);

/* The first unexpired ban matching the address, the username or the client id (either may be NULL), or NULL. */
const ban_entry *ban_list_match(const ban_list *b, const sec_addr *addr, const uint8_t *user, size_t ulen,
                                const uint8_t *client_id, size_t clen, int64_t now);

enum ban_change { BAN_CHANGE_ADDED = 0, BAN_CHANGE_REMOVED, BAN_CHANGE_CHANGED };
/*
 * Compares two lists by (kind, value) and calls fn once per difference: an entry only in after (ADDED), only
 * in before (REMOVED, the before entry), in both with another expiry (CHANGED, the after entry). Either list
 * may be NULL (empty). O(n log n) time; returns the number of differences, or -1 when out of memory (then fn
 * was not called).
 */
long ban_list_diff(const ban_list *before, const ban_list *after,
                   void (*fn)(enum ban_change change, const ban_entry *e, void *ctx), void *ctx);

size_t ban_list_count(const ban_list *b);
const ban_entry *ban_list_at(const ban_list *b, size_t i);

/* Parses a whole file's text into *out (a new list). Errors are "name:line: what is wrong". */
int ban_list_parse(const char *name, const char *buf, size_t len, ban_list **out, char *err, size_t errlen);
/* Loads a plain-text path into *out; a missing file is an empty list. Returns 0 or -1 with err (a sealed file
 * is refused: "the ban file is encrypted ..."). Same as ban_list_read(path, NULL, ...). */
int ban_list_load(const char *path, ban_list **out, char *err, size_t errlen);
/* Writes b to path atomically in text form (mode 0600). Returns 0 or -1 with err. The caller holds the lock. */
int ban_list_save(const ban_list *b, const char *path, char *err, size_t errlen);

struct ban_keyring;
/* What a read found: no file, the text form, the sealed form under the current key, or under the old key. */
enum ban_file_form { BAN_FILE_ABSENT = 0, BAN_FILE_PLAIN, BAN_FILE_SEALED, BAN_FILE_SEALED_OLD };
/*
 * Loads path into *out (a missing file is an empty list), in either form: a sealed file is opened with keys
 * (NULL: refused, "needs the persistence key"); a text file is parsed as it is (with keys, the caller decides
 * to import it: *form says BAN_FILE_PLAIN). form may be NULL. Returns 0, or -1 with err, one line naming path
 * and what is wrong (authentication failed, unknown key, truncated, "path:line: ..." for the text).
 */
int ban_list_read(const char *path, const struct ban_keyring *keys, ban_list **out, enum ban_file_form *form,
                  char *err, size_t errlen);
/* Writes b to path atomically (mode 0600): sealed under keys->key[0], or as text when keys is NULL. The
 * plaintext is wiped from memory after use. Returns 0 or -1 with err. The caller holds the lock. */
int ban_list_write(const ban_list *b, const char *path, const struct ban_keyring *keys, char *err, size_t errlen);

/*
 * Read-modify-write under the lock: loads path, calls fn(list, ctx) (which returns < 0 to abort without
 * saving, 0 to save, > 0 to skip saving), saves, and hands the resulting list to *result (may be NULL: then
 * it is freed). Returns fn's result or -1 with err.
 */
int ban_file_update(const char *path, int (*fn)(ban_list *b, void *ctx), void *ctx, ban_list **result, char *err,
                    size_t errlen);
/*
 * ban_file_update with a keyring (NULL: the text form): the file is read in either form and written sealed
 * under keys->key[0]. When fn skips saving (> 0) but the file was text or under the old key, it is rewritten
 * anyway (an import or a re-encryption). *form (may be NULL) gets the form that was read.
 */
int ban_file_update_keyed(const char *path, const struct ban_keyring *keys, int (*fn)(ban_list *b, void *ctx),
                          void *ctx, ban_list **result, enum ban_file_form *form, char *err, size_t errlen);

/* Writes the one-line text form of VALUE (percent-encoded) into out. Returns out. */
char *ban_value_encode(const uint8_t *v, size_t len, char *out, size_t cap);

#endif
