"""
Client addresses behind proxies (docs/tls.md): the PROXY protocol (v1 and v2) accepted only from configured
proxy addresses and consumed byte-exactly (plain and under TLS), and X-Forwarded-For believed only from
trusted proxies on WebSocket listeners.
"""
import socket
import ssl
import struct

import pytest

import helpers
import tlsca

from test_31_websocket import upgrade


def proxy_broker(make_broker, options):
    port = helpers.free_port()
    b = make_broker(extra_listeners=[(port, list(options))])
    return b, port


def connack_after(sock, prefix):
    sock.sendall(prefix + helpers.connect(client_id="proxied", version=helpers.V311))
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
