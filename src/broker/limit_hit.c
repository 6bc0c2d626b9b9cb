/* limit_hit.c - see core.h: the broker's limits reported to the security audit log. */
#include <stdio.h>

#include "base/secevent.h"
#include "broker/core.h"
#include "net/transport.h"

/* The listener's name as the configuration spells it ("ADDRESS:PORT", "*" for every interface). */
static void limit_hit_listener(const broker_listener_settings *ls, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s:%u", ls && ls->address ? ls->address : "*", ls ? (unsigned)ls->port : 0u);
}

void limit_hit_client(const conn *c, const session *s, const char *limit, const char *outcome, const char *topic,
                      size_t topic_len)
{
    char listener[300], topic_text[1024];
    secevent e = {.type = "limit_hit", .outcome = outcome, .reason = limit};

    if (!secevent_wanted())
        return;
    if (c) {
        limit_hit_listener(c->ls, listener, sizeof listener);
        e.listener = listener;
        e.address = c->address;
        e.port = c->port;
        e.client_id = c->session ? c->session->client_id : conn_auth_client_id(c);
        e.username = c->username;
        const transport *t = c->t;
        e.cert_subject = t && t->ops && t->ops->peer_subject ? t->ops->peer_subject(t) : NULL;
        if (!s)
            s = c->session;
    }
    if (s && !e.client_id) {
        e.client_id = s->client_id;
        e.username = s->username;
    }
    if (topic) {
        snprintf(topic_text, sizeof topic_text, "%.*s", (int)(topic_len < 1023 ? topic_len : 1023), topic);
        e.topic = topic_text;
    }
    secevent_add_text(&e, "limit", limit);
    secevent_emit(&e);
}

void limit_hit_peer(const broker_listener_settings *ls, const char *addr, uint16_t port, const char *limit)
{
    char listener[300];
    secevent e = {.type = "limit_hit", .address = addr, .port = port, .outcome = "refused", .reason = limit};

    if (!secevent_wanted())
        return;
    limit_hit_listener(ls, listener, sizeof listener);
    e.listener = listener;
    secevent_add_text(&e, "limit", limit);
    secevent_emit(&e);
}
