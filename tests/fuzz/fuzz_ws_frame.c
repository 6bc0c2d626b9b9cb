/* fuzz_ws_frame.c - the WebSocket frame decoder: any bytes, in any chunking, give events or one error;
 * data slices stay inside the input and consumption never exceeds it. Byte 0 picks chunk size and limits. */
#include <stdlib.h>
#include <string.h>

#include "codec/ws.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (size_t)(data[0] & 0x3F) + 1;
    ws_limits lim = {.max_frame = (data[0] & 0x40) ? 64 : 0, .max_message = (data[0] & 0x40) ? 200 : 0,
                     .require_mask = (data[0] & 0x80) != 0, .allow_text = false};
    uint8_t *buf = malloc(size);
    memcpy(buf, data, size);
    ws_decoder d;
    ws_decoder_init(&d, &lim);
    for (size_t pos = 1; pos < size;) {
        size_t chunk = size - pos < step ? size - pos : step;
        size_t off = 0;
        ws_event ev;
        do {
            size_t used = ws_decoder_feed(&d, buf + pos + off, chunk - off, &ev);
            if (used > chunk - off)
                abort();
            if (ev.type == WS_EV_DATA && (ev.data < buf + pos + off || ev.data + ev.len > buf + pos + off + used))
                abort();
            if (ev.type == WS_EV_ERROR && (ev.close_code < 1000 || !ev.message))
                abort();
            off += used;
            if (ev.type == WS_EV_ERROR || ev.type == WS_EV_CLOSE)
                goto done;
        } while (off < chunk && ev.type != WS_EV_NONE);
        pos += chunk;
    }
done:
    free(buf);
    return 0;
}
