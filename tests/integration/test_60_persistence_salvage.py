"""60 Persistence: salvaging a structurally damaged store (docs/persistence.md, "Salvaging a damaged store"). A
real store written by the broker gets one of its LMDB leaf pages destroyed (located by reading LMDB's own page
structures); the broker refuses to start on it; `rampart store-salvage` copies every record of the intact pages
into a new store, reports the records of the destroyed page as lost, and the broker serves exactly those records
from the new store. Real broker, real sockets, real LMDB file."""
import os
import struct
import subprocess

import pytest

import helpers
from helpers import Raw, publish, PUBACK
from test_60_persistence import persist_options

pytestmark = pytest.mark.skipif(helpers.is_mosquitto(), reason="Rampart's encrypted persistence")

P_BRANCH, P_LEAF = 0x01, 0x02


def lmdb_pages(path):
    """LMDB's page size, the main database's record count and its leaf pages as {page number: records}, read from
    the file's structures (lmdb.h / mdb.c, 64-bit): the newer of the two meta pages, then the tree from its root."""
    data = open(path, "rb").read()
    metas = []
    for pg in (0, 1):
        off = pg * 4096 + 16  # the meta pages are at the start whatever the page size; header 16 bytes
        magic, version = struct.unpack_from("<II", data, off)
        assert magic == 0xBEEFC0DE, hex(magic)
        dbs = []
        for i in range(2):
            pad, flags, depth, branch, leaf, ovf, entries, root = struct.unpack_from("<IHHQQQQQ", data, off + 24 + 48 * i)
            dbs.append((pad, entries, root))
        last_pg, txnid = struct.unpack_from("<QQ", data, off + 24 + 96)
        metas.append((txnid, dbs))
    _, dbs = max(metas)
    psize = dbs[0][0]
    entries, root = dbs[1][1], dbs[1][2]
    leaves = {}

    def walk(pgno):
        base = pgno * psize
        flags, lower = struct.unpack_from("<HH", data, base + 10)
        n = (lower - 16) // 2
        if flags & P_LEAF:
            leaves[pgno] = n
            return
        assert flags & P_BRANCH, flags
        for i in range(n):
            node = base + struct.unpack_from("<H", data, base + 16 + 2 * i)[0]
            lo, hi, fl = struct.unpack_from("<HHH", data, node)
            walk(lo | hi << 16 | fl << 32)
    walk(root)
    return psize, entries, leaves


def test_salvage_recovers_every_record_of_the_intact_pages(make_broker, tmp_path):
    b = make_broker(options=persist_options(tmp_path, extra=["user root"]))
    p = Raw(b)
    p.connect("salvage-pub")
    total = 240
    for start in range(0, total, 40):
        p.send(b"".join(publish("SV/%03d" % i, (b"payload-%03d-" % i) * 30, qos=1, retain=True, pid=i + 1)
                        for i in range(start, start + 40)))
        for i in range(start, start + 40):
            p.wait_for(PUBACK, i + 1)
    b.stop()
    store = str(tmp_path / "data" / "rampart.db")
    psize, entries, leaves = lmdb_pages(store)
    assert entries >= total and len(leaves) >= 4, (entries, leaves)
    # destroy one leaf in the middle of the tree: its header flags and every byte after the header
    victim = sorted(leaves)[len(leaves) // 2]
    lost = leaves[victim]
    with open(store, "r+b") as f:
        f.seek(victim * psize + 10)
        f.write(b"\x00\x00" + os.urandom(psize - 12))
    with pytest.raises(AssertionError) as e:
        b.start()
    assert "move it away to start with an empty store" in str(e.value)
    out = subprocess.run([helpers.RAMPART_BIN, "store-salvage", "-c", b.config_path], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 1, out.stdout + out.stderr  # 1: something was lost
    assert "recovered %d records" % (entries - lost) in out.stdout, (lost, out.stdout)
    assert "%d records unreadable (lost)" % lost in out.stdout, out.stdout
    assert "1 damaged region skipped" in out.stdout and "0 failed authentication" in out.stdout, out.stdout
    assert "AddressSanitizer" not in out.stderr and "LeakSanitizer" not in out.stderr, out.stderr
    # the salvaged store replaces the damaged one: the broker starts and serves exactly the recovered records
    os.rename(store, store + ".damaged")
    os.rename(store + ".salvaged", store)
    os.unlink(store + "-lock")
    os.unlink(store + ".salvaged-lock")
    b.start()
    r = Raw(b)
    r.connect("salvage-reader")
    r.subscribe([("SV/#", 0)])  # QoS 0: no in-flight window
    r.pub("SV/zz-marker", b"m", qos=0)
    got = r.publishes_until("SV/zz-marker")
    topics = {m.topic for m in got} - {"SV/zz-marker"}
    assert len(topics) == entries - lost == len(got) - 1, (len(topics), entries, lost)
    for m in got:
        if m.topic != "SV/zz-marker":
            i = int(m.topic.split("/")[1])
            assert m.payload == (b"payload-%03d-" % i) * 30
    r.close()
    # nothing to salvage in a file that is not a store; an existing output is never overwritten
    b.stop()
    bad = tmp_path / "garbage.conf"
    garbage_dir = tmp_path / "gdata"
    garbage_dir.mkdir()
    (garbage_dir / "rampart.db").write_bytes(os.urandom(20000))
    bad.write_text(open(b.config_path).read().replace(str(tmp_path / "data"), str(garbage_dir)))
    out = subprocess.run([helpers.RAMPART_BIN, "store-salvage", "-c", str(bad)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2 and "not an LMDB file or its header is destroyed: nothing to salvage" in out.stderr
    assert not (garbage_dir / "rampart.db.salvaged").exists()
    out = subprocess.run([helpers.RAMPART_BIN, "store-salvage", "-c", b.config_path, "-o", store],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "exists: move it away" in out.stderr


def test_salvage_keeps_a_record_larger_than_64_mib(make_broker, tmp_path):
    """A retained message of 65 MiB (max_packet_size raised) makes a record the store accepts (records go up to
    256 MiB, record.h); store-salvage copies it like any other instead of counting it as damage."""
    b = make_broker(options=persist_options(tmp_path, extra=["user root", "max_packet_size 80M",
                                                             "memory_limit 2G"]))
    big = b"L" * ((65 << 20) + 1)
    p = Raw(b)
    p.connect("salvage-big")
    p.send(publish("SV/big", big, qos=1, retain=True, pid=1))
    p.wait_for(PUBACK, 1)
    p.close()
    b.stop()
    out = subprocess.run([helpers.RAMPART_BIN, "store-salvage", "-c", b.config_path], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr  # 0: nothing lost
    assert "(retained 1," in out.stdout and "0 damaged regions skipped" in out.stdout, out.stdout
    assert "0 records unreadable (lost)" in out.stdout, out.stdout
    assert "AddressSanitizer" not in out.stderr and "LeakSanitizer" not in out.stderr, out.stderr
