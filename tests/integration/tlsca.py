"""
tlsca.py - the test PKI and TLS/WebSocket client helpers of test_30_tls*.py and test_31_websocket*.py.

TestCA wraps scripts/tls-ca.sh: a private CA with a server certificate for localhost/127.0.0.1/::1, client
certificates (valid, expired, revoked, from another CA) and CRLs. The helpers run real clients:
mosquitto_pub/mosquitto_sub with --cafile/--cert/--key, paho-mqtt with tls_set() and transport="websockets",
MQTT.js from Node and in headless Chromium (tests/integration/node/).
"""
import base64
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time

import helpers

ROOT = helpers.ROOT
TLS_CA = os.path.join(ROOT, "scripts", "tls-ca.sh")
NODE_DIR = os.path.join(helpers.HERE, "node")


class TestCA:
    """
    A private CA made with scripts/tls-ca.sh in a fresh directory under /tmp that the broker can still
    traverse after it dropped its privileges (mode 755; keys stay 600 and are only read at start-up,
    certificates and CRLs are 644 so a reload can read them). cleanup() removes it.
    """

    __test__ = False

    def __init__(self, name="Rampart test CA"):
        import tempfile
        self.dir = tempfile.mkdtemp(prefix="rampart-tls-")
        os.chmod(self.dir, 0o755)
        self.run("init", self.dir, name)
        self.crl()

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def run(self, *args):
        out = subprocess.run(["sh", TLS_CA] + list(args), capture_output=True, timeout=60)
        assert out.returncode == 0, "tls-ca.sh %r failed: %r" % (args, out.stderr)

    def path(self, name):
        return os.path.join(self.dir, name)

    @property
    def ca(self):
        return self.path("ca.crt")

    def client(self, name, expired=False):
        """Issues NAME.crt/NAME.key (CN=NAME) and returns (cert, key)."""
        if not os.path.exists(self.path(name + ".crt")):
            self.run("client", self.dir, name, *(["expired"] if expired else []))
        return self.path(name + ".crt"), self.path(name + ".key")

    def revoke(self, name):
        self.run("revoke", self.dir, name)
        self.crl()

    def crl(self, expired=False):
        self.run("crl", self.dir, *(["expired"] if expired else []))
        return self.path("crl.pem")

    def spki_sha256(self):
        """base64 SHA-256 of the server certificate's public key (Chromium's --ignore-...-spki-list)."""
        pub = subprocess.run(["openssl", "x509", "-in", self.path("server.crt"), "-pubkey", "-noout"],
                             capture_output=True, check=True).stdout
        der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub, capture_output=True,
                             check=True).stdout
        import hashlib
        return base64.b64encode(hashlib.sha256(der).digest()).decode()

    def server_options(self, **extra):
        """Listener lines for a TLS listener with this CA's server certificate."""
        lines = ["certfile " + self.path("server.crt"), "keyfile " + self.path("server.key")]
        for k, v in extra.items():
            lines.append("%s %s" % (k.replace("__", "."), v))
        return lines

    def mtls_options(self, crl=True, **extra):
        lines = self.server_options(**extra) + ["cafile " + self.ca, "require_certificate true"]
        if crl:
            lines.append("crlfile " + self.path("crl.pem"))
        return lines


def tls_args(ca, cert=None):
    """mosquitto_pub/sub arguments for TLS with this CA and an optional client certificate name."""
    args = ["--cafile", ca.ca]
    if cert:
        crt, key = ca.client(cert) if isinstance(cert, str) else cert
        args += ["--cert", crt, "--key", key]
    return args


def pub(port, topic, message, *extra, timeout=helpers.WAIT):
    """mosquitto_pub to localhost:port; returns the CompletedProcess (no assertion)."""
    cmd = ["mosquitto_pub", "-h", "localhost", "-p", str(port), "-t", topic, "-m", message, "-q", "1",
           "-V", "mqttv311"] + list(extra)
    return subprocess.run(cmd, capture_output=True, timeout=timeout)


def sub_proc(port, topic, *extra, count=1):
    cmd = ["mosquitto_sub", "-h", "localhost", "-p", str(port), "-t", topic, "-C", str(count), "-q", "1",
           "-W", str(int(helpers.WAIT * 2)), "-V", "mqttv311"] + list(extra)
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def roundtrip(port, topic, *extra):
    """Starts mosquitto_sub on `topic`, publishes with mosquitto_pub until the subscriber got a message
    (it may not be subscribed yet when the first one goes out) and returns what it printed."""
    s = sub_proc(port, topic, *extra, count=1)
    try:
        deadline = time.monotonic() + helpers.WAIT
        while s.poll() is None and time.monotonic() < deadline:
            r = pub(port, topic, "payload-42", *extra)
            assert r.returncode == 0, "mosquitto_pub failed: %r" % r.stderr
            try:
                s.wait(timeout=0.3)
            except subprocess.TimeoutExpired:
                pass
        out, err = s.communicate(timeout=helpers.WAIT)
        assert s.returncode == 0, "mosquitto_sub failed: %r" % err
        return out.decode()
    finally:
        if s.poll() is None:
            s.kill()
            s.wait()


