/* test_audit.c - audit findings, index, JSON, and the checks that take plain inputs. */
#include <jansson.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"
#include "tools/audit_checks.h"
#include "tools/audit_report.h"

static struct audit_report report;

static void reset(void)
{
    memset(&report, 0, sizeof report);
}

/* Number of findings with this id. */
static int count_id(const char *id)
{
    int n = 0;

    for (size_t i = 0; i < report.n; i++)
        n += !strcmp(report.findings[i].id, id);
    return n;
}

TEST(index_and_threshold)
{
    enum audit_severity s;

    reset();
    CHECK_EQ(audit_index(&report), 100);
    audit_add(&report, "X-1", AUDIT_HIGH, "t", "f", "e %d", 1);
    audit_add(&report, "X-2", AUDIT_LOW, "t", "f", "e");
    CHECK_EQ(audit_index(&report), 100 - 15 - 2);
    CHECK(audit_has_at_least(&report, AUDIT_HIGH));
    CHECK(!audit_has_at_least(&report, AUDIT_CRITICAL));
    CHECK_STR(report.findings[0].evidence, "e 1");
    for (int i = 0; i < 10; i++)
        audit_add(&report, "X-3", AUDIT_CRITICAL, "t", "f", "e");
    CHECK_EQ(audit_index(&report), 0);
    CHECK_EQ(audit_severity_parse("medium", &s), 0);
    CHECK_EQ(s, AUDIT_MEDIUM);
    CHECK_EQ(audit_severity_parse("severe", &s), -1);
}

TEST(json_output_parses)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    json_error_t jerr;
    json_t *doc;

    reset();
    audit_add(&report, "LSN-001", AUDIT_HIGH, "plaintext", "use TLS", "listener \"1883\" on 0.0.0.0");
    CHECK_EQ(audit_render_json(&report, "/etc/rampart.conf", f), 0);
    fclose(f);
    doc = json_loads(buf, 0, &jerr);
    CHECK(doc != NULL);
    if (doc) {
        json_t *first = json_array_get(json_object_get(doc, "findings"), 0);

        CHECK_EQ(json_integer_value(json_object_get(doc, "hardening_index")), 85);
        CHECK_STR(json_string_value(json_object_get(first, "id")), "LSN-001");
        CHECK_STR(json_string_value(json_object_get(first, "severity")), "high");
        CHECK_STR(json_string_value(json_object_get(first, "evidence")), "listener \"1883\" on 0.0.0.0");
        CHECK_EQ(json_integer_value(json_object_get(json_object_get(doc, "counts"), "high")), 1);
        json_decref(doc);
    }
    free(buf);
}

TEST(openssl_minimum_and_end_of_life)
{
    reset();
    audit_check_openssl(&report, 0x300000f0UL, "OpenSSL 3.0.15", 1700000000);
    CHECK_EQ(count_id("OSSL-001"), 1);
    CHECK_EQ(count_id("OSSL-002"), 0); /* 2023: 3.0 still supported */
    reset();
    audit_check_openssl(&report, 0x30000160UL, "OpenSSL 3.0.22", 1800000000);
    CHECK_EQ(count_id("OSSL-001"), 0);
    CHECK_EQ(count_id("OSSL-002"), 1);
    reset();
    audit_check_openssl(&report, 0x30500040UL, "OpenSSL 3.5.4", 1800000000);
    CHECK_EQ(report.n, 0);
}

