"""08 MQTT 5 properties: carried end to end, topic aliases, message expiry, receive maximum, packet size."""
import socket
import time

import helpers as h
from helpers import V5
from paho.mqtt.packettypes import PacketTypes


def test_publish_properties_end_to_end(broker, raw, topic):
    sub = raw(broker, V5)
    sub.connect("props-sub")
    sub.subscribe([(topic, 1)])
    pub = raw(broker, V5)
    pub.connect("props-pub")
    sent = [(h.P_PAYLOAD_FORMAT, 1), (h.P_MESSAGE_EXPIRY, 3600), (h.P_CONTENT_TYPE, "application/json"),
            (h.P_RESPONSE_TOPIC, "resp/" + topic), (h.P_CORRELATION, b"\x00\xffcorr"),
            (h.P_USER, ("b", "2")), (h.P_USER, ("a", "1")), (h.P_USER, ("b", "3"))]
    pub.pub(topic, b'{"v":1}', qos=1, props=sent)
    m = sub.next_publish()
    assert m.payload == b'{"v":1}'
    assert m.prop(h.P_PAYLOAD_FORMAT) == 1
    assert 0 < m.prop(h.P_MESSAGE_EXPIRY) <= 3600
    assert m.prop(h.P_CONTENT_TYPE) == "application/json"
    assert m.prop(h.P_RESPONSE_TOPIC) == "resp/" + topic
    assert m.prop(h.P_CORRELATION) == b"\x00\xffcorr"
    assert m.prop_all(h.P_USER) == [("b", "2"), ("a", "1"), ("b", "3")]


def test_paho_properties_end_to_end(broker, client, topic):
    sub = client(broker, "paho-props-sub")
    sub.connect()
    sub.subscribe(topic, qos=2)
    pub = client(broker, "paho-props-pub")
    pub.connect()
    p = h.props(PacketTypes.PUBLISH, ContentType="text/plain", ResponseTopic="r/t",
                CorrelationData=b"id-1", UserProperty=[("x", "1"), ("y", "2")])
    pub.publish(topic, b"hi", qos=2, properties=p)
    m = sub.get()
    assert m.payload == b"hi"
    assert m.properties.ContentType == "text/plain"
    assert m.properties.ResponseTopic == "r/t"
    assert m.properties.CorrelationData == b"id-1"
    assert m.properties.UserProperty == [("x", "1"), ("y", "2")]


def test_no_properties_added_for_v311_subscriber(broker, raw, topic):
    sub = raw(broker, 4)
    sub.connect("v311-plain", version=4)
    sub.subscribe([(topic, 1)])
    pub = raw(broker, V5)
    pub.connect("v5-rich")
    pub.pub(topic, b"plain", qos=1, props=[(h.P_USER, ("k", "v")), (h.P_CONTENT_TYPE, "x")])
    m = sub.next_publish()
    assert m.payload == b"plain"
    # 3.1.1 PUBLISH body: topic, packet id, payload, nothing else
    assert m.body == h.mstr(topic) + h.struct.pack(">H", m.pid) + b"plain"


def test_message_expiry_retained_expires(broker, raw, topic):
    pub = raw(broker, V5)
    pub.connect("exp-ret")
    pub.pub(topic, b"short", qos=1, retain=True, props=[(h.P_MESSAGE_EXPIRY, 1)])
    pub.pub(topic + "/long", b"long", qos=1, retain=True, props=[(h.P_MESSAGE_EXPIRY, 600)])
    time.sleep(2.5)
    sub = raw(broker, V5)
    sub.connect("exp-ret-sub")
    sub.subscribe([(topic + "/#", 1), (topic, 1), (topic + "-m", 0)])
    pub.pub(topic + "-m", b"", qos=1)
    got = [p for p in sub.publishes_until(topic + "-m") if p.topic != topic + "-m"]
    assert [p.payload for p in got] == [b"long"]
    assert got[0].prop(h.P_MESSAGE_EXPIRY) < 600
    pub.pub(topic + "/long", b"", qos=1, retain=True)


