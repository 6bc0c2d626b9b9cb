/*
 * ban_seal.h - the ban file sealed at rest: one AES-256-GCM blob holding the ban list's text form (ban.h),
 * under a key derived from the persistence master key, so that a copy of the data directory reveals no banned
 * address, username or client identifier and any change to the file is detected. Pure: no I/O.
 *
 * File format (docs/persistence.md, "The ban list"):
 *   magic (8) "\x89RBANS\r\n" | version (1) = 1 | key id (4, big endian) | nonce (12, random) |
 *   ciphertext of the text form | GCM tag (16)
 *   AAD = the 25 header bytes (magic, version, key id and nonce are authenticated too).
 * Keys: HKDF-SHA256(master, salt "rampart-persist", info "rampart ban list v1") is the AES-256-GCM key; info
 * "rampart ban list key id v1" gives the 4-byte key id (distinct from the store's, so neither reveals the other).
 * A text file never starts with the magic (its first byte is not ASCII), so both forms are told apart by it.
 */
#ifndef RAMPART_SECURITY_BAN_SEAL_H
#define RAMPART_SECURITY_BAN_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BAN_SEAL_MASTER_LEN 32
#define BAN_SEAL_MAGIC "\x89RBANS\r\n"
#define BAN_SEAL_MAGIC_LEN 8
#define BAN_SEAL_HEADER_LEN 25
#define BAN_SEAL_TAG_LEN 16
#define BAN_SEAL_OVERHEAD (BAN_SEAL_HEADER_LEN + BAN_SEAL_TAG_LEN)
#define BAN_SEAL_MAX_PLAIN (64u << 20)

/* One derived key: the AES-256-GCM key and its id. Wipe with ban_keyring_wipe (of the ring holding it). */
typedef struct ban_seal_key {
    uint8_t enc[32];
    uint32_t id;
} ban_seal_key;

/* The keys the ban file may be under: key[0] (the current key) seals; any of key[0..count) opens. */
typedef struct ban_keyring {
    ban_seal_key key[2];
    size_t count;
} ban_keyring;

enum ban_seal_status { BAN_SEAL_OK = 0, BAN_SEAL_MALFORMED = -1, BAN_SEAL_UNKNOWN_KEY = -2,
                       BAN_SEAL_AUTH_FAILED = -3, BAN_SEAL_NO_MEMORY = -4 };

/* Derives the ban file's key from a persistence master key. Returns 0 or -1 (OpenSSL failure). */
int ban_seal_derive(const uint8_t master[BAN_SEAL_MASTER_LEN], ban_seal_key *out);
/* Fills r with the current key and, when old_master is not NULL, the previous one. Returns 0 or -1. */
int ban_keyring_init(ban_keyring *r, const uint8_t master[BAN_SEAL_MASTER_LEN], const uint8_t *old_master);
void ban_keyring_wipe(ban_keyring *r);

/* True when buf starts with the sealed form's magic (then it is opened, never parsed as text). */
bool ban_seal_detect(const uint8_t *buf, size_t len);
/* The key id in a sealed file's header; false when too short or not sealed. */
bool ban_seal_key_id(const uint8_t *buf, size_t len, uint32_t *id);

/* Seals plain[0..len) under k with a fresh random nonce: *out (malloc'd, *out_len bytes) is the whole file.
 * Returns 0 or -1 (out of memory, OpenSSL failure, len over BAN_SEAL_MAX_PLAIN). Writing code: asserts k. */
int ban_seal(const ban_seal_key *k, const uint8_t *plain, size_t len, uint8_t **out, size_t *out_len);
/*
 * Opens a sealed file with whichever key of r has its key id. Reading code: buf is untrusted. On BAN_SEAL_OK
 * *plain (malloc'd, *plain_len bytes plus a NUL) holds the text form; free it with ban_seal_plain_free. *which
 * (may be NULL) gets the index of the key that opened it (0: current; 1: old, so the caller rewrites it).
 */
enum ban_seal_status ban_unseal(const ban_keyring *r, const uint8_t *buf, size_t len, uint8_t **plain,
                                size_t *plain_len, size_t *which);
/* Wipes and frees a plaintext from ban_unseal (NULL is fine). */
void ban_seal_plain_free(uint8_t *plain, size_t len);
const char *ban_seal_status_name(enum ban_seal_status s);

#endif
