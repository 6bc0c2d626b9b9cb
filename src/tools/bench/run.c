/*
 * run.c - the controller: sets up the shared state, starts the workers, moves them through the phases
 * (connect, run, drain, close) within bounded times, samples the broker's /proc entries, prints progress
 * on stderr, and gathers the result.
 */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "tools/bench/bench.h"

#define RUN_TICK_NS 20000000ull /* the controller checks progress every 20 ms */

uint64_t bench_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void run_sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static void *run_worker_main(void *arg)
{
    bench_worker *w = arg;

    bench_worker_loop(w);
    bench_worker_close_all(w);
    return NULL;
}

/* Sum of one counter over all workers. */
#define RUN_SUM(run, field)                                                                                  \
    ({                                                                                                       \
        uint64_t sum_ = 0;                                                                                   \
        for (uint32_t i_ = 0; i_ < (run)->cfg.threads; i_++)                                                 \
            sum_ += atomic_load_explicit(&(run)->workers[i_].c.field, memory_order_relaxed);                 \
        sum_;                                                                                                \
    })

static uint64_t run_inflight(bench_run *run)
{
    uint64_t sum = 0;

    for (uint32_t i = 0; i < run->cfg.threads; i++)
        sum += atomic_load_explicit(&run->workers[i].inflight, memory_order_relaxed);
    return sum;
}

/* Clients that must be ready before the run phase. */
static uint64_t run_client_total(const bench_config *cfg)
{
    if (cfg->scenario == BENCH_IDLE)
        return cfg->clients;
    if (cfg->scenario == BENCH_STORM)
        return 0;
    return (uint64_t)cfg->publishers + cfg->subscribers;
}

/* Raises the open-file limit to cover every client (plus slack). Returns 0 or -1 with a message. */
static int run_raise_nofile(uint64_t need)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -1;
    if (rl.rlim_cur >= need)
        return 0;
    rl.rlim_cur = need <= rl.rlim_max ? need : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < need) {
        fprintf(stderr, "bench: %llu clients need %llu open files; the limit is %llu (raise it with ulimit -n)\n",
                (unsigned long long)(need - 64), (unsigned long long)need, (unsigned long long)rl.rlim_max);
        return -1;
    }
    return 0;
}

/* --tls-resume: keeps a session (ticket) the broker sent for one of the worker's next connections; when the
 * store is full the oldest goes. Returns 1: the worker owns the session now. */
static int run_tls_new_session(SSL *ssl, SSL_SESSION *session)
{
    bench_worker *w = SSL_get_app_data(ssl);

    if (!w || !SSL_SESSION_is_resumable(session))
        return 0;
    if (w->tls_nsessions == BENCH_TLS_SESSIONS) {
        SSL_SESSION_free(w->tls_sessions[0]);
        memmove(w->tls_sessions, w->tls_sessions + 1, (BENCH_TLS_SESSIONS - 1) * sizeof w->tls_sessions[0]);
        w->tls_nsessions--;
    }
    w->tls_sessions[w->tls_nsessions++] = session;
    return 1;
}

/* The client TLS context: TLS 1.2 or later, the broker's certificate checked against --cafile when given.
 * Without --tls-resume no session resumption (every handshake is a full one, which is what a storm
 * measures); with it, each worker resumes with the last session ticket it received. Returns NULL after a
 * message. */
static SSL_CTX *run_tls_context(const bench_config *cfg)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (!ctx)
        goto fail;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (cfg->tls_resume) {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(ctx, run_tls_new_session);
        SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    } else {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);
    }
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (cfg->certfile && (SSL_CTX_use_certificate_chain_file(ctx, cfg->certfile) != 1 ||
                          SSL_CTX_use_PrivateKey_file(ctx, cfg->keyfile, SSL_FILETYPE_PEM) != 1 ||
                          SSL_CTX_check_private_key(ctx) != 1))
        goto fail;
    if (cfg->cafile) {
        if (SSL_CTX_load_verify_locations(ctx, cfg->cafile, NULL) != 1)
            goto fail;
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    return ctx;
fail:
    fprintf(stderr, "bench: TLS client context: %s\n", ERR_reason_error_string(ERR_get_error()));
    SSL_CTX_free(ctx);
    return NULL;
}