def test_message_expiry_offline_queue(broker, raw, topic):
    s = raw(broker, V5)
    s.connect("exp-q", props=[(h.P_SESSION_EXPIRY, 300)])
    s.subscribe([(topic, 1)])
    s.send(h.disconnect())
    s.close()
    pub = raw(broker, V5)
    pub.connect("exp-q-pub")
    pub.pub(topic, b"dies", qos=1, props=[(h.P_MESSAGE_EXPIRY, 1)])
    pub.pub(topic, b"lives", qos=1, props=[(h.P_MESSAGE_EXPIRY, 100)])
    pub.pub(topic, b"forever", qos=1)
    time.sleep(2.5)
    r = raw(broker, V5)
    assert r.connect("exp-q", clean=False, props=[(h.P_SESSION_EXPIRY, 300)]).session_present
    a = r.next_publish()
    b = r.next_publish()
    assert (a.payload, b.payload) == (b"lives", b"forever")
    assert a.prop(h.P_MESSAGE_EXPIRY) <= 98
    assert b.prop(h.P_MESSAGE_EXPIRY) is None


def test_topic_alias_client_to_server(broker, raw, topic):
    sub = raw(broker, V5)
    sub.connect("ta-sub")
    sub.subscribe([(topic, 1)])
    pub = raw(broker, V5)
    c = pub.connect("ta-pub")
    assert (c.prop(h.P_TOPIC_ALIAS_MAX) or 0) >= 1
    top = c.prop(h.P_TOPIC_ALIAS_MAX)
    pub.pub(topic, b"first", qos=1, props=[(h.P_TOPIC_ALIAS, 1)])
    pub.pub("", b"second", qos=1, props=[(h.P_TOPIC_ALIAS, 1)])
    pub.pub(topic + "/max", b"third", qos=1, props=[(h.P_TOPIC_ALIAS, top)])
    pub.pub("", b"fourth", qos=1, props=[(h.P_TOPIC_ALIAS, top)])
    pub.pub(topic, b"fifth", qos=1, props=[(h.P_TOPIC_ALIAS, top)])   # re-points alias `top`
    pub.pub("", b"sixth", qos=1, props=[(h.P_TOPIC_ALIAS, top)])
    got = [sub.next_publish() for _ in range(4)]
    assert [(p.topic, p.payload) for p in got] == [(topic, b"first"), (topic, b"second"), (topic, b"fifth"),
                                                   (topic, b"sixth")]
    assert all(p.prop(h.P_TOPIC_ALIAS) is None for p in got)


def test_topic_alias_zero_is_error(broker, raw, topic):
    pub = raw(broker, V5)
    pub.connect("ta-zero")
    pub.send(h.publish(topic, b"x", qos=0, props=[(h.P_TOPIC_ALIAS, 0)]))
    pub.expect_disconnect(0x94)


def test_topic_alias_above_maximum_is_error(broker, raw, topic):
    pub = raw(broker, V5)
    c = pub.connect("ta-big")
    top = c.prop(h.P_TOPIC_ALIAS_MAX) or 0
    pub.send(h.publish(topic, b"x", qos=0, props=[(h.P_TOPIC_ALIAS, top + 1)]))
    pub.expect_disconnect(0x94)


def test_unknown_topic_alias_is_protocol_error(broker, raw):
    pub = raw(broker, V5)
    pub.connect("ta-unknown")
    pub.send(h.publish("", b"x", qos=0, props=[(h.P_TOPIC_ALIAS, 1)]))
    pub.expect_disconnect(0x82)


def _resolve(packets, aliases):
    out = []
    for p in packets:
        alias = p.prop(h.P_TOPIC_ALIAS)
        if alias is not None:
            if p.topic:
                aliases[alias] = p.topic
            assert alias in aliases, "alias %d used before being set" % alias
            out.append(aliases[alias])
        else:
            assert p.topic
            out.append(p.topic)
    return out


