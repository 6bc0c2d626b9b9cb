/* fuzz_ban.c - libFuzzer target for the ban list file parser (src/security/ban.c): any bytes give a list or a
 * `name:line: why` error; a parsed list is matched against and re-encoded without crashing or leaking. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "security/ban.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ban_list *b = NULL;
    char err[512], enc[BAN_VALUE_MAX * 3 + 8];
    sec_addr a;

    if (ban_list_parse("fuzz", (const char *)data, size, &b, err, sizeof err) == 0) {
        sec_addr_parse("192.0.2.1", &a);
        (void)ban_list_match(b, &a, data, size > 8 ? 8 : size, data, size > 4 ? 4 : size, 100);
        for (size_t i = 0; i < ban_list_count(b); i++) {
            const ban_entry *e = ban_list_at(b, i);
            ban_value_encode(e->value, e->value_len, enc, sizeof enc);
        }
        ban_list_expire(b, 1000, NULL, NULL);
        ban_list_free(b);
    } else if (!strchr(err, ':')) {
        __builtin_trap();
    }
    return 0;
}
