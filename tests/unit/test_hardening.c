/* test_hardening.c - the configuration as the sandbox, audit and firewall see it, and check's file checks. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "security/hardening.h"
#include "test.h"
#include "tools/check_files.h"

/* True when table[0..n) holds s. */
static int has(char *const *table, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(table[i], s))
            return 1;
    return 0;
}

TEST(view_from_configuration)
{
    rampart_config cfg;
    struct hardening_view v;
    struct sandbox_policy p;
    char err[256];

    config_defaults(&cfg);
    cfg.config_file = strdup("/nonexistent-rampart/etc/rampart.conf");
    cfg.listeners[0].tls.certfile = strdup("/nonexistent-rampart/tls/server.crt");
    cfg.listeners[0].tls.keyfile = strdup("/nonexistent-rampart/private/server.key");
    cfg.listeners[0].tls.require_certificate = true;
    cfg.sandbox.seccomp = false;
    cfg.sandbox.user = strdup("nobody");
    cfg.log_dest = CONFIG_LOG_DEST_FILE;
    cfg.log_file = strdup("/nonexistent-rampart/log/rampart.log");
    cfg.audit_files[cfg.audit_file_count++] = strdup("/nonexistent-rampart/audit/audit.json");
    CHECK_EQ(hardening_from_config(&cfg, &v, err, sizeof err), 0);
    CHECK_EQ(v.n_listeners, 1);
    CHECK_EQ(v.listeners[0].port, 1883);
    CHECK_STR(v.listeners[0].bind, "127.0.0.1");
    CHECK(v.listeners[0].tls && v.listeners[0].require_certificate && v.listeners[0].allow_anonymous);
    CHECK(v.landlock && !v.seccomp);
    CHECK_STR(v.user, "nobody");
    /* Directories of the files read (reloads re-read them), the log file written. */
    CHECK(has(v.read_paths, v.n_read_paths, "/nonexistent-rampart/etc"));
    CHECK(has(v.read_paths, v.n_read_paths, "/nonexistent-rampart/tls"));
    CHECK(has(v.read_paths, v.n_read_paths, "/nonexistent-rampart/private"));
    CHECK(has(v.write_paths, v.n_write_paths, "/nonexistent-rampart/log"));
    CHECK(has(v.write_paths, v.n_write_paths, "/nonexistent-rampart/audit"));
    CHECK_EQ(hardening_policy(&v, &p, err, sizeof err), 0);
    CHECK_EQ(p.user_mode, SANDBOX_USER_NAMED);
    CHECK_EQ(p.n_bind_ports, 1);
    CHECK_EQ(p.bind_ports[0], 1883);
    CHECK(!p.seccomp);
    hardening_free(&v);
    config_free(&cfg);
}

TEST(metrics_endpoint_in_the_view)
{
    rampart_config cfg;
    struct hardening_view v;
    struct sandbox_policy p;
    char err[256];

    config_defaults(&cfg);
    cfg.metrics_port = 9234;
    cfg.metrics_password_file = strdup("/nonexistent-rampart/metrics/users");
    cfg.metrics_certfile = strdup("/nonexistent-rampart/mtls/metrics.crt");
    cfg.metrics_keyfile = strdup("/nonexistent-rampart/mkey/metrics.key");
    CHECK_EQ(hardening_from_config(&cfg, &v, err, sizeof err), 0);
    CHECK_EQ(v.n_listeners, 2);
    CHECK_EQ(v.listeners[1].port, 9234);
    CHECK_STR(v.listeners[1].bind, "127.0.0.1"); /* loopback when no address is given */
    CHECK(v.listeners[1].metrics && v.listeners[1].metrics_auth && v.listeners[1].tls);
    CHECK(has(v.read_paths, v.n_read_paths, "/nonexistent-rampart/metrics"));
    CHECK(has(v.read_paths, v.n_read_paths, "/nonexistent-rampart/mtls"));
    CHECK(has(v.read_paths, v.n_read_paths, "/nonexistent-rampart/mkey"));
    CHECK_EQ(hardening_policy(&v, &p, err, sizeof err), 0);
    CHECK_EQ(p.n_bind_ports, 2);
    CHECK_EQ(p.bind_ports[1], 9234);
    hardening_free(&v);
    config_free(&cfg);
}

TEST(check_reports_missing_and_unreadable_files)
{
    rampart_config cfg;
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    char path[] = "/tmp/rampart-check-XXXXXX";
    int fd = mkstemp(path);

    config_defaults(&cfg);
    cfg.config_file = strdup("test.conf");
    cfg.sandbox.user = strdup("nobody");
    fchmod(fd, 0600); /* root's, mode 600: nobody cannot read it */
    close(fd);
    cfg.acl_file = strdup(path);
    cfg.listeners[0].tls.certfile = strdup("/nonexistent-rampart/server.crt");
    CHECK_EQ(check_files_run(&cfg, out), getuid() == 0 ? 2 : 1);
    fclose(out);
    CHECK(strstr(buf, "test.conf: listener 1883: certfile /nonexistent-rampart/server.crt: ") != NULL);
    if (getuid() == 0)
        CHECK(strstr(buf, "not readable by user 'nobody'") != NULL);
    free(buf);
    unlink(path);
    config_free(&cfg);
}

TEST_MAIN()
