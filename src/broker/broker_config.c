/* broker_config.c - see broker_config.h. */
#include "broker/broker_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "base/log.h"

static int broker_config_refuse(const struct config_listener *l, char *err, size_t errlen, const char *what)
{
    if (l && l->file)
        snprintf(err, errlen, "%s:%d: listener %u: %s", l->file, l->line, l->port, what);
    else if (l)
        snprintf(err, errlen, "listener %u: %s", l->port, what);
    else
        snprintf(err, errlen, "%s", what);
    return -1;
}

/* max_connections_global 0 (auto): the soft open-file limit minus 64 descriptors kept for listeners, files
 * and the authentication workers; at least 1. */
static uint32_t broker_config_auto_connections(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 10000000u + 64)
        return 10000000u;
    return rl.rlim_cur > 65 ? (uint32_t)(rl.rlim_cur - 64) : 1;
}

static int broker_config_listener(const rampart_config *cfg, const struct config_listener *cl,
                                  const broker_capabilities *caps, broker_settings *s, char *err, size_t errlen)
{
    if (cl->tls.certfile && !caps->tls)
        return broker_config_refuse(cl, err, errlen, "TLS is not available in this build");
    if (cl->protocol == CONFIG_PROTOCOL_WEBSOCKETS && !caps->websockets)
        return broker_config_refuse(cl, err, errlen, "WebSocket listeners are not available in this build");
    if (cl->proxy_protocol_from_count && !caps->proxy_protocol)
        return broker_config_refuse(cl, err, errlen, "the PROXY protocol is not available in this build");
    if (cl->password_file && !caps->password_auth)
        return broker_config_refuse(cl, err, errlen, "password_file: password authentication is not available");
    if (cl->acl_file && !caps->acl)
        return broker_config_refuse(cl, err, errlen, "acl_file: access control lists are not available");
    if (cl->mount_point && (!*cl->mount_point || strpbrk(cl->mount_point, "+#") ||
                            !mqtt_utf8_valid((const uint8_t *)cl->mount_point, strlen(cl->mount_point))))
        return broker_config_refuse(cl, err, errlen, "mount_point must be a topic prefix without '+' or '#'");
    broker_listener_settings *ls = broker_settings_add_listener(s, cl->bind_address, cl->port);
    if (!ls)
        return broker_config_refuse(cl, err, errlen, "too many listeners or out of memory");
    if (cl->bind_interface && !(ls->bind_interface = strdup(cl->bind_interface)))
        return broker_config_refuse(cl, err, errlen, "out of memory");
    ls->family = cl->socket_domain == CONFIG_DOMAIN_IPV4 ? AF_INET
                 : cl->socket_domain == CONFIG_DOMAIN_IPV6 ? AF_INET6 : AF_UNSPEC;
    ls->user = (void *)cl;
    ls->allow_anonymous = cl->allow_anonymous;
    ls->allow_zero_length_clientid = cl->allow_zero_length_clientid;
    ls->max_qos = cl->max_qos;
    ls->max_topic_alias = cl->max_topic_alias;
    ls->max_connections = cl->max_connections;
    ls->use_username_as_clientid = cl->use_username_as_clientid;
    if (cl->mount_point && !(ls->mount_point = strdup(cl->mount_point)))
        return broker_config_refuse(cl, err, errlen, "out of memory");
    (void)cfg;
    return 0;
}

int broker_settings_from_config(const rampart_config *cfg, const broker_capabilities *caps, broker_settings *s,
                                char *err, size_t errlen)
{
    broker_settings_default(s);
    if (cfg->upgrade_outgoing_qos)
        return broker_config_refuse(NULL, err, errlen, "upgrade_outgoing_qos is not supported");
    if (cfg->acl_file && !caps->acl)
        return broker_config_refuse(NULL, err, errlen, "acl_file: access control lists are not available");
    if (cfg->auth.password_file && !caps->password_auth)
        return broker_config_refuse(NULL, err, errlen, "password_file: password authentication is not available");
    for (size_t i = 0; i < cfg->listener_count; i++)
        if (broker_config_listener(cfg, &cfg->listeners[i], caps, s, err, errlen) < 0)
            return -1;
    s->max_packet_size = cfg->max_packet_size;
    s->max_packet_size_unauth = cfg->max_packet_size_unauthenticated < cfg->max_packet_size
                                    ? cfg->max_packet_size_unauthenticated : cfg->max_packet_size;
    s->message_size_limit = cfg->message_size_limit;
    s->max_inflight_messages = cfg->max_inflight_messages ? cfg->max_inflight_messages : 65535;
    s->max_queued_messages = cfg->max_queued_messages;
    s->max_queued_bytes = (size_t)cfg->max_queued_bytes;
    s->queue_qos0_messages = cfg->queue_qos0_messages;
    s->max_keepalive = cfg->max_keepalive == 65535 ? 0 : cfg->max_keepalive;
    s->retain_available = cfg->retain_available;
    s->tcp_nodelay = cfg->set_tcp_nodelay;
    s->max_subscriptions = cfg->max_subscriptions_per_client;
    s->max_sessions = cfg->max_sessions;
    s->max_topic_levels = cfg->max_topic_levels > 65535 ? 65535 : (uint16_t)cfg->max_topic_levels;
    s->memory_limit = (size_t)cfg->memory_limit;
    s->max_session_expiry = cfg->persistent_client_expiration <= 0 ? UINT32_MAX
                            : cfg->persistent_client_expiration > UINT32_MAX - 1
                                ? UINT32_MAX - 1 : (uint32_t)cfg->persistent_client_expiration;
    s->sys_interval = cfg->sys_interval;
    s->connect_timeout_s = cfg->auth.conn.connect_timeout_s ? cfg->auth.conn.connect_timeout_s : 10;
    s->max_connections_per_ip = cfg->auth.conn.max_per_address;
    s->max_connections = cfg->max_connections_global ? cfg->max_connections_global : broker_config_auto_connections();
    if (cfg->response_topic_prefix && !(s->response_topic_prefix = strdup(cfg->response_topic_prefix)))
        return broker_config_refuse(NULL, err, errlen, "out of memory"); /* validated by the parser */
    return 0;
}

int broker_config_logging(const rampart_config *cfg, char *err, size_t errlen)
{
    uint32_t t = cfg->log_type;
    enum log_level level = LOG_LEVEL_ERROR;
    if (t & CONFIG_LOG_TYPE_WARNING)
        level = LOG_LEVEL_WARNING;
    if (t & CONFIG_LOG_TYPE_NOTICE)
        level = LOG_LEVEL_NOTICE;
    if (t & CONFIG_LOG_TYPE_INFORMATION)
        level = LOG_LEVEL_INFO;
    if (t & CONFIG_LOG_TYPE_DEBUG)
        level = LOG_LEVEL_DEBUG;
    log_set_level(level);
    log_set_stderr((cfg->log_dest & CONFIG_LOG_DEST_STDERR) != 0);
    log_set_syslog((cfg->log_dest & CONFIG_LOG_DEST_SYSLOG) != 0);
    if ((cfg->log_dest & CONFIG_LOG_DEST_FILE) && cfg->log_file && log_set_file(cfg->log_file) < 0) {
        snprintf(err, errlen, "log_dest file %s: cannot open", cfg->log_file);
        return -1;
    }
    return 0;
}
