"""
10 Malformed input over raw sockets: every violation gets the right MQTT 5 reason code in a DISCONNECT (or a
CONNACK when the CONNECT itself is bad), a 3.1.1 connection is simply closed, and other clients carry on.
Expected reason codes follow the 5.0 standard: Malformed Packet (0x81) where the bytes cannot be parsed as
the packet type requires, Protocol Error (0x82) where they parse but break a rule.
"""
import struct

import pytest

import helpers as h
from helpers import V311, V5

MAL, PROTO = 0x81, 0x82


def _publish_raw_topic(topic_bytes, version, props=b"\x00", qos=0):
    body = struct.pack(">H", len(topic_bytes)) + topic_bytes
    if qos:
        body += b"\x00\x01"
    if version == V5:
        body += props
    return h.packet(h.PUBLISH, qos << 1, body + b"payload")


def _props_raw(raw_bytes):
    return h.vbi(len(raw_bytes)) + raw_bytes


# name -> (builder(version) -> bytes, expected v5 reason codes, applies to 3.1.1 too)
AFTER_CONNECT = {
    "reserved_type_0": (lambda v: b"\x00\x00", {MAL, PROTO}, True),
    "reserved_type_15_in_311": (lambda v: b"\xf0\x00", None, "311only"),
    "publish_qos_3": (lambda v: h.packet(h.PUBLISH, 0x06, h.mstr("a") + b"\x00\x01" + (b"\x00" if v == V5 else b"")),
                      {MAL}, True),
    "subscribe_flags_0": (lambda v: bytes([0x80]) + h.subscribe(1, [("a", 0)], version=v)[1:], {MAL}, True),
    "unsubscribe_flags_0": (lambda v: bytes([0xA0]) + h.unsubscribe(1, ["a"], version=v)[1:], {MAL}, True),
    "pubrel_flags_0": (lambda v: b"\x60\x02\x00\x01", {MAL}, True),
    "pingreq_flags": (lambda v: b"\xc1\x00", {MAL}, True),
    "pingreq_with_body": (lambda v: b"\xc0\x01\x00", {MAL}, True),
    "disconnect_flags": (lambda v: b"\xe1\x00", {MAL}, True),
    "remaining_length_5_bytes": (lambda v: b"\x30\xff\xff\xff\xff\x7f", {MAL}, True),
    "topic_length_overrun": (lambda v: b"\x30\x05\x00\x64abc", {MAL}, True),
    "topic_invalid_utf8": (lambda v: _publish_raw_topic(b"a/\xff", v), {MAL}, True),
    "topic_overlong_utf8": (lambda v: _publish_raw_topic(b"a/\xc0\xaf", v), {MAL}, True),
    "topic_surrogate": (lambda v: _publish_raw_topic(b"a/\xed\xa0\x80", v), {MAL}, True),
    "topic_nul": (lambda v: _publish_raw_topic(b"a\x00b", v), {MAL}, True),
    "topic_wildcard_plus": (lambda v: _publish_raw_topic(b"a/+", v), {MAL, PROTO, 0x90}, True),
    "topic_wildcard_hash": (lambda v: _publish_raw_topic(b"a/#", v), {MAL, PROTO, 0x90}, True),
    "publish_empty_topic_no_alias": (lambda v: _publish_raw_topic(b"", v), {PROTO, MAL}, True),
    "publish_qos1_packet_id_0": (lambda v: h.packet(h.PUBLISH, 0x02, h.mstr("a") + b"\x00\x00" +
                                                    (b"\x00" if v == V5 else b"")), {MAL, PROTO}, True),
    "subscribe_no_filters": (lambda v: h.packet(h.SUBSCRIBE, 2, b"\x00\x01" + (b"\x00" if v == V5 else b"")),
                             {PROTO, MAL}, True),
    "unsubscribe_no_filters": (lambda v: h.packet(h.UNSUBSCRIBE, 2, b"\x00\x01" + (b"\x00" if v == V5 else b"")),
                               {PROTO, MAL}, True),
    "subscribe_packet_id_0": (lambda v: h.subscribe(0, [("a", 0)], version=v), {MAL, PROTO}, True),
    "subscribe_qos_3": (lambda v: h.subscribe(1, [("a", 3)], version=v), {MAL, PROTO}, True),
    "subscribe_reserved_option_bits": (lambda v: h.subscribe(1, [("a", 0xC0)], version=v), {MAL}, True),
    "subscribe_311_reserved_bits": (lambda v: h.subscribe(1, [("a", 0x04)], version=v), None, "311only"),
    "subscribe_retain_handling_3": (lambda v: h.subscribe(1, [("a", 0x30)], version=v), {MAL, PROTO}, "v5only"),
    "subscribe_filter_hash_not_last": (lambda v: h.subscribe(1, [("a/#/b", 0)], version=v), {MAL, PROTO, 0x8F},
                                       True),
    "subscribe_filter_plus_inside_level": (lambda v: h.subscribe(1, [("a/b+/c", 0)], version=v),
                                           {MAL, PROTO, 0x8F}, True),
    "subscribe_filter_empty": (lambda v: h.subscribe(1, [("", 0)], version=v), {MAL, PROTO, 0x8F}, True),
    "subscribe_filter_bad_utf8": (lambda v: h.subscribe(1, [(b"a/\xff", 0)], version=v), {MAL}, True),
    "unsubscribe_filter_bad_utf8": (lambda v: h.unsubscribe(1, [b"a/\xc3"], version=v), {MAL}, True),
    "duplicate_payload_format": (lambda v: h.publish("a", b"x", props=[(1, 1), (1, 1)]), {PROTO}, "v5only"),
    "duplicate_message_expiry": (lambda v: h.publish("a", b"x", props=[(2, 1), (2, 5)]), {PROTO}, "v5only"),
    "property_wrong_packet": (lambda v: h.publish("a", b"x", props=[(h.P_SESSION_EXPIRY, 5)]), {MAL, PROTO},
                              "v5only"),
    "property_unknown_id": (lambda v: _publish_raw_topic(b"a", v, props=_props_raw(b"\x7f\x00")), {MAL, PROTO},
                            "v5only"),
    "property_length_overrun": (lambda v: _publish_raw_topic(b"a", v, props=b"\x40\x01\x01"), {MAL}, "v5only"),
    "payload_format_value_2": (lambda v: h.publish("a", b"x", props=[(1, 2)]), {MAL, PROTO}, "v5only"),
    "subscription_id_from_client_publish": (lambda v: h.publish("a", b"x", props=[(h.P_SUB_ID, 5)]),
                                            {MAL, PROTO}, "v5only"),
    "subscription_id_zero": (lambda v: h.subscribe(1, [("a", 0)], props=[(h.P_SUB_ID, 0)]), {MAL, PROTO},
                             "v5only"),
    "user_property_bad_utf8": (lambda v: _publish_raw_topic(
        b"a", v, props=_props_raw(b"\x26\x00\x01\xff\x00\x01v")), {MAL}, "v5only"),
    "auth_without_method": (lambda v: b"\xf0\x02\x18\x00", {PROTO}, "v5only"),
    "auth_flags": (lambda v: b"\xf1\x02\x18\x00", {MAL, PROTO}, "v5only"),
    "response_topic_bad_utf8": (lambda v: _publish_raw_topic(b"a", v, props=_props_raw(b"\x08\x00\x02r\xff")),
                                {MAL}, "v5only"),
    "response_topic_wildcard": (lambda v: h.publish("a", b"x", props=[(h.P_RESPONSE_TOPIC, "r/#")]), {MAL, PROTO},
                                "v5only"),
    "content_type_bad_utf8": (lambda v: _publish_raw_topic(b"a", v, props=_props_raw(b"\x03\x00\x01\xc0")),
                              {MAL}, "v5only"),
    "client_sends_connack": (lambda v: b"\x20\x03\x00\x00\x00" if v == V5 else b"\x20\x02\x00\x00",
                             {MAL, PROTO}, True),
    "client_sends_suback": (lambda v: b"\x90\x04\x00\x01\x00\x00" if v == V5 else b"\x90\x03\x00\x01\x00",
                            {MAL, PROTO}, True),
    "puback_too_short": (lambda v: b"\x40\x01\x00", {MAL}, True),
    "second_connect": (lambda v: h.connect("again", version=v), {PROTO}, True),
}


