/*
 * broker.h - the MQTT broker: settings, the security hooks other modules plug in, and the run loop.
 *
 * Hook points (each a function the broker calls; NULL means the built-in default):
 *   security.authenticate  on CONNECT, before any session is touched, possibly asynchronous
 *                          (broker_auth_complete) and multi-step (AUTH packets through auth_step).
 *                          Default: accept when the listener allows anonymous clients, otherwise 0x87 (Not
 *                          authorized); 0x8C for a CONNECT with an Authentication Method.
 *   security.authorize     on SUBSCRIBE (each filter), on PUBLISH from a client (and its will), and before each
 *                          delivery (BROKER_ACCESS_READ); returns true to allow. Default: allow.
 *   transports             a listener's transport factory (listener_set_transport), set by whoever opens TLS /
 *                          WebSocket listeners; see broker_listener_hook.
 *   reload hooks           called on SIGHUP (broker_add_reload_hook).
 */
#ifndef RAMPART_BROKER_BROKER_H
#define RAMPART_BROKER_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec/mqtt.h"
#include "net/listener.h"

#define BROKER_MAX_LISTENERS 64

typedef struct broker broker;

/* One listener and the settings that apply to the clients it accepts. */
typedef struct broker_listener_settings {
    char *address;        /* NULL: every interface */
    uint16_t port;
    char *bind_interface; /* NULL: none */
    int family;           /* AF_UNSPEC, AF_INET, AF_INET6 */
    void *user;           /* the configuration's own listener record, for transport hooks; may be NULL */
    bool allow_anonymous;
    bool allow_zero_length_clientid;
    uint8_t max_qos;
    uint16_t max_topic_alias;  /* inbound aliases we accept (Topic Alias Maximum) */
    int32_t max_connections;   /* on this listener; -1: no limit */
    char *mount_point;         /* prefix added to every topic of this listener's clients; NULL: none */
    bool use_username_as_clientid; /* the username replaces the client identifier */
    uint32_t connections;      /* current count (maintained by the broker) */
    uint64_t accepted;         /* connections accepted so far (maintained by the broker, for metrics) */
} broker_listener_settings;

/* Every limit the broker enforces. broker_settings_default() fills in Rampart's defaults. */
typedef struct broker_settings {
    broker_listener_settings listeners[BROKER_MAX_LISTENERS];
    int nlisteners;
    uint32_t max_connections;        /* in all listeners together; 0: unlimited (still bounded by file
                                        descriptors; the configuration always sets one, max_connections_global) */
    uint32_t max_connections_per_ip; /* 0: unlimited */
    uint32_t max_packet_size;        /* after CONNECT is accepted */
    uint32_t max_packet_size_unauth; /* before: caps the CONNECT packet */
    uint32_t message_size_limit;     /* payload bytes, 0: no limit beyond max_packet_size */
    uint16_t max_inflight_messages;  /* our Receive Maximum and the outbound window cap */
    uint32_t max_queued_messages;    /* per client */
    size_t max_queued_bytes;         /* per client */
    bool queue_qos0_messages;
    uint16_t max_keepalive;          /* 0: no maximum */
    uint32_t connect_timeout_s;      /* deadline for CONNECT after accept */
    bool retain_available;
    uint32_t max_subscriptions;       /* per client, 0: unlimited */
    uint32_t max_sessions;            /* sessions in all (connected and offline), 0: unlimited */
    uint16_t max_topic_levels;
    uint32_t max_user_properties;     /* per property set */
    uint32_t max_session_expiry;      /* seconds; UINT32_MAX: no cap (persistent_client_expiration) */
    size_t memory_limit;              /* global ceiling on message + output bytes, 0: none */
    size_t out_buffer_limit;          /* per connection: above it QoS 0 is dropped and reading pauses */
    uint32_t sys_interval;            /* seconds, 0: no $SYS */
    char *clientid_prefix;            /* for assigned client identifiers */
    char *response_topic_prefix;      /* Response Information is "PREFIX/CLIENT_ID"; NULL: none is sent */
    bool no_signals;                  /* do not take over SIGINT/SIGTERM/SIGHUP (embedding, tests) */
    bool tcp_nodelay;                 /* set TCP_NODELAY on accepted sockets */
} broker_settings;

/* Access kinds for security.authorize. */
enum broker_access { BROKER_ACCESS_SUBSCRIBE = 1, BROKER_ACCESS_PUBLISH = 2, BROKER_ACCESS_READ = 3 };

