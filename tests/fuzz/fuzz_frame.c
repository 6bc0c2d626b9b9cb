/* fuzz_frame.c - a byte stream cut into packets by mqtt_frame_parse, as a connection would: byte 0 picks
 * the version and the size cap; every complete frame is decoded; a prefix of a frame never parses as more. */
#include "fuzz_mqtt_common.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t version = (data[0] & 8) ? 0 : fuzz_version(data[0]);
    mqtt_limits lim = fuzz_limits(data[0]);
    size_t pos = 1;
    while (pos < size) {
        mqtt_frame f;
        mqtt_error err = {0};
        int rc = mqtt_frame_parse(data + pos, size - pos, version, lim.max_packet_size, &f, &err);
        if (rc == MQTT_NEED_MORE || rc == MQTT_ERROR) {
            if (rc == MQTT_ERROR && (err.reason < 0x80 || !err.message))
                abort();
            return 0;
        }
        if (f.header_len < 2 || f.header_len > 5)
            abort();
        /* the header alone, one byte shorter, needs more */
        mqtt_frame g;
        if (mqtt_frame_parse(data + pos, f.header_len - 1, version, lim.max_packet_size, &g, &err) != MQTT_NEED_MORE)
            abort();
        size_t total = (size_t)f.header_len + f.remaining;
        if (total > size - pos)
            return 0;
        mqtt_alloc alloc = fuzz_alloc_reset();
        mqtt_packet p;
        if (mqtt_decode(data + pos, total, version, &lim, &alloc, &p, &err) == MQTT_OK && p.type == MQTT_CONNECT)
            version = p.u.connect.version;
        pos += total;
    }
    return 0;
}
