"""
helpers.py - shared pieces of the integration tests: a broker process runner, paho-mqtt 1.6.1 client
wrappers (3.1.1 and 5.0), mosquitto_pub/mosquitto_sub runners, and a raw-socket MQTT packet builder and
reader for protocol violations and byte-exact checks.

Every wait is bounded by WAIT seconds (a generous ceiling, never an asserted duration): tests assert what
happened, not how fast. "Nothing arrived" is proven with a marker: the test sends something that must arrive
after the unwanted message would have, waits for it, then checks the unwanted one is absent.

Broker flavours: RAMPART_TEST_BROKER=rampart (default; runs $RAMPART_BIN, else build-asan/rampart) or
RAMPART_TEST_BROKER=mosquitto (Debian's /usr/sbin/mosquitto), used to validate the tests themselves.
"""
import os
import queue
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
FLAVOUR = os.environ.get("RAMPART_TEST_BROKER", "rampart")
RAMPART_BIN = os.environ.get("RAMPART_BIN", os.path.join(ROOT, "build-asan", "rampart"))
MOSQUITTO_BIN = os.environ.get("MOSQUITTO_BIN", "/usr/sbin/mosquitto")
WAIT = float(os.environ.get("RAMPART_TEST_WAIT", "10"))
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "SUMMARY: AddressSanitizer", "SUMMARY: UndefinedBehaviorSanitizer")

V311 = 4
V5 = 5


def is_mosquitto():
    """True when the tests run against Debian's mosquitto (validating the tests) instead of Rampart."""
    return FLAVOUR == "mosquitto"


def free_port():
    """
    Returns a TCP port on 127.0.0.1 that stays reserved for about a minute (TIME_WAIT): it binds port 0,
    accepts one loopback connection and closes the accepted end first, so the port is left in TIME_WAIT.
    The kernel never hands out a port in TIME_WAIT for another bind(port 0) or as the local port of an
    outgoing connect(), so neither a later test, another test run on the machine, nor some client's ephemeral
    port can take it before the broker binds it; a listener with SO_REUSEADDR (the broker, mosquitto,
    openssl, node) binds it at once. A plain bind-and-close port could be taken in between (EADDRINUSE).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as srv:
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        addr = srv.getsockname()
        with socket.create_connection(addr, timeout=WAIT) as peer:
            accepted, _ = srv.accept()
            accepted.close()              # the listening side closes first: TIME_WAIT stays on addr
            peer.recv(1)                  # its FIN arrived; closing peer now completes the handshake
        return addr[1]


def wait_until(predicate, what, timeout=WAIT, step=0.02):
    """Polls predicate() until it returns a true value (returned) or timeout passes (AssertionError)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(step)


# ---------------------------------------------------------------------------------------------------------
# The broker process
# ---------------------------------------------------------------------------------------------------------

