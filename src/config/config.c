/*
 * config.c - defaults, errors, -p handling and release of a rampart_config. The file parser and the
 * directive table are in config_parse.c.
 */
#include "config/config.h"
#include "config/config_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void config_errors_init(config_errors *e)
{
    memset(e, 0, sizeof(*e));
}

void config_errors_free(config_errors *e)
{
    for (size_t i = 0; i < e->count; i++)
        free(e->messages[i]);
    memset(e, 0, sizeof(*e));
}

void config_errors_print(const config_errors *e, void *stdio_file)
{
    FILE *out = stdio_file;
    for (size_t i = 0; i < e->count; i++)
        fprintf(out, "%s\n", e->messages[i]);
    if (e->dropped)
        fprintf(out, "%zu more errors\n", e->dropped);
}

/* Sets the listener fields that do not depend on the file: mosquitto's listener defaults. */
void config_listener_init(struct config_listener *l, uint16_t port)
{
    memset(l, 0, sizeof(*l));
    l->port = port;
    l->protocol = CONFIG_PROTOCOL_MQTT;
    l->socket_domain = CONFIG_DOMAIN_ANY;
    l->allow_zero_length_clientid = true;
    l->max_connections = -1;
    l->max_qos = 2;
    l->max_topic_alias = 10;
    l->tls.verify_depth = 4;
    l->tls.ocsp_cache_seconds = 300;
    l->tls.ocsp_timeout_seconds = 3;
    l->tls.ticket_key_lifetime = 3600;
}

/* Frees what a listener owns (including the const strings of tls/ws, owned by the configuration). */
void config_listener_clear(struct config_listener *l)
{
    for (size_t i = 0; i < l->firewall_allow_from_count; i++)
        free(l->firewall_allow_from[i]);
    free(l->bind_address);
    free(l->bind_interface);
    free(l->file);
    free(l->password_file);
    free(l->acl_file);
    free(l->mount_point);
    free((char *)l->tls.certfile);
    free((char *)l->tls.keyfile);
    free((char *)l->tls.cafile);
    free((char *)l->tls.capath);
    for (size_t i = 0; i < l->tls.crlfile_count; i++)
        free((char *)l->tls.crlfiles[i]);
    free((char *)l->tls.tls_version);
    free((char *)l->tls.ciphers);
    free((char *)l->tls.ciphers_tls13);
    free((char *)l->tls.ocsp_response_file);
    free((char *)l->tls.ocsp_responder);
    free((char *)l->tls.keyfile_passphrase_file);
    free((char *)l->tls.keyfile_passphrase_env);
    free((char *)l->tls.keyfile_passphrase_credential);
    free((char *)l->tls.name);
    free((char *)l->ws.path);
    for (size_t i = 0; i < l->ws.origin_count; i++)
        free((char *)l->ws.origins[i]);
    free((void *)l->ws.origins);
    free((void *)l->ws.trusted_proxies);
    free((char *)l->ws.name);
    memset(l, 0, sizeof(*l));
}

void config_defaults(rampart_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->allow_anonymous = false;
    cfg->allow_zero_length_clientid = true;
    cfg->max_packet_size = 16u << 20;
    cfg->max_packet_size_unauthenticated = 64u << 10;
    cfg->message_size_limit = 0;
    cfg->max_inflight_messages = 20;
    cfg->max_queued_messages = 1000;
    cfg->max_queued_bytes = 8u << 20;
    cfg->queue_qos0_messages = false;
    cfg->max_keepalive = 65535;
    cfg->retain_available = true;
    cfg->upgrade_outgoing_qos = false;
    cfg->set_tcp_nodelay = true;
    cfg->max_subscriptions_per_client = 1000;
    cfg->max_sessions = 100000;
    cfg->max_topic_levels = 32;
    cfg->memory_limit = (uint64_t)1 << 30;
    cfg->persistent_client_expiration = 0;
    cfg->sys_interval = 10;
    cfg->persist.max_size = (uint64_t)1 << 30;
    cfg->persist.autosave_interval = UINT32_MAX;
    cfg->audit_rate = 20;
    cfg->log_dest = CONFIG_LOG_DEST_STDERR;
    cfg->log_type = CONFIG_LOG_TYPE_ERROR | CONFIG_LOG_TYPE_WARNING | CONFIG_LOG_TYPE_NOTICE |
                    CONFIG_LOG_TYPE_INFORMATION;
    auth_settings_init(&cfg->auth);
    sandbox_settings_init(&cfg->sandbox);
    config_add_builtin_listener(cfg, CONFIG_DEFAULT_PORT);
}

