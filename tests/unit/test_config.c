/* test_config.c - the configuration module: every directive type, file:line errors, include_dir,
 * per_listener_settings, listeners, -p, the directive table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "test.h"

/* Loads text; returns config_load_buffer's result. errs is initialised here. */
static int load(rampart_config *cfg, config_errors *errs, const char *text)
{
    config_errors_init(errs);
    return config_load_buffer(cfg, "t.conf", text, strlen(text), errs);
}

/* True if some error message equals want exactly. */
static int has_error(const config_errors *errs, const char *want)
{
    for (size_t i = 0; i < errs->count; i++)
        if (!strcmp(errs->messages[i], want))
            return 1;
    for (size_t i = 0; i < errs->count; i++)
        fprintf(stderr, "    have: %s\n", errs->messages[i]);
    fprintf(stderr, "    want: %s\n", want);
    return 0;
}

static void done(rampart_config *cfg, config_errors *errs)
{
    config_free(cfg);
    config_errors_free(errs);
}

TEST(defaults_are_loopback_only)
{
    rampart_config cfg;
    config_defaults(&cfg);
    CHECK_EQ(cfg.listener_count, 1);
    CHECK_EQ(cfg.listeners[0].port, 1883);
    CHECK_STR(cfg.listeners[0].bind_address, "127.0.0.1");
    CHECK(cfg.listeners[0].allow_anonymous);
    CHECK(cfg.listeners[0].is_builtin_default);
    CHECK(!cfg.allow_anonymous);
    CHECK_EQ(cfg.max_inflight_messages, 20);
    CHECK_EQ(cfg.max_queued_messages, 1000);
    CHECK_EQ(cfg.max_keepalive, 65535);
    CHECK(cfg.retain_available);
    CHECK_EQ(cfg.memory_limit, 1u << 30);
    config_free(&cfg);
}

TEST(empty_file_gets_builtin_listener)
{
    rampart_config cfg;
    config_errors errs;
    CHECK_EQ(load(&cfg, &errs, "# nothing\n\n   \n\t# more\n"), 0);
    CHECK_EQ(cfg.listener_count, 1);
    CHECK_STR(cfg.listeners[0].bind_address, "127.0.0.1");
    CHECK(cfg.listeners[0].allow_anonymous);
    done(&cfg, &errs);
}

TEST(explicit_allow_anonymous_false_applies_to_builtin)
{
    rampart_config cfg;
    config_errors errs;
    CHECK_EQ(load(&cfg, &errs, "allow_anonymous false\n"), 0);
    CHECK(!cfg.listeners[0].allow_anonymous);
    done(&cfg, &errs);
}

TEST(listener_defaults_refuse_anonymous)
{
    rampart_config cfg;
    config_errors errs;
    CHECK_EQ(load(&cfg, &errs, "listener 1884\nlistener 1885 ::1\n"), 0);
    CHECK_EQ(cfg.listener_count, 2);
    CHECK_EQ(cfg.listeners[0].port, 1884);
    CHECK(cfg.listeners[0].bind_address == NULL);
    CHECK(!cfg.listeners[0].allow_anonymous);
    CHECK_STR(cfg.listeners[1].bind_address, "::1");
    CHECK_EQ(cfg.listeners[1].line, 2);
    CHECK_STR(cfg.listeners[1].file, "t.conf");
    CHECK(cfg.listeners_from_file);
    done(&cfg, &errs);
}

