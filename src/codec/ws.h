/*
 * ws.h - the pure WebSocket (RFC 6455) frame codec: a resumable decoder that turns the bytes a client sent
 * into events (application data, ping, pong, close, error), and encoders for the frames a server sends.
 *
 * No I/O, no globals, no allocation. The decoder keeps its state between calls, so bytes may arrive in any
 * chunking; it examines each input byte a bounded number of times (linear when fed one byte at a time).
 * Application data is unmasked IN PLACE in the caller's buffer and reported as a slice of it; MQTT runs
 * over it as a byte stream, so message boundaries are not reported, only enforced (size limits, ordering).
 *
 * Protocol rules enforced (the WS_CLOSE_* code a server must then send is reported in the error):
 *   reserved bits set, unknown opcode, unmasked client frame (when masking is required), fragmented or
 *   oversized (> 125) control frame, continuation without a message, new data frame inside a fragmented
 *   message, non-minimal or 64-bit-MSB length: 1002. Frame or message above the configured limit: 1009.
 *   Text frame when only binary is accepted (MQTT over WebSocket requires binary): 1003. Close frame with a
 *   1-byte payload or an invalid code: 1002; with a reason that is not UTF-8: 1007.
 */
#ifndef RAMPART_CODEC_WS_H
#define RAMPART_CODEC_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ws_opcode { WS_OP_CONTINUATION = 0x0, WS_OP_TEXT = 0x1, WS_OP_BINARY = 0x2, WS_OP_CLOSE = 0x8,
                 WS_OP_PING = 0x9, WS_OP_PONG = 0xA };

/* Close codes (RFC 6455 section 7.4.1). */
enum ws_close_code { WS_CLOSE_NORMAL = 1000, WS_CLOSE_GOING_AWAY = 1001, WS_CLOSE_PROTOCOL_ERROR = 1002,
                     WS_CLOSE_UNSUPPORTED_DATA = 1003, WS_CLOSE_NO_STATUS = 1005, WS_CLOSE_INVALID_DATA = 1007,
                     WS_CLOSE_POLICY_VIOLATION = 1008, WS_CLOSE_TOO_BIG = 1009, WS_CLOSE_INTERNAL_ERROR = 1011 };

#define WS_CONTROL_MAX 125 /* largest control-frame payload */
#define WS_HEADER_MAX 14   /* largest frame header: 2 + 8 (length) + 4 (mask) */

enum ws_event_type {
    WS_EV_NONE = 0, /* every byte consumed, nothing to report: feed more */
    WS_EV_DATA,     /* application bytes: data/len point into the caller's buffer, already unmasked */
    WS_EV_PING,     /* a whole ping; payload in data/len (the decoder's own buffer, valid until next call) */
    WS_EV_PONG,     /* a whole pong; same */
    WS_EV_CLOSE,    /* a whole close frame: close_code (1005 when absent) and reason in data/len */
    WS_EV_ERROR     /* protocol violation: close_code is what to send, message says why; stop feeding */
};

typedef struct ws_event {
    enum ws_event_type type;
    const uint8_t *data;
    size_t len;
    uint16_t close_code;
    const char *message; /* static string, for WS_EV_ERROR */
} ws_event;

/* Limits, checked as soon as a frame header is complete (before any payload is accepted). 0 = no limit
 * beyond the protocol's (2^63 - 1). */
typedef struct ws_limits {
    uint64_t max_frame;   /* payload bytes of one frame */
    uint64_t max_message; /* payload bytes of one (possibly fragmented) data message */
    bool require_mask;    /* true for a server: clients MUST mask every frame */
    bool allow_text;      /* false for MQTT: text frames are an error (1003) */
} ws_limits;

/* Decoder state. Initialise with ws_decoder_init; no resources, nothing to free. */
typedef struct ws_decoder {
    ws_limits lim;
    uint8_t header[WS_HEADER_MAX];
    uint8_t header_have;
    uint8_t header_need;    /* 2 until the length byte is seen, then the full header size */
    bool in_payload;        /* header complete, payload_left bytes of payload to go */
    bool fin;
    uint8_t opcode;
    bool masked;
    uint8_t mask[4];
    uint8_t mask_pos;       /* index into mask of the next payload byte */
    uint64_t payload_left;
    bool in_message;        /* a fragmented data message is open (its first frame had fin = 0) */
    uint64_t message_bytes; /* payload bytes of the open data message so far */
    uint8_t control[WS_CONTROL_MAX];
    uint8_t control_len;
    bool failed; /* after WS_EV_ERROR every call reports the error again */
    uint16_t fail_code;
    const char *fail_message;
} ws_decoder;

void ws_decoder_init(ws_decoder *d, const ws_limits *lim);

/*
 * Consumes bytes from buf[0..len) until one event is ready or the input is exhausted, and returns how many
 * bytes it consumed (0 <= result <= len); *ev says what happened. The caller re-calls with the rest of the
 * buffer after handling the event. WS_EV_DATA slices point into buf, whose bytes are unmasked in place.
 * After WS_EV_ERROR the connection must be closed with ev->close_code.
 */
size_t ws_decoder_feed(ws_decoder *d, uint8_t *buf, size_t len, ws_event *ev);

/* True when no frame is partially received (a clean point to stop reading). */
bool ws_decoder_idle(const ws_decoder *d);

/*
 * Writes the header of a server frame (never masked) with this opcode, FIN bit and payload length into out
 * and returns its size (2, 4 or 10 bytes). Asserts the opcode is valid and control payloads are <= 125.
 */
size_t ws_frame_header_encode(uint8_t out[WS_HEADER_MAX], uint8_t opcode, bool fin, uint64_t payload_len);

/* Writes a masked client frame header (used by tests and tools); returns its size (6, 8 or 14 bytes). */
size_t ws_frame_header_encode_masked(uint8_t out[WS_HEADER_MAX], uint8_t opcode, bool fin,
                                     uint64_t payload_len, const uint8_t mask[4]);

/* XORs buf with the mask starting at mask position `pos` (0..3). */
void ws_mask_apply(uint8_t *buf, size_t len, const uint8_t mask[4], size_t pos);

/*
 * Builds a whole close frame (header, 2-byte code, reason truncated to fit 125 bytes) into out, which must
 * hold WS_HEADER_MAX + WS_CONTROL_MAX bytes. Returns the frame size.
 */
size_t ws_close_frame_encode(uint8_t *out, uint16_t code, const char *reason);

/* True if `code` may appear in a close frame received from a peer (1000-1003, 1007-1011, 3000-4999). */
bool ws_close_code_valid(uint16_t code);

#endif
