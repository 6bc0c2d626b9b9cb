"""
test_14_broker_limits.py - Response Information (response_topic_prefix), the global connection cap
(max_connections_global), control packets fitted into the client's Maximum Packet Size, and 3.1.1 clients with
more QoS 2 messages in flight than max_inflight_messages. Real sockets against the sanitizer build.
"""
import json
import os
import socket

import pytest

import helpers
from helpers import (CONNACK, DISCONNECT, PUBACK, PUBCOMP, PUBLISH, PUBREC, SUBACK, V311, V5, P_MAX_PACKET,
                     P_REASON_STRING, P_REQ_PROBLEM, P_REQ_RESPONSE, P_RESPONSE_INFO)

pytestmark = pytest.mark.skipif(helpers.is_mosquitto(), reason="Rampart options (response_topic_prefix, "
                                "max_connections_global) that mosquitto does not have")


# ---- Response Information [MQTT-3.1.2-28, 3.2.2.3.15] -----------------------------------------------------

def test_response_information_is_prefix_and_client_id(make_broker, raw):
    b = make_broker(options=["response_topic_prefix replies"])
    r = raw(b)
    ack = r.connect("rq-client", props=[(P_REQ_RESPONSE, 1)])
    assert ack.prop(P_RESPONSE_INFO) == "replies/rq-client"
    # The client can use it as its response topic space: subscribe below it and get what is published there.
    assert r.subscribe([("replies/rq-client/#", 1)]) == [1]
    other = raw(b)
    other.connect("requester")
    other.send(helpers.publish("replies/rq-client/42", b"answer", qos=0))
    p = r.wait_for(PUBLISH)
    assert p.topic == "replies/rq-client/42" and p.payload == b"answer"


def test_response_information_only_when_requested(make_broker, raw):
    b = make_broker(options=["response_topic_prefix replies"])
    ack = raw(b).connect("no-request")
    assert ack.prop(P_RESPONSE_INFO) is None
    ack = raw(b).connect("zero-request", props=[(P_REQ_RESPONSE, 0)])
    assert ack.prop(P_RESPONSE_INFO) is None


def test_response_information_not_for_client_id_with_topic_characters(make_broker, raw):
    """A client id with '/', '+' or '#' cannot be one topic level (as the ACL's %c): no Response Information."""
    b = make_broker(options=["response_topic_prefix replies"])
    for cid in ("a/b", "a+b", "a#b"):
        ack = raw(b).connect(cid, props=[(P_REQ_RESPONSE, 1)])
        assert ack.prop(P_RESPONSE_INFO) is None, cid


def test_response_information_with_assigned_client_id(make_broker, raw):
    b = make_broker(options=["response_topic_prefix replies"])
    ack = raw(b).connect("", props=[(P_REQ_RESPONSE, 1)])
    assigned = ack.prop(helpers.P_ASSIGNED_ID)
    assert assigned and ack.prop(P_RESPONSE_INFO) == "replies/" + assigned


def test_response_information_absent_without_prefix(broker, raw):
    ack = raw(broker).connect("plain", props=[(P_REQ_RESPONSE, 1)])
    assert ack.prop(P_RESPONSE_INFO) is None


@pytest.mark.parametrize("value", ["a/+/b", "a/#", ""])
def test_response_topic_prefix_refused_with_file_line(tmp_path, value):
    import subprocess
    conf = tmp_path / "bad.conf"
    conf.write_text("listener %d 127.0.0.1\nresponse_topic_prefix %s\n" % (helpers.free_port(), value))
    out = subprocess.run([helpers.RAMPART_BIN, "check", "-c", str(conf)], capture_output=True, text=True,
                         timeout=helpers.WAIT)
    assert out.returncode != 0
    assert "bad.conf:2" in out.stdout + out.stderr


# ---- max_connections_global ---------------------------------------------------------------------------------

def _refused(b):
    """True once a connection is closed by the broker without any answer (no CONNACK)."""
    s = socket.create_connection((b.host, b.port), timeout=helpers.WAIT)
    try:
        s.sendall(helpers.connect("over-cap"))
        data = s.recv(16)
        return data == b""
    except ConnectionResetError:
        return True
    finally:
        s.close()


