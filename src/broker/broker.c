/* broker.c - the broker object: settings, listeners, the run loop, timers (keep alive, CONNECT deadline,
 * session expiry, delayed wills), $SYS, shutdown. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/counters.h"
#include "base/log.h"
#include "base/notify.h"
#include "broker/core.h"

void broker_settings_default(broker_settings *s)
{
    memset(s, 0, sizeof *s);
    s->max_connections = 0;
    s->max_connections_per_ip = 0;
    s->max_packet_size = 268435455u;
    s->max_packet_size_unauth = 65536;
    s->message_size_limit = 0;
    s->max_inflight_messages = 20;
    s->max_queued_messages = 1000;
    s->max_queued_bytes = 64u << 20;
    s->queue_qos0_messages = false;
    s->max_keepalive = 0;
    s->connect_timeout_s = 10;
    s->retain_available = true;
    s->max_subscriptions = 1000;
    s->max_sessions = 100000;
    s->max_topic_levels = 128;
    s->max_user_properties = 256;
    s->max_session_expiry = UINT32_MAX;
    s->memory_limit = (size_t)1 << 30;
    s->out_buffer_limit = 4u << 20;
    s->sys_interval = 10;
    s->tcp_nodelay = true;
}

void broker_listener_default(broker_listener_settings *l)
{
    memset(l, 0, sizeof *l);
    l->family = AF_UNSPEC;
    l->allow_anonymous = false;
    l->allow_zero_length_clientid = true;
    l->max_qos = 2;
    l->max_topic_alias = 10;
    l->max_connections = -1;
}

void broker_settings_clear(broker_settings *s)
{
    for (int i = 0; i < s->nlisteners; i++) {
        free(s->listeners[i].address);
        free(s->listeners[i].bind_interface);
        free(s->listeners[i].mount_point);
    }
    free(s->clientid_prefix);
    free(s->response_topic_prefix);
    s->nlisteners = 0;
    s->clientid_prefix = NULL;
    s->response_topic_prefix = NULL;
}

broker_listener_settings *broker_settings_add_listener(broker_settings *s, const char *address, uint16_t port)
{
    if (s->nlisteners >= BROKER_MAX_LISTENERS)
        return NULL;
    broker_listener_settings *l = &s->listeners[s->nlisteners];
    broker_listener_default(l);
    l->port = port;
    if (address && !(l->address = strdup(address)))
        return NULL;
    s->nlisteners++;
    return l;
}

void *broker_arena_alloc(void *ctx, size_t size)
{
    broker *b = ctx;
    size_t at = (b->arena_used + 15) & ~(size_t)15;
    if (size > BROKER_ARENA || at > BROKER_ARENA - size)
        return NULL;
    b->arena_used = at + size;
    return b->arena + at;
}

void broker_arena_reset(broker *b)
{
    b->arena_used = 0;
}

bool broker_over_memory(const broker *b)
{
    return b->set.memory_limit && b->mem_msgs + b->mem_out + b->mem_state > b->set.memory_limit;
}

/* Counts a refused access (metrics: rampart_acl_denials_total). */
static bool broker_denied(enum broker_access access)
{
    counters_inc(access == BROKER_ACCESS_SUBSCRIBE ? COUNTER_ACL_SUBSCRIBE
                 : access == BROKER_ACCESS_PUBLISH ? COUNTER_ACL_PUBLISH
                                                   : COUNTER_ACL_READ);
    return false;
}

bool broker_authorize(broker *b, const conn *c, session *s, enum broker_access access, const char *topic,
                      size_t len, uint8_t qos, bool retain)
{
    /* $SYS belongs to the broker: no client (nor its will) may publish there, whatever the ACL says. */
    if (access == BROKER_ACCESS_PUBLISH && len >= 4 && memcmp(topic, "$SYS", 4) == 0 &&
        (len == 4 || topic[4] == '/'))
        return broker_denied(access);
    if (!b->authorizer && !b->sec.authorize)
        return true;
    broker_client info = {0};
    if (c) {
        conn_client(c, &info);
    } else if (s) {
        info.client_id = s->client_id;
        info.username = s->username;
        info.version = s->version;
        info.listener_user = s->listener_user;
        info.listener_port = s->listener_port;
    }
    bool ok = b->authorizer ? b->authorizer(b->authorizer_ctx, &info, access, topic, len, qos, retain)
                            : b->sec.authorize(b->sec.ctx, &info, access, topic, len, qos, retain);
    return ok || broker_denied(access);
}

