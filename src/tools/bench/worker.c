/*
 * worker.c - one load-generator worker: its share of the clients and the epoll loop that drives them
 * through the phases the controller (run.c) sets.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "tools/bench/conn.h"

/*
 * Creates this worker's clients: for run scenarios, subscriber indexes and publisher indexes i with
 * i % threads == worker id; for idle, every threads-th client; for storm, `concurrency / threads` reusable
 * slots. Nothing connects yet. Returns 0 or -1 (out of memory).
 */
int bench_worker_start_clients(bench_worker *w)
{
    const bench_config *cfg = &w->run->cfg;
    uint32_t t = cfg->threads, n = 0, nsub = 0, npub = 0;

    if (cfg->scenario == BENCH_STORM) {
        w->storm_limit = cfg->concurrency / t + (w->id < cfg->concurrency % t);
        w->storm_next = 0;
        w->storm_end = cfg->clients / t + (w->id < cfg->clients % t);
        w->conns = calloc(w->storm_limit ? w->storm_limit : 1, sizeof *w->conns);
        if (!w->conns)
            return -1;
        for (uint32_t i = 0; i < w->storm_limit; i++)
            if (!(w->conns[w->nconns++] = bench_conn_new(w, ROLE_STORM, i)))
                return -1;
        return 0;
    }
    if (cfg->scenario == BENCH_IDLE) {
        n = cfg->clients / t + (w->id < cfg->clients % t);
    } else {
        nsub = cfg->subscribers / t + (w->id < cfg->subscribers % t);
        npub = cfg->publishers / t + (w->id < cfg->publishers % t);
        n = nsub + npub;
    }
    w->conns = calloc(n ? n : 1, sizeof *w->conns);
    w->pubs = calloc(npub ? npub : 1, sizeof *w->pubs);
    if (!w->conns || !w->pubs)
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        bench_conn *c;

        if (cfg->scenario == BENCH_IDLE)
            c = bench_conn_new(w, ROLE_IDLE, w->id + i * t);
        else if (i < nsub)
            c = bench_conn_new(w, ROLE_SUB, w->id + i * t);
        else
            c = bench_conn_new(w, ROLE_PUB, w->id + (i - nsub) * t);
        if (!c)
            return -1;
        w->conns[w->nconns++] = c;
        if (c->role == ROLE_PUB)
            w->pubs[w->npubs++] = c;
    }
    return 0;
}

/* Connect phase: starts clients in order (subscribers first), keeping at most `concurrency` handshakes of
 * this worker in progress. */
static void worker_pace_connects(bench_worker *w)
{
    const bench_config *cfg = &w->run->cfg;
    uint32_t limit = cfg->concurrency / cfg->threads + 1;
    uint32_t pending = 0;

    for (uint32_t i = 0; i < w->nconns; i++) {
        bench_conn *c = w->conns[i];

        if (c->state == CS_FREE) {
            /* publishers wait until every subscriber of this worker is ready */
            if (c->role == ROLE_PUB && pending)
                break;
            if (pending >= limit)
                break;
            atomic_fetch_add_explicit(&w->c.connects, 1, memory_order_relaxed);
            if (bench_conn_start(c) < 0)
                atomic_fetch_add_explicit(&w->c.connect_failures, 1, memory_order_relaxed);
            else if (c->wlen > c->woff && c->state == CS_WAIT_CONNACK)
                bench_conn_flush(c);
        }
        if (c->state == CS_TCP_CONNECTING || c->state == CS_TLS_HANDSHAKE || c->state == CS_WS_UPGRADE || c->state == CS_WAIT_CONNACK ||
            c->state == CS_WAIT_SUBACK)
            pending++;
    }
}

/* Storm: keeps up to storm_limit connections cycling until storm_end have been started. */
static void worker_pace_storm(bench_worker *w)
{
    for (uint32_t i = 0; i < w->nconns && w->storm_next < w->storm_end; i++) {
        bench_conn *c = w->conns[i];

        if (c->state != CS_FREE)
            continue;
        w->storm_next++;
        w->storm_active++;
        bench_conn_start(c);
    }
}

