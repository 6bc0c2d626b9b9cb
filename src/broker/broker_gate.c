/* broker_gate.c - see broker_gate.h. */
#include "broker/broker_gate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "config/config.h"
#include "net/tls.h"
#include "net/transport.h"

/* The gate keeps nothing per connection beyond its sec_conn, which the broker holds for it
 * (broker_client.security_state); who the connection is comes from the broker's client record. */
struct broker_gate {
    broker *b;
    sec_gate *g;
    uint8_t data[SCRAM_MSG_MAX]; /* Authentication Data of the answer being returned (the broker copies it) */
    auditlog *audit;             /* borrowed, may be NULL */
};

/* The listener's configuration name ("ADDR:PORT", lives as long as the configuration), or NULL. */
static const char *gate_listener_name(const broker_client *cl)
{
    const struct config_listener *l = cl->listener_user;
    return l ? l->tls.name : NULL;
}

/* Empty strings count as absent in the audit log. */
static const char *gate_nonempty(const char *s)
{
    return s && s[0] ? s : NULL;
}

/* One audit event about client cl: what the connection told so far (the broker keeps it: address, client
 * identifier, username; the certificate's subject comes from the transport). Never a password. */
static void gate_audit(broker_gate *bg, const broker_client *cl, const char *type, const char *outcome,
                       const char *reason)
{
    if (!auditlog_enabled(bg->audit))
        return;
    const transport *t = cl->transport;
    auditlog_event ev = {.type = type, .outcome = outcome, .reason = reason};
    ev.listener = gate_listener_name(cl);
    ev.address = gate_nonempty(cl->address);
    ev.port = cl->port;
    ev.client_id = gate_nonempty(cl->client_id);
    ev.username = gate_nonempty(cl->username);
    ev.cert_subject = gate_nonempty(t && t->ops && t->ops->peer_subject ? t->ops->peer_subject(t) : NULL);
    auditlog_emit(bg->audit, &ev, auditlog_now_ms());
}

/* A connection refused at accept (a connection limit, or out of memory): `limit_hit` with the limit's name,
 * then `connect_refused` with the same reason. */
static void gate_audit_refusal(broker_gate *bg, const broker_client *cl, const char *why)
{
    if (!auditlog_enabled(bg->audit))
        return;
    if (strcmp(why, "out_of_memory")) {
        auditlog_event ev = {.type = "limit_hit", .listener = gate_listener_name(cl), .address = cl->address,
                             .port = cl->port, .outcome = "refused", .reason = why};
        secevent_add_text(&ev, "limit", why);
        auditlog_emit(bg->audit, &ev, auditlog_now_ms());
    }
    gate_audit(bg, cl, "connect_refused", "refused", why);
}

/* The listener's allow_anonymous, from its configuration record. */
static bool gate_listener_anonymous(const broker_client *cl)
{
    const struct config_listener *l = cl->listener_user;
    return l ? l->allow_anonymous : false;
}

/* The connection's state is its sec_conn, nothing else: the broker keeps the pointer. */
static bool gate_accept(void *ctx, const broker_client *cl, uint64_t cookie, void **state)
{
    broker_gate *bg = ctx;
    const char *name = gate_listener_name(cl);
    sec_conn *sec = sec_gate_accept(bg->g, cl->listener_port, name ? name : "-", gate_listener_anonymous(cl),
                                    cl->address);

    (void)cookie;
    if (!sec) {
        gate_audit_refusal(bg, cl, sec_gate_refusal(bg->g));
        return false;
    }
    *state = sec;
    return true;
}

/* The broker's own connection caps (max_connections_global, of the listener, per address) refused cl. */
static void gate_refused(void *ctx, const broker_client *cl, const char *why)
{
    gate_audit(ctx, cl, "connect_refused", "refused", why);
}

static void gate_closed(void *ctx, uint64_t cookie, void *state)
{
    broker_gate *bg = ctx;

    (void)cookie;
    if (state)
        sec_gate_close(bg->g, state);
}

