/* track.c - see track.h. */
#include "tools/bench/track.h"

#include <string.h>

#define TRACK_MASK (BENCH_TRACK_WINDOW - 1)

void bench_track_init(bench_track *t)
{
    memset(t, 0, sizeof *t);
}

static int track_bit_get(const bench_track *t, uint64_t seq)
{
    uint64_t pos = seq & TRACK_MASK;

    return (int)((t->seen[pos / 64] >> (pos % 64)) & 1);
}

static void track_bit_set(bench_track *t, uint64_t seq, int on)
{
    uint64_t pos = seq & TRACK_MASK;
    uint64_t bit = (uint64_t)1 << (pos % 64);

    if (on)
        t->seen[pos / 64] |= bit;
    else
        t->seen[pos / 64] &= ~bit;
}

/* Moves the window so that it ends at seq (inclusive): positions of the skipped numbers become "missing". */
static void track_advance(bench_track *t, uint64_t seq)
{
    if (seq - t->next >= BENCH_TRACK_WINDOW)
        memset(t->seen, 0, sizeof t->seen);
    else
        for (uint64_t s = t->next; s < seq; s++)
            track_bit_set(t, s, 0);
    track_bit_set(t, seq, 1);
    t->next = seq + 1;
}

void bench_track_arrive(bench_track *t, uint64_t seq)
{
    if (seq >= t->next) {
        track_advance(t, seq);
        t->unique++;
        return;
    }
    if (t->next - seq > BENCH_TRACK_WINDOW) {
        t->out_of_order++;
        t->unique++;
        return;
    }
    if (track_bit_get(t, seq)) {
        t->duplicated++;
        return;
    }
    track_bit_set(t, seq, 1);
    t->out_of_order++;
    t->unique++;
}
