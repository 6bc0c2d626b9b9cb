/*
 * report.c - the benchmark's output: a human-readable table and one JSON line (jansson) with the same
 * numbers, for scripts/bench-compare.py.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "tools/bench/bench.h"

/* "tcp", "tls", "ws" or "wss". */
static const char *bench_transport_name(const bench_config *cfg)
{
    return cfg->ws ? (cfg->tls ? "wss" : "ws") : (cfg->tls ? "tls" : "tcp");
}

static double per_s(uint64_t n, double s)
{
    return s > 0 ? (double)n / s : 0.0;
}

/* What the run measures its rate over: deliveries for traffic, CONNACKs for storm. */
static double report_rate(const bench_config *cfg, const bench_result *res)
{
    if (cfg->scenario == BENCH_STORM)
        return per_s(res->connects, res->run_s);
    if (cfg->scenario == BENCH_IDLE)
        return per_s(res->connects, res->connect_s);
    return per_s(res->delivered, res->deliver_s);
}

/* Broker CPU microseconds per delivered message (per connection for storm); 0 when unknown. */
static double report_cpu_per_unit(const bench_config *cfg, const bench_result *res)
{
    uint64_t units = cfg->scenario == BENCH_STORM ? res->connects : res->delivered;

    if (!res->broker_ok || !units)
        return 0.0;
    return res->broker_cpu_s * 1e6 / (double)units;
}

/* Idle scenario: broker memory per connection, from the RSS growth. */
static double report_bytes_per_conn(const bench_config *cfg, const bench_result *res)
{
    if (!res->broker_ok || cfg->scenario != BENCH_IDLE || !cfg->clients)
        return 0.0;
    return ((double)res->broker_rss_kb - (double)res->broker_rss_before_kb) * 1024.0 / (double)cfg->clients;
}

static void report_latency_line(const char *label, const bench_hist *h)
{
    printf("  %-13s p50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  (us, %llu samples)\n", label,
           bench_hist_percentile(h, 50) / 1e3, bench_hist_percentile(h, 99) / 1e3,
           bench_hist_percentile(h, 99.9) / 1e3, h->max / 1e3, (unsigned long long)h->count);
}

void bench_report_human(const bench_config *cfg, const bench_result *res)
{
    printf("rampart bench: %s, QoS %u, MQTT %s, %s %s:%u, %u thread%s\n", bench_scenario_name(cfg->scenario),
           cfg->qos, cfg->version == 5 ? "5.0" : "3.1.1", bench_transport_name(cfg), cfg->host, cfg->port, cfg->threads,
           cfg->threads == 1 ? "" : "s");
    if (cfg->scenario == BENCH_STORM || cfg->scenario == BENCH_IDLE) {
        printf("  clients       %u (%u at once)\n", cfg->clients, cfg->concurrency);
        printf("  connected     %llu in %.2f s = %.0f/s, %llu failed\n", (unsigned long long)res->connects,
               cfg->scenario == BENCH_STORM ? res->run_s : res->connect_s, report_rate(cfg, res),
               (unsigned long long)res->connect_failures);
        if (cfg->scenario == BENCH_STORM)
            report_latency_line("connect", &res->latency);
        if (cfg->tls_resume)
            printf("  resumed       %llu TLS sessions\n", (unsigned long long)res->tls_resumed);
    } else {
        printf("  clients       %u publisher%s -> %u subscriber%s, payload %u B, window %u, rate %s\n",
               cfg->publishers, cfg->publishers == 1 ? "" : "s", cfg->subscribers,
               cfg->subscribers == 1 ? "" : "s", cfg->payload, cfg->window, cfg->rate > 0 ? "fixed" : "open");
        if (cfg->rate > 0)
            printf("  offered       %.0f msgs/s\n", cfg->rate);
        printf("  published     %llu in %.2f s = %.0f/s (acknowledged %llu)\n", (unsigned long long)res->published,
               res->run_s, per_s(res->published, res->run_s), (unsigned long long)res->acked);
        printf("  delivered     %llu of %llu in %.2f s = %.0f/s\n", (unsigned long long)res->delivered,
               (unsigned long long)res->expected, res->deliver_s, report_rate(cfg, res));
        printf("  lost %llu  duplicated %llu  out-of-order %llu  (stalled windows %llu, foreign %llu)\n",
               (unsigned long long)res->lost, (unsigned long long)res->duplicated,
               (unsigned long long)res->out_of_order, (unsigned long long)res->stalls,
               (unsigned long long)res->foreign);
        report_latency_line("latency", &res->latency);
    }
    if (res->broker_ok) {
        printf("  broker pid %d  cpu %.2f s (%.3f us per %s)  rss %llu kB  peak rss %llu kB\n", (int)cfg->pid,
               res->broker_cpu_s, report_cpu_per_unit(cfg, res),
               cfg->scenario == BENCH_STORM ? "connection" : "delivery", (unsigned long long)res->broker_rss_kb,
               (unsigned long long)res->broker_hwm_kb);
        if (cfg->scenario == BENCH_IDLE)
            printf("  memory        %.0f bytes per idle connection (rss %llu -> %llu kB)\n",
                   report_bytes_per_conn(cfg, res), (unsigned long long)res->broker_rss_before_kb,
                   (unsigned long long)res->broker_rss_kb);
    }
    printf("  errors        %llu%s%s\n", (unsigned long long)res->errors, res->error[0] ? ": " : "", res->error);
    fflush(stdout);
}

