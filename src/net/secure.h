/*
 * secure.h - what a listener needs beyond plain TCP: TLS, WebSocket, PROXY protocol. The configuration
 * module routes the listener options below here (secure_options_set), so their parsing, ranges and defaults
 * live next to the code that uses them; docs/tls.md documents them. secure_listener_new then builds the
 * runtime (TLS context, WebSocket settings) and secure_make_transport is the listener's transport factory.
 *
 *   certfile keyfile cafile capath crlfile(repeatable) require_certificate use_identity_as_username
 *   use_subject_as_username tls_version ciphers ciphers_tls1.3 tls_verify_depth crl_allow_expired
 *   ocsp_response_file ocsp_check_clients ocsp_responder ocsp_cache_time ocsp_timeout ocsp_allow_unreachable
 *   keyfile_passphrase_file keyfile_passphrase_env keyfile_passphrase_credential tls_ticket_key_lifetime
 *   tls_two_factor
 *   protocol (mqtt|websockets) websocket_path websocket_origin(repeatable) websocket_trusted_proxy(repeatable)
 *   websocket_max_frame_size websocket_max_message_size websocket_handshake_timeout
 *   proxy_protocol (true|false) proxy_protocol_from(repeatable)
 */
#ifndef RAMPART_NET_SECURE_H
#define RAMPART_NET_SECURE_H

#include <stdbool.h>
#include <stddef.h>

#include "net/tls.h"
#include "net/transport.h"
#include "net/ws.h"

#define SECURE_MAX_LIST 16 /* entries of each repeatable list option */

/* One listener's options as parsed; strings and lists owned. */
typedef struct secure_options {
    tls_settings tls;  /* string fields point at owned copies */
    bool tls_two_factor;
    bool websocket;    /* protocol websockets */
    char *ws_path;
    char *ws_origins[SECURE_MAX_LIST];
    size_t ws_origin_count;
    ws_cidr ws_proxies[SECURE_MAX_LIST];
    size_t ws_proxy_count;
    unsigned long long ws_max_frame, ws_max_message;
    int ws_handshake_timeout; /* seconds */
    bool proxy_protocol;
    ws_cidr proxy_from[SECURE_MAX_LIST];
    size_t proxy_from_count;
} secure_options;

void secure_options_init(secure_options *o);
void secure_options_clear(secure_options *o);

/* True if name is one of the options above. */
bool secure_options_knows(const char *name);

/*
 * Sets option name to value. Returns 1 when applied, 0 when name is not one of these options, -1 when the
 * value is invalid (err gets "what is wrong"; the caller adds file:line).
 */
int secure_options_set(secure_options *o, const char *name, const char *value, char *err, size_t errlen);

/* True when the options ask for TLS (certfile or keyfile set). */
bool secure_options_tls(const secure_options *o);

typedef struct secure_listener secure_listener;

/*
 * Builds the runtime of a listener from its options: the TLS context when TLS is asked for, the WebSocket
 * and PROXY settings. Takes over what *o owns (o is left cleared, also on failure). `name` (e.g.
 * "127.0.0.1:8883") is used in log lines. Returns NULL with a message in err (certificate, key, CRL
 * problems; inconsistent options).
 */
secure_listener *secure_listener_new(secure_options *o, const char *name, char *err, size_t errlen);
void secure_listener_free(secure_listener *s);

/* The listener's transport factory (listener_transport_fn): ctx is the secure_listener. */
transport *secure_make_transport(void *ctx, int fd);

/* SIGHUP: reloads certificates, keys, CRLs, OCSP response. 0 done (or nothing to do), -1 failed (old kept). */
int secure_listener_reload(secure_listener *s);

/* After a reload: false if the connection's client certificate no longer verifies (disconnect it). */
bool secure_transport_still_valid(transport *t);

/* The client's address as the outermost authority says (PROXY header, then trusted X-Forwarded-For), or
 * NULL when neither applies (then the socket peer is the client). */
const char *secure_client_address(const transport *t);

/*
 * Username policy for a TLS client: the username the certificate supplies (use_identity_as_username /
 * use_subject_as_username), or NULL. With tls_two_factor, *must_match is set to the certificate CN that the
 * password-authenticated username must equal (NULL otherwise).
 */
const char *secure_cert_username(const secure_listener *s, const transport *t, const char **must_match);

#endif
