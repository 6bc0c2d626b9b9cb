/* broker_metrics.c - see broker_metrics.h. */
#include "broker/broker_metrics.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"
#include "broker/core.h"
#include "net/httpd.h"
#include "net/tls.h"
#include "security/auth_pool.h"
#include "security/passwd.h"

#define METRICS_PATH "/metrics"
#define METRICS_DEFAULT_ADDRESS "127.0.0.1"
#define METRICS_MAX_BODY (8u << 20)
#define METRICS_AUTH_QUEUE 8
#define METRICS_CREDENTIALS_MAX 1024 /* decoded "user:password" */
#define METRICS_CACHE_SLOTS 4
#define METRICS_MAC_LEN 32

/* A verified Authorization header, remembered as HMAC-SHA-256 under a per-process random key (never the
 * header itself), so that a scraper sending the same credentials every few seconds costs one HMAC instead of
 * a key derivation. Forgotten on SIGHUP (the password file may have changed). */
typedef struct metrics_cached {
    uint8_t mac[METRICS_MAC_LEN];
    bool used;
} metrics_cached;

/* What a verification job carries back (auth_job.ctx). */
typedef struct metrics_job {
    bool known; /* the user exists: an unknown user never passes, whatever the dummy hash says */
    uint8_t mac[METRICS_MAC_LEN];
} metrics_job;

struct broker_metrics {
    const rampart_config *cfg;
    broker *b;
    const broker_transports *tr;
    httpd *http;
    tls_context *tls;   /* NULL: plain HTTP */
    passwd_db *users;   /* NULL: no authentication */
    passwd_hash dummy;  /* verified for unknown users: the same work as a real entry */
    auth_pool *pool;    /* password verification off the loop */
    uint8_t cache_key[METRICS_MAC_LEN];
    metrics_cached cache[METRICS_CACHE_SLOTS];
    unsigned cache_next;
};

/* "file:line: " of the metrics_listener line, for messages. */
static void metrics_where(const rampart_config *cfg, char *out, size_t cap)
{
    if (cfg->metrics_file)
        snprintf(out, cap, "%s:%d: ", cfg->metrics_file, cfg->metrics_line);
    else
        out[0] = '\0';
}

/* The options that mean nothing without metrics_listener: refused rather than ignored. */
static int metrics_check_orphans(const rampart_config *cfg, char *err, size_t errlen)
{
    const char *orphan = cfg->metrics_password_file ? "metrics_password_file"
                         : cfg->metrics_certfile    ? "metrics_certfile"
                         : cfg->metrics_keyfile     ? "metrics_keyfile"
                                                    : NULL;
    if (!orphan)
        return 0;
    snprintf(err, errlen, "%s: %s is set but metrics_listener is not", cfg->config_file ? cfg->config_file : "config",
             orphan);
    return -1;
}

/* Builds the TLS context of the endpoint when metrics_certfile/metrics_keyfile are set. */
static int metrics_tls(broker_metrics *m, char *err, size_t errlen)
{
    const rampart_config *cfg = m->cfg;
    char where[300], why[400];
    metrics_where(cfg, where, sizeof where);
    if (!cfg->metrics_certfile && !cfg->metrics_keyfile)
        return 0;
    if (!cfg->metrics_certfile || !cfg->metrics_keyfile) {
        snprintf(err, errlen, "%smetrics_certfile and metrics_keyfile must be set together", where);
        return -1;
    }
    tls_settings ts = {.certfile = cfg->metrics_certfile, .keyfile = cfg->metrics_keyfile, .name = "metrics"};
    if (!(m->tls = tls_context_new(&ts, why, sizeof why))) {
        snprintf(err, errlen, "%smetrics TLS: %s", where, why);
        return -1;
    }
    return 0;
}

int broker_metrics_new(const rampart_config *cfg, broker_metrics **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!cfg->metrics_port)
        return metrics_check_orphans(cfg, err, errlen);
    broker_metrics *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    m->cfg = cfg;
    if (metrics_tls(m, err, errlen) < 0)
        goto fail;
    if (cfg->metrics_password_file) {
        passwd_argon2_params params = passwd_argon2_default();
        if (passwd_db_load(cfg->metrics_password_file, &m->users, err, errlen) < 0)
            goto fail;
        m->pool = auth_pool_new(1, METRICS_AUTH_QUEUE);
        if (!m->pool || passwd_hash_make_dummy(&params, &m->dummy) < 0 ||
            RAND_bytes(m->cache_key, sizeof m->cache_key) != 1) {
            snprintf(err, errlen, "metrics: cannot start password verification");
            goto fail;
        }
    }
    *out = m;
    return 0;
