"""
Least privilege for the running broker: the account switch, no_new_privs, no core dumps, seccomp and Landlock
in force (read from /proc/PID/status and /proc/PID/limits, never from the broker's own say-so), Landlock
refusing a file the configuration names only after start-up, (sd_notify is covered by test_50_process.py).
"""
import os
import pwd
import re
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import helpers  # noqa: E402


def sandboxed(b):
    """Waits until the broker says it runs: listeners accept before the sandbox is entered, so /proc is read
    only after this line."""
    helpers.wait_until(lambda: re.search(r"notice: rampart \S+ running", b.log()), "the broker to finish start-up")
    return b


def nobody():
    p = pwd.getpwnam("nobody")
    return str(p.pw_uid), str(p.pw_gid)


class DefaultUserBroker(helpers.Broker):
    """A broker whose configuration has no `user` line at all (the harness adds `user root` otherwise)."""

    def config_text(self):
        return "".join(l + "\n" for l in super().config_text().splitlines() if not l.startswith("user "))


def test_privileges_dropped_to_configured_user(make_broker):
    b = sandboxed(make_broker(options=["user nobody"]))
    s = helpers.proc_status(b.pid)
    uid, gid = nobody()
    assert s["Uid"] == [uid] * 4
    assert s["Gid"] == [gid] * 4
    assert s["Groups"] == [gid]
    assert s["CapEff"] == ["0000000000000000"] and s["CapPrm"] == ["0000000000000000"]
    assert s["CapBnd"] == ["0000000000000000"]
    assert s["NoNewPrivs"] == ["1"]
    assert s["Seccomp"] == ["2"]
    assert helpers.proc_core_limit(b.pid) == ["0", "0"]
    assert helpers.ping_ok(b)
    log = b.log()
    assert "privileges: dropped to user 'nobody'" in log
    assert "sandbox: Landlock ABI" in log and "seccomp in force" in log


def test_default_user_is_rampart_else_nobody(tmp_path):
    b = DefaultUserBroker(str(tmp_path))
    b.start()
    try:
        try:
            want = pwd.getpwnam("rampart")
        except KeyError:
            want = pwd.getpwnam("nobody")
        sandboxed(b)
        assert helpers.proc_status(b.pid)["Uid"][0] == str(want.pw_uid)
        assert "the default" in b.log()
    finally:
        problems = b.stop()
    assert not problems, problems


def test_staying_root_needs_explicit_setting_and_keeps_the_sandbox(make_broker):
    b = sandboxed(make_broker(options=["user root"]))
    s = helpers.proc_status(b.pid)
    assert s["Uid"][0] == "0"
    assert s["NoNewPrivs"] == ["1"] and s["Seccomp"] == ["2"]
    assert "staying root because 'user root' is set explicitly" in b.log()


def test_switches_off_are_logged(make_broker):
    b = sandboxed(make_broker(options=["sandbox_seccomp false", "sandbox_landlock false"]))
    assert helpers.proc_status(b.pid)["Seccomp"] == ["0"]
    log = b.log()
    assert "seccomp switched off" in log and "Landlock switched off" in log
def test_landlock_refuses_a_file_outside_the_allowed_paths(make_broker, tmp_path):
    # Running as root on purpose: root passes every file-mode check, so an EACCES can only come from Landlock.
    b = sandboxed(make_broker(options=["user root"]))
    # Control: a reload of the configuration where it was at start-up works.
    os.kill(b.pid, signal.SIGHUP)
    helpers.wait_until(lambda: "SIGHUP: reloading" in b.log(), "the first reload")
    helpers.ping_ok(b)
    assert "Permission denied" not in b.log()
    outside = tmp_path / "outside"
    outside.mkdir()
    moved = outside / "broker.conf"
    os.rename(b.config_path, moved)
    os.symlink(moved, b.config_path)  # the path the broker reloads now leads out of its allowed directories
    assert open(b.config_path).read()  # readable for everyone else
    os.kill(b.pid, signal.SIGHUP)
    helpers.wait_until(lambda: re.search(r"error: reload: .*broker\.conf.*Permission denied", b.log()),
                       "the reload to be refused by Landlock")
    assert b.alive()
    assert helpers.ping_ok(b)
