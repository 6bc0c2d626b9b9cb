/* broker_stats.c - the broker's statistics as Prometheus metrics (broker_stats_render, broker_metrics.h). The
 * same numbers as $SYS (broker.c), plus what only metrics carry (by listener, by QoS, the counters of
 * base/counters.h). Metric names are documented in docs/metrics.md. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/counters.h"
#include "broker/broker_metrics.h"
#include "broker/core.h"

static const char *const broker_stats_qos[3] = {"0", "1", "2"};

/* A family with one unlabelled sample. */
static void broker_stats_one(promtext *p, const char *name, const char *type, const char *help, uint64_t v)
{
    promtext_family(p, name, type, help);
    promtext_u64(p, name, NULL, NULL, v);
}

/* A family with one sample per QoS. */
static void broker_stats_by_qos(promtext *p, const char *name, const char *help, const uint64_t v[3])
{
    promtext_family(p, name, "counter", help);
    for (int q = 0; q < 3; q++)
        promtext_u64(p, name, "qos", broker_stats_qos[q], v[q]);
}

/* Open connections and accepted connections per listener ("ADDR:PORT", "*" for every address). */
static void broker_stats_listeners(const broker *b, promtext *p)
{
    static const char *const open_name = "rampart_connections_open";
    static const char *const acc_name = "rampart_connections_accepted_total";
    char name[BROKER_MAX_LISTENERS][80];
    for (int i = 0; i < b->set.nlisteners; i++) {
        const broker_listener_settings *ls = &b->set.listeners[i];
        uint16_t port = i < b->nlisteners ? listener_port(b->listeners[i]) : ls->port;
        const char *a = ls->address ? ls->address : "*";
        snprintf(name[i], sizeof name[i], strchr(a, ':') ? "[%s]:%u" : "%s:%u", a, port); /* [::1]:1883 */
    }
    promtext_family(p, open_name, "gauge", "Connections open now (any state), by listener.");
    for (int i = 0; i < b->set.nlisteners; i++)
        promtext_u64(p, open_name, "listener", name[i], b->set.listeners[i].connections);
    promtext_family(p, acc_name, "counter", "Connections accepted, by listener.");
    for (int i = 0; i < b->set.nlisteners; i++)
        promtext_u64(p, acc_name, "listener", name[i], b->set.listeners[i].accepted);
}

/* Messages waiting in session queues and in flight, and their bytes, over every session. */
static void broker_stats_queues(const broker *b, promtext *p)
{
    uint64_t queued = 0, inflight = 0, bytes = 0;
    for (const session *s = b->sessions_head; s; s = s->next) {
        queued += s->queue.count;
        inflight += s->inflight.count;
        bytes += s->queued_bytes;
    }
    broker_stats_one(p, "rampart_queued_messages", "gauge", "Messages waiting in session queues.", queued);
    broker_stats_one(p, "rampart_queued_bytes", "gauge", "Payload and topic bytes waiting in session queues.",
                     bytes);
    broker_stats_one(p, "rampart_inflight_messages", "gauge",
                     "QoS 1 and 2 messages sent and not yet acknowledged.", inflight);
}

/* The resident set size from /proc/self/statm (readable inside the sandbox), or 0 if unknown. */
static uint64_t broker_stats_rss(void)
{
    char buf[128];
    unsigned long long size = 0, resident = 0;
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    if (sscanf(buf, "%llu %llu", &size, &resident) != 2)
        return 0;
    long page = sysconf(_SC_PAGESIZE);
    return (uint64_t)resident * (uint64_t)(page > 0 ? page : 4096);
}

static void broker_stats_memory(const broker *b, promtext *p)
{
    broker_stats_one(p, "rampart_memory_accounted_bytes", "gauge",
                     "Bytes of messages and output queues the broker accounts against memory_limit.",
                     b->mem_msgs + b->mem_out);
    broker_stats_one(p, "rampart_memory_limit_bytes", "gauge", "The configured memory_limit (0: none).",
                     b->set.memory_limit);
    broker_stats_one(p, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
                     broker_stats_rss());
}

/* Every family of base/counters.h, each with all its label values (zeros included). */
static void broker_stats_counters(promtext *p)
{
    enum counter_id id = 0;
    for (enum counter_family f = 0; f < COUNTER_FAMILY_COUNT; f++) {
        const counter_family_info *fi = counters_family_info(f);
        promtext_family(p, fi->name, "counter", fi->help);
        for (; id < COUNTER_COUNT && counters_family_of(id) == f; id++)
            promtext_u64(p, fi->name, fi->label, counters_label_of(id), counters_get(id));
    }
    promtext_family(p, "rampart_bans_active", "gauge", "Bans in force (ban list entries).");
    promtext_i64(p, "rampart_bans_active", NULL, NULL, counters_gauge_get(COUNTER_GAUGE_BANS_ACTIVE));
}

void broker_stats_render(const broker *b, promtext *p)
{
    const broker_stats *st = &b->stats;
    promtext_family(p, "rampart_build_info", "gauge", "Always 1; the version is the label.");
    promtext_u64(p, "rampart_build_info", "version", RAMPART_VERSION, 1);
    broker_stats_one(p, "rampart_uptime_seconds", "gauge", "Seconds since the broker started.",
                     (b->now_ms - b->start_ms) / 1000);
    broker_stats_listeners(b, p);
    broker_stats_one(p, "rampart_clients_connected", "gauge", "MQTT clients connected (CONNECT accepted).",
                     st->clients_connected);
    broker_stats_one(p, "rampart_clients_maximum", "gauge", "Most MQTT clients connected at once.",
                     st->clients_maximum);
    broker_stats_one(p, "rampart_sessions", "gauge", "Sessions, connected or not.", b->nsessions);
    broker_stats_one(p, "rampart_subscriptions", "gauge", "Subscriptions over all sessions.", b->trie.subs);
    broker_stats_one(p, "rampart_retained_messages", "gauge", "Retained messages stored.", b->retained.count);
    broker_stats_one(p, "rampart_packets_received_total", "counter", "MQTT packets received.", st->msgs_received);
    broker_stats_by_qos(p, "rampart_messages_received_total", "PUBLISH packets received, by QoS.",
                        st->pub_received_qos);
    broker_stats_by_qos(p, "rampart_messages_sent_total", "PUBLISH packets sent, by QoS.", st->pub_sent_qos);
    broker_stats_by_qos(p, "rampart_payload_received_bytes_total", "Payload bytes of PUBLISH packets received, by QoS.",
                        st->payload_received_qos);
    broker_stats_by_qos(p, "rampart_payload_sent_bytes_total", "Payload bytes of PUBLISH packets sent, by QoS.",
                        st->payload_sent_qos);
    broker_stats_one(p, "rampart_network_received_bytes_total", "counter", "Bytes read from client connections.",
                     st->bytes_received);
    broker_stats_one(p, "rampart_network_sent_bytes_total", "counter", "Bytes written to client connections.",
                     st->bytes_sent);
    broker_stats_queues(b, p);
    broker_stats_memory(b, p);
    broker_stats_counters(p);
}
