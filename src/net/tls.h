/*
 * tls.h - TLS for listeners (OpenSSL 3): one server context per listener, built from mosquitto-named settings,
 * and the TLS transport (transport.h) that runs over a connected socket.
 *
 * Defaults an auditor would sign: TLS 1.2 and 1.3 only; for 1.2 only ECDHE key exchange with AEAD ciphers;
 * server cipher preference; no compression; no renegotiation; stateless session tickets encrypted under keys
 * that rotate (tickets survive a reload); ALPN "mqtt" (and "http/1.1" on WebSocket listeners) accepted.
 * Client certificates are verified with a depth limit and, when CRLs are configured, revocation is checked
 * for the whole chain; a CRL past its nextUpdate refuses clients unless crl_allow_expired is set. Private
 * keys may be passphrase-protected: the passphrase comes from a file, an environment variable or a systemd
 * credential, never a prompt, and is wiped after use. A key file other users can read is refused.
 *
 * Every handshake failure is logged on one line: source address, reason, protocol, peer subject.
 * The event loop is single-threaded: nothing here locks.
 */
#ifndef RAMPART_NET_TLS_H
#define RAMPART_NET_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "net/transport.h"

#define TLS_MAX_CRL_FILES 8

/* What a listener's configuration says about TLS. Strings are borrowed for the duration of each call
 * (tls_context_new copies what it keeps). NULL / 0 means "not set". */
typedef struct tls_settings {
    const char *certfile; /* PEM certificate chain, leaf first (required) */
    const char *keyfile;  /* PEM private key, maybe encrypted (required) */
    const char *cafile;   /* CA bundle for client certificates */
    const char *capath;   /* hashed CA directory for client certificates */
    const char *crlfiles[TLS_MAX_CRL_FILES]; /* PEM CRL files (each may hold several CRLs) */
    size_t crlfile_count;
    bool require_certificate;     /* mTLS: a client without a valid certificate is refused */
    bool use_identity_as_username; /* the certificate's CN becomes the username */
    bool use_subject_as_username;  /* the certificate's subject (RFC 2253) becomes the username */
    const char *tls_version;       /* minimum: "tlsv1.2" (default) or "tlsv1.3" */
    const char *ciphers;           /* TLS 1.2 cipher list (OpenSSL syntax) */
    const char *ciphers_tls13;     /* TLS 1.3 ciphersuites */
    int verify_depth;              /* tls_verify_depth: chain depth limit, default 4 */
    bool crl_allow_expired;        /* accept clients when a CRL is past nextUpdate (default: refuse) */
    const char *ocsp_response_file; /* DER OCSP response for the server certificate, stapled */
    bool ocsp_check_clients;        /* ask an OCSP responder about each client certificate */
    const char *ocsp_responder;     /* URL overriding the certificates' AIA responder */
    int ocsp_cache_seconds;         /* how long an answer is reused, default 300 */
    int ocsp_timeout_seconds;       /* per query, default 3 */
    bool ocsp_allow_unreachable;    /* accept the client when the responder cannot answer (default: refuse) */
    const char *keyfile_passphrase_file;       /* file whose first line is the passphrase */
    const char *keyfile_passphrase_env;        /* environment variable holding it (removed after reading) */
    const char *keyfile_passphrase_credential; /* systemd credential name under $CREDENTIALS_DIRECTORY */
    int ticket_key_lifetime;       /* seconds between ticket key rotations, default 3600 */
    bool two_factor;               /* tls_two_factor: certificate AND password, username = certificate CN;
                                      implies require_certificate */
    bool websocket;                /* the listener speaks WebSocket: ALPN "http/1.1" also accepted */
    const char *name;              /* for log lines, e.g. "0.0.0.0:8883" */
} tls_settings;

typedef struct tls_context tls_context;

/*
 * Builds a listener's TLS context from settings: loads certificate, key (unlocking it if needed), CA, CRLs
 * and the OCSP response, and checks them against each other. Returns NULL with a message in err on any
 * problem (nothing is half-configured). The caller owns the result.
 */
tls_context *tls_context_new(const tls_settings *s, char *err, size_t errlen);

/*
 * Reloads certificate, key, CA, CRLs and the OCSP response from the same settings (SIGHUP). On success new
 * handshakes use the new files, connections already established continue, and 0 is returned. On failure
 * the old context stays in service, err says why, and -1 is returned.
 */
int tls_context_reload(tls_context *c, char *err, size_t errlen);

/* Seconds from now until the notAfter of the context's current server certificate (negative once expired;
 * follows reloads). Returns 0, or -1 when there is no certificate. */
int tls_context_expiry_seconds(const tls_context *c, int64_t *seconds);

/*
 * SIGHUP with a new configuration: like tls_context_reload, but new handshakes also use the listener's new
 * TLS parameters `s` (versions, ciphers, CA, CRL files, verification depth, OCSP options, ticket lifetime,
 * file paths; s->name and s->websocket are ignored: the listener's stay). s NULL: the running settings.
 * use_identity_as_username, use_subject_as_username and tls_two_factor cannot change (authentication is
 * built on them): a change fails. On failure nothing changes, the error is logged and in err, -1 returned.
 */
int tls_context_reconfigure(tls_context *c, const tls_settings *s, char *err, size_t errlen);

/* Frees the context; established connections keep what they use until they are destroyed. */
void tls_context_free(tls_context *c);

/* How many reloads succeeded (lets callers know whether to recheck connections). */
unsigned tls_context_generation(const tls_context *c);

/*
 * A server-side TLS transport over the connected non-blocking socket fd, using the context's current
 * settings. `peer` (e.g. "192.0.2.1:5555") is copied for log lines. Returns NULL on allocation failure.
 */
transport *transport_tls_new(tls_context *c, int fd, const char *peer);

/* True if t is a TLS transport (or a WebSocket transport running over one). */
bool transport_is_tls(const transport *t);

/*
 * Re-verifies the client certificate of an established TLS connection against the context's current CA and
 * CRLs (after a reload). Returns true if it is still valid or the client presented none; false (and logs
 * why) if it must be disconnected.
 */
bool transport_tls_recheck(transport *t);

/* The negotiated protocol ("TLSv1.3") and cipher of an established connection, for log lines. */
const char *transport_tls_protocol(const transport *t);
const char *transport_tls_cipher(const transport *t);

/*
 * OCSP checks of client certificates (ocsp_check_clients) run off the event loop (src/net/ocsp_worker.h):
 * while the answer is awaited the handshake returns 0 with t->waiting set. tls_ocsp_fd() (-1 when no
 * listener checks clients) becomes readable when answers arrived: call tls_ocsp_drain(), then the handshake
 * of every connection that is waiting. The CONNECT deadline bounds the wait; each query is bounded by
 * ocsp_timeout.
 */
int tls_ocsp_fd(void);
void tls_ocsp_drain(void);

/* The username the certificate provides under use_identity_as_username / use_subject_as_username (CN or
 * subject), or NULL if the listener maps none or the client presented no certificate. */
const char *transport_tls_username(const transport *t);

/* True if t runs over a tls_two_factor listener; then the CONNECT must carry a valid password AND a
 * username equal to transport_tls_two_factor_identity(t) (the certificate CN; NULL if it has none). */
bool transport_tls_two_factor(const transport *t);
const char *transport_tls_two_factor_identity(const transport *t);

#endif