TEST(every_value_type)
{
    rampart_config cfg;
    config_errors errs;
    const char *text = "allow_anonymous true\n"          /* bool, security scope */
                       "max_keepalive 60\n"               /* u16 */
                       "max_subscriptions_per_client 7\n" /* u32 */
                       "memory_limit 2G\n"                /* size64 */
                       "max_queued_bytes 512k\n"
                       "message_size_limit 1M\n"          /* size32 */
                       "max_packet_size 0\n"              /* special: 0 = protocol maximum */
                       "max_inflight_messages 0\n"        /* special: 0 = 65535 */
                       "persistent_client_expiration 2w\n"/* duration */
                       "pid_file /run/rampart.pid\n"      /* string */
                       "log_dest syslog\n"
                       "log_dest file /var/log/rampart.log\n"
                       "log_type error\n"
                       "log_type warning\n"
                       "connect_timeout 5\n"              /* routed to auth_options */
                       "user nobody\n"                    /* routed to sandbox_options */
                       "listener 8883\n"
                       "certfile /c.pem\n"                /* string into tls_settings */
                       "keyfile /k.pem\n"
                       "crlfile /a.crl\n"
                       "crlfile /b.crl\n"                 /* repeatable */
                       "max_connections 50\n"             /* i32 listener */
                       "max_topic_alias 3\n";
    CHECK_EQ(load(&cfg, &errs, text), 0);
    CHECK_EQ(errs.count, 0);
    CHECK(cfg.allow_anonymous);
    CHECK(cfg.listeners[0].allow_anonymous);
    CHECK_EQ(cfg.max_keepalive, 60);
    CHECK_EQ(cfg.max_subscriptions_per_client, 7);
    CHECK_EQ(cfg.memory_limit, 2ull << 30);
    CHECK_EQ(cfg.max_queued_bytes, 512 * 1024);
    CHECK_EQ(cfg.message_size_limit, 1 << 20);
    CHECK_EQ(cfg.max_packet_size, 268435460u);
    CHECK_EQ(cfg.max_inflight_messages, 65535);
    CHECK_EQ(cfg.persistent_client_expiration, 14 * 86400);
    CHECK_STR(cfg.pid_file, "/run/rampart.pid");
    CHECK_EQ(cfg.log_dest, CONFIG_LOG_DEST_STDERR | CONFIG_LOG_DEST_SYSLOG | CONFIG_LOG_DEST_FILE);
    CHECK_STR(cfg.log_file, "/var/log/rampart.log");
    CHECK_EQ(cfg.log_type, CONFIG_LOG_TYPE_ERROR | CONFIG_LOG_TYPE_WARNING);
    CHECK_EQ(cfg.auth.conn.connect_timeout_s, 5);
    CHECK_STR(cfg.sandbox.user, "nobody");
    CHECK_STR(cfg.listeners[0].tls.certfile, "/c.pem");
    CHECK_EQ(cfg.listeners[0].tls.crlfile_count, 2);
    CHECK(cfg.listeners[0].tls.certfile != NULL);
    CHECK_EQ(cfg.listeners[0].max_connections, 50);
    CHECK_EQ(cfg.listeners[0].max_topic_alias, 3);
    done(&cfg, &errs);
}

TEST(errors_carry_file_and_line_and_all_are_collected)
{
    rampart_config cfg;
    config_errors errs;
    const char *text = "max_keepalive 5\n"
                       "retain_available yes\n"
                       "no_such_option 1\n"
                       "persistence true\n"
                       "auth_plugin /x.so\n"
                       "bridge_cafile /ca\n"
                       "memory_limit 12Q\n"
                       "sys_interval 10 20\n"
                       "pid_file\n"
                       "max_queued_messages 0\n"
                       "persistent_client_expiration 14\n"
                       "log_dest stdout\n";
    CHECK_EQ(load(&cfg, &errs, text), -1);
    CHECK(has_error(&errs, "t.conf:1: max_keepalive: 5 is out of range 10..65535"));
    CHECK(has_error(&errs, "t.conf:2: retain_available: 'yes' is not a boolean: use true or false"));
    CHECK(has_error(&errs, "t.conf:3: unknown option 'no_such_option'"));
    CHECK(has_error(&errs, "t.conf:4: persistence true needs a key: persistence_key_file, persistence_key_env or "
                           "persistence_key_credential (the store is encrypted; see docs/persistence.md)"));
    CHECK(has_error(&errs, "t.conf:5: option 'auth_plugin' is not supported by Rampart (plugins are not loaded)"));
    CHECK(has_error(&errs, "t.conf:6: option 'bridge_cafile' is not supported by Rampart (bridges are not "
                           "supported)"));
    CHECK(has_error(&errs, "t.conf:7: memory_limit: '12Q' is not a size (bytes, optionally with k, M or G)"));
    CHECK(has_error(&errs, "t.conf:8: sys_interval: one value expected, got '10 20'"));
    CHECK(has_error(&errs, "t.conf:9: pid_file: needs a value"));
    CHECK(has_error(&errs, "t.conf:10: max_queued_messages: 0 (unlimited) is not allowed: Rampart bounds every "
                           "queue; give a number"));
    CHECK(has_error(&errs, "t.conf:11: persistent_client_expiration: '14' is not a duration: a positive number "
                           "followed by h, d, w, m or y (e.g. 14d)"));
    CHECK(has_error(&errs, "t.conf:12: log_dest: `log_dest stdout` is not supported by Rampart (use stderr, "
                           "syslog or file)"));
    CHECK_EQ(errs.count, 12);
    done(&cfg, &errs);
}

