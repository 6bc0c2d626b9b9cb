/* tls.c - listener TLS contexts and the TLS transport; see tls.h for the contract. */
#include "net/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/http.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/counters.h"
#include "base/log.h"
#include "net/ocsp_worker.h"
#include "base/secevent.h"

#define TLS_DEFAULT_CIPHERS                                                                                  \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"              \
    "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"
#define TLS_DEFAULT_CIPHERS13 "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"
#define TLS_GROUPS "X25519:P-256:P-384"
#define TLS_PASSPHRASE_MAX 1024
#define TLS_OCSP_FILE_MAX (64 * 1024)
#define TLS_OCSP_CACHE_SIZE 128
#define TLS_WRITE_CHUNK 16384

typedef struct tls_ticket_key {
    unsigned char name[16];
    unsigned char aes[32];
    unsigned char hmac[32];
    bool valid;
} tls_ticket_key;

typedef struct tls_ocsp_entry {
    unsigned char digest[32]; /* SHA-256 of the client certificate */
    bool good;
    time_t expires;
} tls_ocsp_entry;

struct tls_context {
    tls_settings s; /* strings owned (copied) */
    SSL_CTX *ssl_ctx;
    unsigned generation;
    tls_ticket_key keys[2]; /* [0] current, [1] previous */
    time_t keys_rotated;
    unsigned char *ocsp_der; /* stapled response, or NULL */
    size_t ocsp_len;
    EVP_PKEY *key; /* the unlocked key, reused on reload while the key file is unchanged */
    struct stat key_stat; /* identity of the key file it came from (device, inode, size, times) */
    tls_ocsp_entry ocsp_cache[TLS_OCSP_CACHE_SIZE];
    bool ocsp_ref; /* holds a reference on the OCSP workers (ocsp_check_clients at start-up) */
};

/* One TLS connection. Kept small: an idle TLS connection costs this, OpenSSL's SSL object (its record buffers
 * released while idle, SSL_MODE_RELEASE_BUFFERS) and the broker's own connection (docs/performance.md). */
typedef struct tls_conn {
    transport base;
    tls_context *ctx;
    SSL *ssl;
    char *peer;         /* "ADDR:PORT" for the log */
    char *subject;      /* RFC 2253 subject of the client certificate, or NULL */
    char *cn;           /* its common name, or NULL */
    char *fail_subject; /* subject of the certificate that failed verification, or NULL */
    ocsp_job *ocsp_job;     /* an OCSP query in flight: the handshake waits for it */
    OCSP_REQUEST *ocsp_req; /* its request (for the nonce check) */
    OCSP_CERTID *ocsp_id;   /* the certificate it asks about */
    unsigned char ocsp_digest[32]; /* SHA-256 of the client certificate (the cache key) */
    size_t last_write;  /* length of an SSL_write that must be retried, or 0 */
    bool done;
} tls_conn;

/* Where tls_writev gathers the caller's iovecs for one SSL_write: one per thread, not one per connection
 * (a retried write re-gathers the same bytes from the caller, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER). */
static _Thread_local unsigned char tls_wbuf[TLS_WRITE_CHUNK];

/* Records the subject that failed verification (the first one only); text, or cert's subject. */
static void tls_set_fail_subject(tls_conn *c, X509 *cert, const char *text)
{
    char buf[256];
    if (c->fail_subject)
        return;
    if (cert)
        text = X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof buf);
    c->fail_subject = strdup(text ? text : "-");
}

static const transport_ops tls_ops;

/* ---- settings ---------------------------------------------------------------------------------- */

/* Offsets of the string fields of tls_settings, so copying and freeing them is one loop each. */
static const size_t tls_string_fields[] = {
    offsetof(tls_settings, certfile), offsetof(tls_settings, keyfile), offsetof(tls_settings, cafile),
    offsetof(tls_settings, capath), offsetof(tls_settings, tls_version), offsetof(tls_settings, ciphers),
    offsetof(tls_settings, ciphers_tls13), offsetof(tls_settings, ocsp_response_file),
    offsetof(tls_settings, ocsp_responder), offsetof(tls_settings, keyfile_passphrase_file),
    offsetof(tls_settings, keyfile_passphrase_env), offsetof(tls_settings, keyfile_passphrase_credential),
    offsetof(tls_settings, name),
};
#define TLS_FIELD(s, off) (*(const char **)((char *)(s) + (off)))

static void tls_settings_free(tls_settings *s)
{
    for (size_t i = 0; i < sizeof tls_string_fields / sizeof tls_string_fields[0]; i++)
        free((char *)TLS_FIELD(s, tls_string_fields[i]));
    for (size_t i = 0; i < s->crlfile_count; i++)
        free((char *)s->crlfiles[i]);
    memset(s, 0, sizeof *s);
}

/* Deep-copies settings; returns false on allocation failure (dst is then freed). */
static bool tls_settings_copy(tls_settings *dst, const tls_settings *src)
{
    bool ok = true;
    *dst = *src;
    for (size_t i = 0; i < sizeof tls_string_fields / sizeof tls_string_fields[0]; i++) {
        const char *v = TLS_FIELD(src, tls_string_fields[i]);
        TLS_FIELD(dst, tls_string_fields[i]) = v ? strdup(v) : NULL;
        ok = ok && (!v || TLS_FIELD(dst, tls_string_fields[i]));
    }
    for (size_t i = 0; i < src->crlfile_count; i++) {
        dst->crlfiles[i] = strdup(src->crlfiles[i]);
        ok = ok && dst->crlfiles[i];
    }
    if (!ok)
        tls_settings_free(dst);
    return ok;
}

/* Formats the most recent OpenSSL error (or `fallback`) after a prefix into err. */
static void tls_errf(char *err, size_t errlen, const char *what, const char *path)
{
    unsigned long e = ERR_peek_last_error();
    const char *why = e ? ERR_reason_error_string(e) : NULL;
    snprintf(err, errlen, "%s%s%s%s%s", what, path ? " " : "", path ? path : "", why ? ": " : "",
             why ? why : "");
    ERR_clear_error();
}

static bool tls_validate_settings(const tls_settings *s, char *err, size_t errlen)
{
    if (!s->certfile || !s->keyfile) {
        snprintf(err, errlen, "a TLS listener needs both certfile and keyfile");
        return false;
    }
    if ((s->require_certificate || s->two_factor || s->use_identity_as_username || s->use_subject_as_username ||
         s->crlfile_count || s->ocsp_check_clients) && !s->cafile && !s->capath) {
        snprintf(err, errlen, "require_certificate, use_*_as_username, crlfile and ocsp_check_clients "
                              "need cafile or capath");
        return false;
    }
    if (s->two_factor && (s->use_identity_as_username || s->use_subject_as_username)) {
        snprintf(err, errlen, "tls_two_factor needs a password: it excludes use_identity_as_username and "
                              "use_subject_as_username");
        return false;
    }
    if (s->use_identity_as_username && s->use_subject_as_username) {
        snprintf(err, errlen, "use_identity_as_username and use_subject_as_username exclude each other");
        return false;
    }
    if (s->tls_version && strcmp(s->tls_version, "tlsv1.2") != 0 && strcmp(s->tls_version, "tlsv1.3") != 0) {
        snprintf(err, errlen, "tls_version %s is not allowed: use tlsv1.2 or tlsv1.3", s->tls_version);
        return false;
    }
    if (s->crlfile_count > TLS_MAX_CRL_FILES) {
        snprintf(err, errlen, "at most %d crlfile lines per listener", TLS_MAX_CRL_FILES);
        return false;
    }
    return true;
}

