/*
 * passwd.h - password hashes and the password file (mosquitto's `password_file` format, extended).
 *
 * One entry per line:   USERNAME:HASH[:FIELD=VALUE[,FIELD=VALUE...]]
 * Blank lines and lines starting with '#' are ignored. Recognised HASH schemes:
 *   $6$SALT$HASH                       mosquitto's SHA-512(password || salt)           (read only, weak)
 *   $7$ITER$SALT$HASH                  mosquitto 2.0's PBKDF2-HMAC-SHA512              (read only, weak)
 *   $argon2id$v=19$m=M,t=T,p=P$SALT$HASH   argon2id in the PHC string format          (what Rampart writes)
 *   $scram-sha-256$ITER$SALT$STOREDKEY$SERVERKEY   RFC 5802/7677 stored keys          (what --scram writes)
 * Optional fields after a third ':' (mosquitto ignores everything after the hash): `set=UNIXTIME` (when the
 * password was set) and `max_age=SECONDS` (per-user maximum password age; 0 = no per-user limit).
 * docs/security.md describes the format in full.
 *
 * Reading code validates (a password file may be damaged); every parse error is `file:line: what is wrong`.
 * Secrets: passwords are compared in constant time and wiped by the caller; hashes are not secrets but are
 * wiped on free all the same.
 */
#ifndef RAMPART_SECURITY_PASSWD_H
#define RAMPART_SECURITY_PASSWD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum passwd_scheme {
    PASSWD_SCHEME_NONE = 0,
    PASSWD_SCHEME_SHA512,        /* $6$ */
    PASSWD_SCHEME_PBKDF2_SHA512, /* $7$ */
    PASSWD_SCHEME_ARGON2ID,      /* $argon2id$ */
    PASSWD_SCHEME_SCRAM_SHA256   /* $scram-sha-256$ */
};

#define PASSWD_SALT_MAX 64
#define PASSWD_HASH_MAX 64
#define PASSWD_USERNAME_MAX 65535
#define PASSWD_LINE_MAX 4096
#define PASSWD_FILE_MAX (64u * 1024 * 1024)

/* Bounds accepted when reading a file: a damaged or hostile entry must not cost gigabytes or minutes. */
#define PASSWD_ARGON2_MEMORY_MAX (1024u * 1024) /* KiB = 1 GiB */
#define PASSWD_ARGON2_TIME_MAX 64u
#define PASSWD_ARGON2_LANES_MAX 16u
#define PASSWD_PBKDF2_ITER_MAX 10000000u

/* A parsed hash: everything verification needs, by value (so it can be copied to a worker thread). */
typedef struct passwd_hash {
    enum passwd_scheme scheme;
    uint32_t iterations; /* $7$ and scram: PBKDF2 iterations; argon2id: t */
    uint32_t memory_kib; /* argon2id: m */
    uint32_t lanes;      /* argon2id: p */
    uint8_t salt[PASSWD_SALT_MAX];
    size_t salt_len;
    uint8_t hash[PASSWD_HASH_MAX]; /* scram: StoredKey */
    size_t hash_len;
    uint8_t server_key[32]; /* scram only */
} passwd_hash;

typedef struct passwd_entry {
    char *username;  /* NUL-terminated, owned by the entry */
    char *hash_text; /* the HASH field as written in the file, owned by the entry */
    passwd_hash hash;
    int64_t set_time; /* unix seconds when the password was set; 0 = unknown (no `set=` field) */
    int64_t max_age;  /* seconds; 0 = no per-user maximum age */
    unsigned line;    /* line number in the file it came from */
} passwd_entry;

/* argon2id cost parameters. passwd_argon2_default() gives OWASP's recommendation (m=19456 KiB, t=2, p=1). */
typedef struct passwd_argon2_params {
    uint32_t memory_kib, time_cost, lanes;
} passwd_argon2_params;
passwd_argon2_params passwd_argon2_default(void);

const char *passwd_scheme_name(enum passwd_scheme scheme);
/* True for the schemes kept only for migration ($6$, $7$): a fast hash or too few iterations. */
bool passwd_scheme_is_weak(enum passwd_scheme scheme);

