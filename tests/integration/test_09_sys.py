"""09 $SYS topics: mosquitto's names, values that track reality, clients cannot publish into $SYS."""
import time

import helpers as h
from helpers import V5

REQUIRED = [
    "$SYS/broker/version", "$SYS/broker/uptime", "$SYS/broker/clients/connected", "$SYS/broker/clients/total",
    "$SYS/broker/messages/received", "$SYS/broker/messages/sent", "$SYS/broker/bytes/received",
    "$SYS/broker/bytes/sent", "$SYS/broker/load/messages/received/1min", "$SYS/broker/load/bytes/sent/1min",
    "$SYS/broker/subscriptions/count",
]


def _collect(sub, names, deadline):
    """
    Reads $SYS publishes until every name in `names` has a value and two more uptime updates came (so the
    values are fresh, not the retained ones from before this client connected); returns the latest values.
    """
    seen = {}
    uptimes = 0
    while not all(n in seen for n in names) or uptimes < 2:
        left = deadline - time.monotonic()
        assert left > 0, "missing $SYS topics: %r" % [n for n in names if n not in seen]
        p = sub.next_publish(timeout=left)
        seen[p.topic] = p.payload.decode()
        if p.topic == "$SYS/broker/uptime" and not p.retain:
            uptimes += 1
    return seen


def test_sys_topics_published(make_broker, raw):
    b = make_broker(["sys_interval 1"])
    sub = raw(b, V5)
    sub.connect("sys-watch")
    sub.subscribe([("$SYS/#", 0)])
    seen = _collect(sub, REQUIRED, time.monotonic() + h.WAIT * 2)
    assert "rampart" in seen["$SYS/broker/version"].lower() or "mosquitto" in seen["$SYS/broker/version"]
    assert seen["$SYS/broker/uptime"].endswith(" seconds")
    assert int(seen["$SYS/broker/clients/connected"]) >= 1
    assert int(seen["$SYS/broker/bytes/received"]) > 0
    float(seen["$SYS/broker/load/messages/received/1min"])


def test_sys_clients_connected_tracks_connections(make_broker, raw):
    b = make_broker(["sys_interval 1"])
    others = []
    for i in range(3):
        r = raw(b, V5)
        r.connect("sys-count-%d" % i)
        others.append(r)
    sub = raw(b, V5)
    sub.connect("sys-count-watch")
    sub.subscribe([("$SYS/broker/clients/connected", 0)])
    deadline = time.monotonic() + h.WAIT * 2
    while True:
        assert time.monotonic() < deadline, "clients/connected never reached 4"
        p = sub.next_publish(timeout=max(0.1, deadline - time.monotonic()))
        if int(p.payload) == 4:
            break


def test_sys_not_matched_by_hash(make_broker, raw, topic):
    b = make_broker(["sys_interval 1"])
    sub = raw(b, V5)
    sub.connect("sys-hash")
    sub.subscribe([("#", 0)])
    watch = raw(b, V5)
    watch.connect("sys-hash-watch")
    watch.subscribe([("$SYS/broker/uptime", 0)])
    watch.next_publish(timeout=h.WAIT * 2)
    watch.next_publish(timeout=h.WAIT * 2)
    pub = raw(b, V5)
    pub.connect("sys-hash-pub")
    pub.pub(topic, b"m", qos=1)
    assert [p.topic for p in sub.publishes_until(topic)] == [topic]


def test_clients_cannot_publish_into_sys(make_broker, raw, topic):
    b = make_broker(["sys_interval 1"])
    sub = raw(b, V5)
    sub.connect("sys-fake-watch")
    sub.subscribe([("$SYS/broker/fake", 0), (topic, 0)])
    pub = raw(b, V5)
    pub.connect("sys-faker")
    pub.pub("$SYS/broker/fake", b"forged", qos=1)
    pub.pub(topic, b"m", qos=1)
    assert [p.topic for p in sub.publishes_until(topic)] == [topic]