/* ---- private key ------------------------------------------------------------------------------- */

/* Refuses a secret file that users other than the owner and group can read or write. */
static bool tls_check_private_file(const char *path, const char *what, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
        return false;
    }
    if (st.st_mode & (S_IROTH | S_IWOTH)) {
        snprintf(err, errlen,
                 "%s %s is readable or writable by other users (mode %04o); fix it with: chmod 600 %s "
                 "(or chmod 640 with a group only the broker is in)",
                 what, path, (unsigned)(st.st_mode & 07777), path);
        return false;
    }
    return true;
}

/* Reads the first line of a secret file into buf (NUL-terminated, newline removed). Returns its length
 * or -1. */
static int tls_read_secret_file(const char *path, const char *what, char *buf, size_t cap, char *err,
                                size_t errlen)
{
    if (!tls_check_private_file(path, what, err, errlen))
        return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
        return -1;
    }
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n < 0) {
        snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
        return -1;
    }
    buf[n] = '\0';
    size_t len = strcspn(buf, "\r\n");
    OPENSSL_cleanse(buf + len, (size_t)n - len);
    return (int)len;
}

/*
 * Fetches the configured passphrase into buf. Returns its length, 0 if none is configured, -1 on error.
 * An environment variable is wiped and removed once read.
 */
static int tls_passphrase_load(const tls_settings *s, char *buf, size_t cap, char *err, size_t errlen)
{
    if (s->keyfile_passphrase_file)
        return tls_read_secret_file(s->keyfile_passphrase_file, "keyfile_passphrase_file", buf, cap, err,
                                    errlen);
    if (s->keyfile_passphrase_credential) {
        const char *dir = getenv("CREDENTIALS_DIRECTORY");
        char path[PATH_MAX];
        if (!dir || strchr(s->keyfile_passphrase_credential, '/')) {
            snprintf(err, errlen, "keyfile_passphrase_credential %s: %s", s->keyfile_passphrase_credential,
                     dir ? "a credential name has no '/'" : "$CREDENTIALS_DIRECTORY is not set");
            return -1;
        }
        snprintf(path, sizeof path, "%s/%s", dir, s->keyfile_passphrase_credential);
        return tls_read_secret_file(path, "credential", buf, cap, err, errlen);
    }
    if (s->keyfile_passphrase_env) {
        char *v = getenv(s->keyfile_passphrase_env);
        if (!v) {
            snprintf(err, errlen, "keyfile_passphrase_env: variable %s is not set (it is removed after the "
                                  "first start; use a file or credential for keys that change on reload)",
                     s->keyfile_passphrase_env);
            return -1;
        }
        size_t n = strlen(v);
        if (n >= cap) {
            snprintf(err, errlen, "keyfile_passphrase_env: passphrase too long");
            return -1;
        }
        memcpy(buf, v, n + 1);
        OPENSSL_cleanse(v, n);
        unsetenv(s->keyfile_passphrase_env);
        return (int)n;
    }
    return 0;
}

typedef struct tls_pw {
    const char *buf;
    int len;
    bool asked;
} tls_pw;

/* PEM passphrase callback: hands over the configured passphrase, never prompts. */
static int tls_pem_password_cb(char *out, int size, int rwflag, void *arg)
{
    tls_pw *pw = arg;
    pw->asked = true;
    if (!pw->buf || pw->len <= 0 || pw->len > size)
        return -1;
    memcpy(out, pw->buf, (size_t)pw->len);
    return pw->len;
}

/* True if two stats describe the same, unmodified file. Stat needs no read permission, so an unchanged key
 * is recognised after the broker dropped its privileges and can no longer read the file. */
static bool tls_same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Loads (and unlocks) the private key, or reuses the already unlocked one if the file is unchanged. */
static EVP_PKEY *tls_load_key(tls_context *c, const tls_settings *s, char *err, size_t errlen)
{
    char pass[TLS_PASSPHRASE_MAX];
    struct stat st;
    EVP_PKEY *key = NULL;
    BIO *bio = NULL;
    int plen = 0;
    if (!tls_check_private_file(s->keyfile, "keyfile", err, errlen) || stat(s->keyfile, &st) != 0)
        return NULL;
    if (c->key && tls_same_file(&st, &c->key_stat)) {
        EVP_PKEY_up_ref(c->key);
        return c->key;
    }
    if (access(s->keyfile, R_OK) != 0) {
        snprintf(err, errlen, "keyfile %s: cannot read it (%s); after start-up the broker runs unprivileged, "
                              "so a changed key must be readable by its user, or restart the broker",
                 s->keyfile, strerror(errno));
        return NULL;
    }
    plen = tls_passphrase_load(s, pass, sizeof pass, err, errlen);
    if (plen < 0)
        goto done;
    tls_pw pw = {plen > 0 ? pass : NULL, plen, false};
    bio = BIO_new_file(s->keyfile, "r");
    if (bio)
        key = PEM_read_bio_PrivateKey(bio, NULL, tls_pem_password_cb, &pw);
    if (!key && pw.asked && plen == 0)
        snprintf(err, errlen, "keyfile %s is encrypted: set keyfile_passphrase_file, "
                              "keyfile_passphrase_credential or keyfile_passphrase_env", s->keyfile);
    else if (!key && pw.asked)
        snprintf(err, errlen, "keyfile %s: wrong passphrase or damaged key", s->keyfile);
    else if (!key)
        tls_errf(err, errlen, "cannot load keyfile", s->keyfile);
    if (key) {
        EVP_PKEY_free(c->key);
        EVP_PKEY_up_ref(key);
        c->key = key;
        c->key_stat = st;
    }
done:
    ERR_clear_error();
    OPENSSL_cleanse(pass, sizeof pass);
    BIO_free(bio);
    return key;
}

/* ---- CRLs, OCSP response ------------------------------------------------------------------------ */

