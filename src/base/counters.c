/* counters.c - see counters.h. */
#include "base/counters.h"

#include <assert.h>
#include <stdatomic.h>

static _Atomic uint64_t counters_values[COUNTER_COUNT];
static _Atomic int64_t counters_gauges[COUNTER_GAUGE_COUNT];

static const counter_family_info counters_families[COUNTER_FAMILY_COUNT] = {
    [COUNTER_FAMILY_AUTH_FAILURES] = {"rampart_auth_failures_total",
                                      "MQTT connections refused by authentication, by reason.", "reason"},
    [COUNTER_FAMILY_ACL_DENIALS] = {"rampart_acl_denials_total",
                                    "Operations refused by the access control list, by access kind.", "access"},
    [COUNTER_FAMILY_TLS_FAILURES] = {"rampart_tls_handshake_failures_total",
                                     "TLS handshakes that failed, by reason.", "reason"},
    [COUNTER_FAMILY_LOCKOUTS] = {"rampart_lockouts_total",
                                 "Login lockouts imposed by the login limiter, by scope.", "scope"},
    [COUNTER_FAMILY_LIMIT_HITS] = {"rampart_limit_hits_total",
                                   "Times a configured limit refused or cut something, by limit.", "limit"},
    [COUNTER_FAMILY_DROPPED] = {"rampart_messages_dropped_total",
                                "Messages not delivered or not accepted, by reason.", "reason"},
};

typedef struct counter_info {
    enum counter_family family;
    const char *label;
} counter_info;

