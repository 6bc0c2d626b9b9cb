/*
 * record.h - the on-disk form of one persisted record: encrypted and authenticated with AES-256-GCM, stored
 * under an index key that reveals nothing of the logical key (a topic, a client identifier). Pure: no I/O.
 *
 * Keys. From a 32-byte master key, HKDF-SHA256 derives an encryption key, an index key and a 4-byte key id:
 *   index key of a record = kind (1 byte, clear) || HMAC-SHA256(index key, kind || logical key)   (33 bytes)
 * The kind byte stays clear so records of one kind can be iterated; the rest is a keyed hash.
 *
 * Record value (docs/persistence.md):
 *   version (1) = 1 | key id (4, big endian) | nonce (12, unique: record_nonce) | ciphertext | GCM tag (16)
 *   plaintext  = kind (1) | logical key length (2, big endian) | logical key | value
 *   AAD        = the 17 header bytes || the 33-byte index key (a record moved to another slot fails)
 */
#ifndef RAMPART_PERSIST_RECORD_H
#define RAMPART_PERSIST_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RECORD_MASTER_KEY_LEN 32
#define RECORD_INDEX_LEN 33
#define RECORD_HEADER_LEN 17
#define RECORD_TAG_LEN 16
#define RECORD_OVERHEAD (RECORD_HEADER_LEN + 3 + RECORD_TAG_LEN)
#define RECORD_MAX_LKEY 65535
#define RECORD_MAX_VALUE ((256u << 20) + (64u << 10)) /* a maximum-size PUBLISH and its fields */

/* HKDF-SHA256(master, salt "rampart-persist", info) into out[0..len): every key derived from the persistence
 * master key (the store's, the ban file's) comes from here, each under its own info label. Returns 0 or -1. */
int record_hkdf(const uint8_t master[RECORD_MASTER_KEY_LEN], const char *info, uint8_t *out, size_t len);

struct evp_cipher_ctx_st;
struct evp_mac_ctx_st;

/* The keys derived from one master key, with OpenSSL contexts keyed once (the per-record cost is then the
 * cipher itself, not algorithm lookups). Not thread-safe; never copied. Wipe with record_keys_wipe. */
typedef struct record_keys {
    uint8_t enc[32];
    uint8_t index[32];
    uint32_t id;
    struct evp_cipher_ctx_st *seal_ctx, *open_ctx; /* AES-256-GCM, keyed */
    struct evp_mac_ctx_st *index_ctx;              /* HMAC-SHA256, keyed */
} record_keys;

/* The nonces of one writer: a random 96-bit start, counted up (big endian) for at most RECORD_NONCE_RUN
 * records, then a new random start (docs/persistence.md: nonces). Zeroed: the next seal draws a start. */
#define RECORD_NONCE_RUN 65536u
typedef struct record_nonce {
    uint8_t next[12];
    uint32_t left; /* nonces left in this run; 0: draw a new start */
} record_nonce;

/* One opened record: the logical key and the value point into *plain (owned by the caller: free it after
 * wiping with record_plain_free). */
typedef struct record_view {
    uint8_t kind;
    const uint8_t *lkey;
    size_t lkey_len;
    const uint8_t *value;
    size_t value_len;
    uint32_t key_id;
    uint8_t *plain; /* the allocation */
    size_t plain_len;
} record_view;

enum record_status { RECORD_OK = 0, RECORD_MALFORMED = -1, RECORD_UNKNOWN_KEY = -2, RECORD_AUTH_FAILED = -3,
                     RECORD_NO_MEMORY = -4 };

/* Derives the keys from a master key. Returns 0 or -1 (OpenSSL failure). */
int record_keys_derive(const uint8_t master[RECORD_MASTER_KEY_LEN], record_keys *out);
void record_keys_wipe(record_keys *k);
/* The index key of (kind, logical key) under k. */
void record_index(const record_keys *k, uint8_t kind, const uint8_t *lkey, size_t lkey_len,
                  uint8_t out[RECORD_INDEX_LEN]);
/*
 * Encrypts one record under a fresh random nonce. *out (malloc'd, *out_len bytes) is the value to store under
 * `index`. Returns 0 or -1 (out of memory, OpenSSL failure, sizes over the limits).
 */
int record_seal(const record_keys *k, const uint8_t index[RECORD_INDEX_LEN], uint8_t kind, const uint8_t *lkey,
                size_t lkey_len, const uint8_t *value, size_t value_len, uint8_t **out, size_t *out_len);
/* The sealed size of a record with this logical key and value length. */
size_t record_sealed_len(size_t lkey_len, size_t value_len);
/*
 * Encrypts one record into out (out_cap >= record_sealed_len(lkey_len, value_len) bytes), with the next nonce
 * of n. No allocation. Returns the record's length, or 0 (OpenSSL failure, sizes over the limits).
 */
size_t record_seal_to(const record_keys *k, record_nonce *n, const uint8_t index[RECORD_INDEX_LEN], uint8_t kind,
                      const uint8_t *lkey, size_t lkey_len, const uint8_t *value, size_t value_len, uint8_t *out,
                      size_t out_cap);
/*
 * Decrypts and authenticates a stored record found under `index`, with whichever of keys[0..nkeys) has its
 * key id. Reading code: rec is untrusted bytes. On RECORD_OK *view is filled (free with record_view_free).
 */
enum record_status record_open(const record_keys *const *keys, size_t nkeys, const uint8_t *index,
                               size_t index_len, const uint8_t *rec, size_t rec_len, record_view *view);
void record_view_free(record_view *v);
/* The key id stored in a record, without opening it; false if too short. */
bool record_key_id(const uint8_t *rec, size_t rec_len, uint32_t *id);
const char *record_status_name(enum record_status s);

#endif