class Broker:
    """
    One broker process on a free loopback port with a generated mosquitto-syntax configuration:
    `listener PORT 127.0.0.1`, `allow_anonymous true` unless the test says otherwise, then the test's
    option lines (see uses_builtin_config for the one case started with `-p PORT` instead). start() waits until it accepts TCP connections; stop() sends SIGTERM, waits, and returns
    a list of problems (non-zero exit, sanitizer output) that the fixture turns into a test failure.
    """

    def __init__(self, workdir, options=(), anonymous=True, listener_options=(), extra_listeners=(), env=None):
        self.workdir = workdir
        self.env = dict(env or {})
        self.host = "127.0.0.1"
        self.port = free_port()
        self.options = list(options)
        self.anonymous = anonymous
        self.listener_options = list(listener_options)
        self.extra_listeners = list(extra_listeners)
        self.config_path = os.path.join(workdir, "broker.conf")
        self.log_path = os.path.join(workdir, "broker.log")
        self.proc = None
        self.pid = None
        self.returncode = None
        self._log_file = None
        self._notify = None
        self._notify_dir = None

    def config_text(self):
        lines = []
        if self.anonymous is not None:
            lines.append("allow_anonymous %s" % ("true" if self.anonymous else "false"))
        lines += self.options
        lines.append("listener %d 127.0.0.1" % self.port)
        lines += self.listener_options
        for port, opts in self.extra_listeners:
            lines.append("listener %d 127.0.0.1" % port)
            lines += list(opts)
        return "\n".join(lines) + "\n"

    def uses_builtin_config(self):
        """
        A Rampart broker the test gives no options is started as `rampart -p PORT`: its built-in configuration
        is exactly the default test configuration (127.0.0.1 only, anonymous clients), so the command-line
        start path is exercised too. Any option, listener setting or second listener means `-c FILE`.
        """
        return (not is_mosquitto() and not self.options and not self.listener_options
                and not self.extra_listeners and self.anonymous is True)

    def command(self):
        if is_mosquitto():
            return [MOSQUITTO_BIN, "-c", self.config_path]
        if self.uses_builtin_config():
            return [RAMPART_BIN, "-p", str(self.port)]
        return [RAMPART_BIN, "-c", self.config_path]

    def start(self):
        with open(self.config_path, "w") as f:
            f.write(self.config_text())
        self._log_file = open(self.log_path, "ab")
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:halt_on_error=1")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        for k, v in self.env.items():
            env[k] = (env[k] + ":" + v) if k.endswith("_OPTIONS") and env.get(k) else v
        self._notify_close()              # one left by a broker that was killed rather than stopped
        if not is_mosquitto() and "NOTIFY_SOCKET" not in env:
            env["NOTIFY_SOCKET"] = self._notify_open()
        self.proc = subprocess.Popen(self.command(), stdout=self._log_file, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=self.workdir, env=env)
        self.pid = self.proc.pid
        self.returncode = None
        deadline = time.monotonic() + WAIT * 3
        ready = self._notify is None
        while True:
            if self.proc.poll() is not None:
                self.returncode = self.proc.returncode
                self.proc = None          # reported here; nothing left for stop() to check
                self._log_file.close()
                self._log_file = None
                self._notify_close()
                raise AssertionError("broker exited with %d during startup:\n%s" % (self.returncode, self.log()))
            ready = ready or self._notify_ready()
            if ready:
                try:
                    with socket.create_connection((self.host, self.port), timeout=WAIT):
                        return self
                except OSError:
                    pass
            if time.monotonic() > deadline:
                raise AssertionError("broker did not %s:\n%s" % ("accept connections" if ready else
                                                                  "send READY=1", self.log()))
            if ready:
                time.sleep(0.02)

    def _notify_open(self):
        """
        Binds a systemd-style notification socket (sd_notify) for this broker and returns its path. The broker
        sends READY=1 only after every listener is bound and the sandbox is entered, so start() waits for it:
        a listener that accepts is not enough (the broker binds its listeners one after the other). The
        directory is short (a socket path has at most 107 bytes) and world-writable in the way systemd's is,
        since the broker drops to an unprivileged account when started as root. Kept until stop(), so the
        broker's later RELOADING=1 / READY=1 / STOPPING=1 have somewhere to go.
        """
        self._notify_dir = tempfile.mkdtemp(prefix="rampart-it-notify-")
        os.chmod(self._notify_dir, 0o755)
        path = os.path.join(self._notify_dir, "notify.sock")
        self._notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._notify.bind(path)
        os.chmod(path, 0o777)
        return path

    def _notify_ready(self):
        """Waits briefly for a notification; True once READY=1 arrived."""
        r, _, _ = select.select([self._notify], [], [], 0.05)
        if not r:
            return False
        return b"READY=1" in self._notify.recv(4096).split(b"\n")

    def _notify_close(self):
        if self._notify is not None:
            self._notify.close()
            shutil.rmtree(self._notify_dir, ignore_errors=True)
        self._notify = None
        self._notify_dir = None

    def log(self):
        """Everything the broker wrote to stdout and stderr so far."""
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def rss_kib(self):
        """The broker's resident set size in KiB, from /proc/PID/status (VmRSS)."""
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS for broker pid %d" % self.pid)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """Stops the broker by PID (SIGTERM, then SIGKILL after WAIT*3) and returns a list of problems."""
        problems = []
        if self.proc is None:
            self._notify_close()          # a broker killed (and not restarted) by the test
            return problems
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=WAIT * 3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=WAIT)
                problems.append("broker did not exit within %ds of SIGTERM" % (WAIT * 3))
        else:
            problems.append("broker died during the test with status %d" % self.proc.returncode)
        self.returncode = self.proc.returncode
        if self._log_file:
            self._log_file.close()
            self._log_file = None
        self._notify_close()
        if self.returncode != 0 and not problems:
            problems.append("broker exited with status %d" % self.returncode)
        log = self.log()
        for mark in SANITIZER_MARKS:
            if mark in log:
                problems.append("sanitizer report in broker output: " + mark)
        self.proc = None
        return problems

    def restart(self):
        """Stops and starts the same configuration on the same port (problems of the stop are raised)."""
        problems = self.stop()
        if problems:
            raise AssertionError("; ".join(problems) + "\n" + self.log())
        return self.start()


# ---------------------------------------------------------------------------------------------------------
# paho-mqtt 1.6.1 clients
# ---------------------------------------------------------------------------------------------------------

def props(packet_type, **values):
    """Builds paho Properties for packet_type (e.g. PacketTypes.PUBLISH) from keyword values."""
    p = Properties(packet_type)
    for k, v in values.items():
        setattr(p, k, v)
    return p


class Client:
    """
    A paho-mqtt client driven by its network thread, with synchronous helpers: connect() returns once
    CONNACK arrived, subscribe() once SUBACK arrived, publish() once the QoS flow completed. Received
    messages queue up in self.messages; get() takes the next one.
    """

    def __init__(self, broker, client_id="", version=V5, clean=True, userdata=None):
        self.broker = broker
        self.version = version
        self.client_id = client_id
        proto = mqtt.MQTTv5 if version == V5 else mqtt.MQTTv311
        if version == V5:
            self.paho = mqtt.Client(client_id=client_id, protocol=proto, reconnect_on_failure=False)
        else:
            self.paho = mqtt.Client(client_id=client_id, clean_session=clean, protocol=proto,
                                    reconnect_on_failure=False)
        self.clean = clean
        self.messages = queue.Queue()
        self.connack = queue.Queue()
        self.subacks = {}
        self.unsubacks = {}
        self.disconnects = queue.Queue()
        self.lock = threading.Lock()
        self.paho.on_connect = self._on_connect
        self.paho.on_message = self._on_message
        self.paho.on_subscribe = self._on_subscribe
        self.paho.on_unsubscribe = self._on_unsubscribe
        self.paho.on_disconnect = self._on_disconnect
        self.connected = False

    # callbacks (network thread)
    def _on_connect(self, client, userdata, flags, rc, properties=None):
        self.connected = True
        self.connack.put((flags, rc, properties))

    def _on_message(self, client, userdata, msg):
        self.messages.put(msg)

    def _on_subscribe(self, client, userdata, mid, granted, properties=None):
        with self.lock:
            self.subacks[mid] = granted

    def _on_unsubscribe(self, client, userdata, mid, properties=None, reasons=None):
        with self.lock:
            self.unsubacks[mid] = reasons

    def _on_disconnect(self, client, userdata, rc, properties=None):
        self.connected = False
        self.disconnects.put((rc, properties))

    def connect(self, keepalive=60, properties=None, will=None, clean=None, expect_success=True):
        """
        Connects and waits for CONNACK. will = (topic, payload, qos, retain, properties or None).
        Returns (flags dict, reason code, CONNACK properties or None).
        """
        if will is not None:
            topic, payload, qos, retain, wprops = (list(will) + [None] * 5)[:5]
            self.paho.will_set(topic, payload, qos or 0, bool(retain), properties=wprops)
        if self.version == V5:
            start = self.clean if clean is None else clean
            self.paho.connect(self.broker.host, self.broker.port, keepalive=keepalive, clean_start=start,
                              properties=properties)
        else:
            self.paho.connect(self.broker.host, self.broker.port, keepalive=keepalive)
        self.paho.loop_start()
        try:
            flags, rc, cprops = self.connack.get(timeout=WAIT)
        except queue.Empty:
            raise AssertionError("no CONNACK for client %r" % self.client_id)
        code = rc.value if hasattr(rc, "value") else rc
        if expect_success:
            assert code == 0, "connect refused with %r" % (rc,)
        return flags, code, cprops

    def subscribe(self, topic, qos=1, options=None, properties=None):
        """Subscribes one filter (or a list of (filter, qos/options)) and returns the granted list."""
        if self.version == V5:
            if isinstance(topic, list):
                rc, mid = self.paho.subscribe(topic, properties=properties)
            else:
                opts = options or SubscribeOptions(qos=qos)
                rc, mid = self.paho.subscribe(topic, options=opts, properties=properties)
        else:
            rc, mid = self.paho.subscribe(topic if isinstance(topic, list) else topic, qos=qos) \
                if not isinstance(topic, list) else self.paho.subscribe(topic)
        assert rc == mqtt.MQTT_ERR_SUCCESS
        granted = wait_until(lambda: self._take(self.subacks, mid), "SUBACK")
        return [g.value if hasattr(g, "value") else g for g in granted[0]]

    def unsubscribe(self, topic, properties=None):
        if self.version == V5:
            rc, mid = self.paho.unsubscribe(topic, properties=properties)
        else:
            rc, mid = self.paho.unsubscribe(topic)
        assert rc == mqtt.MQTT_ERR_SUCCESS
        reasons = wait_until(lambda: self._take(self.unsubacks, mid), "UNSUBACK")
        return reasons[0]

    def _take(self, table, mid):
        with self.lock:
            if mid in table:
                return (table.pop(mid),)
        return None

    def publish(self, topic, payload=b"", qos=0, retain=False, properties=None, wait=True):
        """Publishes; for QoS 1/2 waits until the flow with the broker completed (PUBACK / PUBCOMP)."""
        if self.version == V5:
            info = self.paho.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        else:
            info = self.paho.publish(topic, payload, qos=qos, retain=retain)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS, "publish failed: %d" % info.rc
        if wait:
            info.wait_for_publish(timeout=WAIT)
            assert info.is_published(), "publish of %r not acknowledged" % topic
        return info

    def get(self, timeout=WAIT):
        """The next received message (paho MQTTMessage); AssertionError when none arrives."""
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("client %r received no message" % self.client_id)

    def get_until(self, topic, timeout=WAIT):
        """Returns every message received up to and including the first on `topic` (the marker)."""
        out = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("marker %r never arrived; got %r" % (topic, [m.topic for m in out]))
            m = self.get(timeout=left)
            out.append(m)
            if m.topic == topic:
                return out

    def pending(self):
        """Messages received and not yet taken, without waiting."""
        out = []
        while True:
            try:
                out.append(self.messages.get_nowait())
            except queue.Empty:
                return out

    def wait_disconnect(self, timeout=WAIT):
        try:
            return self.disconnects.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("client %r was not disconnected" % self.client_id)

    def disconnect(self, properties=None, reasoncode=None):
        """Sends DISCONNECT (v5 with an optional reason code) and stops the network thread."""
        if self.connected:
            if self.version == V5 and reasoncode is not None:
                from paho.mqtt.reasoncodes import ReasonCodes
                rc = ReasonCodes(PacketTypes.DISCONNECT, identifier=reasoncode)
                self.paho.disconnect(reasoncode=rc, properties=properties)
            else:
                self.paho.disconnect()
            try:
                self.disconnects.get(timeout=WAIT)
            except queue.Empty:
                pass
        self.close()

    def close(self):
        """Stops the network thread and closes the socket without sending DISCONNECT."""
        self.paho.loop_stop()
        sock = self.paho.socket()
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass
        self.connected = False


def sub_options(qos=0, no_local=False, retain_as_published=False, retain_handling=0):
    return SubscribeOptions(qos=qos, noLocal=no_local, retainAsPublished=retain_as_published,
                            retainHandling=retain_handling)


# ---------------------------------------------------------------------------------------------------------
# mosquitto_pub / mosquitto_sub
# ---------------------------------------------------------------------------------------------------------

def mosquitto_pub(broker, topic, message, *extra, version=V5, timeout=WAIT):
    """Runs mosquitto_pub once (message None: -n, an empty message) and returns the CompletedProcess."""
    body = ["-n"] if message is None else ["-m", message]
    cmd = ["mosquitto_pub", "-h", broker.host, "-p", str(broker.port), "-t", topic] + body + \
        ["-V", "mqttv5" if version == V5 else "mqttv311"] + list(extra)
    out = subprocess.run(cmd, capture_output=True, timeout=timeout)
    assert out.returncode == 0, "mosquitto_pub failed: %r" % out.stderr
    return out


class MosquittoSub:
    """A mosquitto_sub process that exits after `count` messages (-C); output() waits for it and returns it."""

    def __init__(self, broker, topic, *extra, count=1, version=V5):
        self.cmd = ["mosquitto_sub", "-h", broker.host, "-p", str(broker.port), "-t", topic, "-C", str(count),
                    "-W", str(int(WAIT * 2)), "-V", "mqttv5" if version == V5 else "mqttv311"] + list(extra)
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def output(self):
        try:
            out, err = self.proc.communicate(timeout=WAIT * 3)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        assert self.proc.returncode == 0, "mosquitto_sub failed (%d): %r" % (self.proc.returncode, err)
        return out.decode("utf-8", "replace")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# ---------------------------------------------------------------------------------------------------------
# Raw MQTT packets
# ---------------------------------------------------------------------------------------------------------

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = 8, 9, 10, 11, 12, 13, 14, 15

# property identifiers and their wire types
PROP_TYPES = {
    0x01: "byte", 0x02: "u32", 0x03: "str", 0x08: "str", 0x09: "bin", 0x0B: "vbi", 0x11: "u32", 0x12: "str",
    0x13: "u16", 0x15: "str", 0x16: "bin", 0x17: "byte", 0x18: "u32", 0x19: "byte", 0x1A: "str", 0x1C: "str",
    0x1F: "str", 0x21: "u16", 0x22: "u16", 0x23: "u16", 0x24: "byte", 0x25: "byte", 0x26: "pair", 0x27: "u32",
    0x28: "byte", 0x29: "byte", 0x2A: "byte",
}
P_PAYLOAD_FORMAT, P_MESSAGE_EXPIRY, P_CONTENT_TYPE, P_RESPONSE_TOPIC, P_CORRELATION = 0x01, 0x02, 0x03, 0x08, 0x09
P_SUB_ID, P_SESSION_EXPIRY, P_ASSIGNED_ID, P_SERVER_KEEP_ALIVE = 0x0B, 0x11, 0x12, 0x13
P_AUTH_METHOD, P_AUTH_DATA, P_REQ_PROBLEM, P_WILL_DELAY, P_REQ_RESPONSE = 0x15, 0x16, 0x17, 0x18, 0x19
P_RESPONSE_INFO, P_SERVER_REF, P_REASON_STRING, P_RECEIVE_MAX, P_TOPIC_ALIAS_MAX = 0x1A, 0x1C, 0x1F, 0x21, 0x22
P_TOPIC_ALIAS, P_MAX_QOS, P_RETAIN_AVAILABLE, P_USER, P_MAX_PACKET = 0x23, 0x24, 0x25, 0x26, 0x27
P_WILDCARD_AVAILABLE, P_SUB_ID_AVAILABLE, P_SHARED_AVAILABLE = 0x28, 0x29, 0x2A


def vbi(n):
    """Encodes a Variable Byte Integer."""
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        if n:
            b |= 0x80
        out.append(b)
        if not n:
            return bytes(out)


def mstr(s):
    """Encodes an MQTT UTF-8 string (or raw bytes) with its 2-byte length."""
    b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    return struct.pack(">H", len(b)) + b


def encode_props(items):
    """Encodes a property list [(id, value), ...] (order kept, duplicates allowed) with its length prefix."""
    body = bytearray()
    for pid, value in items or []:
        body += vbi(pid)
        kind = PROP_TYPES[pid]
        if kind == "byte":
            body += bytes([value])
        elif kind == "u16":
            body += struct.pack(">H", value)
        elif kind == "u32":
            body += struct.pack(">I", value)
        elif kind == "vbi":
            body += vbi(value)
        elif kind in ("str", "bin"):
            body += mstr(value)
        else:
            body += mstr(value[0]) + mstr(value[1])
    return vbi(len(body)) + bytes(body)


def packet(ptype, flags, body):
    """A whole packet: fixed header (type, flags, remaining length) + body."""
    return bytes([(ptype << 4) | flags]) + vbi(len(body)) + bytes(body)


def connect(client_id="", version=V5, clean=True, keepalive=60, props=None, will=None, username=None,
            password=None, proto_name="MQTT", flags_extra=0):
    """
    CONNECT. will = dict(topic, payload, qos=0, retain=False, props=[]) ; props = [(id, value)].
    flags_extra is OR-ed into the connect flags (to set the reserved bit, for instance).
    """
    flags = flags_extra
    if clean:
        flags |= 0x02
    payload = mstr(client_id)
    if will is not None:
        flags |= 0x04 | (will.get("qos", 0) << 3) | (0x20 if will.get("retain") else 0)
        if version == V5:
            payload += encode_props(will.get("props"))
        payload += mstr(will["topic"]) + mstr(will["payload"])
    if username is not None:
        flags |= 0x80
        payload += mstr(username)
    if password is not None:
        flags |= 0x40
        payload += mstr(password)
    var = mstr(proto_name) + bytes([version, flags]) + struct.pack(">H", keepalive)
    if version == V5:
        var += encode_props(props)
    return packet(CONNECT, 0, var + payload)


def publish(topic, payload=b"", qos=0, retain=False, dup=False, pid=None, version=V5, props=None):
    flags = (qos << 1) | (1 if retain else 0) | (8 if dup else 0)
    body = mstr(topic)
    if qos:
        body += struct.pack(">H", pid if pid is not None else 1)
    if version == V5:
        body += encode_props(props)
    body += payload.encode() if isinstance(payload, str) else bytes(payload)
    return packet(PUBLISH, flags, body)


def subscribe(pid, filters, version=V5, props=None):
    """SUBSCRIBE; filters = [(filter, options byte)] where options = QoS | NL<<2 | RAP<<3 | RH<<4."""
    body = struct.pack(">H", pid)
    if version == V5:
        body += encode_props(props)
    for f, opts in filters:
        body += mstr(f) + bytes([opts])
    return packet(SUBSCRIBE, 2, body)


def unsubscribe(pid, filters, version=V5, props=None):
    body = struct.pack(">H", pid)
    if version == V5:
        body += encode_props(props)
    for f in filters:
        body += mstr(f)
    return packet(UNSUBSCRIBE, 2, body)


def ack(ptype, pid, reason=None, props=None):
    """PUBACK/PUBREC/PUBREL/PUBCOMP (reason/props only for v5; PUBREL gets its required flags 0x2)."""
    body = struct.pack(">H", pid)
    if reason is not None:
        body += bytes([reason])
        if props is not None:
            body += encode_props(props)
    return packet(ptype, 2 if ptype == PUBREL else 0, body)


def pingreq():
    return b"\xc0\x00"


def disconnect(reason=None, props=None):
    if reason is None:
        return b"\xe0\x00"
    body = bytes([reason])
    if props is not None:
        body += encode_props(props)
    return packet(DISCONNECT, 0, body)


class Packet:
    """A received packet: type, flags, raw body, and decoded fields depending on type."""

    def __init__(self, ptype, flags, body, version):
        self.type = ptype
        self.flags = flags
        self.body = body
        self.raw = None
        self.props = []
        self.reason = None
        self.pid = None
        self._decode(version)

    def prop(self, pid, default=None):
        for k, v in self.props:
            if k == pid:
                return v
        return default

    def prop_all(self, pid):
        return [v for k, v in self.props if k == pid]

    def _decode(self, version):
        b = self.body
        if self.type == CONNACK:
            self.session_present = bool(b[0] & 1)
            self.reason = b[1]
            if version == V5 and len(b) > 2:
                self.props, _ = decode_props(b, 2)
        elif self.type == PUBLISH:
            self.qos = (self.flags >> 1) & 3
            self.retain = bool(self.flags & 1)
            self.dup = bool(self.flags & 8)
            n = struct.unpack(">H", b[0:2])[0]
            self.topic = b[2:2 + n].decode("utf-8")
            i = 2 + n
            if self.qos:
                self.pid = struct.unpack(">H", b[i:i + 2])[0]
                i += 2
            if version == V5:
                self.props, i = decode_props(b, i)
            self.payload = bytes(b[i:])
        elif self.type in (PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK, SUBACK):
            self.pid = struct.unpack(">H", b[0:2])[0]
            if self.type in (SUBACK, UNSUBACK):
                i = 2
                if version == V5:
                    self.props, i = decode_props(b, i)
                self.codes = list(b[i:])
            else:
                self.reason = b[2] if len(b) > 2 else 0
                if version == V5 and len(b) > 3:
                    self.props, _ = decode_props(b, 3)
        elif self.type in (DISCONNECT, AUTH):
            self.reason = b[0] if len(b) > 0 else 0
            if len(b) > 1:
                self.props, _ = decode_props(b, 1)

    def __repr__(self):
        return "<Packet type=%d flags=%x reason=%r body=%r>" % (self.type, self.flags, self.reason,
                                                                self.body[:40])


def decode_vbi(b, i):
    mult, value = 1, 0
    for _ in range(4):
        c = b[i]
        i += 1
        value += (c & 127) * mult
        if not c & 128:
            return value, i
        mult *= 128
    raise ValueError("malformed variable byte integer")


def decode_props(b, i):
    n, i = decode_vbi(b, i)
    end = i + n
    out = []
    while i < end:
        pid, i = decode_vbi(b, i)
        kind = PROP_TYPES[pid]
        if kind == "byte":
            v = b[i]
            i += 1
        elif kind == "u16":
            v = struct.unpack(">H", b[i:i + 2])[0]
            i += 2
        elif kind == "u32":
            v = struct.unpack(">I", b[i:i + 4])[0]
            i += 4
        elif kind == "vbi":
            v, i = decode_vbi(b, i)
        elif kind in ("str", "bin"):
            ln = struct.unpack(">H", b[i:i + 2])[0]
            v = bytes(b[i + 2:i + 2 + ln])
            if kind == "str":
                v = v.decode("utf-8")
            i += 2 + ln
        else:
            k1 = struct.unpack(">H", b[i:i + 2])[0]
            key = bytes(b[i + 2:i + 2 + k1]).decode()
            i += 2 + k1
            k2 = struct.unpack(">H", b[i:i + 2])[0]
            val = bytes(b[i + 2:i + 2 + k2]).decode()
            i += 2 + k2
            v = (key, val)
        out.append((pid, v))
    return out, end


SERVER_TYPES = (CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, PINGRESP, DISCONNECT, AUTH)
PUBACK_CODES = {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99}
PUBREL_CODES = {0x00, 0x92}


def check_server_packet(p, length_bytes, version):
    """
    Rules every packet a server sends must follow, checked on everything the raw client reads: a packet type a
    server may send [MQTT-3.1.0-1 direction], the reserved fixed-header flags [MQTT-2.1.3-1 / 2.2.2-1], a
    minimal Remaining Length [MQTT-1.5.5-1], CONNACK reserved flag bits [MQTT-3.2.2-1], reason codes from the
    packet's own set [MQTT-3.4.2-1, 3.5.2-1, 3.6.2-1, 3.7.2-1], no Session Expiry on a server DISCONNECT
    [MQTT-3.14.2-2], and no DISCONNECT at all from a 3.1.1 server.
    """
    assert p.type in SERVER_TYPES, "server sent packet type %d" % p.type
    if p.type == PUBLISH:
        assert (p.flags >> 1) & 3 != 3, "server sent PUBLISH with QoS 3"
        assert not (p.qos == 0 and p.dup), "server sent a QoS 0 PUBLISH with DUP set"
    else:
        want = 2 if p.type == PUBREL else 0
        assert p.flags == want, "server packet type %d has flags %x" % (p.type, p.flags)
    assert len(vbi(len(p.body))) == length_bytes, "Remaining Length not minimally encoded"
    if p.type == CONNACK:
        assert p.body[0] & 0xFE == 0, "CONNACK reserved flag bits set"
        if p.reason != 0:
            assert not p.session_present, "Session Present set with a non-zero CONNACK code"
    if version == V5:
        if p.type in (PUBACK, PUBREC):
            assert p.reason in PUBACK_CODES, "PUBACK/PUBREC reason 0x%02x" % p.reason
        if p.type in (PUBREL, PUBCOMP):
            assert p.reason in PUBREL_CODES, "PUBREL/PUBCOMP reason 0x%02x" % p.reason
        if p.type == DISCONNECT:
            assert p.prop(P_SESSION_EXPIRY) is None, "server sent Session Expiry in DISCONNECT"
        if p.type == PUBLISH:
            alias = p.prop(P_TOPIC_ALIAS)
            assert alias is None or alias > 0, "server sent Topic Alias 0"
    else:
        assert p.type not in (DISCONNECT, AUTH), "3.1.1 server sent packet type %d" % p.type


class Closed(Exception):
    """The broker closed the connection while a packet was expected."""


class Raw:
    """A raw TCP connection speaking hand-built MQTT bytes, with a packet reader."""

    def __init__(self, broker, version=V5):
        self.version = version
        self.sock = socket.create_connection((broker.host, broker.port), timeout=WAIT)
        self.buf = b""
        self.inbox = []
        self.auto_ack = True
        self.next_pid = 0

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("timed out waiting for data from the broker")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise AssertionError("timed out waiting for data from the broker")
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise Closed()
            self.buf += chunk
            return

    def recv(self, timeout=WAIT):
        """The next whole packet; raises Closed on end of stream, AssertionError after timeout."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 2:
                try:
                    length, i = decode_vbi(self.buf, 1)
                except IndexError:
                    length = None
                if length is not None and len(self.buf) >= i + length:
                    first = self.buf[0]
                    body = self.buf[i:i + length]
                    raw = self.buf[:i + length]
                    self.buf = self.buf[i + length:]
                    p = Packet(first >> 4, first & 15, body, self.version)
                    p.raw = raw
                    check_server_packet(p, i - 1, self.version)
                    return p
            self._fill(deadline)

    def expect(self, ptype, timeout=WAIT):
        """The next packet, asserting its type (PINGRESP etc. are not skipped)."""
        p = self.recv(timeout)
        assert p.type == ptype, "expected packet type %d, got %r" % (ptype, p)
        return p

    def connect(self, client_id="", **kw):
        """Sends CONNECT (this connection's version) and returns the CONNACK, asserting success."""
        kw.setdefault("version", self.version)
        self.send(connect(client_id, **kw))
        p = self.expect(CONNACK)
        assert p.reason == 0, "CONNACK reason 0x%02x" % p.reason
        return p

    def until_closed(self, timeout=WAIT):
        """Reads until the broker closes the connection; returns the packets received before that."""
        out = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                out.append(self.recv(max(0.01, deadline - time.monotonic())))
            except Closed:
                return out

    def expect_disconnect(self, reason, timeout=WAIT):
        """
        Asserts the broker ends the connection: for v5 with a DISCONNECT carrying `reason` before close,
        for 3.1.1 by closing (no DISCONNECT may be sent by a 3.1.1 server). Returns the DISCONNECT or None.
        """
        packets = self.until_closed(timeout)
        if self.version == V5 and reason is not None:
            discs = [p for p in packets if p.type == DISCONNECT]
            assert discs, "broker closed without DISCONNECT (expected reason 0x%02x); got %r" % (reason, packets)
            assert discs[-1].reason == reason, \
                "DISCONNECT reason 0x%02x, expected 0x%02x" % (discs[-1].reason, reason)
            assert packets[-1] is discs[-1], "broker sent packets after its DISCONNECT: %r" % packets
            return discs[-1]
        assert not [p for p in packets if p.type == DISCONNECT], "3.1.1 server sent DISCONNECT: %r" % packets
        return None

    def subscribe(self, filters, pid=1, props=None):
        """filters: [(filter, options)] ; returns the SUBACK codes."""
        self.send(subscribe(pid, filters, version=self.version, props=props))
        p = self.wait_for(SUBACK, pid)
        return p.codes

    def _handle_incoming(self, p):
        """Acknowledges a PUBLISH / PUBREL from the broker the way a well-behaved client does."""
        if p.type == PUBLISH:
            if p.qos == 1 and self.auto_ack:
                self.send(ack(PUBACK, p.pid))
            elif p.qos == 2 and self.auto_ack:
                self.send(ack(PUBREC, p.pid))
        elif p.type == PUBREL and self.auto_ack:
            self.send(ack(PUBCOMP, p.pid))

    def wait_for(self, ptype, pid=None, timeout=WAIT):
        """
        Reads until a packet of ptype (and pid) arrives and returns it; PUBLISH packets met on the way are
        acknowledged and kept in self.inbox, PUBREL answered; anything else is an AssertionError.
        """
        deadline = time.monotonic() + timeout
        while True:
            p = self.recv(max(0.01, deadline - time.monotonic()))
            if p.type == ptype and (pid is None or p.pid == pid):
                if ptype in (PUBLISH, PUBREL):
                    self._handle_incoming(p)
                return p
            if p.type == PUBLISH:
                self._handle_incoming(p)
                self.inbox.append(p)
            elif p.type == PUBREL:
                self._handle_incoming(p)
            else:
                raise AssertionError("expected packet type %d, got %r" % (ptype, p))

    def next_publish(self, timeout=WAIT):
        """The next PUBLISH from the broker (acknowledged per its QoS unless auto_ack is False)."""
        if self.inbox:
            return self.inbox.pop(0)
        return self.wait_for(PUBLISH, timeout=timeout)

    def publishes_until(self, topic, timeout=WAIT):
        """Every PUBLISH received up to and including the first one on `topic` (the marker)."""
        out = []
        deadline = time.monotonic() + timeout
        while True:
            p = self.next_publish(max(0.01, deadline - time.monotonic()))
            out.append(p)
            if p.topic == topic:
                return out

    def pub(self, topic, payload=b"", qos=0, retain=False, props=None, pid=None):
        """Publishes and completes the QoS flow (PUBACK, or PUBREC/PUBREL/PUBCOMP); returns the last ack."""
        if qos and pid is None:
            self.next_pid = self.next_pid % 65535 + 1
            pid = self.next_pid
        self.send(publish(topic, payload, qos=qos, retain=retain, pid=pid, version=self.version, props=props))
        if qos == 1:
            return self.wait_for(PUBACK, pid)
        if qos == 2:
            rec = self.wait_for(PUBREC, pid)
            if rec.reason is not None and rec.reason >= 0x80:
                return rec
            self.send(ack(PUBREL, pid))
            return self.wait_for(PUBCOMP, pid)
        return None

    def is_closed(self):
        """True when the broker has closed the connection (nothing buffered remains unread is not checked)."""
        r, _, _ = select.select([self.sock], [], [], 0)
        if not r:
            return False
        try:
            data = self.sock.recv(65536, socket.MSG_PEEK)
        except ConnectionResetError:
            return True
        return data == b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def ping_ok(broker, version=V5):
    """A fresh client connects, pings, gets PINGRESP, and disconnects: the broker still serves others."""
    r = Raw(broker, version)
    try:
        r.connect("ping-check-%d" % os.getpid())
        r.send(pingreq())
        r.expect(PINGRESP)
        r.send(disconnect())
    finally:
        r.close()
    return True