/* Allocates the trackers and per-publisher state. Returns 0 or -1. */
static int run_setup(bench_run *run)
{
    const bench_config *cfg = &run->cfg;

    if (cfg->tls && !(run->tls_ctx = run_tls_context(cfg)))
        return -1;

    switch (cfg->scenario) {
    case BENCH_FAN_IN:
    case BENCH_FAN_OUT:
        run->receivers = cfg->subscribers;
        run->nstreams = cfg->subscribers * cfg->publishers;
        break;
    case BENCH_PAIRS:
    case BENCH_SHARED:
        run->receivers = 1;
        run->nstreams = cfg->publishers;
        break;
    default:
        run->receivers = 1;
        run->nstreams = 0;
        break;
    }
    run->tracks = calloc(run->nstreams ? run->nstreams : 1, sizeof *run->tracks);
    run->pubs = calloc(cfg->publishers ? cfg->publishers : 1, sizeof *run->pubs);
    run->workers = calloc(cfg->threads, sizeof *run->workers);
    if (!run->tracks || !run->pubs || !run->workers)
        return -1;
    for (uint32_t i = 0; i < run->nstreams; i++)
        bench_track_init(&run->tracks[i]);
    if (cfg->scenario == BENCH_SHARED && cfg->threads > 1) {
        run->track_locks = calloc(run->nstreams, sizeof *run->track_locks);
        if (!run->track_locks)
            return -1;
        for (uint32_t i = 0; i < run->nstreams; i++)
            pthread_mutex_init(&run->track_locks[i], NULL);
    }
    for (uint32_t i = 0; i < cfg->threads; i++) {
        bench_worker *w = &run->workers[i];

        w->run = run;
        w->id = i;
        w->ep = epoll_create1(EPOLL_CLOEXEC);
        bench_hist_init(&w->latency);
        if (w->ep < 0 || bench_worker_start_clients(w))
            return -1;
    }
    return 0;
}

static void run_teardown(bench_run *run)
{
    if (run->workers)
        for (uint32_t i = 0; i < run->cfg.threads; i++) {
            bench_worker_free(&run->workers[i]);
            if (run->workers[i].ep > 0)
                close(run->workers[i].ep);
        }
    if (run->track_locks)
        for (uint32_t i = 0; i < run->nstreams; i++)
            pthread_mutex_destroy(&run->track_locks[i]);
    free(run->track_locks);
    SSL_CTX_free(run->tls_ctx);
    free(run->tracks);
    free(run->pubs);
    free(run->workers);
}

static void run_set_phase(bench_run *run, int phase)
{
    atomic_store_explicit(&run->phase, phase, memory_order_release);
}

/* Prints one progress line to stderr (long runs only). */
static void run_progress(const bench_run *run, const char *what, double elapsed, uint64_t *last_delivered,
                         uint64_t *last_ns)
{
    bench_run *r = (bench_run *)run;
    uint64_t delivered = RUN_SUM(r, delivered), now = bench_now_ns();
    double dt = (double)(now - *last_ns) / 1e9;

    fprintf(stderr, "bench: %s %5.1fs  ready %llu  published %llu  delivered %llu (%.0f/s)  connects %llu  errors %llu\n",
            what, elapsed, (unsigned long long)RUN_SUM(r, ready), (unsigned long long)RUN_SUM(r, published),
            (unsigned long long)delivered, dt > 0 ? (double)(delivered - *last_delivered) / dt : 0.0,
            (unsigned long long)RUN_SUM(r, connects), (unsigned long long)RUN_SUM(r, errors));
    *last_delivered = delivered;
    *last_ns = now;
}

