/* fwrules.c - see fwrules.h. */
#include "tools/fwrules.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define FW_DISCOVERY_BASE 4370
#define FW_RPC_BASE 5370

int fw_cluster_ports(const char *node_name, uint16_t *discovery, uint16_t *rpc)
{
    const char *at, *end, *p;
    long n = 0;

    if (!node_name || !*node_name || *node_name == '@')
        return -1;
    at = strchr(node_name, '@');
    end = at ? at : node_name + strlen(node_name);
    p = end;
    while (p > node_name && isdigit((unsigned char)p[-1]))
        p--;
    if (end - p > 5)
        return -1;
    for (const char *d = p; d < end; d++)
        n = n * 10 + (*d - '0');
    if (FW_RPC_BASE + n > 65535)
        return -1;
    *discovery = (uint16_t)(FW_DISCOVERY_BASE + n);
    *rpc = (uint16_t)(FW_RPC_BASE + n);
    return 0;
}

int fw_address_family(const char *addr)
{
    char host[FW_ADDR_MAX];
    unsigned char buf[16];
    const char *slash;
    int family, max;
    char *endp;
    long prefix;

    if (!addr || strlen(addr) >= sizeof host)
        return -1;
    slash = strchr(addr, '/');
    snprintf(host, sizeof host, "%.*s", slash ? (int)(slash - addr) : (int)strlen(addr), addr);
    if (inet_pton(AF_INET, host, buf) == 1)
        family = FW_IPV4, max = 32;
    else if (inet_pton(AF_INET6, host, buf) == 1)
        family = FW_IPV6, max = 128;
    else
        return -1;
    if (!slash)
        return family;
    if (!isdigit((unsigned char)slash[1]))
        return -1;
    prefix = strtol(slash + 1, &endp, 10);
    return (*endp || prefix > max) ? -1 : family;
}

bool fw_address_is_loopback(const char *addr)
{
    if (!addr)
        return false;
    if (!strcmp(addr, "localhost") || !strcmp(addr, "::1"))
        return true;
    return fw_address_family(addr) == FW_IPV4 && !strchr(addr, '/') && !strncmp(addr, "127.", 4);
}

bool fw_address_is_wildcard(const char *addr)
{
    return !addr || !*addr || !strcmp(addr, "0.0.0.0") || !strcmp(addr, "::");
}

