"""60 Persistence: restored state under today's configuration (a lowered session expiry), shared-subscription
messages of a session that ends handed to another member (in memory and after a restart), a queue restored
in order across many batches (docs/persistence.md). The refusal of a store of an earlier format is a unit test
(tests/unit/test_persist.c): its records cannot be written from here."""
import pytest

import helpers
from helpers import P_SESSION_EXPIRY, PUBACK, V311, Raw, publish
from test_60_persistence import data_bytes, kill9, persist_options, persist_options_for_reload

pytestmark = pytest.mark.skipif(helpers.is_mosquitto(), reason="Rampart's encrypted persistence")


def offline_sessions(b, v5_id, v311_id, filt):
    """Leaves two offline sessions subscribed to filt (QoS 1): a 5.0 one with a Session Expiry of 7 days and a
    3.1.1 persistent one (clean session 0: never expires)."""
    v5 = Raw(b)
    v5.connect(v5_id, clean=True, props=[(P_SESSION_EXPIRY, 7 * 86400)])
    assert v5.subscribe([(filt, 1)]) == [1]
    v5.send(helpers.disconnect())
    v5.sock.close()
    v3 = Raw(b, version=V311)
    v3.connect(v311_id, clean=False, version=V311)
    assert v3.subscribe([(filt, 1)]) == [1]
    v3.send(helpers.disconnect())
    v3.sock.close()


def resume_and_expect(b, v5_id, v311_id, payload):
    """Both sessions of offline_sessions are still there, each with payload queued."""
    for cid, version in ((v5_id, helpers.V5), (v311_id, V311)):
        c = Raw(b, version=version)
        if version == V311:
            assert c.connect(cid, clean=False, version=V311).session_present
        else:
            assert c.connect(cid, clean=False, props=[(P_SESSION_EXPIRY, 3600)]).session_present
        assert c.next_publish().payload == payload


def test_restored_session_expiry_is_lowered_to_the_configured_maximum(make_broker, tmp_path):
    b = make_broker(options=persist_options(tmp_path))
    offline_sessions(b, "EXP-V5-ID", "EXP-V311-ID", "EXP/#")
    p = Raw(b)
    p.connect("exp-pub")
    p.pub("EXP/a", b"kept-1", qos=1)
    kill9(b)
    # Restart with a lower maximum: both sessions are restored with the lowered expiry.
    b.options.append("persistent_client_expiration 1h")
    start = len(b.log())
    b.start()
    log = b.log()[start:]
    assert "restored 2 sessions" in log
    assert "session EXP-V5-ID: expiry lowered from 604800 s to 3600 s" in log
    assert "session EXP-V311-ID: expiry lowered from never to 3600 s" in log
    # The lowered expiry was stored again: a further restart under the same maximum finds nothing to lower.
    start = len(b.log())
    b.restart()
    log = b.log()[start:]
    assert "restored 2 sessions" in log
    assert "expiry lowered" not in log
    # The sessions are still there, with their queued message.
    resume_and_expect(b, "EXP-V5-ID", "EXP-V311-ID", b"kept-1")


@pytest.mark.parametrize("restart", [False, True], ids=["in-memory", "after-restart"])
def test_shared_messages_of_an_expired_session_go_to_another_member(make_broker, tmp_path, restart):
    b = make_broker(options=persist_options(tmp_path))
    a = Raw(b)
    a.connect("SHARE-A-ID", clean=True, props=[(P_SESSION_EXPIRY, 4)])
    assert a.subscribe([("$share/grp/SHX/#", 1)]) == [1]
    a.send(helpers.disconnect())
    a.sock.close()
    # A is the group's only member: these wait in its queue while it is offline.
    p = Raw(b)
    p.connect("share-pub")
    for i in range(3):
        p.pub("SHX/%d" % i, b"shared-%d" % i, qos=1)
    if restart:
        kill9(b)
        for needle in (b"shared-", b"SHX", b"grp", b"SHARE-A"):
            assert needle not in data_bytes(tmp_path)
        start = len(b.log())
        b.start()
        assert "restored 1 sessions" in b.log()[start:]
    # B joins the group; when A's session expires without A coming back, its messages go to B, in order.
    m = Raw(b)
    m.connect("SHARE-B-ID")
    assert m.subscribe([("$share/grp/SHX/#", 1)]) == [1]
    got = [m.next_publish(timeout=20).payload for _ in range(3)]
    assert got == [b"shared-0", b"shared-1", b"shared-2"]
    helpers.wait_until(lambda: "session SHARE-A-ID expired" in b.log(), "A's session expired")
    # A is gone for good.
    a2 = Raw(b)
    assert not a2.connect("SHARE-A-ID", clean=False, props=[(P_SESSION_EXPIRY, 60)]).session_present


