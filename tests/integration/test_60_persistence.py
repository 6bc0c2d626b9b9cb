"""60 Persistence: restart round-trips of every persisted kind, nothing readable at rest, tamper detection,
key rotation, and the fail-closed key rules (docs/persistence.md)."""
import os
import secrets
import struct

import pytest

import helpers
from helpers import (CONNACK, PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, P_CONTENT_TYPE, P_MESSAGE_EXPIRY,
                     P_SESSION_EXPIRY, P_SUB_ID, P_USER, P_WILL_DELAY, V311, V5, Raw, ack, publish)

pytestmark = pytest.mark.skipif(helpers.is_mosquitto(), reason="Rampart's encrypted persistence")


def write_key(path, hexkey=None):
    hexkey = hexkey or secrets.token_hex(32)
    with open(path, "w") as f:
        f.write(hexkey + "\n")
    os.chmod(path, 0o600)
    return hexkey


def persist_options(tmp_path, key="key", extra=()):
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    kp = tmp_path / key
    if not kp.exists():
        write_key(str(kp))
    return ["persistence true", "persistence_location %s" % data, "persistence_key_file %s" % kp] + list(extra)


# The storage engines (docs/persistence.md "The engine"): the round trip and the garbage file run on both; the
# crash and full-disk tests import these too.
ENGINES = ["lmdb", "sqlite"]
STORE_FILE = {"lmdb": "rampart.db", "sqlite": "rampart.sqlite"}


def engine_options(engine):
    """lmdb is the default: no option; sqlite is chosen with persistence_engine."""
    return [] if engine == "lmdb" else ["persistence_engine %s" % engine]


def kill9(b):
    """SIGKILL the broker (a crash); its restart() then starts the same configuration on the same port."""
    b.proc.kill()
    b.proc.wait()
    b.proc = None
    if b._log_file:
        b._log_file.close()
        b._log_file = None


def data_bytes(tmp_path):
    out = b""
    for name in sorted(os.listdir(tmp_path / "data")):
        with open(tmp_path / "data" / name, "rb") as f:
            out += f.read()
    return out