def _applies(kind, version):
    if kind == "311only":
        return version == V311
    if kind == "v5only":
        return version == V5
    return True


CASES = [(name, v) for name, (_, _, kind) in AFTER_CONNECT.items() for v in (V311, V5) if _applies(kind, v)]


@pytest.fixture
def observer(broker, raw, topic):
    """A healthy client subscribed to a topic, plus a function proving it still gets messages."""
    obs = raw(broker, V5)
    obs.connect("observer")
    obs.subscribe([(topic + "/obs", 1)])

    def still_served(n):
        pub = raw(broker, V5)
        pub.connect("observer-pub-%d" % n)
        pub.pub(topic + "/obs", b"alive-%d" % n, qos=1)
        m = obs.next_publish()
        assert m.payload == b"alive-%d" % n
        obs.send(h.pingreq())
        obs.expect(h.PINGRESP)
        return True
    return still_served


def _check_rejected(r, version, codes):
    packets = r.until_closed()
    if version == V5:
        discs = [p for p in packets if p.type == h.DISCONNECT]
        assert discs, "closed without DISCONNECT; got %r" % packets
        assert discs[-1].reason in codes, "DISCONNECT 0x%02x not in %s" % (
            discs[-1].reason, ["0x%02x" % c for c in sorted(codes)])
        assert packets[-1] is discs[-1], "packets after DISCONNECT: %r" % packets
        assert not [p for p in packets if p.type == h.CONNACK], "a second CONNACK: %r" % packets
    else:
        assert not [p for p in packets if p.type in (h.DISCONNECT, h.SUBACK, h.PINGRESP)], packets


