"""03 PUBLISH / SUBSCRIBE: QoS in both directions, wildcards, $-topics, overlapping subscriptions, options."""
import pytest

import helpers as h
from helpers import V311, V5


@pytest.mark.parametrize("version", [V311, V5])
@pytest.mark.parametrize("pub_qos", [0, 1, 2])
@pytest.mark.parametrize("sub_qos", [0, 1, 2])
def test_qos_downgrade_and_flows(broker, raw, topic, version, pub_qos, sub_qos):
    sub = raw(broker, version)
    sub.connect("sub-%d-%d" % (pub_qos, sub_qos))
    assert sub.subscribe([(topic, sub_qos)]) == [sub_qos]
    pub = raw(broker, version)
    pub.connect("pub-%d-%d" % (pub_qos, sub_qos))
    last = pub.pub(topic, b"payload-%d" % pub_qos, qos=pub_qos)
    if pub_qos == 1:
        assert last.type == h.PUBACK and last.reason in (0, None)
    if pub_qos == 2:
        assert last.type == h.PUBCOMP and last.reason in (0, None)
    m = sub.next_publish()
    assert m.topic == topic and m.payload == b"payload-%d" % pub_qos
    assert m.qos == min(pub_qos, sub_qos)
    assert not m.retain and not m.dup
    if m.qos:
        assert m.pid != 0
    if m.qos == 2:
        # the broker must finish its own QoS 2 flow: after our PUBREC comes its PUBREL, answered by PUBCOMP
        sub.wait_for(h.PUBREL, m.pid)


def test_qos2_exactly_once_with_publisher_resend(broker, raw, topic):
    sub = raw(broker, V5)
    sub.connect("eo-sub")
    sub.subscribe([(topic, 2)])
    pub = raw(broker, V5)
    pub.connect("eo-pub")
    pub.send(h.publish(topic, b"once", qos=2, pid=42))
    pub.wait_for(h.PUBREC, 42)
    pub.send(h.publish(topic, b"once", qos=2, pid=42, dup=True))
    pub.wait_for(h.PUBREC, 42)
    pub.send(h.ack(h.PUBREL, 42))
    pub.wait_for(h.PUBCOMP, 42)
    pub.pub(topic + "/end", b"", qos=0)
    sub.subscribe([(topic + "/end", 0)], pid=2)
    pub.pub(topic + "/end", b"", qos=0)
    got = sub.publishes_until(topic + "/end")
    assert [p.payload for p in got if p.topic == topic] == [b"once"]


def test_pubrel_for_unknown_packet_id_v5(broker, raw):
    r = raw(broker, V5)
    r.connect("pubrel-unknown")
    r.send(h.ack(h.PUBREL, 999))
    comp = r.wait_for(h.PUBCOMP, 999)
    assert comp.reason == 0x92


WILDCARD_CASES = [
    ("a/b/c", "a/b/c", True), ("a/+/c", "a/b/c", True), ("a/+/c", "a/b/d", False), ("a/#", "a", True),
    ("a/#", "a/b/c", True), ("#", "a/b", True), ("+/+", "a/b", True), ("+/+", "a", False), ("+", "/x", False),
    ("+/x", "/x", True), ("a/+", "a/", True), ("/#", "/x", True), ("a/b", "A/b", False),
    ("+/+/+", "a/b", False), ("a/+/#", "a/b", True), ("#", "$SYS/x", False), ("+/x", "$foo/x", False),
    ("$foo/#", "$foo/x", True), ("$foo/+", "$foo/x", True),
]


@pytest.mark.parametrize("filt,name,match", WILDCARD_CASES)
def test_wildcard_matching(broker, raw, topic, filt, name, match):
    sub = raw(broker, V5)
    sub.connect("wild")
    marker = "marker/" + topic
    sub.subscribe([(filt, 0), (marker, 0)])
    pub = raw(broker, V5)
    pub.connect("wild-pub")
    if not name.startswith("$SYS"):
        pub.pub(name, b"x", qos=1)
    pub.pub(marker, b"m", qos=1)
    got = sub.publishes_until(marker)
    hits = [p for p in got if p.topic == name]
    if name.startswith("$SYS"):
        assert not [p for p in got if p.topic.startswith("$")]
    else:
        assert len(hits) == (1 if match else 0)