/* Connect phase: waits until every client is ready, or fails after connect_timeout. Returns 0 or -1. */
static int run_connect_phase(bench_run *run, bench_result *res)
{
    uint64_t need = run_client_total(&run->cfg), start = bench_now_ns(), last_print = start, last_d = 0;
    uint64_t deadline = start + (uint64_t)(run->cfg.connect_timeout * 1e9);

    while (RUN_SUM(run, ready) < need) {
        uint64_t now = bench_now_ns();

        if (now > deadline || RUN_SUM(run, errors) > 0 || RUN_SUM(run, connect_failures) > 0) {
            res->connect_s = (double)(now - start) / 1e9;
            return -1;
        }
        if (!run->cfg.quiet && now - last_print >= 1000000000ull)
            run_progress(run, "connecting", (double)(now - start) / 1e9, &last_d, &last_print);
        run_sleep_ns(RUN_TICK_NS / 4);
    }
    res->connect_s = (double)(bench_now_ns() - start) / 1e9;
    return 0;
}

/* Whether every publisher reached its count. */
static bool run_counts_reached(bench_run *run)
{
    if (!run->cfg.count)
        return false;
    for (uint32_t i = 0; i < run->cfg.publishers; i++)
        if (atomic_load_explicit(&run->pubs[i].sent, memory_order_relaxed) < run->cfg.count)
            return false;
    return true;
}

static uint64_t run_expected(bench_run *run)
{
    uint64_t sent = 0;

    for (uint32_t i = 0; i < run->cfg.publishers; i++)
        sent += atomic_load_explicit(&run->pubs[i].sent, memory_order_relaxed);
    return sent * run->receivers;
}

/* Run phase, then drain: publishing for `duration` (or until the counts), then waiting up to `drain` for the
 * outstanding acknowledgements and deliveries. Storm: until every connection is made or `duration`. */
static void run_traffic_phases(bench_run *run, bench_result *res)
{
    const bench_config *cfg = &run->cfg;
    uint64_t start = bench_now_ns(), last_print = start, last_d = 0, end, drain_end;
    bool long_run = !cfg->quiet && cfg->duration >= 3;

    end = start + (uint64_t)(cfg->duration * 1e9);
    for (;;) {
        uint64_t now = bench_now_ns();

        if (now >= end || run_counts_reached(run))
            break;
        if (cfg->scenario == BENCH_STORM &&
            RUN_SUM(run, closed) + RUN_SUM(run, connect_failures) >= cfg->clients)
            break;
        if (long_run && now - last_print >= 1000000000ull)
            run_progress(run, "running", (double)(now - start) / 1e9, &last_d, &last_print);
        run_sleep_ns(cfg->scenario == BENCH_STORM ? RUN_TICK_NS / 10 : RUN_TICK_NS);
    }
    res->run_s = (double)(bench_now_ns() - start) / 1e9;
    run_set_phase(run, BENCH_PHASE_DRAIN);
    drain_end = bench_now_ns() + (uint64_t)(cfg->drain * 1e9);
    while (bench_now_ns() < drain_end && cfg->scenario != BENCH_IDLE && cfg->scenario != BENCH_STORM) {
        if (run_inflight(run) == 0 && RUN_SUM(run, delivered) >= run_expected(run))
            break;
        run_sleep_ns(RUN_TICK_NS / 4);
    }
}

