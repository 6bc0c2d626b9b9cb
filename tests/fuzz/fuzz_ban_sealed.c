/* fuzz_ban_sealed.c - libFuzzer target for the sealed ban file (src/security/ban_seal.c, ban.c): any bytes are
 * (1) opened as a sealed file under a fixed key pair (header checks, key ids, GCM authentication), the text of
 * one that opens being parsed; and (2) sealed as a ban list's text and opened again, which must give the same
 * bytes back, then parsed (the path an authentic file takes). Never a crash, a leak or a wrong round trip. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "security/ban.h"
#include "security/ban_seal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The fuzz keys: current master 0x00..0x1f, old master 0x20..0x3f (the corpus is sealed under them). */
static const ban_keyring *fuzz_keys(void)
{
    static ban_keyring r;
    static int ready;
    uint8_t cur[32], old[32];

    if (!ready) {
        for (int i = 0; i < 32; i++) {
            cur[i] = (uint8_t)i;
            old[i] = (uint8_t)(32 + i);
        }
        if (ban_keyring_init(&r, cur, old) < 0)
            abort();
        ready = 1;
    }
    return &r;
}

/* Parses text as the ban list an opened file holds, and uses the result. */
static void fuzz_parse(const uint8_t *text, size_t len)
{
    ban_list *b = NULL;
    char err[512];

    if (ban_list_parse("fuzz", (const char *)text, len, &b, err, sizeof err) == 0)
        ban_list_free(b);
    else if (!strchr(err, ':'))
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const ban_keyring *r = fuzz_keys();
    uint8_t *plain = NULL, *sealed = NULL;
    size_t plain_len = 0, sealed_len = 0, which = 0;

    if (ban_unseal(r, data, size, &plain, &plain_len, &which) == BAN_SEAL_OK) {
        if (which >= r->count)
            __builtin_trap();
        fuzz_parse(plain, plain_len);
    }
    ban_seal_plain_free(plain, plain_len);
    plain = NULL;
    if (size > 4096)
        return 0;
    if (ban_seal(&r->key[0], data, size, &sealed, &sealed_len) < 0)
        __builtin_trap();
    if (ban_unseal(r, sealed, sealed_len, &plain, &plain_len, &which) != BAN_SEAL_OK || which != 0 ||
        plain_len != size || (size && memcmp(plain, data, size)))
        __builtin_trap();
    fuzz_parse(plain, plain_len);
    ban_seal_plain_free(plain, plain_len);
    free(sealed);
    return 0;
}
