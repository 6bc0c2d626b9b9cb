/*
 * gatekeep.c - the broker's side of connection security (src/security/gate.h): asks the gate at accept and at
 * CONNECT, parks a connection whose password is being verified (its CONNECT frame kept, reading paused) or
 * whose SCRAM exchange is in progress, and replays the CONNECT when the answer comes. Without a gate
 * (broker_set_gate not called) none of this runs and the broker's built-in checks apply.
 */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "broker/core.h"

static void gatekeep_on_results(void *ctx, uint32_t events);

int broker_set_gate(broker *b, sec_gate *g)
{
    b->gate = g;
    if (!g)
        return 0;
    return loop_watch_add(b->loop, &b->gate_watch, sec_gate_fd(g), LOOP_READ, gatekeep_on_results, b);
}

sec_conn *gatekeep_accept(broker *b, const broker_listener_settings *ls, const char *addr, uint64_t *id)
{
    char name[96];
    unsigned index = (unsigned)(ls - b->set.listeners);

    snprintf(name, sizeof name, "%s:%u", ls->address ? ls->address : "*", ls->port);
    *id = ++b->next_conn_id;
    return sec_gate_accept(b->gate, index, name, ls->allow_anonymous, addr);
}

static void gatekeep_forget_frame(conn *c)
{
    if (c->auth_frame) {
        OPENSSL_cleanse(c->auth_frame, c->auth_frame_len);
        free(c->auth_frame);
    }
    c->auth_frame = NULL;
    c->auth_frame_len = 0;
}

void gatekeep_close(broker *b, conn *c)
{
    if (c->auth_wait)
        hmap_remove(&b->auth_waiting, &c->id, sizeof c->id);
    c->auth_wait = false;
    gatekeep_forget_frame(c);
    free(c->auth_out);
    c->auth_out = NULL;
    if (b->gate && c->sec)
        sec_gate_close(b->gate, c->sec);
    c->sec = NULL;
}

/* Sends AUTH 0x18 with the gate's data (SCRAM server-first). */
static bool gatekeep_send_auth(conn *c, const sec_reply *r)
{
    mqtt_packet p = {.type = MQTT_AUTH};

    p.u.auth.reason = MQTT_RC_CONTINUE_AUTH;
    p.u.auth.props.present = MQTT_PROP_BIT(MQTT_PROP_AUTH_METHOD) | MQTT_PROP_BIT(MQTT_PROP_AUTH_DATA);
    p.u.auth.props.auth_method.data = (const uint8_t *)SEC_AUTH_METHOD;
    p.u.auth.props.auth_method.len = (uint32_t)strlen(SEC_AUTH_METHOD);
    p.u.auth.props.auth_data.data = r->auth_data;
    p.u.auth.props.auth_data.len = (uint32_t)r->auth_data_len;
    return conn_send(c, &p);
}

int gatekeep_connect(conn *c, const mqtt_connect *ck)
{
    broker *b = c->b;
    sec_reply r;

    if (c->auth_answered) { /* replaying the CONNECT with the answer */
        c->auth_answered = false;
        return c->auth_result;
    }
    if (c->auth_frame)
        return MQTT_RC_PROTOCOL_ERROR; /* a second CONNECT while the first is being authenticated */
    sec_gate_connect(b->gate, c->sec, c->id, ck, &r);
    if (r.kind == SEC_REPLY_CONNACK)
        return r.reason;
    if (r.kind == SEC_REPLY_AUTH) {
        if (!gatekeep_send_auth(c, &r))
            return MQTT_RC_UNSPECIFIED;
        c->auth_scram = true;
    } else {
        if (hmap_put(&b->auth_waiting, &c->id, sizeof c->id, c) < 0)
            return MQTT_RC_SERVER_BUSY; /* the job still runs; its answer finds no connection */
        c->auth_wait = true;
    }
    return GATEKEEP_WAIT;
}

void gatekeep_keep_frame(conn *c, const uint8_t *frame, size_t len)
{
    if (!(c->auth_wait || c->auth_scram) || c->auth_frame)
        return;
    c->auth_frame = malloc(len);
    if (!c->auth_frame) {
        conn_close(c, -1, "out of memory");
        return;
    }
    memcpy(c->auth_frame, frame, len);
    c->auth_frame_len = (uint32_t)len;
}

/* Replays the kept CONNECT now that c->auth_result holds the answer. */
static void gatekeep_replay(conn *c, bool process_kept)
{
    uint8_t *frame = c->auth_frame;
    uint32_t len = c->auth_frame_len;

    c->auth_frame = NULL;
    c->auth_frame_len = 0;
    if (!frame) {
        conn_close(c, -1, "authentication answer without a CONNECT");
        return;
    }
    conn_replay(c, frame, len, process_kept);
    OPENSSL_cleanse(frame, len);
    free(frame);
}

uint8_t gatekeep_auth_packet(conn *c, const mqtt_reason_only *a)
{
    sec_reply r;

    c->auth_scram = false;
    sec_gate_auth(c->b->gate, c->sec, a, &r);
    if (r.reason != 0)
        return r.reason;
    if (r.has_auth && r.auth_data_len) {
        c->auth_out = malloc(r.auth_data_len);
        if (!c->auth_out)
            return MQTT_RC_SERVER_BUSY;
        memcpy(c->auth_out, r.auth_data, r.auth_data_len);
        c->auth_out_len = r.auth_data_len;
    }
    c->auth_result = 0;
    c->auth_answered = true;
    gatekeep_replay(c, false);
    return 0;
}

void gatekeep_connack_props(conn *c, mqtt_props *ap)
{
    if (!c->auth_out)
        return;
    ap->present |= MQTT_PROP_BIT(MQTT_PROP_AUTH_METHOD) | MQTT_PROP_BIT(MQTT_PROP_AUTH_DATA);
    ap->auth_method.data = (const uint8_t *)SEC_AUTH_METHOD;
    ap->auth_method.len = (uint32_t)strlen(SEC_AUTH_METHOD);
    ap->auth_data.data = c->auth_out;
    ap->auth_data.len = (uint32_t)c->auth_out_len;
}

void gatekeep_authenticated(conn *c)
{
    if (c->b->gate && c->sec)
        sec_gate_authenticated(c->b->gate, c->sec);
    free(c->auth_out);
    c->auth_out = NULL;
    c->auth_out_len = 0;
    gatekeep_forget_frame(c);
}

/* The gate's eventfd is readable: answer every connection whose verification finished. */
static void gatekeep_on_results(void *ctx, uint32_t events)
{
    broker *b = ctx;
    uint64_t cookie;
    sec_reply r;

    (void)events;
    b->now_ms = loop_now_ms();
    while (sec_gate_take_result(b->gate, &cookie, &r)) {
        conn *c = hmap_remove(&b->auth_waiting, &cookie, sizeof cookie);
        if (!c || c->state == CONN_CLOSING)
            continue; /* the client went away meanwhile */
        c->auth_wait = false;
        c->auth_result = r.reason;
        c->auth_answered = true;
        gatekeep_replay(c, true);
        if (c->state != CONN_CLOSING)
            conn_update_watch(c);
    }
}

void gatekeep_stop(broker *b)
{
    if (b->gate && b->gate_watch.registered)
        loop_watch_remove(b->loop, &b->gate_watch);
    hmap_free(&b->auth_waiting);
}

void gatekeep_tick(broker *b)
{
    if (b->gate)
        sec_gate_tick(b->gate);
}

void gatekeep_reload(broker *b)
{
    if (b->gate)
        sec_gate_reload(b->gate);
}