/* Sums the workers' results into res once they have stopped. */
static void run_collect(bench_run *run, bench_result *res)
{
    uint64_t last = 0, unique = 0;

    bench_hist_init(&res->latency);
    for (uint32_t i = 0; i < run->cfg.threads; i++) {
        bench_worker *w = &run->workers[i];

        bench_hist_merge(&res->latency, &w->latency);
        res->stalls += w->stalls;
        res->foreign += w->foreign;
        if (w->last_delivery_ns > last)
            last = w->last_delivery_ns;
        if (!res->error[0] && w->error[0])
            snprintf(res->error, sizeof res->error, "%s", w->error);
    }
    res->published = RUN_SUM(run, published);
    res->acked = RUN_SUM(run, acked);
    res->delivered = RUN_SUM(run, delivered);
    res->errors = RUN_SUM(run, errors);
    res->connects = RUN_SUM(run, connects);
    res->tls_resumed = RUN_SUM(run, tls_resumed);
    res->connect_failures = RUN_SUM(run, connect_failures);
    res->expected = run_expected(run);
    for (uint32_t i = 0; i < run->nstreams; i++) {
        unique += run->tracks[i].unique;
        res->duplicated += run->tracks[i].duplicated;
        res->out_of_order += run->tracks[i].out_of_order;
    }
    res->lost = res->expected > unique ? res->expected - unique : 0;
    res->deliver_s = last > run->t_run_ns ? (double)(last - run->t_run_ns) / 1e9 : res->run_s;
}

static void run_sample_broker(const bench_config *cfg, bench_proc_sample *s, bool *ok)
{
    if (cfg->pid > 0 && bench_proc_read(cfg->pid, s) < 0)
        *ok = false;
}

int bench_run_execute(const bench_config *cfg, bench_result *res)
{
    bench_run *run = calloc(1, sizeof *run);
    bench_proc_sample before = {0}, started = {0}, after = {0};
    uint32_t started_threads = 0;
    int rc = -1;

    memset(res, 0, sizeof *res);
    bench_hist_init(&res->latency);
    if (!run)
        return -1;
    run->cfg = *cfg;
    atomic_init(&run->phase, BENCH_PHASE_CONNECT);
    res->broker_ok = cfg->pid > 0;
    run_sample_broker(cfg, &before, &res->broker_ok);
    if (cfg->pid > 0 && !res->broker_ok) {
        fprintf(stderr, "bench: cannot read /proc/%d (is the broker running?)\n", (int)cfg->pid);
        goto out;
    }
    if (run_raise_nofile(run_client_total(cfg) + cfg->concurrency + 64) || run_setup(run)) {
        fprintf(stderr, "bench: cannot set up %s\n", run->workers ? "the clients" : "the run (out of memory)");
        goto out;
    }
    for (; started_threads < cfg->threads; started_threads++)
        if (pthread_create(&run->workers[started_threads].thread, NULL, run_worker_main,
                           &run->workers[started_threads])) {
            fprintf(stderr, "bench: cannot start a thread\n");
            run_set_phase(run, BENCH_PHASE_CLOSE);
            goto join;
        }
    if (run_connect_phase(run, res) < 0) {
        uint64_t ready = RUN_SUM(run, ready);

        run_set_phase(run, BENCH_PHASE_CLOSE);
        for (uint32_t i = 0; i < started_threads; i++)
            pthread_join(run->workers[i].thread, NULL);
        started_threads = 0;
        run_collect(run, res);
        if (!res->error[0])
            snprintf(res->error, sizeof res->error, "clients not ready after %.1f s (%llu of %llu)",
                     res->connect_s, (unsigned long long)ready, (unsigned long long)run_client_total(cfg));
        fprintf(stderr, "bench: connect phase failed: %s\n", res->error);
        goto join;
    }
    run_sample_broker(cfg, &started, &res->broker_ok);
    run->t_run_ns = bench_now_ns();
    run_set_phase(run, BENCH_PHASE_RUN);
    run_traffic_phases(run, res);
    run_sample_broker(cfg, &after, &res->broker_ok);
    run_set_phase(run, BENCH_PHASE_CLOSE);
    rc = 0;
join:
    for (uint32_t i = 0; i < started_threads; i++)
        pthread_join(run->workers[i].thread, NULL);
    if (rc == 0) {
        run_collect(run, res);
        res->broker_cpu_s = after.cpu_s - started.cpu_s;
        res->broker_rss_before_kb = before.rss_kb;
        res->broker_rss_kb = after.rss_kb;
        res->broker_hwm_kb = after.hwm_kb;
    }
out:
    run_teardown(run);
    free(run);
    return rc;
}
