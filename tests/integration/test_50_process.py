"""
The broker on its built-in configuration (`rampart -p PORT`, as `make run` starts it) drops root for the
default account, runs with no capabilities, no_new_privs, no core dumps and a seccomp filter (read from
/proc/PID/status and /proc/PID/limits), still serves clients, and reports READY/RELOADING/STOPPING to a
service manager's notification socket.
"""
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import helpers  # noqa: E402


class Builtin:
    """`rampart -p PORT` with a notification socket the broker's account can write to."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="rampart-notify-")
        os.chmod(self.dir, 0o755)
        self.notify_path = os.path.join(self.dir, "notify.sock")
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        os.chmod(self.notify_path, 0o777)  # like systemd's /run/systemd/notify
        self.notify.settimeout(helpers.WAIT)
        self.port = helpers.free_port()
        self.host = "127.0.0.1"
        self.log_path = os.path.join(self.dir, "broker.log")
        self.log_file = open(self.log_path, "wb")
        env = dict(os.environ, NOTIFY_SOCKET=self.notify_path)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:halt_on_error=1")
        self.proc = subprocess.Popen([helpers.RAMPART_BIN, "-p", str(self.port)], stdout=self.log_file,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        self.pid = self.proc.pid

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=helpers.WAIT * 3)
        self.log_file.close()
        self.notify.close()
        log = self.log()
        shutil.rmtree(self.dir, ignore_errors=True)
        return rc, log


def test_builtin_configuration_runs_unprivileged_and_sandboxed():
    b = Builtin()
    try:
        assert b.notify.recv(4096) == b"READY=1"  # sent once listening and sandboxed
        s = helpers.proc_status(b.pid)
        try:
            want = pwd.getpwnam("rampart")
        except KeyError:
            want = pwd.getpwnam("nobody")
        if os.getuid() == 0:
            assert s["Uid"] == [str(want.pw_uid)] * 4
            assert s["Gid"] == [str(want.pw_gid)] * 4
            assert s["CapBnd"] == ["0000000000000000"]
        assert s["CapEff"] == ["0000000000000000"] and s["CapPrm"] == ["0000000000000000"]
        assert s["NoNewPrivs"] == ["1"]
        assert s["Seccomp"] == ["2"]
        assert helpers.proc_core_limit(b.pid) == ["0", "0"]
        assert helpers.ping_ok(b)
        os.kill(b.pid, signal.SIGHUP)
        assert b.notify.recv(4096) == b"RELOADING=1"
        assert b.notify.recv(4096) == b"READY=1"
        os.kill(b.pid, signal.SIGTERM)
        assert b.notify.recv(4096) == b"STOPPING=1"
    finally:
        rc, log = b.stop()
    assert rc == 0, log
    assert not any(m in log for m in helpers.SANITIZER_MARKS), log
    assert "sandbox: Landlock ABI" in log and "seccomp in force" in log, log
    if os.getuid() == 0:
        assert "privileges: dropped to user '%s'" % want.pw_name in log, log
