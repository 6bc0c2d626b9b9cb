/*
 * bench.h - internals of `rampart bench`, the MQTT load generator (see docs/performance.md).
 *
 * One controller (the calling thread) and N worker threads, each with its own epoll loop over its share of
 * the client connections. The controller moves every worker through the same phases: connect (every client
 * connects, subscribers subscribe), run (publishers publish for a bounded time or count), drain (publishers
 * stop; outstanding acknowledgements and deliveries are awaited for a bounded time), close. Every message
 * carries the run's magic, its publisher's index, a sequence number and a send timestamp, so that the
 * subscribers measure latency and count lost, duplicated and out-of-order messages. Encoding and decoding go
 * through Rampart's codec (src/codec/mqtt.h). Loopback only.
 */
#ifndef RAMPART_TOOLS_BENCH_BENCH_H
#define RAMPART_TOOLS_BENCH_BENCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "tools/bench/hist.h"
#include "tools/bench/proc.h"
#include "tools/bench/track.h"

enum bench_scenario { BENCH_FAN_IN, BENCH_FAN_OUT, BENCH_PAIRS, BENCH_SHARED, BENCH_STORM, BENCH_IDLE };

/* The payload header every benchmark message starts with (little endian on the wire). */
#define BENCH_PAYLOAD_HEADER 24
#define BENCH_MAX_PAYLOAD (1u << 20)
#define BENCH_MAX_CLIENTS 200000u
#define BENCH_MAX_STREAMS 200000u
#define BENCH_MAX_THREADS 64u

typedef struct bench_config {
    enum bench_scenario scenario;
    struct sockaddr_storage addr; /* the broker, a loopback address */
    socklen_t addrlen;
    char host[64];
    uint16_t port;
    uint8_t qos;
    uint8_t version;        /* MQTT protocol level: 4 (3.1.1) or 5 */
    uint32_t publishers;    /* run scenarios */
    uint32_t subscribers;   /* run scenarios */
    uint32_t clients;       /* storm and idle */
    uint32_t concurrency;   /* storm: connections in progress at once */
    uint32_t payload;       /* bytes per message, >= BENCH_PAYLOAD_HEADER */
    uint32_t window;        /* per publisher: QoS 1/2 unacknowledged, QoS 0 not yet delivered end to end */
    double rate;            /* total offered messages/s; 0 = as fast as the window allows */
    double duration;        /* seconds of publishing (storm: at most; idle: holding time) */
    uint64_t count;         /* messages per publisher at most; 0 = unbounded (duration bounds the run) */
    double drain;           /* seconds to wait for stragglers after publishing stops */
    double connect_timeout; /* seconds for every client to connect and subscribe */
    uint32_t threads;
    pid_t pid;              /* broker to observe, 0 = none */
    bool json;              /* print the JSON line (the human table still goes to stdout unless quiet) */
    bool quiet;             /* no human table, no progress */
    uint32_t magic;         /* identifies this run's messages */
    char prefix[96];        /* topic prefix, unique per run */
    const char *username, *password;
    bool tls;               /* TLS over TCP */
    bool tls_resume;        /* --tls-resume: resume TLS sessions with the broker's tickets (else full handshakes) */
    const char *cafile;     /* --tls: verify the broker's certificate against these CAs (else no check) */
    const char *certfile;   /* --tls: client certificate (chain) to present, with keyfile; NULL: none */
    const char *keyfile;
    uint32_t sources;       /* IPv4: spread clients over source addresses 127.0.0.1 .. 127.0.0.N */
    bool ws;                /* MQTT over WebSocket (over TLS with --tls) */
    const char *ws_path;    /* --ws: the HTTP path of the upgrade request */
    bool persistent;        /* --persistent: sessions that outlive the connection (clean start off; MQTT 5:
                               Session Expiry 300 s), so a persisting broker stores their state */
} bench_config;

enum bench_phase { BENCH_PHASE_CONNECT, BENCH_PHASE_RUN, BENCH_PHASE_DRAIN, BENCH_PHASE_CLOSE };

/* State shared by all subscribers about one publisher. */
typedef struct bench_pub_shared {
    _Atomic uint64_t sent;      /* messages written (QoS 0) or handed to the broker (QoS 1/2) */
    _Atomic uint64_t delivered; /* deliveries of its messages to any subscriber */
} bench_pub_shared;

