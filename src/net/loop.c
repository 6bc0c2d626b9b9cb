/* loop.c - see loop.h. */
#include "net/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define LOOP_BATCH 256

struct net_loop {
    int epfd;
    struct epoll_event events[LOOP_BATCH];
    int nready;
    int cursor;
};

static uint32_t loop_to_epoll(uint32_t ev)
{
    uint32_t out = 0;
    if (ev & LOOP_READ)
        out |= EPOLLIN | EPOLLRDHUP;
    if (ev & LOOP_WRITE)
        out |= EPOLLOUT;
    return out;
}

static uint32_t loop_from_epoll(uint32_t ev)
{
    uint32_t out = 0;
    if (ev & (EPOLLIN | EPOLLRDHUP))
        out |= LOOP_READ;
    if (ev & EPOLLOUT)
        out |= LOOP_WRITE;
    if (ev & EPOLLERR)
        out |= LOOP_ERROR;
    if (ev & EPOLLHUP)
        out |= LOOP_HANGUP;
    return out;
}

net_loop *loop_new(void)
{
    net_loop *loop = calloc(1, sizeof *loop);
    if (!loop)
        return NULL;
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0) {
        int e = errno;
        free(loop);
        errno = e;
        return NULL;
    }
    return loop;
}

void loop_free(net_loop *loop)
{
    if (!loop)
        return;
    close(loop->epfd);
    free(loop);
}

int loop_watch_add(net_loop *loop, loop_watch *w, int fd, uint32_t events, loop_io_fn fn, void *ctx)
{
    struct epoll_event ev = {.events = loop_to_epoll(events), .data.ptr = w};
    w->fd = fd;
    w->events = events;
    w->fn = fn;
    w->ctx = ctx;
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return -1;
    w->registered = true;
    return 0;
}

int loop_watch_set(net_loop *loop, loop_watch *w, uint32_t events)
{
    struct epoll_event ev = {.events = loop_to_epoll(events), .data.ptr = w};
    if (!w->registered || w->events == events)
        return 0;
    if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0)
        return -1;
    w->events = events;
    return 0;
}

void loop_watch_remove(net_loop *loop, loop_watch *w)
{
    if (!w->registered)
        return;
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, w->fd, NULL);
    w->registered = false;
    /* Forget any event of the current batch that still names this watch. */
    for (int i = loop->cursor; i < loop->nready; i++)
        if (loop->events[i].data.ptr == w)
            loop->events[i].data.ptr = NULL;
}

int loop_run_once(net_loop *loop, int timeout_ms)
{
    int n = epoll_wait(loop->epfd, loop->events, LOOP_BATCH, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -1;
    loop->nready = n;
    for (loop->cursor = 0; loop->cursor < n;) {
        struct epoll_event *e = &loop->events[loop->cursor++];
        loop_watch *w = e->data.ptr;
        if (w && w->registered)
            w->fn(w->ctx, loop_from_epoll(e->events));
    }
    loop->nready = loop->cursor = 0;
    return n;
}

uint64_t loop_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