def test_dollar_topics_not_matched_by_hash(broker, raw, topic):
    sub = raw(broker, V5)
    sub.connect("dollar-sub")
    sub.subscribe([("#", 0), ("+/+", 0)])
    pub = raw(broker, V5)
    pub.connect("dollar-pub")
    pub.pub("$app/x", b"hidden", qos=1)
    pub.pub(topic, b"seen", qos=1)
    got = sub.publishes_until(topic)
    assert [p.topic for p in got] == [topic]


def test_overlapping_v311_one_copy_at_highest_qos(broker, raw, topic):
    sub = raw(broker, V311)
    sub.connect("ov311")
    assert sub.subscribe([(topic + "/+", 0), (topic + "/#", 2), (topic + "/x", 1)]) == [0, 2, 1]
    pub = raw(broker, V311)
    pub.connect("ov311-pub")
    pub.pub(topic + "/x", b"one", qos=2)
    pub.pub(topic + "/end", b"", qos=0)
    got = sub.publishes_until(topic + "/end")
    copies = [p for p in got if p.topic == topic + "/x"]
    assert len(copies) == 1
    assert copies[0].qos == 2


def test_overlapping_v5_one_copy_with_all_subscription_ids(broker, raw, topic):
    sub = raw(broker, V5)
    sub.connect("ov5")
    sub.subscribe([(topic + "/+", 1)], pid=1, props=[(h.P_SUB_ID, 11)])
    sub.subscribe([(topic + "/#", 2)], pid=2, props=[(h.P_SUB_ID, 22)])
    sub.subscribe([(topic + "/x", 0)], pid=3)
    pub = raw(broker, V5)
    pub.connect("ov5-pub")
    pub.pub(topic + "/x", b"one", qos=2)
    pub.pub(topic + "/end", b"", qos=0)
    got = sub.publishes_until(topic + "/end")
    copies = [p for p in got if p.topic == topic + "/x"]
    assert len(copies) == 1
    assert copies[0].qos == 2
    assert sorted(copies[0].prop_all(h.P_SUB_ID)) == [11, 22]


def test_subscription_identifier_on_single_match(broker, raw, topic):
    sub = raw(broker, V5)
    sub.connect("subid")
    sub.subscribe([(topic + "/#", 1)], props=[(h.P_SUB_ID, 268435455)])
    pub = raw(broker, V5)
    pub.connect("subid-pub")
    pub.pub(topic + "/a", b"x", qos=1)
    m = sub.next_publish()
    assert m.prop_all(h.P_SUB_ID) == [268435455]


def test_subscription_identifier_zero_is_protocol_error(broker, raw, topic):
    sub = raw(broker, V5)
    sub.connect("subid0")
    sub.send(h.subscribe(1, [(topic, 0)], props=[(h.P_SUB_ID, 0)]))
    sub.expect_disconnect(0x82)


def test_no_local(broker, client, topic):
    c = client(broker, "nolocal")
    c.connect()
    c.subscribe(topic + "/nl", options=h.sub_options(qos=1, no_local=True))
    c.subscribe(topic + "/local", qos=1)
    c.publish(topic + "/nl", b"own", qos=1)
    c.publish(topic + "/local", b"marker", qos=1)
    got = c.get_until(topic + "/local")
    assert [m.topic for m in got] == [topic + "/local"]
    other = client(broker, "nolocal-other")
    other.connect()
    other.publish(topic + "/nl", b"theirs", qos=1)
    assert c.get().payload == b"theirs"


def test_retain_as_published(broker, raw, topic):
    sub = raw(broker, V5)
    sub.connect("rap")
    sub.subscribe([(topic + "/kept", 0x08 | 1), (topic + "/cleared", 1)])
    pub = raw(broker, V5)
    pub.connect("rap-pub")
    pub.pub(topic + "/kept", b"k", qos=1, retain=True)
    pub.pub(topic + "/cleared", b"c", qos=1, retain=True)
    a = sub.next_publish()
    b = sub.next_publish()
    flags = {a.topic: a.retain, b.topic: b.retain}
    assert flags == {topic + "/kept": True, topic + "/cleared": False}
    pub.pub(topic + "/kept", b"", qos=1, retain=True)
    pub.pub(topic + "/cleared", b"", qos=1, retain=True)


