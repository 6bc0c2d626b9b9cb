"""04 Retained messages: store, replace, delete, delivery on subscribe (wildcards included), QoS of delivery."""
import pytest

import helpers as h
from helpers import V311, V5


def _retained(broker, raw, filt, marker, version=V5, qos=1, cid="ret-sub"):
    """Subscribes a fresh client to filt (and a marker), publishes the marker, returns retained PUBLISHes."""
    sub = raw(broker, version)
    sub.connect(cid)
    sub.subscribe([(filt, qos)], pid=1)
    sub.subscribe([(marker, 0)], pid=2)
    p = raw(broker, version)
    p.connect(cid + "-marker")
    p.pub(marker, b"m", qos=1)
    return [x for x in sub.publishes_until(marker) if x.topic != marker]


@pytest.mark.parametrize("version", [V311, V5])
def test_retained_delivered_to_new_subscriber(broker, raw, topic, version):
    pub = raw(broker, version)
    pub.connect("ret-pub")
    pub.pub(topic, b"hello", qos=1, retain=True)
    got = _retained(broker, raw, topic, topic + "-marker", version)
    assert [(p.topic, p.payload, p.retain) for p in got] == [(topic, b"hello", True)]


def test_retained_replace(broker, raw, topic):
    pub = raw(broker, V5)
    pub.connect("ret-rep")
    pub.pub(topic, b"one", qos=1, retain=True)
    pub.pub(topic, b"two", qos=1, retain=True)
    got = _retained(broker, raw, topic, topic + "-marker")
    assert [p.payload for p in got] == [b"two"]


def test_retained_delete_with_empty_payload(broker, raw, topic):
    pub = raw(broker, V5)
    pub.connect("ret-del")
    pub.pub(topic, b"one", qos=1, retain=True)
    pub.pub(topic, b"", qos=1, retain=True)
    assert _retained(broker, raw, topic, topic + "-marker") == []


def test_retained_empty_payload_is_forwarded_live(broker, raw, topic):
    sub = raw(broker, V5)
    sub.connect("ret-live")
    sub.subscribe([(topic, 1)])
    pub = raw(broker, V5)
    pub.connect("ret-live-pub")
    pub.pub(topic, b"", qos=1, retain=True)
    m = sub.next_publish()
    assert m.topic == topic and m.payload == b""


def test_retained_wildcards(broker, raw, topic):
    pub = raw(broker, V5)
    pub.connect("ret-wild")
    names = [topic + "/a", topic + "/b/c", topic + "/b/d", topic]
    for n in names:
        pub.pub(n, n.encode(), qos=1, retain=True)
    assert sorted(p.topic for p in _retained(broker, raw, topic + "/#", "m1/" + topic, cid="w1")) == sorted(names)
    assert sorted(p.topic for p in _retained(broker, raw, topic + "/+/c", "m2/" + topic, cid="w2")) == [topic + "/b/c"]
    assert sorted(p.topic for p in _retained(broker, raw, topic + "/+", "m3/" + topic, cid="w3")) == [topic + "/a"]
    for n in names:
        pub.pub(n, b"", qos=1, retain=True)


def test_retained_qos_is_minimum(broker, raw, topic):
    pub = raw(broker, V5)
    pub.connect("ret-qos")
    pub.pub(topic + "/q2", b"x", qos=2, retain=True)
    pub.pub(topic + "/q0", b"y", qos=0, retain=True)
    got = _retained(broker, raw, topic + "/+", "m/" + topic, qos=1)
    qos = {p.topic: p.qos for p in got}
    assert qos == {topic + "/q2": 1, topic + "/q0": 0}
    pub.pub(topic + "/q2", b"", qos=1, retain=True)
    pub.pub(topic + "/q0", b"", qos=1, retain=True)


def test_retained_survive_publisher_disconnect(broker, raw, topic):
    pub = raw(broker, V311)
    pub.connect("ret-gone", version=V311)
    pub.pub(topic, b"still", qos=1, retain=True)
    pub.send(h.disconnect())
    pub.close()
    got = _retained(broker, raw, topic, topic + "-marker", V311)
    assert [p.payload for p in got] == [b"still"]


def test_retained_dollar_not_matched_by_hash(broker, raw, topic):
    pub = raw(broker, V5)
    pub.connect("ret-dollar")
    pub.pub("$ret/" + topic, b"hidden", qos=1, retain=True)
    got = _retained(broker, raw, "#", "marker/" + topic)
    assert not [p for p in got if p.topic.startswith("$")]
    got = _retained(broker, raw, "$ret/#", "marker2/" + topic, cid="d2")
    assert [p.payload for p in got] == [b"hidden"]
    pub.pub("$ret/" + topic, b"", qos=1, retain=True)


def test_retain_not_available(make_broker, raw, topic):
    b = make_broker(["retain_available false"])
    r = raw(b, V5)
    c = r.connect("noretain")
    assert c.prop(h.P_RETAIN_AVAILABLE) == 0
    r.send(h.publish(topic, b"x", qos=1, pid=3, retain=True))
    r.expect_disconnect(0x9A)
    w = raw(b, V5)
    w.send(h.connect("retained-will", will={"topic": topic, "payload": b"w", "retain": True}))
    packets = w.until_closed()
    assert [(p.type, p.reason) for p in packets] == [(h.CONNACK, 0x9A)]


def test_mosquitto_clients_retained(broker, topic):
    h.mosquitto_pub(broker, topic, "from-pub", "-r", "-q", "1")
    sub = h.MosquittoSub(broker, topic, "-v", count=1)
    assert sub.output().strip() == topic + " from-pub"
    h.mosquitto_pub(broker, topic, None, "-r", "-q", "1")


def test_retained_qos0_replaces(broker, raw, topic):
    pub = raw(broker, V5)
    pub.connect("ret-q0")
    pub.pub(topic, b"one", qos=1, retain=True)
    pub.pub(topic, b"zero", qos=0, retain=True)
    got = _retained(broker, raw, topic, topic + "-marker")
    assert [(p.payload, p.qos) for p in got] == [(b"zero", 0)]
    pub.pub(topic, b"", qos=1, retain=True)


def test_non_retained_publish_keeps_retained(broker, raw, topic):
    pub = raw(broker, V5)
    pub.connect("ret-keep")
    pub.pub(topic, b"kept", qos=1, retain=True)
    pub.pub(topic, b"live-only", qos=1, retain=False)
    pub.pub(topic, b"", qos=1, retain=False)
    got = _retained(broker, raw, topic, topic + "-marker")
    assert [p.payload for p in got] == [b"kept"]
    pub.pub(topic, b"", qos=1, retain=True)
