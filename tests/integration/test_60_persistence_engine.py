"""60 Persistence engines: persistence_engine lmdb|sqlite is validated (file:line), each engine keeps its own
file, and a store written by one engine is never read by the other: the broker and `rampart check` say which
engine wrote it (docs/persistence.md "The engine")."""
import os
import re
import struct
import subprocess

import pytest

import helpers
from helpers import P_SESSION_EXPIRY, PUBACK, Raw, publish
from test_60_persistence import kill9, persist_options

pytestmark = pytest.mark.skipif(helpers.is_mosquitto(), reason="Rampart's encrypted persistence")


def run(args, timeout=20):
    return subprocess.run([helpers.RAMPART_BIN] + args, capture_output=True, text=True, timeout=timeout)


def test_an_unknown_engine_is_a_file_line_error(tmp_path):
    opts = persist_options(tmp_path, extra=["persistence_engine rocksdb"])
    conf = tmp_path / "r.conf"
    conf.write_text("listener %d 127.0.0.1\n%s\n" % (helpers.free_port(), "\n".join(opts)))
    line = 1 + 1 + opts.index("persistence_engine rocksdb")
    for args in (["-c", str(conf)], ["check", "-c", str(conf)]):
        out = run(args)
        assert out.returncode != 0
        assert "%s:%d: " % (conf, line) in out.stdout + out.stderr
        assert "'rocksdb' is not a storage engine: use lmdb (the default) or sqlite" in out.stdout + out.stderr


def test_sqlite_store_survives_kill_9_in_its_own_file(make_broker, tmp_path):
    b = make_broker(options=persist_options(tmp_path, extra=["persistence_engine sqlite"]))
    s = Raw(b)
    s.connect("engine-sub", clean=True, props=[(P_SESSION_EXPIRY, 3600)])
    s.subscribe([("EN/#", 1)])
    s.sock.close()
    p = Raw(b)
    p.connect("engine-pub")
    for i in range(20):
        p.pub("EN/x", b"ENGINE-PAYLOAD-%02d" % i, qos=1)
    kill9(b)
    names = sorted(os.listdir(tmp_path / "data"))
    assert "rampart.sqlite" in names and "rampart.db" not in names, names
    assert "rampart.sqlite-wal" in names, names  # the acknowledged messages are (at least) in the WAL
    for name in names:
        blob = open(tmp_path / "data" / name, "rb").read()
        assert b"ENGINE-PAYLOAD" not in blob and b"engine-sub" not in blob and b"EN/x" not in blob, name
    b.start()
    assert "restored 1 sessions, 0 retained messages, 20 queued messages" in b.log()
    s2 = Raw(b)
    assert s2.connect("engine-sub", clean=False, props=[(P_SESSION_EXPIRY, 3600)]).session_present
    assert [s2.next_publish().payload for _ in range(20)] == [b"ENGINE-PAYLOAD-%02d" % i for i in range(20)]


def test_switching_engine_does_not_drop_the_other_store(make_broker, tmp_path):
    b = make_broker(options=persist_options(tmp_path))  # lmdb, rampart.db
    p = Raw(b)
    p.connect("switch-pub")
    p.pub("SW/r", b"kept", qos=1, retain=True)
    b.stop()
    # Same directory, the other engine with its own file name: refused, the lmdb store is named.
    b.options.append("persistence_engine sqlite")
    with pytest.raises(AssertionError) as e:
        b.start()
    text = str(e.value)
    assert "rampart.db is a store of the lmdb engine, but persistence_engine is sqlite" in text
    assert "set persistence_engine lmdb" in text
    assert not os.path.exists(tmp_path / "data" / "rampart.sqlite")


def test_a_file_of_the_other_engine_is_refused_by_the_broker_and_by_check(make_broker, tmp_path):
    b = make_broker(options=persist_options(tmp_path, extra=["persistence_engine sqlite",
                                                               "persistence_file store"]))
    p = Raw(b)
    p.connect("other-pub")
    p.pub("OT/r", b"kept", qos=1, retain=True)
    b.stop()
    b.options.remove("persistence_engine sqlite")  # now lmdb, same persistence_file
    with pytest.raises(AssertionError) as e:
        b.start()
    assert "this store was written by the sqlite engine, but the broker uses lmdb" in str(e.value)
    conf = tmp_path / "c.conf"
    conf.write_text("listener %d 127.0.0.1\n%s\n" % (helpers.free_port(), "\n".join(b.options)))
    out = run(["check", "-c", str(conf)])
    assert out.returncode != 0
    assert "persistence_engine lmdb: %s was written by the sqlite engine" % (tmp_path / "data" / "store") \
        in out.stdout + out.stderr
    b.options.append("persistence_engine sqlite")  # back to the right engine: everything is there
    b.start()
    r = Raw(b)
    r.connect("other-reader")
    r.subscribe([("OT/#", 1)])
    assert r.next_publish().payload == b"kept"


