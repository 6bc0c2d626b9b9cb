"""05 Will messages: sent on abnormal close, not after DISCONNECT (unless 0x04), Will Delay, will properties."""
import pytest

import helpers as h
from helpers import V311, V5


def _watch(broker, raw, filt, cid="will-watch"):
    w = raw(broker, V5)
    w.connect(cid)
    w.subscribe([(filt, 2)])
    return w


@pytest.mark.parametrize("version", [V311, V5])
def test_will_sent_on_abnormal_close(broker, raw, topic, version):
    w = _watch(broker, raw, topic)
    r = raw(broker, version)
    r.connect("willer", will={"topic": topic, "payload": b"bye", "qos": 1})
    r.close()
    m = w.next_publish()
    assert (m.topic, m.payload, m.qos) == (topic, b"bye", 1)
    # Will Retain 0: the will is not stored as a retained message
    late = raw(broker, V5)
    late.connect("late-%d" % version)
    late.subscribe([(topic, 1), (topic + "/m", 0)])
    late.pub(topic + "/m", b"", qos=1)
    assert [p.topic for p in late.publishes_until(topic + "/m")] == [topic + "/m"]


@pytest.mark.parametrize("version", [V311, V5])
def test_will_not_sent_after_disconnect(broker, raw, topic, version):
    w = _watch(broker, raw, topic + "/#")
    r = raw(broker, version)
    r.connect("polite", will={"topic": topic + "/will", "payload": b"bye"})
    r.send(h.disconnect())
    assert r.until_closed() == []
    p = raw(broker, V5)
    p.connect("marker-pub")
    p.pub(topic + "/marker", b"m", qos=1)
    assert [x.topic for x in w.publishes_until(topic + "/marker")] == [topic + "/marker"]


def test_will_sent_after_disconnect_0x04(broker, raw, topic):
    w = _watch(broker, raw, topic)
    r = raw(broker, V5)
    r.connect("with-will", will={"topic": topic, "payload": b"sent"})
    r.send(h.disconnect(0x04))
    r.until_closed()
    assert w.next_publish().payload == b"sent"


def test_will_sent_on_protocol_error(broker, raw, topic):
    w = _watch(broker, raw, topic)
    r = raw(broker, V5)
    r.connect("bad-willer", will={"topic": topic, "payload": b"err"})
    r.send(b"\x00\x00")  # packet type 0 is reserved: malformed
    r.until_closed()
    assert w.next_publish().payload == b"err"


def test_will_retain(broker, raw, topic):
    r = raw(broker, V5)
    r.connect("will-retain", will={"topic": topic, "payload": b"kept", "retain": True, "qos": 1})
    r.close()
    w = raw(broker, V5)
    w.connect("late-watch")
    w.subscribe([(topic + "/marker", 0)], pid=1)
    # the will is published asynchronously: wait for it to become retained by re-subscribing until seen
    for attempt in range(50):
        w.subscribe([(topic, 1 | (0 << 4))], pid=2 + attempt)
        p = raw(broker, V5)
        p.connect("will-retain-marker-%d" % attempt)
        p.pub(topic + "/marker", b"m", qos=1)
        got = [x for x in w.publishes_until(topic + "/marker") if x.topic == topic]
        p.close()
        if got:
            assert got[0].payload == b"kept" and got[0].retain
            break
    else:
        raise AssertionError("retained will never appeared")
    cleaner = raw(broker, V5)
    cleaner.connect("will-clean")
    cleaner.pub(topic, b"", qos=1, retain=True)


def test_will_properties_carried(broker, raw, topic):
    w = _watch(broker, raw, topic)
    r = raw(broker, V5)
    wprops = [(h.P_PAYLOAD_FORMAT, 1), (h.P_CONTENT_TYPE, "text/plain"), (h.P_RESPONSE_TOPIC, "reply/here"),
              (h.P_CORRELATION, b"\x01\x02"), (h.P_USER, ("k1", "v1")), (h.P_USER, ("k2", "v2")),
              (h.P_USER, ("k1", "v3"))]
    r.connect("will-props", will={"topic": topic, "payload": b"props", "props": wprops})
    r.close()
    m = w.next_publish()
    assert m.prop(h.P_PAYLOAD_FORMAT) == 1
    assert m.prop(h.P_CONTENT_TYPE) == "text/plain"
    assert m.prop(h.P_RESPONSE_TOPIC) == "reply/here"
    assert m.prop(h.P_CORRELATION) == b"\x01\x02"
    assert m.prop_all(h.P_USER) == [("k1", "v1"), ("k2", "v2"), ("k1", "v3")]


