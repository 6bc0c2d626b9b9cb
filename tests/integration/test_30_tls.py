"""
TLS listeners (docs/tls.md): mosquitto_pub/sub over TLS and mutual TLS against a private CA made by the test,
refusal of revoked, expired and wrong-CA certificates with one log line each, CRL reload on SIGHUP
disconnecting a live client whose certificate was revoked, failed reloads keeping the old files, expired
CRLs failing closed, passphrase-protected keys, key-permission refusal, OCSP (responder and stapling),
ALPN, and the protocol/cipher policy as sslscan sees it.
"""
import os
import re
import signal
import ssl
import subprocess
import xml.etree.ElementTree as ET

import pytest

import helpers
import tlsca


@pytest.fixture(scope="module")
def ca():
    c = tlsca.TestCA()
    c.client("good")
    c.client("old", expired=True)
    c.client("bad")
    c.revoke("bad")
    yield c
    c.cleanup()


@pytest.fixture(scope="module")
def other_ca():
    c = tlsca.TestCA("Some other CA")
    c.client("stranger")
    yield c
    c.cleanup()


@pytest.fixture
def fresh_ca():
    """A CA of the test's own, for tests that revoke or damage files."""
    c = tlsca.TestCA()
    yield c
    c.cleanup()


def tls_broker(make_broker, options, anonymous=True, env=None):
    """A broker with a plain listener (for the fixture) and a TLS listener; returns (broker, tls port)."""
    port = helpers.free_port()
    b = make_broker(anonymous=anonymous, extra_listeners=[(port, options)], env=env)
    return b, port


def test_mosquitto_clients_over_tls(make_broker, ca, topic):
    b, port = tls_broker(make_broker, ca.server_options())
    out = tlsca.roundtrip(port, topic, *tlsca.tls_args(ca))
    assert out.strip() == "payload-42"


def test_wrong_ca_server_is_not_trusted(make_broker, ca, other_ca, topic):
    b, port = tls_broker(make_broker, ca.server_options())
    r = tlsca.pub(port, topic, "x", "--cafile", other_ca.ca)
    assert r.returncode != 0


def test_mtls_valid_certificate_accepted(make_broker, ca, topic):
    b, port = tls_broker(make_broker, ca.mtls_options())
    out = tlsca.roundtrip(port, topic, *tlsca.tls_args(ca, "good"))
    assert out.strip() == "payload-42"


@pytest.mark.parametrize("who,reason", [
    ("bad", "certificate revoked"),
    ("old", "certificate has expired"),
    ("stranger", "unable to get local issuer certificate"),
    (None, "peer did not return a certificate"),
])
def test_mtls_refusals_are_logged_on_one_line(make_broker, ca, other_ca, topic, who, reason):
    b, port = tls_broker(make_broker, ca.mtls_options())
    extra = ["--cafile", ca.ca]
    if who == "stranger":
        crt, key = other_ca.client("stranger")
        extra += ["--cert", crt, "--key", key]
    elif who:
        crt, key = ca.client(who)
        extra += ["--cert", crt, "--key", key]
    r = tlsca.pub(port, topic, "x", *extra)
    assert r.returncode != 0
    line = helpers.wait_until(
        lambda: next((ln for ln in b.log().splitlines() if "handshake failed" in ln and reason in ln), None),
        "a handshake failure line naming %r" % reason)
    assert "from 127.0.0.1:" in line
    assert "protocol TLSv1." in line
    if who:
        assert "CN=%s" % who in line


def test_crl_reload_disconnects_revoked_live_client(make_broker, fresh_ca, topic):
    ca = fresh_ca
    b, port = tls_broker(make_broker, ca.mtls_options())
    victim = tlsca.Paho(port, tls=(ca, ca.client("victim"))).connect()
    survivor = tlsca.Paho(port, tls=(ca, ca.client("survivor"))).connect()
    try:
        survivor.subscribe(topic)
        ca.revoke("victim")
        os.kill(b.pid, signal.SIGHUP)
        victim.wait_disconnect()
        line = helpers.wait_until(
            lambda: next((ln for ln in b.log().splitlines() if "disconnecting" in ln and "victim" in ln), None),
            "the log line about the revoked client")
        assert "certificate revoked" in line
        # The other client stayed connected through the reload: it still publishes and receives.
        survivor.publish(topic, b"after-reload")
        assert survivor.get().payload == b"after-reload"
        assert survivor.disconnects.empty()
        # New connections with the revoked certificate are refused too.
        assert tlsca.pub(port, topic, "x", *tlsca.tls_args(ca, "victim")).returncode != 0
    finally:
        victim.close()
        survivor.close()


