"""`rampart bench`: tiny bounded runs of the load generator against Rampart and against Debian's mosquitto
(which validates the generator itself). The checks are on the consistency of the JSON report, never on
timings: every message delivered at a low rate, none lost or duplicated, counts that add up."""
import json
import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

import helpers

BIN = os.environ.get("RAMPART_BIN", os.path.join(os.path.dirname(__file__), "../../build-asan/rampart"))
MOSQUITTO = "/usr/sbin/mosquitto"
LATENCY_KEYS = {"p50_us", "p99_us", "p999_us", "max_us", "mean_us", "count"}
REPORT_KEYS = {"scenario", "qos", "mqtt_version", "transport", "publishers", "subscribers", "payload", "window",
               "rate", "duration_s", "run_s", "deliver_s", "connect_s", "published", "acked", "delivered",
               "expected", "lost", "duplicated", "out_of_order", "rate_per_s", "connects", "connect_failures",
               "errors", "error", "latency", "broker"}


def bench(port, *args, pid=None, timeout=60):
    """Runs a bounded bench and returns (exit status, parsed JSON report or None, stderr)."""
    cmd = [BIN, "bench", "-p", str(port), "--json", "--quiet", "--connect-timeout", "10"] + list(args)
    if pid:
        cmd += ["--pid", str(pid)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    return out.returncode, (json.loads(lines[-1]) if lines else None), out.stderr


def check_traffic_report(rep, qos, scenario, transport="tcp"):
    assert REPORT_KEYS <= set(rep), REPORT_KEYS - set(rep)
    assert LATENCY_KEYS <= set(rep["latency"])
    assert rep["scenario"] == scenario and rep["qos"] == qos and rep["transport"] == transport
    assert rep["errors"] == 0 and rep["error"] is None and rep["connect_failures"] == 0
    assert rep["published"] > 0 and rep["delivered"] > 0
    assert rep["lost"] == 0 and rep["duplicated"] == 0
    assert rep["delivered"] == rep["expected"]
    assert rep["latency"]["count"] == rep["delivered"]
    lat = rep["latency"]
    assert 0 <= lat["p50_us"] <= lat["p99_us"] <= lat["p999_us"] <= lat["max_us"]
    if qos > 0:
        assert rep["acked"] == rep["published"]


def test_refuses_non_loopback_and_bad_options():
    out = subprocess.run([BIN, "bench", "-H", "192.0.2.1", "-d", "1"], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 2 and "loopback" in out.stderr
    out = subprocess.run([BIN, "bench", "-q", "7"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "--qos" in out.stderr


def test_unreachable_broker_is_reported():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    rc, rep, err = bench(port, "-s", "pairs", "-c", "1", "-d", "1")
    assert rc == 1
    assert rep is not None and rep["connect_failures"] + rep["errors"] > 0 and rep["error"]


def free_port():
    """helpers.free_port: the port stays reserved (TIME_WAIT) until the broker binds it."""
    return helpers.free_port()


@pytest.fixture(scope="module")
def mosquitto():
    """Debian's mosquitto on free loopback ports: plain TCP and TLS (a throwaway self-signed certificate)."""
    if not os.path.exists(MOSQUITTO):
        pytest.fail("mosquitto is not installed (scripts/packages.txt lists it)")
    # mosquitto reads the key after dropping to its own user: the directory must be readable to it
    work = pathlib.Path(tempfile.mkdtemp(prefix="rampart-bench-test-"))
    os.chmod(work, 0o755)
    cert, key = str(work / "cert.pem"), str(work / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=60)
    os.chmod(key, 0o644)
    port, tls_port = free_port(), free_port()
    conf = work / "mosquitto.conf"
    conf.write_text("per_listener_settings false\nallow_anonymous true\npersistence false\n"
                    "listener %d 127.0.0.1\nlistener %d 127.0.0.1\ncertfile %s\nkeyfile %s\n"
                    % (port, tls_port, cert, key))
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    for p in (port, tls_port):
        while True:
            try:
                socket.create_connection(("127.0.0.1", p), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "mosquitto did not start"
                time.sleep(0.05)
    yield {"port": port, "tls_port": tls_port, "pid": proc.pid, "cafile": cert}
    proc.terminate()
    proc.wait(timeout=10)
    shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def rampart():
    """The broker under test ($RAMPART_BIN) on a free loopback port with its built-in configuration. At
    teardown it must exit cleanly on SIGTERM without sanitizer reports."""
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="rampart-bench-broker-", suffix=".log", delete=False)
    proc = subprocess.Popen([BIN, "-p", str(port)], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "rampart did not start: " + \
                open(log.name, errors="replace").read()
            time.sleep(0.05)
    yield {"port": port, "pid": proc.pid}
    proc.terminate()
    rc = proc.wait(timeout=30)
    text = open(log.name, errors="replace").read()
    os.unlink(log.name)
    assert rc == 0 and "Sanitizer" not in text and "runtime error" not in text, text[-4000:]


@pytest.fixture(params=["rampart", "mosquitto"])
def any_broker(request):
    """Both brokers: the generator's reports must be consistent against either."""
    return request.getfixturevalue(request.param)


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_pairs_at_low_rate(any_broker, qos):
    mosquitto = any_broker
    rc, rep, err = bench(mosquitto["port"], "-s", "pairs", "-c", "2", "-q", str(qos), "-r", "200", "-w", "10", "-d", "1",
                         "--drain", "5", pid=mosquitto["pid"])
    assert rep is not None, err
    assert rc == 0, rep.get("error")
    check_traffic_report(rep, qos, "pairs")
    assert rep["out_of_order"] == 0
    b = rep["broker"]
    assert b["pid"] == mosquitto["pid"] and b["peak_rss_kb"] >= b["rss_kb"] > 0 and b["cpu_s"] >= 0


def test_fan_out_fan_in_shared_counts(any_broker):
    port = any_broker["port"]
    rc, rep, err = bench(port, "-s", "fan-out", "--subscribers", "4", "-q", "1", "-n", "50", "-w", "10", "-d", "5",
                         "--drain", "5")
    assert rep is not None and rc == 0, err + str(rep and rep.get("error"))
    check_traffic_report(rep, 1, "fan-out")
    assert rep["published"] == 50 and rep["delivered"] == 200 and rep["broker"] is None
    rc, rep, err = bench(port, "-s", "fan-in", "--publishers", "3", "-q", "1", "-n", "40", "-w", "5", "-d", "5",
                         "-V", "5", "--drain", "5")
    assert rep is not None and rc == 0, err + str(rep and rep.get("error"))
    check_traffic_report(rep, 1, "fan-in")
    assert rep["mqtt_version"] == 5 and rep["delivered"] == 120
    rc, rep, err = bench(port, "-s", "shared", "--publishers", "2", "--subscribers", "3", "-q", "1", "-n", "30",
                         "-w", "5", "-d", "5", "--drain", "5")
    assert rep is not None and rc == 0, err + str(rep and rep.get("error"))
    check_traffic_report(rep, 1, "shared")
    assert rep["delivered"] == 60  # each message to exactly one member of the group


def test_storm_and_idle(any_broker):
    rc, rep, err = bench(any_broker["port"], "-s", "storm", "-c", "30", "--concurrency", "5", "-d", "20",
                         "--sources", "3", pid=any_broker["pid"])
    assert rep is not None and rc == 0, err + str(rep and rep.get("error"))
    assert rep["scenario"] == "storm" and rep["connects"] == 30 and rep["latency"]["count"] == 30
    rc, rep, err = bench(any_broker["port"], "-s", "idle", "-c", "20", "-d", "0.5", pid=any_broker["pid"])
    assert rep is not None and rc == 0, err + str(rep and rep.get("error"))
    assert rep["scenario"] == "idle" and rep["errors"] == 0
    assert "bytes_per_connection" in rep["broker"] and rep["broker"]["rss_kb"] > 0


def test_tls_against_mosquitto(mosquitto):
    rc, rep, err = bench(mosquitto["tls_port"], "--tls", "--cafile", mosquitto["cafile"], "-s", "pairs", "-c", "2",
                         "-q", "1", "-r", "200", "-d", "1", "--drain", "5")
    assert rep is not None and rc == 0, err + str(rep and rep.get("error"))
    check_traffic_report(rep, 1, "pairs", "tls")


@pytest.fixture(scope="module")
def rampart_tls():
    """The broker under test with one TLS listener on a free loopback port (a throwaway self-signed P-256
    certificate; the key 0600, as the broker requires)."""
    work = pathlib.Path(tempfile.mkdtemp(prefix="rampart-bench-tls-"))
    os.chmod(work, 0o755)
    cert, key = str(work / "cert.pem"), str(work / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=60)
    os.chmod(key, 0o600)
    port = free_port()
    conf = work / "rampart.conf"
    conf.write_text("listener %d 127.0.0.1\ncertfile %s\nkeyfile %s\nallow_anonymous true\n" % (port, cert, key))
    log = work / "rampart.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([BIN, "-c", str(conf)], stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "rampart did not start: " + \
                log.read_text(errors="replace")
            time.sleep(0.05)
    yield {"port": port, "pid": proc.pid, "cafile": cert}
    proc.terminate()
    rc = proc.wait(timeout=30)
    text = log.read_text(errors="replace")
    shutil.rmtree(work, ignore_errors=True)
    assert rc == 0 and "Sanitizer" not in text and "runtime error" not in text, text[-4000:]


def test_tls_against_rampart(rampart_tls):
    """QoS 1 over TLS, then a TLS connection storm: full handshakes, then resumed ones (the broker's session
    tickets: after the first connections every handshake of a sequential storm resumes)."""
    rc, rep, err = bench(rampart_tls["port"], "--tls", "--cafile", rampart_tls["cafile"], "-s", "pairs", "-c", "2",
                         "-q", "1", "-r", "200", "-d", "1", "--drain", "5")
    assert rep is not None and rc == 0, err + str(rep and rep.get("error"))
    check_traffic_report(rep, 1, "pairs", "tls")
    rc, rep, err = bench(rampart_tls["port"], "--tls", "--cafile", rampart_tls["cafile"], "-s", "storm", "-c", "20",
                         "--concurrency", "1", "-d", "20", pid=rampart_tls["pid"])
    assert rep is not None and rc == 0, err + str(rep and rep.get("error"))
    assert rep["connects"] == 20 and rep["tls_resumed"] == 0 and rep["transport"] == "tls"
    rc, rep, err = bench(rampart_tls["port"], "--tls", "--tls-resume", "--cafile", rampart_tls["cafile"], "-s",
                         "storm", "-c", "20", "--concurrency", "1", "-d", "20")
    assert rep is not None and rc == 0, err + str(rep and rep.get("error"))
    assert rep["connects"] == 20 and rep["tls_resumed"] == 19  # all but the first, which got the first ticket


def test_tls_client_certificate(make_broker):
    """--cert/--key: the generator presents a client certificate to a listener that requires one (mutual TLS
    with the test CA of test_30_tls); without one the same listener refuses every connection."""
    import helpers
    import tlsca
    ca = tlsca.TestCA()
    try:
        crt, key = ca.client("bench")
        port = helpers.free_port()
        make_broker(anonymous=True, extra_listeners=[(port, ca.mtls_options())])
        rc, rep, err = bench(port, "--tls", "--cafile", ca.ca, "--cert", crt, "--key", key, "-s", "storm", "-c", "5",
                             "--concurrency", "1", "-d", "20")
        assert rep is not None and rc == 0, err + str(rep and rep.get("error"))
        assert rep["connects"] == 5 and rep["connect_failures"] == 0
        rc, rep, err = bench(port, "--tls", "--cafile", ca.ca, "-s", "storm", "-c", "2", "--concurrency", "1",
                             "-d", "5")
        assert rc == 1 and rep is not None and rep["connects"] == 0 and rep["error"]
    finally:
        ca.cleanup()


def test_tls_options_need_tls():
    rc, rep, err = bench(1883, "--cert", "c.pem", "--key", "k.pem", "-s", "storm", "-c", "1")
    assert rc == 2 and "--tls" in err
    rc, rep, err = bench(1883, "--tls", "--cert", "c.pem", "-s", "storm", "-c", "1")
    assert rc == 2 and "together" in err


def test_tls_resume_needs_tls():
    rc, rep, err = bench(1883, "--tls-resume", "-s", "storm", "-c", "1")
    assert rc == 2 and "--tls" in err


def test_tls_refuses_an_unknown_certificate_authority(mosquitto, tmp_path):
    other = tmp_path / "other.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(tmp_path / "k.pem"), "-out", str(other), "-days", "1", "-subj", "/CN=other"],
                   check=True, capture_output=True, timeout=60)
    rc, rep, err = bench(mosquitto["tls_port"], "--tls", "--cafile", str(other), "-s", "pairs", "-c", "1",
                         "-d", "1")
    assert rc == 1 and rep is not None and rep["errors"] > 0 and "certificate" in (rep["error"] or "")