@pytest.mark.parametrize("engine", ENGINES)
def test_restart_round_trip_of_every_persisted_kind(make_broker, tmp_path, engine):
    b = make_broker(options=persist_options(tmp_path, extra=engine_options(engine)))
    # A v5 persistent subscriber with options, then offline: its queue builds up.
    s5 = Raw(b)
    s5.connect("PERSIST-SUB5-ID", clean=True, props=[(P_SESSION_EXPIRY, 3600)])
    assert s5.subscribe([("PT/q/#", 2 | 4)], props=[(P_SUB_ID, 7)]) == [2]   # QoS 2, No Local
    s5.send(helpers.disconnect())
    s5.sock.close()
    # A 3.1.1 persistent subscriber (clean session false), offline.
    s3 = Raw(b, version=V311)
    s3.connect("PERSIST-SUB311-ID", clean=False, version=V311)
    assert s3.subscribe([("PT/q/#", 1)]) == [1]
    s3.send(helpers.disconnect())
    s3.sock.close()
    # An online subscriber that never acknowledges: its QoS 1 message stays in flight.
    sif = Raw(b)
    sif.auto_ack = False
    sif.connect("PERSIST-INFLIGHT-ID", clean=True, props=[(P_SESSION_EXPIRY, 3600)])
    assert sif.subscribe([("PT/if", 1)]) == [1]
    # A client whose delayed will is pending (connection dropped, will delay 3 s).
    w = Raw(b)
    w.connect("PERSIST-WILL-ID", clean=True, props=[(P_SESSION_EXPIRY, 3600)],
              will={"topic": "PT/will", "payload": b"WILL-PAYLOAD-W1", "qos": 1, "props": [(P_WILL_DELAY, 3)]})
    w.sock.close()
    # Messages: retained, QoS 1 and 2 with properties, an in-flight one, and an inbound QoS 2 at PUBREC.
    pub = Raw(b)
    pub.connect("PERSIST-PUB-ID", clean=True, props=[(P_SESSION_EXPIRY, 3600)])
    pub.pub("PT/r/temp", b"RETAINED-PAYLOAD-R1", qos=1, retain=True)
    props = [(P_CONTENT_TYPE, "text/x-test"), (P_USER, ("userkey-one", "uservalue-one")), (P_USER, ("userkey-two", "uservalue-two")),
             (P_MESSAGE_EXPIRY, 3600)]
    pub.pub("PT/q/a", b"QUEUED-PAYLOAD-1", qos=1, props=props)
    pub.pub("PT/q/b", b"QUEUED-PAYLOAD-2", qos=2)
    pub.pub("PT/q/c", b"QUEUED-PAYLOAD-3", qos=1)
    pub.pub("PT/if", b"INFLIGHT-PAYLOAD-1", qos=1)
    first = sif.recv()
    assert first.type == PUBLISH and first.payload == b"INFLIGHT-PAYLOAD-1" and not first.dup
    pub.send(publish("PT/q/d", b"QOS2-INBOUND-PAYLOAD", qos=2, pid=42))
    assert pub.wait_for(PUBREC, 42).reason == 0
    # Crash.
    kill9(b)
    blob = data_bytes(tmp_path)
    for needle in (b"RETAINED-PAYLOAD", b"QUEUED-PAYLOAD", b"INFLIGHT-PAYLOAD", b"WILL-PAYLOAD", b"QOS2-INBOUND",
                   b"PT/q", b"PT/r/temp", b"PT/will", b"PERSIST-SUB5", b"PERSIST-SUB311", b"PERSIST-INFLIGHT",
                   b"PERSIST-WILL", b"PERSIST-PUB", b"text/x-test", b"userkey-one", b"uservalue-two"):
        assert needle not in blob, "%r readable in the data directory" % needle
    b.start()
    assert "restored 5 sessions, 1 retained messages" in b.log()
    # The delayed will still goes out.
    ww = Raw(b)
    ww.connect("will-watcher")
    ww.subscribe([("PT/will", 1)])
    wm = ww.next_publish(timeout=15)
    assert wm.payload == b"WILL-PAYLOAD-W1"
    # The retained message.
    r = Raw(b)
    r.connect("retained-reader")
    r.subscribe([("PT/r/#", 1)])
    rm = r.next_publish()
    assert rm.topic == "PT/r/temp" and rm.payload == b"RETAINED-PAYLOAD-R1" and rm.retain
    # The inbound QoS 2 state: the resent PUBLISH is not routed again; PUBREL completes it.
    pub2 = Raw(b)
    assert pub2.connect("PERSIST-PUB-ID", clean=False, props=[(P_SESSION_EXPIRY, 3600)]).session_present
    pub2.send(publish("PT/q/d", b"QOS2-INBOUND-PAYLOAD", qos=2, pid=42, dup=True))
    assert pub2.wait_for(PUBREC, 42).reason == 0
    pub2.send(ack(PUBREL, 42))
    assert pub2.wait_for(PUBCOMP, 42).reason == 0
    pub2.pub("PT/q/zz", b"marker", qos=1)
    # The v5 subscriber: its queue in order, with properties and its subscription identifier.
    s5b = Raw(b)
    assert s5b.connect("PERSIST-SUB5-ID", clean=False, props=[(P_SESSION_EXPIRY, 3600)]).session_present
    got = s5b.publishes_until("PT/q/zz")
    assert [m.payload for m in got] == [b"QUEUED-PAYLOAD-1", b"QUEUED-PAYLOAD-2", b"QUEUED-PAYLOAD-3",
                                        b"QOS2-INBOUND-PAYLOAD", b"marker"]
    assert got[0].prop(P_CONTENT_TYPE) == "text/x-test"
    assert got[0].prop_all(P_USER) == [("userkey-one", "uservalue-one"), ("userkey-two", "uservalue-two")]
    assert 0 < got[0].prop(P_MESSAGE_EXPIRY) <= 3600
    assert all(m.prop(P_SUB_ID) == 7 for m in got)
    assert got[1].qos == 2
    # No Local survived: the subscriber's own message does not come back.
    s5b.pub("PT/q/own", b"own", qos=1)
    pub2.pub("PT/q/zz3", b"marker2", qos=1)
    assert [m.topic for m in s5b.publishes_until("PT/q/zz3")] == ["PT/q/zz3"]
    # The 3.1.1 subscriber.
    s3b = Raw(b, version=V311)
    assert s3b.connect("PERSIST-SUB311-ID", clean=False, version=V311).session_present
    got3 = s3b.publishes_until("PT/q/zz")
    assert [m.payload for m in got3][:4] == [b"QUEUED-PAYLOAD-1", b"QUEUED-PAYLOAD-2", b"QUEUED-PAYLOAD-3",
                                             b"QOS2-INBOUND-PAYLOAD"]
    # The in-flight message is sent again, with DUP.
    sif2 = Raw(b)
    assert sif2.connect("PERSIST-INFLIGHT-ID", clean=False, props=[(P_SESSION_EXPIRY, 3600)]).session_present
    again = sif2.next_publish()
    assert again.payload == b"INFLIGHT-PAYLOAD-1" and again.dup and again.pid == first.pid


