"""
Authentication end to end: password files (mosquitto's and Rampart's), anonymous access, enumeration,
expiry, reload, bans, brute force and floods. Real broker, real sockets, real mosquitto_passwd and clients.
"""
import os
import signal
import socket
import subprocess
import time

import pytest

import helpers
from helpers import V311, V5, WAIT, wait_until

pytestmark = pytest.mark.skipif(helpers.is_mosquitto(), reason="Rampart's authentication (options, logs)")

BIN = helpers.RAMPART_BIN
GOOD = "Blue-kettle-94-sings"


def rampart(*args, stdin=None):
    out = subprocess.run([BIN, *args], input=stdin, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out


def try_connect(broker, username=None, password=None, version=V5, source=None, client_id="c"):
    """One CONNECT on a fresh socket (bound to `source` when given). Returns the CONNACK reason code, or None
    when the broker closed the connection without a CONNACK."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(WAIT)
    try:
        if source:
            s.bind((source, 0))
        s.connect((broker.host, broker.port))
        s.sendall(helpers.connect(client_id=client_id, version=version, username=username, password=password))
        data = b""
        while len(data) < 4:
            chunk = s.recv(64)
            if not chunk:
                return None
            data += chunk
        assert data[0] == 0x20, data
        return data[3]
    except (ConnectionResetError, BrokenPipeError):
        return None
    finally:
        s.close()


def password_file(tmp_path, *entries):
    pw = tmp_path / "passwd"
    pw.write_text("".join(e + "\n" for e in entries))
    return pw


def add_user(pw, user, password, *extra):
    rampart("passwd", *extra, "--stdin", str(pw), user, stdin=password + "\n")


def auth_broker(make_broker, pw, *options, listener_options=()):
    """A broker with password_file pw. It stays root (`user root`: the test's files live in a root-only
    temporary directory) but keeps its sandbox: Landlock grants the password file's directory (read) and the
    ban file's directory (write), which is what SIGHUP reloads and lockout bans need."""
    return make_broker(options=["user root", "password_file %s" % pw, *options], anonymous=False,
                       listener_options=list(listener_options))


def test_mosquitto_passwd_file_works_unchanged(make_broker, tmp_path):
    pw = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(pw), "alice", "secret1"], check=True, timeout=30)
    subprocess.run(["mosquitto_passwd", "-H", "sha512", "-b", str(pw), "old", "secret2"], check=True, timeout=30)
    b = auth_broker(make_broker, pw)
    assert try_connect(b, "alice", "secret1") == 0
    assert try_connect(b, "old", "secret2", version=V311) == 0
    assert try_connect(b, "alice", "secret2") == 0x86
    # a real client, unchanged command line
    out = subprocess.run(["mosquitto_pub", "-h", b.host, "-p", str(b.port), "-u", "alice", "-P", "secret1",
                          "-t", "t/x", "-m", "hi"], capture_output=True, timeout=WAIT * 2)
    assert out.returncode == 0, out.stderr
    log = b.log()
    assert 'weak_hash username="alice" scheme=pbkdf2-sha512' in log
    assert 'weak_hash username="old" scheme=sha512' in log


def test_argon2id_user_and_anonymous_refused(make_broker, tmp_path):
    pw = tmp_path / "passwd"
    add_user(pw, "alice", GOOD, "-c")
    b = auth_broker(make_broker, pw)
    assert try_connect(b, "alice", GOOD) == 0
    assert try_connect(b) == 0x87                       # anonymous: not authorized
    assert try_connect(b, version=V311) == 5
    assert try_connect(b, "alice", GOOD + "x", version=V311) == 4
    assert 'auth: success method=password address=127.0.0.1 username="alice"' in b.log()


def test_anonymous_default_is_off_on_configured_listeners(make_broker, tmp_path):
    pw = tmp_path / "passwd"
    add_user(pw, "alice", GOOD, "-c")
    # no allow_anonymous line at all: a configured listener refuses anonymous clients
    b = make_broker(options=["user root", "password_file %s" % pw], anonymous=None)
    assert try_connect(b) == 0x87
    assert try_connect(b, "alice", GOOD) == 0


