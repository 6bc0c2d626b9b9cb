/*
 * hist.h - a latency histogram with logarithmic buckets (in the manner of HdrHistogram): every power of two
 * is split into BENCH_HIST_SUB linear sub-buckets, so any recorded value is known to within 1/BENCH_HIST_SUB
 * (under 1%) of itself while the whole range 0 .. 2^BENCH_HIST_MAX_BITS fits in a fixed array. Values above
 * the range are clamped into the last bucket (the exact maximum is still kept). No allocation, no locking:
 * each thread records into its own histogram and the results are merged.
 */
#ifndef RAMPART_TOOLS_BENCH_HIST_H
#define RAMPART_TOOLS_BENCH_HIST_H

#include <stdint.h>

#define BENCH_HIST_SUB_BITS 7
#define BENCH_HIST_SUB (1u << BENCH_HIST_SUB_BITS)
#define BENCH_HIST_MAX_BITS 42 /* 2^42 ns is about 73 minutes */
#define BENCH_HIST_BUCKETS ((BENCH_HIST_MAX_BITS - BENCH_HIST_SUB_BITS + 1) * BENCH_HIST_SUB)

typedef struct bench_hist {
    uint64_t count;
    uint64_t min, max; /* exact; min is UINT64_MAX while empty */
    uint64_t sum;      /* saturating */
    uint64_t buckets[BENCH_HIST_BUCKETS];
} bench_hist;

/* Empties h. */
void bench_hist_init(bench_hist *h);
/* Records one value. */
void bench_hist_record(bench_hist *h, uint64_t value);
/* Adds every value recorded in src to dst. */
void bench_hist_merge(bench_hist *dst, const bench_hist *src);
/*
 * The value at percentile p (0 < p <= 100): the smallest recorded value v such that at least p% of the
 * values are <= v, reported as the highest value of v's bucket but never above the exact maximum nor below
 * the exact minimum. Returns 0 for an empty histogram.
 */
uint64_t bench_hist_percentile(const bench_hist *h, double p);
/* Mean of the recorded values (0 when empty). */
double bench_hist_mean(const bench_hist *h);

/* Bucket arithmetic, exposed for the unit test: the bucket of a value and the bucket's value range. */
uint32_t bench_hist_bucket_of(uint64_t value);
uint64_t bench_hist_bucket_low(uint32_t bucket);
uint64_t bench_hist_bucket_high(uint32_t bucket);

#endif
