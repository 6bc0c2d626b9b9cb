"""
WebSocket and secure WebSocket listeners (docs/tls.md): paho-mqtt over websockets (plain and TLS), MQTT.js
from Node over ws and wss, MQTT.js in headless Chromium over wss; the upgrade policy (path, Origin allowlist,
subprotocol) answered with HTTP statuses; protocol violations closed with the right close code; CRLs and mTLS
applying to wss exactly as to TLS; the listener binding exactly its configured address.
"""
import base64
import os
import socket
import ssl
import struct

import pytest

import helpers
import tlsca


@pytest.fixture(scope="module")
def ca():
    c = tlsca.TestCA()
    c.client("good")
    c.client("bad")
    c.revoke("bad")
    yield c
    c.cleanup()


def ws_broker(make_broker, options=(), ca=None, tls_options=None):
    """A broker with a plain listener and a (secure) WebSocket listener; returns (broker, ws port)."""
    port = helpers.free_port()
    opts = ["protocol websockets"] + list(options)
    if ca is not None:
        opts += tls_options if tls_options is not None else ca.server_options()
    b = make_broker(extra_listeners=[(port, opts)])
    return b, port


def test_paho_over_websocket(make_broker, topic):
    b, port = ws_broker(make_broker)
    c = tlsca.Paho(port, transport="websockets", host="127.0.0.1").connect()
    try:
        c.subscribe(topic)
        c.publish(topic, b"over-ws")
        assert c.get().payload == b"over-ws"
    finally:
        c.close()


def test_paho_over_secure_websocket_reaches_tcp_clients(make_broker, ca, topic):
    b, port = ws_broker(make_broker, ca=ca)
    c = tlsca.Paho(port, transport="websockets", tls=(ca, None)).connect()
    plain = tlsca.Paho(b.port, host="127.0.0.1").connect()
    try:
        c.subscribe(topic)
        plain.publish(topic, b"from-tcp")
        assert c.get().payload == b"from-tcp"
    finally:
        c.close()
        plain.close()


def test_wss_applies_mtls_and_crl_like_tls(make_broker, ca, topic):
    b, port = ws_broker(make_broker, ca=ca, tls_options=ca.mtls_options())
    good = tlsca.Paho(port, transport="websockets", tls=(ca, ca.client("good"))).connect()
    good.close()
    bad = tlsca.Paho(port, transport="websockets", tls=(ca, ca.client("bad")))
    with pytest.raises(Exception):
        bad.connect()
    bad.close()
    helpers.wait_until(lambda: "certificate revoked" in b.log(), "the revocation refusal on the wss listener")


def test_mqttjs_node_over_ws_and_wss(make_broker, ca, topic):
    port_ws = helpers.free_port()
    port_wss = helpers.free_port()
    make_broker(extra_listeners=[(port_ws, ["protocol websockets"]),
                                 (port_wss, ["protocol websockets"] + ca.server_options())])
    r = tlsca.node_roundtrip("ws://127.0.0.1:%d/mqtt" % port_ws, topic + "/ws")
    assert r.returncode == 0 and r.stdout.startswith("RECEIVED hello-from-node"), r.stdout + r.stderr
    r = tlsca.node_roundtrip("wss://localhost:%d/mqtt" % port_wss, topic + "/wss", ca=ca)
    assert r.returncode == 0 and r.stdout.startswith("RECEIVED hello-from-node"), r.stdout + r.stderr


def test_mqttjs_in_headless_chromium_over_wss(make_broker, ca, topic):
    b, port = ws_broker(make_broker, ca=ca)
    r = tlsca.chromium_roundtrip("wss://127.0.0.1:%d/mqtt" % port, topic, ca)
    assert r.returncode == 0 and r.stdout.strip() == "RECEIVED hello-from-chromium", r.stdout + r.stderr