/* Turns a gate reply into the broker's answer. Returns BROKER_AUTH_DONE or BROKER_AUTH_PENDING. */
static int gate_answer(broker_gate *bg, const broker_client *cl, const sec_reply *r, broker_auth_result *out)
{
    memset(out, 0, sizeof *out);
    if (r->kind == SEC_REPLY_PENDING)
        return BROKER_AUTH_PENDING;
    out->reason = r->reason;
    if (r->has_auth && r->auth_data_len) {
        memcpy(bg->data, r->auth_data, r->auth_data_len);
        out->data = bg->data;
        out->data_len = r->auth_data_len;
    }
    sec_conn *sec = cl->security_state;
    if (r->kind == SEC_REPLY_CONNACK && sec_conn_take_reauth(sec)) {
        gate_audit(bg, cl, r->reason == 0 ? "reauth_success" : "reauth_failure",
                   r->reason == 0 ? "success" : "failure", r->reason ? mqtt_reason_name(r->reason) : NULL);
    } else if (r->kind == SEC_REPLY_CONNACK && r->reason == 0) {
        sec_gate_authenticated(bg->g, sec);
        gate_audit(bg, cl, "connect_accepted", "success", NULL);
    } else if (r->kind == SEC_REPLY_CONNACK && r->refusal) {
        gate_audit(bg, cl, "connect_refused", "failure", r->refusal);
    } else if (r->kind == SEC_REPLY_CONNACK) {
        bool bad_login = r->reason == MQTT_RC_BAD_USERNAME_OR_PASSWORD || r->reason == MQTT_RC_NOT_AUTHORIZED;
        gate_audit(bg, cl, bad_login ? "auth_failure" : "connect_refused", "failure", mqtt_reason_name(r->reason));
    }
    return BROKER_AUTH_DONE;
}

/* True if the client's listener takes usernames from client certificates. */
static bool gate_maps_username(const broker_client *cl)
{
    const struct config_listener *l = cl->listener_user;
    return l && (l->tls.use_identity_as_username || l->tls.use_subject_as_username);
}

/* security.cert_username: the certificate's CN or subject on listeners that map it (see broker.h). */
static int gate_cert_username(void *ctx, const broker_client *cl, const char **name)
{
    (void)ctx;
    if (!gate_maps_username(cl))
        return 0;
    *name = transport_tls_username(cl->transport);
    return 1;
}

/* The CONNECT decision by listener kind: certificate identity as username (no password), two factors
 * (certificate CN bound to the username, then the password), or the password / SCRAM / anonymous rules. */
static void gate_login(broker_gate *bg, const broker_client *cl, const mqtt_connect *ck, uint64_t cookie,
                       sec_reply *r)
{
    sec_conn *sec = cl->security_state;
    const struct config_listener *l = cl->listener_user;
    if (gate_maps_username(cl)) {
        const char *name = transport_tls_username(cl->transport);
        if (ck->version == MQTT_V5 && (ck->props.present & MQTT_PROP_BIT(MQTT_PROP_AUTH_METHOD))) {
            memset(r, 0, sizeof *r); /* the certificate is the authentication: no method to run, none to reuse */
            r->reason = MQTT_RC_BAD_AUTH_METHOD;
            r->refusal = "certificate login: an Authentication Method is not accepted";
            return;
        }
        if (name) {
            sec_gate_certificate_login(bg->g, sec, ck, name, r);
            return;
        }
        log_notice("auth: refused reason=no_certificate_identity address=%s listener=%s", cl->address,
                   gate_listener_name(cl) ? gate_listener_name(cl) : "-");
        memset(r, 0, sizeof *r);
        r->reason = MQTT_RC_BAD_USERNAME_OR_PASSWORD;
        r->refusal = "the client certificate has no identity to use as username";
        return;
    }
    if (l && l->tls.two_factor &&
        sec_gate_require_identity(sec, transport_tls_two_factor_identity(cl->transport)) < 0) {
        memset(r, 0, sizeof *r);
        r->reason = MQTT_RC_SERVER_BUSY;
        return;
    }
    sec_gate_connect(bg->g, sec, cookie, ck, r);
}

