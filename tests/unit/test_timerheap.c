/* test_timerheap.c - the intrusive min-heap of deadlines (src/base/timerheap.c). */
#include <stdlib.h>

#include "base/timerheap.h"
#include "test.h"

/* True if every parent is due no later than its children and every node knows its slot. */
static int heap_valid(const timer_heap *h)
{
    for (uint32_t i = 0; i < h->count; i++) {
        if (h->items[i]->slot != i + 1)
            return 0;
        if (i > 0 && h->items[(i - 1) / 2]->at > h->items[i]->at)
            return 0;
    }
    return 1;
}

TEST(pops_in_deadline_order)
{
    timer_heap h = {0};
    timer_node n[10] = {{0}};
    uint64_t at[10] = {50, 10, 90, 30, 70, 20, 60, 40, 80, 0};
    for (int i = 0; i < 10; i++)
        CHECK_EQ(timer_heap_set(&h, &n[i], at[i]), 0);
    CHECK(heap_valid(&h));
    CHECK(timer_heap_pop_due(&h, 5) == &n[9]);
    CHECK(!timer_armed(&n[9]));
    CHECK(timer_heap_pop_due(&h, 5) == NULL); /* next is 10 */
    uint64_t last = 0;
    int popped = 0;
    timer_node *t;
    while ((t = timer_heap_pop_due(&h, 1000))) {
        CHECK(t->at >= last);
        last = t->at;
        popped++;
    }
    CHECK_EQ(popped, 9);
    CHECK_EQ(h.count, 0);
    timer_heap_free(&h);
}

TEST(rearm_and_cancel_keep_the_heap)
{
    timer_heap h = {0};
    timer_node n[200] = {{0}};
    srand(7);
    for (int i = 0; i < 200; i++)
        CHECK_EQ(timer_heap_set(&h, &n[i], (uint64_t)(rand() % 10000)), 0);
    for (int round = 0; round < 2000; round++) {
        timer_node *x = &n[rand() % 200];
        if (rand() % 3 == 0)
            timer_heap_cancel(&h, x);
        else
            CHECK_EQ(timer_heap_set(&h, x, (uint64_t)(rand() % 10000)), 0);
        if (!heap_valid(&h)) {
            CHECK(0);
            break;
        }
    }
    uint32_t armed = 0;
    for (int i = 0; i < 200; i++)
        armed += timer_armed(&n[i]);
    CHECK_EQ(armed, h.count);
    timer_heap_cancel(&h, &n[0]);
    timer_heap_cancel(&h, &n[0]); /* twice: nothing */
    CHECK(heap_valid(&h));
    timer_heap_free(&h);
}

TEST(due_check_touches_only_expired)
{
    /* 100000 idle timers far in the future, 3 due: popping the due ones leaves the rest untouched. */
    enum { N = 100000 };
    timer_heap h = {0};
    timer_node *n = calloc(N, sizeof *n);
    CHECK(n != NULL);
    if (!n)
        return;
    for (uint32_t i = 0; i < N; i++)
        timer_heap_set(&h, &n[i], i < 3 ? 100 + i : 1000000 + i);
    int due = 0;
    while (timer_heap_pop_due(&h, 500))
        due++;
    CHECK_EQ(due, 3);
    CHECK_EQ(h.count, N - 3);
    CHECK(timer_heap_top(&h)->at == 1000003);
    timer_heap_free(&h);
    free(n);
}

TEST_MAIN()
