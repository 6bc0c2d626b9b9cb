/* fuzz_http_upgrade.c - the upgrade parser: feeding the input byte by byte (resumably) must give the same
 * answer as parsing it at once; an accepted head lies inside the input and has a computable accept key. */
#include <stdlib.h>
#include <string.h>

#include "codec/http.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    http_parser whole, drip;
    http_upgrade_request a, b;
    http_parser_init(&whole, 2048, 32);
    http_parser_init(&drip, 2048, 32);
    int ra = http_upgrade_parse(&whole, data, size, &a);
    int rb = HTTP_NEED_MORE;
    size_t n = 0;
    while (rb == HTTP_NEED_MORE && n < size)
        rb = http_upgrade_parse(&drip, data, ++n, &b);
    if (size == 0)
        return 0;
    if (ra == HTTP_OK && (a.header_len > size || a.header_len > 2048))
        abort();
    if (ra == HTTP_ERROR && (a.status < 400 || !a.message))
        abort();
    if (ra == HTTP_OK) {
        if (rb != HTTP_OK || b.header_len != a.header_len)
            abort();
        char accept[HTTP_WS_ACCEPT_LEN + 1];
        if (!http_ws_accept(a.key, accept))
            abort();
        (void)http_select_subprotocol(a.protocols);
        http_slice item;
        for (size_t i = 0; i < 4 && http_list_item_from_right(a.forwarded_for, i, &item); i++)
            if (item.data < (const char *)data || item.data + item.len > (const char *)data + size)
                abort();
    }
    return 0;
}
