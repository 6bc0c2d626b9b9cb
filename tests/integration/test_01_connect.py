"""01 CONNECT: protocol versions, client identifiers, clean start, session present, takeover, keep alive."""
import time

import pytest

import helpers as h
from helpers import V311, V5


def test_v311_and_v5_clients_connect(broker, client):
    for version in (V311, V5):
        c = client(broker, "c-%d" % version, version=version)
        flags, rc, _ = c.connect()
        assert rc == 0
        c.disconnect()


def test_raw_v311_connack_bytes(broker, raw):
    r = raw(broker, V311)
    r.send(h.connect("raw311", version=V311))
    p = r.expect(h.CONNACK)
    assert p.raw == b"\x20\x02\x00\x00"


def test_raw_v5_connack_is_v5(broker, raw):
    r = raw(broker, V5)
    p = r.connect("raw5")
    assert p.raw[0] == 0x20
    assert p.reason == 0
    assert not p.session_present
    assert p.prop(h.P_RESPONSE_INFO) is None          # not requested [MQTT-3.1.2-28]
    assert p.prop(h.P_AUTH_METHOD) is None            # no enhanced auth asked for [MQTT-4.12.0-6]
    assert p.prop(h.P_MAX_QOS) in (None, 2)            # QoS 2 is supported
    assert p.prop(h.P_SERVER_KEEP_ALIVE) in (None, 60)
    assert p.prop(h.P_ASSIGNED_ID) is None


def test_unsupported_level_in_v311_form_gets_0x01_and_close(broker, raw):
    # A CONNECT with protocol name MQTT but level 2: a 3.1.1 server answers return code 0x01 and closes.
    r = raw(broker, V311)
    r.send(h.packet(h.CONNECT, 0, h.mstr("MQTT") + bytes([2, 2]) + b"\x00\x3c" + h.mstr("badlevel")))
    packets = r.until_closed()
    assert len(packets) == 1 and packets[0].type == h.CONNACK
    assert packets[0].raw == b"\x20\x02\x00\x01"


def test_unsupported_level_6_refused_and_closed(broker, raw):
    # Level 6 does not exist: the server refuses with 0x01 (3.1.1 form) or 0x84 (5.0 form) and closes.
    r = raw(broker, V311)
    r.send(h.packet(h.CONNECT, 0, h.mstr("MQTT") + bytes([6, 2]) + b"\x00\x3c" + b"\x00" + h.mstr("lvl6")))
    packets = r.until_closed()
    assert len(packets) == 1 and packets[0].type == h.CONNACK
    assert packets[0].raw in (b"\x20\x02\x00\x01", b"\x20\x03\x00\x84\x00")


def test_wrong_protocol_name_closes(broker, raw):
    r = raw(broker, V311)
    r.send(h.connect("badname", version=V311, proto_name="MQTX"))
    packets = r.until_closed()
    assert all(p.type == h.CONNACK and p.reason != 0 for p in packets)


def test_first_packet_not_connect_closes(broker, raw):
    r = raw(broker, V5)
    r.send(h.pingreq())
    packets = r.until_closed()
    assert all(p.type != h.PINGRESP for p in packets)


def test_second_connect_is_protocol_error_v5(broker, raw):
    r = raw(broker, V5)
    r.connect("twice5")
    r.send(h.connect("twice5"))
    r.expect_disconnect(0x82)
    assert h.ping_ok(broker)


def test_second_connect_closes_v311(broker, raw):
    r = raw(broker, V311)
    r.connect("twice311")
    r.send(h.connect("twice311", version=V311))
    r.expect_disconnect(None)


def test_reserved_connect_flag_closes(broker, raw):
    r = raw(broker, V5)
    r.send(h.connect("reserved", flags_extra=0x01))
    packets = r.until_closed()
    assert all(p.type in (h.CONNACK, h.DISCONNECT) and p.reason != 0 for p in packets)


def test_zero_length_id_v5_gets_assigned_identifier(broker, raw):
    r = raw(broker, V5)
    p = r.connect("")
    assigned = p.prop(h.P_ASSIGNED_ID)
    assert assigned, "no Assigned Client Identifier in CONNACK"
    # The assigned identifier is a usable, distinct identity: a second anonymous client gets another one.
    r2 = h.Raw(broker, V5)
    try:
        p2 = r2.connect("")
        assert p2.prop(h.P_ASSIGNED_ID) and p2.prop(h.P_ASSIGNED_ID) != assigned
    finally:
        r2.close()


def test_zero_length_id_v311_clean_session_accepted(broker, raw):
    r = raw(broker, V311)
    r.send(h.connect("", version=V311, clean=True))
    assert r.expect(h.CONNACK).raw == b"\x20\x02\x00\x00"
    r.send(h.pingreq())
    r.expect(h.PINGRESP)


