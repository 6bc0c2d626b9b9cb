/*
 * buffer.c - bounds-checked readers and asserting writers used by the decoder and encoder.
 */
#include <assert.h>
#include <string.h>

#include "codec/mqtt_internal.h"

/* Records the first error only: later failures while unwinding do not overwrite it. */
int mqtt_fail(mqtt_error *err, uint8_t reason, size_t offset, const char *message)
{
    if (err) {
        err->reason = reason;
        err->offset = (uint32_t)offset;
        err->message = message;
    }
    return MQTT_ERROR;
}

int mqtt_reader_fail(mqtt_reader *r, uint8_t reason, const char *message)
{
    return mqtt_fail(r->err, reason, r->pos, message);
}

/* Fails with 0x81 unless n more bytes are readable. */
static int reader_need(mqtt_reader *r, size_t n)
{
    if (r->end - r->pos < n)
        return mqtt_reader_fail(r, MQTT_RC_MALFORMED, "packet ends inside a field");
    return MQTT_OK;
}

int mqtt_read_u8(mqtt_reader *r, uint8_t *v)
{
    if (reader_need(r, 1) != MQTT_OK)
        return MQTT_ERROR;
    *v = r->buf[r->pos++];
    return MQTT_OK;
}

int mqtt_read_u16(mqtt_reader *r, uint16_t *v)
{
    if (reader_need(r, 2) != MQTT_OK)
        return MQTT_ERROR;
    *v = (uint16_t)((r->buf[r->pos] << 8) | r->buf[r->pos + 1]);
    r->pos += 2;
    return MQTT_OK;
}

int mqtt_read_u32(mqtt_reader *r, uint32_t *v)
{
    if (reader_need(r, 4) != MQTT_OK)
        return MQTT_ERROR;
    const uint8_t *p = r->buf + r->pos;
    *v = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
    r->pos += 4;
    return MQTT_OK;
}

/* A variable byte integer that is cut short by the end of the range is malformed, like any other field. */
int mqtt_read_vbi(mqtt_reader *r, uint32_t *v)
{
    size_t used = 0;
    int rc = mqtt_vbi_decode(r->buf + r->pos, r->end - r->pos, v, &used);
    if (rc == MQTT_NEED_MORE)
        return mqtt_reader_fail(r, MQTT_RC_MALFORMED, "packet ends inside a variable byte integer");
    if (rc != MQTT_OK)
        return mqtt_reader_fail(r, MQTT_RC_MALFORMED, "invalid variable byte integer");
    r->pos += used;
    return MQTT_OK;
}

int mqtt_read_binary(mqtt_reader *r, mqtt_bytes *v)
{
    uint16_t n;
    if (mqtt_read_u16(r, &n) != MQTT_OK)
        return MQTT_ERROR;
    if (r->end - r->pos < n) {
        r->pos -= 2;
        return mqtt_reader_fail(r, MQTT_RC_MALFORMED, "length prefix runs past the end of the packet");
    }
    v->data = n ? r->buf + r->pos : NULL;
    v->len = n;
    r->pos += n;
    return MQTT_OK;
}

int mqtt_read_utf8(mqtt_reader *r, mqtt_bytes *v)
{
    size_t start = r->pos;
    if (mqtt_read_binary(r, v) != MQTT_OK)
        return MQTT_ERROR;
    if (!mqtt_utf8_valid(v->data, v->len))
        return mqtt_fail(r->err, MQTT_RC_MALFORMED, start, "string is not valid MQTT UTF-8");
    return MQTT_OK;
}

void *mqtt_alloc_array(const mqtt_alloc *alloc, size_t count, size_t size)
{
    if (!alloc || !alloc->alloc || count == 0 || count > SIZE_MAX / size)
        return NULL;
    return alloc->alloc(alloc->ctx, count * size);
}

void mqtt_write_u8(mqtt_writer *w, uint8_t v)
{
    assert(w->pos < w->cap);
    w->out[w->pos++] = v;
}

void mqtt_write_u16(mqtt_writer *w, uint16_t v)
{
    mqtt_write_u8(w, (uint8_t)(v >> 8));
    mqtt_write_u8(w, (uint8_t)v);
}

void mqtt_write_u32(mqtt_writer *w, uint32_t v)
{
    mqtt_write_u16(w, (uint16_t)(v >> 16));
    mqtt_write_u16(w, (uint16_t)v);
}

void mqtt_write_vbi(mqtt_writer *w, uint32_t v)
{
    uint8_t tmp[4];
    size_t n = mqtt_vbi_encode(v, tmp);
    mqtt_write_raw(w, tmp, n);
}

void mqtt_write_raw(mqtt_writer *w, const uint8_t *data, size_t len)
{
    assert(w->cap - w->pos >= len);
    if (len)
        memcpy(w->out + w->pos, data, len);
    w->pos += len;
}

void mqtt_write_binary(mqtt_writer *w, mqtt_bytes v)
{
    assert(v.len <= 0xFFFF);
    mqtt_write_u16(w, (uint16_t)v.len);
    mqtt_write_raw(w, v.data, v.len);
}