/* Appends the loopback listener of the built-in configuration (anonymous allowed). Returns it, or NULL when
 * out of memory or at CONFIG_MAX_LISTENERS. */
struct config_listener *config_add_builtin_listener(rampart_config *cfg, uint16_t port)
{
    struct config_listener *l = config_add_listener(cfg, port);
    if (!l)
        return NULL;
    l->bind_address = strdup("127.0.0.1");
    l->is_builtin_default = true;
    l->allow_anonymous = true;
    if (!l->bind_address) {
        config_listener_clear(l);
        cfg->listener_count--;
        return NULL;
    }
    return l;
}

struct config_listener *config_add_listener(rampart_config *cfg, uint16_t port)
{
    if (cfg->listener_count >= CONFIG_MAX_LISTENERS)
        return NULL;
    struct config_listener *grown = realloc(cfg->listeners, (cfg->listener_count + 1) * sizeof(*grown));
    if (!grown)
        return NULL;
    cfg->listeners = grown;
    struct config_listener *l = &cfg->listeners[cfg->listener_count++];
    config_listener_init(l, port);
    l->allow_zero_length_clientid = cfg->allow_zero_length_clientid;
    return l;
}

int config_set_port(rampart_config *cfg, long port, char *err, size_t errlen)
{
    if (port < 1 || port > 65535) {
        snprintf(err, errlen, "-p %ld: the port must be 1..65535", port);
        return -1;
    }
    if (cfg->listeners_from_file) {
        snprintf(err, errlen, "-p %ld: the configuration file defines listeners; mosquitto would ignore -p, "
                              "Rampart refuses: add a `listener %ld 127.0.0.1` line instead", port, port);
        return -1;
    }
    for (size_t i = 0; i < cfg->listener_count; i++) {
        if (cfg->cmdline_ports && cfg->listeners[i].port == port) {
            snprintf(err, errlen, "-p %ld: port given twice", port);
            return -1;
        }
    }
    if (cfg->cmdline_ports == 0 && cfg->listener_count == 1 && cfg->listeners[0].is_builtin_default) {
        cfg->listeners[0].port = (uint16_t)port;
    } else if (cfg->cmdline_ports >= 10 || !config_add_builtin_listener(cfg, (uint16_t)port)) {
        snprintf(err, errlen, "-p %ld: too many -p options (at most 10)", port);
        return -1;
    }
    cfg->cmdline_ports++;
    return 0;
}

void config_free(rampart_config *cfg)
{
    for (size_t i = 0; i < cfg->listener_count; i++)
        config_listener_clear(&cfg->listeners[i]);
    free(cfg->listeners);
    free(cfg->config_file);
    free(cfg->acl_file);
    free(cfg->pid_file);
    free(cfg->response_topic_prefix);
    free(cfg->log_file);
    free(cfg->persist.file);
    free(cfg->persist.location);
    free(cfg->persist.key_file);
    free(cfg->persist.key_env);
    free(cfg->persist.key_credential);
    free(cfg->persist.key_old_file);
    free(cfg->persist.key_old_env);
    free(cfg->persist.key_old_credential);
    for (size_t i = 0; i < cfg->audit_file_count; i++)
        free(cfg->audit_files[i]);
    free(cfg->metrics_address);
    free(cfg->metrics_file);
    free(cfg->metrics_password_file);
    free(cfg->metrics_certfile);
    free(cfg->metrics_keyfile);
    auth_settings_clear(&cfg->auth);
    sandbox_settings_clear(&cfg->sandbox);
    memset(cfg, 0, sizeof(*cfg));
}

int config_persistence_path(const rampart_config *cfg, char *buf, size_t len)
{
    return config_persistence_path_for(cfg, cfg->persist.engine, buf, len);
}

int config_persistence_path_for(const rampart_config *cfg, const char *engine, char *buf, size_t len)
{
    const char *dir = cfg->persist.location ? cfg->persist.location : ".";
    engine = engine ? engine : "lmdb";
    const char *file = cfg->persist.file ? cfg->persist.file : strcmp(engine, "sqlite") == 0 ? "rampart.sqlite" : "rampart.db";
    size_t dl = strlen(dir);
    int n = snprintf(buf, len, "%s%s%s", dir, dl && dir[dl - 1] == '/' ? "" : "/", file);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}
