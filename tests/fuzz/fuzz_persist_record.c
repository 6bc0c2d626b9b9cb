/* fuzz_persist_record.c - libFuzzer target for what the store reads back: the record envelope
 * (src/persist/record.c: header, key id, GCM) and the decrypted contents (src/persist/pstate.c: sessions,
 * messages and message segments). The first byte picks the decoder; any bytes give a clean error or a value,
 * never a crash. A sealed record of the input must open to the same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "persist/pstate.h"
#include "persist/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static record_keys fuzz_keys;
static int fuzz_ready;

static void fuzz_open(const uint8_t *data, size_t size)
{
    const record_keys *keys[1] = {&fuzz_keys};
    record_view v;
    if (size < RECORD_INDEX_LEN)
        return;
    if (record_open(keys, 1, data, RECORD_INDEX_LEN, data + RECORD_INDEX_LEN, size - RECORD_INDEX_LEN, &v) ==
        RECORD_OK)
        record_view_free(&v);
}

static void fuzz_roundtrip(const uint8_t *data, size_t size)
{
    const record_keys *keys[1] = {&fuzz_keys};
    uint8_t idx[RECORD_INDEX_LEN], *rec = NULL;
    size_t len = 0, klen = size / 3;
    record_view v;
    record_index(&fuzz_keys, 2, data, klen, idx);
    if (record_seal(&fuzz_keys, idx, 2, data, klen, data + klen, size - klen, &rec, &len) < 0)
        __builtin_trap();
    if (record_open(keys, 1, idx, sizeof idx, rec, len, &v) != RECORD_OK || v.lkey_len != klen ||
        v.value_len != size - klen || (klen && memcmp(v.lkey, data, klen)) ||
        (size - klen && memcmp(v.value, data + klen, size - klen)))
        __builtin_trap();
    record_view_free(&v);
    free(rec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fuzz_ready) {
        uint8_t master[RECORD_MASTER_KEY_LEN] = {7};
        record_keys_derive(master, &fuzz_keys);
        fuzz_ready = 1;
    }
    if (size < 1)
        return 0;
    switch (data[0] % 5) {
    case 0:
        fuzz_open(data + 1, size - 1);
        break;
    case 1: {
        pstate_session s;
        if (pstate_session_decode(data + 1, size - 1, &s) == 0) {
            for (uint32_t i = 0; i < s.ndeliveries; i++)
                for (uint16_t j = 0; j < s.deliveries[i].nsub; j++)
                    (void)pstate_delivery_sub_id(&s.deliveries[i], j);
            pstate_session_clear(&s);
        }
        break;
    }
    case 2: {
        pstate_msg m;
        size_t pos = 0;
        if (pstate_msg_decode(data + 1, size - 1, &pos, &m) == 0) {
            pstate_buf b = {0};
            pstate_msg_encode(&b, m.qos, m.retain, m.expiry_wall_ms, (const char *)m.topic.data, m.topic.len,
                              m.payload.data, m.payload.len, &m.props);
            if (!b.oom && (b.len != pos || memcmp(b.data, data + 1, pos) != 0))
                __builtin_trap(); /* decode then encode gives the same bytes */
            pstate_buf_free(&b);
            pstate_msg_clear(&m);
        }
        break;
    }
    case 3:
        fuzz_roundtrip(data + 1, size - 1);
        break;
    default: { /* a message segment: header, then its messages */
        uint32_t count = 0;
        size_t pos = 0;
        if (pstate_segment_open(data + 1, size - 1, 1024, &count, &pos) < 0)
            break;
        for (uint32_t i = 0; i < count; i++) {
            pstate_msg m;
            if (pstate_msg_decode(data + 1, size - 1, &pos, &m) < 0)
                break;
            pstate_msg_clear(&m);
        }
        break;
    }
    }
    return 0;
}