def test_reload_applies_new_tls_parameters_without_dropping_connections(make_broker, ca, topic, tmp_path):
    """SIGHUP re-reads the listener's TLS parameters too (here tls_version): new handshakes follow them, the
    established connection stays; a parameter OpenSSL refuses keeps the running ones (logged)."""
    d = str(tmp_path)   # the unprivileged broker re-reads its file: let it through the directories above
    while d not in ("/", "/tmp", "") and os.stat(d).st_uid == os.getuid():
        os.chmod(d, os.stat(d).st_mode | 0o711)
        d = os.path.dirname(d)
    b, port = tls_broker(make_broker, ca.server_options())
    ok, live = tlsca.handshake(port, ca=ca, version=ssl.TLSVersion.TLSv1_2)
    assert ok, live
    try:
        assert tlsca.mqtt_connect_over(live, "live-1.2") == b"\x20\x02\x00\x00"

        def reload_with(*extra):
            b.extra_listeners = [(port, ca.server_options() + list(extra))]
            with open(b.config_path, "w") as f:
                f.write(b.config_text())
            mark = len(b.log())
            os.kill(b.pid, signal.SIGHUP)
            return mark
        mark = reload_with("tls_version tlsv1.3")
        helpers.wait_until(lambda: "settings, certificates, key and CRLs reloaded" in b.log()[mark:], "the reload")
        refused, err = tlsca.handshake(port, ca=ca, version=ssl.TLSVersion.TLSv1_2)
        assert not refused, "TLS 1.2 still accepted after tls_version tlsv1.3"
        ok, s = tlsca.handshake(port, ca=ca, version=ssl.TLSVersion.TLSv1_3)
        assert ok, s
        s.close()
        live.sendall(b"\xc0\x00")   # PINGREQ on the connection made before the reload
        assert live.recv(2) == b"\xd0\x00"
        mark = reload_with("ciphers NO-SUCH-CIPHER")
        helpers.wait_until(lambda: "reload failed, keeping the previous certificates and settings" in b.log()[mark:],
                           "the reload error")
        refused, err = tlsca.handshake(port, ca=ca, version=ssl.TLSVersion.TLSv1_2)
        assert not refused, "the failed reload changed the running settings"
        mark = reload_with("cafile " + ca.ca, "use_identity_as_username true")
        helpers.wait_until(lambda: "cannot change without a restart" in b.log()[mark:], "the refused change")
        live.sendall(b"\xc0\x00")
        assert live.recv(2) == b"\xd0\x00"
    finally:
        live.close()


def test_failed_reload_keeps_old_certificates(make_broker, fresh_ca, topic):
    ca = fresh_ca
    b, port = tls_broker(make_broker, ca.server_options())
    with open(ca.path("server.crt"), "w") as f:
        f.write("not a certificate\n")
    os.kill(b.pid, signal.SIGHUP)
    helpers.wait_until(lambda: "reload failed, keeping the previous certificates" in b.log(), "the reload error")
    out = tlsca.roundtrip(port, topic, *tlsca.tls_args(ca))
    assert out.strip() == "payload-42"


def test_expired_crl_fails_closed_with_clear_log(make_broker, fresh_ca, topic):
    ca = fresh_ca
    ca.client("good")
    ca.crl(expired=True)
    b, port = tls_broker(make_broker, ca.mtls_options())
    assert tlsca.pub(port, topic, "x", *tlsca.tls_args(ca, "good")).returncode != 0
    helpers.wait_until(lambda: "CRL is past its nextUpdate" in b.log(), "the expired-CRL line")
    assert "crl_allow_expired" in b.log()


def test_expired_crl_accepted_when_allowed(make_broker, fresh_ca, topic):
    ca = fresh_ca
    ca.client("good")
    ca.crl(expired=True)
    b, port = tls_broker(make_broker, ca.mtls_options() + ["crl_allow_expired true"])
    out = tlsca.roundtrip(port, topic, *tlsca.tls_args(ca, "good"))
    assert out.strip() == "payload-42"


def test_passphrase_protected_key_from_file(make_broker, ca, tmp_path, topic):
    locked = str(tmp_path / "locked.key")
    passfile = str(tmp_path / "pass")
    subprocess.run(["openssl", "pkey", "-in", ca.path("server.key"), "-aes256", "-passout", "pass:correct horse",
                    "-out", locked], check=True, capture_output=True)
    os.chmod(locked, 0o600)
    with open(passfile, "w") as f:
        f.write("correct horse\n")
    os.chmod(passfile, 0o600)
    opts = ["certfile " + ca.path("server.crt"), "keyfile " + locked, "keyfile_passphrase_file " + passfile]
    b, port = tls_broker(make_broker, opts)
    out = tlsca.roundtrip(port, topic, *tlsca.tls_args(ca))
    assert out.strip() == "payload-42"
    assert "correct horse" not in b.log()


