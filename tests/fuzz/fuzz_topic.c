/* fuzz_topic.c - UTF-8, topic name, topic filter and $share split on any bytes, and how they relate: a
 * valid name or filter is valid UTF-8, a valid name is a valid filter unless it is a $share/ one. */
#include "fuzz_mqtt_common.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size > 0xFFFF)
        return 0;
    bool utf8 = mqtt_utf8_valid(data, size);
    bool name = mqtt_topic_name_valid(data, size);
    bool filter = mqtt_topic_filter_valid(data, size);
    if ((name || filter) && !utf8)
        abort();
    bool shared_prefix = size >= 7 && memcmp(data, "$share/", 7) == 0;
    if (name && !shared_prefix && !filter)
        abort();
    mqtt_bytes group, inner;
    if (mqtt_shared_split((mqtt_bytes){data, (uint32_t)size}, &group, &inner)) {
        fuzz_check_slice(group, data, size);
        fuzz_check_slice(inner, data, size);
        if (!shared_prefix || group.len == 0 || 7 + group.len + 1 + inner.len != size)
            abort();
        if (filter && (inner.len == 0 || !mqtt_utf8_valid(inner.data, inner.len) ||
                       memchr(group.data, '+', group.len) || memchr(group.data, '#', group.len)))
            abort();
    } else if (filter && shared_prefix) {
        abort();
    }
    return 0;
}