/* What the hooks may know about a client. Strings are NUL-terminated and owned by the broker. */
typedef struct broker_client {
    const char *client_id;
    const char *username; /* NULL if none */
    const char *address;  /* peer IP address */
    uint16_t port;        /* peer port */
    uint16_t listener_port;
    void *listener_user;  /* broker_listener_settings.user */
    const void *transport; /* the connection's transport (peer certificate: ops->peer_cn) */
    void *security_state;  /* what broker_security.accept stored for this connection; NULL: none */
    uint8_t version;
} broker_client;

/* The answer of an authentication step. */
typedef struct broker_auth_result {
    uint8_t reason;      /* 0x00 accept; 0x18 (Continue authentication): send AUTH; anything else refuses */
    const uint8_t *data; /* Authentication Data for the CONNACK or AUTH sent (copied at once); NULL: none */
    size_t data_len;
} broker_auth_result;

enum { BROKER_AUTH_DONE = 0, BROKER_AUTH_PENDING = 1 };

typedef struct broker_security {
    void *ctx;
    /*
     * CONNECT (client->client_id is the given or assigned identifier, client->username set). Returns
     * BROKER_AUTH_DONE with *out filled, or BROKER_AUTH_PENDING: the answer comes later through
     * broker_auth_complete(cookie). While pending the connection reads nothing more; the CONNECT deadline
     * still applies. The password lives only in the packet buffer, wiped after this call: copy what you need.
     */
    int (*authenticate)(void *ctx, const broker_client *client, const mqtt_connect *connect, uint64_t cookie,
                        broker_auth_result *out);
    /* An AUTH packet during enhanced authentication (after a 0x18 answer). Same contract. NULL: AUTH is a
     * protocol error. */
    int (*auth_step)(void *ctx, const broker_client *client, const mqtt_reason_only *auth, uint64_t cookie,
                     broker_auth_result *out);
    /*
     * Before a CONNECT is processed: does the listener take the username from the client certificate
     * (use_identity_as_username / use_subject_as_username)? 1: yes, and *name is it (owned by the
     * connection's transport; NULL when the certificate has no usable identity, authenticate then refuses):
     * it replaces the CONNECT's username everywhere (client identifier under use_username_as_clientid,
     * ACL %u, sessions), and authenticate decides without a password. 0: the CONNECT's username stands.
     * May be NULL.
     */
    int (*cert_username)(void *ctx, const broker_client *client, const char **name);
    /* Re-authentication [MQTT-4.12.1]: an AUTH with reason 0x19 after CONNACK from a client that used an
     * Authentication Method at CONNECT (the broker checked it is the same method). Same contract as
     * authenticate: reason 0 re-authenticated (AUTH 0x00 is sent with result.data), 0x18 continue (AUTH 0x18;
     * the client's next AUTH goes to auth_step), anything else fails (DISCONNECT 0x87, or the reason when
     * it is a DISCONNECT code). The connection keeps working meanwhile. NULL: AUTH 0x19 is refused (0x87). */
    int (*reauthenticate)(void *ctx, const broker_client *client, const mqtt_reason_only *auth, uint64_t cookie,
                          broker_auth_result *out);
    /* The connection `cookie` went away while its authentication was pending or continuing. May be NULL. */
    void (*auth_abandoned)(void *ctx, uint64_t cookie);
    /* A connection was accepted (client->address, listener set; nothing read yet). Returns false to close it
     * at once (connection limits, already logged). *state (NULL on entry) is the hook's own per-connection
     * state: the broker keeps it in client->security_state and hands it to closed(). May be NULL. */
    bool (*accept)(void *ctx, const broker_client *client, uint64_t cookie, void **state);
    /* The broker refused a connection from client->address on its own limits (max_connections of the
     * listener or in all, per address) before any cookie existed; why names the limit. May be NULL. */
    void (*refused)(void *ctx, const broker_client *client, const char *why);
    /* The connection `cookie` is gone (called for every connection, accepted or not); state is what accept
     * stored (NULL if accept refused or stored nothing): free it here. May be NULL. */
    void (*closed)(void *ctx, uint64_t cookie, void *state);
    bool (*authorize)(void *ctx, const broker_client *client, enum broker_access access, const char *topic,
                      size_t topic_len, uint8_t qos, bool retain);
} broker_security;

