/* proto.c - MQTT packet handling: CONNECT, PUBLISH and its acknowledgements, SUBSCRIBE, UNSUBSCRIBE, PINGREQ,
 * DISCONNECT, AUTH. Decoding (and all its validation) happened before, in the codec. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "base/counters.h"
#include "base/log.h"
#include "broker/core.h"

#define PROP(id) MQTT_PROP_BIT(MQTT_PROP_##id)

void proto_disconnect(conn *c, uint8_t reason, const char *reason_string)
{
    if (c->state == CONN_CLOSING)
        return;
    if (c->version == MQTT_V5 && c->state == CONN_ACTIVE) {
        mqtt_packet p = {.type = MQTT_DISCONNECT};
        p.u.disconnect.reason = reason;
        if (reason_string) {
            p.u.disconnect.props.present |= PROP(REASON_STRING);
            p.u.disconnect.props.reason_string = (mqtt_bytes){(const uint8_t *)reason_string,
                                                              (uint32_t)strlen(reason_string)};
        }
        if (!conn_send(c, &p)) {
            p.u.disconnect.props.present = 0;
            conn_send(c, &p);
        }
    }
    conn_close(c, -1, reason_string ? reason_string : mqtt_reason_name(reason));
}

static void proto_send_connack(conn *c, uint8_t reason, bool present, const mqtt_props *props)
{
    mqtt_packet p = {.type = MQTT_CONNACK};
    p.u.connack.session_present = present;
    if (c->version == MQTT_V5) {
        p.u.connack.reason = reason;
        if (props)
            p.u.connack.props = *props;
    } else {
        p.u.connack.reason = mqtt_connack_code_v311(reason);
    }
    conn_send(c, &p);
}

/* Refuses a CONNECT: CONNACK with the reason (in the client's version), then close. */
static void proto_refuse(conn *c, uint8_t reason, const char *why)
{
    proto_send_connack(c, reason, false, NULL);
    log_notice("refused client from %s: %s (%s)", c->address, why, mqtt_reason_name(reason));
    conn_close(c, -1, why);
}

void proto_connect_failed(conn *c, const uint8_t *buf, size_t len, const mqtt_error *err)
{
    /* Find the protocol level byte: fixed header, name length, name. */
    size_t pos = 1;
    int level = -1;
    while (pos < len && pos < 5 && (buf[pos] & 0x80))
        pos++;
    pos++;
    if (pos + 2 <= len) {
        size_t nl = (size_t)buf[pos] << 8 | buf[pos + 1];
        if (pos + 2 + nl < len)
            level = buf[pos + 2 + nl];
    }
    if (err->reason == MQTT_RC_UNSUPPORTED_VERSION || (level >= 0 && level != MQTT_V311 && level != MQTT_V5)) {
        c->version = level > MQTT_V5 ? MQTT_V5 : MQTT_V311;
        proto_refuse(c, MQTT_RC_UNSUPPORTED_VERSION, "unsupported protocol version");
        return;
    }
    if (level == MQTT_V5 || (level == MQTT_V311 && err->reason == MQTT_RC_CLIENT_ID_NOT_VALID)) {
        c->version = (uint8_t)level;
        proto_refuse(c, err->reason ? err->reason : MQTT_RC_MALFORMED,
                     err->message ? err->message : "malformed CONNECT");
        return;
    }
    conn_close(c, -1, err->message ? err->message : "malformed CONNECT");
}

/* The topic or filter as the broker knows it: with the listener's mount point in front (after any
 * "$share/GROUP/"). Returns false when out of scratch memory. */
static bool proto_mount(conn *c, mqtt_bytes in, mqtt_bytes *out)
{
    const char *mp = c->ls->mount_point;
    mqtt_bytes group, inner;
    *out = in;
    if (!mp)
        return true;
    size_t ml = strlen(mp), pre = 0;
    if (mqtt_shared_split(in, &group, &inner))
        pre = (size_t)(inner.data - in.data);
    if (in.len + ml > UINT16_MAX)
        return false;
    uint8_t *buf = broker_arena_alloc(c->b, in.len + ml);
    if (!buf)
        return false;
    memcpy(buf, in.data, pre);
    memcpy(buf + pre, mp, ml);
    memcpy(buf + pre + ml, in.data + pre, in.len - pre);
    *out = (mqtt_bytes){buf, (uint32_t)(in.len + ml)};
    return true;
}

/* Takes over an existing connection of the same client id: it gets DISCONNECT 0x8E and is closed. */
static void proto_takeover(broker *b, const char *id, size_t len)
{
    session *s = hmap_get(&b->sessions, id, len);
    if (s && s->conn) {
        log_notice("client %s: session taken over by a new connection", s->client_id);
        proto_disconnect(s->conn, MQTT_RC_SESSION_TAKEN_OVER, "session taken over");
    }
}

/* Resends what was in flight when the client went away, then fills the window from the queue. */
static void proto_resume(broker *b, conn *c, session *s)
{
    /* A window smaller than what was in flight (a new Receive Maximum): the newest PUBLISHes wait in the
     * queue again, keeping their packet ids and DUP. PUBRELs are always resent. */
    uint32_t w = route_window(b, c);
    for (uint32_t i = s->inflight.count; i > 0 && s->inflight.count > w; i--) {
        delivery *d = dq_at(&s->inflight, i - 1);
        if ((d->flags & DLV_PUBREL) || !d->msg)
            continue;
        delivery moved = *d;
        dq_remove(&s->inflight, i - 1);
        if (dq_push_front(&s->queue, &moved) < 0) {
            delivery_release(&moved);
            continue;
        }
        s->queued_bytes += moved.msg->payload_len + moved.msg->topic_len;
    }
    for (uint32_t i = 0; i < s->inflight.count; i++) {
        delivery *d = dq_at(&s->inflight, i);
        if (d->flags & DLV_PUBREL) {
            mqtt_packet p = {.type = MQTT_PUBREL};
            p.u.ack.packet_id = d->packet_id;
            conn_send(c, &p);
        } else if (d->msg) {
            route_send(b, c, d);
        }
    }
    route_pump(b, s);
}