def test_zero_length_id_v311_persistent_refused_0x02(broker, raw):
    r = raw(broker, V311)
    r.send(h.connect("", version=V311, clean=False))
    packets = r.until_closed()
    assert [p.raw for p in packets] == [b"\x20\x02\x00\x02"]


def test_zero_length_id_refused_when_disallowed(make_broker, raw):
    b = make_broker(["allow_zero_length_clientid false"])
    r = raw(b, V5)
    r.send(h.connect(""))
    packets = r.until_closed()
    assert len(packets) == 1 and packets[0].type == h.CONNACK and packets[0].reason == 0x85
    assert not packets[0].session_present
    r3 = raw(b, V311)
    r3.send(h.connect("", version=V311))
    assert [p.raw for p in r3.until_closed()] == [b"\x20\x02\x00\x02"]


def test_session_present_v5(broker, raw):
    r = raw(broker, V5)
    p = r.connect("sp5", clean=True, props=[(h.P_SESSION_EXPIRY, 300)])
    assert not p.session_present
    r.subscribe([("sp5/t", 1)])
    r.send(h.disconnect())
    r.close()
    r = raw(broker, V5)
    p = r.connect("sp5", clean=False, props=[(h.P_SESSION_EXPIRY, 300)])
    assert p.session_present
    r.send(h.disconnect())
    r.close()
    r = raw(broker, V5)
    p = r.connect("sp5", clean=True, props=[(h.P_SESSION_EXPIRY, 0)])
    assert not p.session_present


def test_session_present_v311(broker, raw):
    r = raw(broker, V311)
    p = r.connect("sp311", clean=False)
    assert not p.session_present
    r.subscribe([("sp311/t", 1)])
    r.send(h.disconnect())
    r.close()
    r = raw(broker, V311)
    assert r.connect("sp311", clean=False).session_present
    r.send(h.disconnect())
    r.close()
    r = raw(broker, V311)
    assert not r.connect("sp311", clean=True).session_present


def test_v5_no_session_without_expiry(broker, raw):
    # Session Expiry Interval absent = 0: the session ends with the connection.
    r = raw(broker, V5)
    r.connect("noexp", clean=False)
    r.subscribe([("noexp/t", 1)])
    r.send(h.disconnect())
    r.close()
    r = raw(broker, V5)
    assert not r.connect("noexp", clean=False).session_present


def test_takeover_v5_old_gets_0x8e(broker, raw):
    old = raw(broker, V5)
    old.connect("dup-id")
    new = raw(broker, V5)
    new.connect("dup-id")
    old.expect_disconnect(0x8E)
    new.send(h.pingreq())
    new.expect(h.PINGRESP)


def test_takeover_v311_old_closed(broker, raw):
    old = raw(broker, V311)
    old.connect("dup-311")
    new = raw(broker, V311)
    new.connect("dup-311")
    old.expect_disconnect(None)
    new.send(h.pingreq())
    new.expect(h.PINGRESP)


def test_takeover_keeps_session_subscriptions(broker, raw, topic):
    old = raw(broker, V5)
    old.connect("keep-sub", clean=True, props=[(h.P_SESSION_EXPIRY, 300)])
    old.subscribe([(topic, 1)])
    new = raw(broker, V5)
    p = new.connect("keep-sub", clean=False, props=[(h.P_SESSION_EXPIRY, 300)])
    assert p.session_present
    old.expect_disconnect(0x8E)
    pub = raw(broker, V5)
    pub.connect("keep-sub-pub")
    pub.send(h.publish(topic, b"after-takeover", qos=1, pid=7))
    pub.expect(h.PUBACK)
    m = new.expect(h.PUBLISH)
    assert m.topic == topic and m.payload == b"after-takeover"


@pytest.mark.parametrize("version", [V311, V5])
def test_keepalive_silent_client_is_disconnected_and_will_sent(broker, raw, client, topic, version):
    watcher = client(broker, "ka-watch")
    watcher.connect()
    watcher.subscribe(topic + "/will", qos=1)
    r = raw(broker, version)
    r.connect("ka-silent", keepalive=1, will={"topic": topic + "/will", "payload": b"gone", "qos": 1})
    packets = r.until_closed(timeout=h.WAIT)
    discs = [p for p in packets if p.type == h.DISCONNECT]
    assert all(d.reason == 0x8D for d in discs)
    m = watcher.get()
    assert m.topic == topic + "/will" and m.payload == b"gone"


def test_keepalive_pings_within_one_and_a_half_keep_alive(broker, raw):
    # Keep alive 6 s: pings 7.5 s apart are past the keep alive but inside the 1.5x grace (9 s), so the
    # connection stays; the second ping (15 s after CONNECT) shows each ping restarts the grace. The margins
    # (1.5 s either side) are wide enough for a loaded machine that stalls the test or the broker for a while.
    r = raw(broker, V5)
    r.connect("ka-grace", keepalive=6)
    for _ in range(2):
        time.sleep(7.5)
        r.send(h.pingreq())
        r.expect(h.PINGRESP)