def test_enumeration_unknown_user_and_wrong_password_look_the_same(make_broker, tmp_path):
    pw = tmp_path / "passwd"
    add_user(pw, "alice", GOOD, "-c")
    b = auth_broker(make_broker, pw, "login_backoff_address 0", "login_lockout_address 0",
                    "login_backoff_username 0", "login_lockout_username 0")
    for version in (V5, V311):
        answers = set()
        for user in ("alice", "nobody"):
            s = socket.create_connection((b.host, b.port), timeout=WAIT)
            s.sendall(helpers.connect(client_id="e", version=version, username=user, password="wrong"))
            data = b""
            while True:
                chunk = s.recv(256)
                if not chunk:
                    break
                data += chunk
            s.close()
            answers.add(data)
        assert len(answers) == 1, answers   # byte-identical CONNACK, then the same close
    log = b.log()
    # both went through a verification (the unknown user against the dummy hash), and are told apart only here
    assert log.count('failure reason=bad_password address=127.0.0.1 username="alice"') == 2
    assert log.count('failure reason=unknown_user address=127.0.0.1 username="nobody"') == 2


def test_expired_password_refused_and_logged(make_broker, tmp_path):
    pw = tmp_path / "passwd"
    add_user(pw, "alice", GOOD, "-c")
    add_user(pw, "bob", GOOD + "-b")
    text = pw.read_text().splitlines()
    text = [l.split(":set=")[0] + ":set=1000,max_age=86400" if l.startswith("bob:") else l for l in text]
    pw.write_text("\n".join(text) + "\n")
    b = auth_broker(make_broker, pw)
    assert try_connect(b, "bob", GOOD + "-b") == 0x86
    assert try_connect(b, "alice", GOOD) == 0
    assert 'failure reason=password_expired address=127.0.0.1 username="bob"' in b.log()
    assert 'password_expired username="bob"' in b.log()   # listed at start-up


def test_global_max_age_and_warning(make_broker, tmp_path):
    pw = tmp_path / "passwd"
    add_user(pw, "alice", GOOD, "-c")
    b = auth_broker(make_broker, pw, "password_max_age 30", "password_expiry_warning 31")
    assert try_connect(b, "alice", GOOD) == 0
    assert 'password_expires_soon address=127.0.0.1 username="alice"' in b.log()


def test_sighup_reload_and_bad_file_keeps_old(make_broker, tmp_path):
    pw = tmp_path / "passwd"
    add_user(pw, "alice", GOOD, "-c")
    b = auth_broker(make_broker, pw)
    assert try_connect(b, "bob", "Green-lamp-77-dances") == 0x86
    add_user(pw, "bob", "Green-lamp-77-dances")
    os.kill(b.pid, signal.SIGHUP)
    wait_until(lambda: try_connect(b, "bob", "Green-lamp-77-dances") == 0, "bob accepted after SIGHUP")
    good = pw.read_text()
    pw.write_text(good + "broken line without colon\n")
    os.kill(b.pid, signal.SIGHUP)
    wait_until(lambda: "keeping the old one: %s:3: missing ':'" % pw in b.log(), "reload error with file:line")
    assert try_connect(b, "bob", "Green-lamp-77-dances") == 0


def test_ban_tool_takes_effect_without_restart(make_broker, tmp_path):
    pw = tmp_path / "passwd"
    bans = tmp_path / "bans"
    add_user(pw, "alice", GOOD, "-c")
    b = auth_broker(make_broker, pw, "ban_file %s" % bans)
    assert try_connect(b, "alice", GOOD, client_id="dev1") == 0
    rampart("ban", "-f", str(bans), "add", "clientid", "dev1", "--reason", "stolen device")
    wait_until(lambda: try_connect(b, "alice", GOOD, client_id="dev1") == 0x8A, "client id banned")
    assert try_connect(b, "alice", GOOD, client_id="dev2") == 0
    rampart("ban", "-f", str(bans), "add", "address", "127.0.0.3")
    wait_until(lambda: try_connect(b, "alice", GOOD, source="127.0.0.3", client_id="dev2") == 0x8A,
               "address banned")
    assert try_connect(b, "alice", GOOD, source="127.0.0.3", client_id="dev2", version=V311) == 5
    assert 'refused reason=banned address=127.0.0.3 username="alice" client_id="dev2"' in b.log()
    rampart("ban", "-f", str(bans), "del", "address", "127.0.0.3")
    wait_until(lambda: try_connect(b, "alice", GOOD, source="127.0.0.3", client_id="dev2") == 0, "ban lifted")


