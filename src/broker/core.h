/*
 * core.h - the broker's internal structures, shared by broker.c (setup, loop, timers, $SYS), conn.c
 * (connection I/O and framing), proto.c (packet handling), route.c (publish routing and delivery) and
 * session.c (sessions and their queues). Not for use outside src/broker/.
 */
#ifndef RAMPART_BROKER_CORE_H
#define RAMPART_BROKER_CORE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/timerheap.h"
#include "broker/broker.h"
#include "broker/hmap.h"
#include "broker/msg.h"
#include "broker/retain.h"
#include "broker/trie.h"
#include "net/loop.h"
#include "net/outq.h"

#define BROKER_READ_BUF (64 * 1024)
#define BROKER_ARENA (256 * 1024)

/* One message waiting for, or in, an outbound QoS flow of one session. */
enum { DLV_RETAIN = 1, DLV_SENT = 2, DLV_PUBREL = 4 };
typedef struct delivery {
    broker_msg *msg;      /* NULL once a QoS 2 message reached PUBREL */
    trie_group *group;    /* the shared subscription it came through (referenced), or NULL */
    uint32_t *sub_ids;    /* when nsub > 1: allocated array */
    uint32_t sub_id;      /* when nsub == 1 */
    uint16_t nsub;
    uint16_t packet_id;
    uint8_t qos;
    uint8_t flags;
} delivery;

/* A bounded FIFO of deliveries (ring). */
typedef struct dqueue {
    delivery *items;
    uint32_t head, count, cap;
} dqueue;

typedef struct session_sub {
    uint16_t filter_len;
    uint8_t qos;
    uint8_t options; /* bit 0 No Local, bit 1 Retain As Published, bits 2-3 Retain Handling (for persistence) */
    uint32_t sub_id;
    char filter[]; /* the full filter as subscribed, $share prefix included */
} session_sub;

typedef struct conn conn;

#define SESSION_IN_QOS2_MAP UINT32_MAX

typedef struct session session;
/* One client session (one per client, connected or not): fields packed by size, the client identifier in
 * the same allocation (docs/performance.md: memory per idle connection). */
struct session {
    char *username;
    uint64_t uid; /* unique per session object, for No Local */
    conn *conn;   /* NULL while offline */
    void *listener_user;    /* the listener it last connected through (for authorization while offline) */
    uint64_t expire_at_ms;  /* while offline */
    hmap subs;              /* full filter -> session_sub */
    dqueue inflight;        /* sent, awaiting acknowledgement, in send order */
    dqueue queue;           /* waiting for a window slot or for the client to come back */
    size_t queued_bytes;
    void *in_qos2; /* inbound QoS 2 packet ids awaiting PUBREL: uint16_t[in_qos2_cap], or, when in_qos2_cap
                      is SESSION_IN_QOS2_MAP, a bitmap of the whole packet id space (8 KiB); see proto.c */
    broker_msg *will;
    uint64_t will_at_ms; /* pending delayed will: when to send it; 0: none pending */
    timer_node timer;     /* while offline: armed at the earlier of will_at_ms and expire_at_ms */
    uint64_t match_epoch;
    session *prev, *next; /* every session */
    session *persist_prev, *persist_next;
    uint32_t expiry_s;      /* Session Expiry Interval; UINT32_MAX: never */
    uint32_t in_qos2_count, in_qos2_cap;
    uint32_t will_delay_s;
    uint32_t match_index;
    uint16_t id_len;
    uint16_t listener_port;
    uint16_t next_pid;
    uint8_t version;
    uint8_t will_qos;
    bool will_retain;
    bool persist_stored;  /* the store holds a record of this session */
    bool persist_dirty;   /* in the persist batch (persist_prev/next) */
    char client_id[];       /* NUL-terminated (same allocation) */
};

enum conn_state { CONN_HANDSHAKE, CONN_NEW, CONN_AUTH, CONN_ACTIVE, CONN_CLOSING };
/* Re-authentication of an active connection: none, waiting for the client's next AUTH, waiting for the
 * security hook's answer (the connection is then in broker.authenticating). */
enum { REAUTH_NONE = 0, REAUTH_CONTINUE, REAUTH_PENDING };

/* Topic aliases of one connection, allocated at the first alias used in either direction (most clients use
 * none, so idle connections do not carry this). */
typedef struct conn_aliases {
    hmap out;          /* topic -> alias (uintptr_t); keys in out_topics */
    char **out_topics; /* [alias-1], out_alias_max entries once the first is assigned */
    char **in;         /* [alias-1], in_alias_max entries once the client sets the first */
    uint16_t out_count;
} conn_aliases;

/* Authentication state of one connection: allocated at CONNECT, freed after CONNACK unless the client
 * authenticated with a method (kept for re-authentication). */
