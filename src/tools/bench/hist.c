/* hist.c - see hist.h. */
#include "tools/bench/hist.h"

#include <string.h>

void bench_hist_init(bench_hist *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

/* Values below 2*SUB map to themselves; above, the top SUB_BITS+1 bits select the bucket. */
uint32_t bench_hist_bucket_of(uint64_t value)
{
    uint32_t msb, shift, bucket;

    if (value < 2 * BENCH_HIST_SUB)
        return (uint32_t)value;
    msb = 63u - (uint32_t)__builtin_clzll(value);
    shift = msb - BENCH_HIST_SUB_BITS;
    bucket = (shift + 1) * BENCH_HIST_SUB + (uint32_t)((value >> shift) - BENCH_HIST_SUB);
    return bucket < BENCH_HIST_BUCKETS ? bucket : BENCH_HIST_BUCKETS - 1;
}

uint64_t bench_hist_bucket_low(uint32_t bucket)
{
    uint32_t shift;

    if (bucket < 2 * BENCH_HIST_SUB)
        return bucket;
    shift = bucket / BENCH_HIST_SUB - 1;
    return (uint64_t)(BENCH_HIST_SUB + bucket % BENCH_HIST_SUB) << shift;
}

uint64_t bench_hist_bucket_high(uint32_t bucket)
{
    uint32_t shift;

    if (bucket < 2 * BENCH_HIST_SUB)
        return bucket;
    shift = bucket / BENCH_HIST_SUB - 1;
    return bench_hist_bucket_low(bucket) + ((uint64_t)1 << shift) - 1;
}

void bench_hist_record(bench_hist *h, uint64_t value)
{
    h->buckets[bench_hist_bucket_of(value)]++;
    h->count++;
    h->sum = h->sum + value < h->sum ? UINT64_MAX : h->sum + value;
    if (value < h->min)
        h->min = value;
    if (value > h->max)
        h->max = value;
}

void bench_hist_merge(bench_hist *dst, const bench_hist *src)
{
    if (!src->count)
        return;
    for (uint32_t i = 0; i < BENCH_HIST_BUCKETS; i++)
        dst->buckets[i] += src->buckets[i];
    dst->count += src->count;
    dst->sum = dst->sum + src->sum < dst->sum ? UINT64_MAX : dst->sum + src->sum;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
}

uint64_t bench_hist_percentile(const bench_hist *h, double p)
{
    uint64_t rank, seen = 0, value = 0;

    if (!h->count)
        return 0;
    if (p > 100.0)
        p = 100.0;
    rank = (uint64_t)(p / 100.0 * (double)h->count + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > h->count)
        rank = h->count;
    for (uint32_t i = 0; i < BENCH_HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            value = bench_hist_bucket_high(i);
            break;
        }
    }
    if (value > h->max)
        value = h->max;
    if (value < h->min)
        value = h->min;
    return value;
}

double bench_hist_mean(const bench_hist *h)
{
    return h->count ? (double)h->sum / (double)h->count : 0.0;
}
