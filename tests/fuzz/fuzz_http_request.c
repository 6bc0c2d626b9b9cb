/* fuzz_http_request.c - the plain request parser of the metrics endpoint (http_request_parse): fed byte by byte
 * (resumably) it must give the same answer as at once; slices of an accepted head lie inside the input; an error
 * carries a status and a message; the answer writer never overflows. */
#include <stdlib.h>
#include <string.h>

#include "codec/http.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static void check_slice(http_slice s, const unsigned char *data, size_t size)
{
    if (s.len && ((const unsigned char *)s.data < data || (const unsigned char *)s.data + s.len > data + size))
        abort();
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    http_parser whole, drip;
    http_upgrade_request a, b;
    char out[1024];
    http_parser_init(&whole, 1024, 16);
    http_parser_init(&drip, 1024, 16);
    int ra = http_request_parse(&whole, data, size, &a);
    int rb = HTTP_NEED_MORE;
    size_t n = 0;
    while (rb == HTTP_NEED_MORE && n < size)
        rb = http_request_parse(&drip, data, ++n, &b);
    if (size == 0)
        return 0;
    if (ra == HTTP_ERROR &&
        (a.status < 400 || !a.message || http_error_response_write(out, sizeof out, a.status, false) == 0))
        abort();
    if (ra == HTTP_OK) {
        if (rb != HTTP_OK || b.header_len != a.header_len || a.header_len > size || b.has_body != a.has_body)
            abort();
        check_slice(a.method, data, size);
        check_slice(a.target, data, size);
        check_slice(a.authorization, data, size);
        if (http_response_head_write(out, sizeof out, 200, NULL, "text/plain", size) == 0)
            abort();
    }
    return 0;
}