def test_server_keep_alive_when_max_keepalive_set(make_broker, raw):
    b = make_broker(["max_keepalive 30"])
    r = raw(b, V5)
    p = r.connect("ska", keepalive=600)
    assert p.prop(h.P_SERVER_KEEP_ALIVE) == 30
    r2 = raw(b, V5)
    p2 = r2.connect("ska0", keepalive=0)
    assert p2.prop(h.P_SERVER_KEEP_ALIVE) == 30


def test_clean_start_discards_session(broker, raw, client, topic):
    r = raw(broker, V5)
    r.connect("cs-discard", clean=True, props=[(h.P_SESSION_EXPIRY, 300)])
    r.subscribe([(topic, 1)])
    r.send(h.disconnect())
    r.close()
    r = raw(broker, V5)
    assert not r.connect("cs-discard", clean=True, props=[(h.P_SESSION_EXPIRY, 300)]).session_present
    pub = client(broker, "cs-pub")
    pub.connect()
    pub.publish(topic, b"x", qos=1)
    r.subscribe([(topic + "/marker", 1)], pid=2)
    pub.publish(topic + "/marker", b"m", qos=1)
    m = r.expect(h.PUBLISH)
    assert m.topic == topic + "/marker"


def test_ping_and_normal_disconnect(broker, raw):
    r = raw(broker, V311)
    r.connect("pinger", version=V311)
    r.send(h.pingreq())
    assert r.expect(h.PINGRESP).raw == b"\xd0\x00"
    r.send(h.disconnect())
    assert r.until_closed() == []


def test_client_id_23_alphanumerics_accepted(broker, raw):
    for version in (V311, V5):
        r = raw(broker, version)
        r.connect("0123456789abcdefghijXYZ")
        r.send(h.pingreq())
        r.expect(h.PINGRESP)
        r.send(h.disconnect())


def test_long_client_id_accepted(broker, raw):
    r = raw(broker, V5)
    r.connect("x" * 200)


def test_rejected_connect_following_data_ignored(broker, raw, topic):
    # A refused CONNECT (level 2) followed in the same write by a retained PUBLISH: the PUBLISH is never processed.
    r = raw(broker, V311)
    bad = h.packet(h.CONNECT, 0, h.mstr("MQTT") + bytes([2, 2]) + b"\x00\x3c" + h.mstr("refused"))
    r.send(bad + h.publish(topic, b"smuggled", qos=0, retain=True, version=V311))
    r.until_closed()
    sub = raw(broker, V5)
    sub.connect("smuggle-check")
    sub.subscribe([(topic, 0), (topic + "/m", 0)])
    sub.pub(topic + "/m", b"m", qos=1)
    assert [p.topic for p in sub.publishes_until(topic + "/m")] == [topic + "/m"]


def test_connect_deadline_closes_silent_socket(broker, raw):
    # A TCP connection that never sends CONNECT is closed by the broker's CONNECT deadline.
    r = raw(broker, V5)
    assert r.until_closed(timeout=h.WAIT * 6) == []
    assert h.ping_ok(broker)


def test_connect_deadline_closes_partial_connect(broker, raw):
    # Half a CONNECT (a slowloris) does not hold the connection open past the deadline either.
    r = raw(broker, V5)
    r.send(h.connect("partial")[:6])
    assert r.until_closed(timeout=h.WAIT * 6) == []


def test_shutdown_sends_0x8b_to_v5_and_closes_v311(make_broker, raw):
    b = make_broker()
    r5 = raw(b, V5)
    r5.connect("down5")
    r3 = raw(b, V311)
    r3.connect("down311")
    problems = b.stop()
    assert problems == [], problems
    r5.expect_disconnect(0x8B)
    r3.expect_disconnect(None)


def test_takeover_across_protocol_versions(broker, raw, topic):
    # A 3.1.1 connection takes over a v5 session and the reverse; the session (and its subscription) survives.
    v5 = raw(broker, V5)
    v5.connect("cross", clean=True, props=[(h.P_SESSION_EXPIRY, 300)])
    v5.subscribe([(topic, 1)])
    v3 = raw(broker, V311)
    assert v3.connect("cross", version=V311, clean=False).session_present
    v5.expect_disconnect(0x8E)
    pub = raw(broker, V5)
    pub.connect("cross-pub")
    pub.pub(topic, b"to-311", qos=1)
    assert v3.next_publish().payload == b"to-311"
    back = raw(broker, V5)
    assert back.connect("cross", clean=False, props=[(h.P_SESSION_EXPIRY, 300)]).session_present
    v3.expect_disconnect(None)
    pub.pub(topic, b"to-5", qos=1)
    assert back.next_publish().payload == b"to-5"