fail:
    broker_metrics_free(m);
    return -1;
}

/* httpd: the TLS transport when configured. */
static transport *metrics_transport(void *ctx, int fd, const char *peer)
{
    broker_metrics *m = ctx;
    return m->tls ? transport_tls_new(m->tls, fd, peer) : transport_tcp_new(fd);
}

/* Splits a decoded "user:password"; false if there is no colon. */
static bool metrics_split(const uint8_t *buf, size_t len, size_t *user_len)
{
    const uint8_t *colon = memchr(buf, ':', len);
    if (!colon)
        return false;
    *user_len = (size_t)(colon - buf);
    return true;
}

/* The cache MAC of an Authorization header value. */
static bool metrics_mac(const broker_metrics *m, const char *header, size_t len, uint8_t out[METRICS_MAC_LEN])
{
    unsigned int n = 0;
    return HMAC(EVP_sha256(), m->cache_key, (int)sizeof m->cache_key, (const unsigned char *)header, len, out, &n) &&
           n == METRICS_MAC_LEN;
}

/* True if mac is in the cache (every slot compared, in constant time). */
static bool metrics_cache_has(const broker_metrics *m, const uint8_t mac[METRICS_MAC_LEN])
{
    int found = 0;
    for (unsigned i = 0; i < METRICS_CACHE_SLOTS; i++)
        found |= m->cache[i].used & (CRYPTO_memcmp(m->cache[i].mac, mac, METRICS_MAC_LEN) == 0);
    return found != 0;
}

static void metrics_cache_add(broker_metrics *m, const uint8_t mac[METRICS_MAC_LEN])
{
    if (metrics_cache_has(m, mac))
        return;
    metrics_cached *slot = &m->cache[m->cache_next++ % METRICS_CACHE_SLOTS];
    memcpy(slot->mac, mac, METRICS_MAC_LEN);
    slot->used = true;
}

static void metrics_cache_clear(broker_metrics *m)
{
    OPENSSL_cleanse(m->cache, sizeof m->cache);
}

/* httpd: checks `Basic base64(user:password)` against the password file, on a worker thread (unless the same
 * header was verified since the last reload). */
static enum httpd_verdict metrics_authorize(void *ctx, uint64_t token, const char *header, size_t len)
{
    broker_metrics *m = ctx;
    uint8_t cred[METRICS_CREDENTIALS_MAX];
    size_t ulen = 0;
    enum httpd_verdict v = HTTPD_DENY;
    metrics_job *mj = NULL;
    if (!m->users)
        return HTTPD_ALLOW;
    if (len < 6 || strncasecmp(header, "Basic ", 6) != 0)
        return HTTPD_DENY;
    if (!(mj = calloc(1, sizeof *mj)) || !metrics_mac(m, header, len, mj->mac)) {
        free(mj);
        return HTTPD_BUSY;
    }
    if (metrics_cache_has(m, mj->mac)) {
        free(mj);
        return HTTPD_ALLOW;
    }
    const char *b64 = header + 6;
    size_t b64_len = len - 6;
    while (b64_len && *b64 == ' ')
        b64++, b64_len--;
    int n = passwd_b64_decode(b64, b64_len, cred, sizeof cred);
    if (n < 0 || !metrics_split(cred, (size_t)n, &ulen))
        goto out;
    const passwd_entry *e = passwd_db_find(m->users, cred, ulen);
    auth_job *j = auth_job_new(token, e ? &e->hash : &m->dummy, cred + ulen + 1, (size_t)n - ulen - 1);
    if (!j) {
        v = HTTPD_BUSY;
        goto out;
    }
    mj->known = e != NULL;
    j->ctx = mj;
    if (auth_pool_submit(m->pool, j) < 0) {
        j->ctx = NULL;
        auth_job_free(j);
        v = HTTPD_BUSY;
        goto out;
    }
    mj = NULL; /* the job's now */
    v = HTTPD_PENDING;
out:
    OPENSSL_cleanse(cred, sizeof cred);
    free(mj);
    return v;
}