/*
 * Parses one HASH field s[0..len) into *out. Returns 0, or -1 with *why set to a static message.
 * Enforces the PASSWD_*_MAX bounds above.
 */
int passwd_hash_parse(const char *s, size_t len, passwd_hash *out, const char **why);

/*
 * Verifies password pw[0..len) against h: does the full key derivation, then compares in constant time
 * (CRYPTO_memcmp). Returns 1 on a match, 0 on a mismatch, -1 on an internal failure (allocation, library
 * error). Intermediate key material is wiped. Thread-safe.
 */
int passwd_hash_verify(const passwd_hash *h, const uint8_t *pw, size_t len);

/*
 * Makes a new argon2id entry for pw with a fresh random salt (16 bytes) and 32-byte hash, writing the PHC
 * string to out[0..cap). Returns 0, or -1 (random or library failure, out too small).
 */
int passwd_hash_make_argon2id(const uint8_t *pw, size_t len, const passwd_argon2_params *params, char *out,
                              size_t cap);

/*
 * Makes a new SCRAM-SHA-256 entry `$scram-sha-256$ITER$SALT$STOREDKEY$SERVERKEY` with a fresh 16-byte salt.
 * The password is used as given (no SASLprep). Returns 0 or -1.
 */
int passwd_hash_make_scram(const uint8_t *pw, size_t len, uint32_t iterations, char *out, size_t cap);

/*
 * Fills h->hash (StoredKey, 32 bytes) and h->server_key from password pw and the salt and iterations already
 * in *h; sets scheme and hash_len. Returns 0 or -1.
 */
int passwd_scram_derive(const uint8_t *pw, size_t len, passwd_hash *h);

/*
 * Fills *h with an argon2id hash of the given cost whose hash bytes are random: it matches no password, and
 * verifying against it costs what verifying a real default entry costs (used for unknown users).
 */
int passwd_hash_make_dummy(const passwd_argon2_params *params, passwd_hash *h);

/*
 * Parses one line (without its newline; a trailing '\r' and trailing blanks are ignored). Returns 1 and fills
 * *out (caller frees with passwd_entry_clear) for an entry, 0 for a blank or comment line, -1 with *why.
 */
int passwd_line_parse(const char *line, size_t len, passwd_entry *out, const char **why);
void passwd_entry_clear(passwd_entry *e);

/*
 * Writes the line for e (username, hash_text, and the optional fields when set_time or max_age is non-zero)
 * into out[0..cap), NUL-terminated, without a newline. Returns its length, or -1 if cap is too small.
 */
int passwd_line_format(const passwd_entry *e, char *out, size_t cap);

/* ---- the loaded file ---------------------------------------------------------------------------------- */

typedef struct passwd_db passwd_db;

/*
 * Parses a whole file held in buf[0..len); `name` is used in error messages. On success returns 0 and
 * *out (free with passwd_db_free). On error returns -1 and writes "name:line: what is wrong" to err.
 * Duplicate usernames are an error.
 */
int passwd_db_parse(const char *name, const char *buf, size_t len, passwd_db **out, char *err, size_t errlen);
/* Reads and parses the file at path (at most PASSWD_FILE_MAX bytes). Same contract as passwd_db_parse. */
int passwd_db_load(const char *path, passwd_db **out, char *err, size_t errlen);
void passwd_db_free(passwd_db *db);

/* The entry for username u[0..len), or NULL. The pointer is valid as long as db is. */
const passwd_entry *passwd_db_find(const passwd_db *db, const uint8_t *u, size_t len);
size_t passwd_db_count(const passwd_db *db);
/* Entries in username order. */
const passwd_entry *passwd_db_at(const passwd_db *db, size_t i);

/* ---- base64 helpers shared with the SCRAM code ----------------------------------------------------- */

/* Decodes standard base64 (padding optional, no whitespace) into out[0..cap). Returns the byte count or -1. */
int passwd_b64_decode(const char *s, size_t len, uint8_t *out, size_t cap);
/* Encodes in[0..len) as padded standard base64 into out (NUL-terminated). Returns the length or -1. */
int passwd_b64_encode(const uint8_t *in, size_t len, char *out, size_t cap);

#endif
