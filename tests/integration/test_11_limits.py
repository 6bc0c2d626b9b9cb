"""11 Limits: oversized packets refused on the header alone; many clients and subscriptions."""
import helpers as h
from helpers import V311, V5


def test_oversized_connect_before_auth_rejected(broker, raw):
    # A CONNECT claiming 100 MB: refused without buffering it.
    r = raw(broker, V5)
    r.send(b"\x10" + h.vbi(100 * 1024 * 1024) + h.mstr("MQTT") + b"\x05\x02\x00\x3c\x00")
    packets = r.until_closed()
    assert all(p.type == h.CONNACK and p.reason >= 0x80 for p in packets)
    assert h.ping_ok(broker)


def test_many_clients_and_subscriptions(broker, raw, topic):
    subs = []
    for i in range(40):
        r = raw(broker, V5 if i % 2 else V311)
        r.connect("many-%d" % i)
        r.subscribe([(topic + "/%d/#" % i, 1), (topic + "/all", 0)])
        subs.append(r)
    pub = raw(broker, V5)
    pub.connect("many-pub")
    pub.pub(topic + "/all", b"fanout", qos=1)
    for r in subs:
        assert r.next_publish().payload == b"fanout"
    pub.pub(topic + "/7/x", b"seven", qos=1)
    assert subs[7].next_publish().payload == b"seven"
