/*
 * broker_gate.h - plugs the connection-security gate (src/security/gate.h: connection limits, bans, password
 * and SCRAM authentication, the login limiter) into the broker's security hooks (broker.h): accept, closed,
 * authenticate (asynchronous through the gate's worker pool), auth_step (AUTH packets), a watched fd for
 * finished verifications, a tick, and the SIGHUP reload.
 */
#ifndef RAMPART_BROKER_BROKER_GATE_H
#define RAMPART_BROKER_BROKER_GATE_H

#include "broker/broker.h"
#include "security/gate.h"

typedef struct broker_gate broker_gate;

/* Installs gate g on broker b (before broker_listen). g stays owned by the caller and must outlive b;
 * the returned adapter is freed with broker_gate_free() after broker_free(). NULL on failure (logged). */
broker_gate *broker_gate_install(broker *b, sec_gate *g);
void broker_gate_free(broker_gate *bg);

#endif