def test_will_delay_cancelled_by_reconnect(broker, raw, topic):
    w = _watch(broker, raw, topic + "/#")
    r = raw(broker, V5)
    r.connect("delayed", props=[(h.P_SESSION_EXPIRY, 300)],
              will={"topic": topic + "/will", "payload": b"late", "props": [(h.P_WILL_DELAY, 60)]})
    r.close()
    r2 = raw(broker, V5)
    assert r2.connect("delayed", clean=False, props=[(h.P_SESSION_EXPIRY, 300)]).session_present
    p = raw(broker, V5)
    p.connect("delay-marker")
    p.pub(topic + "/marker", b"m", qos=1)
    assert [x.topic for x in w.publishes_until(topic + "/marker")] == [topic + "/marker"]
    r2.send(h.disconnect())


def test_will_delay_sent_at_session_end(broker, raw, topic):
    # Will Delay 60 s but Session Expiry 1 s: the will goes out when the session ends (the earlier one).
    w = _watch(broker, raw, topic)
    r = raw(broker, V5)
    r.connect("delay-exp", props=[(h.P_SESSION_EXPIRY, 1)],
              will={"topic": topic, "payload": b"at-expiry", "props": [(h.P_WILL_DELAY, 60)]})
    r.close()
    m = w.next_publish(timeout=h.WAIT)
    assert m.payload == b"at-expiry"


def test_will_delay_elapses(broker, raw, topic):
    w = _watch(broker, raw, topic)
    r = raw(broker, V5)
    r.connect("delay-1", props=[(h.P_SESSION_EXPIRY, 60)],
              will={"topic": topic, "payload": b"after-delay", "props": [(h.P_WILL_DELAY, 1)]})
    r.close()
    assert w.next_publish().payload == b"after-delay"


def test_will_on_takeover_v5(broker, raw, topic):
    w = _watch(broker, raw, topic)
    old = raw(broker, V5)
    old.connect("will-take", will={"topic": topic, "payload": b"taken"})
    new = raw(broker, V5)
    new.connect("will-take")
    assert w.next_publish().payload == b"taken"


def test_will_qos2_delivered_exactly_once(broker, raw, topic):
    w = _watch(broker, raw, topic + "/#")
    r = raw(broker, V311)
    r.connect("will-q2", version=V311, will={"topic": topic + "/w", "payload": b"q2", "qos": 2})
    r.close()
    first = w.next_publish()
    assert first.qos == 2 and first.payload == b"q2"
    w.wait_for(h.PUBREL, first.pid)
    p = raw(broker, V5)
    p.connect("q2-marker")
    p.pub(topic + "/marker", b"m", qos=1)
    assert [x.topic for x in w.publishes_until(topic + "/marker")] == [topic + "/marker"]


def test_will_invalid_topic_refused(broker, raw):
    r = raw(broker, V5)
    r.send(h.connect("bad-will-topic", will={"topic": "a/+/b", "payload": b"x"}))
    packets = r.until_closed()
    assert len(packets) <= 1
    if packets:
        assert packets[0].type == h.CONNACK and packets[0].reason >= 0x80


def test_no_will_flag_nothing_published(broker, raw, topic):
    w = _watch(broker, raw, "#", cid="no-will-watch")
    r = raw(broker, V5)
    r.connect("no-will")
    r.close()
    p = raw(broker, V5)
    p.connect("no-will-marker")
    # the abrupt close is processed before this later connection's publish is routed
    p.pub(topic + "/marker", b"m", qos=1)
    assert [x.topic for x in w.publishes_until(topic + "/marker")] == [topic + "/marker"]
