"""60 Persistence: the ban list encrypted at rest (docs/persistence.md, "The ban list"). With persistence on, the
ban file (by default `bans` in persistence_location) is one AES-256-GCM blob under a key derived from the
persistence key: lockouts survive kill -9, `rampart ban -c CONFIG` edits it while the broker runs, nothing of it
is readable in the data directory, tampering is reported, plain files are imported, key rotation re-encrypts it,
and the tool refuses clearly without the key. Real broker, real sockets, the real `rampart ban` tool."""
import os
import signal
import subprocess

import pytest

import helpers
from helpers import wait_until
from test_20_auth import add_user, try_connect
from test_60_persistence import kill9, write_key

pytestmark = pytest.mark.skipif(helpers.is_mosquitto(), reason="Rampart's encrypted ban list")

BIN = helpers.RAMPART_BIN
GOOD = "Amber-violin-38-glows"
MAGIC = b"\x89RBANS\r\n"
NO_LIMITS = ["login_backoff_address 0", "login_backoff_network 0", "login_lockout_network 0",
             "login_backoff_username 0", "login_lockout_username 0"]


def ban_broker(make_broker, tmp_path, *extra, lockout=3):
    """A broker with a password file (user alice), persistence with a private key, the default ban file (in the
    data directory) and an audit log. It stays root (the test's files are root's) and keeps its sandbox."""
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    if not (tmp_path / "key").exists():
        write_key(str(tmp_path / "key"))
    pw = tmp_path / "passwd"
    if not pw.exists():
        add_user(pw, "alice", GOOD, "-c")
    opts = ["user root", "password_file %s" % pw, "persistence true", "persistence_location %s" % data,
            "persistence_key_file %s" % (tmp_path / "key"), "audit_dest file %s" % (tmp_path / "audit.log"),
            "login_lockout_address %d" % lockout] + NO_LIMITS + list(extra)
    return make_broker(options=opts, anonymous=False)


def tool(*args):
    return subprocess.run([BIN, "ban", *args], capture_output=True, text=True, timeout=60)


def data_text(tmp_path):
    """Every byte of every file under the data directory."""
    out = b""
    for root, _, files in os.walk(tmp_path / "data"):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                out += f.read()
    return out


