/*
 * broker_config.h - turns the loaded configuration (config/config.h) into the broker's settings, and applies
 * the process-wide options (logging). The only broker file that knows the configuration's structure.
 */
#ifndef RAMPART_BROKER_BROKER_CONFIG_H
#define RAMPART_BROKER_BROKER_CONFIG_H

#include <stddef.h>

#include "broker/broker.h"
#include "config/config.h"

/* What the running binary can serve: a configuration that needs more is refused at start-up. */
typedef struct broker_capabilities {
    bool tls;            /* a transport provider for TLS listeners is installed */
    bool websockets;     /* ... for WebSocket listeners */
    bool proxy_protocol; /* ... for PROXY protocol listeners */
    bool password_auth;  /* an authenticator for password_file is installed */
    bool acl;            /* an authorizer for acl_file is installed */
} broker_capabilities;

/*
 * Fills s (initialised by this call) from cfg. Each listener's settings.user points at its
 * struct config_listener inside cfg, so cfg must outlive the broker. Refuses (returns -1 with err set to
 * "file:line: ..." where known) any option this build cannot honour instead of ignoring it.
 */
int broker_settings_from_config(const rampart_config *cfg, const broker_capabilities *caps, broker_settings *s,
                                char *err, size_t errlen);
/* Applies log_dest, log_file and log_type. Returns 0, or -1 with err set. */
int broker_config_logging(const rampart_config *cfg, char *err, size_t errlen);

#endif
