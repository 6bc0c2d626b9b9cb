/*
 * codec_helpers.h - shared by the codec unit tests: a bump arena for mqtt_alloc, decode/encode shortcuts.
 * Everything is static inline so each test program uses only what it needs.
 */
#ifndef RAMPART_TEST_CODEC_HELPERS_H
#define RAMPART_TEST_CODEC_HELPERS_H

#include "codec/mqtt.h"
#include "test.h"

typedef struct test_arena {
    _Alignas(16) uint8_t mem[1 << 16];
    size_t used;
    size_t limit; /* allocations beyond this fail (for exhaustion tests); 0 = the whole buffer */
} test_arena;

static test_arena test_arena_global;

static inline void *test_arena_alloc(void *ctx, size_t size)
{
    test_arena *a = ctx;
    size_t limit = a->limit ? a->limit : sizeof(a->mem);
    size = (size + 15) & ~(size_t)15;
    if (size > limit - a->used)
        return NULL;
    void *p = a->mem + a->used;
    a->used += size;
    return p;
}

static inline mqtt_alloc test_alloc(void)
{
    test_arena_global.used = 0;
    test_arena_global.limit = 0;
    return (mqtt_alloc){test_arena_alloc, &test_arena_global};
}

/* Decodes buf with default limits; returns the codec's return value, *err filled on failure. */
static inline int test_decode(const uint8_t *buf, size_t len, uint8_t version, mqtt_packet *p, mqtt_error *err)
{
    mqtt_alloc a = test_alloc();
    mqtt_limits lim = {0};
    return mqtt_decode(buf, len, version, &lim, &a, p, err);
}

/* Decodes and returns the reason code of the failure, or -1 if decoding succeeded. */
static inline int test_decode_reason(const uint8_t *buf, size_t len, uint8_t version)
{
    mqtt_packet p;
    mqtt_error err = {0};
    int rc = test_decode(buf, len, version, &p, &err);
    if (rc == MQTT_OK)
        return -1;
    if (err.message == NULL)
        return -2; /* an error must always say why */
    return err.reason;
}

#define MB(s) ((mqtt_bytes){(const uint8_t *)(s), (uint32_t)(sizeof(s) - 1)})

static inline int test_bytes_eq(mqtt_bytes b, const char *s)
{
    return b.len == strlen(s) && (b.len == 0 || memcmp(b.data, s, b.len) == 0);
}

#endif
