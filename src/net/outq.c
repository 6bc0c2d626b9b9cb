/* outq.c - see outq.h. */
#include "net/outq.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define OUTQ_IOV_MAX 64
#define OUTQ_AREA_KEEP 16384 /* an idle queue keeps at most this much byte area */
#define OUTQ_EAGER_TRIMS 4   /* the first emptyings that give the buffers back at once */

static outq_seg *outq_seg_at(const outq *q, uint32_t i)
{
    return &q->segs[(q->seg_first + i) & (q->seg_cap - 1)];
}

void outq_free(outq *q)
{
    for (uint32_t i = 0; i < q->seg_count; i++) {
        outq_seg *s = outq_seg_at(q, i);
        if (s->ref)
            q->release(s->ref);
    }
    free(q->segs);
    free(q->area);
    outq_release_fn rel = q->release;
    memset(q, 0, sizeof *q);
    q->release = rel;
}

static int outq_seg_grow(outq *q)
{
    uint32_t ncap = q->seg_cap ? q->seg_cap * 2 : 8;
    outq_seg *ns = malloc(ncap * sizeof *ns);
    if (!ns)
        return -1;
    for (uint32_t i = 0; i < q->seg_count; i++)
        ns[i] = *outq_seg_at(q, i);
    free(q->segs);
    q->segs = ns;
    q->seg_cap = ncap;
    q->seg_first = 0;
    return 0;
}

static outq_seg *outq_seg_push(outq *q)
{
    if (q->seg_count == q->seg_cap && outq_seg_grow(q) < 0)
        return NULL;
    outq_seg *s = outq_seg_at(q, q->seg_count++);
    memset(s, 0, sizeof *s);
    return s;
}

/* Moves the live part of the byte area to its start, fixing the offsets of the segments that use it. */
static void outq_area_compact(outq *q)
{
    uint32_t shift = q->area_head;
    if (shift == 0)
        return;
    memmove(q->area, q->area + shift, q->area_tail - shift);
    q->area_tail -= shift;
    q->area_head = 0;
    for (uint32_t i = 0; i < q->seg_count; i++) {
        outq_seg *s = outq_seg_at(q, i);
        if (!s->ptr)
            s->off -= shift;
    }
}

uint8_t *outq_reserve(outq *q, size_t n)
{
    if (n > UINT32_MAX / 2 - q->area_tail)
        return NULL;
    if (q->area_tail + n > q->area_cap && q->area_head > 0)
        outq_area_compact(q);
    if (q->area_tail + n > q->area_cap) {
        size_t ncap = q->area_cap ? q->area_cap : 1024;
        while (ncap < q->area_tail + n)
            ncap *= 2;
        uint8_t *na = realloc(q->area, ncap);
        if (!na)
            return NULL;
        q->area = na;
        q->area_cap = (uint32_t)ncap;
    }
    return q->area + q->area_tail;
}

void outq_commit(outq *q, size_t n)
{
    assert(q->area_tail + n <= q->area_cap);
    if (n == 0)
        return;
    outq_seg *last = q->seg_count ? outq_seg_at(q, q->seg_count - 1) : NULL;
    if (last && !last->ptr && last->off + last->len == q->area_tail && !(q->seg_count == 1 && q->first_sent)) {
        last->len += (uint32_t)n;
    } else {
        outq_seg *s = outq_seg_push(q);
        if (!s) /* keep the bytes unqueued: the area simply does not advance */
            return;
        s->off = q->area_tail;
        s->len = (uint32_t)n;
    }
    q->area_tail += (uint32_t)n;
    q->bytes += n;
    q->area_pending += n;
}

int outq_push_ref(outq *q, const void *ptr, size_t len, void *ref)
{
    assert(len > 0 && len <= UINT32_MAX);
    outq_seg *s = outq_seg_push(q);
    if (!s)
        return -1;
    s->ptr = ptr;
    s->len = (uint32_t)len;
    s->ref = ref;
    q->bytes += len;
    return 0;
}

/* Drops `n` written bytes from the front of the queue. */
static void outq_consume(outq *q, size_t n)
{
    q->bytes -= n;
    while (n > 0) {
        outq_seg *s = outq_seg_at(q, 0);
        size_t left = s->len - q->first_sent;
        if (n < left) {
            q->first_sent += (uint32_t)n;
            if (!s->ptr)
                q->area_pending -= n;
            return;
        }
        n -= left;
        if (!s->ptr) {
            q->area_head = s->off + s->len;
            q->area_pending -= left;
        }
        if (s->ref)
            q->release(s->ref);
        q->seg_first = (q->seg_first + 1) & (q->seg_cap - 1);
        q->seg_count--;
        q->first_sent = 0;
    }
}

/* The first few times a queue empties (CONNACK, SUBACK: a connection that may stay idle) its buffers go back
 * at once, so the next connection reuses them; a busy queue keeps them (no allocation per write) until
 * outq_trim() or until they grew beyond OUTQ_AREA_KEEP. */
static void outq_idle_shrink(outq *q)
{
    q->area_head = q->area_tail = 0;
    if (q->empties < OUTQ_EAGER_TRIMS) {
        q->empties++;
        outq_trim(q);
    } else if (q->area_cap > OUTQ_AREA_KEEP) {
        free(q->area);
        q->area = NULL;
        q->area_cap = 0;
    }
}

void outq_trim(outq *q)
{
    if (q->seg_count > 0)
        return;
    free(q->area);
    q->area = NULL;
    q->area_cap = q->area_head = q->area_tail = 0;
    free(q->segs);
    q->segs = NULL;
    q->seg_cap = q->seg_first = 0;
}

ssize_t outq_flush(outq *q, transport *t)
{
    size_t total = 0;
    while (q->seg_count > 0) {
        struct iovec iov[OUTQ_IOV_MAX];
        int n = 0;
        size_t want = 0;
        for (uint32_t i = 0; i < q->seg_count && n < OUTQ_IOV_MAX; i++, n++) {
            outq_seg *s = outq_seg_at(q, i);
            size_t skip = i == 0 ? q->first_sent : 0;
            iov[n].iov_base = (uint8_t *)(s->ptr ? s->ptr : q->area + s->off) + skip;
            iov[n].iov_len = s->len - skip;
            want += iov[n].iov_len;
        }
        ssize_t w = t->ops->writev(t, iov, n);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR)
                break;
            return -1;
        }
        outq_consume(q, (size_t)w);
        total += (size_t)w;
        if ((size_t)w < want)
            break;
    }
    if (q->seg_count == 0)
        outq_idle_shrink(q);
    return (ssize_t)total;
}
