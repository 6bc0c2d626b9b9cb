/*
 * track.h - sequence tracking for one message stream (one publisher as seen by one subscriber, or by a
 * whole shared-subscription group): counts unique, duplicated and out-of-order arrivals of the sequence
 * numbers 0, 1, 2, ... a publisher stamps into its messages. A ring bitmap remembers the last
 * BENCH_TRACK_WINDOW sequence numbers below the highest seen, so a duplicate is recognised within that window;
 * an arrival older than the window cannot be told from a duplicate and is counted as out of order (and
 * unique). Loss is what the publisher sent minus the unique arrivals, computed by the caller at the end.
 */
#ifndef RAMPART_TOOLS_BENCH_TRACK_H
#define RAMPART_TOOLS_BENCH_TRACK_H

#include <stdint.h>

#define BENCH_TRACK_WINDOW 4096u /* sequence numbers; a power of two */

typedef struct bench_track {
    uint64_t next;         /* highest sequence number seen + 1 (0 before the first arrival) */
    uint64_t unique;       /* distinct sequence numbers received */
    uint64_t duplicated;   /* arrivals of a sequence number already received */
    uint64_t out_of_order; /* arrivals below the highest sequence number already seen */
    uint64_t seen[BENCH_TRACK_WINDOW / 64];
} bench_track;

void bench_track_init(bench_track *t);
/* Accounts one arrival of sequence number seq. */
void bench_track_arrive(bench_track *t, uint64_t seq);

#endif