static json_t *report_latency_json(const bench_hist *h)
{
    return json_pack("{s:f, s:f, s:f, s:f, s:f, s:I}", "p50_us", bench_hist_percentile(h, 50) / 1e3, "p99_us",
                     bench_hist_percentile(h, 99) / 1e3, "p999_us", bench_hist_percentile(h, 99.9) / 1e3, "max_us",
                     h->max / 1e3, "mean_us", bench_hist_mean(h) / 1e3, "count", (json_int_t)h->count);
}

static json_t *report_broker_json(const bench_config *cfg, const bench_result *res)
{
    if (!res->broker_ok)
        return json_null();
    return json_pack("{s:i, s:f, s:f, s:I, s:I, s:I, s:f}", "pid", (int)cfg->pid, "cpu_s", res->broker_cpu_s,
                     "cpu_us_per_msg", report_cpu_per_unit(cfg, res), "rss_before_kb",
                     (json_int_t)res->broker_rss_before_kb, "rss_kb", (json_int_t)res->broker_rss_kb, "peak_rss_kb",
                     (json_int_t)res->broker_hwm_kb, "bytes_per_connection", report_bytes_per_conn(cfg, res));
}

int bench_report_json(const bench_config *cfg, const bench_result *res)
{
    json_t *o = json_pack(
        "{s:s, s:i, s:i, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:I, s:i}", "scenario",
        bench_scenario_name(cfg->scenario), "qos", cfg->qos, "mqtt_version", cfg->version, "transport", bench_transport_name(cfg),
        "publishers", (int)cfg->publishers, "subscribers", (int)cfg->subscribers, "clients", (int)cfg->clients,
        "payload", (int)cfg->payload, "window", (int)cfg->window, "threads", (int)cfg->threads, "rate",
        cfg->rate, "duration_s", cfg->duration, "count", (json_int_t)cfg->count, "concurrency",
        (int)cfg->concurrency);
    char *text;
    int rc = -1;

    if (!o)
        return -1;
    json_object_set_new(o, "run_s", json_real(res->run_s));
    json_object_set_new(o, "deliver_s", json_real(res->deliver_s));
    json_object_set_new(o, "connect_s", json_real(res->connect_s));
    json_object_set_new(o, "published", json_integer((json_int_t)res->published));
    json_object_set_new(o, "acked", json_integer((json_int_t)res->acked));
    json_object_set_new(o, "delivered", json_integer((json_int_t)res->delivered));
    json_object_set_new(o, "expected", json_integer((json_int_t)res->expected));
    json_object_set_new(o, "lost", json_integer((json_int_t)res->lost));
    json_object_set_new(o, "duplicated", json_integer((json_int_t)res->duplicated));
    json_object_set_new(o, "out_of_order", json_integer((json_int_t)res->out_of_order));
    json_object_set_new(o, "stalls", json_integer((json_int_t)res->stalls));
    json_object_set_new(o, "foreign", json_integer((json_int_t)res->foreign));
    json_object_set_new(o, "rate_per_s", json_real(report_rate(cfg, res)));
    json_object_set_new(o, "published_per_s", json_real(per_s(res->published, res->run_s)));
    json_object_set_new(o, "connects", json_integer((json_int_t)res->connects));
    json_object_set_new(o, "connect_failures", json_integer((json_int_t)res->connect_failures));
    json_object_set_new(o, "tls_resumed", json_integer((json_int_t)res->tls_resumed));
    json_object_set_new(o, "errors", json_integer((json_int_t)res->errors));
    json_object_set_new(o, "error", res->error[0] ? json_string(res->error) : json_null());
    json_object_set_new(o, "latency", report_latency_json(&res->latency));
    json_object_set_new(o, "broker", report_broker_json(cfg, res));
    text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10));
    if (text) {
        printf("%s\n", text);
        fflush(stdout);
        free(text);
        rc = 0;
    }
    json_decref(o);
    return rc;
}