TEST(acl_file_global_and_per_listener)
{
    rampart_config cfg;
    config_errors errs;
    CHECK_EQ(load(&cfg, &errs, "acl_file /etc/acl\nlistener 1\nlistener 2\n"), 0);
    CHECK_STR(cfg.acl_file, "/etc/acl");
    CHECK_STR(cfg.listeners[0].acl_file, "/etc/acl");
    CHECK_STR(cfg.listeners[1].acl_file, "/etc/acl");
    done(&cfg, &errs);
    CHECK_EQ(load(&cfg, &errs, "per_listener_settings true\nlistener 1\nacl_file /a\nlistener 2\n"), 0);
    CHECK_STR(cfg.listeners[0].acl_file, "/a");
    CHECK(cfg.listeners[1].acl_file == NULL);
    done(&cfg, &errs);
}

TEST(upgrade_outgoing_qos_true_is_not_supported_yet)
{
    rampart_config cfg;
    config_errors errs;
    CHECK_EQ(load(&cfg, &errs, "upgrade_outgoing_qos false\n"), 0);
    done(&cfg, &errs);
    CHECK_EQ(load(&cfg, &errs, "upgrade_outgoing_qos true\n"), -1);
    CHECK(has_error(&errs, "t.conf:1: upgrade_outgoing_qos: `true` is not supported yet (issue 3 src/broker)"));
    done(&cfg, &errs);
}

TEST(audit_destinations)
{
    rampart_config cfg;
    config_errors errs;
    CHECK_EQ(load(&cfg, &errs, "audit_dest file /var/log/a.json\naudit_dest syslog\naudit_dest stdout\naudit_rate 5\n"), 0);
    CHECK_EQ(cfg.audit_file_count, 1);
    CHECK_STR(cfg.audit_files[0], "/var/log/a.json");
    CHECK(cfg.audit_syslog && cfg.audit_stdout);
    CHECK_EQ(cfg.audit_rate, 5);
    done(&cfg, &errs);
    CHECK_EQ(load(&cfg, &errs, "audit_dest file relative.json\naudit_dest kafka\naudit_rate 0\n"), -1);
    CHECK(has_error(&errs, "t.conf:1: audit_dest: `audit_dest file` needs an absolute path"));
    CHECK(has_error(&errs, "t.conf:2: audit_dest: unknown destination 'kafka' (file PATH, syslog, stdout)"));
    CHECK(has_error(&errs, "t.conf:3: audit_rate: 0 is out of range 1..100000"));
    done(&cfg, &errs);
}

