"""00 The harness itself: the raw packet builder and reader against bytes derived by hand from the standards."""
import helpers as h


def test_variable_byte_integer_boundaries():
    # MQTT 5.0 table 1-1 / 3.1.1 table 2.4: the boundaries of 1..4-byte encodings
    assert h.vbi(0) == b"\x00"
    assert h.vbi(127) == b"\x7f"
    assert h.vbi(128) == b"\x80\x01"
    assert h.vbi(16383) == b"\xff\x7f"
    assert h.vbi(16384) == b"\x80\x80\x01"
    assert h.vbi(2097151) == b"\xff\xff\x7f"
    assert h.vbi(2097152) == b"\x80\x80\x80\x01"
    assert h.vbi(268435455) == b"\xff\xff\xff\x7f"
    for n in (0, 1, 127, 128, 300, 16384, 268435455):
        assert h.decode_vbi(h.vbi(n), 0) == (n, len(h.vbi(n)))


def test_connect_v311_bytes():
    # 3.1.1 section 3.1: "MQTT", level 4, flags clean session, keep alive 60, client id "a"
    assert h.connect("a", version=4, keepalive=60) == \
        b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x3c\x00\x01a"


def test_connect_v5_bytes_with_properties_and_will():
    got = h.connect("c", version=5, keepalive=10, props=[(h.P_SESSION_EXPIRY, 300)],
                    will={"topic": "w", "payload": b"x", "qos": 1, "retain": True, "props": [(h.P_WILL_DELAY, 5)]})
    body = (b"\x00\x04MQTT\x05" + bytes([0x02 | 0x04 | 0x08 | 0x20]) + b"\x00\x0a"
            + b"\x05\x11\x00\x00\x01\x2c"            # properties: session expiry 300
            + b"\x00\x01c"                            # client id
            + b"\x05\x18\x00\x00\x00\x05"            # will properties: will delay 5
            + b"\x00\x01w" + b"\x00\x01x")           # will topic, will payload
    assert got == b"\x10" + bytes([len(body)]) + body


def test_publish_subscribe_and_acks_bytes():
    assert h.publish("a/b", b"hi", qos=1, pid=10, version=4) == b"\x32\x09\x00\x03a/b\x00\x0ahi"
    assert h.publish("t", b"", qos=0, version=5) == b"\x30\x04\x00\x01t\x00"
    assert h.publish("t", b"p", qos=2, pid=1, retain=True, dup=True, version=5,
                     props=[(h.P_TOPIC_ALIAS, 3)]) == b"\x3d\x0a\x00\x01t\x00\x01\x03\x23\x00\x03p"
    assert h.subscribe(1, [("a/#", 0x21)], version=5) == b"\x82\x09\x00\x01\x00\x00\x03a/#\x21"
    assert h.subscribe(2, [("x", 1)], version=4) == b"\x82\x06\x00\x02\x00\x01x\x01"
    assert h.unsubscribe(3, ["x"], version=5) == b"\xa2\x06\x00\x03\x00\x00\x01x"
    assert h.ack(h.PUBREL, 7) == b"\x62\x02\x00\x07"
    assert h.ack(h.PUBACK, 7, reason=0x10, props=[]) == b"\x40\x04\x00\x07\x10\x00"
    assert h.disconnect() == b"\xe0\x00"
    assert h.disconnect(0x04) == b"\xe0\x01\x04"
    assert h.pingreq() == b"\xc0\x00"


def test_property_order_and_duplicates_kept():
    enc = h.encode_props([(h.P_USER, ("k", "1")), (h.P_USER, ("k", "2")), (h.P_SUB_ID, 200)])
    props, end = h.decode_props(enc, 0)
    assert end == len(enc)
    assert props == [(h.P_USER, ("k", "1")), (h.P_USER, ("k", "2")), (h.P_SUB_ID, 200)]


def test_packet_reader_decodes_v5_publish_and_connack():
    raw = h.publish("t/x", b"body", qos=1, pid=9, version=5, props=[(h.P_CONTENT_TYPE, "a/b"), (h.P_SUB_ID, 5)])
    p = h.Packet(raw[0] >> 4, raw[0] & 15, raw[2:], 5)
    assert (p.topic, p.qos, p.pid, p.payload) == ("t/x", 1, 9, b"body")
    assert p.prop(h.P_CONTENT_TYPE) == "a/b" and p.prop_all(h.P_SUB_ID) == [5]
    c = h.Packet(2, 0, b"\x01\x00\x03\x21\x00\x0a", 5)
    assert c.session_present and c.reason == 0 and c.prop(h.P_RECEIVE_MAX) == 10