def test_max_connections_global_refuses_and_audits(make_broker, raw, tmp_path):
    audit = str(tmp_path / "audit.log")
    port2 = helpers.free_port()
    # Two listeners with no per-listener cap: the global cap of 2 counts both.
    b = make_broker(options=["max_connections_global 2", "audit_dest file " + audit],
                    extra_listeners=[(port2, [])])
    first = raw(b)
    first.connect("g1")

    class Second:
        host, port = b.host, port2
    second = helpers.Raw(Second)
    try:
        second.connect("g2")
        assert _refused(b)
        assert "max_connections_global reached" in b.log()

        def audited():
            if not os.path.exists(audit):
                return False
            for line in open(audit):
                ev = json.loads(line)
                if ev.get("event") == "connect_refused" and ev.get("reason") == "max_connections_global reached":
                    return ev
            return False
        ev = helpers.wait_until(audited, "a connect_refused audit event")
        assert ev["address"] == "127.0.0.1"
        # A slot frees when a client leaves: the next connection is accepted again.
        first.send(helpers.disconnect())
        first.until_closed()
        helpers.wait_until(lambda: not _refused_quietly(b), "a connection accepted after one left")
    finally:
        second.close()


def _refused_quietly(b):
    r = helpers.Raw(b)
    try:
        r.send(helpers.connect("again"))
        p = r.recv()
        ok = p.type == CONNACK and p.reason == 0
        r.send(helpers.disconnect())
        return not ok
    except helpers.Closed:
        return True
    finally:
        r.close()


def test_max_connections_global_default_is_bounded(tmp_path):
    """The documented default (0 = auto) loads: a cap derived from the open-file limit, not "unlimited"."""
    import subprocess
    conf = tmp_path / "ok.conf"
    conf.write_text("listener %d 127.0.0.1\nmax_connections_global 0\n" % helpers.free_port())
    out = subprocess.run([helpers.RAMPART_BIN, "check", "-c", str(conf)], capture_output=True, text=True,
                         timeout=helpers.WAIT)
    assert out.returncode == 0, out.stdout + out.stderr


# ---- control packets and the client's Maximum Packet Size [MQTT-3.1.2-24, 3.4.2-2/3, 3.9.2-1/2] -------------

def test_puback_reason_string_dropped_for_small_maximum_packet_size(broker, raw):
    # $SYS is never publishable by clients: PUBACK 0x87 carries a Reason String when it fits.
    big = raw(broker)
    big.connect("mps-big")
    big.send(helpers.publish("$SYS/x", b"v", qos=1, pid=7))
    p = big.wait_for(PUBACK, 7)
    assert p.reason == 0x87 and p.prop(P_REASON_STRING)
    small = raw(broker)
    small.connect("mps-small", props=[(P_MAX_PACKET, 24)])
    small.send(helpers.publish("$SYS/x", b"v", qos=1, pid=8))
    p = small.wait_for(PUBACK, 8)
    assert p.reason == 0x87 and p.prop(P_REASON_STRING) is None
    assert len(p.raw) <= 24


def test_pubrec_reason_string_dropped_for_small_maximum_packet_size(broker, raw):
    small = raw(broker)
    small.connect("mps-rec", props=[(P_MAX_PACKET, 24)])
    small.send(helpers.publish("$SYS/y", b"v", qos=2, pid=9))
    p = small.wait_for(PUBREC, 9)
    assert p.reason == 0x87 and p.prop(P_REASON_STRING) is None and len(p.raw) <= 24


def test_suback_reason_string_dropped_for_small_maximum_packet_size(make_broker, raw):
    b = make_broker(options=["max_subscriptions_per_client 1"])
    big = raw(b)
    big.connect("sub-big")
    assert big.subscribe([("a/1", 0)], pid=1) == [0]
    big.send(helpers.subscribe(2, [("a/2", 0)]))
    p = big.wait_for(SUBACK, 2)
    assert p.codes == [0x97] and p.prop(P_REASON_STRING)
    small = raw(b)
    small.connect("sub-small", props=[(P_MAX_PACKET, 24)])
    assert small.subscribe([("a/1", 0)], pid=1) == [0]
    small.send(helpers.subscribe(2, [("a/2", 0)]))
    p = small.wait_for(SUBACK, 2)
    assert p.codes == [0x97] and p.prop(P_REASON_STRING) is None and len(p.raw) <= 24


def test_no_reason_string_when_problem_information_off(broker, raw):
    r = raw(broker)
    r.connect("no-problem", props=[(P_REQ_PROBLEM, 0)])
    r.send(helpers.publish("$SYS/z", b"v", qos=1, pid=3))
    p = r.wait_for(PUBACK, 3)
    assert p.reason == 0x87 and p.prop(P_REASON_STRING) is None


def test_answer_that_cannot_fit_closes_with_packet_too_large(broker, raw):
    """A SUBACK for 40 filters cannot fit in 30 bytes even without properties: nothing larger is sent; the
    broker ends the connection with DISCONNECT 0x95 (which fits)."""
    r = raw(broker)
    r.connect("mps-huge", props=[(P_MAX_PACKET, 30)])
    r.send(helpers.subscribe(1, [("f/%d" % i, 0) for i in range(40)]))
    packets = r.until_closed()
    assert all(len(p.raw) <= 30 for p in packets)
    assert [p.type for p in packets] == [DISCONNECT] and packets[0].reason == 0x95


