/* secevent.c - see secevent.h. */
#include "base/secevent.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static secevent_sink secevent_fn;
static void *secevent_ctx;

void secevent_set_sink(secevent_sink fn, void *ctx)
{
    secevent_fn = fn;
    secevent_ctx = ctx;
}

bool secevent_wanted(void)
{
    return secevent_fn != NULL;
}

void secevent_emit(const secevent *e)
{
    if (secevent_fn && e && e->type)
        secevent_fn(secevent_ctx, e);
}

/* The first unused extra slot of e, or NULL when all are taken. */
static secevent_field *secevent_slot(secevent *e)
{
    for (size_t i = 0; i < SECEVENT_MAX_EXTRA; i++)
        if (!e->extra[i].key)
            return &e->extra[i];
    return NULL;
}

void secevent_add_text(secevent *e, const char *key, const char *value)
{
    secevent_field *f = value ? secevent_slot(e) : NULL;
    if (!f)
        return;
    f->key = key;
    f->text = value;
}

void secevent_add_number(secevent *e, const char *key, int64_t value)
{
    secevent_field *f = secevent_slot(e);
    if (!f)
        return;
    f->key = key;
    f->number = value;
    f->is_number = true;
}

void secevent_set_peer(secevent *e, const char *peer, char *buf, size_t cap)
{
    const char *end, *colon;
    long port = 0;

    if (!peer || !cap)
        return;
    if (peer[0] == '[' && (end = strchr(peer, ']'))) {
        snprintf(buf, cap, "%.*s", (int)(end - peer - 1), peer + 1);
        colon = end[1] == ':' ? end + 1 : NULL;
    } else {
        colon = strrchr(peer, ':');
        if (colon && strchr(peer, ':') != colon)
            colon = NULL; /* a bare IPv6 address */
        snprintf(buf, cap, "%.*s", colon ? (int)(colon - peer) : (int)strlen(peer), peer);
    }
    if (colon) {
        char *stop;
        port = strtol(colon + 1, &stop, 10);
        if (*stop || port < 0 || port > 65535)
            port = 0;
    }
    e->address = buf;
    e->port = (uint16_t)port;
}