def assert_sealed(tmp_path, *secrets):
    blob = open(tmp_path / "data" / "bans", "rb").read()
    assert blob.startswith(MAGIC), blob[:40]
    everything = data_text(tmp_path)
    for s in secrets:
        assert s.encode() not in everything, s
    out = subprocess.run(["grep", "-r", "-l", "-a", "-e", secrets[0]] + [a for s in secrets[1:] for a in ("-e", s)]
                         + [str(tmp_path / "data")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and out.stdout == "", out.stdout


def open_sealed(hexkey, blob):
    """The documented format, opened independently (Python's cryptography): HKDF-SHA256(master, salt
    "rampart-persist", info "rampart ban list v1") keys AES-256-GCM over the text, the 25-byte header as AAD."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    def hkdf(info, n):
        return HKDF(algorithm=hashes.SHA256(), length=n, salt=b"rampart-persist", info=info).derive(
            bytes.fromhex(hexkey))
    assert blob[:9] == MAGIC + b"\x01" and blob[9:13] == hkdf(b"rampart ban list key id v1", 4)
    return AESGCM(hkdf(b"rampart ban list v1", 32)).decrypt(blob[13:25], blob[25:], blob[:25]).decode()


def test_lockout_and_tool_bans_survive_kill9_and_are_unreadable_at_rest(make_broker, tmp_path):
    b = ban_broker(make_broker, tmp_path)
    # a brute force from 127.0.0.9 locks that address out: the limiter's ban is written to the sealed file
    for i in range(3):
        assert try_connect(b, "alice", "wrong-%d" % i, source="127.0.0.9", client_id="brute-cl-5512") == 0x86
    assert try_connect(b, "alice", GOOD, source="127.0.0.9", client_id="brute-cl-5512") == 0x8A
    # the operator bans a user and a device while the broker runs, through the broker's configuration
    assert try_connect(b, "alice", GOOD, client_id="stolen-dev-4471") == 0
    r = tool("-c", b.config_path, "add", "clientid", "stolen-dev-4471", "--reason", "stolen")
    assert r.returncode == 0, r.stderr
    wait_until(lambda: try_connect(b, "alice", GOOD, client_id="stolen-dev-4471") == 0x8A, "client id banned")
    assert tool("-c", b.config_path, "add", "username", "mallory-u-8812").returncode == 0
    listing = tool("-c", b.config_path, "list")
    assert listing.returncode == 0, listing.stderr
    assert "address\t127.0.0.9" in listing.stdout and "clientid\tstolen-dev-4471" in listing.stdout
    assert "username\tmallory-u-8812" in listing.stdout
    assert_sealed(tmp_path, "127.0.0.9", "stolen-dev-4471", "mallory-u-8812", "lockout")
    text = open_sealed(open(tmp_path / "key").read().strip(), open(tmp_path / "data" / "bans", "rb").read())
    assert "\naddress 127.0.0.9 " in text and "\nclientid stolen-dev-4471 0 " in text, text
    kill9(b)
    b.start()
    assert try_connect(b, "alice", GOOD, source="127.0.0.9", client_id="other") == 0x8A
    assert try_connect(b, "alice", GOOD, client_id="stolen-dev-4471") == 0x8A
    assert try_connect(b, "alice", GOOD, client_id="fine-dev") == 0
    assert_sealed(tmp_path, "127.0.0.9", "stolen-dev-4471", "mallory-u-8812")
    r = tool("-c", b.config_path, "del", "clientid", "stolen-dev-4471")
    assert r.returncode == 0, r.stderr
    wait_until(lambda: try_connect(b, "alice", GOOD, client_id="stolen-dev-4471") == 0, "ban lifted")


def test_tampered_ban_file_is_reported_and_the_list_in_service_stays(make_broker, tmp_path):
    b = ban_broker(make_broker, tmp_path)
    assert tool("-c", b.config_path, "add", "clientid", "tamper-dev-2290").returncode == 0
    wait_until(lambda: try_connect(b, "alice", GOOD, client_id="tamper-dev-2290") == 0x8A, "client id banned")
    path = tmp_path / "data" / "bans"
    blob = bytearray(open(path, "rb").read())
    blob[30] ^= 0x01
    with open(path, "wb") as f:  # a new inode: the broker sees the change
        f.write(bytes(blob))
    wait_until(lambda: "ban file not reloaded, keeping the 1 bans in service" in b.log(), "the tamper report")
    assert "authentication failed (tampered or corrupt)" in b.log()
    ev = helpers.audit_wait(str(tmp_path / "audit.log"), lambda e: e["event"] == "ban_file", "the ban_file event")
    assert ev["outcome"] == "rejected" and ev["file"] == str(path) and "authentication failed" in ev["reason"], ev
    assert b.alive()
    assert try_connect(b, "alice", GOOD, client_id="tamper-dev-2290") == 0x8A  # the authentic list still applies
    r = tool("-c", b.config_path, "list")
    assert r.returncode == 1 and "authentication failed (tampered or corrupt)" in r.stderr, r.stderr
    b.stop()
    with pytest.raises(AssertionError) as e:  # fail closed at start: not without the bans, with what to do
        b.start()
    assert "authentication failed (tampered or corrupt); restore it from a backup or move it away" in str(e.value)
    os.rename(path, str(path) + ".bad")
    b.start()
    assert try_connect(b, "alice", GOOD, client_id="tamper-dev-2290") == 0


def test_plain_ban_file_is_imported_and_rewritten_encrypted(make_broker, tmp_path):
    (tmp_path / "data").mkdir()
    path = tmp_path / "data" / "bans"
    path.write_text("# an old plain ban file\nclientid legacy-dev-3391 0 1700000000 from before\n"
                    "address 127.0.0.12 0 1700000000 old\n")
    os.chmod(path, 0o600)
    b = ban_broker(make_broker, tmp_path)
    assert "was plain text: imported 2 bans and rewrote it encrypted" in b.log()
    assert try_connect(b, "alice", GOOD, client_id="legacy-dev-3391") == 0x8A
    assert try_connect(b, "alice", GOOD, source="127.0.0.12") == 0x8A
    assert_sealed(tmp_path, "legacy-dev-3391", "127.0.0.12", "from before")
    ev = helpers.audit_wait(str(tmp_path / "audit.log"), lambda e: e["event"] == "ban_file", "the import event")
    assert ev["outcome"] == "imported", ev
    # a plain file written while the broker runs (`rampart ban` without -c) is imported too
    assert tool("-f", str(tmp_path / "plain"), "add", "username", "late-user-6610").returncode == 0
    os.rename(tmp_path / "plain", path)
    wait_until(lambda: b.log().count("was plain text: imported") == 2, "the second import")
    assert_sealed(tmp_path, "late-user-6610")
    assert try_connect(b, "late-user-6610", "x") == 0x8A


def test_key_rotation_re_encrypts_the_ban_file_at_start_and_on_sighup(make_broker, tmp_path):
    b = ban_broker(make_broker, tmp_path)
    assert tool("-c", b.config_path, "add", "clientid", "rot-dev-7001").returncode == 0
    b.stop()
    sealed_before = open(tmp_path / "data" / "bans", "rb").read()
    os.rename(tmp_path / "key", tmp_path / "key.old")
    write_key(str(tmp_path / "key"))
    b.options.append("persistence_key_old_file %s" % (tmp_path / "key.old"))
    b.start()
    assert "re-encrypted from the old key to the current key (1 bans)" in b.log()
    assert open(tmp_path / "data" / "bans", "rb").read()[9:13] != sealed_before[9:13]  # another key id
    assert try_connect(b, "alice", GOOD, client_id="rot-dev-7001") == 0x8A
    b.stop()
    b.options.pop()
    os.unlink(tmp_path / "key.old")
    b.start()  # the new key alone reads it
    assert try_connect(b, "alice", GOOD, client_id="rot-dev-7001") == 0x8A
    # live rotation: the configured key file gets a new key, SIGHUP
    before = open(tmp_path / "data" / "bans", "rb").read()
    write_key(str(tmp_path / "key"))
    b.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "re-encrypted under the new key (1 bans)" in b.log(), "ban file rekeyed on SIGHUP")
    after = open(tmp_path / "data" / "bans", "rb").read()
    assert after[9:13] != before[9:13]
    r = tool("-c", b.config_path, "add", "username", "rot-user-7002")  # the tool follows with the new key
    assert r.returncode == 0, r.stderr
    wait_until(lambda: try_connect(b, "rot-user-7002", "x") == 0x8A, "ban added after rotation")
    kill9(b)
    b.start()
    assert try_connect(b, "alice", GOOD, client_id="rot-dev-7001") == 0x8A
    assert try_connect(b, "rot-user-7002", "x") == 0x8A


def test_tool_and_check_without_the_key_fail_clearly(make_broker, tmp_path):
    b = ban_broker(make_broker, tmp_path)
    assert tool("-c", b.config_path, "add", "username", "nokey-u-1234").returncode == 0
    path = tmp_path / "data" / "bans"
    blob = open(path, "rb").read()
    r = tool("-f", str(path), "list")
    assert r.returncode == 1
    assert "the ban file is encrypted: it needs the persistence key" in r.stderr, r.stderr
    r = tool("-f", str(path), "add", "username", "other")
    assert r.returncode == 1 and "needs the persistence key" in r.stderr, r.stderr
    check = subprocess.run([BIN, "check", "-c", b.config_path], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    assert "ban_file %s: encrypted (AES-256-GCM under the persistence key), 1 bans" % path in check.stdout
    b.stop()
    os.rename(tmp_path / "key", tmp_path / "key.gone")
    r = tool("-c", b.config_path, "add", "username", "other")
    assert r.returncode == 1
    assert "the ban file is encrypted with the persistence key, so the tool cannot read or write it" in r.stderr
    check = subprocess.run([BIN, "check", "-c", b.config_path], capture_output=True, text=True, timeout=60)
    assert check.returncode == 1
    assert "the persistence key it is encrypted with is not readable" in check.stdout + check.stderr
    os.rename(tmp_path / "key.gone", tmp_path / "key")
    write_key(str(tmp_path / "other.key"))
    with open(b.config_path) as f:
        conf = f.read().replace(str(tmp_path / "key"), str(tmp_path / "other.key"))
    other = tmp_path / "other.conf"
    other.write_text(conf)
    r = tool("-c", str(other), "list")
    assert r.returncode == 1
    assert "sealed under a key this configuration does not have" in r.stderr, r.stderr
    assert open(path, "rb").read() == blob  # nothing was written by the refused commands