/* Adds every CRL of a PEM file to the store; warns about those past nextUpdate. Returns the count or -1. */
static int tls_load_crl_file(X509_STORE *store, const tls_settings *s, const char *path, char *err,
                             size_t errlen)
{
    int count = 0;
    X509_CRL *crl;
    BIO *bio = BIO_new_file(path, "r");
    if (!bio) {
        tls_errf(err, errlen, "cannot open crlfile", path);
        return -1;
    }
    while ((crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL)) != NULL) {
        const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
        if (next && X509_cmp_current_time(next) < 0) {
            char issuer[256];
            X509_NAME_oneline(X509_CRL_get_issuer(crl), issuer, sizeof issuer);
            log_msg(s->crl_allow_expired ? LOG_LEVEL_WARNING : LOG_LEVEL_ERROR,
                    "tls: %s: the CRL of %s in %s is past its nextUpdate; %s", s->name ? s->name : "listener",
                    issuer, path,
                    s->crl_allow_expired ? "accepting clients anyway (crl_allow_expired true)"
                                         : "clients it covers are refused until a fresh CRL is installed "
                                           "(crl_allow_expired false)");
        }
        int ok = X509_STORE_add_crl(store, crl);
        X509_CRL_free(crl);
        if (!ok) {
            tls_errf(err, errlen, "cannot add CRL from", path);
            BIO_free(bio);
            return -1;
        }
        count++;
    }
    BIO_free(bio);
    ERR_clear_error();
    if (count == 0)
        snprintf(err, errlen, "crlfile %s holds no PEM CRL", path);
    return count ? count : -1;
}

/* Reads and checks the OCSP response to staple: successful, every answer "good" and current. */
static bool tls_load_ocsp_file(tls_context *c, const char *path, unsigned char **der, size_t *len, char *err,
                               size_t errlen)
{
    unsigned char *buf = malloc(TLS_OCSP_FILE_MAX);
    OCSP_RESPONSE *resp = NULL;
    OCSP_BASICRESP *bs = NULL;
    bool ok = false;
    FILE *f = fopen(path, "rbe");
    size_t n = f && buf ? fread(buf, 1, TLS_OCSP_FILE_MAX, f) : 0;
    if (!f || !buf || n == 0 || n == TLS_OCSP_FILE_MAX) {
        snprintf(err, errlen, "ocsp_response_file %s: %s", path,
                 !f ? strerror(errno) : "empty, unreadable or larger than 64 KiB");
        goto done;
    }
    const unsigned char *p = buf;
    resp = d2i_OCSP_RESPONSE(NULL, &p, (long)n);
    if (!resp || OCSP_response_status(resp) != OCSP_RESPONSE_STATUS_SUCCESSFUL ||
        !(bs = OCSP_response_get1_basic(resp))) {
        snprintf(err, errlen, "ocsp_response_file %s is not a successful DER OCSP response", path);
        goto done;
    }
    for (int i = 0; i < OCSP_resp_count(bs); i++) {
        int reason;
        ASN1_GENERALIZEDTIME *rev, *thisupd, *nextupd;
        int st = OCSP_single_get0_status(OCSP_resp_get0(bs, i), &reason, &rev, &thisupd, &nextupd);
        if (st != V_OCSP_CERTSTATUS_GOOD || !OCSP_check_validity(thisupd, nextupd, 300, -1)) {
            snprintf(err, errlen, "ocsp_response_file %s: the response is %s", path,
                     st != V_OCSP_CERTSTATUS_GOOD ? "not \"good\"" : "outside its validity period");
            goto done;
        }
    }
    *der = buf;
    *len = n;
    buf = NULL;
    ok = true;
done:
    ERR_clear_error();
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(resp);
    free(buf);
    if (f)
        fclose(f);
    return ok;
}

/* ---- callbacks ------------------------------------------------------------------------------- */

static int tls_ctx_index = -1;  /* SSL_CTX ex-data slot: the tls_context */
static int tls_conn_index = -1;  /* SSL ex-data slot: the tls_conn */
/* X509_STORE_CTX ex-data slot: the tls_conn of a re-verification (transport_tls_recheck). Its own index of
 * that class, so it never collides with SSL_get_ex_data_X509_STORE_CTX_idx() (the SSL of a handshake). */
static int tls_store_index = -1;

/* Certificate verification: records what failed, applies crl_allow_expired. */
static int tls_verify_cb(int ok, X509_STORE_CTX *x)
{
    tls_conn *c = X509_STORE_CTX_get_ex_data(x, tls_store_index);
    if (!c) {
        SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
        c = ssl ? SSL_get_ex_data(ssl, tls_conn_index) : NULL;
    }
    if (ok || !c)
        return ok;
    int err = X509_STORE_CTX_get_error(x);
    if (err == X509_V_ERR_CRL_HAS_EXPIRED && c->ctx->s.crl_allow_expired) {
        log_warning("tls: %s: accepting %s although a CRL is past its nextUpdate (crl_allow_expired true)",
                    c->ctx->s.name ? c->ctx->s.name : "listener", c->peer);
        return 1;
    }
    X509 *cert = X509_STORE_CTX_get_current_cert(x);
    if (cert)
        tls_set_fail_subject(c, cert, NULL);
    return ok;
}

/* Fills a fresh ticket key. */
static bool tls_ticket_key_make(tls_ticket_key *k)
{
    k->valid = RAND_bytes(k->name, sizeof k->name) == 1 && RAND_priv_bytes(k->aes, sizeof k->aes) == 1 &&
               RAND_priv_bytes(k->hmac, sizeof k->hmac) == 1;
    return k->valid;
}

/* Rotates the ticket keys when the current one is older than the configured lifetime. */
static void tls_ticket_keys_rotate(tls_context *c)
{
    time_t now = time(NULL);
    int life = c->s.ticket_key_lifetime > 0 ? c->s.ticket_key_lifetime : 3600;
    if (c->keys[0].valid && now - c->keys_rotated < life)
        return;
    tls_ticket_key fresh;
    if (!tls_ticket_key_make(&fresh))
        return;
    OPENSSL_cleanse(&c->keys[1], sizeof c->keys[1]);
    c->keys[1] = c->keys[0];
    c->keys[0] = fresh;
    OPENSSL_cleanse(&fresh, sizeof fresh);
    c->keys_rotated = now;
}

/* Session ticket encryption: AES-256-CBC + HMAC-SHA256 under rotating keys (RFC 5077 layout). */
static int tls_ticket_cb(SSL *ssl, unsigned char key_name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
                         EVP_MAC_CTX *hctx, int enc)
{
    tls_context *c = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), tls_ctx_index);
    OSSL_PARAM params[2] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
                            OSSL_PARAM_construct_end()};
    tls_ticket_keys_rotate(c);
    if (enc) {
        tls_ticket_key *k = &c->keys[0];
        if (!k->valid || RAND_bytes(iv, 16) != 1)
            return -1;
        memcpy(key_name, k->name, 16);
        if (EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv) != 1 ||
            EVP_MAC_init(hctx, k->hmac, sizeof k->hmac, params) != 1)
            return -1;
        return 1;
    }
    for (int i = 0; i < 2; i++) {
        tls_ticket_key *k = &c->keys[i];
        if (!k->valid || CRYPTO_memcmp(key_name, k->name, 16) != 0)
            continue;
        if (EVP_MAC_init(hctx, k->hmac, sizeof k->hmac, params) != 1 ||
            EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv) != 1)
            return -1;
        /* 2: valid, and issue a fresh ticket (under the current key). Always: clients use a TLS 1.3 ticket
         * once (RFC 8446 C.4), so a resumed connection that got no new ticket would make the next one a full
         * handshake. */
        return 2;
    }
    return 0; /* unknown or expired key: full handshake */
}

