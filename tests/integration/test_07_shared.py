"""07 Shared subscriptions: $share/group/filter, one delivery per group, fair spread, requeue on disconnect."""
import pytest

import helpers as h
from helpers import V311, V5


def test_shared_one_copy_per_group_and_spread(broker, raw, topic):
    members = []
    for i in range(3):
        m = raw(broker, V5)
        m.connect("share-%d" % i)
        m.subscribe([("$share/g1/" + topic + "/#", 1)])
        members.append(m)
    other = raw(broker, V5)
    other.connect("share-other-group")
    other.subscribe([("$share/g2/" + topic + "/#", 1)])
    plain = raw(broker, V5)
    plain.connect("share-plain")
    plain.subscribe([(topic + "/#", 1)])
    pub = raw(broker, V5)
    pub.connect("share-pub")
    n = 30
    for i in range(n):
        pub.pub(topic + "/x", b"%d" % i, qos=1)
    # every message exactly once in group g1, once in g2, once for the plain subscriber
    for m in members:
        m.subscribe([(topic + "-end", 1)], pid=50)
    other.subscribe([(topic + "-end", 1)], pid=50)
    pub.pub(topic + "-end", b"", qos=1)
    counts = []
    g1 = []
    for m in members:
        got = [int(p.payload) for p in m.publishes_until(topic + "-end") if p.topic == topic + "/x"]
        counts.append(len(got))
        g1 += got
    assert sorted(g1) == list(range(n))
    assert all(c > 0 for c in counts), "unfair distribution: %r" % counts
    g2 = [int(p.payload) for p in other.publishes_until(topic + "-end") if p.topic == topic + "/x"]
    assert g2 == list(range(n))
    assert sorted(int(plain.next_publish().payload) for _ in range(n)) == list(range(n))


def test_shared_v311_client(broker, raw, topic):
    a = raw(broker, V311)
    a.connect("sh311-a")
    a.subscribe([("$share/g/" + topic, 1)])
    b = raw(broker, V311)
    b.connect("sh311-b")
    b.subscribe([("$share/g/" + topic, 1)])
    pub = raw(broker, V311)
    pub.connect("sh311-pub")
    for i in range(10):
        pub.pub(topic, b"%d" % i, qos=1)
    for r in (a, b):
        r.subscribe([(topic + "-end", 1)], pid=3)
    pub.pub(topic + "-end", b"", qos=1)
    got = []
    for r in (a, b):
        got += [int(p.payload) for p in r.publishes_until(topic + "-end") if p.topic == topic]
    assert sorted(got) == list(range(10))


def test_shared_unacked_requeued_to_other_member(broker, raw, topic):
    lazy = raw(broker, V5)
    lazy.connect("lazy")
    lazy.subscribe([("$share/rq/" + topic, 1)])
    lazy.auto_ack = False
    pub = raw(broker, V5)
    pub.connect("rq-pub")
    pub.pub(topic, b"orphan", qos=1)
    m = lazy.next_publish()
    assert m.payload == b"orphan"
    busy = raw(broker, V5)
    busy.connect("busy")
    busy.subscribe([("$share/rq/" + topic, 1)])
    lazy.close()
    got = busy.next_publish()
    assert got.payload == b"orphan"


def test_shared_no_retained_on_subscribe(broker, raw, topic):
    pub = raw(broker, V5)
    pub.connect("sh-ret-pub")
    pub.pub(topic, b"kept", qos=1, retain=True)
    s = raw(broker, V5)
    s.connect("sh-ret")
    s.subscribe([("$share/g/" + topic, 1), (topic + "-m", 0)])
    pub.pub(topic + "-m", b"", qos=1)
    assert [p.topic for p in s.publishes_until(topic + "-m")] == [topic + "-m"]
    pub.pub(topic, b"", qos=1, retain=True)


@pytest.mark.parametrize("filt", ["$share/g+x/t", "$share/g#/t", "$share//t", "$share/g/"])
def test_shared_invalid_filters(broker, raw, filt):
    r = raw(broker, V5)
    r.connect("sh-bad")
    # A bad ShareName or a missing filter: either SUBACK 0x8F (Topic Filter invalid) or DISCONNECT 0x81/0x82.
    r.send(h.subscribe(1, [(filt, 1)]))
    p = r.recv()
    if p.type == h.SUBACK:
        assert p.codes == [0x8F]
    else:
        assert p.type == h.DISCONNECT and p.reason in (0x81, 0x82, 0x8F)
        r.until_closed()
    assert h.ping_ok(broker)


def test_shared_no_local_is_protocol_error(broker, raw, topic):
    r = raw(broker, V5)
    r.connect("sh-nl")
    r.send(h.subscribe(1, [("$share/g/" + topic, 0x04 | 1)]))
    r.expect_disconnect(0x82)


def test_unsubscribe_shared(broker, raw, topic):
    a = raw(broker, V5)
    a.connect("sh-un")
    a.subscribe([("$share/g/" + topic, 1), (topic + "-m", 1)])
    a.send(h.unsubscribe(4, ["$share/g/" + topic]))
    assert a.wait_for(h.UNSUBACK, 4).codes == [0]
    pub = raw(broker, V5)
    pub.connect("sh-un-pub")
    pub.pub(topic, b"x", qos=1)
    pub.pub(topic + "-m", b"", qos=1)
    assert [p.topic for p in a.publishes_until(topic + "-m")] == [topic + "-m"]


def test_shared_qos2_completes_with_same_member(broker, raw, topic):
    # A QoS 2 delivery in progress is completed with the same member when it reconnects [MQTT-4.8.2-4].
    exp = [(h.P_SESSION_EXPIRY, 300)]
    a = raw(broker, V5)
    a.connect("sh2-a", props=exp)
    a.subscribe([("$share/q2/" + topic, 2)])
    a.auto_ack = False
    pub = raw(broker, V5)
    pub.connect("sh2-pub")
    pub.pub(topic, b"exactly-here", qos=2)
    first = a.next_publish()
    b = raw(broker, V5)
    b.connect("sh2-b")
    b.subscribe([("$share/q2/" + topic, 2), (topic + "-m", 0)])
    a.close()
    a2 = raw(broker, V5)
    assert a2.connect("sh2-a", clean=False, props=exp).session_present
    a2.auto_ack = False
    again = a2.next_publish()
    assert again.payload == b"exactly-here" and again.dup and again.pid == first.pid
    pub.pub(topic + "-m", b"", qos=1)
    assert [p.topic for p in b.publishes_until(topic + "-m")] == [topic + "-m"]


def test_shared_puback_error_discards(broker, raw, topic):
    # A member answering PUBACK 0x80 makes the server drop the message, not pass it on [MQTT-4.8.2-6].
    a = raw(broker, V5)
    a.connect("sh-err-a")
    a.subscribe([("$share/e/" + topic, 1)])
    a.auto_ack = False
    pub = raw(broker, V5)
    pub.connect("sh-err-pub")
    pub.pub(topic, b"refused", qos=1)
    m = a.next_publish()
    b = raw(broker, V5)
    b.connect("sh-err-b")
    b.subscribe([("$share/e/" + topic, 1), (topic + "-m", 0)])
    a.send(h.ack(h.PUBACK, m.pid, reason=0x80, props=[]))
    a.send(h.pingreq())
    a.expect(h.PINGRESP)
    a.close()
    pub.pub(topic + "-m", b"", qos=1)
    assert [p.topic for p in b.publishes_until(topic + "-m")] == [topic + "-m"]
