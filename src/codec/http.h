/*
 * http.h - the pure HTTP/1.1 WebSocket upgrade request parser (RFC 7230 request syntax, RFC 6455 section
 * 4.2.1 opening handshake) and the writers of the server's answers.
 *
 * No I/O, no globals, no allocation. The parser is resumable: the caller appends bytes to one buffer and
 * calls again with the whole buffer; the parser remembers how far it scanned, so the total work is linear
 * however the bytes trickle in. Nothing is accepted beyond the configured size, so a client cannot make the
 * caller buffer more than max_size bytes before it gets an answer.
 *
 * Return convention: HTTP_OK (0) a complete, valid upgrade request; HTTP_NEED_MORE (1) no end of headers
 * yet; HTTP_ERROR (-1) invalid: out->status is the HTTP status to answer (400, 405, 426, 431, 505) and
 * out->message says why. Slices in the result point into the caller's buffer.
 */
#ifndef RAMPART_CODEC_HTTP_H
#define RAMPART_CODEC_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { HTTP_OK = 0, HTTP_NEED_MORE = 1, HTTP_ERROR = -1 };

#define HTTP_DEFAULT_MAX_SIZE 8192
#define HTTP_DEFAULT_MAX_HEADERS 64
#define HTTP_WS_ACCEPT_LEN 28 /* base64 of a SHA-1 digest */

/* A slice of the request buffer; not NUL-terminated. len 0 means absent. */
typedef struct http_slice {
    const char *data;
    size_t len;
} http_slice;

typedef struct http_upgrade_request {
    size_t header_len; /* bytes through the blank line ending the headers; what follows is WebSocket data */
    http_slice method, target;
    http_slice host, upgrade, connection, key, version, protocols, origin, forwarded_for;
    http_slice authorization; /* http_request_parse only */
    bool has_body;            /* http_request_parse only: Content-Length or Transfer-Encoding present */
    int status;          /* HTTP_ERROR: the status to answer */
    const char *message; /* HTTP_ERROR: static description */
} http_upgrade_request;

typedef struct http_parser {
    size_t max_size;      /* whole request head; 0 = HTTP_DEFAULT_MAX_SIZE */
    uint32_t max_headers; /* header lines; 0 = HTTP_DEFAULT_MAX_HEADERS */
    size_t scanned;       /* bytes already checked for line structure */
} http_parser;

/* Resets the parser for a new request with these limits (0 = defaults). */
void http_parser_init(http_parser *p, size_t max_size, uint32_t max_headers);

/* Parses the request in buf[0..len) (the whole of what has arrived so far; see the convention above). */
int http_upgrade_parse(http_parser *p, const uint8_t *buf, size_t len, http_upgrade_request *out);

/*
 * Parses a plain HTTP/1.0 or HTTP/1.1 request head (the metrics endpoint) into the same structure, with the
 * same limits, resumability and return convention, but without the WebSocket rules: any method token is
 * returned for the caller to judge (405), the Authorization header is kept, and a body is only flagged
 * (has_body), not refused. Fields of the upgrade (key, version, ...) are filled when sent.
 */
int http_request_parse(http_parser *p, const uint8_t *buf, size_t len, http_upgrade_request *out);

/* True if the comma-separated list contains `token`, compared case-insensitively, ignoring whitespace. */
bool http_list_contains(http_slice list, const char *token);

/* The n-th (0 = last) comma-separated item of list counting from the right, trimmed; false if none. */
bool http_list_item_from_right(http_slice list, size_t n, http_slice *item);

/* The MQTT subprotocol to answer with: the first of the client's offers that is "mqtt" or "mqttv3.1"
 * (case-sensitive, as RFC 6455 requires), or NULL if it offered neither. */
const char *http_select_subprotocol(http_slice protocols);

/* Computes Sec-WebSocket-Accept for a key (base64(SHA-1(key + GUID))) into out (29 bytes, NUL-terminated).
 * Returns false only if OpenSSL fails. */
bool http_ws_accept(http_slice key, char out[HTTP_WS_ACCEPT_LEN + 1]);

/* The HSTS header sent on every answer of a secure WebSocket listener (RFC 6797: two years, subdomains). */
#define HTTP_HSTS_HEADER "Strict-Transport-Security: max-age=63072000; includeSubDomains\r\n"

/* Writes the 101 Switching Protocols answer into out[0..cap); returns its length, 0 if cap is too small.
 * `secure` (the request came over TLS) adds HTTP_HSTS_HEADER. */
size_t http_upgrade_response_write(char *out, size_t cap, const char *accept, const char *subprotocol,
                                   bool secure);

/* Writes an error answer with this status (and Sec-WebSocket-Version: 13 for 426) that closes the
 * connection: no body, never cached, never sniffed, never framed (X-Content-Type-Options, Cache-Control,
 * X-Frame-Options, Content-Security-Policy), plus HTTP_HSTS_HEADER when `secure`. Returns its length, 0 if
 * cap is too small. */
size_t http_error_response_write(char *out, size_t cap, int status, bool secure);

/* Writes the head of an answer that closes the connection: status line, `extra` header lines (each ending in
 * CRLF; may be NULL), Content-Type (when not NULL), the same no-sniff / no-frame / no-store headers as
 * http_error_response_write, Content-Length and the blank line. Returns its length, 0 if cap is too small. */
size_t http_response_head_write(char *out, size_t cap, int status, const char *extra, const char *content_type,
                                size_t content_length);

#endif
