/* record.c - see record.h. */
#include "persist/record.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#define RECORD_VERSION 1
#define RECORD_NONCE_LEN 12

int record_hkdf(const uint8_t master[RECORD_MASTER_KEY_LEN], const char *info, uint8_t *out, size_t len)
{
    int rc = -1;
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM params[5];
    char digest[] = "SHA256";
    char salt[] = "rampart-persist";
    if (!ctx)
        goto out;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)master, RECORD_MASTER_KEY_LEN);
    params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt, strlen(salt));
    params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, strlen(info));
    params[4] = OSSL_PARAM_construct_end();
    if (EVP_KDF_derive(ctx, out, len, params) == 1)
        rc = 0;
out:
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    return rc;
}

/* Keys a GCM context for one direction (the nonce is set per record). */
static EVP_CIPHER_CTX *record_gcm_ctx(const EVP_CIPHER *cipher, const uint8_t key[32], int encrypt)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ctx || EVP_CipherInit_ex(ctx, cipher, NULL, NULL, NULL, encrypt) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, RECORD_NONCE_LEN, NULL) != 1 ||
        EVP_CipherInit_ex(ctx, NULL, NULL, key, NULL, encrypt) != 1) {
        EVP_CIPHER_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* Creates the keyed contexts of k. Returns 0 or -1. */
static int record_keys_contexts(record_keys *k)
{
    char digest[] = "SHA256";
    OSSL_PARAM params[2] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                            OSSL_PARAM_construct_end()};
    EVP_CIPHER *cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    int rc = -1;
    if (!cipher || !mac)
        goto out;
    k->seal_ctx = record_gcm_ctx(cipher, k->enc, 1);
    k->open_ctx = record_gcm_ctx(cipher, k->enc, 0);
    k->index_ctx = EVP_MAC_CTX_new(mac);
    if (k->seal_ctx && k->open_ctx && k->index_ctx &&
        EVP_MAC_init(k->index_ctx, k->index, sizeof k->index, params) == 1)
        rc = 0;
out:
    EVP_CIPHER_free(cipher);
    EVP_MAC_free(mac);
    return rc;
}

int record_keys_derive(const uint8_t master[RECORD_MASTER_KEY_LEN], record_keys *out)
{
    uint8_t id[4];
    memset(out, 0, sizeof *out);
    if (record_hkdf(master, "rampart persist encryption v1", out->enc, sizeof out->enc) < 0 ||
        record_hkdf(master, "rampart persist index v1", out->index, sizeof out->index) < 0 ||
        record_hkdf(master, "rampart persist key id v1", id, sizeof id) < 0) {
        record_keys_wipe(out);
        return -1;
    }
    out->id = (uint32_t)id[0] << 24 | (uint32_t)id[1] << 16 | (uint32_t)id[2] << 8 | id[3];
    if (record_keys_contexts(out) < 0) {
        record_keys_wipe(out);
        return -1;
    }
    return 0;
}

void record_keys_wipe(record_keys *k)
{
    EVP_CIPHER_CTX_free(k->seal_ctx);
    EVP_CIPHER_CTX_free(k->open_ctx);
    EVP_MAC_CTX_free(k->index_ctx);
    OPENSSL_cleanse(k, sizeof *k);
}

void record_index(const record_keys *k, uint8_t kind, const uint8_t *lkey, size_t lkey_len,
                  uint8_t out[RECORD_INDEX_LEN])
{
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(k->index_ctx); /* keyed once; a copy per record */
    size_t outl = 0;
    out[0] = kind;
    if (!ctx || EVP_MAC_update(ctx, &kind, 1) != 1 || (lkey_len && EVP_MAC_update(ctx, lkey, lkey_len) != 1) ||
        EVP_MAC_final(ctx, out + 1, &outl, 32) != 1 || outl != 32)
        abort(); /* our own fixed-size HMAC cannot fail but for a broken crypto library or no memory */
    EVP_MAC_CTX_free(ctx);
}