/* OCSP stapling: hands a copy of the loaded response to OpenSSL. */
static int tls_status_cb(SSL *ssl, void *arg)
{
    tls_context *c = arg;
    if (!c->ocsp_der)
        return SSL_TLSEXT_ERR_NOACK;
    unsigned char *copy = OPENSSL_memdup(c->ocsp_der, c->ocsp_len);
    if (!copy || !SSL_set_tlsext_status_ocsp_resp(ssl, copy, (long)c->ocsp_len)) {
        OPENSSL_free(copy);
        return SSL_TLSEXT_ERR_NOACK;
    }
    return SSL_TLSEXT_ERR_OK;
}

/* ALPN: "mqtt" (and "http/1.1" on WebSocket listeners); a client offering neither proceeds without ALPN. */
static int tls_alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg)
{
    static const unsigned char mqtt[] = "\x04mqtt";
    static const unsigned char ws[] = "\x04mqtt\x08http/1.1";
    tls_context *c = arg;
    const unsigned char *list = c->s.websocket ? ws : mqtt;
    unsigned int list_len = c->s.websocket ? sizeof ws - 1 : sizeof mqtt - 1;
    unsigned char *sel;
    if (SSL_select_next_proto(&sel, outlen, list, list_len, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

/* ---- context ------------------------------------------------------------------------------------ */

/* Protocol versions, options, ciphers, groups, tickets, callbacks: everything not read from files. */
static bool tls_ctx_configure(tls_context *c, SSL_CTX *ctx, char *err, size_t errlen)
{
    const tls_settings *s = &c->s;
    int min = (s->tls_version && !strcmp(s->tls_version, "tlsv1.3")) ? TLS1_3_VERSION : TLS1_2_VERSION;
    static const unsigned char sid_ctx[] = "rampart";
    SSL_CTX_set_security_level(ctx, 2);
    if (!SSL_CTX_set_min_proto_version(ctx, min) || !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION)) {
        tls_errf(err, errlen, "cannot set TLS versions", NULL);
        return false;
    }
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    if (!SSL_CTX_set_cipher_list(ctx, s->ciphers ? s->ciphers : TLS_DEFAULT_CIPHERS)) {
        tls_errf(err, errlen, "ciphers: no usable cipher in", s->ciphers);
        return false;
    }
    if (!SSL_CTX_set_ciphersuites(ctx, s->ciphers_tls13 ? s->ciphers_tls13 : TLS_DEFAULT_CIPHERS13)) {
        tls_errf(err, errlen, "ciphers_tls1.3: invalid list", s->ciphers_tls13);
        return false;
    }
    if (!SSL_CTX_set1_groups_list(ctx, TLS_GROUPS)) {
        tls_errf(err, errlen, "cannot set key exchange groups", NULL);
        return false;
    }
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF); /* stateless tickets only */
    SSL_CTX_set_timeout(ctx, s->ticket_key_lifetime > 0 ? s->ticket_key_lifetime : 3600);
    SSL_CTX_set_num_tickets(ctx, 1);
    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof sid_ctx - 1);
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, tls_ticket_cb);
    SSL_CTX_set_tlsext_status_cb(ctx, tls_status_cb);
    SSL_CTX_set_tlsext_status_arg(ctx, c);
    SSL_CTX_set_alpn_select_cb(ctx, tls_alpn_cb, c);
    SSL_CTX_set_ex_data(ctx, tls_ctx_index, c);
    return true;
}

/* Client-certificate verification: CA, depth, CRLs for the whole chain. */
static bool tls_ctx_load_ca(SSL_CTX *ctx, const tls_settings *s, char *err, size_t errlen)
{
    if (!s->cafile && !s->capath)
        return true;
    if (!SSL_CTX_load_verify_locations(ctx, s->cafile, s->capath)) {
        tls_errf(err, errlen, "cannot load cafile/capath", s->cafile ? s->cafile : s->capath);
        return false;
    }
    if (s->cafile) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(s->cafile);
        if (names)
            SSL_CTX_set_client_CA_list(ctx, names);
    }
    int mode = SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE;
    if (s->require_certificate || s->two_factor || s->use_identity_as_username || s->use_subject_as_username)
        mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT; /* an identity login needs a certificate (as in mosquitto) */
    SSL_CTX_set_verify(ctx, mode, tls_verify_cb);
    SSL_CTX_set_verify_depth(ctx, s->verify_depth > 0 ? s->verify_depth : 4);
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    for (size_t i = 0; i < s->crlfile_count; i++)
        if (tls_load_crl_file(store, s, s->crlfiles[i], err, errlen) < 0)
            return false;
    if (s->crlfile_count)
        X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
    return true;
}

/* Builds a complete SSL_CTX from the context's settings, or NULL with err set. */
static SSL_CTX *tls_ctx_build(tls_context *c, unsigned char **ocsp, size_t *ocsp_len, char *err,
                              size_t errlen)
{
    const tls_settings *s = &c->s;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    EVP_PKEY *key = NULL;
    if (!ctx || !tls_ctx_configure(c, ctx, err, errlen))
        goto fail;
    if (!SSL_CTX_use_certificate_chain_file(ctx, s->certfile)) {
        tls_errf(err, errlen, "cannot load certfile", s->certfile);
        goto fail;
    }
    if (!(key = tls_load_key(c, s, err, errlen)))
        goto fail;
    if (!SSL_CTX_use_PrivateKey(ctx, key) || !SSL_CTX_check_private_key(ctx)) {
        tls_errf(err, errlen, "keyfile does not match certfile", s->keyfile);
        goto fail;
    }
    EVP_PKEY_free(key);
    key = NULL;
    if (!tls_ctx_load_ca(ctx, s, err, errlen))
        goto fail;
    if (s->ocsp_response_file && !tls_load_ocsp_file(c, s->ocsp_response_file, ocsp, ocsp_len, err, errlen))
        goto fail;
    return ctx;
fail:
    ERR_clear_error();
    EVP_PKEY_free(key);
    SSL_CTX_free(ctx);
    return NULL;
}

/* Allocates the process-wide ex-data slots once. */
static bool tls_init_indexes(void)
{
    if (tls_ctx_index < 0)
        tls_ctx_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    if (tls_conn_index < 0)
        tls_conn_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    if (tls_store_index < 0 && SSL_get_ex_data_X509_STORE_CTX_idx() >= 0)
        tls_store_index = X509_STORE_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    return tls_ctx_index >= 0 && tls_conn_index >= 0 && tls_store_index >= 0;
}

