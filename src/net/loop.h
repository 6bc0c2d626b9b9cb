/*
 * loop.h - a small epoll event loop. Knows nothing of MQTT.
 *
 * A watch is owned by the caller (usually embedded in a connection or listener) and registered by pointer:
 * the caller must remove it before freeing it, and must not free it while an event batch that may still
 * mention it is being dispatched (free after loop_run_once returns). Level-triggered.
 */
#ifndef RAMPART_NET_LOOP_H
#define RAMPART_NET_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#define LOOP_READ 0x1u
#define LOOP_WRITE 0x4u
#define LOOP_ERROR 0x8u
#define LOOP_HANGUP 0x10u

typedef struct net_loop net_loop;
typedef void (*loop_io_fn)(void *ctx, uint32_t events);

/* One per connection, so packed (24 bytes). */
typedef struct loop_watch {
    int fd;
    uint16_t events; /* LOOP_READ | LOOP_WRITE currently asked for */
    bool registered;
    loop_io_fn fn;
    void *ctx;
} loop_watch;

/* A new loop, or NULL with errno set. */
net_loop *loop_new(void);
/* Frees the loop; every watch should have been removed. NULL is allowed. */
void loop_free(net_loop *loop);
/* Registers fd for `events`; fn(ctx, events) is called when ready. Returns 0 or -1 with errno. */
int loop_watch_add(net_loop *loop, loop_watch *w, int fd, uint32_t events, loop_io_fn fn, void *ctx);
/* Changes the events asked for (no system call when unchanged). Returns 0 or -1 with errno. */
int loop_watch_set(net_loop *loop, loop_watch *w, uint32_t events);
/* Unregisters w (no-op if not registered). Pending events of this batch for w are dropped. */
void loop_watch_remove(net_loop *loop, loop_watch *w);
/* Waits at most timeout_ms (-1: forever) and dispatches the ready events. Returns the number dispatched, or
 * -1 with errno (EINTR is reported as 0). */
int loop_run_once(net_loop *loop, int timeout_ms);
/* Monotonic clock in milliseconds. */
uint64_t loop_now_ms(void);

#endif
