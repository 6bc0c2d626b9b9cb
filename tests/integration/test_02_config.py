"""
Configuration: `rampart check -c FILE` on real mosquitto.conf files and on broken ones. Every error is
reported as file:line with the option, all errors of a file are reported (not only the first), and the
exit status is non-zero. Where mosquitto 2 refuses a file too, Debian's mosquitto is run on the same file
to show that both refuse it at the same line.
"""
import os
import shutil
import subprocess

import pytest

BIN = os.environ.get("RAMPART_BIN", os.path.join(os.path.dirname(__file__), "../../build-asan/rampart"))
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
EXAMPLE = "/usr/share/doc/mosquitto/examples/mosquitto.conf"
DEBIAN_CONF = "/etc/mosquitto/mosquitto.conf"


def check(path):
    out = subprocess.run([BIN, "check", "-c", str(path)], capture_output=True, text=True, timeout=60)
    return out.returncode, out.stdout, out.stderr


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_check_accepts_mosquitto_example_file():
    assert os.path.exists(EXAMPLE), "Debian's mosquitto package ships " + EXAMPLE
    rc, out, err = check(EXAMPLE)
    assert rc == 0, err
    assert "OK (1 listener)" in out
    assert err == ""


def make_tls_files(d):
    """A self-signed CA-less server certificate and key, and a password file, readable by the broker's
    account (check verifies that as the configured user: root here)."""
    d.mkdir(mode=0o755, exist_ok=True)
    key, crt = d / "server.key", d / "server.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", str(key), "-out", str(crt), "-days", "30", "-subj", "/CN=localhost"],
                   check=True, capture_output=True, timeout=60)
    os.chmod(key, 0o600)
    pw = d / "passwd"
    pw.write_text("")
    return crt, key, pw


def test_check_accepts_a_typical_hardened_file(tmp_path):
    crt, key, pw = make_tls_files(tmp_path / "tls")
    conf = write(tmp_path, "good.conf", "\n".join([
        "# a typical deployment",
        "user root",
        "per_listener_settings false",
        "allow_anonymous false",
        "password_file %s" % pw,
        "max_inflight_messages 20",
        "max_queued_messages 500",
        "max_queued_bytes 4M",
        "max_packet_size 256k",
        "max_keepalive 300",
        "sys_interval 30",
        "persistent_client_expiration 14d",
        "log_dest stderr",
        "log_type error",
        "log_type warning",
        "listener 1883 127.0.0.1",
        "listener 8883",
        "certfile %s" % crt,
        "keyfile %s" % key,
        "cafile %s" % crt,
        "require_certificate true",
        "use_identity_as_username true",
        "tls_version tlsv1.3",
        "listener 8083",
        "protocol websockets",
        "websocket_path /mqtt",
        "",
    ]))
    rc, out, err = check(conf)
    assert rc == 0, err
    assert "OK (3 listeners)" in out


def test_check_reports_missing_referenced_files(tmp_path):
    conf = write(tmp_path, "files.conf", "user root\nlistener 8883\ncertfile %s/absent.crt\nkeyfile %s/absent.key\n"
                 % (tmp_path, tmp_path))
    rc, out, err = check(conf)
    assert rc == 1
    assert "absent.crt" in err and "No such file or directory" in err


def test_debian_default_file_names_unsupported_options_by_line():
    """Debian's own /etc/mosquitto/mosquitto.conf turns persistence on without a key: Rampart's store is
    encrypted, so it is refused with file:line (fail closed), never silently ignored."""
    assert os.path.exists(DEBIAN_CONF)
    lines = open(DEBIAN_CONF).read().splitlines()
    rc, out, err = check(DEBIAN_CONF)
    assert rc == 1
    for i, line in enumerate(lines, 1):
        words = line.split()
        if words and words[0] == "persistence":
            assert "%s:%d: persistence true needs a key" % (DEBIAN_CONF, i) in err