typedef struct conn_auth {
    char *client_id;   /* while CONN_AUTH: the client id (given or assigned) */
    char *method;      /* the Authentication Method of an accepted CONNECT (re-authentication); NULL */
    uint8_t *saved;    /* while CONN_AUTH: the CONNECT packet, password wiped */
    uint32_t saved_len;
} conn_auth;

/*
 * One client connection. There is one per connected client, so its size is most of the memory an idle
 * connection costs (docs/performance.md): what only some connections need (topic aliases, the pending
 * CONNECT of an authentication in progress) is allocated when needed, the rest is packed by size.
 */
struct conn {
    broker *b;
    uint64_t id;             /* unique; the cookie of authentication steps */
    loop_watch watch;
    transport *t;
    net_listener *listener;
    broker_listener_settings *ls; /* settings of the listener it came through */
    session *session;
    const char *address;     /* client IP address: the key of its per-address count (ip_count.key) once
                                admitted, before that a copy (address_owned) */
    char *username;          /* from CONNECT, NULL if none */
    void *security_state;    /* broker_security.accept's per-connection state */
    uint8_t *ibuf;
    outq out;
    size_t out_accounted;    /* out.area_pending as last added to broker.mem_out */
    uint64_t last_rx_ms;
    timer_node timer;        /* the next check: the CONNECT deadline before CONN_ACTIVE (timer.at is that
                                deadline), then keep alive, or a trim of idle output buffers */
    conn_aliases *aliases;   /* NULL until a topic alias is used */
    conn_auth *auth;         /* NULL unless authenticating or authenticated with a method */
    conn *prev, *next;       /* every connection */
    conn *next_dirty;
    conn *next_closing;
    conn *next_again;        /* in broker.again: the transport holds input already decoded */
    uint32_t ilen, icap;
    uint32_t out_max_packet; /* the client's Maximum Packet Size; 0: none */
    uint16_t port;
    uint16_t keepalive_s;    /* negotiated keep alive */
    uint16_t server_keepalive_s; /* Server Keep Alive sent in CONNACK; 0: none */
    uint16_t out_window;     /* the client's Receive Maximum */
    uint16_t out_alias_max;  /* the client's Topic Alias Maximum */
    uint16_t in_alias_max;   /* the Topic Alias Maximum we sent in CONNACK */
    uint8_t state;           /* enum conn_state (one byte: the struct stays in a smaller malloc size) */
    uint8_t version;         /* 0 until CONNECT */
    uint8_t reauth;          /* REAUTH_*: where a re-authentication stands */
    bool request_problem_info;
    bool will_keep;          /* DISCONNECT 0x04 or abnormal end: the will goes out */
    bool auth_waiting;       /* an authentication answer is pending: read nothing */
    bool read_paused;
    bool dirty;
    bool counted_ip;
    bool admit_pending;      /* a trusted proxy is connected: per-address checks wait for the real address */
    bool address_owned;      /* address is the connection's own copy (before admission), not ip_count.key */
    bool again;
    uint64_t persist_wait;   /* output held until this persist batch is committed (persist_hold) */
};

typedef struct ip_count {
    uint32_t count;
    uint8_t len;
    char key[INET6_ADDRSTRLEN];
} ip_count;

typedef struct match_entry {
    session *s;
    trie_group *group;
    uint8_t qos;
    bool retain;
    uint16_t nsub;
    int32_t sub_head; /* index into broker.match_ids, -1: none */
} match_entry;

typedef struct match_id {
    uint32_t id;
    int32_t next;
} match_id;

typedef struct broker_fd_watch {
    loop_watch watch;
    void (*fn)(void *ctx);
    void *ctx;
} broker_fd_watch;

typedef struct broker_stats {
    uint64_t msgs_received, msgs_sent, bytes_received, bytes_sent;
    uint64_t pub_received, pub_sent, dropped;
    uint64_t connections_total;
    uint32_t clients_connected, clients_maximum;
    /* PUBLISH packets and their payload bytes by QoS (metrics, docs/metrics.md) */
    uint64_t pub_received_qos[3], pub_sent_qos[3];
    uint64_t payload_received_qos[3], payload_sent_qos[3];
} broker_stats;