const broker_client *broker_auth_waiting(broker *b, uint64_t cookie)
{
    conn *c = hmap_get(&b->authenticating, &cookie, sizeof cookie);
    bool waiting = c && ((c->state == CONN_ACTIVE && c->reauth == REAUTH_PENDING) ||
                         (c->state == CONN_AUTH && c->auth_waiting));
    if (!waiting)
        return NULL;
    conn_client(c, &b->waiting_client);
    return &b->waiting_client;
}

void broker_auth_complete(broker *b, uint64_t cookie, const broker_auth_result *r)
{
    conn *c = hmap_get(&b->authenticating, &cookie, sizeof cookie);
    if (c && c->state == CONN_ACTIVE && c->reauth == REAUTH_PENDING) {
        b->now_ms = loop_now_ms();
        proto_reauth_answer(c, r);
        return;
    }
    if (!c || c->state != CONN_AUTH || !c->auth_waiting)
        return;
    b->now_ms = loop_now_ms();
    proto_auth_answer(c, r);
    conn_resume(c);
}

static void broker_on_fd(void *ctx, uint32_t events)
{
    broker_fd_watch *w = ctx;
    (void)events;
    w->fn(w->ctx);
}

int broker_watch_fd(broker *b, int fd, void (*fn)(void *ctx), void *ctx)
{
    if (b->nfds == (int)(sizeof b->fds / sizeof b->fds[0]))
        return -1;
    b->fds[b->nfds].fn = fn;
    b->fds[b->nfds].ctx = ctx;
    if (loop_watch_add(b->loop, &b->fds[b->nfds].watch, fd, LOOP_READ, broker_on_fd, &b->fds[b->nfds]) < 0)
        return -1;
    b->nfds++;
    return 0;
}

int broker_add_tick(broker *b, void (*fn)(void *ctx, uint64_t now_ms), void *ctx)
{
    if (b->nticks == (int)(sizeof b->ticks / sizeof b->ticks[0]))
        return -1;
    b->ticks[b->nticks].fn = fn;
    b->ticks[b->nticks].ctx = ctx;
    b->nticks++;
    return 0;
}

static void broker_on_signal(void *ctx, uint32_t events)
{
    broker *b = ctx;
    struct signalfd_siginfo si;
    (void)events;
    while (read(b->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGHUP) {
            log_notice("SIGHUP: reloading");
            notify_reloading();
            for (int i = 0; i < b->nreloads; i++)
                b->reloads[i].fn(b->reloads[i].ctx, b);
            notify_ready();
        } else {
            log_notice("signal %u: shutting down", si.ssi_signo);
            notify_stopping();
            b->stop = true;
        }
    }
}

static int broker_signals(broker *b)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    /* An inherited "ignore" would discard these before signalfd could see them (nohup, background jobs). */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return -1;
    signal(SIGPIPE, SIG_IGN);
    b->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (b->sigfd < 0)
        return -1;
    return loop_watch_add(b->loop, &b->sigwatch, b->sigfd, LOOP_READ, broker_on_signal, b);
}

broker *broker_new(broker_settings *s)
{
    broker *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->sigfd = -1;
    b->set = *s;
    memset(s, 0, sizeof *s); /* the strings are ours now */
    b->now_ms = b->start_ms = loop_now_ms();
    b->arena = malloc(BROKER_ARENA);
    b->rbuf = malloc(BROKER_READ_BUF);
    b->loop = loop_new();
    if (!b->arena || !b->rbuf || !b->loop || trie_init(&b->trie) < 0 || retain_init(&b->retained) < 0) {
        log_error("out of memory starting the broker");
        goto fail;
    }
    if (!b->set.no_signals && broker_signals(b) < 0) {
        log_error("cannot set up signal handling: %s", strerror(errno));
        goto fail;
    }
    return b;
fail:
    broker_free(b);
    return NULL;
}

void broker_set_security(broker *b, const broker_security *sec)
{
    b->sec = *sec;
}

void broker_set_authorizer(broker *b, broker_authorize_fn fn, void *ctx)
{
    b->authorizer = fn;
    b->authorizer_ctx = ctx;
}

void broker_set_listener_hook(broker *b, broker_listener_hook_fn fn, void *ctx)
{
    b->listener_hook = fn;
    b->listener_hook_ctx = ctx;
}

int broker_add_reload_hook(broker *b, broker_reload_fn fn, void *ctx)
{
    if (b->nreloads == (int)(sizeof b->reloads / sizeof b->reloads[0]))
        return -1;
    b->reloads[b->nreloads].fn = fn;
    b->reloads[b->nreloads].ctx = ctx;
    b->nreloads++;
    return 0;
}