def test_v311_live_message_retain_flag_cleared(broker, raw, topic):
    sub = raw(broker, V311)
    sub.connect("live311")
    sub.subscribe([(topic, 1)])
    pub = raw(broker, V311)
    pub.connect("live311-pub")
    pub.pub(topic, b"r", qos=1, retain=True)
    m = sub.next_publish()
    assert m.payload == b"r" and not m.retain
    pub.pub(topic, b"", qos=1, retain=True)


@pytest.mark.parametrize("handling", [0, 1, 2])
def test_retain_handling(broker, raw, topic, handling):
    pub = raw(broker, V5)
    pub.connect("rh-pub")
    pub.pub(topic, b"stored", qos=1, retain=True)
    sub = raw(broker, V5)
    sub.connect("rh-sub")
    marker = topic + "/marker"
    opts = 1 | (handling << 4)
    # first subscription
    sub.subscribe([(topic, opts)], pid=1)
    sub.subscribe([(marker, 0)], pid=2)
    pub.pub(marker, b"m1", qos=1)
    first = [p for p in sub.publishes_until(marker) if p.topic == topic]
    # the same subscription again (it exists now)
    sub.subscribe([(topic, opts)], pid=3)
    pub.pub(marker, b"m2", qos=1)
    second = [p for p in sub.publishes_until(marker) if p.topic == topic]
    expect_first = {0: 1, 1: 1, 2: 0}[handling]
    expect_second = {0: 1, 1: 0, 2: 0}[handling]
    assert len(first) == expect_first and len(second) == expect_second
    for p in first + second:
        assert p.retain and p.payload == b"stored"
    pub.pub(topic, b"", qos=1, retain=True)


@pytest.mark.parametrize("version", [V311, V5])
def test_unsubscribe_stops_delivery(broker, raw, topic, version):
    sub = raw(broker, version)
    sub.connect("unsub")
    sub.subscribe([(topic, 1), (topic + "/marker", 1)])
    sub.send(h.unsubscribe(5, [topic, topic + "/none"], version=version))
    ua = sub.wait_for(h.UNSUBACK, 5)
    assert ua.codes == ([0x00, 0x11] if version == V5 else [])
    pub = raw(broker, V5)
    pub.connect("unsub-pub")
    pub.pub(topic, b"gone", qos=1)
    pub.pub(topic + "/marker", b"m", qos=1)
    assert [p.topic for p in sub.publishes_until(topic + "/marker")] == [topic + "/marker"]


@pytest.mark.parametrize("version", [V311, V5])
def test_suback_codes(broker, raw, topic, version):
    r = raw(broker, version)
    r.connect("suback")
    assert r.subscribe([(topic + "/2", 2), (topic + "/0", 0), (topic + "/1", 1)]) == [2, 0, 1]


def test_resubscribe_replaces_qos(broker, raw, topic):
    sub = raw(broker, V5)
    sub.connect("resub")
    sub.subscribe([(topic, 2)], pid=1)
    sub.subscribe([(topic, 0)], pid=2)
    pub = raw(broker, V5)
    pub.connect("resub-pub")
    pub.pub(topic, b"x", qos=2)
    pub.pub(topic + "/end", b"", qos=0)
    sub.subscribe([(topic + "/end", 0)], pid=3)
    pub.pub(topic + "/end", b"", qos=0)
    got = [p for p in sub.publishes_until(topic + "/end") if p.topic == topic]
    assert len(got) == 1 and got[0].qos == 0