#define C(id, fam, lab) [id] = {COUNTER_FAMILY_##fam, lab}
static const counter_info counters_info[COUNTER_COUNT] = {
    C(COUNTER_AUTH_BAD_PASSWORD, AUTH_FAILURES, "bad_password"),
    C(COUNTER_AUTH_UNKNOWN_USER, AUTH_FAILURES, "unknown_user"),
    C(COUNTER_AUTH_PASSWORD_EXPIRED, AUTH_FAILURES, "password_expired"),
    C(COUNTER_AUTH_BANNED, AUTH_FAILURES, "banned"),
    C(COUNTER_AUTH_ANONYMOUS_NOT_ALLOWED, AUTH_FAILURES, "anonymous_not_allowed"),
    C(COUNTER_AUTH_NO_PASSWORD_FILE, AUTH_FAILURES, "no_password_file"),
    C(COUNTER_AUTH_BACKOFF, AUTH_FAILURES, "backoff"),
    C(COUNTER_AUTH_LOCKED_OUT, AUTH_FAILURES, "locked_out"),
    C(COUNTER_AUTH_SERVER_BUSY, AUTH_FAILURES, "server_busy"),
    C(COUNTER_AUTH_BAD_METHOD, AUTH_FAILURES, "bad_auth_method"),
    C(COUNTER_AUTH_PROTOCOL_ERROR, AUTH_FAILURES, "protocol_error"),
    C(COUNTER_AUTH_INTERNAL_ERROR, AUTH_FAILURES, "internal_error"),
    C(COUNTER_ACL_SUBSCRIBE, ACL_DENIALS, "subscribe"),
    C(COUNTER_ACL_PUBLISH, ACL_DENIALS, "publish"),
    C(COUNTER_ACL_READ, ACL_DENIALS, "read"),
    C(COUNTER_TLS_CERT_EXPIRED, TLS_FAILURES, "certificate_expired"),
    C(COUNTER_TLS_CERT_REVOKED, TLS_FAILURES, "certificate_revoked"),
    C(COUNTER_TLS_UNKNOWN_CA, TLS_FAILURES, "unknown_ca"),
    C(COUNTER_TLS_CERT_INVALID, TLS_FAILURES, "certificate_invalid"),
    C(COUNTER_TLS_NO_CLIENT_CERT, TLS_FAILURES, "no_client_certificate"),
    C(COUNTER_TLS_CRL_EXPIRED, TLS_FAILURES, "crl_expired"),
    C(COUNTER_TLS_PROTOCOL_VERSION, TLS_FAILURES, "protocol_version"),
    C(COUNTER_TLS_NO_SHARED_CIPHER, TLS_FAILURES, "no_shared_cipher"),
    C(COUNTER_TLS_NOT_TLS, TLS_FAILURES, "not_tls"),
    C(COUNTER_TLS_CONNECTION_CLOSED, TLS_FAILURES, "connection_closed"),
    C(COUNTER_TLS_OCSP, TLS_FAILURES, "ocsp"),
    C(COUNTER_TLS_OTHER, TLS_FAILURES, "other"),
    C(COUNTER_LOCKOUT_ADDRESS, LOCKOUTS, "address"),
    C(COUNTER_LOCKOUT_NETWORK, LOCKOUTS, "network"),
    C(COUNTER_LOCKOUT_USERNAME, LOCKOUTS, "username"),
    C(COUNTER_LIMIT_MAX_CONNECTIONS, LIMIT_HITS, "max_connections"),
    C(COUNTER_LIMIT_LISTENER_MAX_CONNECTIONS, LIMIT_HITS, "listener_max_connections"),
    C(COUNTER_LIMIT_MAX_CONNECTIONS_PER_ADDRESS, LIMIT_HITS, "max_connections_per_address"),
    C(COUNTER_LIMIT_MAX_UNAUTHENTICATED, LIMIT_HITS, "max_unauthenticated"),
    C(COUNTER_LIMIT_MAX_UNAUTHENTICATED_PER_ADDRESS, LIMIT_HITS, "max_unauthenticated_per_address"),
    C(COUNTER_LIMIT_CONNECTION_RATE_PER_ADDRESS, LIMIT_HITS, "connection_rate_per_address"),
    C(COUNTER_LIMIT_CONNECTION_RATE_PER_LISTENER, LIMIT_HITS, "connection_rate_per_listener"),
    C(COUNTER_LIMIT_MAX_PACKET_SIZE, LIMIT_HITS, "max_packet_size"),
    C(COUNTER_LIMIT_MESSAGE_SIZE, LIMIT_HITS, "message_size_limit"),
    C(COUNTER_LIMIT_MAX_QUEUED_MESSAGES, LIMIT_HITS, "max_queued_messages"),
    C(COUNTER_LIMIT_MAX_QUEUED_BYTES, LIMIT_HITS, "max_queued_bytes"),
    C(COUNTER_LIMIT_MEMORY, LIMIT_HITS, "memory_limit"),
    C(COUNTER_LIMIT_OUT_BUFFER, LIMIT_HITS, "out_buffer_limit"),
    C(COUNTER_LIMIT_MAX_SUBSCRIPTIONS, LIMIT_HITS, "max_subscriptions_per_client"),
    C(COUNTER_LIMIT_AUTH_QUEUE, LIMIT_HITS, "auth_queue"),
    C(COUNTER_LIMIT_METRICS_CONNECTIONS, LIMIT_HITS, "metrics_connections"),
    C(COUNTER_DROP_QUEUE_FULL, DROPPED, "queue_full"),
    C(COUNTER_DROP_MEMORY, DROPPED, "memory_limit"),
    C(COUNTER_DROP_SLOW_CONSUMER, DROPPED, "slow_consumer"),
    C(COUNTER_DROP_TOO_LARGE_FOR_CLIENT, DROPPED, "too_large_for_client"),
    C(COUNTER_DROP_NOT_AUTHORIZED, DROPPED, "not_authorized"),
    C(COUNTER_DROP_MESSAGE_SIZE, DROPPED, "message_size_limit"),
    C(COUNTER_DROP_INVALID_PAYLOAD, DROPPED, "invalid_payload"),
    C(COUNTER_DROP_REFUSED_OTHER, DROPPED, "refused_other"),
    C(COUNTER_DROP_OUTPUT_ERROR, DROPPED, "output_error"),
};
#undef C

void counters_inc(enum counter_id id)
{
    assert(id < COUNTER_COUNT);
    atomic_fetch_add_explicit(&counters_values[id], 1, memory_order_relaxed);
}

uint64_t counters_get(enum counter_id id)
{
    assert(id < COUNTER_COUNT);
    return atomic_load_explicit(&counters_values[id], memory_order_relaxed);
}

enum counter_family counters_family_of(enum counter_id id)
{
    assert(id < COUNTER_COUNT);
    return counters_info[id].family;
}

const char *counters_label_of(enum counter_id id)
{
    assert(id < COUNTER_COUNT);
    return counters_info[id].label;
}

const counter_family_info *counters_family_info(enum counter_family f)
{
    assert(f < COUNTER_FAMILY_COUNT);
    return &counters_families[f];
}

void counters_gauge_set(enum counter_gauge g, int64_t value)
{
    assert(g < COUNTER_GAUGE_COUNT);
    atomic_store_explicit(&counters_gauges[g], value, memory_order_relaxed);
}

int64_t counters_gauge_get(enum counter_gauge g)
{
    assert(g < COUNTER_GAUGE_COUNT);
    return atomic_load_explicit(&counters_gauges[g], memory_order_relaxed);
}
