/*
 * timerheap.h - an intrusive binary min-heap of deadlines: the owner embeds a timer_node in its own struct and
 * the heap holds pointers to those nodes, so arming, re-arming and cancelling allocate nothing per timer
 * (only the heap's pointer array grows, geometrically). Finding what is due costs O(1) per due timer plus
 * O(log n) to remove it: a periodic check touches only expired timers, never the idle ones.
 *
 * A zeroed timer_node is "not armed". Not thread-safe. No MQTT, no sockets.
 */
#ifndef RAMPART_BASE_TIMERHEAP_H
#define RAMPART_BASE_TIMERHEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct timer_node {
    uint64_t at;   /* the deadline (any monotonic unit; the broker uses milliseconds) */
    uint32_t slot; /* 1-based position in the heap; 0: not armed */
} timer_node;

typedef struct timer_heap {
    timer_node **items;
    uint32_t count, cap;
} timer_heap;

/* Arms n for deadline `at`, or moves it there if armed. Returns 0, or -1 when out of memory (n then keeps its
 * previous state). */
int timer_heap_set(timer_heap *h, timer_node *n, uint64_t at);
/* Makes room for `want` armed timers, so that arming up to that many cannot fail. Returns 0 or -1. */
int timer_heap_reserve(timer_heap *h, uint32_t want);
/* Disarms n (nothing if not armed). */
void timer_heap_cancel(timer_heap *h, timer_node *n);
/* The earliest armed node, or NULL when none. */
static inline timer_node *timer_heap_top(const timer_heap *h)
{
    return h->count ? h->items[0] : NULL;
}
/* Removes and returns the earliest node if its deadline is <= now, else NULL. */
timer_node *timer_heap_pop_due(timer_heap *h, uint64_t now);
static inline bool timer_armed(const timer_node *n)
{
    return n->slot != 0;
}
/* Frees the array (the nodes belong to their owners). */
void timer_heap_free(timer_heap *h);

#endif
