/* http.c - the WebSocket upgrade request parser and answer writers; see http.h for the contract. */
#include "codec/http.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

void http_parser_init(http_parser *p, size_t max_size, uint32_t max_headers)
{
    p->max_size = max_size ? max_size : HTTP_DEFAULT_MAX_SIZE;
    p->max_headers = max_headers ? max_headers : HTTP_DEFAULT_MAX_HEADERS;
    p->scanned = 0;
}

static int http_fail(http_upgrade_request *out, int status, const char *message)
{
    out->status = status;
    out->message = message;
    return HTTP_ERROR;
}

static int http_lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

static bool http_slice_ieq(http_slice s, const char *lit)
{
    size_t n = strlen(lit);
    if (s.len != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (http_lower((unsigned char)s.data[i]) != http_lower((unsigned char)lit[i]))
            return false;
    return true;
}

/* RFC 7230 tchar. */
static bool http_is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Field-value byte: VCHAR, SP, HTAB or obs-text. */
static bool http_is_value_char(unsigned char c)
{
    return c == ' ' || c == '\t' || (c >= 0x21 && c != 0x7F);
}

/*
 * Checks line structure from p->scanned on: every LF preceded by CR, no CR without LF, no NUL. Returns the
 * head length (through CRLFCRLF) when found, 0 when more is needed, or (size_t)-1 on a bad byte (status set).
 */
static size_t http_scan(http_parser *p, const uint8_t *buf, size_t len, http_upgrade_request *out)
{
    size_t i = p->scanned;
    for (; i < len; i++) {
        uint8_t c = buf[i];
        if (i >= p->max_size) {
            http_fail(out, 431, "request head too large");
            return (size_t)-1;
        }
        if (c == 0) {
            http_fail(out, 400, "NUL byte in request head");
            return (size_t)-1;
        }
        if (c == '\r' && i + 1 < len && buf[i + 1] != '\n') {
            http_fail(out, 400, "CR not followed by LF");
            return (size_t)-1;
        }
        if (c == '\n') {
            if (i == 0 || buf[i - 1] != '\r') {
                http_fail(out, 400, "bare LF in request head");
                return (size_t)-1;
            }
            if (i >= 3 && buf[i - 2] == '\n') {
                p->scanned = i + 1;
                return i + 1;
            }
        }
    }
    /* Keep the trailing CR unscanned so the CR-LF check sees its successor next time. */
    p->scanned = (len > 0 && buf[len - 1] == '\r') ? len - 1 : len;
    return 0;
}

/* Parses "GET /path HTTP/1.1" in line[0..n). plain: HTTP/1.0 is accepted and the method is not judged. */
static int http_parse_request_line(const char *line, size_t n, bool plain, http_upgrade_request *out)
{
    const char *sp1 = memchr(line, ' ', n);
    if (!sp1 || sp1 == line)
        return http_fail(out, 400, "malformed request line");
    const char *rest = sp1 + 1;
    size_t rest_len = n - (size_t)(rest - line);
    const char *sp2 = memchr(rest, ' ', rest_len);
    if (!sp2 || sp2 == rest)
        return http_fail(out, 400, "malformed request line");
    out->method = (http_slice){line, (size_t)(sp1 - line)};
    out->target = (http_slice){rest, (size_t)(sp2 - rest)};
    http_slice version = {sp2 + 1, n - (size_t)(sp2 + 1 - line)};
    for (size_t i = 0; i < out->method.len; i++)
        if (!http_is_tchar((unsigned char)line[i]))
            return http_fail(out, 400, "malformed method");
    if (version.len != 8 || memcmp(version.data, "HTTP/1.", 7) != 0)
        return http_fail(out, 400, "malformed HTTP version");
    if (version.data[7] != '1' && !(plain && version.data[7] == '0'))
        return http_fail(out, 505, plain ? "HTTP version not supported" : "WebSocket needs HTTP/1.1");
    if (!plain && (out->method.len != 3 || memcmp(out->method.data, "GET", 3) != 0))
        return http_fail(out, 405, "method is not GET");
    if (out->target.data[0] != '/')
        return http_fail(out, 400, "request target is not an absolute path");
    for (size_t i = 0; i < out->target.len; i++) {
        unsigned char c = (unsigned char)out->target.data[i];
        if (c <= 0x20 || c >= 0x7F)
            return http_fail(out, 400, "invalid byte in request target");
    }
    return HTTP_OK;
}

/* Stores a single-valued header; a repeat is an error (ambiguous requests are refused). */
static int http_set_once(http_slice *field, http_slice value, http_upgrade_request *out)
{
    if (field->data)
        return http_fail(out, 400, "repeated header");
    *field = value;
    return HTTP_OK;
}

/* Files one header under the field it belongs to; unknown headers are ignored. */
static int http_store_header(http_slice name, http_slice value, bool plain, http_upgrade_request *out)
{
    static const struct {
        const char *name;
        size_t offset;
    } fields[] = {
        {"host", offsetof(http_upgrade_request, host)},
        {"upgrade", offsetof(http_upgrade_request, upgrade)},
        {"connection", offsetof(http_upgrade_request, connection)},
        {"sec-websocket-key", offsetof(http_upgrade_request, key)},
        {"sec-websocket-version", offsetof(http_upgrade_request, version)},
        {"sec-websocket-protocol", offsetof(http_upgrade_request, protocols)},
        {"origin", offsetof(http_upgrade_request, origin)},
        {"x-forwarded-for", offsetof(http_upgrade_request, forwarded_for)},
    };
    bool body = http_slice_ieq(name, "content-length") || http_slice_ieq(name, "transfer-encoding");
    if (body && !plain)
        return http_fail(out, 400, "request body on an upgrade request");
    if (plain && body) {
        out->has_body = true;
        return HTTP_OK;
    }
    if (plain && http_slice_ieq(name, "authorization"))
        return http_set_once(&out->authorization, value, out);
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (http_slice_ieq(name, fields[i].name))
            return http_set_once((http_slice *)((char *)out + fields[i].offset), value, out);
    return HTTP_OK;
}

/* Parses one "Name: value" line (without CRLF). */
static int http_parse_header_line(const char *line, size_t n, bool plain, http_upgrade_request *out)
{
    if (line[0] == ' ' || line[0] == '\t')
        return http_fail(out, 400, "obsolete line folding");
    const char *colon = memchr(line, ':', n);
    if (!colon || colon == line)
        return http_fail(out, 400, "malformed header line");
    http_slice name = {line, (size_t)(colon - line)};
    for (size_t i = 0; i < name.len; i++)
        if (!http_is_tchar((unsigned char)line[i]))
            return http_fail(out, 400, "invalid header name");
    const char *v = colon + 1, *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    for (const char *c = v; c < end; c++)
        if (!http_is_value_char((unsigned char)*c))
            return http_fail(out, 400, "invalid byte in header value");
    return http_store_header(name, (http_slice){v, (size_t)(end - v)}, plain, out);
}

/* Sec-WebSocket-Key must be the base64 encoding of 16 bytes: 22 alphabet characters and "==". */
static bool http_key_valid(http_slice key)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (key.len != 24 || key.data[22] != '=' || key.data[23] != '=')
        return false;
    for (size_t i = 0; i < 22; i++)
        if (!memchr(alphabet, key.data[i], 64))
            return false;
    return true;
}

