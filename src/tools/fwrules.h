/*
 * fwrules.h - the pure part of `rampart firewall`: from a list of listeners (port, bind address, allowed
 * source networks) and an optional cluster node name, render a host firewall that admits exactly those ports:
 * an nftables ruleset (`nft -f`) or an iptables-restore / ip6tables-restore one. No I/O besides the FILE the
 * caller passes; no configuration parsing (src/tools/firewall.c maps the configuration onto this).
 *
 * The rulesets: default drop on input; established/related, loopback and ICMP/ICMPv6 (neighbour discovery,
 * path MTU) accepted; then one accept rule per listener, per source network when the listener names some.
 * Listeners bound to a loopback address need no rule (loopback is accepted as a whole). Output and forward
 * are left alone.
 */
#ifndef RAMPART_TOOLS_FWRULES_H
#define RAMPART_TOOLS_FWRULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define FW_MAX_RULES 128
#define FW_MAX_SOURCES 16
#define FW_ADDR_MAX 64 /* an IPv6 address with a /prefix fits */

/* Address families a rule applies to. */
enum fw_family { FW_ANY = 0, FW_IPV4 = 4, FW_IPV6 = 6 };

/* One port to admit. */
struct fw_rule {
    uint16_t port;
    enum fw_family family;             /* FW_ANY when bound to a wildcard or a host name */
    char daddr[FW_ADDR_MAX];           /* bound address, "" when wildcard */
    char sources[FW_MAX_SOURCES][FW_ADDR_MAX]; /* allowed source networks (address[/prefix]); none = anywhere */
    size_t n_sources;
    char comment[64];                  /* e.g. "listener 8883 (mqtts)"; printable ASCII only */
};

struct fw_spec {
    struct fw_rule rules[FW_MAX_RULES];
    size_t n_rules;
};

/* The cluster ports of node `node_name` ("rampart3@host"): N is the decimal number ending the part before
 * '@' (the whole name when there is no '@'), 0 when there is none; discovery = 4370 + N, rpc = 5370 + N.
 * Returns 0, or -1 when the name is empty, the number has more than 5 digits, or 5370 + N exceeds 65535. */
int fw_cluster_ports(const char *node_name, uint16_t *discovery, uint16_t *rpc);

/* Classifies a literal address or network ("10.0.0.0/8", "::1", "0.0.0.0"): FW_IPV4, FW_IPV6, or -1 when
 * it is not one (prefix checked against the family). */
int fw_address_family(const char *addr);

/* True for an address in 127.0.0.0/8 or ::1 (a listener there is reachable over loopback only). */
bool fw_address_is_loopback(const char *addr);

/* True for 0.0.0.0, :: or "" (all addresses). */
bool fw_address_is_wildcard(const char *addr);

/* Adds a rule for `port` bound to `bind_addr` (NULL, "" or a wildcard = all addresses; a host name also
 * counts as all addresses of either family) from `sources` (may be NULL/0). Validates every address.
 * Loopback-bound listeners are skipped (returns 0, nothing added). Returns 0, or -1 with err set. */
int fw_spec_add(struct fw_spec *spec, uint16_t port, const char *bind_addr, const char *const *sources,
                size_t n_sources, const char *comment, char *err, size_t errlen);

/* Renders the nftables ruleset (table inet rampart, replaced atomically when loaded with `nft -f`). */
void fw_render_nft(const struct fw_spec *spec, FILE *out);

/* Renders an iptables-restore (family FW_IPV4) or ip6tables-restore (FW_IPV6) file for the filter table. */
void fw_render_iptables(const struct fw_spec *spec, enum fw_family family, FILE *out);

#endif
