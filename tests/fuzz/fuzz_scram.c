/* fuzz_scram.c - libFuzzer target for the SCRAM-SHA-256 server messages (src/security/scram.c). The input is
 * client-first, a newline, then client-final; the server nonce is fixed so the fuzzer can echo it. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "security/scram.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t secret[32] = {7};
    const uint8_t *nl = memchr(data, '\n', size);
    size_t first_len = nl ? (size_t)(nl - data) : size;
    uint8_t out[SCRAM_MSG_MAX + 64];
    size_t n = 0;
    scram_server *s = scram_server_new(secret);

    if (!s)
        return 0;
    scram_server_set_nonce(s, "SNONCE");
    if (scram_server_first(s, data, first_len, NULL, out, sizeof out, &n) == SCRAM_OK && nl) {
        if (n > sizeof out)
            __builtin_trap();
        (void)scram_server_final(s, nl + 1, size - first_len - 1, out, sizeof out, &n);
    }
    scram_server_free(s);
    return 0;
}
