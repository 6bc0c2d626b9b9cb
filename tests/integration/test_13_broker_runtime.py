"""13 The broker at run time: a slow consumer cannot grow memory, bounded offline queues, the memory ceiling,
$SYS topics, SIGHUP reload of limits (and a broken file keeps the running configuration)."""
import os
import signal
import socket
import time

import helpers as h
from helpers import V311, V5


def _sub(broker, name, filt, qos=0, version=V5):
    r = h.Raw(broker, version)
    r.connect(name)
    r.subscribe([(filt, qos)])
    return r


def test_slow_consumer_does_not_grow_memory_and_others_get_everything(make_broker, topic):
    if h.is_mosquitto():
        return
    # A small ASan quarantine, so that freed memory shows as freed in the resident size.
    broker = make_broker(env={"ASAN_OPTIONS": "quarantine_size_mb=1"})
    slow = h.Raw(broker, V5)
    slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect("slow")
    slow.subscribe([(topic, 0)])  # and then never reads again
    fast = _sub(broker, "fast", topic, 0)
    pub = h.Raw(broker, V5)
    pub.connect("pub")
    before = broker.rss_kib()
    payload = b"s" * 8192
    count = 4000  # 32 MB through the broker
    for i in range(count):
        pub.send(h.publish(topic, payload, qos=0))
        if i % 200 == 199:
            # The healthy subscriber keeps up and gets every message.
            got = 0
            while got < 200:
                p = fast.next_publish()
                assert p.payload == payload
                got += 1
    grown = broker.rss_kib() - before
    assert grown < 24 * 1024, "broker grew by %d KiB for a subscriber that never reads" % grown
    assert h.ping_ok(broker)
    # The slow subscriber's losses are counted where operators look.
    obs = _sub(broker, "obs", "$SYS/broker/publish/messages/dropped", 0)
    h.wait_until(lambda: int(obs.next_publish(timeout=15).payload) > 0, "dropped messages in $SYS")
    # And the broker's own count of what it holds stays near the per-connection output limit.
    heap = _sub(broker, "heap", "$SYS/broker/heap/current", 0)
    assert int(heap.next_publish(timeout=15).payload) < 8 * 1024 * 1024


def test_offline_queue_is_bounded(make_broker, topic):
    broker = make_broker(options=["max_queued_messages 10"])
    r = h.Raw(broker, V311)
    r.connect("offline-q", clean=False)
    r.subscribe([(topic, 1)])
    r.close()
    pub = h.Raw(broker, V5)
    pub.connect("offline-pub")
    for i in range(30):
        pub.pub(topic, b"%d" % i, qos=1)
    back = h.Raw(broker, V311)
    ck = back.connect("offline-q", clean=False)
    assert ck.session_present
    got = [back.next_publish().payload for _ in range(10)]
    assert got == [b"%d" % i for i in range(10)]  # the oldest, in order; the rest were dropped
    back.send(h.pingreq())
    assert back.wait_for(h.PINGRESP).type == h.PINGRESP and not back.inbox


def test_memory_ceiling_refuses_then_recovers(make_broker, topic):
    if h.is_mosquitto():
        return
    broker = make_broker(options=["memory_limit 2097152"])
    pub = h.Raw(broker, V5)
    pub.connect("ceiling")
    big = b"m" * (512 * 1024)
    codes = []
    for i in range(8):  # 4 MB of retained messages against a 2 MB ceiling
        codes.append(pub.pub("%s/%d" % (topic, i), big, qos=1, retain=True).reason)
    assert 0x97 in codes
    for i in range(8):  # deleting retained messages is always allowed and frees the memory
        pub.pub("%s/%d" % (topic, i), b"", qos=1, retain=True)
    assert pub.pub(topic + "/after", b"ok", qos=1).reason in (0x00, 0x10)


def test_sys_topics(make_broker):
    broker = make_broker(options=["sys_interval 1"])
    r = h.Raw(broker, V5)
    r.connect("sys")
    r.subscribe([("$SYS/broker/version", 0), ("$SYS/broker/uptime", 0), ("$SYS/broker/clients/connected", 0),
                 ("$SYS/broker/load/messages/received/1min", 0), ("$SYS/broker/bytes/sent", 0)])
    seen = {}
    deadline = time.monotonic() + 10
    while (len(seen) < 5 or seen["$SYS/broker/clients/connected"] == b"0") and time.monotonic() < deadline:
        p = r.next_publish()  # the first values are retained ones, from before this client came
        seen[p.topic] = p.payload
    assert len(seen) == 5, seen
    assert seen["$SYS/broker/uptime"].endswith(b" seconds")
    assert int(seen["$SYS/broker/clients/connected"]) >= 1
    # '#' does not reach $SYS topics.
    w = h.Raw(broker, V5)
    w.connect("wild")
    w.subscribe([("#", 0)])
    w.send(h.pingreq())
    assert w.wait_for(h.PINGRESP).type == h.PINGRESP
    time.sleep(1.5)
    w.send(h.pingreq())
    w.wait_for(h.PINGRESP)
    assert not [p for p in w.inbox if p.topic.startswith("$")]


def _traversable(path):
    """The broker re-reads its file on SIGHUP as the unprivileged user it dropped to, inside its Landlock
    ruleset (made at start-up): the directories above the test's workdir must let that user through (not
    list), as they would for a packaged /etc/rampart/rampart.conf."""
    d = str(path)
    while d not in ("/", "/tmp", "") and os.stat(d).st_uid == os.getuid():
        os.chmod(d, os.stat(d).st_mode | 0o711)
        d = os.path.dirname(d)


def test_sighup_reloads_limits_and_keeps_running_on_a_bad_file(make_broker, topic, tmp_path):
    if h.is_mosquitto():
        return
    _traversable(tmp_path)
    broker = make_broker(options=["max_queued_messages 3"])
    r = h.Raw(broker, V311)
    r.connect("hup", clean=False)
    r.subscribe([(topic, 1)])
    r.close()
    with open(broker.config_path) as f:
        text = f.read()
    with open(broker.config_path, "w") as f:
        f.write(text.replace("max_queued_messages 3", "max_queued_messages 6"))
    os.kill(broker.pid, signal.SIGHUP)
    h.wait_until(lambda: "reload: broker limits applied" in broker.log(), "the reload")
    pub = h.Raw(broker, V5)
    pub.connect("hup-pub")
    for i in range(10):
        pub.pub(topic, b"%d" % i, qos=1)
    back = h.Raw(broker, V311)
    back.connect("hup", clean=False)
    got = [back.next_publish().payload for _ in range(6)]
    assert got == [b"%d" % i for i in range(6)]
    with open(broker.config_path, "a") as f:
        f.write("no_such_option 1\n")
    os.kill(broker.pid, signal.SIGHUP)
    h.wait_until(lambda: "keeping the running one" in broker.log(), "the refused reload")
    assert "no_such_option" in broker.log()
    assert h.ping_ok(broker)