def make_workdir():
    return tempfile.mkdtemp(prefix="rampart-it-")


def topic_of(name):
    """A per-test topic prefix so tests never see each other's retained messages."""
    return "t/" + re.sub(r"[^A-Za-z0-9_]", "_", name)


def proc_status(pid):
    """/proc/PID/status as {field: [words]}."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.split()
    return out


def proc_core_limit(pid):
    """The soft and hard core-dump limits of PID, as the two words /proc/PID/limits shows."""
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max core file size"):
                return line.split()[4:6]
    raise AssertionError("no core limit in /proc/%d/limits" % pid)


def audit_events(path):
    """
    The security audit log at path (docs/audit-log.md) as a list of dicts: every line must be one JSON object
    with a `time` and an `event` (anything else fails the test); a missing file is an empty log. A last line
    without its newline is a write the broker has not finished (one write(2) per event, which a concurrent
    reader may see half done): it is left for the next read.
    """
    import json
    try:
        with open(path, encoding="ascii") as f:
            text = f.read()
    except FileNotFoundError:
        return []
    lines = text.split("\n")[:-1]  # the complete lines; what follows the last newline is unfinished
    events = []
    for line in lines:
        e = json.loads(line)
        assert isinstance(e, dict) and e.get("time", "").endswith("Z") and e.get("event"), line
        events.append(e)
    return events


def audit_wait(path, predicate, what):
    """Waits until the audit log at path has an event for which predicate(event) is true; returns it."""
    return wait_until(lambda: next((e for e in audit_events(path) if predicate(e)), None), what)
