"""
The Prometheus endpoint (`metrics_listener`, docs/metrics.md) of a real broker, scraped with urllib: the text
passes `promtool check metrics`; counters move after real MQTT traffic, failed logins, ACL denials, limit hits
and failed TLS handshakes; only GET /metrics is served; basic auth (metrics_password_file) refuses with 401;
the TLS variant is verified against the test CA; certificate expiry follows a SIGHUP reload; bad metrics
options are refused at start-up; `rampart audit` flags an exposed endpoint (LSN-006).
"""
import base64
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import urllib.error
import urllib.request

import pytest

import helpers
import tlsca
from helpers import V5, wait_until

pytestmark = pytest.mark.skipif(helpers.is_mosquitto(), reason="Rampart's metrics endpoint")

BIN = helpers.RAMPART_BIN
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (-?[0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?)$')


def scrape_raw(port, path="/metrics", auth=None, method="GET", scheme="http", context=None):
    """(status, headers, body text) of one request to the endpoint."""
    req = urllib.request.Request("%s://127.0.0.1:%d%s" % (scheme, port, path), method=method)
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(("%s:%s" % auth).encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=helpers.WAIT, context=context) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def parse(text):
    """{'name{labels}': value} of every sample line; every other line must be HELP or TYPE."""
    out = {}
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        out[m.group(1)] = float(m.group(2))
    return out


def scrape(port, **kw):
    status, headers, body = scrape_raw(port, **kw)
    assert status == 200, (status, body)
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse(body)


def promtool_check(text):
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, "promtool: %s%s" % (r.stdout, r.stderr)


def metrics_broker(make_broker, *options, **kw):
    """A broker with a metrics endpoint on a free loopback port; returns (broker, metrics port)."""
    port = helpers.free_port()
    b = make_broker(options=["user root", "metrics_listener %d" % port, *options], **kw)
    return b, port


def rampart(*args, stdin=None):
    out = subprocess.run([BIN, *args], input=stdin, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out


def add_user(pw, user, password):
    create = [] if os.path.exists(str(pw)) else ["-c"]
    rampart("passwd", *create, "--stdin", str(pw), user, stdin=password + "\n")


def connack(broker, username=None, password=None):
    """The CONNACK reason code of one CONNECT (None when closed without one)."""
    with socket.create_connection((broker.host, broker.port), timeout=helpers.WAIT) as s:
        s.sendall(helpers.connect(client_id="m", version=V5, username=username, password=password))
        data = b""
        while len(data) < 4:
            chunk = s.recv(64)
            if not chunk:
                return None
            data += chunk
        return data[3]


def test_scrape_passes_promtool_and_counts_traffic(make_broker, client, topic):
    b, port = metrics_broker(make_broker)
    status, headers, text = scrape_raw(port)
    assert status == 200
    promtool_check(text)
    before = parse(text)
    listener = 'listener="127.0.0.1:%d"' % b.port
    sub = client(b, "metrics-sub")
    sub.connect()
    sub.subscribe(topic + "/#", qos=2)
    pub = client(b, "metrics-pub")
    pub.connect()
    for qos in (0, 1, 2):
        pub.publish(topic + "/q%d" % qos, b"x" * (10 + qos), qos=qos)
    for _ in range(3):
        sub.get()
    after = scrape(port)
    for qos in (0, 1, 2):
        key = 'rampart_messages_received_total{qos="%d"}' % qos
        assert after[key] >= before[key] + 1, key
        assert after['rampart_messages_sent_total{qos="%d"}' % qos] >= before['rampart_messages_sent_total{qos="%d"}' % qos] + 1
        assert after['rampart_payload_received_bytes_total{qos="%d"}' % qos] >= 10 + qos
    assert after["rampart_connections_open{%s}" % listener] >= 2
    assert after["rampart_connections_accepted_total{%s}" % listener] >= before["rampart_connections_accepted_total{%s}" % listener] + 2
    assert after["rampart_clients_connected"] >= 2
    assert after["rampart_subscriptions"] >= 1
    assert after["rampart_network_received_bytes_total"] > before["rampart_network_received_bytes_total"]
    assert after["process_resident_memory_bytes"] > 0
    assert 'rampart_build_info{version="0.1.0"}' in after


def test_only_get_metrics_is_served(make_broker):
    b, port = metrics_broker(make_broker)
    assert scrape_raw(port, path="/")[0] == 404
    assert scrape_raw(port, path="/metrics/x")[0] == 404
    status, headers, _ = scrape_raw(port, method="POST")
    assert status == 405 and headers["Allow"] == "GET"
    assert scrape_raw(port, path="/metrics?name[]=x")[0] == 200
    # A request head larger than the endpoint accepts gets 431; a silent client is closed at its deadline.
    with socket.create_connection(("127.0.0.1", port), timeout=helpers.WAIT) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nX-Filler: " + b"a" * 8000 + b"\r\n\r\n")
        assert s.recv(64).startswith(b"HTTP/1.1 431 ")
    with socket.create_connection(("127.0.0.1", port), timeout=helpers.WAIT * 3) as s:
        s.sendall(b"GET /metr")
        assert s.recv(64) == b""
    assert "metrics: 127.0.0.1:" in b.log()


def test_failed_logins_acl_denials_and_limits_are_counted(make_broker, tmp_path, client, topic):
    pw = tmp_path / "passwd"
    add_user(pw, "alice", "Right-horse-battery-7")
    acl = tmp_path / "acl"
    acl.write_text("user alice\ntopic readwrite %s/allowed/#\n" % topic)
    b, port = metrics_broker(make_broker, "password_file %s" % pw, "acl_file %s" % acl, "message_size_limit 100",
                             anonymous=False)
    before = scrape(port)
    assert connack(b, "alice", "wrong-password") == 0x86
    assert connack(b, "mallory", "whatever") == 0x86
    assert connack(b) == 0x87
    c = client(b, "alice-client")
    c.paho.username_pw_set("alice", "Right-horse-battery-7")
    c.connect()
    granted = c.subscribe(topic + "/forbidden", qos=1)
    c.publish(topic + "/forbidden", b"no", qos=1)
    c.publish(topic + "/allowed/big", b"y" * 500, qos=1)
    after = wait_until(lambda: (lambda m: m if m['rampart_acl_denials_total{access="publish"}']
                                > before['rampart_acl_denials_total{access="publish"}'] else None)(scrape(port)),
                       "the publish denial to be counted")

    def grew(key, by=1):
        assert after[key] >= before[key] + by, "%s: %s -> %s" % (key, before[key], after[key])

    grew('rampart_auth_failures_total{reason="bad_password"}')
    grew('rampart_auth_failures_total{reason="unknown_user"}')
    grew('rampart_auth_failures_total{reason="anonymous_not_allowed"}')
    grew('rampart_acl_denials_total{access="subscribe"}')
    grew('rampart_messages_dropped_total{reason="not_authorized"}')
    grew('rampart_limit_hits_total{limit="message_size_limit"}')
    grew('rampart_messages_dropped_total{reason="message_size_limit"}')
    assert granted is not None


def test_lockout_and_active_bans(make_broker, tmp_path):
    pw = tmp_path / "passwd"
    add_user(pw, "bob", "Right-horse-battery-7")
    b, port = metrics_broker(make_broker, "password_file %s" % pw, "login_lockout_address 3",
                             "login_backoff_address 1000", "login_window 600", anonymous=False)
    for _ in range(6):
        if connack(b, "bob", "bad") != 0x86:
            break
    m = wait_until(lambda: (lambda x: x if x['rampart_lockouts_total{scope="address"}'] >= 1 else None)(scrape(port)),
                   "a lockout to be counted")
    assert m["rampart_bans_active"] >= 1
    refused = sum(m['rampart_auth_failures_total{reason="%s"}' % r] for r in ("banned", "locked_out", "backoff"))
    assert refused >= 1, "the attempts after the lockout were refused before any password work"


def test_basic_auth(make_broker, tmp_path):
    pw = tmp_path / "metrics-users"
    add_user(pw, "prometheus", "Scrape-me-gently-42")
    b, port = metrics_broker(make_broker, "metrics_password_file %s" % pw)
    status, headers, _ = scrape_raw(port)
    assert status == 401
    assert headers["WWW-Authenticate"].startswith("Basic realm=")
    assert scrape_raw(port, auth=("prometheus", "wrong"))[0] == 401
    assert scrape_raw(port, auth=("nobody", "Scrape-me-gently-42"))[0] == 401
    status, _, text = scrape_raw(port, auth=("prometheus", "Scrape-me-gently-42"))
    assert status == 200
    promtool_check(text)
    assert "Scrape-me-gently-42" not in b.log()
    # Verified credentials are remembered (as an HMAC) until a reload; other passwords still fail.
    assert scrape_raw(port, auth=("prometheus", "Scrape-me-gently-42"))[0] == 200
    assert scrape_raw(port, auth=("prometheus", "Scrape-me-gently-43"))[0] == 401
    # SIGHUP re-reads the file: a new user works without a restart, a removed one is refused at once.
    fresh = tmp_path / "metrics-users.new"
    add_user(fresh, "second", "Another-long-secret-9")
    os.replace(fresh, pw)
    os.kill(b.pid, signal.SIGHUP)
    wait_until(lambda: scrape_raw(port, auth=("second", "Another-long-secret-9"))[0] == 200,
               "the reloaded metrics password file")
    assert scrape_raw(port, auth=("prometheus", "Scrape-me-gently-42"))[0] == 401


@pytest.fixture
def ca():
    c = tlsca.TestCA()
    yield c
    c.cleanup()


def test_tls_endpoint_and_certificate_expiry_follow_reload(make_broker, ca):
    mqtts = helpers.free_port()
    port = helpers.free_port()
    b = make_broker(options=["user root", "metrics_listener %d" % port, "metrics_certfile " + ca.path("server.crt"),
                             "metrics_keyfile " + ca.path("server.key")],
                    extra_listeners=[(mqtts, ca.server_options())])
    ctx = ssl.create_default_context(cafile=ca.ca)
    ctx.check_hostname = False
    m = scrape(port, scheme="https", context=ctx)
    key = 'rampart_tls_certificate_expiry_seconds{listener="127.0.0.1:%d"}' % mqtts
    assert 800 * 86400 < m[key] <= 826 * 86400, m[key]
    assert m['rampart_tls_certificate_expiry_seconds{listener="metrics"}'] > 800 * 86400
    # Plain HTTP to the TLS endpoint is not served.
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=helpers.WAIT).read()
    # A failed handshake on the MQTT TLS listener is counted by reason.
    before = m['rampart_tls_handshake_failures_total{reason="not_tls"}']
    with socket.create_connection(("127.0.0.1", mqtts), timeout=helpers.WAIT) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            s.recv(64)
        except OSError:
            pass  # the broker may answer the garbage with a reset
    wait_until(lambda: scrape(port, scheme="https", context=ctx)['rampart_tls_handshake_failures_total{reason="not_tls"}']
               > before, "the failed handshake to be counted")
    # Renew the server certificate for 10 days (same key) and reload: the expiry follows.
    csr = ca.path("renew.csr")
    subprocess.run(["openssl", "req", "-new", "-key", ca.path("server.key"), "-subj", "/CN=localhost", "-out", csr],
                   check=True, capture_output=True, timeout=60)
    ext = ca.path("renew.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\n")
    new = ca.path("renew.crt")
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca.ca, "-CAkey", ca.path("ca.key"),
                    "-CAcreateserial", "-days", "10", "-extfile", ext, "-out", new],
                   check=True, capture_output=True, timeout=60)
    os.chmod(new, 0o644)
    os.replace(new, ca.path("server.crt"))
    os.kill(b.pid, signal.SIGHUP)
    m = wait_until(lambda: (lambda x: x if x[key] < 11 * 86400 else None)(scrape(port, scheme="https", context=ctx)),
                   "the certificate expiry to follow the reload")
    assert 9 * 86400 < m[key] <= 10 * 86400
    assert m['rampart_tls_certificate_expiry_seconds{listener="metrics"}'] <= 10 * 86400


