/* scram.c - see scram.h. */
#include "security/scram.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONCE_MAX 128
#define USER_MAX 256

struct scram_server {
    uint8_t secret[32];
    char fixed_nonce[NONCE_MAX + 1];
    int state; /* 0 fresh, 1 first done, 2 finished */
    bool known;
    passwd_hash keys; /* the user's StoredKey / ServerKey, or a fake */
    char user[USER_MAX + 1];
    char client_first_bare[SCRAM_MSG_MAX + 1];
    char server_first[SCRAM_MSG_MAX + 1];
    char nonce[2 * NONCE_MAX + 1]; /* client nonce + server nonce */
};

scram_server *scram_server_new(const uint8_t secret[32])
{
    scram_server *s = calloc(1, sizeof *s);

    if (s)
        memcpy(s->secret, secret, 32);
    return s;
}

void scram_server_free(scram_server *s)
{
    if (!s)
        return;
    OPENSSL_cleanse(s, sizeof *s);
    free(s);
}

void scram_server_set_nonce(scram_server *s, const char *nonce)
{
    snprintf(s->fixed_nonce, sizeof s->fixed_nonce, "%s", nonce);
}

const char *scram_server_username(const scram_server *s)
{
    return s->user;
}

/* A printable nonce character set without ',' (RFC 5802: printable except ','). */
static bool nonce_valid(const char *n, size_t len)
{
    if (len == 0 || len > NONCE_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (n[i] < 0x21 || n[i] > 0x7e || n[i] == ',')
            return false;
    return true;
}

/* Decodes a saslname ("=2C" is ',', "=3D" is '='). Returns 0 or -1. */
static int saslname_decode(const char *in, size_t len, char *out, size_t cap)
{
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '=') {
            if (i + 2 >= len)
                return -1;
            if (!memcmp(in + i + 1, "2C", 2))
                c = ',';
            else if (!memcmp(in + i + 1, "3D", 2))
                c = '=';
            else
                return -1;
            i += 2;
        } else if (c == ',' || c == 0) {
            return -1;
        }
        if (o + 1 >= cap)
            return -1;
        out[o++] = c;
    }
    out[o] = 0;
    return o ? 0 : -1;
}

/* Fake keys for an unknown user: salt = HMAC(secret, user)[0..16), keys random (no password matches). */
static void fake_keys(scram_server *s)
{
    uint8_t mac[32];
    unsigned int mlen = 0;

    memset(&s->keys, 0, sizeof s->keys);
    s->keys.scheme = PASSWD_SCHEME_SCRAM_SHA256;
    s->keys.iterations = 4096;
    HMAC(EVP_sha256(), s->secret, 32, (const uint8_t *)s->user, strlen(s->user), mac, &mlen);
    memcpy(s->keys.salt, mac, 16);
    s->keys.salt_len = 16;
    s->keys.hash_len = 32;
    RAND_bytes(s->keys.hash, 32);
    RAND_bytes(s->keys.server_key, 32);
}

int scram_server_first(scram_server *s, const uint8_t *msg, size_t len, const passwd_db *db, uint8_t *out,
                       size_t cap, size_t *outlen)
{
    const char *m = (const char *)msg, *bare, *user, *nonce, *comma;
    char snonce_raw[24], snonce[NONCE_MAX + 1], salt64[100];
    const passwd_entry *e;
    int n;

    if (s->state != 0 || len < 3 || len > SCRAM_MSG_MAX || memchr(msg, 0, len))
        return SCRAM_MALFORMED;
    /* gs2 header: "n,," or "y,," (no channel binding); no authzid */
    if ((m[0] != 'n' && m[0] != 'y') || m[1] != ',' || m[2] != ',')
        return SCRAM_MALFORMED;
    bare = m + 3;
    if (len - 3 < 5 || memcmp(bare, "n=", 2))
        return SCRAM_MALFORMED;
    user = bare + 2;
    comma = memchr(user, ',', len - (size_t)(user - m));
    if (!comma || (size_t)(m + len - comma) < 4 || memcmp(comma, ",r=", 3))
        return SCRAM_MALFORMED;
    if (saslname_decode(user, (size_t)(comma - user), s->user, sizeof s->user) < 0)
        return SCRAM_MALFORMED;
    nonce = comma + 3;
    {
        const char *end = memchr(nonce, ',', (size_t)(m + len - nonce)); /* extensions after the nonce */
        size_t nlen = end ? (size_t)(end - nonce) : (size_t)(m + len - nonce);
        if (!nonce_valid(nonce, nlen))
            return SCRAM_MALFORMED;
        if (s->fixed_nonce[0]) {
            snprintf(snonce, sizeof snonce, "%s", s->fixed_nonce);
        } else {
            if (RAND_bytes((uint8_t *)snonce_raw, 18) != 1)
                return SCRAM_MALFORMED;
            passwd_b64_encode((uint8_t *)snonce_raw, 18, snonce, sizeof snonce);
        }
        snprintf(s->nonce, sizeof s->nonce, "%.*s%s", (int)nlen, nonce, snonce);
    }
    snprintf(s->client_first_bare, sizeof s->client_first_bare, "%.*s", (int)(len - 3), bare);
    e = db ? passwd_db_find(db, (const uint8_t *)s->user, strlen(s->user)) : NULL;
    s->known = e && e->hash.scheme == PASSWD_SCHEME_SCRAM_SHA256;
    if (s->known)
        s->keys = e->hash;
    else
        fake_keys(s);
    passwd_b64_encode(s->keys.salt, s->keys.salt_len, salt64, sizeof salt64);
    n = snprintf(s->server_first, sizeof s->server_first, "r=%s,s=%s,i=%u", s->nonce, salt64, s->keys.iterations);
    if (n < 0 || (size_t)n >= sizeof s->server_first || (size_t)n > cap)
        return SCRAM_MALFORMED;
    memcpy(out, s->server_first, (size_t)n);
    *outlen = (size_t)n;
    s->state = 1;
    return SCRAM_OK;
}

