"""06 Sessions: persistence, offline queue (order, bounds, QoS 0), expiry, redelivery with DUP."""
import time

import pytest

import helpers as h
from helpers import V311, V5

EXP = [(h.P_SESSION_EXPIRY, 300)]


def _offline_subscriber(broker, raw, cid, filt, version, qos=1):
    r = raw(broker, version)
    r.connect(cid, clean=(version == V5), props=EXP if version == V5 else None)
    r.subscribe([(filt, qos)])
    r.send(h.disconnect())
    r.until_closed()
    r.close()


def _resume(broker, raw, cid, version):
    r = raw(broker, version)
    p = r.connect(cid, clean=False, props=EXP if version == V5 else None)
    assert p.session_present
    return r


@pytest.mark.parametrize("version", [V311, V5])
def test_offline_messages_delivered_in_order(broker, raw, topic, version):
    _offline_subscriber(broker, raw, "offline-%d" % version, topic + "/#", version, qos=2)
    pub = raw(broker, V5)
    pub.connect("offline-pub")
    sent = []
    for i in range(10):
        q = 1 + i % 2
        pub.pub(topic + "/x", b"m%d" % i, qos=q)
        sent.append((b"m%d" % i, q))
    r = _resume(broker, raw, "offline-%d" % version, version)
    pub.pub(topic + "/end", b"", qos=1)
    got = [(p.payload, p.qos) for p in r.publishes_until(topic + "/end") if p.topic == topic + "/x"]
    assert got == sent


def test_qos0_not_queued_by_default(broker, raw, topic):
    _offline_subscriber(broker, raw, "q0-off", topic + "/#", V5, qos=1)
    pub = raw(broker, V5)
    pub.connect("q0-pub")
    pub.pub(topic + "/zero", b"z", qos=0)
    pub.pub(topic + "/one", b"o", qos=1)
    r = _resume(broker, raw, "q0-off", V5)
    pub.pub(topic + "/end", b"", qos=1)
    assert [p.topic for p in r.publishes_until(topic + "/end")] == [topic + "/one", topic + "/end"]


def test_qos0_queued_when_configured(make_broker, raw, topic):
    b = make_broker(["queue_qos0_messages true"])
    _offline_subscriber(b, raw, "q0-on", topic + "/#", V5, qos=1)
    pub = raw(b, V5)
    pub.connect("q0-on-pub")
    pub.pub(topic + "/zero", b"z", qos=0)
    pub.pub(topic + "/one", b"o", qos=1)
    r = _resume(b, raw, "q0-on", V5)
    pub.pub(topic + "/end", b"", qos=1)
    assert [p.topic for p in r.publishes_until(topic + "/end")] == [topic + "/zero", topic + "/one", topic + "/end"]


def test_offline_queue_bounded(make_broker, raw, topic):
    b = make_broker(["max_queued_messages 5"])
    _offline_subscriber(b, raw, "bounded", topic + "/#", V5, qos=1)
    pub = raw(b, V5)
    pub.connect("bounded-pub")
    for i in range(30):
        pub.pub(topic + "/x", b"%d" % i, qos=1)
    r = _resume(b, raw, "bounded", V5)
    pub.pub(topic + "/end", b"", qos=1)
    got = [int(p.payload) for p in r.publishes_until(topic + "/end") if p.topic == topic + "/x"]
    assert 0 < len(got) <= 5 + 20  # queue limit plus the in-flight window at most
    assert len(got) < 30
    assert got == sorted(got)


def test_offline_queue_bytes_bounded(make_broker, raw, topic):
    b = make_broker(["max_queued_bytes 4000", "max_queued_messages 1000"])
    _offline_subscriber(b, raw, "bbytes", topic + "/#", V5, qos=1)
    pub = raw(b, V5)
    pub.connect("bbytes-pub")
    for i in range(100):
        pub.pub(topic + "/x", b"%04d" % i + b"." * 996, qos=1)
    r = _resume(b, raw, "bbytes", V5)
    pub.pub(topic + "/end", b"", qos=1)
    got = [p for p in r.publishes_until(topic + "/end") if p.topic == topic + "/x"]
    assert 0 < len(got) < 100


def test_session_expiry_ends_session(broker, raw, topic):
    r = raw(broker, V5)
    r.connect("expiring", props=[(h.P_SESSION_EXPIRY, 1)])
    r.subscribe([(topic, 1)])
    r.send(h.disconnect())
    r.close()
    time.sleep(3)
    r2 = raw(broker, V5)
    assert not r2.connect("expiring", clean=False, props=[(h.P_SESSION_EXPIRY, 1)]).session_present


def test_session_expiry_set_on_disconnect(broker, raw, topic):
    r = raw(broker, V5)
    r.connect("exp-disc", props=[(h.P_SESSION_EXPIRY, 300)])
    r.subscribe([(topic, 1)])
    r.send(h.disconnect(0, [(h.P_SESSION_EXPIRY, 0)]))
    r.until_closed()
    r2 = raw(broker, V5)
    assert not r2.connect("exp-disc", clean=False, props=EXP).session_present


def test_session_expiry_on_disconnect_after_zero_is_protocol_error(broker, raw):
    r = raw(broker, V5)
    r.connect("exp-zero")
    r.send(h.disconnect(0, [(h.P_SESSION_EXPIRY, 60)]))
    r.expect_disconnect(0x82)


