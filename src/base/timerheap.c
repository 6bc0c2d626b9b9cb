/* timerheap.c - see timerheap.h. */
#include "base/timerheap.h"

#include <assert.h>
#include <stdlib.h>

static void timer_heap_place(timer_heap *h, uint32_t i, timer_node *n)
{
    h->items[i] = n;
    n->slot = i + 1;
}

/* Moves the node at i towards the root while it is earlier than its parent. */
static void timer_heap_up(timer_heap *h, uint32_t i)
{
    timer_node *n = h->items[i];
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (h->items[parent]->at <= n->at)
            break;
        timer_heap_place(h, i, h->items[parent]);
        i = parent;
    }
    timer_heap_place(h, i, n);
}

/* Moves the node at i towards the leaves while a child is earlier. */
static void timer_heap_down(timer_heap *h, uint32_t i)
{
    timer_node *n = h->items[i];
    for (;;) {
        uint32_t child = 2 * i + 1;
        if (child >= h->count)
            break;
        if (child + 1 < h->count && h->items[child + 1]->at < h->items[child]->at)
            child++;
        if (n->at <= h->items[child]->at)
            break;
        timer_heap_place(h, i, h->items[child]);
        i = child;
    }
    timer_heap_place(h, i, n);
}

int timer_heap_reserve(timer_heap *h, uint32_t want)
{
    if (want <= h->cap)
        return 0;
    uint32_t ncap = h->cap ? h->cap : 64;
    while (ncap < want)
        ncap = ncap > UINT32_MAX / 2 ? want : ncap * 2;
    timer_node **items = realloc(h->items, (size_t)ncap * sizeof *items);
    if (!items)
        return -1;
    h->items = items;
    h->cap = ncap;
    return 0;
}

int timer_heap_set(timer_heap *h, timer_node *n, uint64_t at)
{
    if (n->slot) {
        uint32_t i = n->slot - 1;
        assert(i < h->count && h->items[i] == n);
        uint64_t old = n->at;
        n->at = at;
        if (at < old)
            timer_heap_up(h, i);
        else
            timer_heap_down(h, i);
        return 0;
    }
    if (h->count == h->cap && timer_heap_reserve(h, h->cap ? h->cap * 2 : 64) < 0)
        return -1;
    n->at = at;
    h->items[h->count] = n;
    n->slot = ++h->count;
    timer_heap_up(h, h->count - 1);
    return 0;
}

void timer_heap_cancel(timer_heap *h, timer_node *n)
{
    if (!n->slot)
        return;
    uint32_t i = n->slot - 1;
    assert(i < h->count && h->items[i] == n);
    n->slot = 0;
    timer_node *last = h->items[--h->count];
    if (i == h->count)
        return;
    timer_heap_place(h, i, last);
    if (i > 0 && h->items[(i - 1) / 2]->at > last->at)
        timer_heap_up(h, i);
    else
        timer_heap_down(h, i);
}

timer_node *timer_heap_pop_due(timer_heap *h, uint64_t now)
{
    timer_node *n = timer_heap_top(h);
    if (!n || n->at > now)
        return NULL;
    timer_heap_cancel(h, n);
    return n;
}

void timer_heap_free(timer_heap *h)
{
    free(h->items);
    h->items = NULL;
    h->count = h->cap = 0;
}