static void proto_connack_props(conn *c, mqtt_props *ap, const char *assigned, uint16_t server_ka,
                                bool capped_expiry, uint32_t expiry)
{
    broker *b = c->b;
    memset(ap, 0, sizeof *ap);
    if (b->set.max_inflight_messages && b->set.max_inflight_messages < 65535) {
        ap->present |= PROP(RECEIVE_MAXIMUM);
        ap->receive_maximum = b->set.max_inflight_messages;
    }
    if (b->set.max_packet_size && b->set.max_packet_size < 268435460u) {
        ap->present |= PROP(MAXIMUM_PACKET_SIZE);
        ap->maximum_packet_size = b->set.max_packet_size;
    }
    c->in_alias_max = c->ls->max_topic_alias; /* fixed for the connection, whatever a reload does */
    if (c->in_alias_max) {
        ap->present |= PROP(TOPIC_ALIAS_MAXIMUM);
        ap->topic_alias_maximum = c->in_alias_max;
    }
    if (!b->set.retain_available) {
        ap->present |= PROP(RETAIN_AVAILABLE);
        ap->retain_available = 0;
    }
    if (c->ls->max_qos < 2) {
        ap->present |= PROP(MAXIMUM_QOS);
        ap->maximum_qos = c->ls->max_qos;
    }
    if (assigned) {
        ap->present |= PROP(ASSIGNED_CLIENT_ID);
        ap->assigned_client_id = (mqtt_bytes){(const uint8_t *)assigned, (uint32_t)strlen(assigned)};
    }
    if (server_ka) {
        ap->present |= PROP(SERVER_KEEP_ALIVE);
        ap->server_keep_alive = server_ka;
    }
    if (capped_expiry) {
        ap->present |= PROP(SESSION_EXPIRY);
        ap->session_expiry = expiry;
    }
}

/* Response Information for a v5 CONNECT with Request Response Information 1 when response_topic_prefix is
 * set: "PREFIX/CLIENT_ID", the client's own response topic space (an ACL grants it with a pattern
 * "PREFIX/%c/#"). Sent only for a client id that can be one topic level (no '/', '+' or '#'), as the ACL's %c;
 * the property is optional [MQTT-3.1.2-28 allows omitting it], so nothing is sent otherwise. */
static void proto_response_info(conn *c, const mqtt_connect *ck, mqtt_props *ap)
{
    const char *prefix = c->b->set.response_topic_prefix;
    const char *id = c->session->client_id;
    size_t pl, il = strlen(id);
    if (c->version != MQTT_V5 || !prefix || !(ck->props.present & PROP(REQUEST_RESPONSE_INFO)) ||
        ck->props.request_response_info != 1 || il == 0 || strpbrk(id, "/+#"))
        return;
    pl = strlen(prefix);
    uint8_t *buf = broker_arena_alloc(c->b, pl + 1 + il);
    if (!buf || pl + 1 + il > UINT16_MAX)
        return;
    memcpy(buf, prefix, pl);
    buf[pl] = '/';
    memcpy(buf + pl + 1, id, il);
    ap->present |= PROP(RESPONSE_INFO);
    ap->response_info = (mqtt_bytes){buf, (uint32_t)(pl + 1 + il)};
}

/* Validates the parts of CONNECT that are policy, not syntax. Returns 0 or the reason to refuse with. */
static uint8_t proto_connect_policy(conn *c, const mqtt_connect *ck, uint16_t *ka, uint16_t *server_ka)
{
    broker *b = c->b;
    *ka = ck->keep_alive;
    *server_ka = 0;
    if (ck->client_id.len == 0 && (!c->ls->allow_zero_length_clientid || (c->version == MQTT_V311 && !ck->clean_start)))
        return MQTT_RC_CLIENT_ID_NOT_VALID;
    if (b->set.max_keepalive && (ck->keep_alive == 0 || ck->keep_alive > b->set.max_keepalive)) {
        if (c->version == MQTT_V5) {
            *ka = *server_ka = b->set.max_keepalive;
        } else if (ck->keep_alive > b->set.max_keepalive) {
            return MQTT_RC_CLIENT_ID_NOT_VALID; /* 3.1.1 has no way to tell: mosquitto refuses too */
        }
    }
    if (ck->has_will && ck->will_qos > c->ls->max_qos)
        return MQTT_RC_QOS_NOT_SUPPORTED;
    if (ck->has_will && ck->will_retain && !b->set.retain_available)
        return MQTT_RC_RETAIN_NOT_SUPPORTED;
    return 0;
}

/* The session part of an accepted CONNECT: will, takeover, session, CONNACK, resend. */
static void proto_connect_accept(conn *c, const mqtt_connect *ck, const broker_auth_result *r)
{
    broker *b = c->b;
    const mqtt_props *pr = &ck->props;
    const char *id = c->auth->client_id; /* set by proto_connect */
    size_t idlen = strlen(id);
    broker_msg *will = NULL;
    bool present = false;
    mqtt_bytes will_topic = ck->will_topic;
    if (ck->has_will && !proto_mount(c, ck->will_topic, &will_topic)) {
        proto_refuse(c, MQTT_RC_TOPIC_NAME_INVALID, "will topic too long with the mount point");
        return;
    }
    if (ck->has_will) {
        will = msg_new(will_topic.data, will_topic.len, ck->will_payload.data, ck->will_payload.len,
                       ck->will_qos, ck->will_retain, c->version == MQTT_V5 ? &ck->will_props : NULL, b->now_ms, 0,
                       &b->mem_msgs);
        if (!will) {
            proto_refuse(c, MQTT_RC_SERVER_UNAVAILABLE, "out of memory");
            return;
        }
    }
    proto_takeover(b, id, idlen);
    session *s = hmap_get(&b->sessions, id, idlen);
    if (s && ck->clean_start) {
        session_end(b, s);
        s = NULL;
    }
    if (s) {
        present = true;
        msg_unref(s->will);
        s->will = NULL;
        s->will_at_ms = 0;
        s->expire_at_ms = 0;
    } else if ((b->set.max_sessions && b->nsessions >= b->set.max_sessions) || broker_over_memory(b)) {
        msg_unref(will);
        proto_refuse(c, MQTT_RC_QUOTA_EXCEEDED, "max_sessions or memory_limit reached"); /* 3.1.1: 3 */
        return;
    } else if (!(s = session_new(b, id, idlen))) {
        msg_unref(will);
        proto_refuse(c, MQTT_RC_SERVER_UNAVAILABLE, "out of memory");
        return;
    }
    uint32_t expiry = 0;
    if (c->version == MQTT_V5)
        expiry = pr->present & PROP(SESSION_EXPIRY) ? pr->session_expiry : 0;
    else
        expiry = ck->clean_start ? 0 : UINT32_MAX;
    bool capped = false;
    if (expiry > b->set.max_session_expiry) {
        expiry = b->set.max_session_expiry;
        capped = c->version == MQTT_V5;
    }
    s->expiry_s = expiry;
    s->version = c->version;
    s->conn = c;
    session_timer_arm(b, s); /* online: no will delay, no expiry */
    s->listener_user = c->ls->user;
    s->listener_port = c->listener ? listener_port(c->listener) : 0;
    free(s->username);
    s->username = c->username ? strdup(c->username) : NULL;
    s->will = will;
    s->will_qos = ck->will_qos;
    s->will_retain = ck->will_retain;
    s->will_delay_s = will && (ck->will_props.present & PROP(WILL_DELAY)) && c->version == MQTT_V5
                          ? ck->will_props.will_delay : 0;
    if (will)
        will->origin = s->uid;
    c->session = s;
    c->state = CONN_ACTIVE;
    c->will_keep = true;
    conn_timer_arm(c);
    b->stats.clients_connected++;
    if (b->stats.clients_connected > b->stats.clients_maximum)
        b->stats.clients_maximum = b->stats.clients_connected;

    mqtt_props ap;
    proto_connack_props(c, &ap, ck->client_id.len == 0 ? s->client_id : NULL, c->server_keepalive_s, capped,
                        expiry);
    if (pr->present & PROP(AUTH_METHOD)) {
        free(c->auth->method);
        c->auth->method = strndup((const char *)pr->auth_method.data, pr->auth_method.len);
        ap.present |= PROP(AUTH_METHOD);
        ap.auth_method = pr->auth_method;
        if (r->data) {
            ap.present |= PROP(AUTH_DATA);
            ap.auth_data = (mqtt_bytes){r->data, (uint32_t)r->data_len};
        }
    }
    proto_response_info(c, ck, &ap);
    proto_send_connack(c, 0, present, &ap);
    if (c->state == CONN_CLOSING)
        return; /* the CONNACK could not fit the client's Maximum Packet Size: closed, session detached */
    log_info("client %s connected from %s:%u (v%u, keep alive %u, session %s)", s->client_id, c->address, c->port,
             c->version == MQTT_V5 ? 5 : 4, c->keepalive_s, present ? "resumed" : "new");
    free(c->auth->client_id);
    c->auth->client_id = NULL;
    conn_auth_trim(c);
    persist_session_touch(b, s);
    proto_resume(b, c, s);
}