def handshake(port, cert=None, ca=None, version=None, alpn=None):
    """A Python ssl handshake to 127.0.0.1:port; returns (ok, ssl socket or error). The socket is closed by
    the caller."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    if ca:
        ctx.load_verify_locations(ca.ca)
    else:
        ctx.verify_mode = ssl.CERT_NONE
    if cert:
        ctx.load_cert_chain(*cert)
    if version:
        ctx.minimum_version = version
        ctx.maximum_version = version
    if alpn:
        ctx.set_alpn_protocols(alpn)
    raw = socket.create_connection(("127.0.0.1", port), timeout=helpers.WAIT)
    try:
        s = ctx.wrap_socket(raw, server_hostname="localhost")
    except (ssl.SSLError, OSError) as e:
        raw.close()
        return False, e
    return True, s


def mqtt_connect_over(sock, client_id="tls-probe"):
    """Sends a 3.1.1 CONNECT on an established (TLS) socket; returns the CONNACK bytes or b"" on close."""
    sock.sendall(helpers.connect(client_id=client_id, version=helpers.V311))
    data = b""
    sock.settimeout(helpers.WAIT)
    try:
        while len(data) < 4:
            chunk = sock.recv(4 - len(data))
            if not chunk:
                break
            data += chunk
    except (ssl.SSLError, OSError):
        pass
    return data


class OcspResponder:
    """
    `openssl ocsp` answering for the CA on a free port (OpenSSL 3.0 binds every interface; clients use
    127.0.0.1). Readiness is read from its log, never probed: an empty connection wedges that responder.
    Stopped by PID.
    """

    def __init__(self, ca):
        self.log_path = ca.path("ocsp-responder.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            ["openssl", "ocsp", "-index", ca.path("index.txt"), "-port", "0", "-rsigner", ca.ca,
             "-rkey", ca.path("ca.key"), "-CA", ca.ca, "-nmin", "5", "-ignore_err"],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.port = helpers.wait_until(self._ready, "the OCSP responder to listen")
        self.url = "http://127.0.0.1:%d" % self.port

    def _ready(self):
        """The port from its "ACCEPT [::]:PORT" line once it says it is waiting, else None."""
        with open(self.log_path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        m = re.search(r"ACCEPT \S*:(\d+)", text)
        if m and "waiting for OCSP client connections" in text:
            return int(m.group(1))
        return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=helpers.WAIT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def node_available():
    return shutil.which("node") is not None and os.path.isdir(os.path.join(ROOT, "node_modules", "mqtt"))


def node_roundtrip(url, topic, ca=None, timeout=60):
    cmd = ["node", os.path.join(NODE_DIR, "mqttjs_roundtrip.js"), url, topic] + ([ca.ca] if ca else [])
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def chromium_roundtrip(url, topic, ca, timeout=120):
    cmd = ["node", os.path.join(NODE_DIR, "chromium_wss.js"), url, topic, ca.spki_sha256()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


class Paho:
    """
    A paho-mqtt 1.6.1 client (MQTT 3.1.1) over TLS and/or WebSocket: transport "tcp" or "websockets",
    tls=(ca, (cert, key) or None) or None. connect() waits for CONNACK, subscribe() for SUBACK,
    publish() for PUBACK; messages queue up; wait_disconnect() waits for the connection to drop.
    """

    def __init__(self, port, transport="tcp", tls=None, path="/mqtt", host="localhost", client_id=""):
        import queue
        import paho.mqtt.client as mqtt
        self.mqtt = mqtt
        self.port, self.host = port, host
        self.client = mqtt.Client(client_id=client_id, clean_session=True, protocol=mqtt.MQTTv311,
                                  transport=transport)
        if transport == "websockets":
            self.client.ws_set_options(path=path)
        if tls:
            ca, cert = tls
            self.client.tls_set(ca_certs=ca.ca, certfile=cert[0] if cert else None,
                                keyfile=cert[1] if cert else None)
        self.connacks, self.messages, self.disconnects = queue.Queue(), queue.Queue(), queue.Queue()
        self.subacks, self.pubacks = queue.Queue(), queue.Queue()
        self.client.on_connect = lambda c, u, f, rc: self.connacks.put(rc)
        self.client.on_message = lambda c, u, m: self.messages.put(m)
        self.client.on_subscribe = lambda c, u, mid, granted: self.subacks.put(granted)
        self.client.on_publish = lambda c, u, mid: self.pubacks.put(mid)
        self.client.on_disconnect = lambda c, u, rc: self.disconnects.put(rc)
        self.started = False

    def connect(self):
        self.client.connect(self.host, self.port, keepalive=60)
        self.client.loop_start()
        self.started = True
        rc = self.connacks.get(timeout=helpers.WAIT)
        assert rc == 0, "CONNACK %r" % rc
        return self

    def subscribe(self, topic, qos=1):
        self.client.subscribe(topic, qos)
        return self.subacks.get(timeout=helpers.WAIT)

    def publish(self, topic, payload, qos=1):
        info = self.client.publish(topic, payload, qos)
        if qos:
            info.wait_for_publish(timeout=helpers.WAIT)
            assert info.is_published()

    def get(self):
        return self.messages.get(timeout=helpers.WAIT)

    def wait_disconnect(self):
        return self.disconnects.get(timeout=helpers.WAIT)

    def close(self):
        if self.started:
            try:
                self.client.disconnect()
            finally:
                self.client.loop_stop()
                self.started = False