@pytest.mark.parametrize("lines, message", [
    (["metrics_password_file /nonexistent"], "metrics_password_file is set but metrics_listener is not"),
    (["metrics_listener %d", "metrics_certfile /x.crt"], "metrics_certfile and metrics_keyfile must be set together"),
    (["metrics_listener 0"], "port 0"),
    (["metrics_listener 9100 127.0.0.1 extra"], "expected `metrics_listener PORT [ADDRESS]`"),
])
def test_bad_metrics_options_are_refused(tmp_path, lines, message):
    conf = tmp_path / "bad.conf"
    port = helpers.free_port()
    conf.write_text("listener %d 127.0.0.1\n" % helpers.free_port()
                    + "".join((l % port if "%d" in l else l) + "\n" for l in lines))
    r = subprocess.run([BIN, "-c", str(conf)], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert message in r.stderr, r.stderr


def test_ipv6_endpoint(make_broker):
    port = helpers.free_port()
    make_broker(options=["metrics_listener %d ::1" % port])
    with socket.create_connection(("::1", port), timeout=helpers.WAIT) as s:
        s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\n\r\n# HELP " in data


def audit_findings(conf):
    r = subprocess.run([BIN, "audit", "-c", str(conf), "--json"], capture_output=True, text=True, timeout=120)
    assert r.returncode in (0, 1), r.stderr
    return [f for f in json.loads(r.stdout)["findings"] if f["id"] == "LSN-006"]


def test_audit_flags_exposed_metrics(tmp_path, ca):
    pw = tmp_path / "metrics-users"
    add_user(pw, "prometheus", "Scrape-me-gently-42")
    os.chmod(pw, 0o600)
    base = "sandbox_seccomp false\nsandbox_landlock false\nlistener 18850 127.0.0.1\n"
    cases = {
        "loopback": ("metrics_listener 19150\n", []),
        "open": ("metrics_listener 19150 0.0.0.0\n", ["medium"]),
        "auth_no_tls": ("metrics_listener 19150 0.0.0.0\nmetrics_password_file %s\n" % pw, ["low"]),
        "auth_tls": ("metrics_listener 19150 0.0.0.0\nmetrics_password_file %s\nmetrics_certfile %s\n"
                     "metrics_keyfile %s\n" % (pw, ca.path("server.crt"), ca.path("server.key")), []),
    }
    for name, (lines, severities) in cases.items():
        conf = tmp_path / (name + ".conf")
        conf.write_text(base + lines)
        found = audit_findings(conf)
        assert sorted(f["severity"] for f in found) == severities, (name, found)


def test_idle_metrics_connections_cannot_starve_mqtt(make_broker, client, topic):
    """Holding every metrics connection slot open (and more) leaves MQTT untouched; the extra connections are
    closed at accept and counted; once the holders leave, scraping works again."""
    b, port = metrics_broker(make_broker)
    holders = [socket.create_connection(("127.0.0.1", port), timeout=helpers.WAIT) for _ in range(16)]
    extra = [socket.create_connection(("127.0.0.1", port), timeout=helpers.WAIT) for _ in range(4)]
    try:
        for s in extra:
            assert s.recv(16) == b""  # closed at once: the cap is full
        sub = client(b, "starve-sub")
        sub.connect()
        sub.subscribe(topic, qos=1)
        pub = client(b, "starve-pub")
        pub.connect()
        pub.publish(topic, b"still flowing", qos=1)
        assert sub.get().payload == b"still flowing"
    finally:
        for s in holders + extra:
            s.close()
    def scraped():
        try:
            status, _, text = scrape_raw(port)
        except OSError:  # the broker may not have seen the holders leave yet: closed at accept
            return None
        return parse(text) if status == 200 else None
    m = wait_until(scraped, "a free metrics slot after the holders left")
    assert m['rampart_limit_hits_total{limit="metrics_connections"}'] >= 4
