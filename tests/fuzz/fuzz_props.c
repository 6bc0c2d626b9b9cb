/* fuzz_props.c - mqtt_props_decode for every packet type and the will: byte 0 picks the packet type
 * (low 4 bits), the will (bit 4) and limits (bit 5). A decoded block re-encodes to exactly its own size. */
#include "fuzz_mqtt_common.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t type = data[0] & 0x0F;
    bool will = data[0] & 0x10;
    mqtt_limits lim = fuzz_limits((data[0] & 0x20) ? 4 : 0);
    mqtt_alloc alloc = fuzz_alloc_reset();
    mqtt_props props;
    mqtt_error err = {0};
    size_t used = 0;
    if (mqtt_props_decode(data + 1, size - 1, type, will, &lim, &alloc, &props, &used, &err) != MQTT_OK) {
        if (err.reason < 0x80 || !err.message)
            abort();
        return 0;
    }
    if (used > size - 1 || mqtt_props_encoded_size(&props) != used)
        abort();
    for (uint32_t i = 0; i < props.user_count; i++) {
        fuzz_check_slice(props.user[i].key, data + 1, size - 1);
        fuzz_check_slice(props.user[i].value, data + 1, size - 1);
    }
    return 0;
}
