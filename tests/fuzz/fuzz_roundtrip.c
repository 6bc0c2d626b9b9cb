/* fuzz_roundtrip.c - decode, encode, decode, encode: whatever decodes must encode, the encoding must decode,
 * and the second encoding must equal the first. Byte 0 picks the version and limits. */
#include "fuzz_mqtt_common.h"

static unsigned char enc1[1 << 20], enc2[1 << 20];

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size < 1 || size > sizeof(enc1))
        return 0;
    uint8_t version = fuzz_version(data[0]);
    mqtt_limits lim = fuzz_limits(data[0]);
    mqtt_alloc alloc = fuzz_alloc_reset();
    mqtt_packet p, q;
    mqtt_error err;
    if (mqtt_decode(data + 1, size - 1, version, &lim, &alloc, &p, &err) != MQTT_OK)
        return 0;
    if (p.type == MQTT_CONNECT)
        version = p.u.connect.version;
    size_t n1 = mqtt_encode(&p, version, enc1, sizeof(enc1));
    if (n1 == 0 || n1 > size - 1 || n1 != mqtt_encoded_size(&p, version))
        abort();
    if (mqtt_decode(enc1, n1, version, &lim, &alloc, &q, &err) != MQTT_OK)
        abort();
    size_t n2 = mqtt_encode(&q, version, enc2, sizeof(enc2));
    if (n2 != n1 || memcmp(enc1, enc2, n1) != 0)
        abort();
    if (p.type == MQTT_PUBLISH) {
        size_t h = mqtt_encode_publish_head(&p.u.publish, version, enc2, sizeof(enc2));
        if (h + p.u.publish.payload.len != n1 || memcmp(enc1, enc2, h) != 0)
            abort();
    }
    return 0;
}