/* The semantic checks of RFC 6455 section 4.2.1 once all headers are known. */
static int http_check_upgrade(http_upgrade_request *out)
{
    if (!out->host.data || out->host.len == 0)
        return http_fail(out, 400, "missing Host");
    if (!out->upgrade.data || !http_list_contains(out->upgrade, "websocket"))
        return http_fail(out, 426, "not a WebSocket upgrade");
    if (!out->connection.data || !http_list_contains(out->connection, "upgrade"))
        return http_fail(out, 400, "Connection does not contain upgrade");
    if (!out->version.data || out->version.len != 2 || memcmp(out->version.data, "13", 2) != 0)
        return http_fail(out, 426, "unsupported Sec-WebSocket-Version");
    if (!out->key.data || !http_key_valid(out->key))
        return http_fail(out, 400, "missing or malformed Sec-WebSocket-Key");
    return HTTP_OK;
}

/* Parses the complete head buf[0..head_len); plain: a request without the WebSocket rules. */
static int http_parse_head(http_parser *p, const char *buf, size_t head_len, bool plain, http_upgrade_request *out)
{
    const char *pos = buf, *end = buf + head_len - 2; /* stop before the final empty line's CRLF */
    uint32_t headers = 0;
    const char *eol = memchr(pos, '\r', (size_t)(end - pos));
    if (http_parse_request_line(pos, (size_t)(eol - pos), plain, out) != HTTP_OK)
        return HTTP_ERROR;
    pos = eol + 2;
    while (pos < end) {
        eol = memchr(pos, '\r', (size_t)(end - pos));
        if (++headers > p->max_headers)
            return http_fail(out, 431, "too many header lines");
        if (eol == pos || http_parse_header_line(pos, (size_t)(eol - pos), plain, out) != HTTP_OK)
            return out->status ? HTTP_ERROR : http_fail(out, 400, "malformed header line");
        pos = eol + 2;
    }
    return plain ? HTTP_OK : http_check_upgrade(out);
}

/* Both parsers: scan for the end of the head, then parse it. */
static int http_parse_any(http_parser *p, const uint8_t *buf, size_t len, bool plain, http_upgrade_request *out)
{
    memset(out, 0, sizeof *out);
    size_t head = http_scan(p, buf, len, out);
    if (head == (size_t)-1)
        return HTTP_ERROR;
    if (head == 0)
        return HTTP_NEED_MORE;
    if (head < 4 || buf[0] == '\r')
        return http_fail(out, 400, "empty request line");
    out->header_len = head;
    return http_parse_head(p, (const char *)buf, head, plain, out);
}

