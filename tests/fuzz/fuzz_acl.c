/* fuzz_acl.c - the acl_file parser on arbitrary text, then a few checks against what it accepted. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "security/acl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    acl *a = acl_load_buffer("fuzz.acl", (const char *)data, size, err, sizeof(err));
    if (!a)
        return 0;
    static const char *topics[] = {"a", "a/b", "$SYS/x", "users/u/x", "#", "a/+/c", "$share/g/a/#", "/", "a//b"};
    acl_client clients[] = {{NULL, "c", NULL, 1883}, {"u", "c", "id", 8883}, {"roger", "%u", NULL, 1}};
    for (size_t c = 0; c < sizeof(clients) / sizeof(clients[0]); c++)
        for (size_t t = 0; t < sizeof(topics) / sizeof(topics[0]); t++)
            for (int acc = 1; acc <= 4; acc *= 2)
                (void)acl_check(a, &clients[c], (enum acl_access)acc, topics[t], strlen(topics[t]), 1, true);
    acl_free(a);
    return 0;
}
