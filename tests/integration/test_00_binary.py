"""The binary itself: version output names the linked OpenSSL."""
import os
import subprocess

BIN = os.environ.get("RAMPART_BIN", os.path.join(os.path.dirname(__file__), "../../build-asan/rampart"))


def test_version_names_openssl():
    out = subprocess.run([BIN, "--version"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0
    assert out.stdout.startswith("rampart ")
    assert "OpenSSL 3." in out.stdout


def test_unknown_subcommand_is_refused():
    out = subprocess.run([BIN, "no-such-tool"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert "unknown command" in out.stderr