static bool broker_same_listener(const broker_listener_settings *a, const broker_listener_settings *b)
{
    if (a->port != b->port || !a->address != !b->address)
        return false;
    return !a->address || strcmp(a->address, b->address) == 0;
}

void broker_reload_settings(broker *b, const broker_settings *ns)
{
    broker_settings *s = &b->set;
    s->max_connections = ns->max_connections;
    s->max_connections_per_ip = ns->max_connections_per_ip;
    s->max_packet_size = ns->max_packet_size;
    s->max_packet_size_unauth = ns->max_packet_size_unauth;
    s->message_size_limit = ns->message_size_limit;
    s->max_inflight_messages = ns->max_inflight_messages;
    s->max_queued_messages = ns->max_queued_messages;
    s->max_queued_bytes = ns->max_queued_bytes;
    s->queue_qos0_messages = ns->queue_qos0_messages;
    s->max_keepalive = ns->max_keepalive;
    s->connect_timeout_s = ns->connect_timeout_s;
    s->retain_available = ns->retain_available;
    s->max_subscriptions = ns->max_subscriptions;
    s->max_sessions = ns->max_sessions;
    s->max_topic_levels = ns->max_topic_levels;
    s->max_user_properties = ns->max_user_properties;
    if (ns->max_session_expiry < s->max_session_expiry) {
        size_t n = session_clamp_expiry(b, ns->max_session_expiry);
        if (n)
            log_notice("reload: %zu session(s): expiry lowered to %u s (the configured maximum)", n,
                       ns->max_session_expiry);
    }
    s->max_session_expiry = ns->max_session_expiry;
    s->memory_limit = ns->memory_limit;
    s->out_buffer_limit = ns->out_buffer_limit;
    s->sys_interval = ns->sys_interval;
    char *prefix = ns->response_topic_prefix ? strdup(ns->response_topic_prefix) : NULL;
    if (ns->response_topic_prefix && !prefix) {
        log_warning("reload: out of memory: response_topic_prefix unchanged");
    } else {
        free(s->response_topic_prefix);
        s->response_topic_prefix = prefix;
    }
    for (int i = 0; i < ns->nlisteners; i++) {
        const broker_listener_settings *n = &ns->listeners[i];
        int j = 0;
        while (j < s->nlisteners && !broker_same_listener(&s->listeners[j], n))
            j++;
        if (j == s->nlisteners) {
            log_warning("reload: new listener on port %u needs a restart", n->port);
            continue;
        }
        broker_listener_settings *o = &s->listeners[j];
        o->allow_anonymous = n->allow_anonymous;
        o->allow_zero_length_clientid = n->allow_zero_length_clientid;
        o->max_qos = n->max_qos;
        o->max_topic_alias = n->max_topic_alias;
        o->max_connections = n->max_connections;
    }
    for (int j = 0; j < s->nlisteners; j++) {
        int i = 0;
        while (i < ns->nlisteners && !broker_same_listener(&s->listeners[j], &ns->listeners[i]))
            i++;
        if (i == ns->nlisteners)
            log_warning("reload: removing the listener on port %u needs a restart", s->listeners[j].port);
    }
    log_notice("reload: broker limits applied");
}

int broker_listen(broker *b)
{
    for (int i = 0; i < b->set.nlisteners; i++) {
        broker_listener_settings *ls = &b->set.listeners[i];
        char err[256];
        listener_options lo = {ls->address, ls->port, ls->bind_interface, ls->family, b->set.tcp_nodelay};
        net_listener *l = listener_open(b->loop, &lo, conn_accept, b, err, sizeof err);
        if (!l) {
            log_error("%s", err);
            return -1;
        }
        listener_set_user(l, ls);
        b->listeners[b->nlisteners++] = l;
        if (b->listener_hook)
            b->listener_hook(b->listener_hook_ctx, l, ls);
        log_notice("listening on %s port %u", ls->address ? ls->address : "*", listener_port(l));
    }
    return 0;
}

uint16_t broker_listener_port(const broker *b, int i)
{
    return i < b->nlisteners ? listener_port(b->listeners[i]) : 0;
}

int broker_close_if(broker *b, bool (*keep)(void *ctx, transport *t), void *ctx, const char *why)
{
    int n = 0;
    for (conn *c = b->conns_head; c; c = c->next) {
        if (c->state == CONN_CLOSING || keep(ctx, c->t))
            continue;
        conn_close(c, MQTT_RC_ADMINISTRATIVE_ACTION, why);
        n++;
    }
    return n;
}