def sqlite_pages(path):
    """SQLite's page size, the number of records of the store's WITHOUT ROWID table (an index B-tree: its interior
    pages hold records too) and its leaf pages as {page number: records}, from the file format: the page size at
    offset 16 (big endian), each page's type byte (0x0a index leaf, 0x02 index interior) and cell count (bytes 3-4).
    Page 1 holds the schema."""
    data = open(path, "rb").read()
    psize = struct.unpack_from(">H", data, 16)[0]
    psize = 65536 if psize == 1 else psize
    leaves, interior = {}, 0
    for pgno in range(2, len(data) // psize + 1):
        base = (pgno - 1) * psize
        cells = struct.unpack_from(">H", data, base + 3)[0]
        if data[base] == 0x0A:
            leaves[pgno] = cells
        elif data[base] == 0x02:
            interior += cells
    return psize, sum(leaves.values()) + interior, leaves


def test_salvage_of_a_damaged_sqlite_store(make_broker, tmp_path):
    b = make_broker(options=persist_options(tmp_path, extra=["user root", "persistence_engine sqlite"]))
    p = Raw(b)
    p.connect("sq-salvage-pub")
    total = 240
    for start in range(0, total, 40):
        p.send(b"".join(publish("SQ/%03d" % i, (b"payload-%03d-" % i) * 30, qos=1, retain=True, pid=i + 1)
                        for i in range(start, start + 40)))
        for i in range(start, start + 40):
            p.wait_for(PUBACK, i + 1)
    b.stop()  # a clean stop checkpoints the WAL into the file
    store = str(tmp_path / "data" / "rampart.sqlite")
    psize, entries, leaves = sqlite_pages(store)
    assert entries >= total and len(leaves) >= 4, (entries, leaves)
    victim = sorted(leaves)[len(leaves) // 2]
    lost = leaves[victim]
    with open(store, "r+b") as f:
        f.seek((victim - 1) * psize)
        f.write(b"\x00" + os.urandom(psize - 1))
    with pytest.raises(AssertionError) as e:
        b.start()
    assert "structurally corrupt (the sqlite engine's check failed)" in str(e.value)
    out = subprocess.run([helpers.RAMPART_BIN, "store-salvage", "-c", b.config_path], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 1, out.stdout + out.stderr  # 1: something was lost
    # The damaged leaf's records are lost, and a few neighbours at most: a record in an interior page right after
    # the damaged leaf cannot start a read (a seek to it descends into the damaged leaf first).
    recovered = int(re.search(r"recovered (\d+) records \(retained (\d+),", out.stdout).group(1))
    assert entries - lost - 8 <= recovered <= entries - lost, (entries, lost, out.stdout)
    assert "1 damaged region skipped" in out.stdout and "0 failed authentication" in out.stdout, out.stdout
    assert "(the file's own count is unreadable: unknown)" in out.stdout, out.stdout  # SQLite keeps no count
    assert "AddressSanitizer" not in out.stderr and "LeakSanitizer" not in out.stderr, out.stderr
    os.rename(store, store + ".damaged")
    os.rename(store + ".salvaged", store)
    for leftover in (store + "-wal", store + ".salvaged-wal"):
        if os.path.exists(leftover):
            os.unlink(leftover)
    assert open(store, "rb").read(16) == b"SQLite format 3\x00"  # the new store is the configured engine's
    b.start()
    r = Raw(b)
    r.connect("sq-salvage-reader")
    r.subscribe([("SQ/#", 0)])
    r.pub("SQ/zz-marker", b"m", qos=0)
    got = r.publishes_until("SQ/zz-marker")
    topics = {m.topic for m in got} - {"SQ/zz-marker"}
    assert len(topics) == recovered == len(got) - 1, (len(topics), recovered)
    for m in got:
        if m.topic != "SQ/zz-marker":
            i = int(m.topic.split("/")[1])
            assert m.payload == (b"payload-%03d-" % i) * 30
