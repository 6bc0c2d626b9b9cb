/*
 * mqtt_internal.h - helpers shared by the codec's source files; not part of the codec's contract.
 *
 * A reader walks a byte range [pos, end) of one frame buffer and records the first error in *err (reason
 * code, absolute offset in the frame, static message). Every read checks bounds first; no read ever goes
 * past `end`. A writer fills a buffer whose size was computed beforehand and asserts it never overflows.
 */
#ifndef RAMPART_CODEC_MQTT_INTERNAL_H
#define RAMPART_CODEC_MQTT_INTERNAL_H

#include "codec/mqtt.h"

typedef struct mqtt_reader {
    const uint8_t *buf; /* start of the frame: offsets in errors are relative to it */
    size_t pos;         /* next byte to read */
    size_t end;         /* one past the last readable byte */
    mqtt_error *err;
} mqtt_reader;

/* Records an error (reason, offset, message) and returns MQTT_ERROR. err may be NULL. */
int mqtt_fail(mqtt_error *err, uint8_t reason, size_t offset, const char *message);
/* Same, at the reader's current position. */
int mqtt_reader_fail(mqtt_reader *r, uint8_t reason, const char *message);

/* Readers: return MQTT_OK, or MQTT_ERROR with reason 0x81 (malformed) when the bytes run out. */
int mqtt_read_u8(mqtt_reader *r, uint8_t *v);
int mqtt_read_u16(mqtt_reader *r, uint16_t *v);
int mqtt_read_u32(mqtt_reader *r, uint32_t *v);
int mqtt_read_vbi(mqtt_reader *r, uint32_t *v);
/* Two-byte length then that many bytes. */
int mqtt_read_binary(mqtt_reader *r, mqtt_bytes *v);
/* Like mqtt_read_binary, then checks the MQTT UTF-8 rules (0x81 if they fail). */
int mqtt_read_utf8(mqtt_reader *r, mqtt_bytes *v);

/* Reads a property block (length VBI, then properties) at r->pos for packet `type` (will: the will
 * properties of CONNECT), validating every rule of section 2.2.2; r->pos ends just past the block. */
int mqtt_props_read(mqtt_reader *r, uint8_t type, bool will, const mqtt_limits *lim, const mqtt_alloc *alloc,
                    mqtt_props *out);

/* Number of '/'-separated levels of s[0..len). */
uint32_t mqtt_topic_levels(const uint8_t *s, size_t len);

/* Allocates count * size bytes through alloc; NULL if alloc is NULL, exhausted or the size overflows. */
void *mqtt_alloc_array(const mqtt_alloc *alloc, size_t count, size_t size);

/* A writer over out[0..cap); callers size the buffer first, the writer asserts it does not overflow. */
typedef struct mqtt_writer {
    uint8_t *out;
    size_t pos;
    size_t cap;
} mqtt_writer;

void mqtt_write_u8(mqtt_writer *w, uint8_t v);
void mqtt_write_u16(mqtt_writer *w, uint16_t v);
void mqtt_write_u32(mqtt_writer *w, uint32_t v);
void mqtt_write_vbi(mqtt_writer *w, uint32_t v);
void mqtt_write_raw(mqtt_writer *w, const uint8_t *data, size_t len);
/* Two-byte length then the bytes; asserts len <= 65535. */
void mqtt_write_binary(mqtt_writer *w, mqtt_bytes v);
/* Writes the property block (length VBI and properties) of props. */
void mqtt_props_write(mqtt_writer *w, const mqtt_props *props);
/* True if the block can be encoded: strings fit two-byte lengths, identifiers and sizes are in range. */
bool mqtt_props_encodable(const mqtt_props *props);
/* Size of the properties alone, without the length VBI. */
size_t mqtt_props_body_size(const mqtt_props *props);

#endif
