/* config_internal.h - helpers shared by the files of src/config/ (not for other modules). */
#ifndef RAMPART_CONFIG_INTERNAL_H
#define RAMPART_CONFIG_INTERNAL_H

#include "config/config.h"

/* mosquitto's listener defaults on port; owns nothing yet. */
void config_listener_init(struct config_listener *l, uint16_t port);
/* Frees everything l owns and zeroes it. */
void config_listener_clear(struct config_listener *l);
/* Appends a listener with defaults; NULL when out of memory or at CONFIG_MAX_LISTENERS. Pointers to earlier
 * listeners are invalidated (the array may move). */
struct config_listener *config_add_listener(rampart_config *cfg, uint16_t port);
/* Appends a 127.0.0.1 listener that allows anonymous clients (the built-in default). */
struct config_listener *config_add_builtin_listener(rampart_config *cfg, uint16_t port);

#endif
