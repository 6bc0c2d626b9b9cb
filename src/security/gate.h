/*
 * gate.h - the one interface the broker calls for connection security: connection limits at accept, the
 * CONNECT decision (password through the worker pool, or SCRAM-SHA-256 through AUTH packets), bans, the
 * login limiter, reloads. It wraps src/security/auth.h, connlimit.h and scram.h so the broker needs a
 * handful of calls and one pointer per connection.
 *
 * Broker protocol (event loop thread only):
 *   accept:   c = sec_gate_accept(...)          NULL: close the socket now (refusal already logged)
 *   CONNECT:  sec_gate_connect(g, c, cookie, &connect, &reply), then act on reply.kind:
 *               SEC_REPLY_CONNACK  send CONNACK with reply.reason (and, when reply.has_auth, the properties
 *                                  Authentication Method SEC_AUTH_METHOD and Authentication Data); success
 *                                  (reason 0): call sec_gate_authenticated(g, c); else close after CONNACK
 *               SEC_REPLY_AUTH     send AUTH reason 0x18 with method and data; wait for the client's AUTH
 *               SEC_REPLY_PENDING  stop reading from the client; the answer comes through sec_gate_fd()
 *   AUTH:     sec_gate_auth(g, c, &auth_packet, &reply) while enhanced authentication is in progress
 *   fd readable: while (sec_gate_take_result(g, &cookie, &reply)) answer the connection with that cookie
 *                (if it still exists) as for SEC_REPLY_CONNACK
 *   close:    sec_gate_close(g, c) for every connection that got a sec_conn (frees it)
 *   every second: sec_gate_tick(g); SIGHUP: sec_gate_reload(g)
 *   deadline: a connection not authenticated sec_gate_connect_timeout_ms() after accept is closed by the
 *             broker (v5: DISCONNECT is not allowed before CONNACK, so just close)
 * Reason codes are MQTT 5; for 3.1.1 clients the broker maps them with mqtt_connack_code_v311().
 */
#ifndef RAMPART_SECURITY_GATE_H
#define RAMPART_SECURITY_GATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "codec/mqtt.h"
#include "security/addr.h"
#include "security/auth_options.h"
#include "security/scram.h"

#define SEC_AUTH_METHOD SCRAM_METHOD

typedef struct sec_gate sec_gate;
typedef struct sec_conn sec_conn;

enum sec_reply_kind { SEC_REPLY_CONNACK = 0, SEC_REPLY_AUTH, SEC_REPLY_PENDING };

typedef struct sec_reply {
    enum sec_reply_kind kind;
    uint8_t reason;   /* CONNACK reason (v5), 0 = accepted */
    bool has_auth;    /* carry Authentication Method + Data */
    uint8_t auth_data[SCRAM_MSG_MAX];
    size_t auth_data_len;
    const char *refusal; /* a refusal the gate decided before any password work, in words (static), or NULL */
} sec_reply;

/* Starts the gate from parsed settings (copied). Returns 0 or -1 with err ("file:line: ..." for files). */
int sec_gate_new(const auth_settings *s, sec_gate **out, char *err, size_t errlen);
void sec_gate_free(sec_gate *g);

int sec_gate_fd(const sec_gate *g);
void sec_gate_tick(sec_gate *g);
/* Re-reads the password and ban files; on a parse error the old contents stay (logged). Returns 0 or -1. */
int sec_gate_reload(sec_gate *g);
/* Persistence key rotation: re-encrypts a sealed ban file under the new master key (auth_ban_rekey). */
int sec_gate_ban_rekey(sec_gate *g, const uint8_t master[32], char *err, size_t errlen);
uint32_t sec_gate_connect_timeout_ms(const sec_gate *g);

/* A connection from `address` (IPv4 or IPv6 text; anything else counts as one "local" address) was accepted
 * on listener `index` (0..255) named `name` (for the log; borrowed: it must stay valid until sec_gate_close,
 * e.g. a string of the configuration). NULL: refuse it (logged), close the socket. */
sec_conn *sec_gate_accept(sec_gate *g, unsigned index, const char *name, bool allow_anonymous,
                          const char *address);
/* Why the last sec_gate_accept() returned NULL: the connection limit's name (connlimit_verdict_name(), e.g.
 * "max_unauthenticated_per_address") or "out_of_memory". A static string. */
const char *sec_gate_refusal(const sec_gate *g);
void sec_gate_close(sec_gate *g, sec_conn *c);
void sec_gate_authenticated(sec_gate *g, sec_conn *c);
/* Fills *out with the connection's address (kept compact, expanded on each call). */
void sec_conn_addr(const sec_conn *c, sec_addr *out);
/* True once after sec_gate_reauth() started a re-authentication on c (its outcome is then audited as a
 * re-authentication); clears the mark. Call it for SEC_REPLY_CONNACK answers only. */
bool sec_conn_take_reauth(sec_conn *c);

void sec_gate_connect(sec_gate *g, sec_conn *c, uint64_t cookie, const mqtt_connect *pkt, sec_reply *r);
/*
 * Certificate identity (src/net/tls.h), called between accept and CONNECT:
 *   sec_gate_require_identity: tls_two_factor. The CONNECT (password or SCRAM) must name `identity` (the
 *     client certificate's CN; copied; NULL when it has none: every CONNECT is refused with 0x87) as its
 *     username, and a password login must carry a password; otherwise 0x86 Bad user name or password,
 *     logged, reply.refusal set, no password work. Then the password is checked as usual. -1: out of memory.
 *   sec_gate_certificate_login: use_identity_as_username / use_subject_as_username. Instead of
 *     sec_gate_connect: `username` (the certificate's CN or subject) is the client's username, the CONNECT's
 *     username and password are ignored (mosquitto's behaviour), only bans apply (auth_certificate).
 */
int sec_gate_require_identity(sec_conn *c, const char *identity);
void sec_gate_certificate_login(sec_gate *g, sec_conn *c, const mqtt_connect *pkt, const char *username,
                                sec_reply *r);

void sec_gate_auth(sec_gate *g, sec_conn *c, const mqtt_reason_only *pkt, sec_reply *r);
bool sec_gate_take_result(sec_gate *g, uint64_t *cookie, sec_reply *r);
/*
 * Re-authentication [MQTT-4.12.1]: an AUTH with reason 0x19 on a connection that authenticated with SCRAM.
 * The client-first message must name the user who authenticated at CONNECT (else 0x87). Replies
 * SEC_REPLY_AUTH (continue: the client's next AUTH goes to sec_gate_auth, whose SEC_REPLY_CONNACK reason 0
 * means re-authenticated, with the server-final data) or SEC_REPLY_CONNACK with a failure reason (the broker
 * disconnects). 0x82 when the connection did not use SCRAM or a step is already in progress.
 */
void sec_gate_reauth(sec_gate *g, sec_conn *c, const mqtt_reason_only *pkt, sec_reply *r);

#endif
