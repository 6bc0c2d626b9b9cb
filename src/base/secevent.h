/*
 * secevent.h - security events from modules that must not know the audit log: src/net (TLS handshake
 * failures, revoked certificates), src/security (lockouts, bans, connection limits, privilege changes) and the
 * broker core (limits hit). A module fills a secevent and calls secevent_emit(); the program sets one sink at
 * start-up (the broker: the security audit log, security/auditlog.h). Without a sink events are dropped, so
 * the modules stay usable (and testable) on their own.
 *
 * The fields are the audit log's (docs/audit-log.md); absent strings are NULL and left out. Up to
 * SECEVENT_MAX_EXTRA more fields (text or number) carry what one event type adds (a lockout's scope, a limit's
 * name, a privilege change's uids). Never put a secret in any field.
 *
 * The sink is set once before the event loop starts; events are emitted on the event-loop thread (or the main
 * thread during start-up): nothing here locks.
 */
#ifndef RAMPART_BASE_SECEVENT_H
#define RAMPART_BASE_SECEVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SECEVENT_MAX_EXTRA 8

typedef struct secevent_field {
    const char *key;  /* NULL = unused */
    const char *text; /* the value when not a number (NULL: the field is left out) */
    int64_t number;
    bool is_number;
} secevent_field;

typedef struct secevent {
    const char *type;         /* "acl_denied", "lockout", "limit_hit", ... (required) */
    const char *listener;     /* "127.0.0.1:1883" */
    const char *address;      /* source address */
    uint16_t port;            /* source port, 0 = absent */
    const char *client_id;
    const char *username;
    const char *cert_subject;
    const char *outcome;      /* "denied", "refused", "success", "failure", ... */
    const char *reason;
    const char *topic;
    secevent_field extra[SECEVENT_MAX_EXTRA];
} secevent;

typedef void (*secevent_sink)(void *ctx, const secevent *e);

/* Sets the sink (NULL: drop events from now on). ctx is borrowed and must outlive the sink's use. */
void secevent_set_sink(secevent_sink fn, void *ctx);
/* True when a sink is set (lets callers skip building an event nobody reads). */
bool secevent_wanted(void);
/* Hands e to the sink, if any. */
void secevent_emit(const secevent *e);

/* Adds a text / number field to e (ignored when the table is full or value is NULL). */
void secevent_add_text(secevent *e, const char *key, const char *value);
void secevent_add_number(secevent *e, const char *key, int64_t value);

/*
 * Splits a peer string "ADDRESS:PORT" (IPv4), "[ADDRESS]:PORT" (IPv6) or a bare address into e->address
 * (stored in buf of cap bytes) and e->port. A string without a port keeps port 0.
 */
void secevent_set_peer(secevent *e, const char *peer, char *buf, size_t cap);

#endif