@pytest.mark.parametrize("version", [V311, V5])
def test_unacked_qos1_redelivered_with_dup(broker, raw, topic, version):
    sub = raw(broker, version)
    sub.connect("dup1-%d" % version, clean=(version == V5), props=EXP if version == V5 else None)
    sub.subscribe([(topic, 1)])
    sub.auto_ack = False
    pub = raw(broker, V5)
    pub.connect("dup1-pub")
    pub.pub(topic, b"again", qos=1)
    first = sub.next_publish()
    assert first.qos == 1 and not first.dup
    sub.close()
    r = _resume(broker, raw, "dup1-%d" % version, version)
    r.auto_ack = False
    again = r.next_publish()
    assert again.payload == b"again" and again.dup and again.pid == first.pid
    r.send(h.ack(h.PUBACK, again.pid))
    pub.pub(topic, b"next", qos=1)
    nxt = r.next_publish()
    assert nxt.payload == b"next" and not nxt.dup


@pytest.mark.parametrize("version", [V311, V5])
def test_qos2_pubrel_resent_after_reconnect(broker, raw, topic, version):
    sub = raw(broker, version)
    sub.connect("dup2-%d" % version, clean=(version == V5), props=EXP if version == V5 else None)
    sub.subscribe([(topic, 2)])
    sub.auto_ack = False
    pub = raw(broker, V5)
    pub.connect("dup2-pub")
    pub.pub(topic, b"twice?", qos=2)
    m = sub.next_publish()
    sub.send(h.ack(h.PUBREC, m.pid))
    sub.wait_for(h.PUBREL, m.pid)
    sub.close()
    r = _resume(broker, raw, "dup2-%d" % version, version)
    r.auto_ack = False
    rel = r.expect(h.PUBREL)
    assert rel.pid == m.pid and rel.flags == 2
    r.send(h.ack(h.PUBCOMP, m.pid))
    r.auto_ack = True
    pub.pub(topic + "/end", b"", qos=1)
    r.subscribe([(topic + "/end", 1)], pid=9)
    pub.pub(topic + "/end", b"", qos=1)
    assert [p.topic for p in r.publishes_until(topic + "/end")] == [topic + "/end"]


def test_inbound_qos2_completes_across_reconnect(broker, raw, topic):
    sub = raw(broker, V5)
    sub.connect("in2-sub")
    sub.subscribe([(topic, 2)])
    pub = raw(broker, V5)
    pub.connect("in2-pub", props=EXP)
    pub.send(h.publish(topic, b"exactly-once", qos=2, pid=77))
    pub.wait_for(h.PUBREC, 77)
    pub.close()
    pub2 = raw(broker, V5)
    assert pub2.connect("in2-pub", clean=False, props=EXP).session_present
    pub2.send(h.publish(topic, b"exactly-once", qos=2, pid=77, dup=True))
    pub2.wait_for(h.PUBREC, 77)
    pub2.send(h.ack(h.PUBREL, 77))
    pub2.wait_for(h.PUBCOMP, 77)
    pub2.pub(topic, b"marker", qos=1)
    got = [sub.next_publish().payload, sub.next_publish().payload]
    assert got == [b"exactly-once", b"marker"]


def test_persistent_subscription_survives_v311(broker, raw, topic):
    _offline_subscriber(broker, raw, "keep311", topic, V311)
    r = _resume(broker, raw, "keep311", V311)
    pub = raw(broker, V311)
    pub.connect("keep311-pub")
    pub.pub(topic, b"live", qos=1)
    assert r.next_publish().payload == b"live"


def test_clean_session_v311_drops_subscriptions(broker, raw, topic):
    r = raw(broker, V311)
    r.connect("drop311", clean=True)
    r.subscribe([(topic, 1)])
    r.send(h.disconnect())
    r.close()
    r = raw(broker, V311)
    assert not r.connect("drop311", clean=False).session_present
    r.subscribe([(topic + "/m", 1)])
    pub = raw(broker, V311)
    pub.connect("drop311-pub")
    pub.pub(topic, b"x", qos=1)
    pub.pub(topic + "/m", b"m", qos=1)
    assert [p.topic for p in r.publishes_until(topic + "/m")] == [topic + "/m"]


def test_inflight_message_not_expired(broker, raw, topic):
    # Once a QoS 2 PUBLISH has been sent, message expiry no longer applies [MQTT-4.3.3-7]: it is redelivered
    # after the reconnect even though its expiry interval has passed.
    sub = raw(broker, V5)
    sub.connect("inflight-exp", props=EXP)
    sub.subscribe([(topic, 2)])
    sub.auto_ack = False
    pub = raw(broker, V5)
    pub.connect("inflight-exp-pub")
    pub.pub(topic, b"keep", qos=2, props=[(h.P_MESSAGE_EXPIRY, 1)])
    first = sub.next_publish()
    sub.close()
    time.sleep(2.5)
    r = _resume(broker, raw, "inflight-exp", V5)
    again = r.next_publish()
    assert again.payload == b"keep" and again.dup and again.pid == first.pid


def test_puback_error_not_retransmitted(broker, raw, topic):
    sub = raw(broker, V5)
    sub.connect("puback-err", props=EXP)
    sub.subscribe([(topic, 1)])
    sub.auto_ack = False
    pub = raw(broker, V5)
    pub.connect("puback-err-pub")
    pub.pub(topic, b"refused", qos=1)
    m = sub.next_publish()
    sub.send(h.ack(h.PUBACK, m.pid, reason=0x80, props=[]))
    sub.send(h.pingreq())
    sub.expect(h.PINGRESP)
    sub.close()
    r = _resume(broker, raw, "puback-err", V5)
    pub.pub(topic, b"next", qos=1)
    assert r.next_publish().payload == b"next"