tls_context *tls_context_new(const tls_settings *s, char *err, size_t errlen)
{
    tls_context *c = NULL;
    err[0] = '\0';
    if (!tls_validate_settings(s, err, errlen))
        return NULL;
    if (!tls_init_indexes() || !(c = calloc(1, sizeof *c)) || !tls_settings_copy(&c->s, s)) {
        snprintf(err, errlen, "out of memory");
        free(c);
        return NULL;
    }
    tls_ticket_keys_rotate(c);
    if (s->ocsp_check_clients) {
        if (ocsp_worker_acquire() < 0) {
            snprintf(err, errlen, "cannot create the OCSP completion eventfd");
            tls_context_free(c);
            return NULL;
        }
        c->ocsp_ref = true;
    }
    c->ssl_ctx = tls_ctx_build(c, &c->ocsp_der, &c->ocsp_len, err, errlen);
    if (!c->ssl_ctx || !c->keys[0].valid) {
        if (!err[0])
            snprintf(err, errlen, "cannot create the TLS context");
        tls_context_free(c);
        return NULL;
    }
    return c;
}

int tls_context_reload(tls_context *c, char *err, size_t errlen)
{
    return tls_context_reconfigure(c, NULL, err, errlen);
}

/* Why settings s cannot replace the running ones of c without a restart, or NULL: the options that decide
 * how clients authenticate, and the listener kind, are fixed for the process. */
static const char *tls_fixed_setting_changed(const tls_context *c, const tls_settings *s)
{
    if (s->use_identity_as_username != c->s.use_identity_as_username ||
        s->use_subject_as_username != c->s.use_subject_as_username || s->two_factor != c->s.two_factor)
        return "use_identity_as_username, use_subject_as_username and tls_two_factor";
    if (s->ocsp_check_clients && !c->ocsp_ref)
        return "ocsp_check_clients (turning it on)";
    return NULL;
}

int tls_context_reconfigure(tls_context *c, const tls_settings *s, char *err, size_t errlen)
{
    unsigned char *ocsp = NULL;
    size_t ocsp_len = 0;
    tls_settings fresh_s, old_s;
    const char *name = c->s.name ? c->s.name : "listener";
    const char *fixed = s ? tls_fixed_setting_changed(c, s) : NULL;
    err[0] = '\0';
    if (fixed)
        snprintf(err, errlen, "%s cannot change without a restart", fixed);
    else if (s && !tls_validate_settings(s, err, errlen))
        ;
    else if (s && !tls_settings_copy(&fresh_s, s))
        snprintf(err, errlen, "out of memory");
    if (err[0]) {
        log_error("tls: %s: reload failed, keeping the previous certificates and settings: %s", name, err);
        return -1;
    }
    if (s) { /* build under the new settings; the listener's name and kind stay */
        free((char *)fresh_s.name);
        fresh_s.name = c->s.name ? strdup(c->s.name) : NULL;
        fresh_s.websocket = c->s.websocket;
        old_s = c->s;
        c->s = fresh_s;
    }
    SSL_CTX *fresh = tls_ctx_build(c, &ocsp, &ocsp_len, err, errlen);
    if (!fresh) {
        if (s) {
            tls_settings_free(&c->s);
            c->s = old_s;
        }
        log_error("tls: %s: reload failed, keeping the previous certificates and settings: %s",
                  c->s.name ? c->s.name : "listener", err);
        return -1;
    }
    if (s)
        tls_settings_free(&old_s);
    SSL_CTX_free(c->ssl_ctx); /* connections hold their own reference */
    c->ssl_ctx = fresh;
    free(c->ocsp_der);
    c->ocsp_der = ocsp;
    c->ocsp_len = ocsp_len;
    c->generation++;
    memset(c->ocsp_cache, 0, sizeof c->ocsp_cache); /* revocation answers may have changed too */
    log_notice("tls: %s: %scertificates, key and CRLs reloaded", c->s.name ? c->s.name : "listener",
               s ? "settings, " : "");
    return 0;
}

int tls_context_expiry_seconds(const tls_context *c, int64_t *seconds)
{
    X509 *cert = c && c->ssl_ctx ? SSL_CTX_get0_certificate(c->ssl_ctx) : NULL;
    int days = 0, secs = 0;
    if (!cert || !ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(cert)))
        return -1;
    *seconds = (int64_t)days * 86400 + secs;
    return 0;
}

void tls_context_free(tls_context *c)
{
    if (!c)
        return;
    SSL_CTX_free(c->ssl_ctx);
    EVP_PKEY_free(c->key);
    free(c->ocsp_der);
    if (c->ocsp_ref)
        ocsp_worker_release();
    tls_settings_free(&c->s);
    OPENSSL_cleanse(c->keys, sizeof c->keys);
    free(c);
}

unsigned tls_context_generation(const tls_context *c)
{
    return c->generation;
}

/* ---- OCSP checking of client certificates -------------------------------------------------------- */

static tls_ocsp_entry *tls_ocsp_cache_find(tls_context *c, const unsigned char digest[32], time_t now)
{
    for (int i = 0; i < TLS_OCSP_CACHE_SIZE; i++)
        if (c->ocsp_cache[i].expires > now && memcmp(c->ocsp_cache[i].digest, digest, 32) == 0)
            return &c->ocsp_cache[i];
    return NULL;
}

static void tls_ocsp_cache_store(tls_context *c, const unsigned char digest[32], bool good, time_t now)
{
    tls_ocsp_entry *slot = &c->ocsp_cache[0];
    for (int i = 0; i < TLS_OCSP_CACHE_SIZE; i++)
        if (c->ocsp_cache[i].expires < slot->expires)
            slot = &c->ocsp_cache[i];
    memcpy(slot->digest, digest, 32);
    slot->good = good;
    slot->expires = now + (c->s.ocsp_cache_seconds > 0 ? c->s.ocsp_cache_seconds : 300);
}

/* Checks the responder's answer: signature, nonce, status and freshness. 1 good, 0 revoked/unknown, -1 no
 * usable answer. */
