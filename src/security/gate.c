/* gate.c - see gate.h. */
#include "security/gate.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/counters.h"
#include "base/log.h"
#include "security/auth.h"
#include "security/connlimit.h"

struct sec_gate {
    auth *auth;
    connlimit *conn;
    uint8_t scram_secret[32];
    const char *refusal; /* why the last sec_gate_accept() refused */
};

/* What only some connections need (SCRAM, tls_two_factor, re-authentication): allocated at first use. */
typedef struct sec_conn_more {
    char *cert_cn;         /* the client certificate's CN under two_factor, NULL when it has none */
    scram_server *scram;   /* enhanced authentication in progress */
    uint8_t *client_id;    /* copy for the SCRAM log line */
    size_t client_id_len;
    char *identity;        /* the user SCRAM authenticated (re-authentication must prove the same); NULL */
} sec_conn_more;

/* Kept for every connection, so kept small (an idle connection costs a few hundred bytes in all,
 * docs/performance.md): the address in its compact form (expanded by conn_addr() when needed), the
 * listener's name borrowed, the rest in `more` when a connection needs it. */
struct sec_conn {
    const char *listener;  /* borrowed, see sec_gate_accept() */
    sec_conn_more *more;   /* NULL until needed (conn_more()) */
    uint8_t bytes[16];     /* sec_addr.bytes */
    uint8_t family;        /* sec_addr.family */
    bool allow_anonymous;
    bool authenticated;
    bool two_factor;       /* tls_two_factor: the username must be `cert_cn` and a password is needed */
    bool reauth;           /* a re-authentication started (sec_conn_take_reauth) */
};

static const sec_conn_more conn_more_none; /* what a connection without `more` reads */
#define MORE(c) ((const sec_conn_more *)((c)->more ? (c)->more : &conn_more_none))

/* c's rarely used state, allocated at the first call; NULL when out of memory. */
static sec_conn_more *conn_more(sec_conn *c)
{
    if (!c->more)
        c->more = calloc(1, sizeof *c->more);
    return c->more;
}

