"""
Client-certificate identity in authentication (docs/tls.md): use_identity_as_username and
use_subject_as_username (the certificate's CN / RFC 2253 subject is the username, no password, the CONNECT's
username ignored, as mosquitto does) and tls_two_factor (a valid certificate AND the right password, and the
username must be the certificate's CN). Real certificates from tlsca.TestCA, real mosquitto clients and raw
CONNECTs over Python's ssl, for MQTT 3.1.1 and 5; the failure cases (no certificate, revoked certificate,
wrong password, CN differing from the username), their log lines and audit events; ACL %u sees the
certificate's name; `rampart check` refuses what the broker refuses.
"""
import json
import os
import subprocess

import pytest

import helpers
import tlsca
from helpers import V311, V5

pytestmark = pytest.mark.skipif(helpers.is_mosquitto(), reason="Rampart's options, logs and audit events")

BIN = helpers.RAMPART_BIN
GOOD_PW = "Blue-kettle-94-sings"


@pytest.fixture(scope="module")
def ca():
    c = tlsca.TestCA()
    for name in ("good", "alice", "bad"):
        c.client(name)
    c.revoke("bad")
    yield c
    c.cleanup()


def passwords(tmp_path, *users):
    pw = tmp_path / "passwd"
    for i, user in enumerate(users):
        out = subprocess.run([BIN, "passwd"] + (["-c"] if i == 0 else []) + ["--stdin", str(pw), user], input=GOOD_PW + "\n", capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0, out.stderr
    return pw


def identity_broker(make_broker, ca, tmp_path, mode, *options, pw=None):
    """A broker (root, so it reads the test's files) with a TLS listener whose client certificates are
    required and checked against the CRL, with `mode` ("use_identity_as_username true", ...). Returns
    (broker, TLS port, audit log path)."""
    port = helpers.free_port()
    audit = tmp_path / "audit.log"
    opts = ["user root", "audit_dest file %s" % audit] + (["password_file %s" % pw] if pw else []) + list(options)
    listener = ca.server_options() + ["cafile " + ca.ca, "crlfile " + ca.path("crl.pem"), mode]
    b = make_broker(options=opts, anonymous=False, extra_listeners=[(port, listener)])
    return b, port, audit


def connack(port, ca, cert, username=None, password=None, version=V5, client_id="id-probe", props=None):
    """A CONNECT over TLS with client certificate `cert` (a name, or None). Returns the CONNACK reason code,
    or None when the TLS handshake or the connection failed before a CONNACK."""
    ok, s = tlsca.handshake(port, cert=ca.client(cert) if cert else None, ca=ca)
    if not ok:
        return None
    try:
        s.sendall(helpers.connect(client_id=client_id, version=version, username=username, password=password,
                                  props=props))
        data = b""
        s.settimeout(helpers.WAIT)
        while len(data) < 4:
            chunk = s.recv(4 - len(data))
            if not chunk:
                return None
            data += chunk
        assert data[0] == 0x20, data
        return data[3]
    except OSError:
        return None
    finally:
        s.close()


def audit_events(path):
    if not os.path.exists(path):
        return []
    return [json.loads(line) for line in open(path).read().splitlines() if line.strip()]


# ---- use_identity_as_username / use_subject_as_username ----------------------------------------------------

def test_identity_as_username_needs_no_password_and_ignores_the_connect_username(make_broker, ca, tmp_path):
    b, port, audit = identity_broker(make_broker, ca, tmp_path, "use_identity_as_username true")
    assert connack(port, ca, "good", version=V5) == 0x00
    assert connack(port, ca, "good", username="mallory", password="whatever", version=V311) == 0x00
    # the certificate is the authentication: an MQTT 5 Authentication Method is refused, not half-run
    assert connack(port, ca, "good", props=[(0x15, "SCRAM-SHA-256")]) == 0x8C
    log = b.log()
    assert 'auth: success method=certificate address=127.0.0.1 username="good"' in log
    assert 'username="mallory"' not in log
    helpers.wait_until(lambda: len([e for e in audit_events(audit) if e["event"] == "connect_accepted"]) == 2,
                       "two connect_accepted events")
    assert all(e.get("username") == "good" for e in audit_events(audit) if e["event"] == "connect_accepted")


def test_identity_as_username_refuses_missing_and_revoked_certificates(make_broker, ca, tmp_path):
    b, port, audit = identity_broker(make_broker, ca, tmp_path, "use_identity_as_username true")
    assert connack(port, ca, None, username="good") is None   # require_certificate is implied
    assert connack(port, ca, "bad") is None
    helpers.wait_until(lambda: "certificate revoked" in b.log() and "peer did not return a certificate" in b.log(),
                       "the handshake failure log lines")
    assert "method=certificate" not in b.log()


def test_identity_as_username_with_mosquitto_clients_and_acl_pattern(make_broker, ca, tmp_path, topic):
    acl = tmp_path / "acl"
    acl.write_text("pattern readwrite cert/%u/#\n")
    b, port, _ = identity_broker(make_broker, ca, tmp_path, "use_identity_as_username true",
                                 "acl_file %s" % acl)
    own = "cert/good/" + topic
    out = tlsca.roundtrip(port, own, *tlsca.tls_args(ca, "good"), "-u", "ignored")
    assert out.strip() == "payload-42"
    # The ACL denies another certificate's tree: a PUBLISH there is refused (v5 PUBACK 0x87).
    c = helpers.connect(client_id="acl-probe", version=V5)
    ok, s = tlsca.handshake(port, cert=ca.client("good"), ca=ca)
    assert ok
    try:
        s.sendall(c)
        s.settimeout(helpers.WAIT)
        assert s.recv(64)[:1] == b"\x20"
        s.sendall(helpers.publish("cert/alice/" + topic, b"x", qos=1, pid=7, version=V5))
        ack = s.recv(64)
        assert ack[0] == 0x40 and ack[4] == 0x87, ack
    finally:
        s.close()


def test_subject_as_username_uses_the_rfc2253_subject(make_broker, ca, tmp_path):
    b, port, _ = identity_broker(make_broker, ca, tmp_path, "use_subject_as_username true")
    assert connack(port, ca, "alice", username="alice", version=V5) == 0x00
    assert 'method=certificate address=127.0.0.1 username="O=Rampart tests,CN=alice"' in b.log()


def test_certificate_login_still_honours_bans(make_broker, ca, tmp_path):
    bans = tmp_path / "bans"
    b, port, _ = identity_broker(make_broker, ca, tmp_path, "use_identity_as_username true",
                                 "ban_file %s" % bans)
    out = subprocess.run([BIN, "ban", "-f", str(bans), "add", "username", "good"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    helpers.wait_until(lambda: connack(port, ca, "good") == 0x8A, "the username ban to apply to the certificate")
    assert connack(port, ca, "alice") == 0x00


# ---- tls_two_factor -----------------------------------------------------------------------------------------

@pytest.fixture
def two_factor(make_broker, ca, tmp_path):
    pw = passwords(tmp_path, "good", "alice")
    return identity_broker(make_broker, ca, tmp_path, "tls_two_factor true", pw=pw)


def test_two_factor_accepts_certificate_and_matching_password(two_factor, ca):
    b, port, _ = two_factor
    assert connack(port, ca, "good", username="good", password=GOOD_PW, version=V5) == 0x00
    assert connack(port, ca, "good", username="good", password=GOOD_PW, version=V311) == 0x00
    assert 'success method=password address=127.0.0.1 username="good"' in b.log()


@pytest.mark.parametrize("version,wrong_pw,mismatch,no_pw", [(V5, 0x86, 0x86, 0x86), (V311, 4, 4, 4)])
def test_two_factor_refusals(two_factor, ca, version, wrong_pw, mismatch, no_pw):
    b, port, audit = two_factor
    assert connack(port, ca, "good", username="good", password="wrong-one", version=version) == wrong_pw
    # alice's password is right, but the certificate says "good": the username is bound to the certificate.
    assert connack(port, ca, "good", username="alice", password=GOOD_PW, version=version) == mismatch
    assert connack(port, ca, "good", username="good", version=version) == no_pw
    assert connack(port, ca, None, username="good", password=GOOD_PW, version=version) is None
    assert connack(port, ca, "bad", username="bad", password=GOOD_PW, version=version) is None
    helpers.wait_until(lambda: "peer did not return a certificate" in b.log() and "certificate revoked" in b.log(),
                       "the handshake failure log lines")
    log = b.log()
    assert ('auth: refused reason=two_factor address=127.0.0.1 username="alice" certificate_cn="good"' in log)
    assert "tls_two_factor: no password" in log

    def refused():
        return [e for e in audit_events(audit) if e["event"] == "connect_refused"]
    helpers.wait_until(lambda: len(refused()) >= 2, "connect_refused audit events")
    reasons = [e["reason"] for e in refused()]
    assert "tls_two_factor: username differs from the certificate CN" in reasons
    assert "tls_two_factor: no password" in reasons
    assert any(e["event"] == "auth_failure" and e.get("username") == "good" for e in audit_events(audit))


def test_two_factor_with_mosquitto_clients(two_factor, ca, topic):
    b, port, _ = two_factor
    args = tlsca.tls_args(ca, "good") + ["-u", "good", "-P", GOOD_PW]
    assert tlsca.roundtrip(port, topic, *args).strip() == "payload-42"
    r = tlsca.pub(port, topic, "x", *tlsca.tls_args(ca, "good"), "-u", "alice", "-P", GOOD_PW)
    assert r.returncode != 0


# ---- configuration: the broker and `rampart check` agree --------------------------------------------------

@pytest.mark.parametrize("lines,message", [
    (["tls_two_factor true"], "tls_two_factor needs a password_file (the second factor)"),
    (["tls_two_factor true", "use_identity_as_username true"], "tls_two_factor needs a password: it excludes"),
    (["use_identity_as_username true", "use_subject_as_username true"], "are exclusive"),
])
def test_check_and_broker_refuse_the_same_identity_configurations(ca, tmp_path, lines, message):
    conf = tmp_path / "bad.conf"
    conf.write_text("\n".join(["user root", "listener %d 127.0.0.1" % helpers.free_port()] + ca.server_options() +
                              ["cafile " + ca.ca] + lines) + "\n")
    check = subprocess.run([BIN, "check", "-c", str(conf)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 1 and message in check.stderr, check.stderr
    run = subprocess.run([BIN, "-c", str(conf)], capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and message in run.stderr, run.stderr


def test_check_accepts_an_identity_listener_the_broker_runs(ca, tmp_path):
    conf = tmp_path / "good.conf"
    conf.write_text("\n".join(["user root", "listener %d 127.0.0.1" % helpers.free_port()] + ca.server_options() +
                              ["cafile " + ca.ca, "use_identity_as_username true"]) + "\n")
    check = subprocess.run([BIN, "check", "-c", str(conf)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr


def test_identity_as_username_over_secure_websocket(make_broker, ca, tmp_path, topic):
    """wss is WebSocket over the same TLS transport: the certificate's CN is the username there too."""
    wss_port = helpers.free_port()
    b = make_broker(options=["user root"], anonymous=False,
                     extra_listeners=[(wss_port, ["protocol websockets"] + ca.server_options() +
                                       ["cafile " + ca.ca, "use_identity_as_username true"])])
    c = tlsca.Paho(wss_port, transport="websockets", tls=(ca, ca.client("alice")))
    try:
        c.connect()
        c.subscribe(topic)
        c.publish(topic, b"over-wss")
        assert c.get().payload == b"over-wss"
    finally:
        c.close()
    helpers.wait_until(lambda: 'method=certificate address=127.0.0.1 username="alice"' in b.log(),
                       "the certificate login over wss")