static int tls_ocsp_verdict(tls_conn *c, OCSP_REQUEST *req, OCSP_RESPONSE *resp, OCSP_CERTID *id,
                            const char **why)
{
    OCSP_BASICRESP *bs = NULL;
    int status = -1, reason;
    ASN1_GENERALIZEDTIME *rev, *thisupd, *nextupd;
    int verdict = -1;
    *why = "no usable answer from the OCSP responder";
    if (!resp || OCSP_response_status(resp) != OCSP_RESPONSE_STATUS_SUCCESSFUL ||
        !(bs = OCSP_response_get1_basic(resp)))
        goto done;
    STACK_OF(X509) *chain = SSL_get_peer_cert_chain(c->ssl);
    if (OCSP_check_nonce(req, bs) != 1 ||
        OCSP_basic_verify(bs, chain, SSL_CTX_get_cert_store(SSL_get_SSL_CTX(c->ssl)), 0) != 1) {
        *why = "OCSP answer failed nonce or signature verification";
        goto done;
    }
    if (!OCSP_resp_find_status(bs, id, &status, &reason, &rev, &thisupd, &nextupd) ||
        !OCSP_check_validity(thisupd, nextupd, 300, -1)) {
        *why = "OCSP answer missing or outside its validity period";
        goto done;
    }
    verdict = status == V_OCSP_CERTSTATUS_GOOD;
    *why = status == V_OCSP_CERTSTATUS_REVOKED ? "certificate revoked (OCSP)" : "certificate unknown to OCSP";
done:
    ERR_clear_error();
    OCSP_BASICRESP_free(bs);
    return verdict;
}

/* Frees what an OCSP check holds; an unfinished query is abandoned (the worker frees it). */
static void tls_ocsp_clear(tls_conn *c)
{
    if (c->ocsp_job)
        ocsp_job_abandon(c->ocsp_job);
    c->ocsp_job = NULL;
    OCSP_REQUEST_free(c->ocsp_req);
    c->ocsp_req = NULL;
    OCSP_CERTID_free(c->ocsp_id);
    c->ocsp_id = NULL;
}

/* The verdict on an OCSP answer (resp may be NULL: none), stored in the cache when there is one. Returns true
 * to accept the client. */
static bool tls_ocsp_conclude(tls_conn *c, OCSP_RESPONSE *resp, const char **why)
{
    int verdict = tls_ocsp_verdict(c, c->ocsp_req, resp, c->ocsp_id, why);
    if (verdict >= 0)
        tls_ocsp_cache_store(c->ctx, c->ocsp_digest, verdict == 1, time(NULL));
    return verdict == 1 || (verdict < 0 && c->ctx->s.ocsp_allow_unreachable);
}

/* Starts checking the client's certificate with OCSP: the cache, else a query handed to the workers
 * (ocsp_worker.h). Returns 1 accept, 0 waiting for the answer (c->ocsp_job), -1 refuse (*why says why). */
static int tls_ocsp_begin(tls_conn *c, const char **why)
{
    STACK_OF(X509) *verified = SSL_get0_verified_chain(c->ssl);
    X509 *leaf = SSL_get0_peer_certificate(c->ssl);
    STACK_OF(OPENSSL_STRING) *aia = NULL;
    int rc = -1;
    *why = "cannot build an OCSP request";
    if (!leaf || !verified || sk_X509_num(verified) < 2 || !X509_digest(leaf, EVP_sha256(), c->ocsp_digest, NULL))
        goto done;
    tls_ocsp_entry *hit = tls_ocsp_cache_find(c->ctx, c->ocsp_digest, time(NULL));
    if (hit) {
        *why = "certificate revoked (OCSP, cached)";
        rc = hit->good ? 1 : -1;
        goto done;
    }
    const char *url = c->ctx->s.ocsp_responder;
    if (!url) {
        aia = X509_get1_ocsp(leaf);
        url = aia && sk_OPENSSL_STRING_num(aia) > 0 ? sk_OPENSSL_STRING_value(aia, 0) : NULL;
    }
    if (!url) {
        *why = "no OCSP responder known for the certificate";
        goto done;
    }
    c->ocsp_id = OCSP_cert_to_id(NULL, leaf, sk_X509_value(verified, 1));
    c->ocsp_req = OCSP_REQUEST_new();
    if (!c->ocsp_id || !c->ocsp_req || !OCSP_request_add0_id(c->ocsp_req, OCSP_CERTID_dup(c->ocsp_id)) ||
        !OCSP_request_add1_nonce(c->ocsp_req, NULL, -1))
        goto done;
    c->ocsp_job = ocsp_worker_submit(url, c->ocsp_req,
                                     c->ctx->s.ocsp_timeout_seconds > 0 ? c->ctx->s.ocsp_timeout_seconds : 3);
    if (c->ocsp_job)
        rc = 0;
    else /* the queue is full: as if the responder did not answer */
        rc = tls_ocsp_conclude(c, NULL, why) ? 1 : -1;
done:
    ERR_clear_error();
    X509_email_free(aia);
    if (rc != 0)
        tls_ocsp_clear(c);
    return rc;
}

/* Collects the answer of the query in flight. Returns 1 accept, 0 still waiting, -1 refuse (*why). */
static int tls_ocsp_finish(tls_conn *c, const char **why)
{
    OCSP_RESPONSE *resp = NULL;
    if (!ocsp_job_take(c->ocsp_job, &resp))
        return 0;
    c->ocsp_job = NULL;
    bool accept = tls_ocsp_conclude(c, resp, why);
    OCSP_RESPONSE_free(resp);
    tls_ocsp_clear(c);
    ERR_clear_error();
    return accept ? 1 : -1;
}

/* ---- transport ------------------------------------------------------------------------------------ */

/* Maps a failed SSL call to the transport convention: 0 (orderly end), or -1 with errno. */
static ssize_t tls_io_error(tls_conn *c, int r, bool reading)
{
    int e = SSL_get_error(c->ssl, r);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        c->base.want_read = true;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        c->base.want_write = true;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        if (reading)
            return 0;
        errno = EPIPE;
        return -1;
    case SSL_ERROR_SYSCALL:
        if (errno == 0)
            errno = ECONNRESET;
        break;
    default:
        errno = EPROTO;
        break;
    }
    ERR_clear_error();
    return -1;
}

/* Why a handshake failed, in words. */
static const char *tls_failure_reason(tls_conn *c, int ssl_error, unsigned long e, int saved_errno)
{
    long vr = SSL_get_verify_result(c->ssl);
    if (vr == X509_V_ERR_CRL_HAS_EXPIRED)
        return "a CRL is past its nextUpdate and crl_allow_expired is false: install a fresh CRL";
    if (vr != X509_V_OK)
        return X509_verify_cert_error_string(vr);
    if (e)
        return ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "TLS error";
    if (ssl_error == SSL_ERROR_SYSCALL)
        return saved_errno ? strerror(saved_errno) : "peer closed the connection during the handshake";
    return "handshake failed";
}

