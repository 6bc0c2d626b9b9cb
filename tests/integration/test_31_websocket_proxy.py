"""
Client addresses behind proxies (docs/tls.md): the PROXY protocol (v1 and v2) accepted only from configured
proxy addresses and consumed byte-exactly (plain and under TLS), and X-Forwarded-For believed only from
trusted proxies on WebSocket listeners.
"""
import json
import socket
import ssl
import struct
import subprocess

import pytest

import helpers
import tlsca

from test_31_websocket import upgrade


def proxy_broker(make_broker, options):
    port = helpers.free_port()
    b = make_broker(extra_listeners=[(port, list(options))])
    return b, port


def connack_after(sock, prefix, client_id="proxied"):
    sock.sendall(prefix + helpers.connect(client_id=client_id, version=helpers.V311))
    sock.settimeout(helpers.WAIT)
    data = b""
    try:
        while len(data) < 4:
            chunk = sock.recv(4 - len(data))
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    return data


def test_proxy_v1_header_from_configured_proxy(make_broker):
    b, port = proxy_broker(make_broker, ["proxy_protocol_from 127.0.0.1"])
    with socket.create_connection(("127.0.0.1", port), timeout=helpers.WAIT) as s:
        data = connack_after(s, b"PROXY TCP4 198.51.100.7 127.0.0.1 40000 %d\r\n" % port)
    assert data == b"\x20\x02\x00\x00"


def test_proxy_v2_header_then_tls(make_broker):
    ca = tlsca.TestCA()
    try:
        b, port = proxy_broker(make_broker, ["proxy_protocol_from 127.0.0.0/8"] + ca.server_options())
        raw = socket.create_connection(("127.0.0.1", port), timeout=helpers.WAIT)
        header = b"\r\n\r\n\x00\r\nQUIT\n" + b"\x21\x11" + struct.pack(">H", 12) + \
            socket.inet_aton("203.0.113.9") + socket.inet_aton("127.0.0.1") + struct.pack(">HH", 5555, port)
        raw.sendall(header)
        ctx = ssl.create_default_context(cafile=ca.ca)
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            assert tlsca.mqtt_connect_over(s) == b"\x20\x02\x00\x00"
    finally:
        ca.cleanup()


def test_missing_proxy_header_from_configured_proxy_is_refused(make_broker):
    b, port = proxy_broker(make_broker, ["proxy_protocol_from 127.0.0.1"])
    with socket.create_connection(("127.0.0.1", port), timeout=helpers.WAIT) as s:
        assert connack_after(s, b"") == b""
    helpers.wait_until(lambda: "bad PROXY header from 127.0.0.1" in b.log(), "the PROXY refusal line")


def test_proxy_header_from_other_address_is_not_believed(make_broker):
    b, port = proxy_broker(make_broker, ["proxy_protocol_from 192.0.2.1"])
    with socket.create_connection(("127.0.0.1", port), timeout=helpers.WAIT) as s:
        # Not a configured proxy: the header is not parsed, so the broker sees garbage instead of CONNECT.
        assert connack_after(s, b"PROXY TCP4 198.51.100.7 127.0.0.1 40000 1883\r\n") == b""
    with socket.create_connection(("127.0.0.1", port), timeout=helpers.WAIT) as s:
        assert connack_after(s, b"") == b"\x20\x02\x00\x00"


def test_forwarded_for_only_from_trusted_proxies(make_broker):
    b, port = proxy_broker(make_broker, ["protocol websockets", "websocket_trusted_proxy 127.0.0.1"])
    status, s = upgrade(port, extra="X-Forwarded-For: 198.51.100.1, 203.0.113.5\r\n")
    s.close()
    assert status == 101
    helpers.wait_until(lambda: "client 203.0.113.5" in b.log(), "the forwarded client address")
    b2, port2 = proxy_broker(make_broker, ["protocol websockets"])
    status, s = upgrade(port2, extra="X-Forwarded-For: 203.0.113.77\r\n")
    s.close()
    assert status == 101
    helpers.wait_until(lambda: "upgraded on" in b2.log(), "the upgrade line")
    assert "203.0.113.77" not in b2.log()


def proxy_v2(source, port):
    """A PROXY v2 header (TCP over IPv4) saying the client is `source`."""
    return (b"\r\n\r\n\x00\r\nQUIT\n" + b"\x21\x11" + struct.pack(">H", 12) + socket.inet_aton(source) +
            socket.inet_aton("127.0.0.1") + struct.pack(">HH", 40000, port))


