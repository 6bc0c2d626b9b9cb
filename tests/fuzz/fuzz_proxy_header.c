/* fuzz_proxy_header.c - the PROXY v1/v2 parser: any bytes give OK, NEED_MORE or an error with a reason;
 * an accepted header lies inside the input and within PROXY_MAX_SIZE; every prefix of an accepted header
 * needs more. */
#include <stdlib.h>

#include "codec/proxy.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    proxy_header h;
    const char *err;
    int r = proxy_header_parse(data, size, &h, &err);
    if (r == PROXY_ERROR && !err)
        abort();
    if (r == PROXY_OK) {
        if (h.size > size || h.size > PROXY_MAX_SIZE || h.size < 15)
            abort();
        if (proxy_header_parse(data, h.size - 1, &h, &err) == PROXY_OK)
            abort();
    }
    return 0;
}