def run_expecting_failure(tmp_path, config_lines, env=None):
    """Runs the broker on a config that must be refused at start-up; returns its combined output."""
    conf = tmp_path / "refused.conf"
    conf.write_text("\n".join(config_lines) + "\n")
    e = dict(os.environ)
    e.update(env or {})
    out = subprocess.run([helpers.RAMPART_BIN, "-c", str(conf)], capture_output=True, text=True,
                         timeout=helpers.WAIT * 3, cwd=str(tmp_path), env=e)
    assert out.returncode != 0
    return out.stdout + out.stderr


def test_key_readable_by_others_is_refused(ca, tmp_path):
    key = str(tmp_path / "open.key")
    with open(ca.path("server.key")) as src, open(key, "w") as dst:
        dst.write(src.read())
    os.chmod(key, 0o644)
    text = run_expecting_failure(tmp_path, ["listener %d 127.0.0.1" % helpers.free_port(),
                                            "certfile " + ca.path("server.crt"), "keyfile " + key])
    assert "readable or writable by other users" in text
    assert "chmod 600 " + key in text


def test_encrypted_key_without_passphrase_is_refused(ca, tmp_path):
    locked = str(tmp_path / "locked.key")
    subprocess.run(["openssl", "pkey", "-in", ca.path("server.key"), "-aes256", "-passout", "pass:pw",
                    "-out", locked], check=True, capture_output=True)
    os.chmod(locked, 0o600)
    text = run_expecting_failure(tmp_path, ["listener %d 127.0.0.1" % helpers.free_port(),
                                            "certfile " + ca.path("server.crt"), "keyfile " + locked])
    assert "is encrypted" in text


def test_tls_version_below_1_2_is_a_configuration_error(ca, tmp_path):
    text = run_expecting_failure(tmp_path, ["listener %d 127.0.0.1" % helpers.free_port()] +
                                 ca.server_options(tls_version="tlsv1.1"))
    assert "tlsv1.1" in text


def test_alpn_mqtt_selected(make_broker, ca):
    b, port = tls_broker(make_broker, ca.server_options())
    ok, s = tlsca.handshake(port, ca=ca, alpn=["mqtt"])
    assert ok, s
    try:
        assert s.selected_alpn_protocol() == "mqtt"
        assert s.version() == "TLSv1.3"
        assert tlsca.mqtt_connect_over(s)[:1] == b"\x20"
    finally:
        s.close()


def test_tls12_uses_ecdhe_aead_only(make_broker, ca):
    b, port = tls_broker(make_broker, ca.server_options())
    ok, s = tlsca.handshake(port, ca=ca, version=ssl.TLSVersion.TLSv1_2)
    assert ok, s
    try:
        name = s.cipher()[0]
        assert name.startswith("ECDHE-") and ("GCM" in name or "CHACHA20" in name), name
    finally:
        s.close()


