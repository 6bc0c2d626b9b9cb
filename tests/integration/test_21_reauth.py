"""
test_21_reauth.py - MQTT 5 re-authentication [MQTT-4.12.1]: AUTH 0x19 after CONNACK with the CONNECT's
Authentication Method (SCRAM-SHA-256), run through the same authentication path as the CONNECT exchange. A raw
socket SCRAM client (RFC 5802, hashlib/hmac) against the sanitizer build with a real password file.
"""
import base64
import hashlib
import hmac
import json
import os

import pytest

import helpers
from helpers import AUTH, CONNACK, DISCONNECT, PUBACK, PINGRESP, V5, P_AUTH_DATA, P_AUTH_METHOD

pytestmark = pytest.mark.skipif(helpers.is_mosquitto(), reason="Rampart's SCRAM-SHA-256 authentication")

METHOD = "SCRAM-SHA-256"
ALICE_PW = "Blue-kettle-94-sings"
BOB_PW = "Red-teapot-31-hums"


def add_user(pw, user, password):
    import subprocess
    args = [helpers.RAMPART_BIN, "passwd", "--scram", "--stdin"] + ([] if pw.exists() else ["-c"]) + [str(pw), user]
    out = subprocess.run(args, input=password + "\n", capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


class Scram:
    """One SCRAM-SHA-256 exchange (client side): first() -> auth data, final(server_first) -> auth data,
    verify(server_final) -> bool."""

    def __init__(self, user, password):
        self.user, self.password = user, password
        self.cnonce = base64.b64encode(os.urandom(18)).decode()
        self.first_bare = "n=%s,r=%s" % (user, self.cnonce)

    def first(self):
        return ("n,," + self.first_bare).encode()

    def final(self, server_first):
        server_first = server_first.decode()
        attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
        assert attrs["r"].startswith(self.cnonce)
        self.salted = hashlib.pbkdf2_hmac("sha256", self.password.encode(), base64.b64decode(attrs["s"]),
                                          int(attrs["i"]))
        client_key = hmac.new(self.salted, b"Client Key", hashlib.sha256).digest()
        stored_key = hashlib.sha256(client_key).digest()
        without_proof = "c=biws,r=" + attrs["r"]
        self.auth_message = ",".join([self.first_bare, server_first, without_proof]).encode()
        signature = hmac.new(stored_key, self.auth_message, hashlib.sha256).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        return (without_proof + ",p=" + base64.b64encode(proof).decode()).encode()

    def verify(self, server_final):
        server_key = hmac.new(self.salted, b"Server Key", hashlib.sha256).digest()
        expect = "v=" + base64.b64encode(hmac.new(server_key, self.auth_message, hashlib.sha256).digest()).decode()
        return server_final == expect.encode()


def auth_packet(reason, data=None, method=METHOD):
    props = [(P_AUTH_METHOD, method)]
    if data is not None:
        props.append((P_AUTH_DATA, data))
    return helpers.packet(AUTH, 0, bytes([reason]) + helpers.encode_props(props))


def scram_connect(b, user, password, client_id):
    """A raw v5 connection authenticated with SCRAM at CONNECT."""
    r = helpers.Raw(b)
    sc = Scram(user, password)
    r.send(helpers.connect(client_id, props=[(P_AUTH_METHOD, METHOD), (P_AUTH_DATA, sc.first())]))
    p = r.expect(AUTH)
    assert p.reason == 0x18
    r.send(auth_packet(0x18, sc.final(p.prop(P_AUTH_DATA))))
    p = r.expect(CONNACK)
    assert p.reason == 0 and sc.verify(p.prop(P_AUTH_DATA))
    return r


@pytest.fixture
def scram_broker(make_broker, tmp_path):
    pw = tmp_path / "passwd"
    add_user(pw, "alice", ALICE_PW)
    add_user(pw, "bob", BOB_PW)
    audit = str(tmp_path / "audit.log")
    b = make_broker(options=["user root", "password_file %s" % pw, "audit_dest file " + audit], anonymous=False)
    b.audit_path = audit
    return b


def audit_events(b, name):
    if not os.path.exists(b.audit_path):
        return []
    return [ev for ev in map(json.loads, open(b.audit_path)) if ev.get("event") == name]


def test_reauthentication_succeeds_and_traffic_continues(scram_broker):
    r = scram_connect(scram_broker, "alice", ALICE_PW, "re-alice")
    try:
        assert r.subscribe([("re/topic", 1)]) == [1]
        sc = Scram("alice", ALICE_PW)
        r.send(auth_packet(0x19, sc.first()))
        p = r.expect(AUTH)
        assert p.reason == 0x18 and p.prop(P_AUTH_METHOD) == METHOD      # [MQTT-4.12.0-2], [MQTT-4.12.0-5]
        # The client may keep sending while re-authentication is in progress: the broker keeps serving it.
        r.send(helpers.publish("re/topic", b"during", qos=1, pid=5))
        r.wait_for(PUBACK, 5)
        got = r.next_publish()
        assert got.payload == b"during"
        r.send(auth_packet(0x18, sc.final(p.prop(P_AUTH_DATA))))
        p = r.expect(AUTH)
        assert p.reason == 0x00 and p.prop(P_AUTH_METHOD) == METHOD
        assert sc.verify(p.prop(P_AUTH_DATA))       # the client verified the server again
        r.send(helpers.pingreq())
        r.expect(PINGRESP)
        # And it can re-authenticate again later.
        sc = Scram("alice", ALICE_PW)
        r.send(auth_packet(0x19, sc.first()))
        p = r.expect(AUTH)
        r.send(auth_packet(0x18, sc.final(p.prop(P_AUTH_DATA))))
        assert r.expect(AUTH).reason == 0
        helpers.wait_until(lambda: len(audit_events(scram_broker, "reauth_success")) == 2, "two reauth_success")
    finally:
        r.close()


def test_reauthentication_with_wrong_password_disconnects(scram_broker):
    r = scram_connect(scram_broker, "alice", ALICE_PW, "re-wrong")
    try:
        sc = Scram("alice", ALICE_PW + "x")
        r.send(auth_packet(0x19, sc.first()))
        p = r.expect(AUTH)
        r.send(auth_packet(0x18, sc.final(p.prop(P_AUTH_DATA))))
        r.expect_disconnect(0x87)                   # [MQTT-4.12.1-2]
        helpers.wait_until(lambda: audit_events(scram_broker, "reauth_failure"), "a reauth_failure event")
    finally:
        r.close()


def test_reauthentication_as_another_user_disconnects(scram_broker):
    r = scram_connect(scram_broker, "alice", ALICE_PW, "re-other")
    try:
        r.send(auth_packet(0x19, Scram("bob", BOB_PW).first()))
        r.expect_disconnect(0x87)
    finally:
        r.close()


def test_reauthentication_with_another_method_is_protocol_error(scram_broker):
    r = scram_connect(scram_broker, "alice", ALICE_PW, "re-method")
    try:
        r.send(auth_packet(0x19, b"x", method="GSSAPI"))
        r.expect_disconnect(0x82)                   # [MQTT-4.12.1-1]
    finally:
        r.close()


def test_continue_without_reauthentication_is_protocol_error(scram_broker):
    r = scram_connect(scram_broker, "alice", ALICE_PW, "re-continue")
    try:
        r.send(auth_packet(0x18, b"c=biws"))
        r.expect_disconnect(0x82)
    finally:
        r.close()


def test_reauthentication_without_method_at_connect_is_protocol_error(scram_broker):
    r = helpers.Raw(scram_broker)
    try:
        r.send(helpers.connect("re-pw", username="alice", password=ALICE_PW))
        assert r.expect(CONNACK).reason == 0
        r.send(auth_packet(0x19, Scram("alice", ALICE_PW).first()))
        r.expect_disconnect(0x82)                   # [MQTT-4.12.0-7]
    finally:
        r.close()


def test_scram_connect_with_other_user_name_is_refused(scram_broker):
    """The ACL uses the CONNECT's User Name: it must be the user SCRAM authenticates."""
    r = helpers.Raw(scram_broker)
    try:
        sc = Scram("alice", ALICE_PW)
        r.send(helpers.connect("re-name", username="bob", props=[(P_AUTH_METHOD, METHOD), (P_AUTH_DATA, sc.first())]))
        p = r.recv()
        assert p.type == CONNACK and p.reason == 0x87
    finally:
        r.close()


def test_other_packet_during_enhanced_authentication_is_refused(scram_broker):
    """Before CONNACK only AUTH or DISCONNECT may come [MQTT-3.1.2-30]: a PUBLISH in the middle of the SCRAM
    exchange gets CONNACK 0x82 (Protocol Error) and the connection ends."""
    r = helpers.Raw(scram_broker)
    try:
        sc = Scram("alice", ALICE_PW)
        r.send(helpers.connect("mid-auth", props=[(P_AUTH_METHOD, METHOD), (P_AUTH_DATA, sc.first())]))
        assert r.expect(AUTH).reason == 0x18
        r.send(helpers.publish("t", b"x", qos=0))
        packets = r.until_closed()
        assert [(p.type, p.reason) for p in packets] == [(CONNACK, 0x82)]
    finally:
        r.close()