def test_brute_force_is_stopped_and_owner_still_connects(make_broker, tmp_path):
    pw = tmp_path / "passwd"
    bans = tmp_path / "bans"
    add_user(pw, "alice", GOOD, "-c")
    add_user(pw, "bob", "Green-lamp-77-dances")
    b = auth_broker(make_broker, pw, "ban_file %s" % bans, "login_backoff_base_ms 20", "login_backoff_max_ms 200")
    # the owner has logged in from 127.0.0.2 before
    assert try_connect(b, "alice", GOOD, source="127.0.0.2") == 0
    # one source tries 400 passwords, retrying at once after a backoff refusal (0x9F) with a short pause
    answers = {}
    for i in range(400):
        rc = try_connect(b, "alice", "guess-%d" % i, source="127.0.0.1", client_id="attacker")
        answers[rc] = answers.get(rc, 0) + 1
        if rc == 0x9F:
            time.sleep(0.01)
    evaluated = b.log().count('failure reason=bad_password address=127.0.0.1 username="alice"')
    assert sum(answers.values()) == 400
    assert answers.get(0) is None
    assert evaluated == 20, (evaluated, answers)     # login_lockout_address default: 20 guesses checked
    assert answers.get(0x86) == 20, answers
    assert answers.get(0x8A, 0) > 100, answers       # then banned: refused without password work
    assert "lockout scope=address ban_added address=127.0.0.1" in b.log()
    assert "address 127.0.0.1 " in bans.read_text()
    # the attacker is banned now, even with the right password, without any password work
    assert try_connect(b, "alice", GOOD, source="127.0.0.1") == 0x8A
    assert b.log().count('failure reason=bad_password address=127.0.0.1 username="alice"') == 20
    # the owner, from an address that authenticated before, gets in at once although alice is under attack
    assert try_connect(b, "alice", GOOD, source="127.0.0.2") == 0
    # and another user from another address is unaffected
    assert try_connect(b, "bob", "Green-lamp-77-dances", source="127.0.0.3") == 0


def test_username_under_attack_locks_new_addresses_but_not_the_owner(make_broker, tmp_path):
    pw = tmp_path / "passwd"
    add_user(pw, "alice", GOOD, "-c")
    b = auth_broker(make_broker, pw, "login_backoff_address 0", "login_lockout_address 0",
                    "login_backoff_network 0", "login_lockout_network 0", "login_backoff_username 0",
                    "login_lockout_username 5")
    assert try_connect(b, "alice", GOOD, source="127.0.0.2") == 0
    for i in range(5):   # five "botnet" addresses, one guess each
        assert try_connect(b, "alice", "guess", source="127.0.1.%d" % (i + 1)) == 0x86
    assert try_connect(b, "alice", GOOD, source="127.0.0.9") == 0x8A    # a new address: locked
    assert try_connect(b, "alice", GOOD, source="127.0.0.2") == 0       # the owner: in
    assert "lockout scope=username" in b.log()


def test_flood_of_silent_connections_does_not_starve_clients(make_broker, tmp_path, client, topic):
    pw = tmp_path / "passwd"
    add_user(pw, "alice", GOOD, "-c")
    b = auth_broker(make_broker, pw, "connect_timeout 2", "max_unauthenticated_per_address 20",
                    "connection_limits_loopback true",
                    "connection_rate_per_address 1000")
    c = client(b, client_id="worker")
    c.paho.username_pw_set("alice", GOOD)
    c.connect()
    c.subscribe(topic + "/#", qos=1)
    flood = []
    try:
        for i in range(300):   # silent, half-open, from 127.0.0.1 (bounded count)
            s = socket.socket()
            s.settimeout(WAIT)
            try:
                s.connect((b.host, b.port))
                if i % 2:
                    s.sendall(b"\x10\x40\x00\x04MQ")   # a CONNECT that never completes
            except OSError:
                s.close()
                continue
            flood.append(s)
        for n in range(20):
            c.publish(topic + "/m", b"%d" % n, qos=1)
            assert c.get().payload == b"%d" % n
        # a new client from another address still gets in during the flood
        assert try_connect(b, "alice", GOOD, source="127.0.0.2", client_id="late") == 0

        # the broker refused most of the flood, and closes the rest at the CONNECT deadline
        def all_closed():
            for s in flood:
                s.settimeout(0.01)
                try:
                    if s.recv(1) != b"":
                        return False
                except socket.timeout:
                    return False
                except OSError:
                    pass
            return True
        wait_until(all_closed, "silent connections closed at the CONNECT deadline", timeout=WAIT * 2)
        assert "limit: refused reason=max_unauthenticated_per_address address=127.0.0.1" in b.log()
        c.publish(topic + "/end", b"end", qos=1)
        assert c.get().payload == b"end"
    finally:
        for s in flood:
            s.close()


# ---- MQTT 5 enhanced authentication: SCRAM-SHA-256 ------------------------------------------------------