def test_clean_stop_keeps_state_and_ended_sessions_leave_the_store(make_broker, tmp_path):
    b = make_broker(options=persist_options(tmp_path))
    s = Raw(b)
    s.connect("keep-me", clean=True, props=[(P_SESSION_EXPIRY, 3600)])
    s.subscribe([("CS/#", 1)])
    s.send(helpers.disconnect())
    g = Raw(b)
    g.connect("gone-soon", clean=True, props=[(P_SESSION_EXPIRY, 3600)])
    g.subscribe([("CS/#", 1)])
    g.send(helpers.disconnect(0, [(P_SESSION_EXPIRY, 0)]))  # ends the session at disconnect
    p = Raw(b)
    p.connect("cs-pub")
    p.pub("CS/x", b"kept", qos=1)
    b.restart()  # SIGTERM: a clean stop commits the final state
    assert "restored 1 sessions" in b.log().split("rampart stopped")[-1]
    s2 = Raw(b)
    assert s2.connect("keep-me", clean=False, props=[(P_SESSION_EXPIRY, 3600)]).session_present
    assert s2.next_publish().payload == b"kept"
    g2 = Raw(b)
    assert not g2.connect("gone-soon", clean=False, props=[(P_SESSION_EXPIRY, 3600)]).session_present


def test_tampered_records_are_reported_and_skipped(make_broker, tmp_path):
    b = make_broker(options=persist_options(tmp_path))
    p = Raw(b)
    p.connect("tamper-pub")
    # One write: the broker reads the six PUBLISHes in one iteration, so they are committed in one transaction
    # and each record exists once in the file (LMDB copies pages on write: older batches leave stale copies).
    p.send(b"".join(publish("TP/%d" % i, b"retained-%d" % i, qos=1, retain=True, pid=i + 1) for i in range(6)))
    for i in range(6):
        p.wait_for(PUBACK, i + 1)
    b.stop()
    path = tmp_path / "data" / "rampart.db"
    blob = bytearray(open(path, "rb").read())
    # Every record starts with version 1 and the 4-byte key id: find them and flip one ciphertext byte in two.
    keyid = key_id(open(tmp_path / "key").read().strip())
    hits, start = [], 0
    while True:
        i = blob.find(b"\x01" + keyid, start)
        if i < 0:
            break
        hits.append(i)
        start = i + 1
    assert len(hits) == 6
    for i in hits[:2]:
        blob[i + 17 + 3] ^= 0xFF
    open(path, "wb").write(bytes(blob))
    b.start()
    log = b.log()
    assert "authentication failed (tampered or corrupt)" in log
    assert "2 records failed authentication" in log
    r = Raw(b)
    r.connect("tamper-reader")
    r.subscribe([("TP/#", 1)])
    r.pub("TP/zz", b"m", qos=0)
    got = r.publishes_until("TP/zz")
    assert len(got) == 5  # 4 intact retained messages + the marker


def key_id(hexkey):
    """The 4-byte key id of a master key: HKDF-SHA256(key, salt "rampart-persist", info "... key id v1")."""
    import hashlib
    import hmac
    prk = hmac.new(b"rampart-persist", bytes.fromhex(hexkey), hashlib.sha256).digest()
    okm = hmac.new(prk, b"rampart persist key id v1" + b"\x01", hashlib.sha256).digest()
    return okm[:4]


@pytest.mark.parametrize("engine", ENGINES)
def test_garbage_store_is_a_clear_error_not_a_crash(make_broker, tmp_path, engine):
    opts = persist_options(tmp_path, extra=engine_options(engine))
    with open(tmp_path / "data" / STORE_FILE[engine], "wb") as f:
        f.write(os.urandom(20000))
    with pytest.raises(AssertionError) as e:
        make_broker(options=opts)
    assert "move it away to start with an empty store" in str(e.value)


def test_key_rotation_rewrites_records(make_broker, tmp_path):
    b = make_broker(options=persist_options(tmp_path))
    p = Raw(b)
    p.connect("rot-pub")
    p.pub("ROT/a", b"rotated-payload", qos=1, retain=True)
    b.stop()
    os.rename(tmp_path / "key", tmp_path / "key.old")
    write_key(str(tmp_path / "key"))
    b.options.append("persistence_key_old_file %s" % (tmp_path / "key.old"))
    b.start()
    assert "1 records rewritten from the old key" in b.log()
    b.stop()
    b.options.pop()
    os.unlink(tmp_path / "key.old")
    b.start()
    r = Raw(b)
    r.connect("rot-reader")
    r.subscribe([("ROT/#", 1)])
    assert r.next_publish().payload == b"rotated-payload"


