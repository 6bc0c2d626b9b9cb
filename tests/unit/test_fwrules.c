/* test_fwrules.c - the cluster port rule, address classification, and the rendered rulesets. */
#include <stdlib.h>

#include "test.h"
#include "tools/fwrules.h"

TEST(cluster_ports_from_node_name)
{
    uint16_t d = 0, r = 0;

    CHECK_EQ(fw_cluster_ports("rampart@host", &d, &r), 0);
    CHECK_EQ(d, 4370);
    CHECK_EQ(r, 5370);
    CHECK_EQ(fw_cluster_ports("rampart3@host", &d, &r), 0);
    CHECK_EQ(d, 4373);
    CHECK_EQ(r, 5373);
    CHECK_EQ(fw_cluster_ports("node12@10.0.0.7", &d, &r), 0);
    CHECK_EQ(d, 4382);
    CHECK_EQ(r, 5382);
    CHECK_EQ(fw_cluster_ports("rampart07", &d, &r), 0); /* no '@': the whole name; leading zero */
    CHECK_EQ(d, 4377);
    CHECK_EQ(fw_cluster_ports("r2d2x@host9", &d, &r), 0); /* digits not at the end, host digits ignored */
    CHECK_EQ(d, 4370);
    CHECK_EQ(fw_cluster_ports("n60165@h", &d, &r), 0);
    CHECK_EQ(r, 65535);
    CHECK_EQ(fw_cluster_ports("n60166@h", &d, &r), -1);
    CHECK_EQ(fw_cluster_ports("n123456@h", &d, &r), -1);
    CHECK_EQ(fw_cluster_ports("", &d, &r), -1);
    CHECK_EQ(fw_cluster_ports("@host", &d, &r), -1);
    CHECK_EQ(fw_cluster_ports(NULL, &d, &r), -1);
}

TEST(address_classification)
{
    CHECK_EQ(fw_address_family("10.0.0.0/8"), FW_IPV4);
    CHECK_EQ(fw_address_family("192.0.2.1"), FW_IPV4);
    CHECK_EQ(fw_address_family("2001:db8::/32"), FW_IPV6);
    CHECK_EQ(fw_address_family("10.0.0.0/33"), -1);
    CHECK_EQ(fw_address_family("10.0.0.0/"), -1);
    CHECK_EQ(fw_address_family("10.0.0.0/8x"), -1);
    CHECK_EQ(fw_address_family("example.org"), -1);
    CHECK_EQ(fw_address_family("1.2.3.4; drop"), -1);
    CHECK(fw_address_is_loopback("127.0.0.1"));
    CHECK(fw_address_is_loopback("127.5.0.1"));
    CHECK(fw_address_is_loopback("::1"));
    CHECK(fw_address_is_loopback("localhost"));
    CHECK(!fw_address_is_loopback("10.0.0.1"));
    CHECK(fw_address_is_wildcard(NULL));
    CHECK(fw_address_is_wildcard("::"));
    CHECK(!fw_address_is_wildcard("10.0.0.1"));
}

/* Renders into a string the caller frees. */
static char *render(const struct fw_spec *spec, int nft, enum fw_family family)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    if (nft)
        fw_render_nft(spec, f);
    else
        fw_render_iptables(spec, family, f);
    fclose(f);
    return buf;
}

TEST(rulesets_admit_configured_ports_only)
{
    static struct fw_spec spec;
    const char *nets[] = {"10.0.0.0/8", "2001:db8::/32"};
    const char *bad[] = {"10.0.0.0/40"};
    char err[256];
    char *s;

    CHECK_EQ(fw_spec_add(&spec, 1883, "127.0.0.1", NULL, 0, "loopback", err, sizeof err), 0);
    CHECK_EQ(spec.n_rules, 0); /* loopback needs no rule */
    CHECK_EQ(fw_spec_add(&spec, 8883, NULL, nets, 2, "mqtts \"x\"", err, sizeof err), 0);
    CHECK_EQ(fw_spec_add(&spec, 8884, "192.0.2.1", NULL, 0, "ws", err, sizeof err), 0);
    CHECK_EQ(fw_spec_add(&spec, 9000, NULL, bad, 1, "bad", err, sizeof err), -1);
    CHECK_EQ(fw_spec_add(&spec, 9000, "192.0.2.1", nets + 1, 1, "mixed", err, sizeof err), -1);
    CHECK_EQ(spec.n_rules, 2);

    s = render(&spec, 1, FW_ANY);
    CHECK(strstr(s, "policy drop;") != NULL);
    CHECK(strstr(s, "ip saddr 10.0.0.0/8 tcp dport 8883 accept comment \"mqtts _x_\"") != NULL);
    CHECK(strstr(s, "ip6 saddr 2001:db8::/32 tcp dport 8883 accept") != NULL);
    CHECK(strstr(s, "ip daddr 192.0.2.1 tcp dport 8884 accept") != NULL);
    CHECK(strstr(s, "dport 1883") == NULL);
    free(s);

    s = render(&spec, 0, FW_IPV4);
    CHECK(strstr(s, ":INPUT DROP") != NULL);
    CHECK(strstr(s, "-A INPUT -s 10.0.0.0/8 -p tcp -m tcp --dport 8883") != NULL);
    CHECK(strstr(s, "-A INPUT -d 192.0.2.1 -p tcp -m tcp --dport 8884") != NULL);
    CHECK(strstr(s, "2001:db8") == NULL);
    CHECK(strstr(s, "COMMIT\n") != NULL);
    free(s);

    s = render(&spec, 0, FW_IPV6);
    CHECK(strstr(s, "-A INPUT -s 2001:db8::/32 -p tcp -m tcp --dport 8883") != NULL);
    CHECK(strstr(s, "8884") == NULL);
    CHECK(strstr(s, "-p ipv6-icmp -j ACCEPT") != NULL);
    free(s);
}

TEST_MAIN()