int http_upgrade_parse(http_parser *p, const uint8_t *buf, size_t len, http_upgrade_request *out)
{
    return http_parse_any(p, buf, len, false, out);
}

int http_request_parse(http_parser *p, const uint8_t *buf, size_t len, http_upgrade_request *out)
{
    return http_parse_any(p, buf, len, true, out);
}

/* Trims blanks off both ends of [*s, *e); true if anything is left. */
static bool http_list_trim(const char **s, const char **e)
{
    while (*s < *e && (**s == ' ' || **s == '\t'))
        (*s)++;
    while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
        (*e)--;
    return *e > *s;
}

bool http_list_contains(http_slice list, const char *token)
{
    if (!list.data)
        return false;
    const char *p = list.data, *end = list.data + list.len;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *s = p, *e = comma ? comma : end;
        if (http_list_trim(&s, &e) && http_slice_ieq((http_slice){s, (size_t)(e - s)}, token))
            return true;
        p = comma ? comma + 1 : end;
    }
    return false;
}

bool http_list_item_from_right(http_slice list, size_t n, http_slice *item)
{
    if (!list.data)
        return false;
    const char *end = list.data + list.len;
    size_t seen = 0;
    while (end >= list.data) {
        const char *s = end;
        while (s > list.data && s[-1] != ',')
            s--;
        const char *ts = s, *te = end;
        if (http_list_trim(&ts, &te)) {
            if (seen++ == n) {
                *item = (http_slice){ts, (size_t)(te - ts)};
                return true;
            }
        }
        if (s == list.data)
            break;
        end = s - 1;
    }
    return false;
}

const char *http_select_subprotocol(http_slice protocols)
{
    if (!protocols.data)
        return NULL;
    const char *p = protocols.data, *end = protocols.data + protocols.len;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *s = p, *e = comma ? comma : end;
        if (http_list_trim(&s, &e)) {
            size_t n = (size_t)(e - s);
            if (n == 4 && memcmp(s, "mqtt", 4) == 0)
                return "mqtt";
            if (n == 8 && memcmp(s, "mqttv3.1", 8) == 0)
                return "mqttv3.1";
        }
        p = comma ? comma + 1 : end;
    }
    return NULL;
}

bool http_ws_accept(http_slice key, char out[HTTP_WS_ACCEPT_LEN + 1])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    bool ok = false;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        goto done;
    if (EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) != 1 || EVP_DigestUpdate(ctx, key.data, key.len) != 1 ||
        EVP_DigestUpdate(ctx, WS_GUID, sizeof WS_GUID - 1) != 1 || EVP_DigestFinal_ex(ctx, digest, &dlen) != 1)
        goto done;
    ok = EVP_EncodeBlock((unsigned char *)out, digest, (int)dlen) == HTTP_WS_ACCEPT_LEN;
done:
    EVP_MD_CTX_free(ctx);
    return ok;
}

size_t http_upgrade_response_write(char *out, size_t cap, const char *accept, const char *subprotocol,
                                   bool secure)
{
    int n = snprintf(out, cap,
                     "HTTP/1.1 101 Switching Protocols\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n"
                     "%s%s%s"
                     "%s"
                     "\r\n",
                     accept, subprotocol ? "Sec-WebSocket-Protocol: " : "", subprotocol ? subprotocol : "",
                     subprotocol ? "\r\n" : "", secure ? HTTP_HSTS_HEADER : "");
    return (n > 0 && (size_t)n < cap) ? (size_t)n : 0;
}

static const char *http_status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 426: return "Upgrade Required";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
    }
}

size_t http_error_response_write(char *out, size_t cap, int status, bool secure)
{
    int n = snprintf(out, cap,
                     "HTTP/1.1 %d %s\r\n"
                     "%s"
                     "%s"
                     "X-Content-Type-Options: nosniff\r\n"
                     "X-Frame-Options: DENY\r\n"
                     "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n"
                     "Cache-Control: no-store\r\n"
                     "Connection: close\r\n"
                     "Content-Length: 0\r\n"
                     "\r\n",
                     status, http_status_text(status), status == 426 ? "Sec-WebSocket-Version: 13\r\n" : "",
                     secure ? HTTP_HSTS_HEADER : "");
    return (n > 0 && (size_t)n < cap) ? (size_t)n : 0;
}

size_t http_response_head_write(char *out, size_t cap, int status, const char *extra, const char *content_type,
                                size_t content_length)
{
    int n = snprintf(out, cap,
                     "HTTP/1.1 %d %s\r\n"
                     "%s"
                     "%s%s%s"
                     "X-Content-Type-Options: nosniff\r\n"
                     "X-Frame-Options: DENY\r\n"
                     "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n"
                     "Cache-Control: no-store\r\n"
                     "Connection: close\r\n"
                     "Content-Length: %zu\r\n"
                     "\r\n",
                     status, http_status_text(status), extra ? extra : "", content_type ? "Content-Type: " : "",
                     content_type ? content_type : "", content_type ? "\r\n" : "", content_length);
    return (n > 0 && (size_t)n < cap) ? (size_t)n : 0;
}
