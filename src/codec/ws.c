/* ws.c - the WebSocket frame codec; see ws.h for the contract. */
#include "codec/ws.h"

#include <assert.h>
#include <string.h>

void ws_decoder_init(ws_decoder *d, const ws_limits *lim)
{
    memset(d, 0, sizeof *d);
    d->lim = *lim;
    d->header_need = 2;
}

bool ws_decoder_idle(const ws_decoder *d)
{
    return !d->in_payload && d->header_have == 0;
}

void ws_mask_apply(uint8_t *buf, size_t len, const uint8_t mask[4], size_t pos)
{
    for (size_t i = 0; i < len; i++)
        buf[i] ^= mask[(pos + i) & 3];
}

bool ws_close_code_valid(uint16_t code)
{
    if (code >= 1000 && code <= 1003)
        return true;
    if (code >= 1007 && code <= 1011)
        return true;
    return code >= 3000 && code <= 4999;
}

/* Well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF). Close reasons only: short input. */
static bool ws_utf8_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n >= len - i)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000))
            return false;
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n + 1;
    }
    return true;
}

/* Records a protocol error; every later call reports it again. */
static void ws_fail(ws_decoder *d, ws_event *ev, uint16_t code, const char *message)
{
    d->failed = true;
    d->fail_code = code;
    d->fail_message = message;
    ev->type = WS_EV_ERROR;
    ev->close_code = code;
    ev->message = message;
}

/* Size of the whole header once its first two bytes are known. */
static uint8_t ws_header_size(const uint8_t h[2])
{
    uint8_t len7 = h[1] & 0x7F;
    uint8_t size = 2 + ((h[1] & 0x80) ? 4 : 0);
    if (len7 == 126)
        size += 2;
    else if (len7 == 127)
        size += 8;
    return size;
}

/* Validates the first two header bytes: bits, opcode, masking, control-frame shape, message ordering. */
static bool ws_check_first_bytes(ws_decoder *d, ws_event *ev)
{
    uint8_t b0 = d->header[0], b1 = d->header[1];
    uint8_t op = b0 & 0x0F;
    bool fin = (b0 & 0x80) != 0;
    if (b0 & 0x70) {
        ws_fail(d, ev, WS_CLOSE_PROTOCOL_ERROR, "reserved bits set without a negotiated extension");
        return false;
    }
    if (op != WS_OP_CONTINUATION && op != WS_OP_TEXT && op != WS_OP_BINARY && op != WS_OP_CLOSE &&
        op != WS_OP_PING && op != WS_OP_PONG) {
        ws_fail(d, ev, WS_CLOSE_PROTOCOL_ERROR, "unknown opcode");
        return false;
    }
    if (d->lim.require_mask && !(b1 & 0x80)) {
        ws_fail(d, ev, WS_CLOSE_PROTOCOL_ERROR, "client frame not masked");
        return false;
    }
    if (op >= WS_OP_CLOSE) {
        if (!fin || (b1 & 0x7F) > WS_CONTROL_MAX) {
            ws_fail(d, ev, WS_CLOSE_PROTOCOL_ERROR, "fragmented or oversized control frame");
            return false;
        }
        return true;
    }
    if (op == WS_OP_TEXT && !d->lim.allow_text) {
        ws_fail(d, ev, WS_CLOSE_UNSUPPORTED_DATA, "text frame: MQTT needs binary frames");
        return false;
    }
    if (op == WS_OP_CONTINUATION && !d->in_message) {
        ws_fail(d, ev, WS_CLOSE_PROTOCOL_ERROR, "continuation frame without a message");
        return false;
    }
    if (op != WS_OP_CONTINUATION && d->in_message) {
        ws_fail(d, ev, WS_CLOSE_PROTOCOL_ERROR, "new data frame inside a fragmented message");
        return false;
    }
    return true;
}

/* Decodes the payload length and mask of a complete header and applies the size limits. */
static bool ws_finish_header(ws_decoder *d, ws_event *ev)
{
    const uint8_t *h = d->header;
    uint8_t len7 = h[1] & 0x7F;
    uint64_t plen = len7;
    size_t pos = 2;
    if (len7 == 126) {
        plen = ((uint64_t)h[2] << 8) | h[3];
        pos = 4;
        if (plen < 126) {
            ws_fail(d, ev, WS_CLOSE_PROTOCOL_ERROR, "payload length not minimally encoded");
            return false;
        }
    } else if (len7 == 127) {
        plen = 0;
        for (int i = 0; i < 8; i++)
            plen = (plen << 8) | h[2 + i];
        pos = 10;
        if (plen >> 63) {
            ws_fail(d, ev, WS_CLOSE_PROTOCOL_ERROR, "payload length has its top bit set");
            return false;
        }
        if (plen <= 0xFFFF) {
            ws_fail(d, ev, WS_CLOSE_PROTOCOL_ERROR, "payload length not minimally encoded");
            return false;
        }
    }
    d->fin = (h[0] & 0x80) != 0;
    d->opcode = h[0] & 0x0F;
    d->masked = (h[1] & 0x80) != 0;
    if (d->masked)
        memcpy(d->mask, h + pos, 4);
    d->mask_pos = 0;
    d->payload_left = plen;
    if (d->opcode < WS_OP_CLOSE) {
        if (d->lim.max_frame && plen > d->lim.max_frame) {
            ws_fail(d, ev, WS_CLOSE_TOO_BIG, "frame larger than the configured limit");
            return false;
        }
        uint64_t before = d->opcode == WS_OP_CONTINUATION ? d->message_bytes : 0;
        if (d->lim.max_message && (before > d->lim.max_message || plen > d->lim.max_message - before)) {
            ws_fail(d, ev, WS_CLOSE_TOO_BIG, "message larger than the configured limit");
            return false;
        }
        d->message_bytes = before + plen;
        d->in_message = !d->fin;
    }
    d->control_len = 0;
    d->in_payload = true;
    d->header_have = 0;
    d->header_need = 2;
    return true;
}

