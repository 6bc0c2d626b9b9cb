/* config_parse.c - reading mosquitto.conf files (first increment: files are refused until the parser lands). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

static void config_error_add(config_errors *errs, const char *msg)
{
    if (errs->count >= CONFIG_MAX_ERRORS) {
        errs->dropped++;
        return;
    }
    errs->messages[errs->count] = strdup(msg);
    if (errs->messages[errs->count])
        errs->count++;
    else
        errs->dropped++;
}

int config_load_buffer(rampart_config *cfg, const char *name, const char *text, size_t len, config_errors *errs)
{
    char msg[512];
    (void)text;
    (void)len;
    config_defaults(cfg);
    snprintf(msg, sizeof(msg), "%s: configuration files are not supported yet", name);
    config_error_add(errs, msg);
    return -1;
}

int config_load(rampart_config *cfg, const char *path, config_errors *errs)
{
    return config_load_buffer(cfg, path, "", 0, errs);
}
