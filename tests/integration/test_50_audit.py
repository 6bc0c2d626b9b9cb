"""
`rampart audit`: a deliberately weak configuration gets the findings it deserves (and `--fail-on high` fails),
the shipped hardened example (contrib/rampart-hardened.conf, with a private CA from scripts/tls-ca.sh) gets no
finding of severity high or worse, and the Lynis custom test reports the findings to a real Lynis run.
"""
import json
import re
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import helpers  # noqa: E402

BIN = helpers.RAMPART_BIN
ROOT = helpers.ROOT


def run(*args, check=False, env=None, cwd=None):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=120, check=check, env=env, cwd=cwd)


def audit_json(conf, *extra):
    out = run(BIN, "audit", "-c", str(conf), "--json", *extra)
    assert out.returncode in (0, 1), out.stderr
    return out.returncode, json.loads(out.stdout)


def ids(doc, min_severity=None):
    order = ["info", "low", "medium", "high", "critical"]
    return {f["id"] for f in doc["findings"]
            if min_severity is None or order.index(f["severity"]) >= order.index(min_severity)}


def make_weak(tmp_path):
    pw = tmp_path / "passwd"
    # mosquitto's $6$ (salted SHA-512) entry: a weak scheme.
    pw.write_text("alice:$6$c2FsdHNhbHRzYWx0$6Y6i3rTJ4Ry2ZxG1dbuNYNKxCHzYJD7dHnkU6tlRu0d9Af3n9xM3VsTQIWD6hH5xB4uLe8"
                  "Ey1QlqcjTHB6HP3A==\n")
    os.chmod(pw, 0o644)
    acl = tmp_path / "acl"
    acl.write_text("user alice\ntopic readwrite #\n")
    conf = tmp_path / "weak.conf"
    conf.write_text("user root\nsandbox_seccomp false\nsandbox_landlock false\nacl_file %s\n"
                    "password_file %s\nallow_anonymous true\n"
                    "listener 18840 0.0.0.0\n"
                    "listener 18841 0.0.0.0\nprotocol websockets\n" % (acl, pw))
    return conf


def test_weak_configuration_is_flagged(tmp_path):
    conf = make_weak(tmp_path)
    rc, doc = audit_json(conf, "--fail-on", "high")
    assert rc == 1
    found = ids(doc)
    for want in ("LSN-001", "LSN-002", "LSN-005", "CRD-001", "ACL-002", "FIL-001", "PRC-001", "PRC-002",
                 "PRC-003"):
        assert want in found, (want, doc)
    assert doc["hardening_index"] < 50
    evidence = {}
    for f in doc["findings"]:
        assert f["fix"] and f["title"] and f["evidence"], f
        evidence.setdefault(f["id"], []).append(f["evidence"])
    assert any("0.0.0.0:18840" in e for e in evidence["LSN-001"]), evidence
    assert any("0.0.0.0:18841 (websockets)" in e for e in evidence["LSN-001"]), evidence
    assert any(str(tmp_path / "passwd") in e for e in evidence["CRD-001"]), evidence
    text = run(BIN, "audit", "-c", str(conf))
    assert text.returncode == 0  # no --fail-on: findings alone do not fail
    assert "[high] LSN-002" in text.stdout and "hardening index: %d/100" % doc["hardening_index"] in text.stdout


def test_unaccounted_listening_socket_is_reported(tmp_path):
    conf = make_weak(tmp_path)
    with helpers.socket.socket() as stray:
        stray.bind(("127.0.0.1", 0))
        stray.listen(1)
        port = stray.getsockname()[1]
        _, doc = audit_json(conf)
    evidence = [f["evidence"] for f in doc["findings"] if f["id"] == "NET-001"]
    assert any("127.0.0.1:%d " % port in e for e in evidence), evidence