void broker_stop(broker *b)
{
    b->stop = true;
}

/* ---- timers ---- */

/* Expired retained messages removed per one-second tick at most (the rest go on the next ticks). */
#define BROKER_RETAIN_SWEEP 4096

/* Connections whose timer is due (CONNECT deadline, keep alive, idle buffers): the cost is O(log n) per due
 * timer; idle connections whose deadline is later cost nothing. */
static void broker_tick_conns(broker *b)
{
    timer_node *t;
    while ((t = timer_heap_pop_due(&b->conn_timers, b->now_ms)))
        conn_timer_fire((conn *)((char *)t - offsetof(conn, timer)));
}

/* Offline sessions whose delayed will or expiry is due, earliest first. */
static void broker_tick_sessions(broker *b)
{
    timer_node *t;
    while ((t = timer_heap_pop_due(&b->session_timers, b->now_ms))) {
        session *s = (session *)((char *)t - offsetof(session, timer));
        if (s->conn)
            continue;
        if (s->will_at_ms && b->now_ms >= s->will_at_ms)
            session_send_will(b, s);
        if (s->expire_at_ms && b->now_ms >= s->expire_at_ms) {
            log_info("session %s expired", s->client_id);
            session_end(b, s);
            continue;
        }
        session_timer_arm(b, s);
    }
}

/* ---- $SYS ---- */

