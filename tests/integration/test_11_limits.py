"""11 Limits: a slow consumer cannot grow broker memory without bound; connection limit; packet size."""
import socket

import helpers as h
from helpers import V311, V5

# ASan keeps freed memory in a quarantine (256 MiB by default), which would look like growth: keep it small.
SMALL_QUARANTINE = {"ASAN_OPTIONS": "quarantine_size_mb=8:thread_local_quarantine_size_kb=256"}
MESSAGE = 16 * 1024
BATCHES = 60
WINDOW = 50          # 60 x 50 x 16 KiB = 48 MiB through the broker
GROWTH_CAP_KIB = 24 * 1024


def _stalled_subscriber(broker, topic, qos):
    """A v5 subscriber with a tiny receive buffer that subscribes and then never reads again."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(h.WAIT)
    s.connect((broker.host, broker.port))
    s.sendall(h.connect("stalled-%d" % qos, props=[(h.P_SESSION_EXPIRY, 300)]))
    s.sendall(h.subscribe(1, [(topic, qos)]))
    # read CONNACK and SUBACK (a few bytes), then never again
    got = b""
    while len(got) < 5 + 6:
        chunk = s.recv(16)
        assert chunk, "broker closed the stalled subscriber during setup"
        got += chunk
    return s


def _flood(pub, topic, qos, rss_samples, broker):
    payload = b"\xa5" * MESSAGE
    pid = 0
    for _ in range(BATCHES):
        pids = []
        for _ in range(WINDOW):
            pid = pid % 65535 + 1
            pub.send(h.publish(topic, payload, qos=1, pid=pid))
            pids.append(pid)
        for p in pids:
            pub.wait_for(h.PUBACK, p)
        rss_samples.append(broker.rss_kib())


def _slow_consumer(make_broker, raw, topic, qos):
    b = make_broker(["max_queued_messages 100", "max_queued_bytes 1048576", "max_inflight_messages 20"],
                    env=SMALL_QUARANTINE)
    warm = raw(b, V5)
    warm.connect("warm")
    warm.pub(topic + "/warm", b"w" * MESSAGE, qos=1)
    stalled = _stalled_subscriber(b, topic, qos)
    pub = raw(b, V5)
    pub.connect("flooder")
    base = b.rss_kib()
    samples = []
    try:
        _flood(pub, topic, qos, samples, b)
        peak = max(samples)
        assert peak - base < GROWTH_CAP_KIB, "broker RSS grew %d KiB (base %d, samples %r)" % (
            peak - base, base, samples)
        assert h.ping_ok(b)
    finally:
        stalled.close()
    return b


def test_slow_consumer_qos0_bounded(make_broker, raw, topic):
    _slow_consumer(make_broker, raw, topic, 0)


def test_slow_consumer_qos1_bounded(make_broker, raw, topic):
    _slow_consumer(make_broker, raw, topic, 1)


def _try_connect(broker, cid):
    """Returns the CONNACK reason (0 = accepted) or None when the broker closed the connection first."""
    r = h.Raw(broker, V5)
    try:
        r.send(h.connect(cid))
        try:
            p = r.recv()
        except h.Closed:
            return None, r
        assert p.type == h.CONNACK
        return p.reason, r
    except (ConnectionResetError, BrokenPipeError):
        return None, r


def test_max_connections(make_broker, raw):
    b = make_broker(listener_options=["max_connections 3"])
    held = []
    for i in range(3):
        r = raw(b, V5)
        r.connect("held-%d" % i)
        held.append(r)
    reason, extra = _try_connect(b, "one-too-many")
    try:
        assert reason is None or reason >= 0x80
    finally:
        extra.close()
    held[0].send(h.disconnect())
    held[0].until_closed()
    held[0].close()

    def admitted():
        reason, r = _try_connect(b, "after-free")
        ok = reason == 0
        r.close()
        return ok
    assert h.wait_until(admitted, "a free connection slot")


def test_packet_too_large_v311_closed(make_broker, raw, topic):
    b = make_broker(["max_packet_size 1000"])
    r = raw(b, V311)
    r.connect("big311", version=V311)
    r.send(h.publish(topic, b"x" * 4000, qos=0, version=V311))
    r.expect_disconnect(None)
    assert h.ping_ok(b, V311)


def test_oversized_remaining_length_rejected_before_body(make_broker, raw, topic):
    # The header announces 200 MB; the broker must refuse on the header alone, never wait for or buffer it.
    b = make_broker(["max_packet_size 10000"])
    r = raw(b, V5)
    r.connect("huge-header")
    r.send(b"\x30" + h.vbi(200 * 1024 * 1024) + h.mstr(topic))
    r.expect_disconnect(0x95)


def test_oversized_connect_before_auth_rejected(broker, raw):
    # A CONNECT claiming 100 MB: refused without buffering it.
    r = raw(broker, V5)
    r.send(b"\x10" + h.vbi(100 * 1024 * 1024) + h.mstr("MQTT") + b"\x05\x02\x00\x3c\x00")
    packets = r.until_closed()
    assert all(p.type == h.CONNACK and p.reason >= 0x80 for p in packets)
    assert h.ping_ok(broker)


def test_many_clients_and_subscriptions(broker, raw, topic):
    subs = []
    for i in range(40):
        r = raw(broker, V5 if i % 2 else V311)
        r.connect("many-%d" % i)
        r.subscribe([(topic + "/%d/#" % i, 1), (topic + "/all", 0)])
        subs.append(r)
    pub = raw(broker, V5)
    pub.connect("many-pub")
    pub.pub(topic + "/all", b"fanout", qos=1)
    for r in subs:
        assert r.next_publish().payload == b"fanout"
    pub.pub(topic + "/7/x", b"seven", qos=1)
    assert subs[7].next_publish().payload == b"seven"
