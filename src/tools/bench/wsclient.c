/* wsclient.c - see wsclient.h. */
#include "tools/bench/wsclient.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "codec/http.h"

bench_ws *bench_ws_new(void)
{
    bench_ws *ws = calloc(1, sizeof *ws);
    ws_limits lim = {0, 0, false, false};
    unsigned char raw[16];

    if (!ws)
        return NULL;
    ws_decoder_init(&ws->dec, &lim);
    if (RAND_bytes(raw, sizeof raw) != 1 || RAND_bytes((unsigned char *)&ws->rng, sizeof ws->rng) != 1) {
        free(ws);
        return NULL;
    }
    EVP_EncodeBlock((unsigned char *)ws->key, raw, sizeof raw);
    ws->rng |= 1;
    return ws;
}

void bench_ws_free(bench_ws *ws)
{
    if (!ws)
        return;
    free(ws->out);
    free(ws);
}

/* Room for n more bytes at the end of the output. Returns 0 or -1. */
static int ws_reserve(bench_ws *ws, size_t n)
{
    size_t cap = ws->cap ? ws->cap : 1024;
    uint8_t *p;

    if (ws->off == ws->len)
        ws->off = ws->len = 0;
    if (ws->len + n <= ws->cap)
        return 0;
    while (cap < ws->len + n)
        cap *= 2;
    p = realloc(ws->out, cap);
    if (!p)
        return -1;
    ws->out = p;
    ws->cap = cap;
    return 0;
}

int bench_ws_request(bench_ws *ws, const char *host, uint16_t port, const char *path)
{
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s:%u\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n",
                     path, host, port, ws->key);

    if (n <= 0 || (size_t)n >= sizeof req || ws_reserve(ws, (size_t)n))
        return -1;
    memcpy(ws->out + ws->len, req, (size_t)n);
    ws->len += (size_t)n;
    return 0;
}

/* The value of header `name` in the response head[0..len) (case-insensitive name), trimmed. */
static int ws_header(const char *head, size_t len, const char *name, const char **val, size_t *vlen)
{
    size_t nlen = strlen(name);

    for (const char *p = head; p && p < head + len; p = memchr(p, '\n', (size_t)(head + len - p))) {
        const char *end;

        if (*p == '\n')
            p++;
        if ((size_t)(head + len - p) <= nlen || strncasecmp(p, name, nlen) || p[nlen] != ':')
            continue;
        p += nlen + 1;
        while (*p == ' ' || *p == '\t')
            p++;
        end = memchr(p, '\r', (size_t)(head + len - p));
        if (!end)
            return -1;
        *val = p;
        *vlen = (size_t)(end - p);
        return 0;
    }
    return -1;
}

long bench_ws_response(bench_ws *ws, const uint8_t *buf, size_t len, const char **why)
{
    const char *head = (const char *)buf, *val;
    char accept[HTTP_WS_ACCEPT_LEN + 1];
    http_slice key = {ws->key, strlen(ws->key)};
    size_t vlen, hlen = 0;

    for (size_t i = 3; i < len && !hlen; i++)
        if (!memcmp(buf + i - 3, "\r\n\r\n", 4))
            hlen = i + 1;
    if (!hlen) {
        if (len < BENCH_WS_MAX_RESPONSE)
            return 0;
        *why = "WebSocket upgrade: response header too long";
        return -1;
    }
    if (hlen < 12 || memcmp(head, "HTTP/1.1 101", 12)) {
        *why = "WebSocket upgrade refused (no 101 Switching Protocols)";
        return -1;
    }
    if (!http_ws_accept(key, accept) || ws_header(head, hlen, "Sec-WebSocket-Accept", &val, &vlen) ||
        vlen != HTTP_WS_ACCEPT_LEN || memcmp(val, accept, vlen)) {
        *why = "WebSocket upgrade: wrong or missing Sec-WebSocket-Accept";
        return -1;
    }
    ws->open = true;
    return (long)hlen;
}

/* xorshift32: masks only need to vary, not to be secret, between a benchmark and a loopback broker. */
static void ws_next_mask(bench_ws *ws, uint8_t mask[4])
{
    uint32_t x = ws->rng;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    ws->rng = x;
    memcpy(mask, &x, 4);
}

int bench_ws_frame(bench_ws *ws, uint8_t opcode, const uint8_t *data, size_t len)
{
    uint8_t mask[4], head[WS_HEADER_MAX];
    size_t hl;

    ws_next_mask(ws, mask);
    hl = ws_frame_header_encode_masked(head, opcode, true, len, mask);
    if (ws_reserve(ws, hl + len))
        return -1;
    memcpy(ws->out + ws->len, head, hl);
    if (len)
        memcpy(ws->out + ws->len + hl, data, len);
    ws_mask_apply(ws->out + ws->len + hl, len, mask, 0);
    ws->len += hl + len;
    return 0;
}

ssize_t bench_ws_ingest(bench_ws *ws, uint8_t *buf, size_t n, bool *closed, const char **why)
{
    size_t at = 0, out = 0;

    *closed = false;
    while (at < n) {
        ws_event ev;
        size_t used = ws_decoder_feed(&ws->dec, buf + at, n - at, &ev);

        at += used;
        switch (ev.type) {
        case WS_EV_DATA:
            memmove(buf + out, ev.data, ev.len);
            out += ev.len;
            break;
        case WS_EV_PING:
            if (bench_ws_frame(ws, WS_OP_PONG, ev.data, ev.len)) {
                *why = "out of memory";
                return -1;
            }
            break;
        case WS_EV_CLOSE:
            *closed = true;
            return -1;
        case WS_EV_ERROR:
            *why = ev.message ? ev.message : "WebSocket protocol error";
            return -1;
        default:
            break;
        }
        if (!used && ev.type == WS_EV_NONE)
            break;
    }
    return (ssize_t)out;
}
