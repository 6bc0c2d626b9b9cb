/* auth.c - see auth.h. */
#include "security/auth.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/counters.h"
#include "base/log.h"
#include "base/secevent.h"
#include "codec/mqtt.h"
#include "security/auth_pool.h"
#include "security/ban.h"
#include "security/ban_seal.h"

#define ESC_MAX 520 /* 128 input bytes escaped as \xHH, plus "..." */

struct auth {
    auth_config cfg;
    char *password_file, *ban_file;
    passwd_db *db;
    passwd_hash dummy;
    ban_list *bans;
    ban_keyring ban_ring; /* the ban file's keys when it is sealed */
    bool ban_sealed;
    struct stat ban_stat; /* of the ban file when last read; st_ino 0 = absent */
    limiter *lim;
    auth_pool *pool;
    auth_stats stats;
};

/* What a pending verification needs to be finished on the loop. */
typedef struct pending {
    sec_addr addr;
    char listener[64];
    char user[ESC_MAX], client[ESC_MAX]; /* escaped for the log */
    uint8_t *username;                   /* raw, for the limiter */
    size_t username_len;
    bool known;
    int64_t expires_at; /* unix seconds; 0 = never */
} pending;

auth_config auth_config_default(void)
{
    auth_config c = {
        .limiter = limiter_config_default(),
        .workers = 2,
        .queue_max = 64,
        .password_warn_before = 14 * 86400,
    };
    return c;
}