@pytest.mark.parametrize("name,version", CASES, ids=["%s-v%d" % c for c in CASES])
def test_violation_after_connect(broker, raw, observer, name, version):
    build, codes, _ = AFTER_CONNECT[name]
    r = raw(broker, version)
    r.connect("violator")
    r.send(build(version))
    _check_rejected(r, version, codes)
    assert observer(1)


def _truncated_connect(version):
    """A CONNECT whose client identifier claims 6 bytes while the packet ends after 4 of them."""
    body = h.connect("abcdef", version=version)[2:-2]
    return h.packet(h.CONNECT, 0, body)


CONNECT_CASES = {
    # name -> (bytes, expected v5 CONNACK reason codes or None when only a close is acceptable)
    "connect_reserved_flag": (lambda v: h.connect("c", version=v, flags_extra=0x01), {MAL}),
    "connect_will_qos_3": (lambda v: h.connect("c", version=v, will={"topic": "w", "payload": b"x", "qos": 3}),
                           {MAL}),
    # the standard names no error class for these two (3.1.2-11, 3.1.2-13): either is a fair answer
    "connect_will_qos_without_will": (lambda v: h.connect("c", version=v, flags_extra=0x08), {MAL, PROTO}),
    "connect_will_retain_without_will": (lambda v: h.connect("c", version=v, flags_extra=0x20), {MAL, PROTO}),
    "connect_client_id_bad_utf8": (lambda v: h.connect(b"\xff\xfe", version=v), {MAL, 0x85}),
    "connect_will_flag_without_will_fields": (lambda v: h.connect("c", version=v, flags_extra=0x04), {MAL}),
    "connect_username_flag_without_username": (lambda v: h.connect("c", version=v, flags_extra=0x80), {MAL}),
    "connect_password_flag_without_password_v5": (lambda v: h.connect("c", version=v, flags_extra=0x40), {MAL}),
    "connect_will_topic_bad_utf8": (lambda v: h.connect("c", version=v, will={"topic": b"w\xff", "payload": b""}),
                                    {MAL}),
    "connect_username_bad_utf8": (lambda v: h.connect("c", version=v, username=b"u\xed\xa0\x80"), {MAL}),
    "connect_truncated_payload": (lambda v: _truncated_connect(v), {MAL}),
    "connect_receive_maximum_0": (lambda v: h.connect("c", version=v, props=[(h.P_RECEIVE_MAX, 0)]),
                                  {MAL, PROTO}),
    "connect_maximum_packet_size_0": (lambda v: h.connect("c", version=v, props=[(h.P_MAX_PACKET, 0)]),
                                      {MAL, PROTO}),
    "connect_duplicate_session_expiry": (lambda v: h.connect("c", version=v, props=[(h.P_SESSION_EXPIRY, 1),
                                                                                     (h.P_SESSION_EXPIRY, 2)]),
                                         {PROTO}),
    "connect_request_response_info_2": (lambda v: h.connect("c", version=v, props=[(h.P_REQ_RESPONSE, 2)]),
                                        {MAL, PROTO}),
    "connect_auth_data_without_method": (lambda v: h.connect("c", version=v, props=[(h.P_AUTH_DATA, b"x")]),
                                         {PROTO}),
    "connect_topic_alias_in_connect": (lambda v: h.connect("c", version=v, props=[(h.P_TOPIC_ALIAS, 1)]),
                                       {MAL, PROTO}),
    "connect_will_topic_wildcard": (lambda v: h.connect("c", version=v, will={"topic": "w/#", "payload": b""}),
                                    {MAL, PROTO, 0x90}),
    "connect_flags_password_without_username_311": (lambda v: h.connect("c", version=v, password=b"pw"), None),
}
CONNECT_PARAMS = [(n, v) for n in CONNECT_CASES for v in (V311, V5)
                  if not (n.startswith("connect_receive") or n.startswith("connect_maximum")
                          or n.startswith("connect_duplicate") or n.startswith("connect_request")
                          or n.startswith("connect_auth") or n.startswith("connect_topic_alias")) or v == V5]