/* Per-worker counters, read by the controller for progress (relaxed atomics, written by the worker only). */
#define BENCH_TLS_SESSIONS 64 /* --tls-resume: unused session tickets kept per worker */

typedef struct bench_counters {
    _Atomic uint64_t published, acked, delivered, ready, errors, connects, connect_failures, closed;
    _Atomic uint64_t tls_resumed; /* TLS handshakes that resumed a session */
} bench_counters;

struct bench_conn;

typedef struct bench_worker {
    struct bench_run *run;
    uint32_t id;
    int ep;
    pthread_t thread;
    struct bench_conn **conns;
    uint32_t nconns;
    struct bench_conn **pubs; /* the publishers among conns */
    uint32_t npubs;
    uint32_t storm_next, storm_end, storm_active, storm_limit; /* storm: client indexes still to start */
    bench_counters c;
    bench_hist latency; /* ns: publish timestamp -> delivery; storm: TCP connect -> CONNACK */
    uint64_t last_delivery_ns;
    uint64_t now;                /* monotonic ns, refreshed after every epoll wait */
    struct bench_conn *resume;   /* connections with unread input left over (read budget exhausted) */
    struct bench_conn *storm_slots; /* storm: `storm_limit` reusable connections */
    _Atomic uint64_t inflight;   /* QoS 1/2 messages awaiting completion, all publishers of this worker */
    uint64_t foreign;            /* deliveries that were not this run's messages */
    uint64_t stalls;             /* windows written off after CONN_STALL_NS without deliveries */
    uint32_t sources_next;       /* --sources: connections started, for the source address rotation */
    /* --tls-resume: session tickets received and not used yet (a TLS 1.3 ticket is used once), newest last */
    struct ssl_session_st *tls_sessions[BENCH_TLS_SESSIONS];
    uint32_t tls_nsessions;
    uint8_t arena[16384]; /* decode scratch, reset per packet */
    size_t arena_used;
    char error[160]; /* the first error this worker saw */
} bench_worker;

typedef struct bench_run {
    bench_config cfg;
    _Atomic int phase;
    uint64_t t_run_ns; /* start of the run phase; written before phase becomes RUN */
    uint32_t receivers; /* deliveries expected per published message */
    uint32_t nstreams;
    bench_track *tracks;
    pthread_mutex_t *track_locks; /* shared scenario with several threads: one per stream */
    bench_pub_shared *pubs;
    bench_worker *workers;
    struct ssl_ctx_st *tls_ctx; /* --tls: the client context all connections share */
} bench_run;

/* Result of one run, as reported. */
typedef struct bench_result {
    double run_s;      /* publishing time */
    double deliver_s;  /* run start -> last delivery */
    double connect_s;  /* connect phase */
    uint64_t published, acked, delivered, expected, lost, duplicated, out_of_order, errors;
    uint64_t connects, connect_failures;
    uint64_t tls_resumed; /* TLS handshakes that resumed a session (--tls-resume) */
    uint64_t stalls;  /* full windows written off after CONN_STALL_NS without a delivery */
    uint64_t foreign; /* deliveries that were not this run's messages */
    bench_hist latency;
    bool broker_ok;
    double broker_cpu_s;
    uint64_t broker_rss_before_kb, broker_rss_kb, broker_hwm_kb;
    char error[160];
} bench_result;

/* Monotonic clock in nanoseconds. */
uint64_t bench_now_ns(void);

/* Parses argv (argv[0] is "bench") into cfg. Returns 0, 1 when help was printed, or -1 after printing a
 * message to stderr. */
int bench_config_parse(bench_config *cfg, int argc, char **argv);
const char *bench_scenario_name(enum bench_scenario s);

/* Runs the benchmark cfg describes and fills res. Returns 0 when the run completed (res may still count
 * errors), -1 when it could not start (message on stderr). */
int bench_run_execute(const bench_config *cfg, bench_result *res);

/* Writes the human-readable table / the JSON line for one result to stdout. */
void bench_report_human(const bench_config *cfg, const bench_result *res);
int bench_report_json(const bench_config *cfg, const bench_result *res);

/* Worker internals (conn.c), called by the worker loop in run.c. */
int bench_worker_start_clients(bench_worker *w);
int bench_worker_loop(bench_worker *w);
void bench_worker_close_all(bench_worker *w);
void bench_worker_free(bench_worker *w);

#endif