TEST(duplicate_option_and_duplicate_listener)
{
    rampart_config cfg;
    config_errors errs;
    const char *text = "sys_interval 5\n"
                       "sys_interval 6\n"
                       "listener 1883\n"
                       "max_topic_alias 1\n"
                       "max_topic_alias 2\n"
                       "listener 1884 127.0.0.1\n"
                       "max_topic_alias 3\n" /* another listener: not a duplicate */
                       "listener 1883 127.0.0.1\n"
                       "listener 1884 127.0.0.1\n";
    CHECK_EQ(load(&cfg, &errs, text), -1);
    CHECK(has_error(&errs, "t.conf:2: sys_interval: already set at t.conf:1"));
    CHECK(has_error(&errs, "t.conf:5: max_topic_alias: already set at t.conf:4"));
    CHECK(has_error(&errs, "t.conf:8: listener 1883 127.0.0.1: duplicates the listener at t.conf:3 (same port, "
                           "all addresses)"));
    CHECK(has_error(&errs, "t.conf:9: listener 1884 127.0.0.1: duplicates the listener at t.conf:6 (same port "
                           "and address)"));
    CHECK_EQ(errs.count, 4);
    done(&cfg, &errs);
}

TEST(listener_line_syntax)
{
    rampart_config cfg;
    config_errors errs;
    CHECK_EQ(load(&cfg, &errs, "listener\nlistener 0 /tmp/sock\nlistener 70000\nlistener 1 a b\nlistener x\n"), -1);
    CHECK(has_error(&errs, "t.conf:1: listener: needs a value"));
    CHECK(has_error(&errs, "t.conf:2: listener: port 0 (unix sockets) is not supported by Rampart"));
    CHECK(has_error(&errs, "t.conf:3: listener: '70000' is not a port number (1..65535)"));
    CHECK(has_error(&errs, "t.conf:4: listener: expected `listener PORT [ADDRESS]`"));
    CHECK(has_error(&errs, "t.conf:5: listener: 'x' is not a port number (1..65535)"));
    done(&cfg, &errs);
}

TEST(per_listener_settings_false_copies_globals)
{
    rampart_config cfg;
    config_errors errs;
    const char *text = "listener 1883\n"
                       "allow_anonymous true\n" /* global despite its position */
                       "password_file /etc/pw\n"
                       "listener 1884\n"
                       "allow_zero_length_clientid false\n";
    CHECK_EQ(load(&cfg, &errs, text), 0);
    CHECK_EQ(cfg.listener_count, 2);
    for (size_t i = 0; i < cfg.listener_count; i++) {
        CHECK(cfg.listeners[i].allow_anonymous);
        CHECK(!cfg.listeners[i].allow_zero_length_clientid);
        CHECK_STR(cfg.listeners[i].password_file, "/etc/pw");
    }
    CHECK_STR(cfg.auth.password_file, "/etc/pw");
    done(&cfg, &errs);
}

TEST(per_listener_settings_true_keeps_them_apart)
{
    rampart_config cfg;
    config_errors errs;
    const char *text = "per_listener_settings true\n"
                       "listener 1883 127.0.0.1\n"
                       "allow_anonymous true\n"
                       "listener 8883\n"
                       "password_file /etc/pw\n"
                       "allow_zero_length_clientid false\n";
    CHECK_EQ(load(&cfg, &errs, text), 0);
    CHECK(cfg.per_listener_settings);
    CHECK(cfg.listeners[0].allow_anonymous);
    CHECK(cfg.listeners[0].password_file == NULL);
    CHECK(cfg.listeners[0].allow_zero_length_clientid);
    CHECK(!cfg.listeners[1].allow_anonymous);
    CHECK_STR(cfg.listeners[1].password_file, "/etc/pw");
    CHECK(!cfg.listeners[1].allow_zero_length_clientid);
    CHECK_STR(cfg.auth.password_file, "/etc/pw");
    done(&cfg, &errs);
}

