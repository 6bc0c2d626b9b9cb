"""60 Persistence on a full disk: a real 4 MiB tmpfs holds the store. New QoS 1/2 messages are refused (0x97 in
5.0, a disconnect in 3.1.1) while QoS 0 and already stored messages keep flowing; no acknowledged message is
lost; the broker accepts QoS 1/2 again by itself once space returns."""
import os
import subprocess

import pytest

import helpers
from helpers import P_SESSION_EXPIRY, PUBACK, V311, Raw, publish
from test_60_persistence import ENGINES, engine_options

pytestmark = pytest.mark.skipif(helpers.is_mosquitto(), reason="Rampart's persistence")


@pytest.fixture
def small_fs(tmp_path):
    """A 4 MiB tmpfs mounted on tmp_path/data for the test (root needed: without it the test fails)."""
    data = tmp_path / "data"
    data.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0755", "tmpfs", str(data)], check=True)
    try:
        yield data
    finally:
        subprocess.run(["umount", "-l", str(data)], check=False)


@pytest.mark.parametrize("engine", ENGINES)
def test_full_disk_refuses_qos1_2_keeps_qos0_and_stored_messages_and_recovers(small_fs, make_broker, tmp_path,
                                                                               engine):
    # small_fs comes first: pytest tears fixtures down in reverse, so the broker stops before the unmount.
    key = tmp_path / "key"
    key.write_text(os.urandom(32).hex() + "\n")
    os.chmod(key, 0o600)
    b = make_broker(options=["persistence true", "persistence_location %s" % small_fs,
                             "persistence_key_file %s" % key, "max_queued_messages 100000",
                             "max_queued_bytes 0"] + engine_options(engine))
    s = Raw(b)
    s.connect("full-sub", clean=True, props=[(P_SESSION_EXPIRY, 3600)])
    s.subscribe([("FD/#", 1)])
    s.sock.close()
    p = Raw(b)
    p.connect("full-pub")
    payload = os.urandom(32 * 1024)
    acked, refused = 0, 0
    for i in range(400):
        pid = i % 60000 + 1
        p.send(publish("FD/x", payload, qos=1, pid=pid))
        a = p.wait_for(PUBACK, pid, timeout=30)
        if a.reason >= 0x80:
            assert a.reason == 0x97, "refused with 0x%02x" % a.reason
            refused += 1
            if refused >= 3:
                break
        else:
            assert refused == 0, "accepted again right after a refusal, on a disk that stayed full"
            acked += 1
    assert refused >= 3 and acked > 10, "acked %d refused %d" % (acked, refused)
    assert "refusing new QoS 1/2 messages" in b.log()
    # QoS 0 still flows between connected clients.
    q = Raw(b)
    q.connect("full-qos0")
    q.subscribe([("FQ/#", 0)])
    p.pub("FQ/zero", b"qos0-while-full", qos=0)
    assert q.next_publish().payload == b"qos0-while-full"
    # A 3.1.1 client has no negative PUBACK: it is disconnected.
    v3 = Raw(b, version=V311)
    v3.connect("full-v311", version=V311)
    v3.send(publish("FD/y", b"x", qos=1, pid=1, version=V311))
    v3.expect_disconnect(None)
    # The stored messages flow to the subscriber, every acknowledged one.
    s2 = Raw(b)
    assert s2.connect("full-sub", clean=False, props=[(P_SESSION_EXPIRY, 3600)]).session_present
    got = [s2.next_publish(timeout=30) for _ in range(acked)]
    assert all(m.payload == payload for m in got)
    # Space came back (the delivered messages were deleted): QoS 1 is accepted again, by itself.
    def accepted():
        p.send(publish("FD/z", b"small", qos=1, pid=65000))
        return p.wait_for(PUBACK, 65000).reason == 0
    helpers.wait_until(accepted, "QoS 1 accepted again", timeout=20, step=0.3)
    assert "space available again" in b.log()
