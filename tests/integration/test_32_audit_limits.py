"""
Audit log (issue 6): every limit the broker enforces leaves a `limit_hit` event naming the limit (connection
limits per listener and per address, unauthenticated caps, packet size before and after CONNECT, message
size, subscriptions, offline queue), SIGHUP leaves `config_reloaded` (success, or failure with file:line),
and entering the sandbox leaves `privilege_change` (from which uid/gid to which). Real broker, real sockets,
every line parsed as JSON.
"""
import os
import signal
import socket
import subprocess

import pytest

import helpers
from helpers import PUBACK, SUBACK

pytestmark = pytest.mark.skipif(helpers.is_mosquitto(), reason="Rampart's audit log")


def audit_broker(make_broker, tmp_path, *options, **kw):
    audit = str(tmp_path / "audit.log")
    b = make_broker(options=["user root", "audit_dest file %s" % audit, *options], **kw)
    return b, audit


def limit_event(audit, limit):
    return helpers.audit_wait(audit, lambda e: e["event"] == "limit_hit" and e.get("limit") == limit,
                              "a limit_hit event for %s" % limit)


def assert_source(e, b, port=None):
    assert e["address"] == "127.0.0.1" and e["port"] > 0, e
    assert e["listener"] == "127.0.0.1:%d" % (port or b.port), e


def test_listener_connection_limit_is_audited(make_broker, tmp_path):
    port = helpers.free_port()
    b, audit = audit_broker(make_broker, tmp_path, extra_listeners=[(port, ["max_connections 1"])])
    first = socket.create_connection(("127.0.0.1", port), timeout=helpers.WAIT)
    try:
        first.sendall(helpers.connect("first"))
        assert first.recv(4)[0] == 0x20
        second = socket.create_connection(("127.0.0.1", port), timeout=helpers.WAIT)
        try:
            assert second.recv(16) == b""   # closed at once
        except ConnectionResetError:
            pass
        second.close()
    finally:
        first.close()
    e = limit_event(audit, "listener_max_connections")
    assert e["outcome"] == "refused" and e["reason"] == "listener_max_connections", e
    assert_source(e, b, port)


def test_unauthenticated_cap_is_audited_with_connect_refused(make_broker, tmp_path):
    b, audit = audit_broker(make_broker, tmp_path, "connection_limits_loopback true",
                            "max_unauthenticated_per_address 1")
    quiet = socket.create_connection((b.host, b.port), timeout=helpers.WAIT)   # holds the one slot
    try:
        def refused():
            with socket.create_connection((b.host, b.port), timeout=helpers.WAIT) as s:
                try:
                    return s.recv(16) == b""
                except ConnectionResetError:
                    return True
        assert refused()
    finally:
        quiet.close()
    e = limit_event(audit, "max_unauthenticated_per_address")
    assert e["outcome"] == "refused", e
    assert_source(e, b)
    r = helpers.audit_wait(audit, lambda x: x["event"] == "connect_refused" and
                           x.get("reason") == "max_unauthenticated_per_address", "the connect_refused event")
    assert r["port"] == e["port"], (r, e)


def test_packet_size_limits_are_audited(make_broker, tmp_path, raw):
    b, audit = audit_broker(make_broker, tmp_path, "max_packet_size 2000", "max_packet_size_unauthenticated 200")
    big_connect = raw(b)
    big_connect.send(helpers.connect("x" * 400))
    big_connect.until_closed()
    e = limit_event(audit, "max_packet_size_unauthenticated")
    assert e["outcome"] == "refused", e
    assert_source(e, b)
    c = raw(b)
    c.connect("big-sender", username="carol")
    c.send(helpers.publish("audit/big", b"y" * 3000))
    c.expect_disconnect(0x95)
    e = limit_event(audit, "max_packet_size")
    assert e["outcome"] == "disconnected" and e["client_id"] == "big-sender" and e["username"] == "carol", e
    assert_source(e, b)