/* Drives the transport handshake of every connection whose transport is waiting for something other than
 * its socket (transport.waiting: an OCSP answer); call when that something may have arrived. */
void broker_resume_waiting(broker *b);
/* Delivers the answer to a BROKER_AUTH_PENDING step. Unknown or closed cookies are ignored. */
void broker_auth_complete(broker *b, uint64_t cookie, const broker_auth_result *r);
/* The client whose authentication step `cookie` is pending (valid until the answer is delivered or the
 * connection closes), or NULL when no connection waits on that cookie. */
const broker_client *broker_auth_waiting(broker *b, uint64_t cookie);
/* Calls fn(ctx) whenever fd is readable (e.g. a worker pool's completion pipe). At most 8. Returns 0 or -1. */
int broker_watch_fd(broker *b, int fd, void (*fn)(void *ctx), void *ctx);
/* Calls fn(ctx, now_ms) about once a second. At most 8. Returns 0 or -1. */
int broker_add_tick(broker *b, void (*fn)(void *ctx, uint64_t now_ms), void *ctx);

/* Fills s with defaults and no listeners. */
void broker_settings_default(broker_settings *s);
/* Fills l with defaults (no address, port 0, anonymous refused). */
void broker_listener_default(broker_listener_settings *l);
/* Frees the strings of s (not s itself). */
void broker_settings_clear(broker_settings *s);
/* Adds a listener with default settings; address may be NULL. Returns the new entry, or NULL when full or
 * out of memory. */
broker_listener_settings *broker_settings_add_listener(broker_settings *s, const char *address, uint16_t port);

/* A broker with the given settings (copied: ownership of their strings moves to the broker, s is cleared),
 * listening on every configured listener. NULL on failure (logged). */
broker *broker_new(broker_settings *s);
/* Installs security hooks (copied). */
void broker_set_security(broker *b, const broker_security *sec);
/* Installs the authorization hook on its own, with its own ctx, so authentication (broker_set_security) and
 * authorization (the ACL, src/broker/broker_acl.c) are installed independently; when set it is used instead of
 * sec.authorize. */
typedef bool (*broker_authorize_fn)(void *ctx, const broker_client *client, enum broker_access access,
                                    const char *topic, size_t topic_len, uint8_t qos, bool retain);
void broker_set_authorizer(broker *b, broker_authorize_fn fn, void *ctx);
/* Called for each listener after it opens, so a transport provider can install its factory. */
typedef void (*broker_listener_hook_fn)(void *ctx, net_listener *l, const broker_listener_settings *ls);
void broker_set_listener_hook(broker *b, broker_listener_hook_fn fn, void *ctx);
typedef void (*broker_reload_fn)(void *ctx, broker *b);
/* Adds a function called on SIGHUP (in the order added; at most 8). Returns 0 or -1. */
int broker_add_reload_hook(broker *b, broker_reload_fn fn, void *ctx);
/*
 * Applies new settings to a running broker: every global limit, and the client-facing settings (anonymous
 * access, zero-length ids, max_qos, max_topic_alias for new connections, max_connections) of each listener
 * that has the same address and port in ns. Listeners themselves are not opened or closed: a listener
 * added or removed is logged as needing a restart. ns is not modified.
 */
void broker_reload_settings(broker *b, const broker_settings *ns);
/* Opens the listeners (after hooks are installed). Returns 0 or -1 (logged). */
int broker_listen(broker *b);
/* Runs until SIGINT / SIGTERM (or broker_stop). Returns 0. */
int broker_run(broker *b);
void broker_stop(broker *b);
/* Closes (v5: DISCONNECT 0x98 Administrative action) every connection for which keep(ctx, its transport) is
 * false, and returns how many. For transport providers, e.g. after a CRL reload. */
int broker_close_if(broker *b, bool (*keep)(void *ctx, transport *t), void *ctx, const char *why);
/* Closes every connection (v5 clients get DISCONNECT 0x8B) and frees everything. NULL is allowed. */
void broker_free(broker *b);
/* Serves an already connected, non-blocking socket as if accepted from `address` (tests, fuzzing, socket
 * activation). The broker owns fd afterwards. */
void broker_attach_fd(broker *b, int fd, const char *address);
/* Runs one iteration of the loop: waits at most timeout_ms, handles events, timers, output, closes. */
void broker_step(broker *b, int timeout_ms);
/* The port the i-th listener bound (for port 0). */
uint16_t broker_listener_port(const broker *b, int i);

#endif