def test_server_to_client_aliases_resolve_and_respect_maximum(broker, raw, topic):
    sub = raw(broker, V5)
    sub.connect("ta-out", props=[(h.P_TOPIC_ALIAS_MAX, 2)])
    sub.subscribe([(topic + "/#", 0)])
    pub = raw(broker, V5)
    pub.connect("ta-out-pub")
    names = [topic + "/%d" % (i % 4) for i in range(12)]
    for n in names:
        pub.pub(n, b"x", qos=1)
    got = [sub.next_publish() for _ in names]
    assert all((p.prop(h.P_TOPIC_ALIAS) or 1) <= 2 for p in got)
    assert _resolve(got, {}) == names


def test_server_assigns_aliases_when_allowed(broker, raw, topic):
    sub = raw(broker, V5)
    sub.connect("ta-assign", props=[(h.P_TOPIC_ALIAS_MAX, 5)])
    sub.subscribe([(topic, 0)])
    pub = raw(broker, V5)
    pub.connect("ta-assign-pub")
    for _ in range(3):
        pub.pub(topic, b"x", qos=1)
    got = [sub.next_publish() for _ in range(3)]
    assert _resolve(got, {}) == [topic] * 3
    assert got[0].prop(h.P_TOPIC_ALIAS) is not None
    assert [p.topic for p in got[1:]] == ["", ""]


def test_no_alias_sent_to_client_without_maximum(broker, raw, topic):
    sub = raw(broker, V5)
    sub.connect("ta-none")
    sub.subscribe([(topic, 0)])
    pub = raw(broker, V5)
    pub.connect("ta-none-pub")
    for _ in range(3):
        pub.pub(topic, b"x", qos=1)
    got = [sub.next_publish() for _ in range(3)]
    assert all(p.topic == topic and p.prop(h.P_TOPIC_ALIAS) is None for p in got)


def test_receive_maximum_exceeded_0x93(make_broker, raw, topic):
    b = make_broker(["max_inflight_messages 3"])
    pub = raw(b, V5)
    c = pub.connect("rm-pub")
    rmax = c.prop(h.P_RECEIVE_MAX, 65535)
    assert rmax == 3
    for i in range(rmax):
        pub.send(h.publish(topic, b"x", qos=2, pid=i + 1))
        pub.wait_for(h.PUBREC, i + 1)
    pub.send(h.publish(topic, b"x", qos=2, pid=rmax + 1))
    pub.expect_disconnect(0x93)
    assert h.ping_ok(b)


def test_broker_respects_client_receive_maximum(broker, raw, topic):
    sub = raw(broker, V5)
    sub.connect("rm-client", props=[(h.P_RECEIVE_MAX, 2)])
    sub.subscribe([(topic, 1)])
    sub.auto_ack = False
    pub = raw(broker, V5)
    pub.connect("rm-client-pub")
    for i in range(5):
        pub.pub(topic, b"%d" % i, qos=1)
    first = [sub.next_publish(), sub.next_publish()]
    assert [p.payload for p in first] == [b"0", b"1"]
    # the quota is used up: the next packet must be the PINGRESP (no third PUBLISH, and no delayed PINGRESP)
    sub.send(h.pingreq())
    nxt = sub.recv()
    assert nxt.type == h.PINGRESP, "broker exceeded the client's Receive Maximum: %r" % nxt
    for p in first:
        sub.send(h.ack(h.PUBACK, p.pid))
    # two acknowledgements free two slots: exactly two more, then the window is full again
    second = [sub.next_publish(), sub.next_publish()]
    assert [p.payload for p in second] == [b"2", b"3"]
    sub.send(h.pingreq())
    nxt = sub.recv()
    assert nxt.type == h.PINGRESP, "broker exceeded the client's Receive Maximum: %r" % nxt
    sub.send(h.ack(h.PUBACK, second[0].pid))
    last = sub.next_publish()
    assert last.payload == b"4"
    for p in (second[1], last):
        sub.send(h.ack(h.PUBACK, p.pid))


def test_maximum_packet_size_to_client(broker, raw, topic):
    small = raw(broker, V5)
    small.connect("mps-small", props=[(h.P_MAX_PACKET, 128)])
    small.subscribe([(topic, 1)])
    big = raw(broker, V5)
    big.connect("mps-big")
    big.subscribe([(topic, 1)])
    pub = raw(broker, V5)
    pub.connect("mps-pub")
    pub.pub(topic, b"L" * 500, qos=1)
    pub.pub(topic, b"small", qos=1)
    assert [p.payload for p in (big.next_publish(), big.next_publish())] == [b"L" * 500, b"small"]
    got = small.next_publish()
    assert got.payload == b"small"
    assert len(got.raw) <= 128