/* Sends AUTH (Continue authentication) with the CONNECT's method and the step's data. */
static void proto_send_auth(conn *c, mqtt_bytes method, const broker_auth_result *r)
{
    mqtt_packet p = {.type = MQTT_AUTH};
    p.u.auth.reason = MQTT_RC_CONTINUE_AUTH;
    p.u.auth.props.present = PROP(AUTH_METHOD);
    p.u.auth.props.auth_method = method;
    if (r->data) {
        p.u.auth.props.present |= PROP(AUTH_DATA);
        p.u.auth.props.auth_data = (mqtt_bytes){r->data, (uint32_t)r->data_len};
    }
    if (!conn_send(c, &p))
        conn_close(c, -1, "cannot send AUTH");
}

/* Decodes the CONNECT kept while authenticating (no arena reset: the current packet may still be in use). */
static bool proto_saved_connect(conn *c, mqtt_packet *p)
{
    if (!c->auth || !c->auth->saved)
        return false;
    mqtt_limits lim = {.max_packet_size = c->auth->saved_len, .max_user_props = c->b->set.max_user_properties,
                       .max_topic_levels = c->b->set.max_topic_levels};
    mqtt_alloc al = {broker_arena_alloc, c->b};
    mqtt_error err = {0};
    return mqtt_decode(c->auth->saved, c->auth->saved_len, 0, &lim, &al, p, &err) == MQTT_OK &&
           p->type == MQTT_CONNECT;
}

void proto_auth_forget(conn *c)
{
    broker *b = c->b;
    if (c->reauth == REAUTH_PENDING) {
        hmap_remove(&b->authenticating, &c->id, sizeof c->id);
        if (c->state == CONN_CLOSING && b->sec.auth_abandoned)
            b->sec.auth_abandoned(b->sec.ctx, c->id);
    }
    c->reauth = REAUTH_NONE;
    if (c->auth && c->auth->saved) {
        OPENSSL_cleanse(c->auth->saved, c->auth->saved_len);
        free(c->auth->saved);
        c->auth->saved = NULL;
        if (hmap_remove(&b->authenticating, &c->id, sizeof c->id) && c->state == CONN_CLOSING && b->sec.auth_abandoned)
            b->sec.auth_abandoned(b->sec.ctx, c->id);
    }
    if (c->auth) {
        free(c->auth->client_id);
        c->auth->client_id = NULL;
        conn_auth_trim(c);
    }
    c->auth_waiting = false;
}

/* Applies the answer of an authentication step: accept, refuse, continue or keep waiting. */
static void proto_auth_apply(conn *c, const mqtt_connect *ck, int status, const broker_auth_result *r,
                             const uint8_t *raw, size_t raw_len)
{
    broker *b = c->b;
    if (status == BROKER_AUTH_DONE && r->reason != MQTT_RC_CONTINUE_AUTH) {
        if (r->reason) {
            proto_auth_forget(c);
            proto_refuse(c, r->reason, "authentication failed");
            return;
        }
        proto_connect_accept(c, ck, r);
        proto_auth_forget(c);
        return;
    }
    if (status == BROKER_AUTH_DONE && !(ck->props.present & PROP(AUTH_METHOD))) {
        proto_auth_forget(c);
        proto_refuse(c, MQTT_RC_PROTOCOL_ERROR, "continue authentication without a method");
        return;
    }
    conn_auth *ca = conn_auth_get(c);
    if (ca && !ca->saved) {
        ca->saved = malloc(raw_len);
        if (!ca->saved || hmap_put(&b->authenticating, &c->id, sizeof c->id, c) < 0) {
            free(ca->saved);
            ca->saved = NULL;
            ca = NULL;
        } else {
            memcpy(ca->saved, raw, raw_len);
            ca->saved_len = (uint32_t)raw_len;
            if (ck->has_password && ck->password.len)
                OPENSSL_cleanse(ca->saved + (ck->password.data - raw), ck->password.len);
        }
    }
    if (!ca) {
        proto_refuse(c, MQTT_RC_SERVER_UNAVAILABLE, "out of memory");
        return;
    }
    c->state = CONN_AUTH;
    c->auth_waiting = status == BROKER_AUTH_PENDING;
    if (status == BROKER_AUTH_DONE)
        proto_send_auth(c, ck->props.auth_method, r);
}

/* The built-in authentication: listener's anonymous setting only. */
static void proto_default_auth(conn *c, const mqtt_connect *ck, broker_auth_result *r)
{
    if (ck->props.present & PROP(AUTH_METHOD))
        r->reason = MQTT_RC_BAD_AUTH_METHOD;
    else if (!c->ls->allow_anonymous)
        r->reason = MQTT_RC_NOT_AUTHORIZED;
}

/* The username of a CONNECT: the certificate's identity when the listener says so (security.cert_username;
 * then none at all if the certificate has no usable identity), else the CONNECT's own. */
static void proto_cert_username(conn *c, mqtt_bytes *user, bool *has_user)
{
    broker *b = c->b;
    const char *name = NULL;
    broker_client info;
    conn_client(c, &info);
    if (!b->sec.cert_username || b->sec.cert_username(b->sec.ctx, &info, &name) <= 0)
        return;
    *has_user = name != NULL;
    *user = name ? (mqtt_bytes){(const uint8_t *)name, (uint32_t)strlen(name)} : (mqtt_bytes){NULL, 0};
}

