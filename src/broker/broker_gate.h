/*
 * broker_gate.h - plugs the connection-security gate (src/security/gate.h: connection limits, bans, password
 * and SCRAM authentication, the login limiter) into the broker's security hooks (broker.h): accept, closed,
 * authenticate (asynchronous through the gate's worker pool), auth_step (AUTH packets), a watched fd for
 * finished verifications, a tick, and the SIGHUP reload.
 */
#ifndef RAMPART_BROKER_BROKER_GATE_H
#define RAMPART_BROKER_BROKER_GATE_H

#include "broker/broker.h"
#include "security/auditlog.h"
#include "security/gate.h"

typedef struct broker_gate broker_gate;

/* Installs gate g on broker b (before broker_listen). g stays owned by the caller and must outlive b;
 * the returned adapter is freed with broker_gate_free() after broker_free(). NULL on failure (logged). */
broker_gate *broker_gate_install(broker *b, sec_gate *g);
void broker_gate_free(broker_gate *bg);
/* Audit events from now on (log borrowed, may be NULL; must outlive bg): connect_refused at accept (limit or
 * ban), connect_accepted, auth_failure (bad user name or password, not authorized), connect_refused (any other
 * CONNACK refusal, e.g. banned or server busy) with the reason code's name. */
void broker_gate_set_audit(broker_gate *bg, auditlog *log);

/* The ACL installs its authorizer with broker_set_authorizer(), independently of this. */

#endif
