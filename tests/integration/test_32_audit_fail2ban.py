"""
The fail2ban filter (contrib/fail2ban/filter.d/rampart.conf) against an audit log the real broker wrote during
a real brute force (mosquitto_pub with wrong passwords from 127.0.0.1), checked with Debian's fail2ban-regex:
one match per failed login, all for 127.0.0.1 (also when a client id tries to fake an "address"), none for
successful logins; SCRAM-SHA-256 failures at CONNECT and in a re-authentication are matched too; a source
Rampart banned is matched when it keeps trying. fail2ban-client reads the jail
with the filter and the example configuration's audit log.
"""
import os
import re
import shutil
import subprocess

import pytest

import helpers
from test_20_auth import add_user, rampart, try_connect

pytestmark = pytest.mark.skipif(helpers.is_mosquitto(), reason="Rampart's audit log")

FILTER = os.path.join(helpers.ROOT, "contrib", "fail2ban", "filter.d", "rampart.conf")
JAIL = os.path.join(helpers.ROOT, "contrib", "fail2ban", "jail.d", "rampart.conf")
GOOD = "Velvet-otter-38-swims"
WRONG = 6
FAKE_ID = 'x","address":"192.0.2.66'


def mosquitto_pub(b, password, client_id):
    return subprocess.run(["mosquitto_pub", "-h", b.host, "-p", str(b.port), "-V", "mqttv311", "-i", client_id,
                           "-u", "alice", "-P", password, "-t", "f2b/t", "-m", "x"],
                          capture_output=True, text=True, timeout=helpers.WAIT)


