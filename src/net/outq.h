/*
 * outq.h - a connection's output queue: what is waiting to be written, as a list of segments sent with one
 * writev. Small encoded packets are copied into the queue's own byte area (consecutive ones merge into one
 * segment); large shared bodies (message payloads) are queued by reference: the queue holds a reference
 * (`ref`) and calls the release function once the bytes are written or the queue is freed.
 * Knows nothing of MQTT.
 */
#ifndef RAMPART_NET_OUTQ_H
#define RAMPART_NET_OUTQ_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "net/transport.h"

typedef void (*outq_release_fn)(void *ref);

typedef struct outq_seg {
    const uint8_t *ptr; /* NULL: bytes in the queue's area at `off` */
    uint32_t off;
    uint32_t len;
    void *ref;
} outq_seg;

/* One per connection: fields packed by size (72 bytes). */
typedef struct outq {
    uint8_t *area;
    outq_seg *segs;
    outq_release_fn release;
    size_t bytes;        /* bytes waiting */
    size_t area_pending; /* of which in the byte area (the rest are referenced payloads) */
    uint32_t area_head, area_tail, area_cap;
    uint32_t seg_first, seg_count, seg_cap;
    uint32_t first_sent; /* bytes of the first segment already written */
    uint32_t empties;    /* times the queue was written out completely (the first few free the buffers) */
} outq;

/* A zeroed outq with `release` set is ready. */
void outq_free(outq *q);
/* Room for n bytes at the end of the byte area; write them, then call outq_commit(q, n). NULL if out of
 * memory. The pointer is valid until the next call on q. */
uint8_t *outq_reserve(outq *q, size_t n);
void outq_commit(outq *q, size_t n);
/* Queues len bytes at ptr, owned by `ref` (released when written). Returns 0, or -1 if out of memory (the
 * reference is then not taken: the caller still owns it). len must be > 0. */
int outq_push_ref(outq *q, const void *ptr, size_t len, void *ref);
/* Writes as much as the transport takes (one writev per call, looping while it accepts everything).
 * Returns bytes written (0 if nothing could be), or -1 on a fatal error (errno set). */
ssize_t outq_flush(outq *q, transport *t);
/* Gives back the buffers of an empty queue (no-op when bytes are waiting); the next reserve or push
 * allocates again. Called for idle connections, whose kept buffers would otherwise dominate their cost. */
void outq_trim(outq *q);

#endif