def upgrade(port, path="/mqtt", origin=None, protocol="mqtt", extra="", ca=None, head_out=None):
    """Sends an upgrade request (over TLS when ca is given); returns (status code, socket left open). The
    answer's head goes into the list head_out when given."""
    key = base64.b64encode(os.urandom(16)).decode()
    req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n" % (path, key))
    if protocol:
        req += "Sec-WebSocket-Protocol: %s\r\n" % protocol
    if origin:
        req += "Origin: %s\r\n" % origin
    req += extra + "\r\n"
    if ca is not None:
        ok, s = tlsca.handshake(port, ca=ca)
        assert ok, s
    else:
        s = socket.create_connection(("127.0.0.1", port), timeout=helpers.WAIT)
    s.sendall(req.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            break
        head += chunk
    status = int(head.split(b" ")[1]) if head.startswith(b"HTTP/1.1 ") else 0
    if head_out is not None:
        head_out.append(head.decode("latin-1"))
    return status, s


HSTS = "\r\nStrict-Transport-Security: max-age=63072000; includeSubDomains\r\n"


@pytest.mark.parametrize("secure", [True, False])
def test_answers_carry_hsts_over_tls_and_security_headers_on_errors(make_broker, ca, secure):
    """What testssl's HSTS and security_headers checks look at (make tls-scan): every answer of a secure
    WebSocket listener carries HSTS; every error answer says no-sniff, no-store, no framing."""
    b, port = ws_broker(make_broker, ca=ca if secure else None)
    for path, want in [("/mqtt", 101), ("/", 404)]:
        heads = []
        status, s = upgrade(port, path=path, ca=ca if secure else None, head_out=heads)
        s.close()
        assert status == want, (path, status)
        assert (HSTS in heads[0]) == secure, heads[0]
        if want != 101:
            for header in ("X-Content-Type-Options: nosniff", "Cache-Control: no-store", "X-Frame-Options: DENY",
                           "Content-Security-Policy: default-src 'none'"):
                assert "\r\n" + header in heads[0], heads[0]


def test_upgrade_policy_answers(make_broker):
    b, port = ws_broker(make_broker, ["websocket_path /broker", "websocket_origin https://app.example"])
    for kwargs, want in [({"path": "/broker", "origin": "https://app.example"}, 101),
                         ({"path": "/mqtt", "origin": "https://app.example"}, 404),
                         ({"path": "/broker", "origin": "https://evil.example"}, 403),
                         ({"path": "/broker"}, 403),
                         ({"path": "/broker", "origin": "https://app.example", "protocol": "chat"}, 400)]:
        status, s = upgrade(port, **kwargs)
        s.close()
        assert status == want, (kwargs, status)
    assert "Origin not in the allowlist" in b.log()


def masked_frame(opcode, payload, fin=True):
    mask = os.urandom(4)
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    head += bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def read_frame(s):
    h = s.recv(2)
    n = h[1] & 0x7F
    if n == 126:
        n = struct.unpack(">H", s.recv(2))[0]
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return h[0] & 0x0F, data


def test_fragmented_connect_ping_and_close(make_broker):
    b, port = ws_broker(make_broker)
    status, s = upgrade(port)
    try:
        assert status == 101
        connect = helpers.connect(client_id="ws-frag", version=helpers.V311)
        s.sendall(masked_frame(2, connect[:5], fin=False))
        s.sendall(masked_frame(9, b"ping!"))
        s.sendall(masked_frame(0, connect[5:]))
        op, data = read_frame(s)
        assert (op, data) == (0xA, b"ping!")
        op, data = read_frame(s)
        assert op == 2 and data[:1] == b"\x20"  # CONNACK in a binary frame
        s.sendall(masked_frame(8, struct.pack(">H", 1000)))
        op, data = read_frame(s)
        assert op == 8 and data[:2] == struct.pack(">H", 1000)
    finally:
        s.close()


def test_unmasked_frame_closes_with_1002(make_broker):
    b, port = ws_broker(make_broker)
    status, s = upgrade(port)
    try:
        assert status == 101
        s.sendall(b"\x82\x02\x10\x00")
        op, data = read_frame(s)
        assert op == 8 and data[:2] == struct.pack(">H", 1002)
    finally:
        s.close()


def test_text_frame_closes_with_1003(make_broker):
    b, port = ws_broker(make_broker)
    status, s = upgrade(port)
    try:
        assert status == 101
        s.sendall(masked_frame(1, b"hello"))
        op, data = read_frame(s)
        assert op == 8 and data[:2] == struct.pack(">H", 1003)
    finally:
        s.close()


def test_websocket_listener_binds_exactly_its_address(make_broker):
    b, port = ws_broker(make_broker)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.2", port), timeout=helpers.WAIT).close()
    status, s = upgrade(port)
    s.close()
    assert status == 101
