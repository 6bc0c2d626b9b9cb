/* fuzz_decode.c - mqtt_decode on any bytes: byte 0 picks the version and limits, the rest is one packet.
 * A success must have its strings inside the input; a failure must carry a reason code and a message. */
#include "fuzz_mqtt_common.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size < 1)
        return 0;
    mqtt_limits lim = fuzz_limits(data[0]);
    mqtt_alloc alloc = fuzz_alloc_reset();
    mqtt_packet p;
    mqtt_error err = {0};
    const uint8_t *buf = data + 1;
    size_t len = size - 1;
    if (mqtt_decode(buf, len, fuzz_version(data[0]), &lim, &alloc, &p, &err) != MQTT_OK) {
        if (err.reason < 0x80 || !err.message || err.offset > len)
            abort();
        return 0;
    }
    if (p.type == MQTT_PUBLISH) {
        fuzz_check_slice(p.u.publish.topic, buf, len);
        fuzz_check_slice(p.u.publish.payload, buf, len);
        if (p.u.publish.topic.len && !mqtt_topic_name_valid(p.u.publish.topic.data, p.u.publish.topic.len))
            abort();
    } else if (p.type == MQTT_SUBSCRIBE) {
        for (uint32_t i = 0; i < p.u.subscribe.count; i++)
            if (!mqtt_topic_filter_valid(p.u.subscribe.subs[i].filter.data, p.u.subscribe.subs[i].filter.len))
                abort();
    } else if (p.type == MQTT_CONNECT) {
        fuzz_check_slice(p.u.connect.client_id, buf, len);
        fuzz_check_slice(p.u.connect.password, buf, len);
    }
    return 0;
}