static void record_put_header(uint8_t *h, uint32_t key_id)
{
    h[0] = RECORD_VERSION;
    h[1] = (uint8_t)(key_id >> 24);
    h[2] = (uint8_t)(key_id >> 16);
    h[3] = (uint8_t)(key_id >> 8);
    h[4] = (uint8_t)key_id;
}

/* AES-256-GCM decryption of in[0..len) into out, with the record's AAD; the tag is checked. Returns 0/-1. */
static int record_gcm_open(const record_keys *k, const uint8_t *header, const uint8_t *index, const uint8_t *in,
                           size_t len, uint8_t *out, uint8_t tag[RECORD_TAG_LEN])
{
    int n = 0;
    EVP_CIPHER_CTX *ctx = k->open_ctx;
    if (len > INT32_MAX)
        return -1;
    if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, header + 5, 0) != 1 ||
        EVP_CipherUpdate(ctx, NULL, &n, header, RECORD_HEADER_LEN) != 1 ||
        EVP_CipherUpdate(ctx, NULL, &n, index, RECORD_INDEX_LEN) != 1 ||
        (len && EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1) ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, RECORD_TAG_LEN, tag) != 1 ||
        EVP_CipherFinal_ex(ctx, out + n, &n) != 1)
        return -1;
    return 0;
}

/* Takes the next nonce of n into out (a new random start when the run is used up). Returns 0 or -1. */
static int record_nonce_take(record_nonce *n, uint8_t out[RECORD_NONCE_LEN])
{
    if (n->left == 0) {
        if (RAND_bytes(n->next, RECORD_NONCE_LEN) != 1)
            return -1;
        n->left = RECORD_NONCE_RUN;
    }
    memcpy(out, n->next, RECORD_NONCE_LEN);
    n->left--;
    for (int i = RECORD_NONCE_LEN - 1; i >= 0 && ++n->next[i] == 0; i--)
        ;
    return 0;
}

size_t record_sealed_len(size_t lkey_len, size_t value_len)
{
    return RECORD_OVERHEAD + lkey_len + value_len;
}

size_t record_seal_to(const record_keys *k, record_nonce *n, const uint8_t index[RECORD_INDEX_LEN], uint8_t kind,
                      const uint8_t *lkey, size_t lkey_len, const uint8_t *value, size_t value_len, uint8_t *out,
                      size_t out_cap)
{
    EVP_CIPHER_CTX *ctx = k->seal_ctx;
    size_t plen = 3 + lkey_len + value_len, total = record_sealed_len(lkey_len, value_len);
    uint8_t aad[RECORD_HEADER_LEN + RECORD_INDEX_LEN], *plain = out + RECORD_HEADER_LEN;
    int w = 0, f = 0;
    if (lkey_len > RECORD_MAX_LKEY || value_len > RECORD_MAX_VALUE || out_cap < total)
        return 0;
    record_put_header(out, k->id);
    if (record_nonce_take(n, out + 5) < 0)
        return 0;
    memcpy(aad, out, RECORD_HEADER_LEN);
    memcpy(aad + RECORD_HEADER_LEN, index, RECORD_INDEX_LEN);
    /* The plaintext (kind | key length | key | value) is laid out in out and encrypted in place. */
    plain[0] = kind;
    plain[1] = (uint8_t)(lkey_len >> 8);
    plain[2] = (uint8_t)lkey_len;
    if (lkey_len)
        memcpy(plain + 3, lkey, lkey_len);
    if (value_len)
        memcpy(plain + 3 + lkey_len, value, value_len);
    if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, out + 5, 1) != 1 ||
        EVP_CipherUpdate(ctx, NULL, &w, aad, sizeof aad) != 1 ||
        EVP_CipherUpdate(ctx, plain, &w, plain, (int)plen) != 1 || EVP_CipherFinal_ex(ctx, plain + w, &f) != 1 ||
        (size_t)w + (size_t)f != plen ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, RECORD_TAG_LEN, plain + plen) != 1) {
        OPENSSL_cleanse(plain, plen); /* never leave plaintext behind in the caller's buffer */
        return 0;
    }
    return total;
}

