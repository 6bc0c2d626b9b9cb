/*
 * broker_transports.h - the transport provider for TLS, WebSocket and PROXY-protocol listeners: builds one
 * secure_listener (net/secure.h) per configured listener that needs one, installs its transport factory when
 * the broker opens the listener, and on SIGHUP reloads certificates, keys and CRLs and disconnects clients
 * whose certificate no longer verifies (revoked by a new CRL, expired). The certificate identity options
 * (use_identity_as_username, use_subject_as_username, tls_two_factor) are applied by broker_gate.c.
 */
#ifndef RAMPART_BROKER_TRANSPORTS_H
#define RAMPART_BROKER_TRANSPORTS_H

#include <stddef.h>

#include "broker/broker.h"
#include "broker/broker_config.h"
#include "config/config.h"

typedef struct broker_transports broker_transports;

/* Declares what this provider serves (TLS, WebSocket, PROXY protocol). */
void broker_transports_capabilities(broker_capabilities *caps);

/* Builds the listeners' TLS contexts and settings from cfg (which must outlive the result). Certificate, key
 * and CRL problems fail here, before anything listens: NULL with err "file:line: listener N: ...". */
broker_transports *broker_transports_new(const rampart_config *cfg, char *err, size_t errlen);

/* Lets broker b finish handshakes that wait for OCSP answers (watches the OCSP workers' eventfd when a
 * listener checks client certificates). 0, or -1 (logged). */
int broker_transports_attach(broker_transports *t, broker *b);

/* The broker_listener_hook_fn to install with broker_set_listener_hook(b, broker_transports_hook, t). */
void broker_transports_hook(void *ctx, net_listener *l, const broker_listener_settings *ls);

/* SIGHUP: reloads every TLS listener under its TLS settings in `fresh` (the re-read configuration; the
 * listener with the same address, port and protocol), or under the running settings when fresh is NULL (the
 * file has errors) or lacks that listener (listeners themselves change only with a restart; logged). A
 * failure keeps the listener's old settings and files (logged). Then closes the connections whose client
 * certificate no longer verifies. */
void broker_transports_reload(broker_transports *t, broker *b, const rampart_config *fresh);

/* Calls fn(ctx, listener name "ADDR:PORT", seconds until its certificate's notAfter) for every TLS listener,
 * with the certificate currently in service (after reloads). */
void broker_transports_each_certificate(const broker_transports *t,
                                        void (*fn)(void *ctx, const char *listener, int64_t seconds), void *ctx);

void broker_transports_free(broker_transports *t);

#endif