/* The metrics counter (base/counters.h) a failed handshake belongs to. */
static enum counter_id tls_failure_counter(tls_conn *c, int ssl_error, unsigned long e)
{
    long vr = SSL_get_verify_result(c->ssl);
    int r = e ? ERR_GET_REASON(e) : 0;
    switch (vr) {
    case X509_V_OK: break;
    case X509_V_ERR_CERT_HAS_EXPIRED: return COUNTER_TLS_CERT_EXPIRED;
    case X509_V_ERR_CERT_REVOKED: return COUNTER_TLS_CERT_REVOKED;
    case X509_V_ERR_CRL_HAS_EXPIRED: return COUNTER_TLS_CRL_EXPIRED;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT: return COUNTER_TLS_UNKNOWN_CA;
    default: return COUNTER_TLS_CERT_INVALID;
    }
    if (r == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)
        return COUNTER_TLS_NO_CLIENT_CERT;
    if (r == SSL_R_UNSUPPORTED_PROTOCOL || r == SSL_R_VERSION_TOO_LOW || r == SSL_R_NO_PROTOCOLS_AVAILABLE ||
        r == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION)
        return COUNTER_TLS_PROTOCOL_VERSION;
    if (r == SSL_R_NO_SHARED_CIPHER)
        return COUNTER_TLS_NO_SHARED_CIPHER;
    if (r == SSL_R_HTTP_REQUEST || r == SSL_R_HTTPS_PROXY_REQUEST || r == SSL_R_WRONG_VERSION_NUMBER ||
        r == SSL_R_PACKET_LENGTH_TOO_LONG)
        return COUNTER_TLS_NOT_TLS;
    if (r == SSL_R_UNEXPECTED_EOF_WHILE_READING || (!e && ssl_error == SSL_ERROR_SYSCALL))
        return COUNTER_TLS_CONNECTION_CLOSED;
    return COUNTER_TLS_OTHER;
}

/* A security event (base/secevent.h) about connection c: tls_handshake_failure, cert_revoked, ... */
static void tls_audit(const tls_conn *c, const char *type, const char *outcome, const char *reason,
                      const char *subject)
{
    char address[64];
    secevent e = {.type = type, .listener = c->ctx->s.name, .outcome = outcome, .reason = reason};
    if (!secevent_wanted())
        return;
    secevent_set_peer(&e, c->peer, address, sizeof address);
    e.cert_subject = subject && strcmp(subject, "-") ? subject : NULL;
    secevent_add_text(&e, "protocol", SSL_get_version(c->ssl));
    secevent_emit(&e);
}

/* Logs one line for a failed handshake (and reports it: tls_handshake_failure, plus cert_revoked when the
 * client's certificate is revoked). */
static void tls_log_failure(tls_conn *c, const char *reason)
{
    const char *subject = c->fail_subject ? c->fail_subject : "-";
    X509 *peer = SSL_get0_peer_certificate(c->ssl);
    char buf[256];
    if (!c->fail_subject && peer) {
        X509_NAME_oneline(X509_get_subject_name(peer), buf, sizeof buf);
        subject = buf;
    }
    log_warning("tls: handshake failed from %s on %s: %s (protocol %s, peer subject \"%s\")", c->peer,
                c->ctx->s.name ? c->ctx->s.name : "listener", reason, SSL_get_version(c->ssl), subject);
    tls_audit(c, "tls_handshake_failure", "refused", reason, subject);
    if (SSL_get_verify_result(c->ssl) == X509_V_ERR_CERT_REVOKED || strstr(reason, "revoked"))
        tls_audit(c, "cert_revoked", "refused", reason, subject);
}

/* Records the client certificate's identity after a successful handshake. */
static bool tls_record_identity(tls_conn *c)
{
    X509 *peer = SSL_get0_peer_certificate(c->ssl);
    if (!peer)
        return true;
    X509_NAME *name = X509_get_subject_name(peer);
    BIO *b = BIO_new(BIO_s_mem());
    if (!b)
        return false;
    X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
    BIO_write(b, "", 1);
    char *data;
    long n = BIO_get_mem_data(b, &data);
    c->subject = n > 0 ? strdup(data) : NULL;
    BIO_free(b);
    int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    if (idx >= 0) {
        unsigned char *utf8 = NULL;
        int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx)));
        if (len > 0 && !memchr(utf8, '\0', (size_t)len))
            c->cn = strndup((char *)utf8, (size_t)len);
        OPENSSL_free(utf8);
    }
    return c->subject != NULL;
}

/* Checks that run once the TLS handshake itself succeeded: OCSP, revocation of resumed sessions. */
/* Ends the OCSP step: logs the refusal (1 accept passes through, -1 logged), or asks the owner to wait for
 * the answer (0: neither readable nor writable matters, t->waiting; the owner calls handshake again when
 * ocsp_worker_fd() is readable). */
static int tls_ocsp_outcome(tls_conn *c, int rc, const char *why)
{
    if (rc < 0) {
        tls_set_fail_subject(c, NULL, c->subject);
        tls_log_failure(c, why);
        counters_inc(COUNTER_TLS_OCSP);
    } else if (rc == 0) {
        c->base.waiting = true;
        errno = EAGAIN;
    }
    return rc;
}

/* Checks that run once the TLS handshake itself succeeded: OCSP, revocation of resumed sessions. Returns 1
 * passed, 0 waiting for an OCSP answer, -1 failed (logged). */
static int tls_post_handshake_checks(tls_conn *c)
{
    const char *why = NULL;
    if (!tls_record_identity(c)) {
        tls_log_failure(c, "out of memory");
        return -1;
    }
    if (!SSL_get0_peer_certificate(c->ssl))
        return 1;
    if (SSL_session_reused(c->ssl) && !transport_tls_recheck(&c->base)) {
        counters_inc(COUNTER_TLS_CERT_INVALID);
        return -1;
    }
    if (!c->ctx->s.ocsp_check_clients)
        return 1;
    int rc = tls_ocsp_begin(c, &why);
    return tls_ocsp_outcome(c, rc, why);
}

static void tls_log_connected(const tls_conn *c)
{
    log_info("tls: %s connected on %s with %s %s%s%s", c->peer, c->ctx->s.name ? c->ctx->s.name : "listener",
             SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl), c->subject ? ", subject " : "",
             c->subject ? c->subject : "");
}

static int tls_handshake(transport *t)
{
    tls_conn *c = (tls_conn *)t;
    const char *why = NULL;
    t->want_read = t->want_write = t->waiting = false;
    if (c->ocsp_job) { /* the handshake is done; the OCSP answer decides */
        int rc = tls_ocsp_finish(c, &why);
        rc = tls_ocsp_outcome(c, rc, why);
        if (rc == 1)
            tls_log_connected(c);
        return rc;
    }
    if (c->done)
        return 1;
    ERR_clear_error();
    errno = 0;
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        c->done = true;
        SSL_free_buffers(c->ssl); /* the handshake's record buffers: an idle connection keeps none */
        int rc = tls_post_handshake_checks(c);
        if (rc == 1)
            tls_log_connected(c);
        return rc;
    }
    int saved_errno = errno;
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        t->want_read = e == SSL_ERROR_WANT_READ;
        t->want_write = e == SSL_ERROR_WANT_WRITE;
        errno = EAGAIN;
        return 0;
    }
    tls_log_failure(c, tls_failure_reason(c, e, ERR_peek_last_error(), saved_errno));
    counters_inc(tls_failure_counter(c, e, ERR_peek_last_error()));
    ERR_clear_error();
    return -1;
}

