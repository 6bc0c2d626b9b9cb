"""
Audit log (issue 6), TLS: a failed handshake becomes a `tls_handshake_failure` event, a revoked client
certificate a `cert_revoked` event - refused at the handshake, or disconnected when a reloaded CRL revokes a
live client - each one JSON object with listener, source address and port, certificate subject, outcome and
reason. The listener's key is passphrase-protected and the passphrase appears in no log.
"""
import os
import signal
import socket
import subprocess

import pytest

import helpers
import tlsca

pytestmark = pytest.mark.skipif(helpers.is_mosquitto(), reason="Rampart's audit log")

PASSPHRASE = "tangerine-audit-passphrase-31"


@pytest.fixture
def ca():
    c = tlsca.TestCA()
    yield c
    c.cleanup()


def audit_tls_broker(make_broker, ca, tmp_path):
    """A broker with a plain listener and an mTLS listener (CRL checked, key locked with PASSPHRASE) and an
    audit log; returns (broker, TLS port, audit log path)."""
    locked = str(tmp_path / "locked.key")
    passfile = str(tmp_path / "pass")
    subprocess.run(["openssl", "pkey", "-in", ca.path("server.key"), "-aes256", "-passout", "pass:" + PASSPHRASE,
                    "-out", locked], check=True, capture_output=True, timeout=60)
    os.chmod(locked, 0o600)
    with open(passfile, "w") as f:
        f.write(PASSPHRASE + "\n")
    os.chmod(passfile, 0o600)
    opts = [ln for ln in ca.mtls_options() if not ln.startswith("keyfile ")]
    opts += ["keyfile " + locked, "keyfile_passphrase_file " + passfile]
    audit = str(tmp_path / "audit.log")
    port = helpers.free_port()
    b = make_broker(options=["user root", "audit_dest file %s" % audit], extra_listeners=[(port, opts)])
    return b, port, audit


def assert_no_passphrase(b, audit):
    assert PASSPHRASE not in b.log()
    with open(audit) as f:
        assert PASSPHRASE not in f.read()


def test_handshake_failures_and_revoked_certificate_at_handshake(make_broker, ca, tmp_path, topic):
    c = tlsca.TestCA("Some other CA")
    try:
        stranger = c.client("stranger")
        ca.client("bad")
        ca.revoke("bad")
        b, port, audit = audit_tls_broker(make_broker, ca, tmp_path)
        assert tlsca.pub(port, topic, "x", "--cafile", ca.ca, "--cert", stranger[0], "--key",
                         stranger[1]).returncode != 0
        assert tlsca.pub(port, topic, "x", *tlsca.tls_args(ca, "bad")).returncode != 0
        # a client that does not speak TLS at all: a plain MQTT CONNECT
        with socket.create_connection(("127.0.0.1", port), timeout=helpers.WAIT) as s:
            s.sendall(helpers.connect(client_id="plain", version=helpers.V311))
            try:
                while s.recv(1024):
                    pass
            except OSError:
                pass
    finally:
        c.cleanup()
    listener = "127.0.0.1:%d" % port
    unknown = helpers.audit_wait(audit, lambda e: e["event"] == "tls_handshake_failure" and
                                 "CN=stranger" in e.get("cert_subject", ""), "the wrong-CA handshake failure")
    assert unknown["reason"] == "unable to get local issuer certificate", unknown
    revoked = helpers.audit_wait(audit, lambda e: e["event"] == "cert_revoked", "the revoked certificate")
    failure = helpers.audit_wait(audit, lambda e: e["event"] == "tls_handshake_failure" and
                                 "CN=bad" in e.get("cert_subject", ""), "the revoked handshake failure")
    assert revoked["outcome"] == "refused" and "CN=bad" in revoked["cert_subject"], revoked
    assert revoked["reason"] == failure["reason"] == "certificate revoked", (revoked, failure)
    for e in (unknown, revoked, failure):
        assert e["listener"] == listener and e["address"] == "127.0.0.1" and e["port"] > 0, e
        assert e["protocol"].startswith("TLSv1."), e
    plain = helpers.audit_wait(audit, lambda e: e["event"] == "tls_handshake_failure" and "cert_subject" not in e,
                               "the handshake failure of the plain-text client")
    assert plain["listener"] == listener and plain["outcome"] == "refused" and plain["reason"], plain
    assert_no_passphrase(b, audit)


def test_crl_reload_disconnect_is_audited(make_broker, ca, tmp_path, topic):
    b, port, audit = audit_tls_broker(make_broker, ca, tmp_path)
    victim = tlsca.Paho(port, tls=(ca, ca.client("victim"))).connect()
    try:
        ca.revoke("victim")
        os.kill(b.pid, signal.SIGHUP)
        victim.wait_disconnect()
        e = helpers.audit_wait(audit, lambda x: x["event"] == "cert_revoked", "the cert_revoked event")
    finally:
        victim.close()
    assert e["outcome"] == "disconnected" and e["reason"] == "certificate revoked", e
    assert "CN=victim" in e["cert_subject"], e
    assert e["listener"] == "127.0.0.1:%d" % port and e["address"] == "127.0.0.1" and e["port"] > 0, e
    reload = helpers.audit_wait(audit, lambda x: x["event"] == "config_reloaded", "the reload event")
    assert reload["outcome"] == "success", reload
    assert_no_passphrase(b, audit)
