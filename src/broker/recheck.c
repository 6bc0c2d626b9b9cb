/* recheck.c - broker_recheck_subscriptions (declared in broker_acl.h): after the authorization rules change,
 * every live subscription is checked again and the ones no longer allowed are removed at once. */
#include <stdlib.h>

#include "broker/broker_acl.h"
#include "broker/core.h"

/* Checks the subscriptions of one session; removes the denied ones. Returns how many. */
static size_t recheck_session(broker *b, session *s)
{
    size_t n = 0, denied = 0;
    session_sub **gone = NULL;
    if (s->subs.count == 0)
        return 0;
    gone = calloc(s->subs.count, sizeof(*gone));
    if (!gone)
        return 0;
    for (uint32_t i = 0; i < s->subs.cap && n < s->subs.count; i++) {
        session_sub *sub = s->subs.slots[i].value;
        if (!sub)
            continue;
        if (!broker_authorize(b, s->conn, s, BROKER_ACCESS_SUBSCRIBE, sub->filter, sub->filter_len, sub->qos,
                              false))
            gone[n++] = sub;
    }
    for (size_t i = 0; i < n; i++) {
        mqtt_bytes filter = {(const uint8_t *)gone[i]->filter, gone[i]->filter_len};
        if (session_unsubscribe(b, s, filter) == 0)
            denied++;
    }
    free(gone);
    return denied;
}

size_t broker_recheck_subscriptions(broker *b)
{
    size_t removed = 0;
    for (session *s = b->sessions_head; s; s = s->next)
        removed += recheck_session(b, s);
    return removed;
}
