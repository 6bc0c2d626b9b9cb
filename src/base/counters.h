/*
 * counters.h - the process-wide security and overload counters that the metrics endpoint exports
 * (docs/metrics.md): authentication failures by reason, ACL denials by access, TLS handshake failures by
 * reason, lockouts by scope, limit hits by limit, dropped messages by reason, and a few gauges (active bans).
 *
 * Every module counts at the place where it decides (next to its log line and audit event), with one call
 * and no pointer to pass around: counters_inc(COUNTER_AUTH_BAD_PASSWORD). Increments are atomic (relaxed), so
 * worker threads may count too; readers see each value exactly, not a consistent snapshot of all of them.
 * Counters only grow (Prometheus counters); gauges are set by their owner.
 *
 * Each counter belongs to one family (one metric name with one label); counters_family_of() and
 * counters_label_of() describe it, so the renderer needs no list of its own.
 */
#ifndef RAMPART_BASE_COUNTERS_H
#define RAMPART_BASE_COUNTERS_H

#include <stdint.h>

enum counter_family {
    COUNTER_FAMILY_AUTH_FAILURES,   /* rampart_auth_failures_total{reason} */
    COUNTER_FAMILY_ACL_DENIALS,     /* rampart_acl_denials_total{access} */
    COUNTER_FAMILY_TLS_FAILURES,    /* rampart_tls_handshake_failures_total{reason} */
    COUNTER_FAMILY_LOCKOUTS,        /* rampart_lockouts_total{scope} */
    COUNTER_FAMILY_LIMIT_HITS,      /* rampart_limit_hits_total{limit} */
    COUNTER_FAMILY_DROPPED,         /* rampart_messages_dropped_total{reason} */
    COUNTER_FAMILY_COUNT
};

/* In family order: the counters of one family are contiguous. */
enum counter_id {
    /* authentication failures */
    COUNTER_AUTH_BAD_PASSWORD,
    COUNTER_AUTH_UNKNOWN_USER,
    COUNTER_AUTH_PASSWORD_EXPIRED,
    COUNTER_AUTH_BANNED,
    COUNTER_AUTH_ANONYMOUS_NOT_ALLOWED,
    COUNTER_AUTH_NO_PASSWORD_FILE,
    COUNTER_AUTH_BACKOFF,
    COUNTER_AUTH_LOCKED_OUT,
    COUNTER_AUTH_SERVER_BUSY,
    COUNTER_AUTH_BAD_METHOD,
    COUNTER_AUTH_PROTOCOL_ERROR,
    COUNTER_AUTH_INTERNAL_ERROR,
    /* ACL denials */
    COUNTER_ACL_SUBSCRIBE,
    COUNTER_ACL_PUBLISH,
    COUNTER_ACL_READ,
    /* TLS handshake failures */
    COUNTER_TLS_CERT_EXPIRED,
    COUNTER_TLS_CERT_REVOKED,
    COUNTER_TLS_UNKNOWN_CA,
    COUNTER_TLS_CERT_INVALID,
    COUNTER_TLS_NO_CLIENT_CERT,
    COUNTER_TLS_CRL_EXPIRED,
    COUNTER_TLS_PROTOCOL_VERSION,
    COUNTER_TLS_NO_SHARED_CIPHER,
    COUNTER_TLS_NOT_TLS,
    COUNTER_TLS_CONNECTION_CLOSED,
    COUNTER_TLS_OCSP,
    COUNTER_TLS_OTHER,
    /* lockouts */
    COUNTER_LOCKOUT_ADDRESS,
    COUNTER_LOCKOUT_NETWORK,
    COUNTER_LOCKOUT_USERNAME,
    /* limit hits */
    COUNTER_LIMIT_MAX_CONNECTIONS,
    COUNTER_LIMIT_LISTENER_MAX_CONNECTIONS,
    COUNTER_LIMIT_MAX_CONNECTIONS_PER_ADDRESS,
    COUNTER_LIMIT_MAX_UNAUTHENTICATED,
    COUNTER_LIMIT_MAX_UNAUTHENTICATED_PER_ADDRESS,
    COUNTER_LIMIT_CONNECTION_RATE_PER_ADDRESS,
    COUNTER_LIMIT_CONNECTION_RATE_PER_LISTENER,
    COUNTER_LIMIT_MAX_PACKET_SIZE,
    COUNTER_LIMIT_MESSAGE_SIZE,
    COUNTER_LIMIT_MAX_QUEUED_MESSAGES,
    COUNTER_LIMIT_MAX_QUEUED_BYTES,
    COUNTER_LIMIT_MEMORY,
    COUNTER_LIMIT_OUT_BUFFER,
    COUNTER_LIMIT_MAX_SUBSCRIPTIONS,
    COUNTER_LIMIT_AUTH_QUEUE,
    COUNTER_LIMIT_METRICS_CONNECTIONS,
    /* dropped messages */
    COUNTER_DROP_QUEUE_FULL,
    COUNTER_DROP_MEMORY,
    COUNTER_DROP_SLOW_CONSUMER,
    COUNTER_DROP_TOO_LARGE_FOR_CLIENT,
    COUNTER_DROP_NOT_AUTHORIZED,
    COUNTER_DROP_MESSAGE_SIZE,
    COUNTER_DROP_INVALID_PAYLOAD,
    COUNTER_DROP_REFUSED_OTHER,
    COUNTER_DROP_OUTPUT_ERROR,
    COUNTER_COUNT
};

enum counter_gauge {
    COUNTER_GAUGE_BANS_ACTIVE, /* rampart_bans_active: bans in force (ban list entries) */
    COUNTER_GAUGE_COUNT
};

typedef struct counter_family_info {
    const char *name;  /* metric name, e.g. "rampart_auth_failures_total" */
    const char *help;  /* HELP text */
    const char *label; /* the one label's name, e.g. "reason" */
} counter_family_info;

/* Adds one to counter id. */
void counters_inc(enum counter_id id);
/* The current value of counter id. */
uint64_t counters_get(enum counter_id id);
/* The family counter id belongs to, and its label value (e.g. "bad_password"). */
enum counter_family counters_family_of(enum counter_id id);
const char *counters_label_of(enum counter_id id);
const counter_family_info *counters_family_info(enum counter_family f);

/* Sets / reads a gauge. */
void counters_gauge_set(enum counter_gauge g, int64_t value);
int64_t counters_gauge_get(enum counter_gauge g);

#endif
