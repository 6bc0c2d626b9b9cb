"""
A real Prometheus server (Debian's `prometheus`) scrapes the broker's metrics endpoint: once over plain HTTP,
once over TLS with basic auth. The test starts Prometheus on a free loopback port with a 1-second scrape
interval, then polls its HTTP API (/api/v1/query) until `up` is 1 for the broker's target and a Rampart
metric has arrived with the value the broker reports (bounded wait, never an asserted duration).
"""
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

import helpers
import tlsca
from test_33_metrics import add_user, scrape

pytestmark = [
    pytest.mark.skipif(helpers.is_mosquitto(), reason="Rampart's metrics endpoint"),
    pytest.mark.skipif(shutil.which("prometheus") is None, reason="Debian package prometheus not installed"),
]

PROM_WAIT = max(helpers.WAIT * 6, 60)


class Prometheus:
    """One Prometheus process on a free loopback port, its data and config in workdir; stopped by PID."""

    def __init__(self, workdir, scrape_config):
        self.port = helpers.free_port()
        self.workdir = workdir
        config = os.path.join(workdir, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
                    "scrape_configs:\n" + scrape_config)
        self.log_path = os.path.join(workdir, "prometheus.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            ["prometheus", "--config.file=" + config, "--storage.tsdb.path=" + os.path.join(workdir, "data"),
             "--web.listen-address=127.0.0.1:%d" % self.port],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=workdir)

    def query(self, expr):
        """The result vector of an instant query ([] while Prometheus is not ready)."""
        url = "http://127.0.0.1:%d/api/v1/query?query=%s" % (self.port, urllib.parse.quote(expr))
        try:
            with urllib.request.urlopen(url, timeout=helpers.WAIT) as r:
                doc = json.loads(r.read().decode())
        except OSError:
            return []
        assert doc["status"] == "success", doc
        return doc["data"]["result"]

    def wait_value(self, expr, accept):
        """Polls expr until a sample's value satisfies accept(value); returns that sample."""
        def ready():
            assert self.proc.poll() is None, "prometheus exited:\n" + self.output()
            for sample in self.query(expr):
                if accept(float(sample["value"][1])):
                    return sample
            return None
        return helpers.wait_until(ready, "prometheus to report %s" % expr, timeout=PROM_WAIT, step=0.5)

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")[-4000:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=helpers.WAIT * 3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=helpers.WAIT)
        self.log.close()


@pytest.fixture
def prometheus(tmp_path):
    started = []

    def factory(scrape_config):
        workdir = str(tmp_path / ("prometheus%d" % len(started)))
        os.makedirs(workdir)
        p = Prometheus(workdir, scrape_config)
        started.append(p)
        return p

    yield factory
    for p in started:
        p.stop()


def test_prometheus_scrapes_plain_http(make_broker, prometheus, client, topic):
    port = helpers.free_port()
    b = make_broker(options=["metrics_listener %d" % port])
    c = client(b, "prom-plain")
    c.connect()
    c.publish(topic, b"hello", qos=1)
    p = prometheus("  - job_name: rampart\n    static_configs:\n      - targets: ['127.0.0.1:%d']\n" % port)
    up = p.wait_value('up{job="rampart"}', lambda v: v == 1)
    assert up["metric"]["instance"] == "127.0.0.1:%d" % port
    got = p.wait_value('rampart_messages_received_total{job="rampart",qos="1"}', lambda v: v >= 1)
    assert float(got["value"][1]) <= scrape(port)['rampart_messages_received_total{qos="1"}']
    p.wait_value('rampart_clients_connected{job="rampart"}', lambda v: v >= 1)


def test_prometheus_scrapes_tls_with_basic_auth(make_broker, prometheus, tmp_path):
    ca = tlsca.TestCA()
    try:
        users = tmp_path / "metrics-users"
        add_user(users, "prometheus", "Scrape-me-gently-42")
        port = helpers.free_port()
        mqtts = helpers.free_port()
        make_broker(options=["user root", "metrics_listener %d" % port, "metrics_password_file %s" % users,
                             "metrics_certfile " + ca.path("server.crt"), "metrics_keyfile " + ca.path("server.key")],
                    extra_listeners=[(mqtts, ca.server_options())])
        secret = tmp_path / "prom-password"
        secret.write_text("Scrape-me-gently-42")
        job = ("  - job_name: %s\n    scheme: https\n    tls_config:\n      ca_file: %s\n"
               "      server_name: localhost\n    basic_auth:\n      username: %s\n      password_file: %s\n"
               "    static_configs:\n      - targets: ['127.0.0.1:%d']\n")
        p = prometheus(job % ("good", ca.ca, "prometheus", secret, port)
                       + job % ("wrong", ca.ca, "intruder", secret, port))
        p.wait_value('up{job="good"}', lambda v: v == 1)
        expiry = p.wait_value('rampart_tls_certificate_expiry_seconds{job="good",listener="127.0.0.1:%d"}' % mqtts,
                              lambda v: v > 800 * 86400)
        assert expiry["metric"]["listener"] == "127.0.0.1:%d" % mqtts
        # The job with a user the file does not have is refused (401): Prometheus marks it down.
        p.wait_value('up{job="wrong"}', lambda v: v == 0)
        assert p.query('rampart_build_info{job="wrong"}') == []
    finally:
        ca.cleanup()