def _read_packet(s):
    """Reads one whole MQTT packet from socket s: returns (type, body) or None if closed."""
    def need(n):
        data = b""
        while len(data) < n:
            chunk = s.recv(n - len(data))
            if not chunk:
                return None
            data += chunk
        return data
    first = need(1)
    if first is None:
        return None
    mult, length = 1, 0
    while True:
        b = need(1)
        if b is None:
            return None
        length += (b[0] & 127) * mult
        mult *= 128
        if not b[0] & 128:
            break
    body = need(length) if length else b""
    return first[0] >> 4, body


def scram_login(broker, user, password, source=None):
    """A SCRAM-SHA-256 client (RFC 5802) over MQTT 5 AUTH packets, computed with hashlib/hmac.
    Returns (CONNACK reason, server signature verified)."""
    import base64
    import hashlib
    import hmac
    s = socket.socket()
    s.settimeout(WAIT)
    if source:
        s.bind((source, 0))
    s.connect((broker.host, broker.port))
    try:
        cnonce = base64.b64encode(os.urandom(18)).decode()
        first_bare = "n=%s,r=%s" % (user.replace("=", "=3D").replace(",", "=2C"), cnonce)
        s.sendall(helpers.connect(client_id="scram-" + user, version=V5, props=[
            (helpers.P_AUTH_METHOD, "SCRAM-SHA-256"), (helpers.P_AUTH_DATA, ("n,," + first_bare).encode())]))
        ptype, body = _read_packet(s)
        p = helpers.Packet(ptype, 0, body, V5)
        if ptype == helpers.CONNACK:
            return p.reason, False
        assert ptype == helpers.AUTH and p.reason == 0x18, p
        assert p.prop(helpers.P_AUTH_METHOD) == "SCRAM-SHA-256"
        server_first = p.prop(helpers.P_AUTH_DATA).decode()
        attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
        assert attrs["r"].startswith(cnonce)
        salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"]))
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        stored_key = hashlib.sha256(client_key).digest()
        without_proof = "c=biws,r=" + attrs["r"]
        auth_message = ",".join([first_bare, server_first, without_proof]).encode()
        signature = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        final = without_proof + ",p=" + base64.b64encode(proof).decode()
        s.sendall(helpers.packet(helpers.AUTH, 0, bytes([0x18]) + helpers.encode_props([
            (helpers.P_AUTH_METHOD, "SCRAM-SHA-256"), (helpers.P_AUTH_DATA, final.encode())])))
        ptype, body = _read_packet(s)
        assert ptype == helpers.CONNACK
        p = helpers.Packet(ptype, 0, body, V5)
        verified = False
        if p.reason == 0:
            server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
            expect = "v=" + base64.b64encode(hmac.new(server_key, auth_message, hashlib.sha256).digest()).decode()
            verified = p.prop(helpers.P_AUTH_DATA) == expect.encode()
        return p.reason, verified
    finally:
        s.close()


def test_scram_sha256_enhanced_authentication(make_broker, tmp_path):
    pw = tmp_path / "passwd"
    add_user(pw, "alice", GOOD, "-c", "--scram")
    add_user(pw, "bob", "Green-lamp-77-dances")      # argon2id: no SCRAM keys
    b = auth_broker(make_broker, pw)
    assert scram_login(b, "alice", GOOD) == (0, True)   # the client also verified the server
    assert scram_login(b, "alice", GOOD + "x") == (0x86, False)
    assert scram_login(b, "nobody", GOOD) == (0x86, False)
    assert scram_login(b, "bob", "Green-lamp-77-dances") == (0x86, False)
    # the same SCRAM entry also works for a plain CONNECT password
    assert try_connect(b, "alice", GOOD) == 0
    log = b.log()
    assert 'auth: success method=scram-sha-256 address=127.0.0.1 username="alice"' in log
    assert 'failure reason=unknown_user address=127.0.0.1 username="nobody"' in log


def test_unknown_auth_method_is_refused(make_broker, tmp_path):
    pw = tmp_path / "passwd"
    add_user(pw, "alice", GOOD, "-c")
    b = auth_broker(make_broker, pw)
    s = socket.create_connection((b.host, b.port), timeout=WAIT)
    s.sendall(helpers.connect(client_id="k", version=V5, props=[(helpers.P_AUTH_METHOD, "GSSAPI")]))
    ptype, body = _read_packet(s)
    s.close()
    assert ptype == helpers.CONNACK and helpers.Packet(ptype, 0, body, V5).reason == 0x8C