/* Accumulates header bytes; returns bytes consumed. Sets ev on error. */
static size_t ws_feed_header(ws_decoder *d, const uint8_t *buf, size_t len, ws_event *ev)
{
    size_t used = 0;
    while (used < len && d->header_have < d->header_need) {
        d->header[d->header_have++] = buf[used++];
        if (d->header_have == 2) {
            if (!ws_check_first_bytes(d, ev))
                return used;
            d->header_need = ws_header_size(d->header);
        }
    }
    if (d->header_have == d->header_need && d->header_have >= 2)
        ws_finish_header(d, ev);
    return used;
}

/* Completes a control frame whose payload is in d->control. */
static void ws_finish_control(ws_decoder *d, ws_event *ev)
{
    ev->data = d->control;
    ev->len = d->control_len;
    if (d->opcode == WS_OP_PING) {
        ev->type = WS_EV_PING;
        return;
    }
    if (d->opcode == WS_OP_PONG) {
        ev->type = WS_EV_PONG;
        return;
    }
    if (d->control_len == 1) {
        ws_fail(d, ev, WS_CLOSE_PROTOCOL_ERROR, "close frame with a 1-byte payload");
        return;
    }
    ev->close_code = WS_CLOSE_NO_STATUS;
    ev->data = d->control;
    ev->len = 0;
    if (d->control_len >= 2) {
        ev->close_code = (uint16_t)((d->control[0] << 8) | d->control[1]);
        if (!ws_close_code_valid(ev->close_code)) {
            ws_fail(d, ev, WS_CLOSE_PROTOCOL_ERROR, "close frame with an invalid code");
            return;
        }
        if (!ws_utf8_valid(d->control + 2, d->control_len - 2u)) {
            ws_fail(d, ev, WS_CLOSE_INVALID_DATA, "close reason is not UTF-8");
            return;
        }
        ev->data = d->control + 2;
        ev->len = d->control_len - 2u;
    }
    ev->type = WS_EV_CLOSE;
}

/* Moves payload bytes: data is unmasked in place and reported, control payload is buffered. */
static size_t ws_feed_payload(ws_decoder *d, uint8_t *buf, size_t len, ws_event *ev)
{
    size_t take = len;
    if ((uint64_t)take > d->payload_left)
        take = (size_t)d->payload_left;
    if (d->masked)
        ws_mask_apply(buf, take, d->mask, d->mask_pos);
    d->mask_pos = (uint8_t)((d->mask_pos + take) & 3);
    d->payload_left -= take;
    if (d->opcode >= WS_OP_CLOSE) {
        memcpy(d->control + d->control_len, buf, take);
        d->control_len = (uint8_t)(d->control_len + take);
    } else if (take > 0) {
        ev->type = WS_EV_DATA;
        ev->data = buf;
        ev->len = take;
    }
    if (d->payload_left == 0) {
        d->in_payload = false;
        if (d->opcode >= WS_OP_CLOSE)
            ws_finish_control(d, ev);
    }
    return take;
}

size_t ws_decoder_feed(ws_decoder *d, uint8_t *buf, size_t len, ws_event *ev)
{
    size_t used = 0;
    memset(ev, 0, sizeof *ev);
    if (d->failed) {
        ev->type = WS_EV_ERROR;
        ev->close_code = d->fail_code;
        ev->message = d->fail_message;
        return 0;
    }
    while (ev->type == WS_EV_NONE) {
        if (!d->in_payload) {
            if (used == len)
                break;
            used += ws_feed_header(d, buf + used, len - used, ev);
            continue;
        }
        if (used == len && d->payload_left > 0)
            break;
        used += ws_feed_payload(d, buf + used, len - used, ev);
    }
    return used;
}

size_t ws_frame_header_encode(uint8_t out[WS_HEADER_MAX], uint8_t opcode, bool fin, uint64_t payload_len)
{
    assert(opcode <= 0xF && (opcode < WS_OP_CLOSE || payload_len <= WS_CONTROL_MAX));
    assert(payload_len >> 63 == 0);
    out[0] = (uint8_t)((fin ? 0x80 : 0) | opcode);
    if (payload_len < 126) {
        out[1] = (uint8_t)payload_len;
        return 2;
    }
    if (payload_len <= 0xFFFF) {
        out[1] = 126;
        out[2] = (uint8_t)(payload_len >> 8);
        out[3] = (uint8_t)payload_len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (uint8_t)(payload_len >> (56 - 8 * i));
    return 10;
}

size_t ws_frame_header_encode_masked(uint8_t out[WS_HEADER_MAX], uint8_t opcode, bool fin,
                                     uint64_t payload_len, const uint8_t mask[4])
{
    size_t n = ws_frame_header_encode(out, opcode, fin, payload_len);
    out[1] |= 0x80;
    memcpy(out + n, mask, 4);
    return n + 4;
}

size_t ws_close_frame_encode(uint8_t *out, uint16_t code, const char *reason)
{
    size_t rlen = reason ? strlen(reason) : 0;
    if (rlen > WS_CONTROL_MAX - 2)
        rlen = WS_CONTROL_MAX - 2;
    size_t n = ws_frame_header_encode(out, WS_OP_CLOSE, true, rlen + 2);
    out[n] = (uint8_t)(code >> 8);
    out[n + 1] = (uint8_t)code;
    if (rlen)
        memcpy(out + n + 2, reason, rlen);
    return n + 2 + rlen;
}