int record_seal(const record_keys *k, const uint8_t index[RECORD_INDEX_LEN], uint8_t kind, const uint8_t *lkey,
                size_t lkey_len, const uint8_t *value, size_t value_len, uint8_t **out, size_t *out_len)
{
    record_nonce n = {.left = 0}; /* a fresh random nonce */
    size_t cap = record_sealed_len(lkey_len, value_len);
    *out = NULL;
    if (lkey_len > RECORD_MAX_LKEY || value_len > RECORD_MAX_VALUE)
        return -1;
    uint8_t *rec = malloc(cap);
    if (!rec)
        return -1;
    size_t len = record_seal_to(k, &n, index, kind, lkey, lkey_len, value, value_len, rec, cap);
    if (len == 0) {
        free(rec);
        return -1;
    }
    *out = rec;
    *out_len = len;
    return 0;
}

bool record_key_id(const uint8_t *rec, size_t rec_len, uint32_t *id)
{
    if (rec_len < RECORD_HEADER_LEN)
        return false;
    *id = (uint32_t)rec[1] << 24 | (uint32_t)rec[2] << 16 | (uint32_t)rec[3] << 8 | rec[4];
    return true;
}

enum record_status record_open(const record_keys *const *keys, size_t nkeys, const uint8_t *index,
                               size_t index_len, const uint8_t *rec, size_t rec_len, record_view *view)
{
    const record_keys *k = NULL;
    uint32_t id;
    uint8_t tag[RECORD_TAG_LEN];
    memset(view, 0, sizeof *view);
    if (index_len != RECORD_INDEX_LEN || rec_len < RECORD_OVERHEAD || rec[0] != RECORD_VERSION ||
        rec_len - RECORD_HEADER_LEN - RECORD_TAG_LEN > RECORD_MAX_VALUE + 3 + RECORD_MAX_LKEY)
        return RECORD_MALFORMED;
    record_key_id(rec, rec_len, &id);
    for (size_t i = 0; i < nkeys && !k; i++)
        if (keys[i] && keys[i]->id == id)
            k = keys[i];
    if (!k)
        return RECORD_UNKNOWN_KEY;
    size_t plen = rec_len - RECORD_HEADER_LEN - RECORD_TAG_LEN;
    uint8_t *plain = malloc(plen);
    if (!plain)
        return RECORD_NO_MEMORY;
    memcpy(tag, rec + RECORD_HEADER_LEN + plen, RECORD_TAG_LEN);
    if (record_gcm_open(k, rec, index, rec + RECORD_HEADER_LEN, plen, plain, tag) < 0) {
        OPENSSL_cleanse(plain, plen);
        free(plain);
        return RECORD_AUTH_FAILED;
    }
    size_t lkey_len = (size_t)plain[1] << 8 | plain[2];
    if (plain[0] != index[0] || 3 + lkey_len > plen) { /* authentic but not ours: a bug, treat as malformed */
        OPENSSL_cleanse(plain, plen);
        free(plain);
        return RECORD_MALFORMED;
    }
    view->kind = plain[0];
    view->lkey = plain + 3;
    view->lkey_len = lkey_len;
    view->value = plain + 3 + lkey_len;
    view->value_len = plen - 3 - lkey_len;
    view->key_id = id;
    view->plain = plain;
    view->plain_len = plen;
    return RECORD_OK;
}

void record_view_free(record_view *v)
{
    if (v->plain) {
        OPENSSL_cleanse(v->plain, v->plain_len);
        free(v->plain);
    }
    memset(v, 0, sizeof *v);
}

const char *record_status_name(enum record_status s)
{
    switch (s) {
    case RECORD_OK:
        return "ok";
    case RECORD_MALFORMED:
        return "malformed";
    case RECORD_UNKNOWN_KEY:
        return "encrypted with an unknown key";
    case RECORD_AUTH_FAILED:
        return "authentication failed (tampered or corrupt)";
    case RECORD_NO_MEMORY:
        return "out of memory";
    }
    return "?";
}