TEST(proc_net_tcp_listening_sockets)
{
    const char *v4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid\n"
                     "   0: 0100007F:075B 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0\n"
                     "   1: 00000000:22B3 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0\n"
                     "   2: 0100007F:075B 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0\n"
                     "garbage\n";
    const char *v6 = "  sl  local_address                         remote_address                        st\n"
                     "   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A\n";
    struct audit_socket socks[8];
    size_t n = 0;
    uint16_t accounted[] = {1883};

    CHECK_EQ(audit_parse_proc_net_tcp(v4, false, socks, &n, 8), 2);
    CHECK_EQ(audit_parse_proc_net_tcp(v6, true, socks, &n, 8), 1);
    CHECK_EQ(n, 3);
    CHECK_STR(socks[0].addr, "127.0.0.1");
    CHECK_EQ(socks[0].port, 1883);
    CHECK_STR(socks[1].addr, "0.0.0.0");
    CHECK_EQ(socks[1].port, 8883);
    CHECK_STR(socks[2].addr, "::1");
    CHECK_EQ(socks[2].port, 8080);
    reset();
    audit_check_sockets(&report, socks, n, accounted, 1);
    CHECK_EQ(count_id("NET-001"), 2);
    CHECK_EQ(report.findings[0].severity, AUDIT_MEDIUM); /* 0.0.0.0:8883 */
    CHECK_EQ(report.findings[1].severity, AUDIT_LOW);    /* [::1]:8080 */
}

/* Writes text to a fresh temporary file with mode `mode`; returns its path (static buffer per slot). */
static const char *temp_file(int slot, const char *text, mode_t mode)
{
    static char paths[4][64];
    int fd;

    snprintf(paths[slot], sizeof paths[slot], "/tmp/rampart-audit-test-XXXXXX");
    fd = mkstemp(paths[slot]);
    if (fd < 0)
        return "/nonexistent";
    if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        CHECK(0);
    fchmod(fd, mode);
    close(fd);
    return paths[slot];
}

TEST(acl_grants_whole_tree)
{
    const char *p = temp_file(0, "# comment\nuser alice\ntopic readwrite #\ntopic deny #\ntopic read a/#\n"
                                 "pattern #\n", 0600);

    reset();
    audit_check_acl_file(&report, p);
    CHECK_EQ(count_id("ACL-002"), 2);
    unlink(p);
    reset();
    audit_check_acl_file(&report, "/nonexistent/acl");
    CHECK_EQ(count_id("ACL-003"), 1);
}

TEST(secret_file_modes)
{
    const char *p = temp_file(1, "x", 0644);

    reset();
    audit_check_secret_file(&report, p, "key file", getuid());
    CHECK_EQ(count_id("FIL-001"), 1);
    chmod(p, 0600);
    reset();
    audit_check_secret_file(&report, p, "key file", getuid());
    CHECK_EQ(report.n, 0);
    unlink(p);
    reset();
    audit_check_secret_file(&report, "/nonexistent/key", "key file", getuid());
    CHECK_EQ(count_id("FIL-004"), 1);
}

TEST(password_schemes_and_expiry)
{
    /* $6$ entry (mosquitto's SHA-512): weak; the $7$ one too. */
    const char *text =
        "alice:$6$c2FsdHNhbHRzYWx0$6Y6i3rTJ4Ry2ZxG1dbuNYNKxCHzYJD7dHnkU6tlRu0d9Af3n9xM3VsTQIWD6hH5xB4uLe8Ey1Ql"
        "qcjTHB6HP3A==\n"
        "bob:$7$101$c2FsdHNhbHRzYWx0c2FsdA==$6Y6i3rTJ4Ry2ZxG1dbuNYNKxCHzYJD7dHnkU6tlRu0d9Af3n9xM3VsTQIWD6hH5xB4uL"
        "e8Ey1QlqcjTHB6HP3A==:set=1000,max_age=100\n";
    const char *p = temp_file(2, text, 0600);

    reset();
    audit_check_password_file(&report, p, 0, 1700000000);
    if (count_id("CRD-004"))
        fprintf(stderr, "  %s\n", report.findings[0].evidence);
    CHECK_EQ(count_id("CRD-001"), 2);
    CHECK_EQ(count_id("CRD-002"), 1); /* bob: set 1000 + 100 s, long past */
    CHECK_EQ(count_id("CRD-003"), 1); /* alice: no max age */
    reset();
    audit_check_password_file(&report, p, 86400, 1700000000);
    CHECK_EQ(count_id("CRD-003"), 0);
    unlink(p);
}

TEST_MAIN()