/* The connection's address, expanded. */
static void conn_addr(const sec_conn *c, sec_addr *out)
{
    sec_addr_from_bytes(c->family, c->bytes, out);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int sec_gate_new(const auth_settings *s, sec_gate **out, char *err, size_t errlen)
{
    sec_gate *g = calloc(1, sizeof *g);

    *out = NULL;
    if (!g) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (RAND_bytes(g->scram_secret, sizeof g->scram_secret) != 1) {
        snprintf(err, errlen, "no randomness");
        goto fail;
    }
    if (auth_new(&s->auth, &g->auth, err, errlen) < 0)
        goto fail;
    g->conn = connlimit_new(&s->conn);
    if (!g->conn) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    *out = g;
    return 0;
fail:
    sec_gate_free(g);
    return -1;
}

void sec_gate_free(sec_gate *g)
{
    if (!g)
        return;
    auth_free(g->auth);
    connlimit_free(g->conn);
    OPENSSL_cleanse(g, sizeof *g);
    free(g);
}

int sec_gate_fd(const sec_gate *g)
{
    return auth_fd(g->auth);
}

void sec_gate_tick(sec_gate *g)
{
    auth_tick(g->auth);
}

int sec_gate_reload(sec_gate *g)
{
    char err[512];
    int rc = auth_reload(g->auth, err, sizeof err);

    if (rc == 0)
        log_notice("auth: reloaded password and ban files");
    return rc;
}

int sec_gate_ban_rekey(sec_gate *g, const uint8_t master[32], char *err, size_t errlen)
{
    return auth_ban_rekey(g->auth, master, err, errlen);
}

uint32_t sec_gate_connect_timeout_ms(const sec_gate *g)
{
    return connlimit_get_config(g->conn)->connect_timeout_s * 1000u;
}

/* The metrics counter of a connection-limit refusal. */
static enum counter_id gate_limit_counter(enum connlimit_verdict v)
{
    switch (v) {
    case CONNLIMIT_RATE_LISTENER: return COUNTER_LIMIT_CONNECTION_RATE_PER_LISTENER;
    case CONNLIMIT_RATE_ADDRESS: return COUNTER_LIMIT_CONNECTION_RATE_PER_ADDRESS;
    case CONNLIMIT_MAX_ADDRESS: return COUNTER_LIMIT_MAX_CONNECTIONS_PER_ADDRESS;
    case CONNLIMIT_MAX_UNAUTHENTICATED: return COUNTER_LIMIT_MAX_UNAUTHENTICATED;
    case CONNLIMIT_MAX_UNAUTHENTICATED_ADDRESS:
    default: return COUNTER_LIMIT_MAX_UNAUTHENTICATED_PER_ADDRESS;
    }
}

sec_conn *sec_gate_accept(sec_gate *g, unsigned index, const char *name, bool allow_anonymous,
                          const char *address)
{
    sec_conn *c = calloc(1, sizeof *c);
    enum connlimit_verdict v;
    uint64_t now = now_ms();
    sec_addr addr;

    g->refusal = "out_of_memory";
    if (!c)
        return NULL;
    if (sec_addr_parse(address, &addr) < 0)
        sec_addr_from_sockaddr(NULL, 0, &addr);
    c->family = addr.family;
    memcpy(c->bytes, addr.bytes, sizeof c->bytes);
    c->listener = name ? name : "-";
    c->allow_anonymous = allow_anonymous;
    v = connlimit_accept(g->conn, index, &addr, now);
    if (v != CONNLIMIT_OK) {
        counters_inc(gate_limit_counter(v));
        connlimit_log_refusal(g->conn, v, &addr, c->listener, now);
        g->refusal = connlimit_verdict_name(v);
        free(c);
        return NULL;
    }
    return c;
}

const char *sec_gate_refusal(const sec_gate *g)
{
    return g->refusal ? g->refusal : "none";
}

static void conn_drop_scram(sec_conn *c)
{
    sec_conn_more *m = c->more;

    if (!m)
        return;
    scram_server_free(m->scram);
    m->scram = NULL;
    free(m->client_id);
    m->client_id = NULL;
    m->client_id_len = 0;
    if (!m->identity && !m->cert_cn) { /* nothing else kept: give the block back */
        free(m);
        c->more = NULL;
    }
}

void sec_gate_close(sec_gate *g, sec_conn *c)
{
    sec_addr addr;

    if (!c)
        return;
    conn_addr(c, &addr);
    connlimit_closed(g->conn, &addr, c->authenticated);
    if (c->more) {
        free(c->more->identity);
        c->more->identity = NULL;
        free(c->more->cert_cn);
        c->more->cert_cn = NULL;
    }
    conn_drop_scram(c);
    free(c);
}

void sec_gate_authenticated(sec_gate *g, sec_conn *c)
{
    sec_addr addr;

    if (c->authenticated)
        return;
    c->authenticated = true;
    conn_addr(c, &addr);
    connlimit_authenticated(g->conn, &addr);
    conn_drop_scram(c);
}

void sec_conn_addr(const sec_conn *c, sec_addr *out)
{
    conn_addr(c, out);
}

bool sec_conn_take_reauth(sec_conn *c)
{
    bool was = c->reauth;
    c->reauth = false;
    return was;
}

static void reply_connack(sec_reply *r, uint8_t reason)
{
    memset(r, 0, sizeof *r);
    r->kind = SEC_REPLY_CONNACK;
    r->reason = reason;
}

int sec_gate_require_identity(sec_conn *c, const char *identity)
{
    sec_conn_more *m = conn_more(c);

    c->two_factor = true;
    if (!m)
        return -1;
    free(m->cert_cn);
    m->cert_cn = identity ? strdup(identity) : NULL;
    return identity && !m->cert_cn ? -1 : 0;
}

/* tls_two_factor: refuses (reply filled, true returned, logged) a login whose username is not the
 * certificate's CN, or that carries no password (`password` false; SCRAM always proves one). */
static bool two_factor_refuses(const sec_gate *g, const sec_conn *c, const uint8_t *user, size_t ulen,
                               bool password, sec_reply *r)
{
    char u[600];
    const char *why = NULL;
    uint8_t reason = MQTT_RC_BAD_USERNAME_OR_PASSWORD;
    const char *cert_cn = MORE(c)->cert_cn;
    sec_addr addr;

    if (!c->two_factor)
        return false;
    if (!cert_cn) {
        why = "tls_two_factor: the client certificate has no CN";
        reason = MQTT_RC_NOT_AUTHORIZED;
    } else if (!user || ulen != strlen(cert_cn) || memcmp(user, cert_cn, ulen) != 0) {
        why = "tls_two_factor: username differs from the certificate CN";
    } else if (!password) {
        why = "tls_two_factor: no password";
    } else if (!auth_db(g->auth)) {
        why = "tls_two_factor: no password file";
    }
    if (!why)
        return false;
    conn_addr(c, &addr);
    log_notice("auth: refused reason=two_factor address=%s username=\"%s\" certificate_cn=\"%s\" listener=%s (%s)",
               addr.text, auth_log_escape(user, user ? ulen : 0, u, sizeof u), cert_cn ? cert_cn : "",
               c->listener, why);
    reply_connack(r, reason);
    r->refusal = why;
    return true;
}

/* Fills *at for c's CONNECT pkt; addr is the storage of the expanded address at->addr points to. */
static void attempt_fill(auth_attempt *at, sec_addr *addr, const sec_conn *c, const mqtt_connect *pkt)
{
    memset(at, 0, sizeof *at);
    conn_addr(c, addr);
    at->addr = addr;
    at->listener = c->listener;
    at->allow_anonymous = c->allow_anonymous;
    at->has_username = pkt->has_username;
    at->username = pkt->username.data;
    at->username_len = pkt->username.len;
    at->has_password = pkt->has_password;
    at->password = pkt->password.data;
    at->password_len = pkt->password.len;
    at->client_id = pkt->client_id.data;
    at->client_id_len = pkt->client_id.len;
}

static void log_scram(const sec_conn *c, const char *event, const char *user, size_t ulen)
{
    char u[600], id[600];
    sec_addr addr;

    conn_addr(c, &addr);
    log_notice("auth: %s address=%s username=\"%s\" client_id=\"%s\" listener=%s", event, addr.text,
               auth_log_escape((const uint8_t *)user, ulen, u, sizeof u),
               auth_log_escape(MORE(c)->client_id, MORE(c)->client_id_len, id, sizeof id), c->listener);
}

/* After server-first: the SCRAM user goes through the login limiter and bans (at's address, listener and
 * client id already set); refused, the exchange ends with the limiter's reason, else r carries the AUTH
 * Continue with the n bytes of server-first already in r->auth_data. */
static void scram_continue(sec_gate *g, sec_conn *c, auth_attempt *at, const char *user, size_t n, sec_reply *r)
{
    uint8_t reason;

    at->has_username = true;
    at->username = (const uint8_t *)user;
    at->username_len = strlen(user);
    reason = auth_check(g->auth, at);
    if (reason) {
        conn_drop_scram(c);
        return reply_connack(r, reason);
    }
    r->kind = SEC_REPLY_AUTH;
    r->reason = MQTT_RC_CONTINUE_AUTH;
    r->has_auth = true;
    r->auth_data_len = n;
}

/* CONNECT with Authentication Method SCRAM-SHA-256: answers server-first in an AUTH packet. */
static void connect_scram(sec_gate *g, sec_conn *c, const mqtt_connect *pkt, sec_reply *r)
{
    auth_attempt at;
    sec_addr addr;
    const char *user;
    size_t n = 0;
    sec_conn_more *m = conn_more(c);

    if (m) {
        m->client_id = malloc(pkt->client_id.len ? pkt->client_id.len : 1);
        m->scram = scram_server_new(g->scram_secret);
    }
    if (!m || !m->client_id || !m->scram) {
        conn_drop_scram(c);
        return reply_connack(r, MQTT_RC_SERVER_BUSY);
    }
    if (pkt->client_id.len)
        memcpy(m->client_id, pkt->client_id.data, pkt->client_id.len);
    m->client_id_len = pkt->client_id.len;
    memset(r, 0, sizeof *r);
    if (!(pkt->props.present & MQTT_PROP_BIT(MQTT_PROP_AUTH_DATA)) ||
        scram_server_first(m->scram, pkt->props.auth_data.data, pkt->props.auth_data.len, auth_db(g->auth),
                           r->auth_data, sizeof r->auth_data, &n) != SCRAM_OK) {
        counters_inc(COUNTER_AUTH_PROTOCOL_ERROR);
        log_scram(c, "refused reason=scram_malformed", "", 0);
        conn_drop_scram(c);
        return reply_connack(r, MQTT_RC_NOT_AUTHORIZED);
    }
    user = scram_server_username(m->scram);
    if (two_factor_refuses(g, c, (const uint8_t *)user, strlen(user), true, r)) {
        conn_drop_scram(c);
        return;
    }
    if (pkt->has_username && (pkt->username.len != strlen(user) || memcmp(pkt->username.data, user, strlen(user)))) {
        /* The broker's ACL uses the CONNECT's User Name: it must be the user SCRAM authenticates. */
        log_scram(c, "refused reason=scram_username_mismatch", user, strlen(user));
        conn_drop_scram(c);
        return reply_connack(r, MQTT_RC_NOT_AUTHORIZED);
    }
    attempt_fill(&at, &addr, c, pkt);
    scram_continue(g, c, &at, user, n, r);
}

void sec_gate_connect(sec_gate *g, sec_conn *c, uint64_t cookie, const mqtt_connect *pkt, sec_reply *r)
{
    auth_attempt at;
    sec_addr addr;

    if (pkt->version == MQTT_V5 && (pkt->props.present & MQTT_PROP_BIT(MQTT_PROP_AUTH_METHOD))) {
        const mqtt_bytes *m = &pkt->props.auth_method;
        if (m->len != strlen(SEC_AUTH_METHOD) || memcmp(m->data, SEC_AUTH_METHOD, m->len)) {
            counters_inc(COUNTER_AUTH_BAD_METHOD);
            conn_addr(c, &addr);
            log_notice("auth: refused reason=bad_auth_method address=%s listener=%s", addr.text, c->listener);
            return reply_connack(r, MQTT_RC_BAD_AUTH_METHOD);
        }
        conn_drop_scram(c);
        return connect_scram(g, c, pkt, r);
    }
    if (two_factor_refuses(g, c, pkt->has_username ? pkt->username.data : NULL, pkt->username.len,
                           pkt->has_password, r))
        return;
    attempt_fill(&at, &addr, c, pkt);
    memset(r, 0, sizeof *r);
    if (auth_begin(g->auth, &at, cookie, &r->reason) == AUTH_PENDING)
        r->kind = SEC_REPLY_PENDING;
}

void sec_gate_certificate_login(sec_gate *g, sec_conn *c, const mqtt_connect *pkt, const char *username,
                                sec_reply *r)
{
    auth_attempt at;
    sec_addr addr;

    attempt_fill(&at, &addr, c, pkt);
    at.has_username = true;
    at.username = (const uint8_t *)username;
    at.username_len = strlen(username);
    at.has_password = false;
    at.password = NULL;
    at.password_len = 0;
    reply_connack(r, auth_certificate(g->auth, &at));
}

void sec_gate_auth(sec_gate *g, sec_conn *c, const mqtt_reason_only *pkt, sec_reply *r)
{
    auth_attempt at;
    sec_addr addr;
    const char *user;
    uint8_t final[SCRAM_MSG_MAX], reason;
    size_t n = 0;
    int rc;
    const mqtt_bytes *m = &pkt->props.auth_method;
    sec_conn_more *more = c->more;

    conn_addr(c, &addr);
    if (!more || !more->scram || pkt->reason != MQTT_RC_CONTINUE_AUTH ||
        !(pkt->props.present & MQTT_PROP_BIT(MQTT_PROP_AUTH_METHOD)) || m->len != strlen(SEC_AUTH_METHOD) ||
        memcmp(m->data, SEC_AUTH_METHOD, m->len)) {
        counters_inc(COUNTER_AUTH_PROTOCOL_ERROR);
        log_notice("auth: refused reason=unexpected_auth_packet address=%s listener=%s", addr.text, c->listener);
        conn_drop_scram(c);
        return reply_connack(r, MQTT_RC_PROTOCOL_ERROR);
    }
    rc = (pkt->props.present & MQTT_PROP_BIT(MQTT_PROP_AUTH_DATA))
             ? scram_server_final(more->scram, pkt->props.auth_data.data, pkt->props.auth_data.len, final,
                                  sizeof final, &n)
             : SCRAM_MALFORMED;
    user = scram_server_username(more->scram);
    memset(&at, 0, sizeof at);
    at.addr = &addr;
    at.listener = c->listener;
    at.has_username = true;
    at.username = (const uint8_t *)user;
    at.username_len = strlen(user);
    at.client_id = more->client_id;
    at.client_id_len = more->client_id_len;
    reason = auth_record(g->auth, &at, rc == SCRAM_OK, "scram-sha-256");
    if (reason == 0 && more->identity && strcmp(more->identity, user) != 0)
        reason = MQTT_RC_NOT_AUTHORIZED; /* re-authentication as someone else (checked at its start too) */
    reply_connack(r, reason);
    if (reason == 0) {
        r->has_auth = true;
        memcpy(r->auth_data, final, n);
        r->auth_data_len = n;
        if (!more->identity && !(more->identity = strdup(user)))
            reply_connack(r, MQTT_RC_SERVER_BUSY);
    }
    conn_drop_scram(c);
}

void sec_gate_reauth(sec_gate *g, sec_conn *c, const mqtt_reason_only *pkt, sec_reply *r)
{
    auth_attempt at;
    sec_addr addr;
    const char *user;
    size_t n = 0;
    const mqtt_bytes *m = &pkt->props.auth_method;
    sec_conn_more *more = c->more;

    c->reauth = true;
    conn_addr(c, &addr);
    if (!c->authenticated || !more || !more->identity || more->scram || pkt->reason != MQTT_RC_REAUTHENTICATE ||
        !(pkt->props.present & MQTT_PROP_BIT(MQTT_PROP_AUTH_METHOD)) || m->len != strlen(SEC_AUTH_METHOD) ||
        memcmp(m->data, SEC_AUTH_METHOD, m->len)) {
        log_notice("auth: refused reason=unexpected_reauth address=%s listener=%s", addr.text, c->listener);
        conn_drop_scram(c);
        return reply_connack(r, MQTT_RC_PROTOCOL_ERROR);
    }
    more->scram = scram_server_new(g->scram_secret);
    if (!more->scram)
        return reply_connack(r, MQTT_RC_SERVER_BUSY);
    memset(r, 0, sizeof *r);
    if (!(pkt->props.present & MQTT_PROP_BIT(MQTT_PROP_AUTH_DATA)) ||
        scram_server_first(more->scram, pkt->props.auth_data.data, pkt->props.auth_data.len, auth_db(g->auth),
                           r->auth_data, sizeof r->auth_data, &n) != SCRAM_OK) {
        log_scram(c, "refused reason=scram_malformed reauth", "", 0);
        conn_drop_scram(c);
        return reply_connack(r, MQTT_RC_NOT_AUTHORIZED);
    }
    user = scram_server_username(more->scram);
    if (strcmp(user, more->identity) != 0) {
        log_scram(c, "refused reason=reauth_other_user", user, strlen(user));
        conn_drop_scram(c);
        return reply_connack(r, MQTT_RC_NOT_AUTHORIZED);
    }
    memset(&at, 0, sizeof at);
    at.addr = &addr;
    at.listener = c->listener;
    scram_continue(g, c, &at, user, n, r);
}

bool sec_gate_take_result(sec_gate *g, uint64_t *cookie, sec_reply *r)
{
    uint8_t reason;

    if (!auth_take_result(g->auth, cookie, &reason))
        return false;
    reply_connack(r, reason);
    return true;
}