/* Copies `comment` keeping printable ASCII except quotes and backslashes (it lands inside "..."). */
static void copy_comment(char *dst, size_t size, const char *comment)
{
    size_t j = 0;

    for (size_t i = 0; comment && comment[i] && j + 1 < size; i++) {
        unsigned char c = (unsigned char)comment[i];

        dst[j++] = (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? (char)c : '_';
    }
    dst[j] = '\0';
}

/* Fills the bound-address part of rule `r` from `bind_addr`. Returns 0 or -1 with err set. */
static int rule_set_daddr(struct fw_rule *r, const char *bind_addr, char *err, size_t errlen)
{
    int family;

    if (fw_address_is_wildcard(bind_addr)) {
        r->family = (bind_addr && !strcmp(bind_addr, "0.0.0.0")) ? FW_IPV4 : FW_ANY;
        return 0;
    }
    family = fw_address_family(bind_addr);
    if (family < 0) {
        /* A host name: the addresses it resolves to on this host are not known here; admit the port on all. */
        if (strchr(bind_addr, '/') || strlen(bind_addr) >= FW_ADDR_MAX) {
            snprintf(err, errlen, "bind address '%s' is not an address", bind_addr);
            return -1;
        }
        r->family = FW_ANY;
        return 0;
    }
    if (strchr(bind_addr, '/')) {
        snprintf(err, errlen, "bind address '%s' must not have a prefix", bind_addr);
        return -1;
    }
    r->family = (enum fw_family)family;
    snprintf(r->daddr, sizeof r->daddr, "%s", bind_addr);
    return 0;
}

int fw_spec_add(struct fw_spec *spec, uint16_t port, const char *bind_addr, const char *const *sources,
                size_t n_sources, const char *comment, char *err, size_t errlen)
{
    struct fw_rule *r;

    if (fw_address_is_loopback(bind_addr))
        return 0;
    if (spec->n_rules >= FW_MAX_RULES || n_sources > FW_MAX_SOURCES) {
        snprintf(err, errlen, "too many listeners or source networks (at most %d and %d)", FW_MAX_RULES,
                 FW_MAX_SOURCES);
        return -1;
    }
    r = &spec->rules[spec->n_rules];
    memset(r, 0, sizeof *r);
    r->port = port;
    if (rule_set_daddr(r, bind_addr, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < n_sources; i++) {
        int family = fw_address_family(sources[i]);

        if (family < 0 || (r->family != FW_ANY && family != (int)r->family)) {
            snprintf(err, errlen, "source network '%s' is not an address%s", sources[i],
                     family < 0 ? "[/prefix]" : " of the listener's family");
            return -1;
        }
        snprintf(r->sources[i], sizeof r->sources[i], "%s", sources[i]);
    }
    r->n_sources = n_sources;
    copy_comment(r->comment, sizeof r->comment, comment);
    spec->n_rules++;
    return 0;
}

/* nft: one accept line for rule `r` from source `src` (NULL = anywhere). */
static void nft_rule_line(const struct fw_rule *r, const char *src, FILE *out)
{
    int sfam = src ? fw_address_family(src) : FW_ANY;

    fputs("        ", out);
    if (src)
        fprintf(out, "%s saddr %s ", sfam == FW_IPV6 ? "ip6" : "ip", src);
    if (r->daddr[0])
        fprintf(out, "%s daddr %s ", r->family == FW_IPV6 ? "ip6" : "ip", r->daddr);
    else if (!src && r->family != FW_ANY)
        fprintf(out, "meta nfproto %s ", r->family == FW_IPV6 ? "ipv6" : "ipv4");
    fprintf(out, "tcp dport %u accept comment \"%s\"\n", (unsigned)r->port, r->comment);
}

void fw_render_nft(const struct fw_spec *spec, FILE *out)
{
    assert(spec && out);
    fputs("#!/usr/sbin/nft -f\n"
          "# Generated by `rampart firewall`: admits exactly the broker's configured ports.\n"
          "# Every other inbound TCP/UDP port is dropped, SSH included: add what else this host serves.\n"
          "table inet rampart\n"
          "delete table inet rampart\n"
          "table inet rampart {\n"
          "    chain input {\n"
          "        type filter hook input priority filter; policy drop;\n"
          "        ct state established,related accept\n"
          "        ct state invalid drop\n"
          "        iifname \"lo\" accept\n"
          "        meta l4proto icmp accept\n"
          "        meta l4proto ipv6-icmp accept\n",
          out);
    for (size_t i = 0; i < spec->n_rules; i++) {
        const struct fw_rule *r = &spec->rules[i];

        if (!r->n_sources)
            nft_rule_line(r, NULL, out);
        for (size_t s = 0; s < r->n_sources; s++)
            nft_rule_line(r, r->sources[s], out);
    }
    fputs("    }\n}\n", out);
}

/* iptables: one -A INPUT line for rule `r` from `src` (NULL = anywhere), if it belongs to `family`. */
static void ipt_rule_line(const struct fw_rule *r, const char *src, enum fw_family family, FILE *out)
{
    if (r->family != FW_ANY && r->family != family)
        return;
    if (src && fw_address_family(src) != (int)family)
        return;
    fputs("-A INPUT", out);
    if (src)
        fprintf(out, " -s %s", src);
    if (r->daddr[0])
        fprintf(out, " -d %s", r->daddr);
    fprintf(out, " -p tcp -m tcp --dport %u -m comment --comment \"%s\" -j ACCEPT\n", (unsigned)r->port,
            r->comment);
}

void fw_render_iptables(const struct fw_spec *spec, enum fw_family family, FILE *out)
{
    assert(spec && out && (family == FW_IPV4 || family == FW_IPV6));
    fprintf(out,
            "# Generated by `rampart firewall --%s`: load with %s-restore. It replaces the filter table:\n"
            "# inbound is dropped except the broker's configured ports (SSH included: add what else this\n"
            "# host serves); forward and output are left open.\n"
            "*filter\n"
            ":INPUT DROP [0:0]\n"
            ":FORWARD ACCEPT [0:0]\n"
            ":OUTPUT ACCEPT [0:0]\n"
            "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
            "-A INPUT -m conntrack --ctstate INVALID -j DROP\n"
            "-A INPUT -i lo -j ACCEPT\n"
            "-A INPUT -p %s -j ACCEPT\n",
            family == FW_IPV6 ? "ip6tables" : "iptables", family == FW_IPV6 ? "ip6tables" : "iptables",
            family == FW_IPV6 ? "ipv6-icmp" : "icmp");
    for (size_t i = 0; i < spec->n_rules; i++) {
        const struct fw_rule *r = &spec->rules[i];

        if (!r->n_sources)
            ipt_rule_line(r, NULL, family, out);
        for (size_t s = 0; s < r->n_sources; s++)
            ipt_rule_line(r, r->sources[s], family, out);
    }
    fputs("COMMIT\n", out);
}