def test_message_size_and_subscription_limits_are_audited(make_broker, tmp_path, raw):
    b, audit = audit_broker(make_broker, tmp_path, "message_size_limit 100", "max_subscriptions_per_client 1")
    c = raw(b)
    c.connect("limited")
    c.send(helpers.publish("audit/size", b"z" * 200, qos=1, pid=1))
    assert c.expect(PUBACK).reason == 0x97
    e = limit_event(audit, "message_size_limit")
    assert e["outcome"] == "dropped" and e["topic"] == "audit/size" and e["client_id"] == "limited", e
    assert_source(e, b)
    c.send(helpers.subscribe(2, [("audit/a", 0)]))
    c.expect(SUBACK)
    c.send(helpers.subscribe(3, [("audit/b", 0)]))
    assert c.expect(SUBACK).codes == [0x97]
    e = limit_event(audit, "max_subscriptions")
    assert e["outcome"] == "refused" and e["topic"] == "audit/b" and e["client_id"] == "limited", e


def test_offline_queue_limit_is_audited(make_broker, tmp_path, raw):
    b, audit = audit_broker(make_broker, tmp_path, "max_queued_messages 2")
    sub = raw(b)
    sub.connect("sleeper", clean=False, props=[(0x11, 3600)])   # Session Expiry Interval
    sub.send(helpers.subscribe(1, [("audit/q", 1)]))
    sub.expect(SUBACK)
    sub.send(helpers.disconnect())
    sub.until_closed()
    pub = raw(b)
    pub.connect("waker")
    for i in range(4):     # two fit in the queue, two are dropped
        pub.send(helpers.publish("audit/q", b"m%d" % i, qos=1, pid=i + 1))
        pub.expect(PUBACK)
    e = limit_event(audit, "max_queued_messages")
    assert e["outcome"] == "dropped" and e["client_id"] == "sleeper" and e["topic"] == "audit/q", e
    drops = [x for x in helpers.audit_events(audit) if x.get("limit") == "max_queued_messages"]
    assert len(drops) == 2, drops


def test_reload_success_and_failure_are_audited(make_broker, tmp_path):
    b, audit = audit_broker(make_broker, tmp_path)
    os.kill(b.pid, signal.SIGHUP)
    ok = helpers.audit_wait(audit, lambda e: e["event"] == "config_reloaded", "the reload event")
    assert ok["outcome"] == "success" and ok["file"] == b.config_path and "reason" not in ok, ok
    with open(b.config_path, "a") as f:
        f.write("max_queued_messages many\n")
    os.kill(b.pid, signal.SIGHUP)
    bad = helpers.audit_wait(audit, lambda e: e["event"] == "config_reloaded" and e["outcome"] == "failure",
                             "the failed reload event")
    assert bad["reason"].startswith(b.config_path + ":"), bad
    assert helpers.ping_ok(b)   # still running on the old configuration


def test_privilege_drop_is_audited(make_broker, tmp_path):
    audit = str(tmp_path / "audit.log")
    os.chmod(tmp_path, 0o755)    # the unprivileged broker must reach its files
    b = make_broker(options=["audit_dest file %s" % audit])   # default account: rampart or nobody
    e = helpers.audit_wait(audit, lambda x: x["event"] == "privilege_change", "the privilege_change event")
    status = helpers.proc_status(b.pid)
    assert e["from_uid"] == 0 and e["from_gid"] == 0, e
    assert e["outcome"] == "dropped", e
    assert e["to_uid"] == int(status["Uid"][0]) != 0 and e["to_gid"] == int(status["Gid"][0]), (e, status)
    assert e["no_new_privs"] == "on" and e["seccomp"] in ("on", "off") and e["landlock"], e


def test_staying_root_is_audited_as_unchanged(make_broker, tmp_path):
    b, audit = audit_broker(make_broker, tmp_path)
    e = helpers.audit_wait(audit, lambda x: x["event"] == "privilege_change", "the privilege_change event")
    assert e["outcome"] == "unchanged" and e["from_uid"] == e["to_uid"] == 0, e


