/*
 * firewall.c - `rampart firewall -c FILE [--iptables | --ip6tables] [--allow-tcp PORT]...`: prints a host
 * firewall admitting exactly the configured listener ports (from their `firewall_allow_from` source networks where
 * given), the cluster ports of this node when `cluster_node_name` is set, and any --allow-tcp port (SSH, say).
 * nftables by default (`nft -f`), iptables-restore / ip6tables-restore on request. See tools/fwrules.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/commands.h"
#include "security/hardening.h"
#include "tools/fwrules.h"

#define FIREWALL_MAX_EXTRA 16

struct firewall_args {
    const char *config;
    enum { OUT_NFT, OUT_IPT4, OUT_IPT6 } output;
    uint16_t extra[FIREWALL_MAX_EXTRA];
    size_t n_extra;
};

static void firewall_usage(FILE *out)
{
    fprintf(out, "usage: rampart firewall -c FILE [--iptables | --ip6tables] [--allow-tcp PORT]...\n"
                 "  prints an nftables ruleset (default) or an iptables-restore / ip6tables-restore file that\n"
                 "  admits exactly the broker's configured ports; review it before loading.\n");
}

/* Parses a port 1..65535. Returns 0 or -1. */
static int parse_port(const char *s, uint16_t *out)
{
    char *end;
    long v = strtol(s, &end, 10);

    if (!*s || *end || v < 1 || v > 65535)
        return -1;
    *out = (uint16_t)v;
    return 0;
}

/* Returns 0, or 2 with a message for a usage error. */
static int parse_args(int argc, char **argv, struct firewall_args *a)
{
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-c") && i + 1 < argc) {
            a->config = argv[++i];
        } else if (!strcmp(argv[i], "--iptables")) {
            a->output = OUT_IPT4;
        } else if (!strcmp(argv[i], "--ip6tables")) {
            a->output = OUT_IPT6;
        } else if (!strcmp(argv[i], "--allow-tcp") && i + 1 < argc && a->n_extra < FIREWALL_MAX_EXTRA) {
            if (parse_port(argv[++i], &a->extra[a->n_extra++]) != 0) {
                fprintf(stderr, "rampart firewall: '%s' is not a port\n", argv[i]);
                return 2;
            }
        } else {
            firewall_usage(stderr);
            return 2;
        }
    }
    if (!a->config) {
        firewall_usage(stderr);
        return 2;
    }
    return 0;
}

/* Adds the listeners, the cluster ports and the extra ports of the view to spec. Returns 0 or -1 (printed). */
static int build_spec(const struct hardening_view *v, const struct firewall_args *a, struct fw_spec *spec)
{
    char err[256], comment[64];
    uint16_t disc, rpc;

    for (size_t i = 0; i < v->n_listeners; i++) {
        const struct hardening_listener *l = &v->listeners[i];

        snprintf(comment, sizeof comment, "rampart listener %u%s", (unsigned)l->port,
                 l->metrics ? " (metrics)" : l->websockets ? (l->tls ? " (wss)" : " (ws)") : l->tls ? " (mqtts)" : "");
        if (fw_spec_add(spec, l->port, l->bind, (const char *const *)l->sources, l->n_sources, comment, err,
                        sizeof err) != 0) {
            fprintf(stderr, "rampart firewall: %s: listener %u: %s\n", v->config_path, (unsigned)l->port, err);
            return -1;
        }
    }
    if (v->cluster_node_name) {
        if (fw_cluster_ports(v->cluster_node_name, &disc, &rpc) != 0) {
            fprintf(stderr, "rampart firewall: %s: cluster_node_name '%s' gives no valid ports\n", v->config_path,
                    v->cluster_node_name);
            return -1;
        }
        if (fw_spec_add(spec, disc, NULL, NULL, 0, "rampart cluster discovery", err, sizeof err) != 0 ||
            fw_spec_add(spec, rpc, NULL, NULL, 0, "rampart cluster rpc", err, sizeof err) != 0)
            return -1;
    }
    for (size_t i = 0; i < a->n_extra; i++)
        if (fw_spec_add(spec, a->extra[i], NULL, NULL, 0, "allowed with --allow-tcp", err, sizeof err) != 0)
            return -1;
    return 0;
}

int rampart_firewall_main(int argc, char **argv)
{
    static struct hardening_view view;
    static struct fw_spec spec;
    struct firewall_args args;
    char err[1024];
    int rc = parse_args(argc, argv, &args);

    if (rc != 0)
        return rc;
    if (hardening_load(args.config, &view, err, sizeof err) != 0) {
        fprintf(stderr, "rampart firewall: %s\n", err);
        return 2;
    }
    memset(&spec, 0, sizeof spec);
    rc = build_spec(&view, &args, &spec) == 0 ? 0 : 2;
    if (rc == 0 && args.output == OUT_NFT)
        fw_render_nft(&spec, stdout);
    else if (rc == 0)
        fw_render_iptables(&spec, args.output == OUT_IPT6 ? FW_IPV6 : FW_IPV4, stdout);
    hardening_free(&view);
    return rc;
}