static void proto_connect(conn *c, mqtt_connect *ck, const uint8_t *raw, size_t raw_len)
{
    broker *b = c->b;
    char assigned[96];
    const mqtt_props *pr = &ck->props;

    c->version = ck->version;
    c->out_window = pr->present & PROP(RECEIVE_MAXIMUM) ? pr->receive_maximum : 65535;
    c->out_max_packet = pr->present & PROP(MAXIMUM_PACKET_SIZE) ? pr->maximum_packet_size : 0;
    c->out_alias_max = pr->present & PROP(TOPIC_ALIAS_MAXIMUM) ? pr->topic_alias_maximum : 0;
    c->request_problem_info = pr->present & PROP(REQUEST_PROBLEM_INFO) ? pr->request_problem_info : 1;
    if (c->version != MQTT_V5)
        c->out_window = 65535, c->out_max_packet = 0, c->out_alias_max = 0;
    uint8_t rc = proto_connect_policy(c, ck, &c->keepalive_s, &c->server_keepalive_s);
    if (rc) {
        proto_refuse(c, rc, "CONNECT refused by policy");
        return;
    }
    mqtt_bytes user = ck->username;
    bool has_user = ck->has_username;
    proto_cert_username(c, &user, &has_user);
    conn_auth *ca = conn_auth_get(c);
    if (!ca) {
        proto_refuse(c, MQTT_RC_SERVER_UNAVAILABLE, "out of memory");
        return;
    }
    if (c->ls->use_username_as_clientid) {
        if (!has_user) {
            proto_refuse(c, MQTT_RC_NOT_AUTHORIZED, "use_username_as_clientid: no username");
            return;
        }
        ca->client_id = strndup((const char *)user.data, user.len);
    } else if (ck->client_id.len == 0) {
        snprintf(assigned, sizeof assigned, "%s%llx-%llx", b->set.clientid_prefix ? b->set.clientid_prefix : "auto-",
                 (unsigned long long)b->start_ms, (unsigned long long)++b->assign_counter);
        ca->client_id = strdup(assigned);
    } else {
        ca->client_id = strndup((const char *)ck->client_id.data, ck->client_id.len);
    }
    free(c->username);
    c->username = has_user ? strndup((const char *)user.data, user.len) : NULL;
    if (!ca->client_id || (has_user && !c->username)) {
        proto_refuse(c, MQTT_RC_SERVER_UNAVAILABLE, "out of memory");
        return;
    }
    broker_client info;
    conn_client(c, &info);
    broker_auth_result r = {0};
    int status = BROKER_AUTH_DONE;
    if (b->sec.authenticate)
        status = b->sec.authenticate(b->sec.ctx, &info, ck, c->id, &r);
    else
        proto_default_auth(c, ck, &r);
    proto_auth_apply(c, ck, status, &r, raw, raw_len);
}

/* An AUTH packet while CONNECT is being authenticated. */
static void proto_auth_packet(conn *c, const mqtt_reason_only *a)
{
    broker *b = c->b;
    mqtt_packet saved;
    if (c->auth_waiting || !b->sec.auth_step || !proto_saved_connect(c, &saved) ||
        a->reason != MQTT_RC_CONTINUE_AUTH || !(a->props.present & PROP(AUTH_METHOD)) ||
        a->props.auth_method.len != saved.u.connect.props.auth_method.len ||
        memcmp(a->props.auth_method.data, saved.u.connect.props.auth_method.data, a->props.auth_method.len) != 0) {
        proto_auth_forget(c);
        proto_refuse(c, MQTT_RC_PROTOCOL_ERROR, "unexpected AUTH");
        return;
    }
    broker_auth_result r = {0};
    broker_client info;
    conn_client(c, &info);
    int status = b->sec.auth_step(b->sec.ctx, &info, a, c->id, &r);
    proto_auth_apply(c, &saved.u.connect, status, &r, c->auth->saved, c->auth->saved_len);
}

void proto_auth_answer(conn *c, const broker_auth_result *r)
{
    mqtt_packet saved;
    if (c->state != CONN_AUTH || !c->auth_waiting)
        return;
    if (!proto_saved_connect(c, &saved)) {
        proto_auth_forget(c);
        proto_refuse(c, MQTT_RC_UNSPECIFIED, "lost the CONNECT");
        return;
    }
    proto_auth_apply(c, &saved.u.connect, BROKER_AUTH_DONE, r, c->auth->saved, c->auth->saved_len);
}

/* Puts a Reason String on a v5 answer when the client did not turn problem information off
 * [MQTT-3.1.2-29]; conn_send drops it again if the packet would exceed the client's Maximum Packet Size. */
static void proto_reason_string(const conn *c, mqtt_props *pr, const char *why)
{
    if (!why || c->version != MQTT_V5 || !c->request_problem_info)
        return;
    pr->present |= PROP(REASON_STRING);
    pr->reason_string = (mqtt_bytes){(const uint8_t *)why, (uint32_t)strlen(why)};
}

/* PUBACK / PUBREC / PUBREL / PUBCOMP with a reason (v5) and, for a failure, why (NULL: none). */
static void proto_ack_why(conn *c, uint8_t type, uint16_t pid, uint8_t reason, const char *why)
{
    mqtt_packet p = {.type = type};
    p.u.ack.packet_id = pid;
    p.u.ack.reason = c->version == MQTT_V5 ? reason : 0;
    if (type == MQTT_PUBREL)
        p.flags = 2;
    proto_reason_string(c, &p.u.ack.props, why);
    conn_send(c, &p);
}

/* ---- re-authentication [MQTT-4.12.1] ---- */

/* A failed re-authentication's DISCONNECT reason: the step's own when DISCONNECT may carry it, else 0x87. */
static uint8_t proto_reauth_reason(uint8_t r)
{
    switch (r) {
    case MQTT_RC_UNSPECIFIED: case MQTT_RC_PROTOCOL_ERROR: case MQTT_RC_IMPLEMENTATION_SPECIFIC:
    case MQTT_RC_NOT_AUTHORIZED: case MQTT_RC_SERVER_BUSY: case MQTT_RC_ADMINISTRATIVE_ACTION:
        return r;
    default:
        return MQTT_RC_NOT_AUTHORIZED;
    }
}

/* Applies the answer of a re-authentication step: AUTH 0x00 (done), AUTH 0x18 (continue), wait, or
 * DISCONNECT (failed [MQTT-4.12.1-2]). */