def test_long_queue_restored_in_order_across_batches(make_broker, tmp_path):
    b = make_broker(options=persist_options(tmp_path))
    s = Raw(b)
    s.connect("LONGQ-SUB-ID", clean=True, props=[(P_SESSION_EXPIRY, 3600)])
    assert s.subscribe([("LQ/#", 1)]) == [1]
    s.send(helpers.disconnect())
    s.sock.close()
    p = Raw(b)
    p.connect("longq-pub")
    n = 0
    # Bursts of several PUBLISHes per write, and some one by one: many segments, some of several messages.
    for burst in (1, 50, 1, 200, 7, 1, 300):
        p.send(b"".join(publish("LQ/m", b"lq-%05d" % (n + i), qos=1, pid=(n + i) % 65535 + 1) for i in range(burst)))
        for i in range(burst):
            p.wait_for(PUBACK, (n + i) % 65535 + 1)
        n += burst
    kill9(b)
    start = len(b.log())
    b.start()
    assert "restored 1 sessions, 0 retained messages, %d queued messages" % n in b.log()[start:]
    s2 = Raw(b)
    assert s2.connect("LONGQ-SUB-ID", clean=False, props=[(P_SESSION_EXPIRY, 3600)]).session_present
    got = [s2.next_publish().payload for _ in range(n)]
    assert got == [b"lq-%05d" % i for i in range(n)]
    # Once delivered, the messages leave the store (their segments are deleted): after a restart nothing
    # is queued.
    p2 = Raw(b)
    p2.connect("longq-marker")
    p2.pub("LQ/zz", b"marker", qos=1)
    assert s2.next_publish().payload == b"marker"
    s2.pub("LQ-sync", b"", qos=1)  # its PUBACK follows the marker's: the broker has seen every acknowledgement
    start = len(b.log())
    b.restart()
    assert "restored 1 sessions, 0 retained messages, 0 queued messages" in b.log()[start:], b.log()[start:]


def test_reload_lowers_live_session_expiry_and_stores_it(make_broker, tmp_path):
    """A SIGHUP that lowers persistent_client_expiration lowers the expiry of the sessions already in memory
    (offline and connected, 5.0 and 3.1.1) and stores the lowered value: a restart under the same maximum
    finds nothing to lower."""
    import os
    import signal
    b = make_broker(options=persist_options_for_reload(tmp_path))
    offline_sessions(b, "HUP-OFF-V5", "HUP-OFF-V311", "HUPX/#")
    live = Raw(b)
    live.connect("HUP-LIVE", clean=True, props=[(P_SESSION_EXPIRY, 86400)])
    assert live.subscribe([("HUPX/#", 1)]) == [1]
    short = Raw(b)
    short.connect("HUP-SHORT", clean=True, props=[(P_SESSION_EXPIRY, 600)])  # already below: untouched
    with open(b.config_path, "a") as f:
        f.write("persistent_client_expiration 1h\n")
    b.options.append("persistent_client_expiration 1h")
    start = len(b.log())
    os.kill(b.pid, signal.SIGHUP)
    helpers.wait_until(lambda: "expiry lowered to 3600 s" in b.log()[start:], "the reload's expiry clamp")
    assert "reload: 3 session(s): expiry lowered to 3600 s" in b.log()[start:]
    p = Raw(b)
    p.connect("hup-pub")
    p.pub("HUPX/a", b"after-reload", qos=1)
    assert live.next_publish().payload == b"after-reload"
    kill9(b)
    start = len(b.log())
    b.start()
    log = b.log()[start:]
    assert "restored 4 sessions" in log
    assert "expiry lowered" not in log
    resume_and_expect(b, "HUP-OFF-V5", "HUP-OFF-V311", b"after-reload")


def test_large_messages_between_small_ones_restored_in_order(make_broker, tmp_path):
    """Messages that would take a segment past its size (about 64 KiB) start a new one: a queue of 40 KiB
    messages between small ones, written in bursts, comes back whole and in order after kill -9."""
    b = make_broker(options=persist_options(tmp_path))
    s = Raw(b)
    s.connect("BIGQ-SUB-ID", clean=True, props=[(P_SESSION_EXPIRY, 3600)])
    assert s.subscribe([("BQ/#", 1)]) == [1]
    s.send(helpers.disconnect())
    s.sock.close()
    p = Raw(b)
    p.connect("bigq-pub")

    def body(i):
        return (b"%05d:" % i) * (8192 if i % 3 == 1 else 1)  # every third one 48 KiB

    n = 0
    for burst in (3, 1, 12, 5):
        p.send(b"".join(publish("BQ/m", body(n + i), qos=1, pid=n + i + 1) for i in range(burst)))
        for i in range(burst):
            p.wait_for(PUBACK, n + i + 1)
        n += burst
    kill9(b)
    start = len(b.log())
    b.start()
    assert "restored 1 sessions, 0 retained messages, %d queued messages" % n in b.log()[start:]
    s2 = Raw(b)
    assert s2.connect("BIGQ-SUB-ID", clean=False, props=[(P_SESSION_EXPIRY, 3600)]).session_present
    got = [s2.next_publish().payload for _ in range(n)]
    assert got == [body(i) for i in range(n)]