# ---- 3.1.1: no Receive Maximum ------------------------------------------------------------------------------

def test_v311_more_qos2_in_flight_than_max_inflight_is_not_disconnected(make_broker, raw):
    b = make_broker(options=["max_inflight_messages 5"])
    sub = raw(b, version=V311)
    sub.connect("q2-sub", version=V311)
    assert sub.subscribe([("q2/#", 2)]) == [2]
    pub = raw(b, version=V311)
    pub.connect("q2-pub", version=V311)
    n = 50
    for pid in range(1, n + 1):
        pub.send(helpers.publish("q2/%d" % pid, b"m%d" % pid, qos=2, pid=pid, version=V311))
    recs = [pub.wait_for(PUBREC, pid) for pid in range(1, n + 1)]
    assert len(recs) == n
    # A duplicate while awaiting PUBREL is acknowledged, never routed twice.
    pub.send(helpers.publish("q2/1", b"m1", qos=2, pid=1, dup=True, version=V311))
    pub.wait_for(PUBREC, 1)
    for pid in range(1, n + 1):
        pub.send(helpers.ack(helpers.PUBREL, pid))
    for pid in range(1, n + 1):
        pub.wait_for(PUBCOMP, pid)
    got = sorted(sub.next_publish().payload for _ in range(n))
    assert got == sorted(b"m%d" % i for i in range(1, n + 1))
    # Exactly once: the marker arrives next, no duplicate of m1 before it.
    pub.send(helpers.publish("q2/marker", b"end", qos=0, version=V311))
    assert sub.next_publish().payload == b"end"


def test_v5_more_qos2_than_receive_maximum_is_disconnected(make_broker, raw):
    b = make_broker(options=["max_inflight_messages 5"])
    pub = raw(b)
    pub.connect("q2-v5")
    for pid in range(1, 7):
        pub.send(helpers.publish("q2v5/x", b"m", qos=2, pid=pid))
    pub.expect_disconnect(0x93)


# ---- expired retained messages leave memory ---------------------------------------------------------------

def _next_count(sub):
    """The next live (not retained-on-subscribe) value of $SYS/broker/retained messages/count."""
    while True:
        p = sub.next_publish()
        if p.retain or p.topic != "$SYS/broker/retained messages/count":
            continue
        return int(p.payload)


def test_expired_retained_messages_are_removed_not_only_hidden(make_broker, raw):
    b = make_broker(options=["sys_interval 1"])
    watch = raw(b)
    watch.connect("ret-watch")
    watch.subscribe([("$SYS/broker/retained messages/count", 0)])
    _next_count(watch)                  # the first round also retains the $SYS topics after this one
    baseline = _next_count(watch)
    pub = raw(b)
    pub.connect("ret-pub")
    for i in range(5):
        pub.pub("ret/exp/%d" % i, b"soon gone", qos=1, retain=True, props=[(helpers.P_MESSAGE_EXPIRY, 1)])
    pub.pub("ret/keep", b"stays", qos=1, retain=True)
    # Exactly baseline + 1 can only be counted once the five expired ones were taken out of the store (no
    # subscriber looked them up: the periodic sweep removed them).
    deadline_rounds = 60
    while deadline_rounds:
        if _next_count(watch) == baseline + 1:
            break
        deadline_rounds -= 1
    assert deadline_rounds, "the expired retained messages were never removed"
    late = raw(b)
    late.connect("ret-late")
    late.subscribe([("ret/#", 0)])
    pub.send(helpers.publish("ret/marker", b"m"))
    got = late.publishes_until("ret/marker")
    assert [p.topic for p in got] == ["ret/keep", "ret/marker"]


# ---- every limit configurable and enforced: sessions, subscriptions per client, topic levels --------------

def test_max_sessions_refuses_new_sessions_but_not_resumes(make_broker, raw):
    b = make_broker(options=["max_sessions 2"])
    for cid in ("ms-1", "ms-2"):
        r = raw(b)
        r.connect(cid, props=[(helpers.P_SESSION_EXPIRY, 300)])
        r.send(helpers.disconnect())
        r.until_closed()
    # Two offline persistent sessions fill the cap: a third client id is refused, v5 and 3.1.1.
    r = raw(b)
    r.send(helpers.connect("ms-3"))
    p = r.recv()
    assert p.type == CONNACK and p.reason == 0x97
    r = raw(b, version=V311)
    r.send(helpers.connect("ms-4", version=V311, clean=False))
    p = r.recv()
    assert p.type == CONNACK and p.reason == 3
    # Resuming an existing session needs no new one.
    r = raw(b)
    ack = r.connect("ms-1", clean=False, props=[(helpers.P_SESSION_EXPIRY, 300)])
    assert ack.session_present
    # Ending a session frees a slot: clean start replaces ms-1's session, then it ends on disconnect.
    r.send(helpers.disconnect(0, props=[(helpers.P_SESSION_EXPIRY, 0)]))
    r.until_closed()
    raw(b).connect("ms-5")