static void proto_reauth_apply(conn *c, int status, const broker_auth_result *r)
{
    broker *b = c->b;
    if (status == BROKER_AUTH_PENDING) {
        if (hmap_put(&b->authenticating, &c->id, sizeof c->id, c) < 0) {
            proto_disconnect(c, MQTT_RC_UNSPECIFIED, "out of memory");
            return;
        }
        c->reauth = REAUTH_PENDING;
        return;
    }
    c->reauth = REAUTH_NONE;
    if (r->reason != 0 && r->reason != MQTT_RC_CONTINUE_AUTH) {
        log_notice("client %s (%s): re-authentication failed (%s)", c->session->client_id, c->address,
                   mqtt_reason_name(r->reason));
        proto_disconnect(c, proto_reauth_reason(r->reason), "re-authentication failed");
        return;
    }
    mqtt_packet p = {.type = MQTT_AUTH};
    p.u.auth.reason = r->reason;
    p.u.auth.props.present = PROP(AUTH_METHOD);
    const char *method = conn_auth_method(c);
    p.u.auth.props.auth_method = (mqtt_bytes){(const uint8_t *)method, (uint32_t)strlen(method)};
    if (r->data) {
        p.u.auth.props.present |= PROP(AUTH_DATA);
        p.u.auth.props.auth_data = (mqtt_bytes){r->data, (uint32_t)r->data_len};
    }
    if (!conn_send(c, &p)) {
        conn_close(c, -1, "cannot send AUTH");
        return;
    }
    if (r->reason == MQTT_RC_CONTINUE_AUTH)
        c->reauth = REAUTH_CONTINUE;
    else
        log_info("client %s (%s) re-authenticated", c->session->client_id, c->address);
}

void proto_reauth_answer(conn *c, const broker_auth_result *r)
{
    if (c->state != CONN_ACTIVE || c->reauth != REAUTH_PENDING)
        return;
    hmap_remove(&c->b->authenticating, &c->id, sizeof c->id);
    proto_reauth_apply(c, BROKER_AUTH_DONE, r);
}

/* An AUTH packet after CONNACK: starts (0x19) or continues (0x18) a re-authentication with the CONNECT's
 * method. The client may go on sending other packets meanwhile; they are handled as usual. */
static void proto_reauth_packet(conn *c, const mqtt_reason_only *a)
{
    broker *b = c->b;
    broker_auth_result r = {0};
    int status;
    const char *method = conn_auth_method(c);
    if (!method) {
        proto_disconnect(c, MQTT_RC_PROTOCOL_ERROR, "AUTH without an authentication method"); /* [MQTT-4.12.0-7] */
        return;
    }
    /* [MQTT-4.12.1-1]: the same method as CONNECT. (0x8C Bad authentication method is not a DISCONNECT code in
     * the DISCONNECT packet's table, 3.14.2.1: a different method is a protocol error.) */
    if (!(a->props.present & PROP(AUTH_METHOD)) || a->props.auth_method.len != strlen(method) ||
        memcmp(a->props.auth_method.data, method, a->props.auth_method.len) != 0) {
        proto_disconnect(c, MQTT_RC_PROTOCOL_ERROR, "re-authentication with another authentication method");
        return;
    }
    broker_client info;
    conn_client(c, &info);
    if (a->reason == MQTT_RC_REAUTHENTICATE && c->reauth == REAUTH_NONE) {
        if (!b->sec.reauthenticate) {
            proto_disconnect(c, MQTT_RC_NOT_AUTHORIZED, "re-authentication not supported");
            return;
        }
        status = b->sec.reauthenticate(b->sec.ctx, &info, a, c->id, &r);
    } else if (a->reason == MQTT_RC_CONTINUE_AUTH && c->reauth == REAUTH_CONTINUE && b->sec.auth_step) {
        status = b->sec.auth_step(b->sec.ctx, &info, a, c->id, &r);
    } else {
        proto_disconnect(c, MQTT_RC_PROTOCOL_ERROR, "unexpected AUTH");
        return;
    }
    proto_reauth_apply(c, status, &r);
}

static void proto_ack(conn *c, uint8_t type, uint16_t pid, uint8_t reason)
{
    proto_ack_why(c, type, pid, reason, NULL);
}

/* The Reason String for a refused PUBLISH. */
static const char *proto_publish_why(uint8_t reason)
{
    switch (reason) {
    case MQTT_RC_NOT_AUTHORIZED: return "not authorized to publish to this topic";
    case MQTT_RC_QUOTA_EXCEEDED: return "message too large or broker memory limit reached";
    case MQTT_RC_PAYLOAD_FORMAT_INVALID: return "payload is not valid UTF-8";
    default: return reason >= 0x80 ? mqtt_reason_name(reason) : NULL;
    }
}

/*
 * Inbound QoS 2 packet ids awaiting PUBREL. Up to PROTO_IN_QOS2_ARRAY of them are a small array searched
 * linearly; beyond, a bitmap of the whole packet id space (8 KiB), so the set stays bounded and each lookup
 * O(1) however many ids the client uses. A v5 client may have at most our Receive Maximum
 * (max_inflight_messages, else DISCONNECT 0x93); a 3.1.1 client has no Receive Maximum and is not
 * disconnected for sending more: the packet id space is its bound.
 */
#define PROTO_IN_QOS2_ARRAY 32

static bool proto_in_qos2_has(const session *s, uint16_t pid)
{
    if (s->in_qos2_cap == SESSION_IN_QOS2_MAP)
        return (((const uint8_t *)s->in_qos2)[pid >> 3] >> (pid & 7)) & 1;
    const uint16_t *ids = s->in_qos2;
    for (uint32_t i = 0; i < s->in_qos2_count; i++)
        if (ids[i] == pid)
            return true;
    return false;
}

/* Moves the ids from the array into a new bitmap. Returns false when out of memory. */
static bool proto_in_qos2_to_map(session *s)
{
    uint8_t *map = calloc(65536 / 8, 1);
    const uint16_t *ids = s->in_qos2;
    if (!map)
        return false;
    for (uint32_t i = 0; i < s->in_qos2_count; i++)
        map[ids[i] >> 3] |= (uint8_t)(1u << (ids[i] & 7));
    free(s->in_qos2);
    s->in_qos2 = map;
    s->in_qos2_cap = SESSION_IN_QOS2_MAP;
    return true;
}

/* Adds pid (not present). limit: array entries before switching to the bitmap. */
static bool proto_in_qos2_add(session *s, uint16_t pid, uint32_t limit)
{
    if (s->in_qos2_cap != SESSION_IN_QOS2_MAP && s->in_qos2_count >= limit && !proto_in_qos2_to_map(s))
        return false;
    if (s->in_qos2_cap == SESSION_IN_QOS2_MAP) {
        ((uint8_t *)s->in_qos2)[pid >> 3] |= (uint8_t)(1u << (pid & 7));
        s->in_qos2_count++;
        return true;
    }
    if (s->in_qos2_count == s->in_qos2_cap) {
        uint32_t ncap = s->in_qos2_cap ? s->in_qos2_cap * 2 : 8;
        uint16_t *n = realloc(s->in_qos2, ncap * sizeof *n);
        if (!n)
            return false;
        s->in_qos2 = n;
        s->in_qos2_cap = ncap;
    }
    ((uint16_t *)s->in_qos2)[s->in_qos2_count++] = pid;
    return true;
}