static int gate_authenticate(void *ctx, const broker_client *cl, const mqtt_connect *ck, uint64_t cookie,
                             broker_auth_result *out)
{
    broker_gate *bg = ctx;
    sec_reply r;

    if (!cl->security_state) { /* a connection the accept hook never saw (broker_attach): refuse */
        memset(out, 0, sizeof *out);
        out->reason = MQTT_RC_NOT_AUTHORIZED;
        return BROKER_AUTH_DONE;
    }
    gate_login(bg, cl, ck, cookie, &r);
    return gate_answer(bg, cl, &r, out);
}

/* An AUTH packet handed to the gate's step (CONNECT exchange or re-authentication); a connection the accept
 * hook never saw gets a protocol error. */
static int gate_auth_packet(broker_gate *bg, const broker_client *cl, const mqtt_reason_only *packet,
                            void (*step)(sec_gate *, sec_conn *, const mqtt_reason_only *, sec_reply *),
                            broker_auth_result *out)
{
    sec_reply r;

    if (!cl->security_state) {
        memset(out, 0, sizeof *out);
        out->reason = MQTT_RC_PROTOCOL_ERROR;
        return BROKER_AUTH_DONE;
    }
    step(bg->g, cl->security_state, packet, &r);
    return gate_answer(bg, cl, &r, out);
}

static int gate_auth_step(void *ctx, const broker_client *cl, const mqtt_reason_only *packet, uint64_t cookie,
                          broker_auth_result *out)
{
    (void)cookie;
    return gate_auth_packet(ctx, cl, packet, sec_gate_auth, out);
}

/* AUTH 0x19 after CONNACK: SCRAM again, for the same user, on the loop like the CONNECT exchange. */
static int gate_reauthenticate(void *ctx, const broker_client *cl, const mqtt_reason_only *packet, uint64_t cookie,
                               broker_auth_result *out)
{
    (void)cookie;
    return gate_auth_packet(ctx, cl, packet, sec_gate_reauth, out);
}

/* Finished verifications: answer their connections (those still there). */
static void gate_results(void *ctx)
{
    broker_gate *bg = ctx;
    uint64_t cookie;
    sec_reply r;
    broker_auth_result out;

    while (sec_gate_take_result(bg->g, &cookie, &r)) {
        const broker_client *cl = broker_auth_waiting(bg->b, cookie);
        if (!cl || !cl->security_state)
            continue; /* the client went away meanwhile */
        gate_answer(bg, cl, &r, &out);
        broker_auth_complete(bg->b, cookie, &out);
    }
}

static void gate_tick(void *ctx, uint64_t now_ms)
{
    broker_gate *bg = ctx;
    (void)now_ms;
    sec_gate_tick(bg->g);
}

static void gate_reload(void *ctx, broker *b)
{
    broker_gate *bg = ctx;
    (void)b;
    sec_gate_reload(bg->g);
}

broker_gate *broker_gate_install(broker *b, sec_gate *g)
{
    broker_gate *bg = calloc(1, sizeof *bg);
    broker_security sec = {0};

    if (!bg) {
        log_error("out of memory installing authentication");
        return NULL;
    }
    bg->b = b;
    bg->g = g;
    if (broker_watch_fd(b, sec_gate_fd(g), gate_results, bg) < 0 || broker_add_tick(b, gate_tick, bg) < 0) {
        log_error("cannot watch the authentication workers");
        free(bg);
        return NULL;
    }
    sec.ctx = bg;
    sec.accept = gate_accept;
    sec.closed = gate_closed;
    sec.refused = gate_refused;
    sec.authenticate = gate_authenticate;
    sec.cert_username = gate_cert_username;
    sec.auth_step = gate_auth_step;
    sec.reauthenticate = gate_reauthenticate;
    broker_set_security(b, &sec);
    if (broker_add_reload_hook(b, gate_reload, bg) < 0) {
        log_error("cannot install the password file reload");
        free(bg);
        return NULL;
    }
    return bg;
}

void broker_gate_set_audit(broker_gate *bg, auditlog *log)
{
    bg->audit = log;
}

void broker_gate_free(broker_gate *bg)
{
    free(bg);
}