def test_maximum_packet_size_from_client_0x95(make_broker, raw, topic):
    b = make_broker(["max_packet_size 1000"])
    r = raw(b, V5)
    c = r.connect("mps-in")
    assert c.prop(h.P_MAX_PACKET) == 1000
    r.send(h.publish(topic, b"x" * 2000, qos=0))
    r.expect_disconnect(0x95)
    assert h.ping_ok(b)


def test_request_problem_information_zero_suppresses_reason_string(broker, raw, topic):
    r = raw(broker, V5)
    r.connect("rpi", props=[(h.P_REQ_PROBLEM, 0)])
    r.send(h.ack(h.PUBREL, 4242))
    comp = r.wait_for(h.PUBCOMP, 4242)
    assert comp.prop(h.P_REASON_STRING) is None and comp.prop_all(h.P_USER) == []


def test_large_payload_roundtrip(broker, raw, topic):
    sub = raw(broker, V5)
    sub.connect("large-sub")
    sub.subscribe([(topic, 1)])
    pub = raw(broker, V5)
    pub.connect("large-pub")
    data = bytes(range(256)) * 1024
    pub.pub(topic, data, qos=1)
    assert sub.next_publish().payload == data


def test_publish_split_into_single_bytes(broker, raw, topic):
    sub = raw(broker, V5)
    sub.connect("split-sub")
    sub.subscribe([(topic, 1)])
    pub = raw(broker, V5)
    pub.connect("split-pub")
    pub.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for byte in h.publish(topic, b"byte-by-byte", qos=1, pid=9, props=[(h.P_USER, ("a", "b"))]):
        pub.send(bytes([byte]))
    pub.wait_for(h.PUBACK, 9)
    assert sub.next_publish().payload == b"byte-by-byte"


def test_topic_alias_not_carried_across_connections(broker, raw, topic):
    pub = raw(broker, V5)
    pub.connect("ta-carry", props=[(h.P_SESSION_EXPIRY, 60)])
    pub.pub(topic, b"set", qos=1, props=[(h.P_TOPIC_ALIAS, 1)])
    pub.send(h.disconnect())
    pub.close()
    again = raw(broker, V5)
    assert again.connect("ta-carry", clean=False, props=[(h.P_SESSION_EXPIRY, 60)]).session_present
    again.send(h.publish("", b"stale", qos=0, props=[(h.P_TOPIC_ALIAS, 1)]))
    again.expect_disconnect(0x82)


def test_connack_respects_client_maximum_packet_size(broker, raw):
    r = raw(broker, V5)
    r.send(h.connect("", props=[(h.P_MAX_PACKET, 64), (h.P_REQ_PROBLEM, 1)]))
    c = r.expect(h.CONNACK)
    assert c.reason == 0 and len(c.raw) <= 64


def test_max_topic_alias_option_sets_connack_maximum(make_broker, raw, topic):
    b = make_broker(listener_options=["max_topic_alias 3"])
    r = raw(b, V5)
    c = r.connect("tam")
    assert c.prop(h.P_TOPIC_ALIAS_MAX) == 3
    r.pub(topic, b"x", qos=1, props=[(h.P_TOPIC_ALIAS, 3)])
    r.send(h.publish(topic, b"x", qos=0, props=[(h.P_TOPIC_ALIAS, 4)]))
    r.expect_disconnect(0x94)


def test_message_size_limit_drops_large_payloads(make_broker, raw, topic):
    b = make_broker(["message_size_limit 100"])
    sub = raw(b, V5)
    sub.connect("msl-sub")
    sub.subscribe([(topic, 1)])
    pub = raw(b, V5)
    pub.connect("msl-pub")
    ack = pub.pub(topic, b"x" * 101, qos=1)
    assert ack.reason >= 0x80
    pub.pub(topic, b"y" * 100, qos=1)
    m = sub.next_publish()
    assert m.payload == b"y" * 100
