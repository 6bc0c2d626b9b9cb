"""
Audit log (issue 6): connection decisions from real mosquitto clients become one JSON object per line -
connect_accepted for a good login, auth_failure (with the reason code's name) for a wrong password - with
listener, source address and port, client id and user name, and never the password.
"""
import json
import subprocess

import helpers


def pub(b, user, password, client_id):
    return subprocess.run(["mosquitto_pub", "-h", b.host, "-p", str(b.port), "-V", "mqttv5", "-i", client_id,
                           "-u", user, "-P", password, "-t", "audit/t", "-m", "x"],
                          capture_output=True, text=True, timeout=helpers.WAIT)


def test_connect_accepted_and_auth_failure_are_audited(make_broker, tmp_path):
    pw = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(pw), "alice", "alice-pw"], check=True, timeout=30)
    audit = tmp_path / "audit.log"
    b = make_broker(options=["user root", "password_file %s" % pw, "audit_dest file %s" % audit], anonymous=False)
    assert pub(b, "alice", "alice-pw", "good-1").returncode == 0
    assert pub(b, "alice", "wrong-secret", "bad-1").returncode != 0

    def events():
        return [json.loads(line) for line in audit.read_text().splitlines()]

    helpers.wait_until(lambda: any(e["event"] == "auth_failure" for e in events()), "the auth failure")
    ok = [e for e in events() if e["event"] == "connect_accepted" and e.get("client_id") == "good-1"]
    bad = [e for e in events() if e["event"] == "auth_failure"]
    assert len(ok) == 1 and len(bad) == 1, events()
    assert ok[0]["outcome"] == "success" and ok[0]["username"] == "alice"
    assert bad[0]["outcome"] == "failure" and bad[0]["client_id"] == "bad-1" and bad[0]["username"] == "alice"
    assert bad[0]["reason"], bad[0]
    for e in ok + bad:
        assert e["address"] == "127.0.0.1" and e["port"] > 0 and e["time"].endswith("Z")
        assert e["listener"] == "127.0.0.1:%d" % b.port
    text = audit.read_text()
    assert "alice-pw" not in text and "wrong-secret" not in text


def test_stdout_destination_writes_json_and_no_secret(make_broker, tmp_path):
    """audit_dest stdout (the broker's output here) and a file at once: the same JSON lines, and neither the
    good nor the wrong password in the audit log or anywhere in the broker's output."""
    pw = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(pw), "carol", "carol-Secret-77"], check=True, timeout=30)
    audit = tmp_path / "audit.log"
    b = make_broker(options=["user root", "password_file %s" % pw, "audit_dest file %s" % audit,
                             "audit_dest stdout"], anonymous=False)
    assert pub(b, "carol", "carol-Secret-77", "ok-1").returncode == 0
    assert pub(b, "carol", "Wrong-Secret-99", "bad-1").returncode != 0
    helpers.audit_wait(audit, lambda e: e["event"] == "auth_failure", "the auth failure")
    from_file = [e for e in helpers.audit_events(audit) if e["event"] != "privilege_change"]
    helpers.wait_until(lambda: sum(1 for ln in b.log().splitlines() if '"event":"auth_failure"' in ln),
                       "the auth failure on stdout")
    from_stdout = [json.loads(ln) for ln in b.log().splitlines() if ln.startswith("{")]
    assert [e for e in from_stdout if e["event"] != "privilege_change"] == from_file
    for text in (audit.read_text(), b.log()):
        assert "carol-Secret-77" not in text and "Wrong-Secret-99" not in text
