"""
Audit log (issue 6): a brute force against the real broker leaves `auth_failure` for each wrong password, a
`lockout` (scope, duration, failures) when the limiter locks the address, the `ban` it adds, and
`connect_refused` for the banned source afterwards; a username lockout is audited with its scope; bans that
`rampart ban` adds or removes while the broker runs, and bans that expire, are audited as they take effect.
No password appears in the audit log or the broker's log.
"""
import pytest

import helpers
from test_20_auth import add_user, try_connect

pytestmark = pytest.mark.skipif(helpers.is_mosquitto(), reason="Rampart's audit log")

GOOD = "Crimson-ladder-52-hums"
GUESSES = ["guess-%d-Xq7" % i for i in range(4)]


def audit_auth_broker(make_broker, tmp_path, *options):
    pw = tmp_path / "passwd"
    add_user(pw, "alice", GOOD, "-c")
    audit = str(tmp_path / "audit.log")
    bans = tmp_path / "bans"
    b = make_broker(options=["user root", "password_file %s" % pw, "ban_file %s" % bans,
                             "audit_dest file %s" % audit, *options], anonymous=False)
    return b, audit, bans


def assert_no_secret(b, audit):
    text = open(audit).read() + b.log()
    for secret in [GOOD] + GUESSES:
        assert secret not in text, secret


def test_address_lockout_ban_and_refusal_are_audited(make_broker, tmp_path):
    b, audit, bans = audit_auth_broker(make_broker, tmp_path, "login_backoff_address 0",
                                       "login_lockout_address 3", "login_backoff_network 0",
                                       "login_lockout_network 0", "login_backoff_username 0",
                                       "login_lockout_username 0")
    for g in GUESSES[:3]:
        assert try_connect(b, "alice", g, client_id="brute") == 0x86
    assert try_connect(b, "alice", GOOD, client_id="brute") == 0x8A      # banned now
    lock = helpers.audit_wait(audit, lambda e: e["event"] == "lockout", "the lockout event")
    assert lock["scope"] == "address" and lock["failures"] == 3 and lock["duration_s"] > 0, lock
    assert lock["address"] == "127.0.0.1" and lock["username"] == "alice" and lock["client_id"] == "brute", lock
    assert lock["listener"] == "127.0.0.1:%d" % b.port and lock["outcome"] == "locked_out", lock
    ban = helpers.audit_wait(audit, lambda e: e["event"] == "ban", "the ban event")
    assert ban["outcome"] == "added" and ban["source"] == "lockout", ban
    assert ban["ban_kind"] == "address" and ban["ban_value"] == "127.0.0.1" == ban["address"], ban
    assert ban["expires"] > 0 and ban["reason"].startswith("lockout"), ban
    refused = helpers.audit_wait(audit, lambda e: e["event"] == "connect_refused", "the refusal of the banned")
    assert refused["reason"] == "banned" and refused["address"] == "127.0.0.1" and refused["port"] > 0, refused
    failures = [e for e in helpers.audit_events(audit) if e["event"] == "auth_failure"]
    assert len(failures) == 3 and all(e["client_id"] == "brute" for e in failures), failures
    assert_no_secret(b, audit)


def test_username_lockout_is_audited(make_broker, tmp_path):
    b, audit, _ = audit_auth_broker(make_broker, tmp_path, "login_backoff_address 0", "login_lockout_address 0",
                                    "login_backoff_network 0", "login_lockout_network 0",
                                    "login_backoff_username 0", "login_lockout_username 2")
    for i, g in enumerate(GUESSES[:2]):
        assert try_connect(b, "alice", g, source="127.0.1.%d" % (i + 1)) == 0x86
    lock = helpers.audit_wait(audit, lambda e: e["event"] == "lockout", "the username lockout")
    assert lock["scope"] == "username" and lock["username"] == "alice" and lock["address"] == "127.0.1.2", lock
    assert not [e for e in helpers.audit_events(audit) if e["event"] == "ban"]   # a username is not banned
    assert_no_secret(b, audit)


def test_ban_tool_changes_and_expiry_are_audited(make_broker, tmp_path):
    from test_20_auth import rampart
    b, audit, bans = audit_auth_broker(make_broker, tmp_path)
    rampart("ban", "-f", str(bans), "add", "username", "mallory", "--reason", "ops ticket 7")
    added = helpers.audit_wait(audit, lambda e: e["event"] == "ban" and e.get("ban_value") == "mallory",
                               "the ban added with rampart ban")
    assert added["outcome"] == "added" and added["source"] == "ban_file" and added["ban_kind"] == "username", added
    assert added["reason"] == "ops ticket 7" and added["expires"] == 0, added
    rampart("ban", "-f", str(bans), "del", "username", "mallory")
    removed = helpers.audit_wait(audit, lambda e: e["event"] == "ban" and e["outcome"] == "removed",
                                 "the ban removed with rampart ban")
    assert removed["ban_value"] == "mallory", removed
    rampart("ban", "-f", str(bans), "add", "clientid", "short-lived", "--for", "3s")
    helpers.audit_wait(audit, lambda e: e["event"] == "ban" and e.get("ban_value") == "short-lived",
                       "the short ban added")
    expired = helpers.audit_wait(audit, lambda e: e["event"] == "ban" and e["outcome"] == "expired",
                                 "the ban that expired")
    assert expired["ban_value"] == "short-lived" and expired["source"] == "expiry", expired