/* Finished verifications: answer their requests. */
static void metrics_on_verified(void *ctx)
{
    broker_metrics *m = ctx;
    auth_job *j;
    while ((j = auth_pool_take_done(m->pool))) {
        metrics_job *mj = j->ctx;
        bool ok = j->result == 1 && mj->known;
        if (ok)
            metrics_cache_add(m, mj->mac);
        else
            log_notice("metrics: basic authentication failed");
        httpd_auth_done(m->http, j->cookie, ok ? HTTPD_ALLOW : HTTPD_DENY);
        free(mj);
        auth_job_free(j);
    }
}

/* Certificate expiry of one listener. */
static void metrics_expiry_sample(void *ctx, const char *listener, int64_t seconds)
{
    promtext_i64(ctx, "rampart_tls_certificate_expiry_seconds", "listener", listener, seconds);
}

/* httpd: the exposition text. */
static bool metrics_render(void *ctx, char **body, size_t *len)
{
    broker_metrics *m = ctx;
    promtext p;
    int64_t seconds;
    promtext_init(&p, METRICS_MAX_BODY);
    broker_stats_render(m->b, &p);
    promtext_family(&p, "rampart_tls_certificate_expiry_seconds", "gauge",
                    "Seconds until the notAfter of each TLS listener's certificate (negative: expired).");
    broker_transports_each_certificate(m->tr, metrics_expiry_sample, &p);
    if (tls_context_expiry_seconds(m->tls, &seconds) == 0)
        metrics_expiry_sample(&p, "metrics", seconds);
    if (p.failed || !p.buf) {
        promtext_free(&p);
        return false;
    }
    *body = p.buf;
    *len = p.len;
    return true;
}

/* SIGHUP: the password file and the certificate; a failure keeps what is in service. */
static void metrics_reload(void *ctx, broker *b)
{
    broker_metrics *m = ctx;
    char err[512];
    passwd_db *fresh = NULL;
    (void)b;
    if (m->users) {
        if (passwd_db_load(m->cfg->metrics_password_file, &fresh, err, sizeof err) < 0) {
            log_error("metrics: password file not reloaded, keeping the old one: %s", err);
        } else {
            passwd_db_free(m->users);
            m->users = fresh;
            metrics_cache_clear(m);
        }
    }
    if (m->tls)
        tls_context_reload(m->tls, err, sizeof err); /* logs its own failure */
}

static void metrics_tick(void *ctx, uint64_t now_ms)
{
    broker_metrics *m = ctx;
    httpd_tick(m->http, now_ms);
}

int broker_metrics_install(broker_metrics *m, broker *b, const broker_transports *tr)
{
    char err[512];
    const rampart_config *cfg = m->cfg;
    const char *address = cfg->metrics_address ? cfg->metrics_address : METRICS_DEFAULT_ADDRESS;
    httpd_options o = {.address = address, .port = cfg->metrics_port, .path = METRICS_PATH};
    httpd_handler h = {.ctx = m,
                       .make_transport = metrics_transport,
                       .authorize = m->users ? metrics_authorize : NULL,
                       .render = metrics_render,
                       .content_type = PROMTEXT_CONTENT_TYPE,
                       .realm = "rampart metrics"};
    m->b = b;
    m->tr = tr;
    if (!(m->http = httpd_open(b->loop, &o, &h, err, sizeof err))) {
        log_error("metrics_listener: %s", err);
        return -1;
    }
    if (broker_add_tick(b, metrics_tick, m) < 0 || broker_add_reload_hook(b, metrics_reload, m) < 0 ||
        (m->pool && broker_watch_fd(b, auth_pool_fd(m->pool), metrics_on_verified, m) < 0)) {
        log_error("metrics: cannot install timers and hooks");
        return -1;
    }
    log_notice("metrics on %s port %u (%s%s)", address, httpd_port(m->http), m->tls ? "https" : "http",
               m->users ? ", basic auth" : "");
    return 0;
}

uint16_t broker_metrics_port(const broker_metrics *m)
{
    return m && m->http ? httpd_port(m->http) : 0;
}

void broker_metrics_free(broker_metrics *m)
{
    if (!m)
        return;
    httpd_close(m->http);
    auth_pool_free(m->pool, free);
    passwd_db_free(m->users);
    tls_context_free(m->tls);
    OPENSSL_cleanse(&m->dummy, sizeof m->dummy);
    OPENSSL_cleanse(m->cache_key, sizeof m->cache_key);
    metrics_cache_clear(m);
    free(m);
}