static ssize_t tls_read(transport *t, void *buf, size_t len)
{
    tls_conn *c = (tls_conn *)t;
    size_t n = 0;
    t->want_read = t->want_write = false;
    ERR_clear_error();
    errno = 0;
    int r = SSL_read_ex(c->ssl, buf, len, &n);
    if (r == 1)
        return (ssize_t)n;
    return tls_io_error(c, r, true);
}

static ssize_t tls_writev(transport *t, const struct iovec *iov, int iovcnt)
{
    tls_conn *c = (tls_conn *)t;
    size_t len = 0, n = 0;
    for (int i = 0; i < iovcnt && len < sizeof tls_wbuf; i++) {
        size_t take = iov[i].iov_len < sizeof tls_wbuf - len ? iov[i].iov_len : sizeof tls_wbuf - len;
        memcpy(tls_wbuf + len, iov[i].iov_base, take);
        len += take;
    }
    if (len == 0)
        return 0;
    if (len < c->last_write) { /* the caller must offer at least what a retried write holds */
        errno = EINVAL;
        return -1;
    }
    t->want_read = t->want_write = false;
    ERR_clear_error();
    errno = 0;
    int r = SSL_write_ex(c->ssl, tls_wbuf, len, &n);
    OPENSSL_cleanse(tls_wbuf, len); /* plaintext: not left behind */
    if (r == 1) {
        c->last_write = 0;
        return (ssize_t)n;
    }
    c->last_write = len;
    return tls_io_error(c, r, false);
}

static bool tls_pending(const transport *t)
{
    const tls_conn *c = (const tls_conn *)t;
    return SSL_pending(c->ssl) > 0;
}

static void tls_shutdown(transport *t, int code)
{
    tls_conn *c = (tls_conn *)t;
    if (c->done && !(SSL_get_shutdown(c->ssl) & SSL_SENT_SHUTDOWN)) {
        ERR_clear_error();
        SSL_shutdown(c->ssl);
        ERR_clear_error();
    }
}

static void tls_destroy(transport *t)
{
    tls_conn *c = (tls_conn *)t;
    if (!c)
        return;
    tls_ocsp_clear(c);
    SSL_free(c->ssl);
    free(c->subject);
    free(c->cn);
    free(c->fail_subject);
    free(c->peer);
    free(c);
}

static const char *tls_peer_subject(const transport *t)
{
    return ((const tls_conn *)t)->subject;
}

static const char *tls_peer_cn(const transport *t)
{
    return ((const tls_conn *)t)->cn;
}

static const transport_ops tls_ops = {
    .name = "tls",
    .handshake = tls_handshake,
    .read = tls_read,
    .writev = tls_writev,
    .pending = tls_pending,
    .shutdown = tls_shutdown,
    .destroy = tls_destroy,
    .peer_subject = tls_peer_subject,
    .peer_cn = tls_peer_cn,
};

transport *transport_tls_new(tls_context *ctx, int fd, const char *peer)
{
    tls_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->base.ops = &tls_ops;
    c->base.fd = fd;
    c->ctx = ctx;
    c->peer = strdup(peer ? peer : "?");
    c->ssl = c->peer ? SSL_new(ctx->ssl_ctx) : NULL;
    if (!c->ssl || !SSL_set_fd(c->ssl, fd) || !SSL_set_ex_data(c->ssl, tls_conn_index, c)) {
        SSL_free(c->ssl);
        free(c->peer);
        free(c);
        return NULL;
    }
    SSL_set_accept_state(c->ssl);
    return &c->base;
}

/* The TLS transport at or under t, or NULL. */
static tls_conn *tls_conn_of(const transport *t)
{
    while (t && t->ops != &tls_ops)
        t = t->inner;
    return (tls_conn *)t;
}

bool transport_is_tls(const transport *t)
{
    return tls_conn_of(t) != NULL;
}

bool transport_tls_recheck(transport *t)
{
    tls_conn *c = tls_conn_of(t);
    X509 *leaf = c ? SSL_get0_peer_certificate(c->ssl) : NULL;
    if (!leaf)
        return true;
    X509_STORE_CTX *x = X509_STORE_CTX_new();
    bool ok = false;
    free(c->fail_subject);
    c->fail_subject = NULL;
    if (x && X509_STORE_CTX_init(x, SSL_CTX_get_cert_store(c->ctx->ssl_ctx), leaf,
                                 SSL_get_peer_cert_chain(c->ssl))) {
        X509_STORE_CTX_set_ex_data(x, tls_store_index, c);
        X509_STORE_CTX_set_verify_cb(x, tls_verify_cb);
        X509_STORE_CTX_set_purpose(x, X509_PURPOSE_SSL_CLIENT);
        X509_STORE_CTX_set_depth(x, c->ctx->s.verify_depth > 0 ? c->ctx->s.verify_depth : 4);
        ok = X509_verify_cert(x) == 1;
        if (!ok) {
            int err = X509_STORE_CTX_get_error(x);
            char subject[256];
            X509_NAME_oneline(X509_get_subject_name(leaf), subject, sizeof subject);
            const char *why = err == X509_V_ERR_CRL_HAS_EXPIRED ? "a CRL is past its nextUpdate"
                                                                : X509_verify_cert_error_string(err);
            log_warning("tls: disconnecting %s on %s after reload: %s (peer subject \"%s\")", c->peer,
                        c->ctx->s.name ? c->ctx->s.name : "listener", why, subject);
            tls_audit(c, err == X509_V_ERR_CERT_REVOKED ? "cert_revoked" : "cert_rejected", "disconnected", why,
                      c->subject ? c->subject : subject);
        }
    }
    X509_STORE_CTX_free(x);
    ERR_clear_error();
    return ok;
}

const char *transport_tls_protocol(const transport *t)
{
    tls_conn *c = tls_conn_of(t);
    return c ? SSL_get_version(c->ssl) : NULL;
}

const char *transport_tls_cipher(const transport *t)
{
    tls_conn *c = tls_conn_of(t);
    return c ? SSL_get_cipher_name(c->ssl) : NULL;
}

const char *transport_tls_two_factor_identity(const transport *t)
{
    tls_conn *c = tls_conn_of(t);
    return c && c->ctx->s.two_factor ? c->cn : NULL;
}

bool transport_tls_two_factor(const transport *t)
{
    tls_conn *c = tls_conn_of(t);
    return c && c->ctx->s.two_factor;
}

int tls_ocsp_fd(void)
{
    return ocsp_worker_fd();
}

void tls_ocsp_drain(void)
{
    ocsp_worker_drain();
}

const char *transport_tls_username(const transport *t)
{
    tls_conn *c = tls_conn_of(t);
    if (!c)
        return NULL;
    if (c->ctx->s.use_identity_as_username)
        return c->cn;
    if (c->ctx->s.use_subject_as_username)
        return c->subject;
    return NULL;
}