def test_limits_bans_and_logs_use_the_address_in_the_proxy_header(make_broker, tmp_path):
    """Behind a load balancer every socket comes from 127.0.0.1: the per-address connection limit and an
    address ban must apply to the client address the PROXY v2 header carries instead, and the log and audit
    lines must name it."""
    bans = tmp_path / "bans"
    audit = tmp_path / "audit.log"
    port = helpers.free_port()
    b = make_broker(options=["user root", "max_connections_per_address 2", "ban_file %s" % bans,
                             "audit_dest file %s" % audit],
                    extra_listeners=[(port, ["proxy_protocol_from 127.0.0.1"])])
    held = []
    try:
        for i in range(2):
            s = socket.create_connection(("127.0.0.1", port), timeout=helpers.WAIT)
            held.append(s)
            assert connack_after(s, proxy_v2("203.0.113.9", port), "held-%d" % i) == b"\x20\x02\x00\x00"
        with socket.create_connection(("127.0.0.1", port), timeout=helpers.WAIT) as s:
            assert connack_after(s, proxy_v2("203.0.113.9", port), "third") == b""   # the third from that client
        for i in range(2):   # the proxy itself (127.0.0.1) carries more than 2 clients
            s = socket.create_connection(("127.0.0.1", port), timeout=helpers.WAIT)
            held.append(s)
            assert connack_after(s, proxy_v2("203.0.113.10", port), "other-%d" % i) == b"\x20\x02\x00\x00"
        # direct sockets from 127.0.0.1 are not affected by the proxied clients' counts
        for i in range(2):
            s = socket.create_connection(("127.0.0.1", b.port), timeout=helpers.WAIT)
            held.append(s)
            assert connack_after(s, b"", "direct-%d" % i) == b"\x20\x02\x00\x00"
    finally:
        for s in held:
            s.close()
    out = subprocess.run([helpers.RAMPART_BIN, "ban", "-f", str(bans), "add", "address", "198.51.100.7"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr

    def banned():
        with socket.create_connection(("127.0.0.1", port), timeout=helpers.WAIT) as s:
            return connack_after(s, proxy_v2("198.51.100.7", port), "b1") == b"\x20\x02\x00\x05"
    helpers.wait_until(banned, "the ban on the proxied address")
    with socket.create_connection(("127.0.0.1", port), timeout=helpers.WAIT) as s:
        assert connack_after(s, proxy_v2("198.51.100.8", port), "b2") == b"\x20\x02\x00\x00"
    log = b.log()
    assert "refused reason=banned address=198.51.100.7" in log
    assert "(203.0.113.10:40000)" in log   # connection log lines name the proxied client and its port
    assert "refusing connection from 203.0.113.9: max_connections_per_address reached" in log
    assert "refusing connection from 127.0.0.1" not in log
    events = [json.loads(line) for line in audit.read_text().splitlines() if line.strip()]
    accepted = {e.get("address") for e in events if e["event"] == "connect_accepted"}
    assert {"203.0.113.9", "203.0.113.10", "198.51.100.8"} <= accepted, accepted
    assert all(e.get("port") == 40000 for e in events if e.get("address", "").startswith("203.0.113.")), events
    assert any(e["event"] != "connect_accepted" and e.get("address") == "198.51.100.7" for e in events), events
    assert any(e["event"] == "connect_refused" and e.get("address") == "203.0.113.9" for e in events), events


def test_per_address_limit_uses_the_trusted_forwarded_for_address(make_broker):
    port = helpers.free_port()
    b = make_broker(options=["max_connections_per_address 1"],
                    extra_listeners=[(port, ["protocol websockets", "websocket_trusted_proxy 127.0.0.1"])])
    held = []
    try:
        for client in ("203.0.113.21", "203.0.113.22"):   # two clients behind the same proxy: both admitted
            status, s = upgrade(port, extra="X-Forwarded-For: %s\r\n" % client)
            held.append(s)
            assert status == 101
        status, s = upgrade(port, extra="X-Forwarded-For: 203.0.113.21\r\n")   # a second from the first
        held.append(s)
        assert status == 101   # the upgrade completes; the admission (which needs the address) follows
        s.settimeout(helpers.WAIT)
        closing = s.recv(16)
        assert closing == b"" or closing[0] == 0x88, closing   # closed (WebSocket close frame, then EOF)
        helpers.wait_until(lambda: "refusing connection from 203.0.113.21: max_connections_per_address" in b.log(),
                           "the refusal naming the forwarded address")
        assert "refusing connection from 127.0.0.1" not in b.log()
    finally:
        for s in held:
            s.close()
