"""
`rampart firewall` for real: the ruleset is loaded with nft into a network namespace the test creates, a
server listens there on configured and unconfigured ports, and a client in a second namespace, joined by a
veth pair, shows that exactly the configured ports (from their allowed sources) connect.
"""
import os
import random
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import helpers  # noqa: E402

BIN = helpers.RAMPART_BIN
PY = "/usr/bin/python3"

SERVER = r"""
import socket, sys, threading
socks = []
for p in sys.argv[1:]:
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", int(p))); s.listen(16); socks.append(s)
def serve(s):
    while True:
        c, _ = s.accept(); c.sendall(b"hi"); c.close()
for s in socks:
    threading.Thread(target=serve, args=(s,), daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
"""

CLIENT = r"""
import socket, sys
try:
    c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))
    print("open" if c.recv(2) == b"hi" else "odd")
except OSError as e:
    print("closed", e)
"""


def sh(*args, check=True):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=60, check=check)


@pytest.fixture
def netns():
    tag = "%d%d" % (os.getpid() % 10000, random.randint(0, 99))
    srv, cli = "rfws" + tag, "rfwc" + tag
    va, vb = "rfwa" + tag, "rfwb" + tag
    net = "10.%d.%d" % (random.randint(100, 250), random.randint(0, 250))
    made = []
    try:
        for ns in (srv, cli):
            sh("ip", "netns", "add", ns)
            made.append(ns)
        sh("ip", "link", "add", va, "type", "veth", "peer", "name", vb)
        sh("ip", "link", "set", va, "netns", srv)
        sh("ip", "link", "set", vb, "netns", cli)
        for ns, dev, addr in ((srv, va, net + ".1/30"), (cli, vb, net + ".2/30")):
            sh("ip", "-n", ns, "addr", "add", addr, "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        yield {"srv": srv, "cli": cli, "server_ip": net + ".1", "client_ip": net + ".2"}
    finally:
        for ns in made:  # deleting a namespace removes its end of the veth pair, and so the pair
            sh("ip", "netns", "del", ns, check=False)


def connect(ns, host, port, timeout=1.5):
    out = sh("ip", "netns", "exec", ns["cli"], PY, "-c", CLIENT, host, str(port), str(timeout))
    return out.stdout.split()[0]


LOADERS = {
    # format flag, loader command, listing command, what the listing shows for the drop policy
    "nft": ([], ["nft", "-f"], ["nft", "list", "table", "inet", "rampart"], "policy drop"),
    "iptables": (["--iptables"], ["iptables-restore"], ["iptables", "-S", "INPUT"], "-P INPUT DROP"),
}


@pytest.mark.parametrize("flavour", sorted(LOADERS))
def test_ruleset_admits_exactly_the_configured_ports(netns, tmp_path, flavour):
    fmt, load, listing, drop_mark = LOADERS[flavour]
    open_port, filtered_port, unlisted_port = 18830, 18831, 18832
    conf = tmp_path / "fw.conf"
    conf.write_text(
        "user root\n"
        "cluster_node_name rampart3@host\n"
        "allow_anonymous true\n"
        "listener %d\n"
        "listener %d\nfirewall_allow_from 192.0.2.0/24\n" % (open_port, filtered_port))
    ruleset = sh(BIN, "firewall", "-c", str(conf), *fmt).stdout
    if flavour == "nft":
        assert "tcp dport %d accept" % open_port in ruleset
        assert "ip saddr 192.0.2.0/24 tcp dport %d accept" % filtered_port in ruleset
        assert "tcp dport 4373 accept" in ruleset and "tcp dport 5373 accept" in ruleset
    else:
        assert "-A INPUT -p tcp -m tcp --dport %d " % open_port in ruleset
        assert "-A INPUT -s 192.0.2.0/24 -p tcp -m tcp --dport %d " % filtered_port in ruleset
        assert "--dport 4373 " in ruleset and "--dport 5373 " in ruleset
    assert str(unlisted_port) not in ruleset
    rules = tmp_path / "rules"
    rules.write_text(ruleset)

    ports = [open_port, filtered_port, unlisted_port, 4373]
    server = subprocess.Popen(["ip", "netns", "exec", netns["srv"], PY, "-c", SERVER] + [str(p) for p in ports],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().strip() == "ready"
        # Without the ruleset every port answers: what follows is the ruleset's doing.
        for p in ports:
            assert connect(netns, netns["server_ip"], p) == "open", p
        sh("ip", "netns", "exec", netns["srv"], *load, str(rules))
        listed = sh("ip", "netns", "exec", netns["srv"], *listing).stdout
        assert drop_mark in listed
        assert connect(netns, netns["server_ip"], open_port) == "open"
        assert connect(netns, netns["server_ip"], 4373) == "open"          # cluster discovery of rampart3
        assert connect(netns, netns["server_ip"], unlisted_port) == "closed"  # not configured
        assert connect(netns, netns["server_ip"], filtered_port) == "closed"  # configured, other sources only
        # Loading it again replaces the rules instead of failing or duplicating them.
        sh("ip", "netns", "exec", netns["srv"], *load, str(rules))
        again = sh("ip", "netns", "exec", netns["srv"], *listing).stdout
        assert again.count("dport %d " % open_port) == 1, again
    finally:
        server.stdin.close()
        server.terminate()
        server.wait(timeout=10)


def test_iptables_output_and_bad_node_name(tmp_path):
    conf = tmp_path / "fw.conf"
    conf.write_text("user root\nallow_anonymous true\nlistener 8883 192.0.2.10\nfirewall_allow_from 10.0.0.0/8\n")
    v4 = sh(BIN, "firewall", "-c", str(conf), "--iptables", "--allow-tcp", "22").stdout
    assert ":INPUT DROP [0:0]" in v4
    assert "-A INPUT -s 10.0.0.0/8 -d 192.0.2.10 -p tcp -m tcp --dport 8883" in v4
    assert "--dport 22 " in v4
    v6 = sh(BIN, "firewall", "-c", str(conf), "--ip6tables").stdout
    assert "8883" not in v6  # an IPv4-only listener
    conf.write_text("user root\ncluster_node_name rampart99999@host\nlistener 1883\n")
    bad = sh(BIN, "firewall", "-c", str(conf), check=False)
    assert bad.returncode == 2 and "cluster_node_name" in bad.stderr