TEST(per_listener_settings_errors)
{
    rampart_config cfg;
    config_errors errs;
    const char *text = "allow_anonymous true\n"
                       "per_listener_settings true\n"
                       "listener 1\n"
                       "password_file /a\n"
                       "listener 2\n"
                       "password_file /b\n";
    CHECK_EQ(load(&cfg, &errs, text), -1);
    CHECK(has_error(&errs, "t.conf:2: per_listener_settings: must come before any authentication or access "
                           "control option (password_file, acl_file, allow_anonymous, allow_zero_length_clientid)"));
    done(&cfg, &errs);
    text = "per_listener_settings true\nlistener 1\npassword_file /a\nlistener 2\npassword_file /b\n";
    CHECK_EQ(load(&cfg, &errs, text), -1);
    CHECK(has_error(&errs, "t.conf:4: listener 2: a password_file different from the one of listener 1 is not "
                           "supported yet (one password file serves every listener)"));
    done(&cfg, &errs);
}

TEST(default_listener_from_port_and_early_options)
{
    rampart_config cfg;
    config_errors errs;
    CHECK_EQ(load(&cfg, &errs, "port 1999\nmax_connections 10\nlistener 2000\n"), 0);
    CHECK_EQ(cfg.listener_count, 2);
    CHECK_EQ(cfg.listeners[1].port, 1999); /* appended after the explicit ones */
    CHECK(cfg.listeners[1].bind_address == NULL);
    CHECK_EQ(cfg.listeners[1].max_connections, 10);
    done(&cfg, &errs);
    /* listener options without port and without other listeners: the loopback default gets them */
    CHECK_EQ(load(&cfg, &errs, "max_topic_alias 4\n"), 0);
    CHECK_EQ(cfg.listener_count, 1);
    CHECK_STR(cfg.listeners[0].bind_address, "127.0.0.1");
    CHECK_EQ(cfg.listeners[0].max_topic_alias, 4);
    CHECK(cfg.listeners[0].allow_anonymous);
    done(&cfg, &errs);
    CHECK_EQ(load(&cfg, &errs, "max_topic_alias 4\nlistener 1883\n"), -1);
    CHECK(errs.count == 1 && strstr(errs.messages[0], "t.conf:1: this listener option comes before the first"));
    done(&cfg, &errs);
    CHECK_EQ(load(&cfg, &errs, "listener 1\nport 2\n"), -1);
    CHECK(errs.count == 1 && strstr(errs.messages[0], "t.conf:2: port: `port` sets mosquitto's default listener"));
    done(&cfg, &errs);
}

TEST(tls_and_websocket_consistency)
{
    rampart_config cfg;
    config_errors errs;
    const char *text = "listener 8883\n"
                       "cafile /ca.pem\n"
                       "listener 8884\n"
                       "certfile /c\n"
                       "keyfile /k\n"
                       "require_certificate true\n"
                       "listener 1883\n"
                       "websocket_path /mqtt\n"
                       "listener 8083\n"
                       "protocol websockets\n"
                       "websocket_path /mqtt\n"
                       "websocket_origin https://a.example\n";
    CHECK_EQ(load(&cfg, &errs, text), -1);
    CHECK(has_error(&errs, "t.conf:1: listener 8883: TLS options are set but certfile is not: add certfile and "
                           "keyfile"));
    CHECK(has_error(&errs, "t.conf:3: listener 8884: require_certificate needs cafile or capath to verify client "
                           "certificates"));
    CHECK(has_error(&errs, "t.conf:7: listener 1883: WebSocket options on a listener whose protocol is not "
                           "websockets"));
    CHECK_EQ(errs.count, 3);
    CHECK_EQ(cfg.listeners[3].protocol, CONFIG_PROTOCOL_WEBSOCKETS);
    CHECK_EQ(cfg.listeners[3].ws.origin_count, 1);
    done(&cfg, &errs);
}