def make_hardened(tmp_path):
    """The shipped example with its /etc/rampart paths moved under tmp_path, files made for real."""
    etc = tmp_path / "etc"
    tls = etc / "tls"
    tls.mkdir(parents=True)
    run("sh", os.path.join(ROOT, "scripts/tls-ca.sh"), "init", str(tls), check=True)
    run("sh", os.path.join(ROOT, "scripts/tls-ca.sh"), "crl", str(tls), check=True)
    pw = etc / "passwd"
    run(BIN, "passwd", "-c", "-b", str(pw), "dashboard", "correct horse battery staple 7", check=True)
    os.chmod(pw, 0o600)
    acl = etc / "acl"
    acl.write_text("user dashboard\ntopic read telemetry/+/status\n")
    os.chmod(acl, 0o600)
    text = open(os.path.join(ROOT, "contrib/rampart-hardened.conf")).read()
    text = text.replace("/etc/rampart/", str(etc) + "/").replace("user rampart", "user nobody")
    text = text.replace("/run/rampart/rampart.pid", str(tmp_path / "rampart.pid"))
    conf = tmp_path / "hardened.conf"
    conf.write_text(text)
    return conf


def test_hardened_example_has_no_high_findings(tmp_path):
    conf = make_hardened(tmp_path)
    rc, doc = audit_json(conf, "--fail-on", "high")
    assert not ids(doc, "high"), doc
    assert not {"ACL-001", "ACL-002", "LSN-001", "LSN-002"} & ids(doc), doc
    assert rc == 0
    assert doc["hardening_index"] >= 60, doc


def test_lynis_custom_test_reports_findings(tmp_path):
    conf = make_weak(tmp_path)
    lynis = tmp_path / "lynis"
    shutil.copytree("/usr/share/lynis", lynis, symlinks=True)
    shutil.copy("/usr/sbin/lynis", lynis / "lynis")
    shutil.copy(os.path.join(ROOT, "contrib/lynis/tests_custom"), lynis / "include" / "tests_custom")
    shutil.copy("/etc/lynis/default.prf", lynis / "default.prf")  # --usecwd looks for the profile here
    for dirpath, _, files in os.walk(lynis):
        for f in files:
            os.chmod(os.path.join(dirpath, f), 0o640)
    os.chmod(lynis / "lynis", 0o755)
    report, log = tmp_path / "report.dat", tmp_path / "lynis.log"
    env = dict(os.environ, RAMPART_BIN=BIN, RAMPART_CONFIG=str(conf))
    out = run("./lynis", "audit", "system", "--usecwd", "--tests", "CUST-8810", "--no-colors", "--quick",
              "--report-file", str(report), "--logfile", str(log), env=env, cwd=str(lynis))
    assert out.returncode == 0, out.stdout + out.stderr
    data = report.read_text()
    assert "warning[]=CUST-8810|Rampart LSN-002" in data, data
    assert "suggestion[]=CUST-8810|Rampart ACL-002" in data, data
    assert "rampart_hardening_index=" in data


def test_live_broker_is_inspected_through_pid_file(make_broker, tmp_path):
    pid_file = tmp_path / "rampart.pid"
    root = make_broker(options=["user root", "pid_file %s" % pid_file])
    helpers.wait_until(lambda: pid_file.exists() and pid_file.read_text().strip() == str(root.pid), "the pid file")
    _, doc = audit_json(root.config_path)
    evidence = [f["evidence"] for f in doc["findings"] if f["id"] == "PRC-001"]
    assert any("pid %d" % root.pid in e and "Uid 0" in e for e in evidence), doc  # seen in /proc, not the file
    assert "PRC-000" not in ids(doc)
    assert not {"PRC-003", "PRC-004", "PRC-006"} & ids(doc), doc  # seccomp on, no core dumps, no_new_privs

    pid_file2 = tmp_path / "rampart2.pid"
    plain = make_broker(options=["pid_file %s" % pid_file2])
    helpers.wait_until(lambda: re.search(r"notice: rampart \S+ running", plain.log()), "start-up")
    _, doc = audit_json(plain.config_path)
    assert not {"PRC-000", "PRC-001", "PRC-003", "PRC-004", "PRC-006"} & ids(doc), doc
    # The broker's port is accounted for; a stale pid file (process gone) falls back to the configuration.
    assert not any(":%d " % plain.port in f["evidence"] for f in doc["findings"] if f["id"] == "NET-001")
    pid_file2.write_text("999999\n")
    _, doc = audit_json(plain.config_path)
    assert "PRC-000" in ids(doc)
