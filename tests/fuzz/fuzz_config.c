/* fuzz_config.c - the configuration parser on arbitrary text (include_dir may name real directories: the
 * parser bounds nesting and file counts, and the harness runs without writable config dirs). */
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rampart_config cfg;
    config_errors errs;
    config_errors_init(&errs);
    char port_err[256];
    if (config_load_buffer(&cfg, "fuzz.conf", (const char *)data, size, &errs) == 0)
        (void)config_set_port(&cfg, 1999, port_err, sizeof(port_err));
    config_free(&cfg);
    config_errors_free(&errs);
    return 0;
}