/* Run phase: lets every publisher publish. Returns 1 when one could continue at once; *wake is lowered to
 * the earliest rate-schedule deadline. */
static int worker_pump(bench_worker *w, uint64_t *wake)
{
    int busy = 0;

    for (uint32_t i = 0; i < w->npubs; i++) {
        bench_conn *c = w->pubs[i];
        uint64_t due;

        if (c->state != CS_READY || c->blocked || c->done)
            continue;
        if (c->interval_ns > 0 && !c->t0)
            c->t0 = w->run->t_run_ns + (uint64_t)(c->interval_ns * c->index / w->run->cfg.publishers);
        busy |= bench_conn_pump(c, &due);
        if (due && due < *wake)
            *wake = due;
    }
    return busy;
}

/* Handles the connections whose read budget ran out last time. */
static void worker_resume(bench_worker *w)
{
    bench_conn *list = w->resume;

    w->resume = NULL;
    while (list) {
        bench_conn *c = list;

        list = c->resume_next;
        c->resumable = false;
        if (c->state != CS_DEAD && c->state != CS_FREE)
            bench_conn_on_event(c, EPOLLIN);
    }
}

/* The event loop of one worker; returns when the controller sets the close phase. */
int bench_worker_loop(bench_worker *w)
{
    struct epoll_event ev[256];
    bool qos0_window = w->run->cfg.qos == 0 && w->run->cfg.threads > 1;

    w->now = bench_now_ns();
    for (;;) {
        int phase = atomic_load_explicit(&w->run->phase, memory_order_acquire);
        uint64_t wake = w->now + (qos0_window ? 200000 : 5000000);
        struct timespec ts;
        int busy = 0, n;

        if (phase == BENCH_PHASE_CLOSE)
            break;
        if (phase == BENCH_PHASE_CONNECT && w->run->cfg.scenario != BENCH_STORM)
            worker_pace_connects(w);
        if (phase == BENCH_PHASE_RUN && w->run->cfg.scenario == BENCH_STORM)
            worker_pace_storm(w);
        if (phase == BENCH_PHASE_RUN)
            busy = worker_pump(w, &wake);
        if (busy || w->resume)
            wake = w->now;
        ts.tv_sec = (time_t)((wake - w->now) / 1000000000ull);
        ts.tv_nsec = (long)((wake - w->now) % 1000000000ull);
        n = epoll_pwait2(w->ep, ev, 256, &ts, NULL);
        if (n < 0 && errno != EINTR) {
            atomic_fetch_add_explicit(&w->c.errors, 1, memory_order_relaxed);
            snprintf(w->error, sizeof w->error, "epoll_pwait2: %s", strerror(errno));
            return -1;
        }
        w->now = bench_now_ns();
        for (int i = 0; i < n; i++)
            bench_conn_on_event(ev[i].data.ptr, ev[i].events);
        worker_resume(w);
    }
    return 0;
}

/* Sends DISCONNECT on every live connection (best effort, no waiting) and closes it. */
void bench_worker_close_all(bench_worker *w)
{
    for (uint32_t i = 0; i < w->nconns; i++) {
        bench_conn *c = w->conns[i];
        mqtt_packet p;

        if (c->fd < 0)
            continue;
        if (c->state == CS_READY) {
            memset(&p, 0, sizeof p);
            p.type = MQTT_DISCONNECT;
            if (bench_conn_queue(c, &p) == 0)
                bench_conn_flush(c);
        }
        if (c->ssl) {
            SSL_free(c->ssl);
            c->ssl = NULL;
        }
        bench_ws_free(c->ws);
        c->ws = NULL;
        if (c->fd >= 0) {
            close(c->fd);
            c->fd = -1;
        }
        c->state = CS_DEAD;
    }
}

void bench_worker_free(bench_worker *w)
{
    while (w->tls_nsessions)
        SSL_SESSION_free(w->tls_sessions[--w->tls_nsessions]);
    for (uint32_t i = 0; i < w->nconns; i++)
        bench_conn_free(w->conns[i]);
    free(w->conns);
    free(w->pubs);
    w->conns = w->pubs = NULL;
    w->nconns = w->npubs = 0;
}