def test_max_subscriptions_per_client(make_broker, raw):
    b = make_broker(options=["max_subscriptions_per_client 3"])
    r = raw(b)
    r.connect("subs-cap")
    assert r.subscribe([("s/1", 0), ("s/2", 1), ("s/3", 2)], pid=1) == [0, 1, 2]
    assert r.subscribe([("s/4", 0)], pid=2) == [0x97]
    assert r.subscribe([("s/1", 1)], pid=3) == [1]         # replacing an existing one is not a new one
    r.send(helpers.unsubscribe(4, ["s/2"]))
    r.wait_for(helpers.UNSUBACK, 4)
    assert r.subscribe([("s/4", 0)], pid=5) == [0]
    r311 = raw(b, version=V311)
    r311.connect("subs-cap-311", version=V311)
    assert r311.subscribe([("t/1", 0), ("t/2", 0), ("t/3", 0), ("t/4", 0)]) == [0, 0, 0, 0x80]


def test_max_topic_levels(make_broker, raw):
    b = make_broker(options=["max_topic_levels 4"])
    r = raw(b)
    r.connect("levels-ok")
    assert r.subscribe([("a/b/c/d", 0)]) == [0]
    r.pub("a/b/c/d", b"x", qos=1)
    pub = raw(b)
    pub.connect("levels-pub")
    pub.send(helpers.publish("a/b/c/d/e", b"x", qos=1, pid=1))
    pub.expect_disconnect(0x90)
    sub = raw(b)
    sub.connect("levels-sub")
    sub.send(helpers.subscribe(1, [("a/b/c/d/#", 0)]))
    sub.expect_disconnect(0x8F)
    assert helpers.ping_ok(b)


def test_connack_that_cannot_fit_closes_without_sending(broker, raw):
    """Maximum Packet Size 8: no CONNACK of this broker fits (its properties alone are larger). Nothing larger
    is sent [MQTT-3.1.2-24]; the connection is closed (no DISCONNECT before CONNACK)."""
    r = raw(broker)
    r.send(helpers.connect("tiny", props=[(P_MAX_PACKET, 8)]))
    packets = r.until_closed()
    assert packets == []
    assert helpers.ping_ok(broker)


def test_memory_limit_counts_subscriptions_and_sessions(make_broker, raw):
    """The memory ceiling also covers sessions and subscriptions: beyond it a new subscription gets 0x97 and a
    new session CONNACK 0x97; unsubscribing gives the memory back."""
    b = make_broker(options=["memory_limit 200k"])
    r = raw(b)
    r.connect("mem-subs")
    codes = []
    for i in range(12):                      # 12 x 30 KB filters against a 200 KB ceiling
        codes.append(r.subscribe([("m%d/" % i + "x" * 30000, 0)], pid=i + 1)[0])
    assert codes[0] == 0 and 0x97 in codes
    first_refused = codes.index(0x97)
    assert all(c == 0x97 for c in codes[first_refused:])
    late = raw(b)
    late.send(helpers.connect("mem-late"))
    p = late.recv()
    assert p.type == CONNACK and p.reason == 0x97
    r.send(helpers.unsubscribe(100, ["m%d/" % i + "x" * 30000 for i in range(first_refused)]))
    r.wait_for(helpers.UNSUBACK, 100)
    raw(b).connect("mem-late2")
    assert r.subscribe([("m0/" + "x" * 30000, 0)], pid=101) == [0]


def test_broker_assigns_at_most_max_topic_alias_aliases(make_broker, raw):
    """The client allows 100 aliases; the listener's max_topic_alias 3 caps what the broker assigns (each alias
    holds a copy of its topic), and every message still resolves."""
    b = make_broker(listener_options=["max_topic_alias 3"])
    sub = raw(b)
    sub.connect("alias-cap", props=[(helpers.P_TOPIC_ALIAS_MAX, 100)])
    sub.subscribe([("al/#", 0)])
    pub = raw(b)
    pub.connect("alias-pub")
    names = ["al/%d" % i for i in range(8)] * 2
    for n in names:
        pub.pub(n, b"x", qos=1)
    got = [sub.next_publish() for _ in names]
    aliases = {p.prop(helpers.P_TOPIC_ALIAS) for p in got} - {None}
    assert aliases and max(aliases) <= 3
    known, resolved = {}, []
    for p in got:
        a = p.prop(helpers.P_TOPIC_ALIAS)
        if p.topic:
            if a:
                known[a] = p.topic
            resolved.append(p.topic)
        else:
            resolved.append(known[a])
    assert resolved == names