def test_every_error_is_reported_with_file_and_line(tmp_path):
    conf = write(tmp_path, "bad.conf", "\n".join([
        "allow_anonymous maybe",           # 1
        "max_keepalive 5",                 # 2
        "no_such_option 1",                # 3
        "auth_plugin /usr/lib/x.so",       # 4
        "connection bridge-1",             # 5
        "listener 1883",                   # 6
        "listener 1883",                   # 7
        "certfile /x.pem",                 # 8
        "tls_version tlsv1.1",             # 9
        "",
    ]))
    rc, out, err = check(conf)
    assert rc == 1
    p = str(conf)
    expected = [
        "%s:1: allow_anonymous: 'maybe' is not a boolean: use true or false" % p,
        "%s:2: max_keepalive: 5 is out of range 10..65535" % p,
        "%s:3: unknown option 'no_such_option'" % p,
        "%s:4: option 'auth_plugin' is not supported by Rampart (plugins are not loaded)" % p,
        "%s:5: option 'connection' is not supported by Rampart (bridges are not supported)" % p,
        "%s:9: tls_version: 'tlsv1.1' is not allowed: use tlsv1.2 (TLS 1.2 and 1.3) or tlsv1.3 (1.3 only)" % p,
        "%s:7: listener 1883: certfile without keyfile" % p,
        "%s:7: listener 1883: duplicates the listener at %s:6 (same port, all addresses)" % (p, p),
    ]
    for e in expected:
        assert e in err.splitlines(), "missing %r in:\n%s" % (e, err)
    assert "%s: %d errors" % (p, len(expected)) in err


def test_include_dir_errors_name_the_included_file(tmp_path):
    d = tmp_path / "conf.d"
    d.mkdir()
    (d / "10-listener.conf").write_text("listener 1884 127.0.0.1\n")
    (d / "20-bad.conf").write_text("# comment\nmax_queued_messages lots\n")
    (d / "README").write_text("not a .conf file: ignored\n")
    conf = write(tmp_path, "main.conf", "include_dir %s\n" % d)
    rc, out, err = check(conf)
    assert rc == 1
    assert "%s/20-bad.conf:2: max_queued_messages: 'lots' is not a count 1..1000000000" % d in err
    (d / "20-bad.conf").write_text("max_queued_messages 100\n")
    rc, out, err = check(conf)
    assert rc == 0, err
    assert "OK (1 listener)" in out


def test_missing_file_and_usage(tmp_path):
    rc, out, err = check(tmp_path / "absent.conf")
    assert rc == 1
    assert "cannot open" in err and "No such file or directory" in err
    out = subprocess.run([BIN, "check"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "usage: rampart check -c FILE" in out.stderr


@pytest.mark.parametrize("line,option", [
    ("allow_anonymous maybe", "allow_anonymous"),
    ("foo_bar 1", "foo_bar"),
    ("retain_available maybe", "retain_available"),
])
def test_mosquitto_refuses_the_same_lines(tmp_path, line, option):
    """Both brokers refuse these files at the same line (mosquitto exits at its first error)."""
    conf = write(tmp_path, "both.conf", "# comment\nlistener 1 127.0.0.1\n%s\n" % line)
    rc, out, err = check(conf)
    assert rc == 1
    assert ("%s:3: " % conf) in err and option in err
    m = subprocess.run([MOSQUITTO, "-c", str(conf)], capture_output=True, text=True, timeout=30)
    assert m.returncode != 0
    assert "Error found at %s:3." % conf in (m.stdout + m.stderr)


def test_check_parses_the_acl_file_too(tmp_path):
    acl = tmp_path / "rules.acl"
    acl.write_text("# rules\ntopic read a/#\nuser bob\ntopic sideways b\n")
    conf = write(tmp_path, "acl.conf", "user root\nacl_file %s\n" % acl)
    rc, out, err = check(conf)
    assert rc == 1
    assert "%s:4: 'sideways' is not read, write, readwrite, subscribe or deny" % acl in err
    acl.write_text("# rules\ntopic read a/#\nuser bob\ntopic write b\n")
    rc, out, err = check(conf)
    assert rc == 0, err