static void broker_sys_publish(broker *b, const char *topic, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void broker_sys_publish(broker *b, const char *topic, const char *fmt, ...)
{
    char value[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(value, sizeof value, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    broker_msg *m = msg_new(topic, strlen(topic), value, strlen(value), 0, true, NULL, b->now_ms, 0, &b->mem_msgs);
    if (!m)
        return;
    retain_set(&b->retained, m);
    route_publish(b, m);
    msg_unref(m);
}

static void broker_sys_load(broker *b, double interval_s)
{
    static const char *const names[5] = {"messages/received", "messages/sent", "bytes/received", "bytes/sent",
                                         "connections"};
    static const int minutes[3] = {1, 5, 15};
    uint64_t now[5] = {b->stats.msgs_received, b->stats.msgs_sent, b->stats.bytes_received, b->stats.bytes_sent,
                       b->stats.connections_total};
    for (int k = 0; k < 5; k++) {
        double per_min = (double)(now[k] - b->load_last[k]) * 60.0 / interval_s;
        b->load_last[k] = now[k];
        for (int j = 0; j < 3; j++) {
            double f = exp(-interval_s / (60.0 * minutes[j]));
            b->load[j][k] = b->load[j][k] * f + per_min * (1.0 - f);
            char topic[96];
            snprintf(topic, sizeof topic, "$SYS/broker/load/%s/%dmin", names[k], minutes[j]);
            broker_sys_publish(b, topic, "%.2f", b->load[j][k]);
        }
    }
}

static void broker_sys(broker *b)
{
    broker_stats *st = &b->stats;
    uint32_t total = (uint32_t)b->nsessions;
    broker_sys_publish(b, "$SYS/broker/version", "rampart version %s", RAMPART_VERSION);
    broker_sys_publish(b, "$SYS/broker/uptime", "%llu seconds", (unsigned long long)((b->now_ms - b->start_ms) / 1000));
    broker_sys_publish(b, "$SYS/broker/clients/connected", "%u", st->clients_connected);
    broker_sys_publish(b, "$SYS/broker/clients/active", "%u", st->clients_connected);
    broker_sys_publish(b, "$SYS/broker/clients/disconnected", "%u", total - st->clients_connected);
    broker_sys_publish(b, "$SYS/broker/clients/inactive", "%u", total - st->clients_connected);
    broker_sys_publish(b, "$SYS/broker/clients/total", "%u", total);
    broker_sys_publish(b, "$SYS/broker/clients/maximum", "%u", st->clients_maximum);
    broker_sys_publish(b, "$SYS/broker/messages/received", "%llu", (unsigned long long)st->msgs_received);
    broker_sys_publish(b, "$SYS/broker/messages/sent", "%llu", (unsigned long long)st->msgs_sent);
    broker_sys_publish(b, "$SYS/broker/publish/messages/received", "%llu", (unsigned long long)st->pub_received);
    broker_sys_publish(b, "$SYS/broker/publish/messages/sent", "%llu", (unsigned long long)st->pub_sent);
    broker_sys_publish(b, "$SYS/broker/publish/messages/dropped", "%llu", (unsigned long long)st->dropped);
    broker_sys_publish(b, "$SYS/broker/bytes/received", "%llu", (unsigned long long)st->bytes_received);
    broker_sys_publish(b, "$SYS/broker/bytes/sent", "%llu", (unsigned long long)st->bytes_sent);
    broker_sys_publish(b, "$SYS/broker/retained messages/count", "%zu", b->retained.count);
    broker_sys_publish(b, "$SYS/broker/subscriptions/count", "%zu", b->trie.subs);
    broker_sys_publish(b, "$SYS/broker/heap/current", "%zu", b->mem_msgs + b->mem_out + b->mem_state);
    broker_sys_load(b, (double)b->set.sys_interval);
}

static void broker_tick(broker *b)
{
    size_t expired = retain_expire(&b->retained, b->now_ms, BROKER_RETAIN_SWEEP);
    if (expired)
        log_debug("%zu expired retained messages removed", expired);
    broker_tick_conns(b);
    broker_tick_sessions(b);
    persist_tick(b);
    for (int i = 0; i < b->nlisteners; i++)
        listener_tick(b->listeners[i]);
    for (int i = 0; i < b->nticks; i++)
        b->ticks[i].fn(b->ticks[i].ctx, b->now_ms);
    if (b->set.sys_interval && b->now_ms >= b->next_sys_ms) {
        b->next_sys_ms = b->now_ms + (uint64_t)b->set.sys_interval * 1000u;
        broker_sys(b);
    }
}

void broker_attach_fd(broker *b, int fd, const char *address)
{
    b->now_ms = loop_now_ms();
    conn_attach(b, NULL, fd, address, 0);
    conn_flush_dirty(b);
    conn_reap(b);
}

/* One loop iteration; returns -1 if the event loop failed. */
static int broker_iterate(broker *b, int max_wait_ms)
{
    b->now_ms = loop_now_ms();
    int timeout = b->next_tick_ms > b->now_ms ? (int)(b->next_tick_ms - b->now_ms) : 0;
    if (max_wait_ms >= 0 && timeout > max_wait_ms)
        timeout = max_wait_ms;
    if (b->again_head)
        timeout = 0;
    if (loop_run_once(b->loop, timeout) < 0) {
        log_error("event loop: %s", strerror(errno));
        return -1;
    }
    conn_read_again(b);
    b->now_ms = loop_now_ms();
    if (b->now_ms >= b->next_tick_ms) {
        broker_tick(b);
        b->next_tick_ms = b->now_ms + 1000;
    }
    persist_commit(b); /* group commit: before any acknowledgement of this iteration is written */
    conn_flush_dirty(b);
    conn_reap(b);
    return 0;
}

void broker_step(broker *b, int timeout_ms)
{
    broker_iterate(b, timeout_ms);
}

int broker_run(broker *b)
{
    while (!b->stop)
        if (broker_iterate(b, -1) < 0)
            return 1;
    return 0;
}

void broker_free(broker *b)
{
    if (!b)
        return;
    b->stop = true;
    for (conn *c = b->conns_head; c; c = c->next) {
        if (c->state == CONN_ACTIVE)
            c->will_keep = false;
        proto_disconnect(c, MQTT_RC_SERVER_SHUTTING_DOWN, "server shutting down");
    }
    persist_commit(b);
    conn_flush_dirty(b);
    conn_reap(b);
    for (int i = 0; i < b->nlisteners; i++)
        listener_close(b->listeners[i]);
    persist_close(b); /* the final state is committed; freeing the sessions below deletes no record */
    session_free_all(b);
    retain_free(&b->retained);
    trie_free(&b->trie);
    for (uint32_t i = 0; i < b->per_ip.cap; i++)
        free(b->per_ip.slots[i].value);
    hmap_free(&b->per_ip);
    hmap_free(&b->authenticating);
    timer_heap_free(&b->conn_timers);
    timer_heap_free(&b->session_timers);
    for (int i = 0; i < b->nfds; i++)
        loop_watch_remove(b->loop, &b->fds[i].watch);
    if (b->sigfd >= 0) {
        loop_watch_remove(b->loop, &b->sigwatch);
        close(b->sigfd);
    }
    loop_free(b->loop);
    free(b->matches);
    free(b->match_ids);
    free(b->arena);
    free(b->rbuf);
    broker_settings_clear(&b->set);
    free(b);
}