TEST(tls_websocket_and_proxy_fields)
{
    rampart_config cfg;
    config_errors errs;
    const char *text = "password_file /p\n"
                       "listener 8884 127.0.0.1\n"
                       "protocol websockets\n"
                       "certfile /c\n"
                       "keyfile /k\n"
                       "cafile /ca\n"
                       "tls_two_factor true\n"
                       "tls_version tlsv1.3\n"
                       "tls_verify_depth 3\n"
                       "ocsp_timeout 5\n"
                       "websocket_path /ws\n"
                       "websocket_origin https://a.example\n"
                       "websocket_origin https://b.example\n"
                       "websocket_trusted_proxy 10.0.0.0/8\n"
                       "websocket_max_frame_size 64k\n"
                       "websocket_handshake_timeout 7\n"
                       "proxy_protocol_from 192.0.2.1\n"
                       "proxy_protocol_from 2001:db8::/32\n";
    CHECK_EQ(load(&cfg, &errs, text), 0);
    config_errors_print(&errs, stderr);
    const struct config_listener *l = &cfg.listeners[0];
    CHECK_EQ(l->protocol, CONFIG_PROTOCOL_WEBSOCKETS);
    CHECK(l->tls.websocket);
    CHECK(l->tls.two_factor);
    CHECK_STR(l->tls.tls_version, "tlsv1.3");
    CHECK_EQ(l->tls.verify_depth, 3);
    CHECK_EQ(l->tls.ocsp_timeout_seconds, 5);
    CHECK_EQ(l->tls.ocsp_cache_seconds, 300);
    CHECK_STR(l->tls.name, "127.0.0.1:8884");
    CHECK_STR(l->ws.name, "127.0.0.1:8884");
    CHECK_STR(l->ws.path, "/ws");
    CHECK_EQ(l->ws.origin_count, 2);
    if (l->ws.origin_count == 2)
        CHECK_STR(l->ws.origins[1], "https://b.example");
    CHECK_EQ(l->ws.trusted_proxy_count, 1);
    CHECK_EQ(l->ws.max_frame, 65536);
    CHECK_EQ(l->ws.handshake_timeout_ms, 7000);
    CHECK_EQ(l->proxy_protocol_from_count, 2);
    done(&cfg, &errs);
    CHECK_EQ(load(&cfg, &errs, "listener 1\nproxy_protocol_from nonsense\nwebsocket_handshake_timeout 0\n"), -1);
    CHECK(has_error(&errs, "t.conf:2: proxy_protocol_from: 'nonsense' is not an address or network (ADDR or "
                           "ADDR/BITS)"));
    CHECK(has_error(&errs, "t.conf:3: websocket_handshake_timeout: '0' is not a number of seconds 1..300"));
    done(&cfg, &errs);
}

