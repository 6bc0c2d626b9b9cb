"""
Access control lists (acl_file): mosquitto's syntax and meaning, default deny, checks on SUBSCRIBE (SUBACK
0x87 in 5.0, 0x80 in 3.1.1), on PUBLISH (PUBACK 0x87 in 5.0, dropped in 3.1.1), on every delivery including
retained and will messages; $SYS is never writable; SIGHUP reloads the rules and removes live subscriptions
they no longer allow, and a file that fails to parse keeps the old rules. Deliveries are compared with
Debian's mosquitto running the same ACL file.

Clients are anonymous here (rules before any `user` line, and `pattern` rules with %c): username rules need
the password module, whose broker wiring is tested with it.
"""
import os
import signal
import subprocess
import time

import pytest

import helpers
from helpers import V5, V311, PUBACK

WRITER_ACL = "# the writers' listener\ntopic write pub/#\ntopic write marker/#\ntopic write $SYS/#\n"
READER_ACL = ("# the readers' listener (mosquitto syntax)\n"
              "topic read pub/#\n"
              "topic deny pub/secret\n"
              "topic read marker/#\n"
              "pattern readwrite clients/%c/#\n")


def acl_broker(make_broker, tmp_path, reader_acl=READER_ACL, writer_acl=WRITER_ACL):
    """A broker with two listeners: the fixture's (writers) and a second one (readers), each its own ACL
    (per_listener_settings true). Returns (broker, reader port, reader ACL path)."""
    w = tmp_path / "writer.acl"
    r = tmp_path / "reader.acl"
    w.write_text(writer_acl)
    r.write_text(reader_acl)
    os.chmod(tmp_path, 0o755)
    rport = helpers.free_port()
    b = make_broker(anonymous=None,
                    options=["per_listener_settings true", "user root"],
                    listener_options=["allow_anonymous true", "acl_file %s" % w],
                    extra_listeners=[(rport, ["allow_anonymous true", "acl_file %s" % r])])
    return b, rport, r


class At:
    """The broker as seen on another port (for helpers.Client / helpers.Raw)."""

    def __init__(self, broker, port):
        self.host, self.port = broker.host, port


def reader(broker, port, client_id, version=V5):
    c = helpers.Client(At(broker, port), client_id=client_id, version=version)
    c.connect()
    return c


def test_subscribe_checked_with_reason_codes(make_broker, tmp_path):
    b, rport, _ = acl_broker(make_broker, tmp_path)
    raw = helpers.Raw(At(b, rport), version=V5)
    raw.connect("sub-v5")
    codes = raw.subscribe([("pub/#", 1), ("other/#", 1), ("pub/secret", 0), ("clients/sub-v5/x", 2),
                           ("clients/other/x", 0), ("$SYS/#", 0)])
    assert codes == [1, 0x87, 0x87, 2, 0x87, 0x87]
    raw.close()
    raw = helpers.Raw(At(b, rport), version=V311)
    raw.connect("sub-v311")
    assert raw.subscribe([("pub/#", 0), ("other/#", 0)], pid=2) == [0, 0x80]
    raw.close()


def test_publish_denied_v5_gets_0x87_and_v311_is_dropped(make_broker, tmp_path):
    b, rport, _ = acl_broker(make_broker, tmp_path)
    sub = reader(b, rport, "watcher")
    assert sub.subscribe("clients/watcher/#", qos=1) == [1]
    raw = helpers.Raw(At(b, rport), version=V5)
    raw.connect("pub-v5")
    assert raw.pub("pub/a", b"x", qos=1, pid=5).reason == 0x87          # reader listener: read only
    assert raw.pub("clients/pub-v5/a", b"own", qos=1, pid=6).reason in (0, 0x10)  # its own %c subtree
    raw.close()
    old = helpers.Raw(At(b, rport), version=V311)
    old.connect("pub-v311")
    assert old.pub("pub/a", b"x", qos=1, pid=7).type == PUBACK  # acknowledged, not delivered (3.1.1)
    old.pub("clients/watcher/marker", b"m", qos=1, pid=8)       # denied too: not its %c
    old.close()
    w = helpers.Client(b, client_id="writer")
    w.connect()
    w.publish("marker/done", b"", qos=1)
    # the watcher reads only clients/watcher/#: neither denied publish reached it
    assert sub.pending() == []


def test_delivery_filters_partly_denied_subscriptions_like_mosquitto(make_broker, tmp_path):
    b, rport, _ = acl_broker(make_broker, tmp_path)
    got_rampart = run_delivery_scenario(b.host, b.port, rport)
    got_mosquitto = mosquitto_delivery(tmp_path)
    assert got_rampart == ["pub/a", "pub/b/c", "marker/end"]
    assert got_rampart == got_mosquitto