/* Removes pid; returns false if it was not there. The bitmap goes back to nothing once empty. */
static bool proto_in_qos2_remove(session *s, uint16_t pid)
{
    if (s->in_qos2_cap == SESSION_IN_QOS2_MAP) {
        uint8_t *map = s->in_qos2;
        if (!((map[pid >> 3] >> (pid & 7)) & 1))
            return false;
        map[pid >> 3] &= (uint8_t)~(1u << (pid & 7));
        if (--s->in_qos2_count == 0) {
            free(s->in_qos2);
            s->in_qos2 = NULL;
            s->in_qos2_cap = 0;
        }
        return true;
    }
    uint16_t *ids = s->in_qos2;
    for (uint32_t i = 0; i < s->in_qos2_count; i++)
        if (ids[i] == pid) {
            ids[i] = ids[--s->in_qos2_count];
            return true;
        }
    return false;
}

/* Resolves the topic of an inbound PUBLISH (Topic Alias). Returns false after disconnecting the client. */
static bool proto_publish_topic(conn *c, mqtt_publish *p, mqtt_bytes *topic)
{
    *topic = p->topic;
    if (c->version != MQTT_V5 || !(p->props.present & PROP(TOPIC_ALIAS))) {
        if (topic->len == 0) {
            proto_disconnect(c, MQTT_RC_PROTOCOL_ERROR, "empty topic without topic alias");
            return false;
        }
        return true;
    }
    uint16_t a = p->props.topic_alias;
    if (a == 0 || a > c->in_alias_max) {
        proto_disconnect(c, MQTT_RC_TOPIC_ALIAS_INVALID, "topic alias out of range");
        return false;
    }
    conn_aliases *al = conn_aliases_get(c);
    if (al && !al->in)
        al->in = calloc(c->in_alias_max, sizeof(char *));
    if (!al || !al->in) {
        proto_disconnect(c, MQTT_RC_UNSPECIFIED, "out of memory");
        return false;
    }
    if (topic->len) {
        char *copy = strndup((const char *)topic->data, topic->len);
        if (!copy) {
            proto_disconnect(c, MQTT_RC_UNSPECIFIED, "out of memory");
            return false;
        }
        if (al->in[a - 1])
            c->b->mem_state -= strlen(al->in[a - 1]) + 1;
        free(al->in[a - 1]);
        al->in[a - 1] = copy;
        c->b->mem_state += (size_t)topic->len + 1; /* counted against memory_limit */
        return true;
    }
    if (!al->in[a - 1]) {
        proto_disconnect(c, MQTT_RC_PROTOCOL_ERROR, "unknown topic alias");
        return false;
    }
    *topic = (mqtt_bytes){(const uint8_t *)al->in[a - 1], (uint32_t)strlen(al->in[a - 1])};
    return true;
}

/* Stores (if retained) and routes one accepted application message. Returns the v5 reason for the ack. */
static uint8_t proto_publish_accept(conn *c, mqtt_publish *p, mqtt_bytes topic)
{
    broker *b = c->b;
    broker_msg *m = msg_new(topic.data, topic.len, p->payload.data, p->payload.len, p->qos, p->retain,
                            c->version == MQTT_V5 ? &p->props : NULL, b->now_ms, c->session->uid, &b->mem_msgs);
    if (!m)
        return MQTT_RC_UNSPECIFIED;
    b->stats.pub_received++;
    if (p->retain) {
        if (retain_set(&b->retained, m) < 0)
            log_warning("out of memory storing a retained message on %s", m->topic);
        else
            persist_retain_set(b, m);
    }
    uint32_t n = route_publish(b, m);
    msg_unref(m);
    return n == 0 && p->qos > 0 ? MQTT_RC_NO_MATCHING_SUBSCRIBERS : MQTT_RC_SUCCESS;
}

static void proto_publish(conn *c, mqtt_publish *p)
{
    broker *b = c->b;
    session *s = c->session;
    mqtt_bytes topic;
    if (p->props.present & PROP(SUBSCRIPTION_ID)) { /* [MQTT-3.3.4-6]: only the Server sends it */
        proto_disconnect(c, MQTT_RC_PROTOCOL_ERROR, "subscription identifier in a client PUBLISH");
        return;
    }
    if (!proto_publish_topic(c, p, &topic))
        return;
    if (!proto_mount(c, topic, &topic)) {
        proto_disconnect(c, MQTT_RC_TOPIC_NAME_INVALID, "topic too long with the mount point");
        return;
    }
    if (p->qos > c->ls->max_qos) {
        proto_disconnect(c, MQTT_RC_QOS_NOT_SUPPORTED, "QoS not supported");
        return;
    }
    if (p->retain && !b->set.retain_available) {
        proto_disconnect(c, MQTT_RC_RETAIN_NOT_SUPPORTED, "retain not supported");
        return;
    }
    if (p->qos > 0)
        persist_hold(c); /* the PUBACK / PUBREC leaves once this iteration's writes are committed */
    if (p->qos == 2 && proto_in_qos2_has(s, p->packet_id)) {
        proto_ack(c, MQTT_PUBREC, p->packet_id, 0); /* a duplicate: already routed once */
        return;
    }
    if (p->qos > 0 && persist_refusing(b)) {
        /* The store cannot take it (full): 5.0 gets 0x97 Quota exceeded; 3.1.1 has no negative acknowledgement,
         * so the client is disconnected and will resend (docs/persistence.md). */
        b->stats.dropped++;
        limit_hit_client(c, s, "persistence_max_size", c->version == MQTT_V5 ? "refused" : "disconnected",
                         (const char *)topic.data, topic.len);
        if (c->version != MQTT_V5) {
            proto_disconnect(c, MQTT_RC_QUOTA_EXCEEDED, "persistent store full");
            return;
        }
        proto_ack(c, p->qos == 1 ? MQTT_PUBACK : MQTT_PUBREC, p->packet_id, MQTT_RC_QUOTA_EXCEEDED);
        return;
    }
    if (p->qos == 2 && c->version == MQTT_V5 && b->set.max_inflight_messages &&
        s->in_qos2_count >= b->set.max_inflight_messages) {
        limit_hit_client(c, s, "max_inflight_messages", "disconnected", (const char *)topic.data, topic.len);
        proto_disconnect(c, MQTT_RC_RECEIVE_MAX_EXCEEDED, "receive maximum exceeded");
        return;
    }
    uint8_t reason = 0;
    enum counter_id why = COUNTER_DROP_REFUSED_OTHER;
    b->stats.pub_received_qos[p->qos]++;
    b->stats.payload_received_qos[p->qos] += p->payload.len;
    if (b->set.message_size_limit && p->payload.len > b->set.message_size_limit) {
        reason = MQTT_RC_QUOTA_EXCEEDED;
        why = COUNTER_DROP_MESSAGE_SIZE;
        counters_inc(COUNTER_LIMIT_MESSAGE_SIZE);
        limit_hit_client(c, s, "message_size_limit", "dropped", (const char *)topic.data, topic.len);
    } else if (!broker_authorize(b, c, s, BROKER_ACCESS_PUBLISH, (const char *)topic.data, topic.len, p->qos,
                                 p->retain)) {
        reason = MQTT_RC_NOT_AUTHORIZED;
        why = COUNTER_DROP_NOT_AUTHORIZED;
    } else if (broker_over_memory(b) && !(p->retain && p->payload.len == 0)) { /* deleting frees memory */
        reason = MQTT_RC_QUOTA_EXCEEDED;
        why = COUNTER_DROP_MEMORY;
        counters_inc(COUNTER_LIMIT_MEMORY);
        limit_hit_client(c, s, "memory_limit", "dropped", (const char *)topic.data, topic.len);
    } else if (c->version == MQTT_V5 && (p->props.present & PROP(PAYLOAD_FORMAT)) && p->props.payload_format == 1 &&
               !mqtt_utf8_valid(p->payload.data, p->payload.len)) {
        reason = MQTT_RC_PAYLOAD_FORMAT_INVALID;
        why = COUNTER_DROP_INVALID_PAYLOAD;
    } else {
        reason = proto_publish_accept(c, p, topic);
    }
    if (reason >= 0x80) {
        b->stats.dropped++;
        counters_inc(why);
    }
    if (p->qos == 1) {
        proto_ack_why(c, MQTT_PUBACK, p->packet_id, reason, proto_publish_why(reason));
    } else if (p->qos == 2) {
        if (reason < 0x80 && !proto_in_qos2_add(s, p->packet_id, PROTO_IN_QOS2_ARRAY))
            reason = MQTT_RC_UNSPECIFIED;
        persist_session_touch(b, s);
        proto_ack_why(c, MQTT_PUBREC, p->packet_id, reason, proto_publish_why(reason));
    }
}

