"""60 Persistence under crashes: publishers send numbered QoS 1 and QoS 2 messages to a persistent subscriber
while the broker is killed with SIGKILL at random moments; afterwards every acknowledged message has arrived
and no QoS 2 message arrived twice (docs/persistence.md, "The promise").

The clients reconnect exactly once per restart, driven by the test: paho-mqtt 1.6.1 resets its in-flight state
on every reconnect attempt, and a second attempt (the first one refused while the broker is down) turns a QoS 2
message waiting for PUBCOMP into a brand-new PUBLISH without DUP, a client bug that would duplicate it."""
import os
import random
import threading
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

import helpers
from test_60_persistence import ENGINES, engine_options, kill9, persist_options

pytestmark = pytest.mark.skipif(helpers.is_mosquitto(), reason="Rampart's persistence")

KILLS = int(os.environ.get("RAMPART_TEST_KILLS", "4"))
PER_BURST = 15  # below the broker's Receive Maximum (20): paho resends every unfinished message at once on reconnect


def session_props():
    p = Properties(PacketTypes.CONNECT)
    p.SessionExpiryInterval = 3600
    return p


class Peer:
    """A paho v5 client with a persistent session that reconnects by itself after the broker died."""

    def __init__(self, broker, client_id):
        self.c = mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv5, reconnect_on_failure=False)
        self.c.max_inflight_messages_set(20)
        self.c.max_queued_messages_set(0)
        self.lock = threading.Lock()
        self.received = []
        self.acked = set()
        self.mids = {}
        self.early = set()
        self.c.on_message = self._on_message
        self.c.on_publish = self._on_publish
        self.c.on_disconnect = self._on_disconnect
        self.c.on_subscribe = self._on_subscribe
        self.lost = threading.Event()
        self.subscribed = threading.Event()
        self.c.connect(broker.host, broker.port, keepalive=5, clean_start=False, properties=session_props())
        self.c.loop_start()

    def _on_disconnect(self, client, userdata, rc, properties=None):
        self.lost.set()

    def _on_subscribe(self, client, userdata, mid, granted, properties=None):
        self.subscribed.set()

    def _on_message(self, client, userdata, msg):
        with self.lock:
            self.received.append((msg.qos, msg.payload.decode()))

    # paho calls on_publish from its network thread holding its own message lock: never call paho while
    # holding self.lock (a deadlock), and accept an acknowledgement that arrives before publish() returned.
    def _on_publish(self, client, userdata, mid):
        with self.lock:
            if mid in self.mids:
                self.acked.add(self.mids.pop(mid))
            else:
                self.early.add(mid)

    def publish(self, topic, payload, qos):
        info = self.c.publish(topic, payload, qos=qos)
        with self.lock:
            if info.mid in self.early:
                self.early.discard(info.mid)
                self.acked.add(payload)
            else:
                self.mids[info.mid] = payload
        return info

    def resume(self):
        """After a restart: one reconnect (the network thread ended with the lost connection)."""
        self.c.loop_stop()
        self.lost.clear()
        self.c.reconnect()
        self.c.loop_start()

    def outstanding(self):
        with self.c._out_message_mutex:
            return len(self.c._out_messages)

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


@pytest.mark.parametrize("engine", ENGINES)
def test_no_acknowledged_message_lost_and_no_qos2_duplicate_across_kill_9(make_broker, tmp_path, engine):
    # Queues large enough that a slow subscriber drops nothing (a full queue drops by design, issue 3).
    b = make_broker(options=persist_options(tmp_path, extra=["max_queued_messages 1000000", "max_queued_bytes 0"]
                                            + engine_options(engine)))
    sub = Peer(b, "crash-sub")
    helpers.wait_until(lambda: sub.c.is_connected(), "subscriber connected")
    sub.c.subscribe("CR/#", qos=2)
    helpers.wait_until(sub.subscribed.is_set, "the subscriber's SUBACK")  # in place before anything is sent
    pubs = [(Peer(b, "crash-pub-q1"), 1), (Peer(b, "crash-pub-q2"), 2)]
    helpers.wait_until(lambda: all(p.c.is_connected() for p, _ in pubs), "publishers connected")
    stop = threading.Event()
    sent = {1: 0, 2: 0}

    def produce(peer, qos):
        n = 0
        while not stop.is_set():
            if peer.outstanding() < PER_BURST:
                peer.publish("CR/q%d" % qos, "q%d-%06d" % (qos, n), qos)
                n += 1
                sent[qos] = n
            else:
                time.sleep(0.005)

    threads = [threading.Thread(target=produce, args=pq, daemon=True) for pq in pubs]
    for t in threads:
        t.start()
    rnd = random.Random()
    peers = [sub] + [p for p, _ in pubs]
    for _ in range(KILLS):
        time.sleep(rnd.uniform(0.4, 1.5))
        kill9(b)
        helpers.wait_until(lambda: all(p.lost.is_set() for p in peers), "clients saw the crash")
        time.sleep(rnd.uniform(0.05, 0.3))
        b.start()
        for p in peers:
            p.resume()
    time.sleep(1.0)  # production after the last restart, too
    # Enough acknowledged messages to mean anything (checked below), however slowly a loaded machine goes.
    helpers.wait_until(lambda: all(len(p.acked) > 50 for p, _ in pubs), "more than 50 acknowledged per QoS",
                       timeout=60, step=0.1)
    stop.set()
    for t in threads:
        t.join(timeout=5)
    # Every publish completes (paho resends what was not acknowledged), then the subscriber catches up.
    helpers.wait_until(lambda: all(p.outstanding() == 0 for p, _ in pubs), "publishers' flows completed",
                       timeout=60)
    acked = {qos: set(p.acked) for p, qos in pubs}
    for qos in (1, 2):
        assert len(acked[qos]) > 50, "too few messages acknowledged to mean anything: %d" % len(acked[qos])

    def got(qos):
        with sub.lock:
            return [pl for q, pl in sub.received if pl.startswith("q%d-" % qos)]

    try:
        helpers.wait_until(lambda: acked[1] <= set(got(1)) and acked[2] <= set(got(2)),
                           "every acknowledged message", timeout=30)
    except AssertionError:
        missing = sorted(acked[1] - set(got(1))) + sorted(acked[2] - set(got(2)))
        raise AssertionError("acknowledged but never delivered: %d, e.g. %r (%s)" % (len(missing), missing[:10],
                                                                                  b.log_path))
    q2 = got(2)
    dups = sorted({x for x in q2 if q2.count(x) > 1})
    assert not dups, "QoS 2 messages delivered twice: %r (%s)" % (dups[:10], b.log_path)
    assert b.log().count("persistence: restored 3 sessions") == KILLS
    for p, _ in pubs:
        p.close()
    sub.close()