static int64_t wall_now(void)
{
    return (int64_t)time(NULL);
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

char *auth_log_escape(const uint8_t *s, size_t len, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, n = len > 128 ? 128 : len;

    for (size_t i = 0; i < n && o + 8 < cap; i++) {
        uint8_t c = s[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            out[o++] = (char)c;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    if (n < len && o + 4 < cap) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = 0;
    return out;
}

/* ---- password file ------------------------------------------------------------------------------------- */

static int64_t entry_expiry(const auth *a, const passwd_entry *e)
{
    int64_t age = e->max_age ? e->max_age : a->cfg.password_max_age;

    if (!age)
        return 0;
    return e->set_time ? e->set_time + age : 1; /* no set date but a maximum age: treat as expired */
}

/* The dummy hash mirrors the most common scheme and cost in the file, so unknown users cost the same. */
static int make_dummy(const passwd_db *db, passwd_hash *out)
{
    size_t counts[5] = {0}, best = PASSWD_SCHEME_ARGON2ID;
    const passwd_entry *model = NULL;
    passwd_argon2_params p = passwd_argon2_default();

    for (size_t i = 0; i < passwd_db_count(db); i++)
        counts[passwd_db_at(db, i)->hash.scheme]++;
    for (size_t s = 1; s < 5; s++)
        if (counts[s] > counts[best])
            best = s;
    for (size_t i = 0; i < passwd_db_count(db) && !model; i++)
        if (passwd_db_at(db, i)->hash.scheme == best)
            model = passwd_db_at(db, i);
    if (!model)
        return passwd_hash_make_dummy(&p, out);
    *out = model->hash;
    if (RAND_bytes(out->salt, (int)out->salt_len) != 1 || RAND_bytes(out->hash, (int)out->hash_len) != 1)
        return -1;
    return 0;
}

/* Logs weak schemes and expired / soon-expiring passwords of a freshly loaded file. */
static void report_db(const auth *a, const passwd_db *db)
{
    int64_t now = wall_now();
    char u[ESC_MAX];

    for (size_t i = 0; i < passwd_db_count(db); i++) {
        const passwd_entry *e = passwd_db_at(db, i);
        int64_t exp = entry_expiry(a, e);
        auth_log_escape((const uint8_t *)e->username, strlen(e->username), u, sizeof u);
        if (passwd_scheme_is_weak(e->hash.scheme))
            log_warning("auth: weak_hash username=\"%s\" scheme=%s file=%s:%u: rehash with `rampart passwd`", u,
                        passwd_scheme_name(e->hash.scheme), a->password_file, e->line);
        if (exp && exp <= now)
            log_warning("auth: password_expired username=\"%s\" file=%s:%u", u, a->password_file, e->line);
        else if (exp && exp - now <= a->cfg.password_warn_before)
            log_warning("auth: password_expires_soon username=\"%s\" in_days=%" PRId64, u, (exp - now) / 86400);
    }
}

static int load_db(auth *a, char *err, size_t errlen)
{
    passwd_db *db = NULL;
    passwd_hash dummy;

    if (!a->password_file) {
        passwd_argon2_params p = passwd_argon2_default();
        return passwd_hash_make_dummy(&p, &a->dummy);
    }
    if (passwd_db_load(a->password_file, &db, err, errlen) < 0)
        return -1;
    if (make_dummy(db, &dummy) < 0) {
        snprintf(err, errlen, "%s: no randomness for the dummy hash", a->password_file);
        passwd_db_free(db);
        return -1;
    }
    report_db(a, db);
    passwd_db_free(a->db);
    a->db = db;
    a->dummy = dummy;
    log_notice("auth: loaded %zu users from %s", passwd_db_count(db), a->password_file);
    return 0;
}

/* ---- bans --------------------------------------------------------------------------------------------- */

static bool stat_same(const struct stat *x, const struct stat *y)
{
    return x->st_ino == y->st_ino && x->st_dev == y->st_dev && x->st_size == y->st_size &&
           x->st_mtim.tv_sec == y->st_mtim.tv_sec && x->st_mtim.tv_nsec == y->st_mtim.tv_nsec;
}

/* The `ban` security event for entry e: outcome "added", "removed", "changed" or "expired"; source says who
 * made the change ("lockout", "ban_file": `rampart ban` or an edit, "expiry"). */
static void audit_ban(const ban_entry *e, const char *outcome, const char *source)
{
    char v[BAN_VALUE_MAX * 3 + 1];
    secevent ev = {.type = "ban", .outcome = outcome, .reason = e->reason};

    if (!secevent_wanted())
        return;
    ban_value_encode(e->value, e->value_len, v, sizeof v);
    if (e->kind == BAN_ADDRESS)
        ev.address = v;
    secevent_add_text(&ev, "ban_kind", ban_kind_name(e->kind));
    secevent_add_text(&ev, "ban_value", v);
    secevent_add_number(&ev, "expires", e->expires);
    secevent_add_text(&ev, "source", source);
    secevent_emit(&ev);
}

/* ban_list_diff callback: one `ban` event per difference found when the ban file changed. */
static void audit_ban_change(enum ban_change change, const ban_entry *e, void *ctx)
{
    (void)ctx;
    audit_ban(e, change == BAN_CHANGE_ADDED ? "added" : change == BAN_CHANGE_REMOVED ? "removed" : "changed",
              "ban_file");
}

/* The `ban_file` security event: outcome "rejected" (unreadable: the list in service stays), "imported" (a
 * text file found under encryption, rewritten sealed) or "rekeyed" (rewritten under the current key). */
static void audit_ban_file(const char *file, const char *outcome, const char *reason)
{
    secevent ev = {.type = "ban_file", .outcome = outcome, .reason = reason};

    if (!secevent_wanted())
        return;
    secevent_add_text(&ev, "file", file);
    secevent_emit(&ev);
}

/* ban_file_update callback that changes nothing: the update then only rewrites a text or old-key file. */
static int ban_keep_fn(ban_list *b, void *ctx)
{
    (void)b;
    (void)ctx;
    return 1;
}

/* After a read that found the text form or the old key under encryption: rewrites the file sealed under the
 * current key (under the lock, re-reading it), logs and audits it. */
static void ban_file_migrate(auth *a, enum ban_file_form form)
{
    char err[512];
    ban_list *b = NULL;
    const char *what = form == BAN_FILE_PLAIN ? "imported" : "rekeyed";

    if (ban_file_update_keyed(a->ban_file, &a->ban_ring, ban_keep_fn, NULL, &b, NULL, err, sizeof err) < 0) {
        log_error("auth: ban file %s stays %s: %s", a->ban_file,
                  form == BAN_FILE_PLAIN ? "plain text" : "under the old key", err);
        return;
    }
    if (form == BAN_FILE_PLAIN)
        log_warning("auth: ban file %s was plain text: imported %zu bans and rewrote it encrypted", a->ban_file,
                    ban_list_count(b));
    else
        log_notice("auth: ban file %s re-encrypted from the old key to the current key (%zu bans)", a->ban_file,
                   ban_list_count(b));
    audit_ban_file(a->ban_file, what, NULL);
    ban_list_free(a->bans);
    a->bans = b;
    if (stat(a->ban_file, &a->ban_stat) < 0)
        memset(&a->ban_stat, 0, sizeof a->ban_stat);
}

static int load_bans(auth *a, char *err, size_t errlen)
{
    ban_list *b = NULL;
    struct stat st;
    enum ban_file_form form = BAN_FILE_ABSENT;

    if (!a->ban_file) {
        if (!a->bans)
            a->bans = ban_list_new();
        return a->bans ? 0 : -1;
    }
    memset(&st, 0, sizeof st);
    if (stat(a->ban_file, &st) < 0 && errno != ENOENT) {
        snprintf(err, errlen, "%s: %s", a->ban_file, strerror(errno));
        return -1;
    }
    if (ban_list_read(a->ban_file, a->ban_sealed ? &a->ban_ring : NULL, &b, &form, err, errlen) < 0) {
        if (a->bans) /* a reload: the list in service stays (at start-up the caller refuses to start) */
            audit_ban_file(a->ban_file, "rejected", err);
        return -1;
    }
    if (a->bans && secevent_wanted()) { /* a reload: report what changed (not the list read at start-up) */
        ban_list_expire(b, wall_now(), NULL, NULL);
        ban_list_diff(a->bans, b, audit_ban_change, NULL);
    }
    ban_list_free(a->bans);
    a->bans = b;
    a->ban_stat = st;
    if (a->ban_sealed && (form == BAN_FILE_PLAIN || form == BAN_FILE_SEALED_OLD))
        ban_file_migrate(a, form);
    return 0;
}

static void log_ban_expired(const ban_entry *e, void *ctx)
{
    char v[ESC_MAX];
    (void)ctx;
    log_notice("auth: ban_expired kind=%s value=\"%s\"", ban_kind_name(e->kind),
               auth_log_escape(e->value, e->value_len, v, sizeof v));
    audit_ban(e, "expired", "expiry");
}

typedef struct ban_add_ctx {
    enum ban_kind kind;
    const char *value;
    int64_t expires, now;
    const char *reason;
} ban_add_ctx;

static int ban_add_fn(ban_list *b, void *ctx)
{
    ban_add_ctx *c = ctx;
    const char *why = NULL;

    ban_list_expire(b, c->now, NULL, NULL);
    return ban_list_add(b, c->kind, (const uint8_t *)c->value, strlen(c->value), c->expires, c->now, c->reason,
                        &why);
}

int auth_ban_add(auth *a, int kind, const char *value, int64_t duration_s, const char *reason)
{
    ban_add_ctx c = {(enum ban_kind)kind, value, 0, wall_now(), reason};
    ban_list *result = NULL;
    char err[512];

    c.expires = duration_s > 0 ? c.now + duration_s : 0;
    ban_entry added = {.kind = c.kind, .value = (uint8_t *)value, .value_len = strlen(value), .expires = c.expires,
                       .added = c.now, .reason = (char *)reason};
    audit_ban(&added, "added", "lockout");
    if (!a->ban_file)
        return ban_add_fn(a->bans, &c);
    if (ban_file_update_keyed(a->ban_file, a->ban_sealed ? &a->ban_ring : NULL, ban_add_fn, &c, &result, NULL, err,
                              sizeof err) < 0) {
        log_error("auth: cannot persist ban: %s; keeping it in memory", err);
        return ban_add_fn(a->bans, &c);
    }
    ban_list_free(a->bans);
    a->bans = result;
    if (stat(a->ban_file, &a->ban_stat) < 0)
        memset(&a->ban_stat, 0, sizeof a->ban_stat);
    return 0;
}

/* ban_file_update callback of a rekey: save (under the new key) whatever was read. */
static int ban_save_fn(ban_list *b, void *ctx)
{
    (void)b;
    (void)ctx;
    return 0;
}

int auth_ban_rekey(auth *a, const uint8_t master[32], char *err, size_t errlen)
{
    ban_keyring ring;
    ban_list *b = NULL;
    int rc = -1;

    if (!a->ban_sealed)
        return 0;
    memset(&ring, 0, sizeof ring);
    if (ban_seal_derive(master, &ring.key[0]) < 0) {
        snprintf(err, errlen, "cannot derive the ban file key");
        goto out;
    }
    if (ring.key[0].id == a->ban_ring.key[0].id) {
        rc = 0;
        goto out;
    }
    ring.key[1] = a->ban_ring.key[0];
    ring.count = 2;
    if (a->ban_file && ban_file_update_keyed(a->ban_file, &ring, ban_save_fn, NULL, &b, NULL, err, errlen) < 0)
        goto out;
    a->ban_ring = ring;
    if (b) {
        ban_list_free(a->bans);
        a->bans = b;
        if (stat(a->ban_file, &a->ban_stat) < 0)
            memset(&a->ban_stat, 0, sizeof a->ban_stat);
        log_notice("auth: ban file %s re-encrypted under the new key (%zu bans)", a->ban_file, ban_list_count(b));
        audit_ban_file(a->ban_file, "rekeyed", NULL);
    }
    rc = 0;
out:
    ban_keyring_wipe(&ring);
    return rc;
}

void auth_tick(auth *a)
{
    struct stat st;
    char err[512];

    if (a->ban_file) {
        memset(&st, 0, sizeof st);
        if ((stat(a->ban_file, &st) == 0 || errno == ENOENT) && !stat_same(&st, &a->ban_stat)) {
            if (load_bans(a, err, sizeof err) < 0) {
                log_error("auth: ban file not reloaded, keeping the %zu bans in service: %s", ban_list_count(a->bans),
                          err);
                a->ban_stat = st; /* do not retry until it changes again */
            } else {
                log_notice("auth: ban list reloaded (%zu bans)", ban_list_count(a->bans));
            }
        }
    }
    ban_list_expire(a->bans, wall_now(), log_ban_expired, NULL);
    counters_gauge_set(COUNTER_GAUGE_BANS_ACTIVE, (int64_t)ban_list_count(a->bans));
}

/* ---- lifecycle ---------------------------------------------------------------------------------------- */

int auth_new(const auth_config *cfg, auth **out, char *err, size_t errlen)
{
    auth *a = calloc(1, sizeof *a);

    *out = NULL;
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    a->cfg = *cfg;
    a->password_file = cfg->password_file ? strdup(cfg->password_file) : NULL;
    a->ban_file = cfg->ban_file ? strdup(cfg->ban_file) : NULL;
    a->cfg.password_file = a->password_file;
    a->cfg.ban_file = a->ban_file;
    a->cfg.ban_keys = NULL; /* copied below, not kept */
    if (cfg->ban_keys) {
        a->ban_ring = *cfg->ban_keys;
        a->ban_sealed = true;
    }
    if ((cfg->password_file && !a->password_file) || (cfg->ban_file && !a->ban_file)) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (load_db(a, err, errlen) < 0 || load_bans(a, err, errlen) < 0)
        goto fail;
    a->lim = limiter_new(&cfg->limiter);
    a->pool = auth_pool_new(cfg->workers ? cfg->workers : 2, cfg->queue_max ? cfg->queue_max : 64);
    if (!a->lim || !a->pool) {
        snprintf(err, errlen, "cannot start the authentication workers");
        goto fail;
    }
    *out = a;
    return 0;
fail:
    auth_free(a);
    return -1;
}

static void pending_free(void *ctx)
{
    pending *p = ctx;

    if (!p)
        return;
    free(p->username);
    free(p);
}

void auth_free(auth *a)
{
    if (!a)
        return;
    auth_pool_free(a->pool, pending_free);
    limiter_free(a->lim);
    ban_list_free(a->bans);
    passwd_db_free(a->db);
    OPENSSL_cleanse(&a->dummy, sizeof a->dummy);
    ban_keyring_wipe(&a->ban_ring);
    free(a->password_file);
    free(a->ban_file);
    free(a);
}

int auth_reload(auth *a, char *err, size_t errlen)
{
    int rc = 0;
    char err2[512];

    if (load_db(a, err, errlen) < 0) {
        log_error("auth: password file not reloaded, keeping the old one: %s", err);
        rc = -1;
    }
    if (load_bans(a, err2, sizeof err2) < 0) {
        log_error("auth: ban file not reloaded, keeping the old one: %s", err2);
        if (rc == 0)
            snprintf(err, errlen, "%s", err2);
        rc = -1;
    }
    return rc;
}

int auth_fd(const auth *a)
{
    return auth_pool_fd(a->pool);
}

auth_stats auth_get_stats(const auth *a)
{
    return a->stats;
}

/* ---- deciding --------------------------------------------------------------------------------------------- */

/* Logs one decision. */
static void log_decision(enum log_level level, const char *event, const sec_addr *addr, const char *user,
                         const char *client, const char *listener, const char *detail)
{
    log_msg(level, "auth: %s address=%s username=\"%s\" client_id=\"%s\" listener=%s%s%s", event, addr->text, user,
            client, listener ? listener : "-", detail && *detail ? " " : "", detail ? detail : "");
}

static uint8_t refuse(auth *a, uint8_t reason)
{
    a->stats.refused++;
    return reason;
}

/* The `lockout` security event: scope ("address", "network", "username") reached its lockout threshold. */
static void audit_lockout(const char *scope, const sec_addr *addr, const char *user, const char *client,
                          const char *listener, int64_t secs, uint32_t failures)
{
    secevent ev = {.type = "lockout", .listener = listener, .address = addr->text, .outcome = "locked_out",
                   .reason = "too many failed logins"};

    ev.username = user && *user ? user : NULL;
    ev.client_id = client && *client ? client : NULL;
    secevent_add_text(&ev, "scope", scope);
    if (!strcmp(scope, "network"))
        secevent_add_text(&ev, "network", addr->network);
    secevent_add_number(&ev, "duration_s", secs);
    secevent_add_number(&ev, "failures", failures);
    secevent_emit(&ev);
}

/* Applies a lockout reported by the limiter: bans the address and/or network. */
static void apply_lockout(auth *a, const limiter_decision *d, const sec_addr *addr, const char *user,
                          const char *client, const char *listener)
{
    char detail[128];
    int64_t secs = (int64_t)(d->retry_after_ms / 1000);

    snprintf(detail, sizeof detail, "duration_s=%" PRId64 " failures=%u", secs, d->failures);
    if (d->locked_scopes & (1u << LIMITER_SCOPE_ADDRESS)) {
        counters_inc(COUNTER_LOCKOUT_ADDRESS);
        audit_lockout("address", addr, user, client, listener, secs, d->failures);
        auth_ban_add(a, BAN_ADDRESS, addr->text, secs, "lockout: failed logins from address");
        log_decision(LOG_LEVEL_WARNING, "lockout scope=address ban_added", addr, user, client, listener, detail);
    }
    if (d->locked_scopes & (1u << LIMITER_SCOPE_NETWORK)) {
        counters_inc(COUNTER_LOCKOUT_NETWORK);
        audit_lockout("network", addr, user, client, listener, secs, d->failures);
        auth_ban_add(a, BAN_NETWORK, addr->network, secs, "lockout: failed logins from network");
        log_decision(LOG_LEVEL_WARNING, "lockout scope=network ban_added", addr, user, client, listener, detail);
    }
    if (d->locked_scopes & (1u << LIMITER_SCOPE_USERNAME)) {
        counters_inc(COUNTER_LOCKOUT_USERNAME);
        log_decision(LOG_LEVEL_WARNING, "lockout scope=username", addr, user, client, listener, detail);
        audit_lockout("username", addr, user, client, listener, secs, d->failures);
    }
    counters_gauge_set(COUNTER_GAUGE_BANS_ACTIVE, (int64_t)ban_list_count(a->bans));
}

/* The ban list's verdict on an attempt (address, network, username, client identifier): 0, or 0x8A Banned
 * (logged). */
static uint8_t precheck_ban(auth *a, const auth_attempt *at, const char *user, const char *client)
{
    const ban_entry *ban;
    char detail[160], v[ESC_MAX];

    ban = ban_list_match(a->bans, at->addr, at->has_username ? at->username : NULL, at->username_len,
                         at->client_id, at->client_id_len, wall_now());
    if (!ban)
        return 0;
    snprintf(detail, sizeof detail, "ban_kind=%s ban_value=\"%s\"", ban_kind_name(ban->kind),
             auth_log_escape(ban->value, ban->value_len, v, 64));
    counters_inc(COUNTER_AUTH_BANNED);
    log_decision(LOG_LEVEL_NOTICE, "refused reason=banned", at->addr, user, client, at->listener, detail);
    return MQTT_RC_BANNED;
}

/* Checks that come before any password work. Returns 0 to go on, else the refusal reason. */
static uint8_t precheck(auth *a, const auth_attempt *at, const char *user, const char *client)
{
    limiter_decision d;
    char detail[160];

    if (precheck_ban(a, at, user, client))
        return MQTT_RC_BANNED;
    if (!at->has_username) {
        if (at->allow_anonymous)
            return 0;
        counters_inc(COUNTER_AUTH_ANONYMOUS_NOT_ALLOWED);
        log_decision(LOG_LEVEL_NOTICE, "refused reason=anonymous_not_allowed", at->addr, user, client,
                     at->listener, NULL);
        return MQTT_RC_NOT_AUTHORIZED;
    }
    if (!a->db) {
        if (at->allow_anonymous)
            return 0;
        counters_inc(COUNTER_AUTH_NO_PASSWORD_FILE);
        log_decision(LOG_LEVEL_NOTICE, "refused reason=no_password_file", at->addr, user, client, at->listener,
                     NULL);
        return MQTT_RC_BAD_USERNAME_OR_PASSWORD;
    }
    d = limiter_check(a->lim, at->addr, at->username, at->username_len, mono_ms());
    if (d.verdict != LIMITER_ALLOW) {
        snprintf(detail, sizeof detail, "scope=%s retry_after_ms=%" PRIu64, limiter_scope_name(d.scope),
                 d.retry_after_ms);
        counters_inc(d.verdict == LIMITER_BACKOFF ? COUNTER_AUTH_BACKOFF : COUNTER_AUTH_LOCKED_OUT);
        log_decision(LOG_LEVEL_NOTICE, d.verdict == LIMITER_BACKOFF ? "refused reason=backoff" : "refused reason=locked_out",
                     at->addr, user, client, at->listener, detail);
        return d.verdict == LIMITER_BACKOFF ? MQTT_RC_CONNECTION_RATE_EXCEEDED : MQTT_RC_BANNED;
    }
    return 0;
}

int auth_begin(auth *a, const auth_attempt *at, uint64_t cookie, uint8_t *reason)
{
    char user[ESC_MAX], client[ESC_MAX];
    const passwd_entry *e = NULL;
    pending *p = NULL;
    auth_job *j = NULL;
    uint8_t rc;

    auth_log_escape(at->username, at->has_username ? at->username_len : 0, user, sizeof user);
    auth_log_escape(at->client_id, at->client_id_len, client, sizeof client);
    rc = precheck(a, at, user, client);
    if (rc != 0 || !at->has_username || !a->db) {
        if (rc == 0) {
            a->stats.accepted++;
            log_decision(LOG_LEVEL_INFO, "success method=anonymous", at->addr, user, client, at->listener, NULL);
        } else {
            a->stats.refused++;
        }
        *reason = rc;
        return AUTH_DONE;
    }
    e = passwd_db_find(a->db, at->username, at->username_len);
    p = calloc(1, sizeof *p);
    if (p)
        p->username = malloc(at->username_len ? at->username_len : 1);
    j = p && p->username ? auth_job_new(cookie, e ? &e->hash : &a->dummy, at->has_password ? at->password : NULL,
                                        at->has_password ? at->password_len : 0)
                         : NULL;
    if (!j)
        goto busy;
    memcpy(p->username, at->username, at->username_len);
    p->username_len = at->username_len;
    p->addr = *at->addr;
    snprintf(p->listener, sizeof p->listener, "%s", at->listener ? at->listener : "-");
    memcpy(p->user, user, sizeof user);
    memcpy(p->client, client, sizeof client);
    p->known = e != NULL;
    p->expires_at = e ? entry_expiry(a, e) : 0;
    j->ctx = p;
    if (auth_pool_submit(a->pool, j) < 0)
        goto busy;
    return AUTH_PENDING;
busy:
    a->stats.busy++;
    counters_inc(COUNTER_AUTH_SERVER_BUSY);
    counters_inc(COUNTER_LIMIT_AUTH_QUEUE);
    log_decision(LOG_LEVEL_WARNING, "refused reason=server_busy", at->addr, user, client, at->listener,
                 "detail=verification_queue_full");
    if (j)
        auth_job_free(j);
    pending_free(p);
    *reason = refuse(a, MQTT_RC_SERVER_BUSY);
    return AUTH_DONE;
}

/* Turns a finished verification into the answer, updating the limiter and logging. */
static uint8_t finish(auth *a, int result, pending *p, const char *method)
{
    int64_t now = wall_now();
    uint64_t now_ms = mono_ms();
    char detail[96];
    limiter_decision d;

    if (strcmp(method, "password") == 0)
        a->stats.evaluated++;
    if (result == 1 && p->known && p->expires_at && p->expires_at <= now) {
        counters_inc(COUNTER_AUTH_PASSWORD_EXPIRED);
        log_decision(LOG_LEVEL_WARNING, "failure reason=password_expired", &p->addr, p->user, p->client,
                     p->listener, NULL);
        return refuse(a, MQTT_RC_BAD_USERNAME_OR_PASSWORD);
    }
    if (result == 1 && p->known) {
        char event[64];
        limiter_record_success(a->lim, &p->addr, p->username, p->username_len, now_ms);
        a->stats.accepted++;
        snprintf(event, sizeof event, "success method=%s", method);
        log_decision(LOG_LEVEL_INFO, event, &p->addr, p->user, p->client, p->listener, NULL);
        if (p->expires_at && p->expires_at - now <= a->cfg.password_warn_before) {
            snprintf(detail, sizeof detail, "expires_in_s=%" PRId64, p->expires_at - now);
            log_decision(LOG_LEVEL_WARNING, "password_expires_soon", &p->addr, p->user, p->client, p->listener,
                         detail);
        }
        return 0;
    }
    if (result < 0)
        log_error("auth: verification failed internally for username=\"%s\"", p->user);
    d = limiter_record_failure(a->lim, &p->addr, p->username, p->username_len, now_ms);
    snprintf(detail, sizeof detail, "state=%s", d.verdict == LIMITER_BACKOFF   ? "backoff"
                                                : d.verdict == LIMITER_LOCKOUT ? "lockout"
                                                                               : "counting");
    /* unknown user and wrong password log differently (for the operator) but answer the same */
    counters_inc(result < 0 ? COUNTER_AUTH_INTERNAL_ERROR
                 : p->known ? COUNTER_AUTH_BAD_PASSWORD
                            : COUNTER_AUTH_UNKNOWN_USER);
    log_decision(LOG_LEVEL_NOTICE, p->known ? "failure reason=bad_password" : "failure reason=unknown_user",
                 &p->addr, p->user, p->client, p->listener, detail);
    if (d.locked_scopes)
        apply_lockout(a, &d, &p->addr, p->user, p->client, p->listener);
    return refuse(a, MQTT_RC_BAD_USERNAME_OR_PASSWORD);
}

bool auth_take_result(auth *a, uint64_t *cookie, uint8_t *reason)
{
    auth_job *j = auth_pool_take_done(a->pool);
    pending *p;

    if (!j)
        return false;
    p = j->ctx;
    *cookie = j->cookie;
    *reason = finish(a, j->result, p, "password");
    pending_free(p);
    auth_job_free(j);
    return true;
}

/* Fills a pending record (on the stack) from an attempt, for authentications finished on the loop. */
static void pending_fill(auth *a, const auth_attempt *at, pending *p, bool scram_only)
{
    const passwd_entry *e = a->db ? passwd_db_find(a->db, at->username, at->username_len) : NULL;

    memset(p, 0, sizeof *p);
    p->addr = *at->addr;
    snprintf(p->listener, sizeof p->listener, "%s", at->listener ? at->listener : "-");
    auth_log_escape(at->username, at->username_len, p->user, sizeof p->user);
    auth_log_escape(at->client_id, at->client_id_len, p->client, sizeof p->client);
    p->username = (uint8_t *)at->username;
    p->username_len = at->username_len;
    p->known = e && (!scram_only || e->hash.scheme == PASSWD_SCHEME_SCRAM_SHA256);
    p->expires_at = p->known ? entry_expiry(a, e) : 0;
}

uint8_t auth_check(auth *a, const auth_attempt *at)
{
    char user[ESC_MAX], client[ESC_MAX];
    uint8_t rc;

    auth_log_escape(at->username, at->has_username ? at->username_len : 0, user, sizeof user);
    auth_log_escape(at->client_id, at->client_id_len, client, sizeof client);
    rc = precheck(a, at, user, client);
    if (rc)
        a->stats.refused++;
    return rc;
}

uint8_t auth_record(auth *a, const auth_attempt *at, bool success, const char *method)
{
    pending p;

    pending_fill(a, at, &p, true);
    return finish(a, success ? 1 : 0, &p, method);
}

uint8_t auth_certificate(auth *a, const auth_attempt *at)
{
    char user[ESC_MAX], client[ESC_MAX];
    uint8_t rc;

    auth_log_escape(at->username, at->has_username ? at->username_len : 0, user, sizeof user);
    auth_log_escape(at->client_id, at->client_id_len, client, sizeof client);
    rc = precheck_ban(a, at, user, client);
    if (rc)
        return refuse(a, rc);
    a->stats.accepted++;
    log_decision(LOG_LEVEL_INFO, "success method=certificate", at->addr, user, client, at->listener, NULL);
    return 0;
}

const passwd_db *auth_db(const auth *a)
{
    return a->db;
}
