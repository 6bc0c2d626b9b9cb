"""12 End to end with Debian's mosquitto_pub and mosquitto_sub (3.1.1 and 5.0)."""
import pytest

import helpers as h
from helpers import V311, V5


def _publish_until_done(sub, publish_once, attempts=100):
    """
    Publishes (publish_once()) until the mosquitto_sub process exits with its -C count; the first publishes
    may precede its subscription, so live delivery is retried, bounded by `attempts`.
    """
    for _ in range(attempts):
        publish_once()
        try:
            sub.proc.wait(timeout=0.1)
            return
        except h.subprocess.TimeoutExpired:
            pass
    raise AssertionError("mosquitto_sub never received a message")


@pytest.mark.parametrize("version", [V311, V5])
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_pub_to_sub(broker, topic, version, qos):
    sub = h.MosquittoSub(broker, topic, "-F", "%t %p %q", "-q", str(qos), count=1, version=version)
    _publish_until_done(sub, lambda: h.mosquitto_pub(broker, topic, "hello", "-q", str(qos), version=version))
    assert sub.output().strip() == "%s hello %d" % (topic, qos)


def test_sub_receives_from_paho(broker, client, topic):
    sub = h.MosquittoSub(broker, topic, "-v", count=1)
    c = client(broker, "paho-to-sub")
    c.connect()
    _publish_until_done(sub, lambda: c.publish(topic, b"from-paho", qos=1))
    assert sub.output().strip() == topic + " from-paho"


def test_paho_receives_from_pub(broker, client, topic):
    c = client(broker, "pub-to-paho", version=V311)
    c.connect()
    c.subscribe(topic, qos=2)
    h.mosquitto_pub(broker, topic, "to-paho", "-q", "2", version=V5)
    m = c.get()
    assert (m.topic, m.payload, m.qos) == (topic, b"to-paho", 2)


def test_user_properties_and_format_v5(broker, topic):
    h.mosquitto_pub(broker, topic, "with-props", "-r", "-q", "1", "-D", "publish", "user-property", "k1", "v1",
                    "-D", "publish", "content-type", "text/x-test")
    sub = h.MosquittoSub(broker, topic, "-F", "%t|%p|%C|%P", count=1)
    out = sub.output().strip()
    h.mosquitto_pub(broker, topic, None, "-r", "-q", "1")
    assert out == topic + "|with-props|text/x-test|k1:v1"


def test_retained_v311_to_v5(broker, topic):
    h.mosquitto_pub(broker, topic, "old-client", "-r", "-q", "2", version=V311)
    sub = h.MosquittoSub(broker, topic, "-F", "%t %p %r %q", "-q", "2", count=1, version=V5)
    out = sub.output().strip()
    h.mosquitto_pub(broker, topic, None, "-r", "-q", "1")
    assert out == topic + " old-client 1 2"


def test_sub_wildcards_and_multiple_messages(broker, topic):
    for i in range(3):
        h.mosquitto_pub(broker, "%s/%d/v" % (topic, i), "m%d" % i, "-r", "-q", "1")
    sub = h.MosquittoSub(broker, topic + "/+/v", "-v", count=3)
    lines = sorted(sub.output().splitlines())
    for i in range(3):
        h.mosquitto_pub(broker, "%s/%d/v" % (topic, i), None, "-r", "-q", "1")
    assert lines == ["%s/%d/v m%d" % (topic, i, i) for i in range(3)]


def test_pub_file_payload(broker, topic, tmp_path):
    data = bytes(range(256)) * 64
    f = tmp_path / "payload.bin"
    f.write_bytes(data)
    out = h.subprocess.run(["mosquitto_pub", "-h", broker.host, "-p", str(broker.port), "-t", topic, "-f", str(f),
                            "-r", "-q", "1"], capture_output=True, timeout=h.WAIT)
    assert out.returncode == 0
    sub = h.subprocess.run(["mosquitto_sub", "-h", broker.host, "-p", str(broker.port), "-t", topic, "-C", "1",
                            "-W", str(int(h.WAIT)), "-N"], capture_output=True, timeout=h.WAIT * 2)
    h.mosquitto_pub(broker, topic, None, "-r", "-q", "1")
    assert sub.returncode == 0 and sub.stdout == data