def test_persistence_fails_closed_without_a_private_key(tmp_path):
    import subprocess
    data = tmp_path / "data"
    data.mkdir()
    conf = tmp_path / "r.conf"
    conf.write_text("listener %d 127.0.0.1\npersistence true\npersistence_location %s\n" % (helpers.free_port(), data))
    out = subprocess.run([helpers.RAMPART_BIN, "-c", str(conf)], capture_output=True, text=True, timeout=20)
    assert out.returncode != 0
    assert "%s:2: persistence true needs a key" % conf in out.stderr
    kp = tmp_path / "key"
    write_key(str(kp))
    os.chmod(kp, 0o644)
    conf.write_text(conf.read_text() + "persistence_key_file %s\n" % kp)
    out = subprocess.run([helpers.RAMPART_BIN, "-c", str(conf)], capture_output=True, text=True, timeout=20)
    assert out.returncode != 0
    assert "readable or writable by other users" in out.stderr


def persist_options_for_reload(tmp_path):
    """
    persist_options for a broker that will get SIGHUP: it re-reads the configuration and the key as the
    account it dropped to, inside its sandbox, so the directories must let it through and the key must be
    that account's (as in a packaged install).
    """
    import pwd
    d = str(tmp_path)
    while d not in ("/", "/tmp", "") and os.stat(d).st_uid == os.getuid():
        os.chmod(d, os.stat(d).st_mode | 0o711)
        d = os.path.dirname(d)
    try:
        run_as = pwd.getpwnam("rampart")
    except KeyError:
        run_as = pwd.getpwnam("nobody")
    opts = persist_options(tmp_path)
    os.chown(tmp_path / "key", run_as.pw_uid, run_as.pw_gid)
    return opts


def test_key_rotation_on_sighup_without_restart(make_broker, tmp_path):
    import signal
    b = make_broker(options=persist_options_for_reload(tmp_path))
    p = Raw(b)
    p.connect("live-rot-pub")
    p.pub("LROT/a", b"before-rotation", qos=1, retain=True)
    s = Raw(b)
    s.connect("live-rot-sub", clean=True, props=[(P_SESSION_EXPIRY, 3600)])
    s.subscribe([("LROT/q", 1)])
    s.send(helpers.disconnect())
    p.pub("LROT/q", b"queued-before-rotation", qos=1)
    with open(tmp_path / "key", "w") as f:  # the configured key file now holds a new key (same owner, 0600)
        f.write(secrets.token_hex(32) + "\n")
    b.proc.send_signal(signal.SIGHUP)
    helpers.wait_until(lambda: "records rewritten from the old key" in b.log(), "records rewritten")
    p.pub("LROT/b", b"after-rotation", qos=1, retain=True)  # the broker kept serving
    kill9(b)
    b.start()  # the new key alone reads everything
    assert "0 under an unknown key" in b.log().split("records rewritten")[-1]
    r = Raw(b)
    r.connect("live-rot-reader")
    r.subscribe([("LROT/+", 1)])
    got = sorted([r.next_publish().payload, r.next_publish().payload])
    assert got == [b"after-rotation", b"before-rotation"]
    s2 = Raw(b)
    assert s2.connect("live-rot-sub", clean=False, props=[(P_SESSION_EXPIRY, 3600)]).session_present
    assert s2.next_publish().payload == b"queued-before-rotation"


def test_check_reports_a_readable_key_and_a_missing_data_directory(tmp_path):
    import subprocess
    kp = tmp_path / "key"
    write_key(str(kp))
    os.chmod(kp, 0o644)
    conf = tmp_path / "r.conf"
    conf.write_text("listener %d 127.0.0.1\npersistence true\npersistence_location %s\npersistence_key_file %s\n"
                    % (helpers.free_port(), tmp_path / "absent", kp))
    out = subprocess.run([helpers.RAMPART_BIN, "check", "-c", str(conf)], capture_output=True, text=True, timeout=20)
    assert out.returncode != 0
    text = out.stdout + out.stderr
    assert "readable or writable by other users" in text
    assert "persistence_location %s: not a directory" % (tmp_path / "absent") in text