def fail2ban_regex(log, *extra):
    out = subprocess.run(["fail2ban-regex", *extra, str(log), FILTER], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def matched(log):
    """(lines, matched) from fail2ban-regex's summary."""
    m = re.search(r"^Lines: (\d+) lines, \d+ ignored, (\d+) matched", fail2ban_regex(log), re.M)
    assert m, "no summary from fail2ban-regex"
    return int(m.group(1)), int(m.group(2))


def test_filter_matches_each_failed_login_of_a_brute_force(make_broker, tmp_path):
    pw = tmp_path / "passwd"
    add_user(pw, "alice", GOOD, "-c")
    audit = tmp_path / "audit.log"
    # every guess gets a verdict (no backoff refusals); the lockout threshold stays above the guesses
    b = make_broker(options=["user root", "password_file %s" % pw, "audit_dest file %s" % audit,
                             "login_backoff_address 0", "login_backoff_network 0", "login_backoff_username 0"],
                    anonymous=False)
    for i in range(3):
        assert mosquitto_pub(b, GOOD, "owner-%d" % i).returncode == 0
    for i in range(WRONG):
        client_id = FAKE_ID if i == 0 else "brute-%d" % i
        assert mosquitto_pub(b, "wrong-%d-Pz" % i, client_id).returncode != 0
    helpers.wait_until(lambda: len([e for e in helpers.audit_events(audit) if e["event"] == "auth_failure"])
                       == WRONG, "%d auth_failure events" % WRONG)
    events = helpers.audit_events(audit)
    assert len([e for e in events if e["event"] == "connect_accepted"]) == 3, events
    lines, hits = matched(audit)
    assert lines == len(events) and hits == WRONG, (lines, hits, events)
    assert fail2ban_regex(audit, "-o", "ip").split() == ["127.0.0.1"] * WRONG
    # negative: the successful logins alone match nothing
    good = tmp_path / "good.log"
    with open(audit) as src, open(good, "w") as dst:
        dst.writelines(ln for ln in src if '"event":"connect_accepted"' in ln)
    assert matched(good) == (3, 0)
    text = audit.read_text()
    assert GOOD not in text and "wrong-0-Pz" not in text


def test_filter_matches_a_banned_source_that_keeps_trying(make_broker, tmp_path):
    pw = tmp_path / "passwd"
    add_user(pw, "alice", GOOD, "-c")
    audit = tmp_path / "audit.log"
    bans = tmp_path / "bans"
    b = make_broker(options=["user root", "password_file %s" % pw, "ban_file %s" % bans,
                             "audit_dest file %s" % audit], anonymous=False)
    rampart("ban", "-f", str(bans), "add", "address", "127.0.0.5")
    helpers.wait_until(lambda: try_connect(b, "alice", GOOD, source="127.0.0.5") == 0x8A, "the ban in force")
    assert try_connect(b, "alice", GOOD, source="127.0.0.6") == 0
    refused = [e for e in helpers.audit_events(audit) if e["event"] == "connect_refused"]
    assert refused and all(e["reason"] == "banned" for e in refused), refused
    assert fail2ban_regex(audit, "-o", "ip").split() == ["127.0.0.5"] * len(refused)


def test_filter_matches_scram_and_reauthentication_failures(make_broker, tmp_path):
    import test_21_reauth as reauth
    pw = tmp_path / "passwd"
    reauth.add_user(pw, "alice", reauth.ALICE_PW)
    audit = tmp_path / "audit.log"
    b = make_broker(options=["user root", "password_file %s" % pw, "audit_dest file %s" % audit,
                             "login_backoff_address 0", "login_backoff_username 0"], anonymous=False)
    # a SCRAM CONNECT with a wrong password
    r = helpers.Raw(b)
    try:
        sc = reauth.Scram("alice", "Not-the-password-1")
        r.send(helpers.connect("scram-bad", props=[(helpers.P_AUTH_METHOD, reauth.METHOD),
                                                   (helpers.P_AUTH_DATA, sc.first())]))
        p = r.expect(helpers.AUTH)
        r.send(reauth.auth_packet(0x18, sc.final(p.prop(helpers.P_AUTH_DATA))))
        assert r.expect(helpers.CONNACK).reason == 0x86
    finally:
        r.close()
    # a good login, then a re-authentication with a wrong password
    r = reauth.scram_connect(b, "alice", reauth.ALICE_PW, "scram-reauth")
    try:
        sc = reauth.Scram("alice", "Not-the-password-2")
        r.send(reauth.auth_packet(0x19, sc.first()))
        p = r.expect(helpers.AUTH)
        r.send(reauth.auth_packet(0x18, sc.final(p.prop(helpers.P_AUTH_DATA))))
        r.expect_disconnect(0x87)
    finally:
        r.close()
    helpers.audit_wait(audit, lambda e: e["event"] == "reauth_failure", "the reauth_failure event")
    kinds = [e["event"] for e in helpers.audit_events(audit)]
    assert kinds.count("auth_failure") == 1 and kinds.count("connect_accepted") == 1, kinds
    assert fail2ban_regex(audit, "-o", "ip").split() == ["127.0.0.1"] * 2
    text = audit.read_text()
    assert reauth.ALICE_PW not in text and "Not-the-password" not in text


def test_jail_loads_in_fail2ban_with_the_filter(tmp_path):
    """fail2ban itself reads the jail and the filter (`fail2ban-client -t`, no server started) from a copy of
    Debian's /etc/fail2ban without its default jails; the jail's log is the example configuration's audit log
    (moved under tmp_path for the check: fail2ban wants it to exist)."""
    conf = tmp_path / "fail2ban"
    shutil.copytree("/etc/fail2ban", conf)
    for name in os.listdir(conf / "jail.d"):
        os.unlink(conf / "jail.d" / name)
    shutil.copy(FILTER, conf / "filter.d" / "rampart.conf")
    log = tmp_path / "audit.log"      # fail2ban refuses a jail whose log does not exist: point it here
    log.write_text("")
    jail = open(JAIL).read()
    assert "logpath  = /var/log/rampart/audit.log\n" in jail
    (conf / "jail.d" / "rampart.conf").write_text(jail.replace("/var/log/rampart/audit.log", str(log)))
    out = subprocess.run(["fail2ban-client", "-c", str(conf), "-t"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "configuration test is successful" in out.stdout + out.stderr, out
    dump = subprocess.run(["fail2ban-client", "-c", str(conf), "-d"], capture_output=True, text=True,
                          timeout=120).stdout
    assert "['add', 'rampart', 'auto']" in dump, dump
    assert '"event":"(?:re)?auth_failure"' in dump and "['set', 'rampart', 'maxretry', 10]" in dump, dump
    assert "['set', 'rampart', 'addlogpath', '%s', 'head']" % log in dump, dump
    example = open(os.path.join(helpers.ROOT, "contrib", "rampart-hardened.conf")).read()
    assert "audit_dest file /var/log/rampart/audit.log\n" in example