def sslscan(port):
    out = subprocess.run(["sslscan", "--no-colour", "--xml=-", "--no-heartbleed", "127.0.0.1:%d" % port],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return ET.fromstring(out.stdout[out.stdout.index("<?xml"):])


@pytest.mark.parametrize("kind", ["mqtts", "wss"])
def test_sslscan_sees_only_intended_protocols_and_ciphers(make_broker, ca, kind):
    """The fast part of `make tls-scan` (sslscan; testssl stays in that target): on the MQTT-over-TLS
    listener and on the secure WebSocket listener alike."""
    options = ca.server_options() + (["protocol websockets"] if kind == "wss" else [])
    b, port = tls_broker(make_broker, options)
    root = sslscan(port)
    enabled = {p.get("type") + p.get("version") for p in root.iter("protocol") if p.get("enabled") == "1"}
    assert enabled == {"tls1.2", "tls1.3"}, enabled
    ciphers = [(c.get("sslversion"), c.get("cipher")) for c in root.iter("cipher")]
    assert ciphers
    for version, name in ciphers:
        if version == "TLSv1.2":
            assert name.startswith("ECDHE-") and ("GCM" in name or "CHACHA20" in name), name
        else:
            assert version == "TLSv1.3", (version, name)
    assert not [c for c in root.iter("compression") if c.get("supported") == "1"]
    reneg = [r for r in root.iter("renegotiation")]
    assert all(r.get("supported") == "0" for r in reneg), [r.attrib for r in reneg]


def test_ocsp_responder_checks_client_certificates(make_broker, fresh_ca, topic):
    ca = fresh_ca
    ca.client("good")
    ca.client("gone")
    ca.run("revoke", ca.dir, "gone")  # revoked in the CA database only: no CRL says so
    responder = tlsca.OcspResponder(ca)
    try:
        # the longest query timeout allowed: a loaded machine may sign slowly (no timing is asserted)
        opts = ca.mtls_options(crl=False) + ["ocsp_check_clients true", "ocsp_timeout 60",
                                             "ocsp_responder " + responder.url]
        b, port = tls_broker(make_broker, opts)
        out = tlsca.roundtrip(port, topic, *tlsca.tls_args(ca, "good"))
        assert out.strip() == "payload-42"
        assert tlsca.pub(port, topic, "x", *tlsca.tls_args(ca, "gone")).returncode != 0
        helpers.wait_until(lambda: "certificate revoked (OCSP" in b.log(), "the OCSP refusal line")
    finally:
        responder.stop()


@pytest.mark.parametrize("kind", ["mqtts", "wss"])
def test_slow_ocsp_responder_does_not_stall_other_clients(make_broker, fresh_ca, topic, kind):
    """The OCSP query runs off the event loop: while one client's handshake waits for a responder that holds
    its answer back, another client connects, subscribes, publishes and receives; the held client gets its
    verdict (here: no usable answer, refused) once the responder lets go. Secure WebSocket parks the same way
    (its upgrade waits for the TLS layer underneath)."""
    import socket
    import threading
    ca = fresh_ca
    ca.client("good")
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    asked, release = threading.Event(), threading.Event()

    def responder():
        conn, _ = srv.accept()
        with conn:
            conn.recv(65536)
            asked.set()
            release.wait(60)   # then close without answering

    threading.Thread(target=responder, daemon=True).start()
    held = {}

    def held_client():
        ok, s = tlsca.handshake(port, cert=ca.client("good"), ca=ca)
        if ok and kind == "wss":
            s.sendall(b"GET /mqtt HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                      b"Sec-WebSocket-Protocol: mqtt\r\n\r\n")
            s.settimeout(helpers.WAIT * 2)
            try:
                held["connack"] = s.recv(64)   # the 101 would come only after an accepted OCSP check
            except OSError:
                held["connack"] = b""
        else:
            held["connack"] = tlsca.mqtt_connect_over(s, "held") if ok else b""
        if ok:
            s.close()

    try:
        opts = ca.mtls_options(crl=False) + ["ocsp_check_clients true", "ocsp_timeout 60",
                                             "ocsp_responder http://127.0.0.1:%d/" % srv.getsockname()[1]]
        if kind == "wss":
            opts = ["protocol websockets"] + opts
        b, port = tls_broker(make_broker, opts)
        t = threading.Thread(target=held_client, daemon=True)
        t.start()
        assert asked.wait(helpers.WAIT), "the broker did not ask the responder"
        other = helpers.Client(b, client_id="meanwhile")
        try:
            other.connect()
            other.subscribe(topic, qos=1)
            other.publish(topic, b"while-ocsp-waits", qos=1)
            assert other.get().payload == b"while-ocsp-waits"
        finally:
            other.close()
        assert t.is_alive() and "connack" not in held, "the held client was answered before the responder"
        release.set()
        t.join(helpers.WAIT)
        assert held.get("connack") == b"", held
        helpers.wait_until(lambda: "no usable answer from the OCSP responder" in b.log(), "the refusal line")
    finally:
        release.set()
        srv.close()


def test_ocsp_stapling(make_broker, fresh_ca):
    ca = fresh_ca
    req, resp = ca.path("req.der"), ca.path("resp.der")
    subprocess.run(["openssl", "ocsp", "-issuer", ca.ca, "-cert", ca.path("server.crt"), "-reqout", req,
                    "-no_nonce"], check=True, capture_output=True)
    subprocess.run(["openssl", "ocsp", "-index", ca.path("index.txt"), "-rsigner", ca.ca, "-rkey",
                    ca.path("ca.key"), "-CA", ca.ca, "-reqin", req, "-respout", resp, "-ndays", "2"],
                   check=True, capture_output=True)
    b, port = tls_broker(make_broker, ca.server_options(ocsp_response_file=resp))
    out = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-status", "-CAfile",
                          ca.ca, "-servername", "localhost"], input="", capture_output=True, text=True,
                         timeout=helpers.WAIT * 2)
    assert "OCSP Response Status: successful" in out.stdout, out.stdout
    assert re.search(r"Cert Status: good", out.stdout)