CONNECT_PARAMS = [(n, v) for n, v in CONNECT_PARAMS if not (n.endswith("_311") and v == V5)
                  and not (n.endswith("_v5") and v == V311)]


@pytest.mark.parametrize("name,version", CONNECT_PARAMS, ids=["%s-v%d" % c for c in CONNECT_PARAMS])
def test_bad_connect(broker, raw, observer, name, version):
    build, codes = CONNECT_CASES[name]
    r = raw(broker, version)
    r.send(build(version))
    packets = r.until_closed()
    assert all(p.type == h.CONNACK for p in packets) and len(packets) <= 1, packets
    if packets:
        assert packets[0].reason != 0
    if version == V5 and codes is not None and packets:
        assert packets[0].reason in codes, "CONNACK 0x%02x" % packets[0].reason
    assert observer(2)


def test_garbage_before_connect_closes(broker, raw, observer):
    r = raw(broker, V5)
    r.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    packets = r.until_closed()
    assert all(p.type in (h.CONNACK, h.DISCONNECT) for p in packets)
    assert observer(3)


def test_connect_split_bytes_then_violation(broker, raw, observer, topic):
    r = raw(broker, V5)
    for byte in h.connect("split-violator"):
        r.send(bytes([byte]))
    assert r.expect(h.CONNACK).reason == 0
    r.send(b"\x30")
    r.send(b"\xff\xff\xff\xff")
    r.send(b"\x7f")
    _check_rejected(r, V5, {MAL})
    assert observer(4)


def test_many_violators_do_not_harm_broker(broker, raw, observer):
    for i, name in enumerate(sorted(AFTER_CONNECT)):
        build, codes, kind = AFTER_CONNECT[name]
        v = V311 if kind == "311only" else V5
        r = raw(broker, v)
        r.connect("many-%d" % i)
        r.send(build(v))
        r.until_closed()
        r.close()
    assert observer(5)


def test_partial_packets_then_abrupt_close(broker, raw, observer, topic):
    # Connections that vanish mid-packet (fixed header only, half a body, half a CONNECT) leave nothing behind:
    # the sanitizer build checks for leaks when the broker stops at teardown.
    pieces = [h.publish(topic, b"x" * 1000, qos=1, pid=3)[:2], h.publish(topic, b"x" * 1000, qos=1, pid=3)[:500],
              h.subscribe(1, [(topic, 1)])[:5]]
    for i, piece in enumerate(pieces):
        r = raw(broker, V5)
        r.connect("partial-%d" % i)
        r.send(piece)
        r.close()
    half = raw(broker, V5)
    half.send(h.connect("half-connect", props=[(h.P_USER, ("k", "v" * 100))])[:40])
    half.close()
    assert observer(6)