def run_delivery_scenario(host, wport, rport):
    """A reader subscribes pub/# and marker/# on the readers' listener; a writer publishes on the writers'
    listener. Returns the topics the reader received, in order, up to the marker."""
    class P:
        pass
    wb, rb = P(), P()
    wb.host = rb.host = host
    wb.port, rb.port = wport, rport
    r = helpers.Client(rb, client_id="reader-1")
    r.connect()
    r.subscribe("pub/#", qos=1)
    r.subscribe("marker/#", qos=1)
    w = helpers.Client(wb, client_id="writer-1")
    w.connect()
    for t in ("pub/a", "pub/secret", "pub/b/c", "marker/end"):
        w.publish(t, b"payload", qos=1)
    topics = [m.topic for m in r.get_until("marker/end")]
    w.close()
    r.close()
    return topics


def mosquitto_delivery(tmp_path):
    """The same scenario against Debian's mosquitto with the same two ACL files."""
    wport, rport = helpers.free_port(), helpers.free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text("per_listener_settings true\nuser root\n"
                    "listener %d 127.0.0.1\nallow_anonymous true\nacl_file %s\n"
                    "listener %d 127.0.0.1\nallow_anonymous true\nacl_file %s\n"
                    % (wport, tmp_path / "writer.acl", rport, tmp_path / "reader.acl"))
    log = open(tmp_path / "mosquitto.log", "w")
    proc = subprocess.Popen([helpers.MOSQUITTO_BIN, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    try:
        helpers.wait_until(lambda: port_open(rport) and port_open(wport), "mosquitto listening")
        return run_delivery_scenario("127.0.0.1", wport, rport)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=helpers.WAIT)
        log.close()


def port_open(port):
    import socket
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_retained_and_will_messages_honour_read_rules(make_broker, tmp_path):
    b, rport, _ = acl_broker(make_broker, tmp_path)
    w = helpers.Client(b, client_id="writer-r")
    w.connect()
    w.publish("pub/secret", b"hidden", qos=1, retain=True)
    w.publish("pub/open", b"shown", qos=1, retain=True)
    r = reader(b, rport, "reader-r")
    r.subscribe("pub/#", qos=1)
    r.subscribe("marker/#", qos=1)
    for cid, topic, payload in (("dying", "pub/secret", b"will-hidden"), ("dying2", "pub/will", b"will-shown")):
        d = helpers.Raw(b, version=V5)
        d.connect(cid, will=dict(topic=topic, payload=payload, qos=1))
        d.close()  # no DISCONNECT: the will is published
        helpers.wait_until(lambda: "client %s (" % cid in b.log() and
                           "disconnected" in b.log().split("client %s (" % cid)[-1], "%s to be gone" % cid)
    w.publish("marker/end", b"", qos=1)
    got = [(m.topic, m.payload) for m in r.get_until("marker/end")]
    assert ("pub/open", b"shown") in got
    assert ("pub/will", b"will-shown") in got
    assert all(t != "pub/secret" for t, _ in got)


def test_sys_is_never_writable(make_broker, tmp_path):
    b, _, _ = acl_broker(make_broker, tmp_path)
    raw = helpers.Raw(b, version=V5)
    raw.connect("sys-writer")  # the writers' ACL has `topic write $SYS/#`
    assert raw.pub("$SYS/broker/fake", b"x", qos=1, pid=3).reason == 0x87
    assert raw.pub("pub/fine", b"x", qos=1, pid=4).reason in (0, 0x10)
    raw.close()


def test_reload_removes_live_subscriptions_and_bad_file_keeps_rules(make_broker, tmp_path):
    b, rport, racl = acl_broker(make_broker, tmp_path)
    r = reader(b, rport, "reader-h")
    r.subscribe("pub/#", qos=1)
    r.subscribe("marker/#", qos=1)
    w = helpers.Client(b, client_id="writer-h")
    w.connect()

    # a file with an error: old rules stay, the error names file:line
    racl.write_text(READER_ACL + "bogus line\n")
    os.kill(b.pid, signal.SIGHUP)
    helpers.wait_until(lambda: "reload failed" in b.log(), "the failed ACL reload to be logged")
    assert "%s:6: unknown keyword 'bogus'" % racl in b.log()
    w.publish("pub/a", b"1", qos=1)
    w.publish("marker/1", b"", qos=1)
    assert [m.topic for m in r.get_until("marker/1")] == ["pub/a", "marker/1"]

    # new rules without pub/#: the live subscription is removed at once
    racl.write_text("topic read marker/#\n")
    os.kill(b.pid, signal.SIGHUP)
    helpers.wait_until(lambda: "no longer allowed, removed" in b.log(), "the subscription to be removed")
    w.publish("pub/b", b"2", qos=1)
    w.publish("marker/2", b"", qos=1)
    assert [m.topic for m in r.get_until("marker/2")] == ["marker/2"]


def test_broker_refuses_to_start_with_a_bad_acl_file(tmp_path):
    acl = tmp_path / "bad.acl"
    acl.write_text("topic read ok/#\ntopic read a/#/b\n")
    conf = tmp_path / "r.conf"
    conf.write_text("listener %d 127.0.0.1\nacl_file %s\n" % (helpers.free_port(), acl))
    out = subprocess.run([helpers.RAMPART_BIN, "-c", str(conf)], capture_output=True, text=True,
                         timeout=helpers.WAIT * 3)
    assert out.returncode == 1
    assert "%s:2: 'a/#/b' is not a valid topic filter" % acl in out.stderr


USER_ACL = ("user alice\n"
            "topic readwrite alice/#\n"
            "topic read shared/#\n"
            "user bob\n"
            "topic write shared/#\n"
            "topic read bob/#\n"
            "pattern readwrite home/%u/#\n")


def user_client(host, port, cid, user, password):
    class At2:
        pass
    at = At2()
    at.host, at.port = host, port
    c = helpers.Client(at, client_id=cid)
    c.paho.username_pw_set(user, password)
    c.connect()
    return c


def run_user_scenario(host, port):
    """alice and bob (mosquitto_passwd users) under USER_ACL; returns what alice received, up to the marker."""
    alice = user_client(host, port, "alice-1", "alice", "alice-pw")
    alice.subscribe("shared/#", qos=1)
    alice.subscribe("home/alice/#", qos=1)
    bob = user_client(host, port, "bob-1", "bob", "bob-pw")
    alice.publish("home/alice/own", b"1", qos=1)
    for t in ("shared/x", "home/bob/y", "home/alice/z", "alice/evil", "shared/end"):
        bob.publish(t, b"2", qos=1)
    got = [m.topic for m in alice.get_until("shared/end")]
    alice.close()
    bob.close()
    return got


def test_user_blocks_and_username_patterns_like_mosquitto(make_broker, tmp_path):
    os.chmod(tmp_path, 0o755)
    pw = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(pw), "alice", "alice-pw"], check=True, timeout=30)
    subprocess.run(["mosquitto_passwd", "-b", str(pw), "bob", "bob-pw"], check=True, timeout=30)
    acl = tmp_path / "users.acl"
    acl.write_text(USER_ACL)
    b = make_broker(options=["user root", "password_file %s" % pw, "acl_file %s" % acl], anonymous=False)
    got = run_user_scenario(b.host, b.port)
    assert got == ["home/alice/own", "shared/x", "shared/end"]

    # Rampart refuses at SUBSCRIBE what mosquitto only filters at delivery
    raw = helpers.Raw(b, version=V5)
    raw.connect("alice-2", username="alice", password="alice-pw")
    assert raw.subscribe([("bob/#", 1), ("alice/#", 2), ("home/bob/#", 0)]) == [0x87, 2, 0x87]
    raw.close()

    port = helpers.free_port()
    conf = tmp_path / "mosquitto-users.conf"
    conf.write_text("user root\nlistener %d 127.0.0.1\npassword_file %s\nacl_file %s\n" % (port, pw, acl))
    log = open(tmp_path / "mosquitto-users.log", "w")
    proc = subprocess.Popen([helpers.MOSQUITTO_BIN, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    try:
        helpers.wait_until(lambda: port_open(port), "mosquitto listening")
        assert run_user_scenario("127.0.0.1", port) == got
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=helpers.WAIT)
        log.close()


def test_acl_denials_reach_the_json_audit_log_without_secrets(make_broker, tmp_path):
    import json
    os.chmod(tmp_path, 0o755)
    pw = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(pw), "alice", "alice-pw"], check=True, timeout=30)
    subprocess.run(["mosquitto_passwd", "-b", str(pw), "bob", "bob-pw"], check=True, timeout=30)
    acl = tmp_path / "users.acl"
    acl.write_text(USER_ACL)
    audit = tmp_path / "audit.log"
    b = make_broker(options=["user root", "password_file %s" % pw, "acl_file %s" % acl,
                             "audit_dest file %s" % audit], anonymous=False)
    run_user_scenario(b.host, b.port)
    raw = helpers.Raw(b, version=V5)
    raw.connect("alice-3", username="alice", password="alice-pw")
    assert raw.subscribe([("bob/#", 1)]) == [0x87]
    raw.close()
    events = [json.loads(line) for line in audit.read_text().splitlines()]
    denied = [(e["username"], e["reason"], e["topic"]) for e in events if e["event"] == "acl_denied"]
    assert ("bob", "publish", "home/alice/z") in denied
    assert ("bob", "publish", "alice/evil") in denied
    assert ("alice", "subscribe", "bob/#") in denied
    one = [e for e in events if e["event"] == "acl_denied"][0]
    assert one["outcome"] == "denied" and one["address"] == "127.0.0.1" and one["port"] > 0
    assert one["listener"] == "127.0.0.1:%d" % b.port and one["time"].endswith("Z")
    # SIGHUP: the rules are reloaded and the outcome audited
    os.kill(b.pid, signal.SIGHUP)
    helpers.wait_until(lambda: "acl_reloaded" in audit.read_text(), "the reload to be audited")
    for secret in ("alice-pw", "bob-pw"):
        assert secret not in audit.read_text()
        assert secret not in b.log()