struct broker {
    broker_settings set;
    broker_security sec;
    broker_authorize_fn authorizer; /* broker_set_authorizer: replaces sec.authorize when set */
    void *authorizer_ctx;
    broker_listener_hook_fn listener_hook;
    void *listener_hook_ctx;
    struct {
        broker_reload_fn fn;
        void *ctx;
    } reloads[8];
    int nreloads;
    net_loop *loop;
    net_listener *listeners[BROKER_MAX_LISTENERS];
    int nlisteners;
    int sigfd;
    loop_watch sigwatch;
    bool stop;
    uint64_t now_ms;
    uint64_t start_ms;
    hmap sessions; /* client id -> session */
    session *sessions_head;
    size_t nsessions;
    conn *conns_head;
    uint32_t nconns;
    timer_heap conn_timers;    /* conn.timer of every connection with a deadline */
    timer_heap session_timers; /* session.timer of offline sessions with a will delay or an expiry */
    conn *dirty_head;
    conn *again_head;
    conn *closing_head;
    hmap per_ip; /* address -> ip_count */
    hmap authenticating; /* conn id -> conn, while CONN_AUTH */
    broker_client waiting_client; /* what broker_auth_waiting() returned last */
    uint64_t next_conn_id;
    broker_fd_watch fds[8];
    int nfds;
    struct {
        void (*fn)(void *ctx, uint64_t now_ms);
        void *ctx;
    } ticks[8];
    int nticks;
    sub_trie trie;
    retain_store retained;
    size_t mem_msgs; /* bytes of live messages */
    size_t mem_out;  /* bytes waiting in output queues (approximate) */
    size_t mem_state; /* bytes of sessions and their subscriptions (approximate: see session.c) */
    uint64_t next_uid;
    uint64_t assign_counter;
    uint64_t match_epoch;
    match_entry *matches;
    uint32_t nmatches, capmatches;
    match_id *match_ids;
    uint32_t nmatch_ids, capmatch_ids;
    broker_stats stats;
    uint64_t next_sys_ms;
    uint64_t next_tick_ms;
    double load[3][5]; /* EWMA per minute: [1/5/15][recv msgs, sent msgs, recv bytes, sent bytes, conns] */
    uint64_t load_last[5];
    uint8_t *arena;
    size_t arena_used;
    uint8_t *rbuf;
    struct persist *persist; /* NULL: no persistence */
};

/* ---- session.c ---- */
session *session_new(broker *b, const char *id, size_t len);
/* Ends a session for good: publishes a pending or kept will, hands its shared-subscription messages to other
 * connected members of their groups, removes subscriptions, frees queues. */
void session_end(broker *b, session *s);
void session_free_all(broker *b);
int session_subscribe(broker *b, session *s, const mqtt_subscription *sub, uint32_t sub_id, bool *existed);
int session_unsubscribe(broker *b, session *s, mqtt_bytes filter);
void delivery_release(delivery *d);
int dq_push(dqueue *q, const delivery *d);
int dq_push_front(dqueue *q, const delivery *d);
delivery *dq_at(const dqueue *q, uint32_t i);
void dq_pop(dqueue *q, delivery *out);
void dq_remove(dqueue *q, uint32_t i);
void dq_clear(dqueue *q);
/* Arms s's timer for the earlier of its delayed will and its expiry while it is offline; disarms it
 * otherwise. Never fails: session_new reserved the room. */
void session_timer_arm(broker *b, session *s);
/*
 * Lowers every session's Session Expiry above max to max (a reload lowered max_session_expiry): an offline
 * session's deadline comes sooner by the difference (one that never expired expires max from now); the change
 * is persisted. Returns the number of sessions lowered.
 */
size_t session_clamp_expiry(broker *b, uint32_t max);
/* Called when the connection of s goes away (normally or not): will handling, shared requeue, expiry. */
void session_detach(broker *b, session *s, bool keep_will);
/* Publishes the session's will now (ACL permitting) and clears it. */
void session_send_will(broker *b, session *s);

/* ---- route.c ---- */
/* Routes msg to every matching subscription (msg keeps its caller's reference). Returns the number of
 * subscribers it went to. */
uint32_t route_publish(broker *b, broker_msg *msg);
/* Delivers msg to s (one subscription match); see the body for queueing rules. */
void route_deliver(broker *b, session *s, broker_msg *msg, uint8_t qos, bool retain, const uint32_t *ids,
                   uint16_t nids, trie_group *group);
/* The number of QoS 1/2 messages that may be in flight to c. */
uint32_t route_window(const broker *b, const conn *c);
/* Fills the window of s's connection from its queue. */
void route_pump(broker *b, session *s);
/* Sends one delivery on c; returns false if it could not be encoded (too large for the client). */
bool route_send(broker *b, conn *c, delivery *d);
/* Re-dispatches unacknowledged shared-subscription deliveries of s to other members. */
void route_requeue_shared(broker *b, session *s);

/* ---- conn.c ---- */
void conn_accept(void *ctx, net_listener *l, int fd, const struct sockaddr_storage *peer, socklen_t len);
/* Takes over a connected non-blocking socket (l may be NULL: plain TCP, no listener). */
void conn_attach(broker *b, net_listener *l, int fd, const char *addr, uint16_t port);
/* Encodes p and queues it; returns false if it could not (connection is then closed). */
/* Fills *out with what the security hooks see of c (pointers into c and its session: valid while c is
 * unchanged). */