static int proto_inflight_find(const session *s, uint16_t pid)
{
    for (uint32_t i = 0; i < s->inflight.count; i++)
        if (dq_at(&s->inflight, i)->packet_id == pid)
            return (int)i;
    return -1;
}

static void proto_inflight_done(broker *b, session *s, int i)
{
    delivery_release(dq_at(&s->inflight, (uint32_t)i));
    dq_remove(&s->inflight, (uint32_t)i);
    route_pump(b, s);
}

static void proto_puback(conn *c, const mqtt_ack *a)
{
    session *s = c->session;
    int i = proto_inflight_find(s, a->packet_id);
    if (i >= 0 && dq_at(&s->inflight, (uint32_t)i)->qos == 1)
        proto_inflight_done(c->b, s, i);
}

static void proto_pubrec(conn *c, const mqtt_ack *a)
{
    session *s = c->session;
    int i = proto_inflight_find(s, a->packet_id);
    if (i < 0 || dq_at(&s->inflight, (uint32_t)i)->qos != 2) {
        proto_ack(c, MQTT_PUBREL, a->packet_id, MQTT_RC_PACKET_ID_NOT_FOUND);
        return;
    }
    delivery *d = dq_at(&s->inflight, (uint32_t)i);
    if (a->reason >= 0x80) {
        proto_inflight_done(c->b, s, i);
        return;
    }
    /* The message is now the client's: keep only the packet id. */
    msg_unref(d->msg);
    d->msg = NULL;
    if (d->group)
        trie_group_unref(d->group);
    d->group = NULL;
    d->flags |= DLV_PUBREL;
    proto_ack(c, MQTT_PUBREL, a->packet_id, 0);
}

static void proto_pubcomp(conn *c, const mqtt_ack *a)
{
    session *s = c->session;
    int i = proto_inflight_find(s, a->packet_id);
    if (i >= 0 && (dq_at(&s->inflight, (uint32_t)i)->flags & DLV_PUBREL))
        proto_inflight_done(c->b, s, i);
}

static void proto_pubrel(conn *c, const mqtt_ack *a)
{
    session *s = c->session;
    if (!proto_in_qos2_remove(s, a->packet_id)) {
        proto_ack(c, MQTT_PUBCOMP, a->packet_id, MQTT_RC_PACKET_ID_NOT_FOUND);
        return;
    }
    proto_ack(c, MQTT_PUBCOMP, a->packet_id, 0);
}

typedef struct proto_retained_ctx {
    broker *b;
    session *s;
    uint8_t qos;
    uint32_t sub_id;
} proto_retained_ctx;

static void proto_send_retained(void *ctx, broker_msg *m)
{
    proto_retained_ctx *rc = ctx;
    uint8_t qos = rc->qos < m->qos ? rc->qos : m->qos;
    route_deliver(rc->b, rc->s, m, qos, true, &rc->sub_id, rc->sub_id ? 1 : 0, NULL);
}

static uint8_t proto_subscribe_one(conn *c, const mqtt_subscription *sub, uint32_t sub_id, bool *existed)
{
    broker *b = c->b;
    mqtt_bytes group, inner;
    bool v5 = c->version == MQTT_V5;
    if (!broker_authorize(b, c, c->session, BROKER_ACCESS_SUBSCRIBE, (const char *)sub->filter.data, sub->filter.len,
                          sub->qos, false))
        return v5 ? MQTT_RC_NOT_AUTHORIZED : 0x80;
    if (mqtt_shared_split(sub->filter, &group, &inner) && inner.len == 0)
        return v5 ? MQTT_RC_TOPIC_FILTER_INVALID : 0x80;
    mqtt_subscription capped = *sub;
    if (capped.qos > c->ls->max_qos)
        capped.qos = c->ls->max_qos;
    int rc = session_subscribe(b, c->session, &capped, sub_id, existed);
    if (rc == -2) {
        limit_hit_client(c, NULL, "max_subscriptions", "refused", (const char *)sub->filter.data, sub->filter.len);
        return v5 ? MQTT_RC_QUOTA_EXCEEDED : 0x80;
    }
    if (rc < 0)
        return v5 ? MQTT_RC_UNSPECIFIED : 0x80;
    return capped.qos;
}

