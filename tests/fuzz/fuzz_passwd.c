/* fuzz_passwd.c - libFuzzer target for the password file parser (src/security/passwd.c): any bytes must give
 * a database or a `name:line: why` error, never a crash or a leak. Parsed hashes are not verified (that would
 * spend the fuzzer's time in key derivation), but every entry is looked up and re-formatted. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "security/passwd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    passwd_db *db = NULL;
    char err[512], line[PASSWD_LINE_MAX + 64];

    if (passwd_db_parse("fuzz", (const char *)data, size, &db, err, sizeof err) == 0) {
        for (size_t i = 0; i < passwd_db_count(db); i++) {
            const passwd_entry *e = passwd_db_at(db, i);
            if (passwd_db_find(db, (const uint8_t *)e->username, strlen(e->username)) != e)
                __builtin_trap();
            if (passwd_line_format(e, line, sizeof line) < 0)
                __builtin_trap();
        }
        passwd_db_free(db);
    } else if (!strchr(err, ':')) {
        __builtin_trap();
    }
    return 0;
}
