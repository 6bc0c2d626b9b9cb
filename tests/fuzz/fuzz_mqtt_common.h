/*
 * fuzz_mqtt_common.h - what the MQTT codec fuzz targets share: a bump allocator reset per input, limits and
 * protocol version picked from a control byte, and checks that decoded slices lie inside the input.
 */
#ifndef RAMPART_FUZZ_MQTT_COMMON_H
#define RAMPART_FUZZ_MQTT_COMMON_H

#include <stdlib.h>
#include <string.h>

#include "codec/mqtt.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static _Alignas(16) unsigned char fuzz_arena[1 << 22];
static size_t fuzz_arena_used;

static void *fuzz_alloc(void *ctx, size_t size)
{
    (void)ctx;
    size = (size + 15) & ~(size_t)15;
    if (size > sizeof(fuzz_arena) - fuzz_arena_used)
        return NULL;
    fuzz_arena_used += size;
    return fuzz_arena + fuzz_arena_used - size;
}

static inline mqtt_alloc fuzz_alloc_reset(void)
{
    fuzz_arena_used = 0;
    return (mqtt_alloc){fuzz_alloc, NULL};
}

/* Control byte: bits 0-1 version (3, 4, 5, 5), bit 2 tight limits. */
static inline uint8_t fuzz_version(unsigned char c)
{
    static const uint8_t v[4] = {3, 4, 5, 5};
    return v[c & 3];
}

static inline mqtt_limits fuzz_limits(unsigned char c)
{
    if (c & 4)
        return (mqtt_limits){.max_packet_size = 512, .max_user_props = 4, .max_subs_per_packet = 3,
                             .max_topic_levels = 4};
    return (mqtt_limits){0};
}

/* Aborts unless the slice is empty or lies inside [base, base + len). */
static inline void fuzz_check_slice(mqtt_bytes b, const uint8_t *base, size_t len)
{
    if (b.len == 0)
        return;
    if (!b.data || b.data < base || b.data + b.len > base + len)
        abort();
}
#endif