static void proto_subscribe(conn *c, const mqtt_subscribe *sp)
{
    broker *b = c->b;
    uint32_t sub_id = 0;
    if (c->version == MQTT_V5 && (sp->props.present & PROP(SUBSCRIPTION_ID)) && sp->props.sub_id_count)
        sub_id = sp->props.sub_ids[0];
    uint8_t *reasons = broker_arena_alloc(b, sp->count);
    bool *existed = broker_arena_alloc(b, sp->count * sizeof(bool));
    if (!reasons || !existed) {
        proto_disconnect(c, MQTT_RC_UNSPECIFIED, "too many subscriptions in one packet");
        return;
    }
    for (uint32_t i = 0; i < sp->count; i++) {
        mqtt_bytes g, in;
        if (c->version == MQTT_V5 && sp->subs[i].no_local && mqtt_shared_split(sp->subs[i].filter, &g, &in)) {
            proto_disconnect(c, MQTT_RC_PROTOCOL_ERROR, "No Local on a shared subscription");
            return;
        }
    }
    for (uint32_t i = 0; i < sp->count; i++) {
        existed[i] = false;
        reasons[i] = proto_subscribe_one(c, &sp->subs[i], sub_id, &existed[i]);
    }
    mqtt_packet p = {.type = MQTT_SUBACK};
    p.u.suback.packet_id = sp->packet_id;
    p.u.suback.reasons = reasons;
    p.u.suback.count = sp->count;
    for (uint32_t i = 0; i < sp->count; i++)
        if (reasons[i] >= 0x80) {
            proto_reason_string(c, &p.u.suback.props, reasons[i] == MQTT_RC_NOT_AUTHORIZED
                                                          ? "not authorized to subscribe to a filter"
                                                          : "a subscription was refused");
            break;
        }
    if (!conn_send(c, &p))
        return;
    for (uint32_t i = 0; i < sp->count; i++) {
        const mqtt_subscription *sub = &sp->subs[i];
        mqtt_bytes g, in;
        if (reasons[i] >= 0x80 || mqtt_shared_split(sub->filter, &g, &in))
            continue;
        if (sub->retain_handling == 2 || (sub->retain_handling == 1 && existed[i]))
            continue;
        proto_retained_ctx rc = {b, c->session, reasons[i], sub_id};
        retain_match(&b->retained, (const char *)sub->filter.data, sub->filter.len, b->now_ms, proto_send_retained,
                     &rc);
    }
}

static void proto_unsubscribe(conn *c, const mqtt_unsubscribe *up)
{
    broker *b = c->b;
    uint8_t *reasons = broker_arena_alloc(b, up->count);
    if (!reasons) {
        proto_disconnect(c, MQTT_RC_UNSPECIFIED, "too many filters in one packet");
        return;
    }
    for (uint32_t i = 0; i < up->count; i++)
        reasons[i] = session_unsubscribe(b, c->session, up->filters[i]) == 0 ? 0 : MQTT_RC_NO_SUBSCRIPTION_EXISTED;
    mqtt_packet p = {.type = MQTT_UNSUBACK};
    p.u.suback.packet_id = up->packet_id;
    p.u.suback.reasons = reasons;
    p.u.suback.count = c->version == MQTT_V5 ? up->count : 0;
    conn_send(c, &p);
}

static void proto_client_disconnect(conn *c, const mqtt_reason_only *d)
{
    session *s = c->session;
    if (c->version == MQTT_V5 && (d->props.present & PROP(SESSION_EXPIRY))) {
        if (s->expiry_s == 0 && d->props.session_expiry != 0) {
            proto_disconnect(c, MQTT_RC_PROTOCOL_ERROR, "session expiry set on DISCONNECT after 0 on CONNECT");
            return;
        }
        s->expiry_s = d->props.session_expiry < c->b->set.max_session_expiry ? d->props.session_expiry
                                                                             : c->b->set.max_session_expiry;
    }
    c->will_keep = c->version == MQTT_V5 && d->reason == MQTT_RC_DISCONNECT_WITH_WILL;
    conn_close(c, -1, "client sent DISCONNECT");
}

void proto_handle(conn *c, mqtt_packet *p, const uint8_t *raw, size_t raw_len)
{
    if (c->state == CONN_AUTH) {
        if (p->type == MQTT_AUTH)
            proto_auth_packet(c, &p->u.auth);
        else if (p->type == MQTT_DISCONNECT)
            conn_close(c, -1, "client sent DISCONNECT during authentication");
        else
            proto_refuse(c, MQTT_RC_PROTOCOL_ERROR, "packet before authentication finished");
        return;
    }
    if (c->state != CONN_ACTIVE) {
        if (p->type == MQTT_CONNECT)
            proto_connect(c, &p->u.connect, raw, raw_len);
        else
            conn_close(c, -1, "first packet is not CONNECT");
        return;
    }
    switch (p->type) {
    case MQTT_PUBLISH:
        proto_publish(c, &p->u.publish);
        break;
    case MQTT_PUBACK:
        proto_puback(c, &p->u.ack);
        persist_session_touch(c->b, c->session);
        break;
    case MQTT_PUBREC:
        proto_pubrec(c, &p->u.ack);
        persist_session_touch(c->b, c->session);
        break;
    case MQTT_PUBREL:
        proto_pubrel(c, &p->u.ack);
        persist_session_touch(c->b, c->session);
        break;
    case MQTT_PUBCOMP:
        proto_pubcomp(c, &p->u.ack);
        persist_session_touch(c->b, c->session);
        break;
    case MQTT_SUBSCRIBE:
        for (uint32_t i = 0; i < p->u.subscribe.count; i++)
            if (!proto_mount(c, p->u.subscribe.subs[i].filter, &p->u.subscribe.subs[i].filter)) {
                proto_disconnect(c, MQTT_RC_TOPIC_FILTER_INVALID, "filter too long with the mount point");
                return;
            }
        proto_subscribe(c, &p->u.subscribe);
        break;
    case MQTT_UNSUBSCRIBE:
        for (uint32_t i = 0; i < p->u.unsubscribe.count; i++)
            if (!proto_mount(c, p->u.unsubscribe.filters[i], &p->u.unsubscribe.filters[i])) {
                proto_disconnect(c, MQTT_RC_TOPIC_FILTER_INVALID, "filter too long with the mount point");
                return;
            }
        proto_unsubscribe(c, &p->u.unsubscribe);
        break;
    case MQTT_PINGREQ: {
        mqtt_packet r = {.type = MQTT_PINGRESP};
        conn_send(c, &r);
        break;
    }
    case MQTT_DISCONNECT:
        proto_client_disconnect(c, &p->u.disconnect);
        break;
    case MQTT_CONNECT:
        proto_disconnect(c, MQTT_RC_PROTOCOL_ERROR, "second CONNECT");
        break;
    case MQTT_AUTH:
        proto_reauth_packet(c, &p->u.auth);
        break;
    default:
        proto_disconnect(c, MQTT_RC_PROTOCOL_ERROR, "packet type not allowed from a client");
        break;
    }
}