def test_paho_v311_and_v5_interoperate(broker, client, topic):
    s3 = client(broker, "i-s3", version=V311)
    s3.connect()
    s3.subscribe(topic + "/#", qos=2)
    s5 = client(broker, "i-s5", version=V5)
    s5.connect()
    s5.subscribe(topic + "/#", qos=2)
    p5 = client(broker, "i-p5", version=V5)
    p5.connect()
    p3 = client(broker, "i-p3", version=V311)
    p3.connect()
    for q in (0, 1, 2):
        p5.publish(topic + "/five", b"5-%d" % q, qos=q)
        p3.publish(topic + "/three", b"3-%d" % q, qos=q)
    for s in (s3, s5):
        got = sorted((m.topic, m.payload, m.qos) for m in (s.get() for _ in range(6)))
        assert got == sorted([(topic + "/five", b"5-%d" % q, q) for q in (0, 1, 2)]
                             + [(topic + "/three", b"3-%d" % q, q) for q in (0, 1, 2)])


def test_message_order_per_publisher(broker, client, topic):
    sub = client(broker, "order-sub")
    sub.connect()
    sub.subscribe(topic, qos=1)
    pub = client(broker, "order-pub")
    pub.connect()
    for i in range(50):
        pub.publish(topic, b"%d" % i, qos=1, wait=False)
    got = [sub.get().payload for _ in range(50)]
    assert got == [b"%d" % i for i in range(50)]


def test_unsubscribe_completes_inflight_qos2(broker, raw, topic):
    sub = raw(broker, V5)
    sub.connect("unsub-inflight")
    sub.subscribe([(topic, 2)])
    sub.auto_ack = False
    pub = raw(broker, V5)
    pub.connect("unsub-inflight-pub")
    pub.pub(topic, b"in-flight", qos=2)
    m = sub.next_publish()
    sub.send(h.unsubscribe(3, [topic]))
    sub.wait_for(h.UNSUBACK, 3)
    sub.send(h.ack(h.PUBREC, m.pid))
    rel = sub.wait_for(h.PUBREL, m.pid)
    sub.send(h.ack(h.PUBCOMP, rel.pid))
    sub.send(h.pingreq())
    sub.expect(h.PINGRESP)


def test_outgoing_dup_independent_of_incoming(broker, raw, topic):
    sub = raw(broker, V5)
    sub.connect("dup-indep")
    sub.subscribe([(topic, 1)])
    pub = raw(broker, V5)
    pub.connect("dup-indep-pub")
    pub.send(h.publish(topic, b"resent", qos=1, pid=5, dup=True))
    pub.wait_for(h.PUBACK, 5)
    m = sub.next_publish()
    assert m.payload == b"resent" and not m.dup


def test_topic_bytes_not_normalised(broker, raw):
    # a BOM (U+FEFF) and a precomposed/decomposed pair are distinct topics; the BOM is kept, not stripped
    sub = raw(broker, V5)
    sub.connect("bom")
    bom_topic = "\ufeffbom/x"
    sub.subscribe([(bom_topic, 0), ("caf\u00e9", 0), ("bom/end", 0)])
    pub = raw(broker, V5)
    pub.connect("bom-pub")
    pub.pub(bom_topic, b"1", qos=1)
    pub.pub("bom/x", b"2", qos=1)
    pub.pub("cafe\u0301", b"3", qos=1)
    pub.pub("caf\u00e9", b"4", qos=1)
    pub.pub("bom/end", b"", qos=1)
    got = [(p.topic, p.payload) for p in sub.publishes_until("bom/end")]
    assert got == [(bom_topic, b"1"), ("caf\u00e9", b"4"), ("bom/end", b"")]


def test_qos1_same_packet_id_after_puback_is_new(broker, raw, topic):
    sub = raw(broker, V5)
    sub.connect("pid-reuse")
    sub.subscribe([(topic, 1)])
    pub = raw(broker, V5)
    pub.connect("pid-reuse-pub")
    pub.pub(topic, b"first", qos=1, pid=9)
    pub.pub(topic, b"second", qos=1, pid=9)
    pub.pub(topic, b"third", qos=2, pid=9)
    pub.pub(topic, b"fourth", qos=2, pid=9)
    assert [sub.next_publish().payload for _ in range(4)] == [b"first", b"second", b"third", b"fourth"]
