/* ban_seal.c - see ban_seal.h. */
#include "security/ban_seal.h"

#include <assert.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "persist/record.h"

_Static_assert(BAN_SEAL_MASTER_LEN == RECORD_MASTER_KEY_LEN, "the ban file is keyed by the persistence master key");

#define BAN_SEAL_VERSION 1
#define BAN_SEAL_NONCE_LEN 12
#define BAN_SEAL_NONCE_AT 13 /* magic (8) + version (1) + key id (4) */

int ban_seal_derive(const uint8_t master[BAN_SEAL_MASTER_LEN], ban_seal_key *out)
{
    uint8_t id[4];

    memset(out, 0, sizeof *out);
    if (record_hkdf(master, "rampart ban list v1", out->enc, sizeof out->enc) < 0 ||
        record_hkdf(master, "rampart ban list key id v1", id, sizeof id) < 0) {
        OPENSSL_cleanse(out, sizeof *out);
        return -1;
    }
    out->id = (uint32_t)id[0] << 24 | (uint32_t)id[1] << 16 | (uint32_t)id[2] << 8 | id[3];
    return 0;
}

int ban_keyring_init(ban_keyring *r, const uint8_t master[BAN_SEAL_MASTER_LEN], const uint8_t *old_master)
{
    memset(r, 0, sizeof *r);
    if (ban_seal_derive(master, &r->key[0]) < 0 || (old_master && ban_seal_derive(old_master, &r->key[1]) < 0)) {
        ban_keyring_wipe(r);
        return -1;
    }
    r->count = old_master && r->key[1].id != r->key[0].id ? 2 : 1;
    return 0;
}

void ban_keyring_wipe(ban_keyring *r)
{
    OPENSSL_cleanse(r, sizeof *r);
}

bool ban_seal_detect(const uint8_t *buf, size_t len)
{
    return len >= BAN_SEAL_MAGIC_LEN && !memcmp(buf, BAN_SEAL_MAGIC, BAN_SEAL_MAGIC_LEN);
}

bool ban_seal_key_id(const uint8_t *buf, size_t len, uint32_t *id)
{
    if (len < BAN_SEAL_HEADER_LEN || !ban_seal_detect(buf, len))
        return false;
    *id = (uint32_t)buf[9] << 24 | (uint32_t)buf[10] << 16 | (uint32_t)buf[11] << 8 | buf[12];
    return true;
}

/* AES-256-GCM of in[0..len) into out with the 25-byte header as AAD; encrypt (tag written) or decrypt (tag
 * checked). Returns 0, or -1 (OpenSSL failure or, decrypting, a tag mismatch). */
static int ban_seal_gcm(bool encrypt, const ban_seal_key *k, const uint8_t *header, const uint8_t *in, size_t len,
                        uint8_t *out, uint8_t *tag)
{
    EVP_CIPHER *cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0, rc = -1;

    if (!cipher || !ctx || len > INT_MAX || EVP_CipherInit_ex(ctx, cipher, NULL, NULL, NULL, encrypt) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, BAN_SEAL_NONCE_LEN, NULL) != 1 ||
        EVP_CipherInit_ex(ctx, NULL, NULL, k->enc, header + BAN_SEAL_NONCE_AT, encrypt) != 1 ||
        EVP_CipherUpdate(ctx, NULL, &n, header, BAN_SEAL_HEADER_LEN) != 1 ||
        (len && EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1))
        goto out;
    if (!encrypt && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, BAN_SEAL_TAG_LEN, tag) != 1)
        goto out;
    if (EVP_CipherFinal_ex(ctx, out + n, &n) != 1)
        goto out;
    if (encrypt && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, BAN_SEAL_TAG_LEN, tag) != 1)
        goto out;
    rc = 0;
out:
    EVP_CIPHER_CTX_free(ctx);
    EVP_CIPHER_free(cipher);
    return rc;
}

int ban_seal(const ban_seal_key *k, const uint8_t *plain, size_t len, uint8_t **out, size_t *out_len)
{
    uint8_t *f;

    assert(k && out && out_len && (plain || !len));
    *out = NULL;
    *out_len = 0;
    if (len > BAN_SEAL_MAX_PLAIN || !(f = malloc(BAN_SEAL_OVERHEAD + len + 1)))
        return -1;
    memcpy(f, BAN_SEAL_MAGIC, BAN_SEAL_MAGIC_LEN);
    f[8] = BAN_SEAL_VERSION;
    f[9] = (uint8_t)(k->id >> 24);
    f[10] = (uint8_t)(k->id >> 16);
    f[11] = (uint8_t)(k->id >> 8);
    f[12] = (uint8_t)k->id;
    if (RAND_bytes(f + BAN_SEAL_NONCE_AT, BAN_SEAL_NONCE_LEN) != 1 ||
        ban_seal_gcm(true, k, f, plain, len, f + BAN_SEAL_HEADER_LEN, f + BAN_SEAL_HEADER_LEN + len) < 0) {
        free(f);
        return -1;
    }
    *out = f;
    *out_len = BAN_SEAL_OVERHEAD + len;
    return 0;
}

enum ban_seal_status ban_unseal(const ban_keyring *r, const uint8_t *buf, size_t len, uint8_t **plain,
                                size_t *plain_len, size_t *which)
{
    uint32_t id;
    size_t i, n;
    uint8_t *p, tag[BAN_SEAL_TAG_LEN];

    *plain = NULL;
    *plain_len = 0;
    if (len < BAN_SEAL_OVERHEAD || !ban_seal_key_id(buf, len, &id) || buf[8] != BAN_SEAL_VERSION ||
        len - BAN_SEAL_OVERHEAD > BAN_SEAL_MAX_PLAIN)
        return BAN_SEAL_MALFORMED;
    for (i = 0; i < r->count && r->key[i].id != id; i++)
        ;
    if (i == r->count)
        return BAN_SEAL_UNKNOWN_KEY;
    n = len - BAN_SEAL_OVERHEAD;
    if (!(p = malloc(n + 1)))
        return BAN_SEAL_NO_MEMORY;
    memcpy(tag, buf + BAN_SEAL_HEADER_LEN + n, sizeof tag);
    if (ban_seal_gcm(false, &r->key[i], buf, buf + BAN_SEAL_HEADER_LEN, n, p, tag) < 0) {
        ban_seal_plain_free(p, n);
        return BAN_SEAL_AUTH_FAILED;
    }
    p[n] = 0;
    *plain = p;
    *plain_len = n;
    if (which)
        *which = i;
    return BAN_SEAL_OK;
}

void ban_seal_plain_free(uint8_t *plain, size_t len)
{
    if (!plain)
        return;
    OPENSSL_cleanse(plain, len);
    free(plain);
}

const char *ban_seal_status_name(enum ban_seal_status s)
{
    switch (s) {
    case BAN_SEAL_OK: return "ok";
    case BAN_SEAL_MALFORMED: return "truncated or not a sealed ban file";
    case BAN_SEAL_UNKNOWN_KEY: return "sealed under a key this configuration does not have";
    case BAN_SEAL_AUTH_FAILED: return "authentication failed (tampered or corrupt)";
    case BAN_SEAL_NO_MEMORY: return "out of memory";
    }
    return "?";
}