void conn_client(const conn *c, broker_client *out);
/* c's topic alias tables, allocated at the first call; NULL when out of memory. */
conn_aliases *conn_aliases_get(conn *c);
/* c's authentication state, allocated at the first call; NULL when out of memory. */
conn_auth *conn_auth_get(conn *c);
/* Frees c's authentication state once nothing is left in it. */
void conn_auth_trim(conn *c);
/* The client id given or assigned at CONNECT while it is being authenticated, else NULL. */
const char *conn_auth_client_id(const conn *c);
/* The Authentication Method the client connected with, else NULL. */
const char *conn_auth_method(const conn *c);
bool conn_send(conn *c, const mqtt_packet *p);
void conn_mark_dirty(conn *c);
void conn_flush_dirty(broker *b);
/* Starts closing c (deferred free). If reason >= 0x80 and the client speaks v5, a DISCONNECT goes first. */
void conn_close(conn *c, int reason, const char *why);
void conn_reap(broker *b);
void conn_destroy(conn *c);
void conn_update_watch(conn *c);
/* Arms c's timer for its next check: 1.5 x keep alive after the last packet once CONN_ACTIVE (disarmed
 * without keep alive). Never fails: conn_attach reserved the room. */
void conn_timer_arm(conn *c);
/* c's timer went off: CONNECT deadline, keep alive, idle output buffers. */
void conn_timer_fire(conn *c);
/* Reads again from connections whose transport still holds decoded input (TLS records, WebSocket frames)
 * after they used up their share of one event. */
void conn_read_again(broker *b);
/* Processes input already buffered (after an authentication answer let the connection read again). */
void conn_resume(conn *c);

/* ---- proto.c ---- */
/* Handles one decoded packet (raw: its bytes, needed to keep a CONNECT while authentication is pending). */
void proto_handle(conn *c, mqtt_packet *p, const uint8_t *raw, size_t raw_len);
/* Finishes a pending authentication step with its answer. */
void proto_auth_answer(conn *c, const broker_auth_result *r);
/* Finishes a pending re-authentication step of an active connection with its answer. */
void proto_reauth_answer(conn *c, const broker_auth_result *r);
/* Forgets a connection's pending authentication (it is closing). */
void proto_auth_forget(conn *c);
/* Handles a CONNECT that failed to decode (right CONNACK for the version, then close). */
void proto_connect_failed(conn *c, const uint8_t *buf, size_t len, const mqtt_error *err);
void proto_disconnect(conn *c, uint8_t reason, const char *reason_string);

/* ---- broker.c ---- */
void *broker_arena_alloc(void *ctx, size_t size);
void broker_arena_reset(broker *b);
bool broker_authorize(broker *b, const conn *c, session *s, enum broker_access access, const char *topic,
                      size_t len, uint8_t qos, bool retain);
bool broker_over_memory(const broker *b);

/* ---- persist.c (see persist.h) ---- */
/* Marks s as changed in this iteration's batch (a no-op for sessions that are not persistent). */
void persist_session_touch(broker *b, session *s);
/* s ends for good: its record is deleted in this batch. */
void persist_session_gone(broker *b, session *s);
/* The retained message of msg's topic changed (set, or deleted by an empty payload). */
void persist_retain_set(broker *b, broker_msg *msg);
/* True while the store cannot take new messages (full disk or map, failing commits): QoS 1/2 are refused. */
bool persist_refusing(const broker *b);
/* c's output waits for the commit of the current batch (a PUBACK/PUBREC was queued). */
void persist_hold(conn *c);
/* True while c's output must wait. */
bool persist_conn_held(const conn *c);
/* Commits this iteration's batch (group commit); called before output is written. */
void persist_commit(broker *b);
/* Once a second: retries a failed batch, watches free space, syncs in relaxed mode. */
void persist_tick(broker *b);
/* Final commit and close (shutdown, before sessions are freed: their records stay). */
void persist_close(broker *b);

/* ---- limit_hit.c: the `limit_hit` security event (base/secevent.h; cheap when no sink is set) ---- */
/* Limit `limit` (the setting's name, e.g. "max_queued_messages") refused or dropped something: outcome
 * "refused", "dropped" or "disconnected". About connection c, or when c is NULL session s (either may be
 * NULL); topic may be NULL. */
void limit_hit_client(const conn *c, const session *s, const char *limit, const char *outcome, const char *topic,
                      size_t topic_len);
/* A connection from addr:port refused on listener ls (may be NULL) before it got a conn. */
void limit_hit_peer(const broker_listener_settings *ls, const char *addr, uint16_t port, const char *limit);

#endif