int scram_server_final(scram_server *s, const uint8_t *msg, size_t len, uint8_t *out, size_t cap, size_t *outlen)
{
    const char *m = (const char *)msg, *p;
    char auth_msg[3 * SCRAM_MSG_MAX + 4], sig64[64];
    uint8_t proof[64], client_sig[32], client_key[32], stored[32], server_sig[32];
    size_t without_proof, nlen = strlen(s->nonce);
    unsigned int mlen = 0;
    int plen, n, rc = SCRAM_MALFORMED;

    if (s->state != 1 || len > SCRAM_MSG_MAX || memchr(msg, 0, len))
        return SCRAM_MALFORMED;
    s->state = 2;
    /* "c=biws" (n,,) or "c=eSws" (y,,), then ",r=NONCE", then ",p=PROOF" last */
    if (len < 9 || (memcmp(m, "c=biws,r=", 9) && memcmp(m, "c=eSws,r=", 9)))
        return SCRAM_MALFORMED;
    if (len < 9 + nlen || memcmp(m + 9, s->nonce, nlen) || (len > 9 + nlen && m[9 + nlen] != ','))
        return SCRAM_MALFORMED;
    p = NULL;
    for (size_t i = len; i >= 3; i--) {
        if (!memcmp(m + i - 3, ",p=", 3)) {
            p = m + i - 3;
            break;
        }
    }
    if (!p || (size_t)(p - m) < 9 + nlen)
        return SCRAM_MALFORMED;
    without_proof = (size_t)(p - m);
    plen = passwd_b64_decode(p + 3, len - without_proof - 3, proof, sizeof proof);
    if (plen != 32)
        return SCRAM_MALFORMED;
    n = snprintf(auth_msg, sizeof auth_msg, "%s,%s,%.*s", s->client_first_bare, s->server_first, (int)without_proof,
                 m);
    if (n < 0 || (size_t)n >= sizeof auth_msg)
        return SCRAM_MALFORMED;
    /* ClientKey = proof XOR HMAC(StoredKey, AuthMessage); check SHA-256(ClientKey) == StoredKey */
    HMAC(EVP_sha256(), s->keys.hash, 32, (const uint8_t *)auth_msg, (size_t)n, client_sig, &mlen);
    for (int i = 0; i < 32; i++)
        client_key[i] = proof[i] ^ client_sig[i];
    SHA256(client_key, 32, stored);
    rc = SCRAM_FAIL;
    if (CRYPTO_memcmp(stored, s->keys.hash, 32) == 0 && s->known) {
        HMAC(EVP_sha256(), s->keys.server_key, 32, (const uint8_t *)auth_msg, (size_t)n, server_sig, &mlen);
        passwd_b64_encode(server_sig, 32, sig64, sizeof sig64);
        n = snprintf((char *)out, cap, "v=%s", sig64);
        if (n > 0 && (size_t)n < cap) {
            *outlen = (size_t)n;
            rc = SCRAM_OK;
        }
    }
    OPENSSL_cleanse(client_key, sizeof client_key);
    OPENSSL_cleanse(client_sig, sizeof client_sig);
    OPENSSL_cleanse(proof, sizeof proof);
    return rc;
}