def test_memory_limit_is_audited(make_broker, tmp_path, raw, topic):
    b, audit = audit_broker(make_broker, tmp_path, "memory_limit 2097152")
    c = raw(b)
    c.connect("hoarder")
    big = b"m" * (512 * 1024)
    codes = [c.pub("%s/%d" % (topic, i), big, qos=1, retain=True).reason for i in range(8)]   # 4 MB against 2
    assert 0x97 in codes
    e = limit_event(audit, "memory_limit")
    assert e["outcome"] == "dropped" and e["client_id"] == "hoarder" and e["topic"].startswith(topic), e
    assert_source(e, b)
    for i in range(8):   # free the memory again (deleting retained messages is always allowed)
        c.pub("%s/%d" % (topic, i), b"", qos=1, retain=True)


def test_connection_rate_limit_is_audited(make_broker, tmp_path):
    b, audit = audit_broker(make_broker, tmp_path, "connection_limits_loopback true",
                            "connection_rate_per_address 1", "max_unauthenticated_per_address 0",
                            "max_unauthenticated 0", "max_connections_per_address 0")
    for _ in range(60):   # more than the burst of 40, in a bounded loop
        socket.create_connection((b.host, b.port), timeout=helpers.WAIT).close()
    e = limit_event(audit, "address_connection_rate")
    assert e["outcome"] == "refused", e
    assert_source(e, b)


def test_flood_of_events_is_rate_limited_and_counted(make_broker, tmp_path, raw):
    """audit_rate 1: a burst of 30 identical events from one source writes few lines; the rest are counted and
    reported in audit_suppressed once that source's next second starts (written + suppressed = all)."""
    b, audit = audit_broker(make_broker, tmp_path, "message_size_limit 10", "audit_rate 1")
    c = raw(b)
    c.connect("flooder")
    for i in range(30):
        c.send(helpers.publish("audit/flood", b"f" * 20, qos=1, pid=i + 1))
        assert c.expect(PUBACK).reason == 0x97
    extra = []

    def balanced():
        # one more event: in a later second it opens the next window, which reports the suppressed count
        # (then every event is either written or counted)
        extra.append(1)
        c.send(helpers.publish("audit/flood", b"f" * 20, qos=1, pid=100))
        c.expect(PUBACK)
        events = helpers.audit_events(audit)
        written = [e for e in events if e["event"] == "limit_hit"]
        sup = [e for e in events if e["event"] == "audit_suppressed"]
        return (written, sup) if sup and len(written) + sum(e["count"] for e in sup) == 30 + len(extra) else None
    written, sup = helpers.wait_until(balanced, "every event written or counted as suppressed", step=0.3)
    assert all(e["suppressed_event"] == "limit_hit" and e["address"] == "127.0.0.1" for e in sup), sup
    assert len(written) < 30, written


def test_failed_privilege_drop_is_audited_before_exit(tmp_path):
    """A `user` that does not exist: the broker refuses to run, and the audit log says why first."""
    audit = tmp_path / "audit.log"
    conf = tmp_path / "broker.conf"
    conf.write_text("user no-such-account-rampart\naudit_dest file %s\nlistener %d 127.0.0.1\n"
                    % (audit, helpers.free_port()))
    out = subprocess.run([helpers.RAMPART_BIN, "-c", str(conf)], capture_output=True, text=True,
                         timeout=helpers.WAIT * 3)
    assert out.returncode != 0, out
    for mark in helpers.SANITIZER_MARKS:
        assert mark not in out.stderr + out.stdout
    e = [x for x in helpers.audit_events(audit) if x["event"] == "privilege_change"]
    assert len(e) == 1 and e[0]["outcome"] == "failure", e
    assert "no-such-account-rampart" in e[0]["reason"] and e[0]["from_uid"] == 0 and "to_uid" not in e[0], e