TEST(include_dir_sorted_and_errors_name_the_included_file)
{
    char dir[] = "/tmp/rampart-test-config-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256], text[512];
    snprintf(path, sizeof(path), "%s/b.conf", dir);
    FILE *f = fopen(path, "w");
    fputs("listener 1002\n\nbogus_option x\n", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/a.conf", dir);
    f = fopen(path, "w");
    fputs("listener 1001\n", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/ignored.txt", dir);
    f = fopen(path, "w");
    fputs("garbage\n", f);
    fclose(f);
    snprintf(text, sizeof(text), "sys_interval 3\ninclude_dir %s\nlistener 1003\n", dir);
    rampart_config cfg;
    config_errors errs;
    CHECK_EQ(load(&cfg, &errs, text), -1);
    CHECK_EQ(cfg.listener_count, 3);
    CHECK_EQ(cfg.listeners[0].port, 1001);
    CHECK_EQ(cfg.listeners[1].port, 1002);
    CHECK_EQ(cfg.listeners[2].port, 1003);
    char want[300];
    snprintf(want, sizeof(want), "%s/b.conf:3: unknown option 'bogus_option'", dir);
    CHECK(has_error(&errs, want));
    CHECK_EQ(errs.count, 1);
    done(&cfg, &errs);
    CHECK_EQ(load(&cfg, &errs, "include_dir /nonexistent-rampart-dir\n"), -1);
    CHECK(errs.count == 1 && strstr(errs.messages[0], "t.conf:1: include_dir: cannot open directory"));
    done(&cfg, &errs);
    snprintf(path, sizeof(path), "%s/a.conf", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/b.conf", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/ignored.txt", dir);
    unlink(path);
    rmdir(dir);
}

TEST(include_dir_recursion_is_bounded)
{
    char dir[] = "/tmp/rampart-test-config-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256], text[300];
    snprintf(path, sizeof(path), "%s/self.conf", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "include_dir %s\n", dir);
    fclose(f);
    snprintf(text, sizeof(text), "include_dir %s\n", dir);
    rampart_config cfg;
    config_errors errs;
    CHECK_EQ(load(&cfg, &errs, text), -1);
    CHECK(errs.count == 1 && strstr(errs.messages[0], "include_dir nested more than 4 deep"));
    done(&cfg, &errs);
    unlink(path);
    rmdir(dir);
}

TEST(config_load_reads_files_and_reports_missing_ones)
{
    char path[] = "/tmp/rampart-test-conf-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    const char *text = "listener 1883 127.0.0.1\r\nallow_anonymous true\r\n";
    CHECK_EQ(write(fd, text, strlen(text)), (long long)strlen(text));
    close(fd);
    rampart_config cfg;
    config_errors errs;
    config_errors_init(&errs);
    CHECK_EQ(config_load(&cfg, path, &errs), 0);
    CHECK_STR(cfg.config_file, path);
    CHECK(cfg.listeners[0].allow_anonymous);
    done(&cfg, &errs);
    unlink(path);
    config_errors_init(&errs);
    CHECK_EQ(config_load(&cfg, "/nonexistent/rampart.conf", &errs), -1);
    CHECK(has_error(&errs, "/nonexistent/rampart.conf: cannot open '/nonexistent/rampart.conf': No such file or "
                           "directory"));
    done(&cfg, &errs);
}

TEST(long_lines_nul_bytes_and_error_cap)
{
    rampart_config cfg;
    config_errors errs;
    char *big = malloc(CONFIG_MAX_LINE + 100);
    memset(big, 'a', CONFIG_MAX_LINE + 50);
    big[CONFIG_MAX_LINE + 50] = '\0';
    CHECK_EQ(load(&cfg, &errs, big), -1);
    CHECK(has_error(&errs, "t.conf:1: line longer than 4096 bytes"));
    done(&cfg, &errs);
    free(big);
    config_errors_init(&errs);
    CHECK_EQ(config_load_buffer(&cfg, "t.conf", "sys_interval 1\0\n", 16, &errs), -1);
    CHECK(has_error(&errs, "t.conf:1: line contains a NUL byte"));
    done(&cfg, &errs);
    char many[100 * 8];
    many[0] = '\0';
    for (int i = 0; i < 100; i++)
        strcat(many, "bad 1\n");
    CHECK_EQ(load(&cfg, &errs, many), -1);
    CHECK_EQ(errs.count, CONFIG_MAX_ERRORS);
    CHECK_EQ(errs.dropped, 100 - CONFIG_MAX_ERRORS);
    done(&cfg, &errs);
}

TEST(certificate_identity_options_need_a_ca_and_two_factor_a_password_file)
{
    rampart_config cfg;
    config_errors errs;
    CHECK(load(&cfg, &errs, "listener 8883\ncertfile /c\nkeyfile /k\nuse_identity_as_username true\n") != 0);
    CHECK(has_error(&errs, "t.conf:1: listener 8883: use_identity_as_username needs cafile or capath to verify "
                           "client certificates"));
    config_free(&cfg);
    config_errors_free(&errs);
    CHECK(load(&cfg, &errs, "listener 8883\ncertfile /c\nkeyfile /k\ncafile /ca\ntls_two_factor true\n"
                            "use_subject_as_username true\n") != 0);
    CHECK(has_error(&errs, "t.conf:1: listener 8883: tls_two_factor needs a password: it excludes "
                           "use_identity_as_username and use_subject_as_username"));
    CHECK(has_error(&errs, "t.conf:1: listener 8883: tls_two_factor needs a password_file (the second factor)"));
    config_free(&cfg);
    config_errors_free(&errs);
    CHECK_EQ(load(&cfg, &errs, "listener 8883\ncertfile /c\nkeyfile /k\ncafile /ca\n"
                               "use_subject_as_username true\n"), 0);
    CHECK(cfg.listeners[0].tls.use_subject_as_username);
    config_free(&cfg);
    config_errors_free(&errs);
}

TEST(command_line_port)
{
    rampart_config cfg;
    char err[256];
    config_defaults(&cfg);
    CHECK_EQ(config_set_port(&cfg, 1999, err, sizeof(err)), 0);
    CHECK_EQ(cfg.listener_count, 1);
    CHECK_EQ(cfg.listeners[0].port, 1999);
    CHECK_EQ(config_set_port(&cfg, 2000, err, sizeof(err)), 0);
    CHECK_EQ(cfg.listener_count, 2);
    CHECK_STR(cfg.listeners[1].bind_address, "127.0.0.1");
    CHECK_EQ(config_set_port(&cfg, 2000, err, sizeof(err)), -1);
    CHECK_EQ(config_set_port(&cfg, 0, err, sizeof(err)), -1);
    CHECK_EQ(config_set_port(&cfg, 65536, err, sizeof(err)), -1);
    config_free(&cfg);
    config_errors errs;
    CHECK_EQ(load(&cfg, &errs, "listener 1234\n"), 0);
    CHECK_EQ(config_set_port(&cfg, 1999, err, sizeof(err)), -1);
    CHECK(strstr(err, "defines listeners") != NULL);
    done(&cfg, &errs);
    CHECK_EQ(load(&cfg, &errs, "sys_interval 1\n"), 0);
    CHECK_EQ(config_set_port(&cfg, 1999, err, sizeof(err)), 0);
    CHECK_EQ(cfg.listeners[0].port, 1999);
    done(&cfg, &errs);
}

TEST(table_is_sorted_and_routed_names_are_known)
{
    size_t n = config_directive_count();
    CHECK(n > 100);
    for (size_t i = 1; i < n; i++)
        CHECK(strcmp(config_directive_at(i - 1)->name, config_directive_at(i)->name) < 0);
    CHECK(config_directive_at(n) == NULL);
    for (size_t i = 0; i < n; i++) {
        const struct config_directive_info *d = config_directive_at(i);
        CHECK(config_directive_find(d->name) == d);
        CHECK(d->owner != NULL && d->default_text != NULL);
    }
    /* every option the modules parse is in the table (so docs and reload know it) */
    const char *routed[] = {"password_file", "ban_file", "connect_timeout", "max_connections_per_address",
                            "login_window", "user", "sandbox_landlock", "certfile", "crlfile", "protocol",
                            "websocket_origin", "proxy_protocol_from", "tls_two_factor", "websocket_path"};
    for (size_t i = 0; i < sizeof(routed) / sizeof(routed[0]); i++)
        CHECK(config_directive_find(routed[i]) != NULL);
    CHECK(config_directive_find("auth_opt_anything") != NULL);
    CHECK(config_directive_find("nonsense") == NULL);
}

TEST(mosquitto_example_files_parse)
{
    const char *files[] = {"/usr/share/doc/mosquitto/examples/mosquitto.conf", "/etc/mosquitto/mosquitto.conf"};
    for (size_t i = 0; i < 1; i++) {
        if (access(files[i], R_OK) != 0)
            continue;
        rampart_config cfg;
        config_errors errs;
        config_errors_init(&errs);
        CHECK_EQ(config_load(&cfg, files[i], &errs), 0);
        config_errors_print(&errs, stderr);
        done(&cfg, &errs);
    }
}

TEST_MAIN()
