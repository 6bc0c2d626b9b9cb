"""The shipped systemd unit: systemd's own offline analyser rates its exposure at 1.5 or better."""
import os
import re
import shutil
import subprocess

UNIT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../contrib/systemd/rampart.service")


def test_unit_exposure_is_at_most_1_5():
    # systemd-analyze comes with Debian's systemd package (scripts/packages.txt).
    analyze = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"
    out = subprocess.run([analyze, "security", "--offline=true", "--no-pager", UNIT], capture_output=True,
                         text=True, timeout=60)
    m = re.search(r"Overall exposure level for rampart\.service: ([0-9.]+)", out.stdout + out.stderr)
    assert m, out.stdout + out.stderr
    assert float(m.group(1)) <= 1.5, out.stdout


def test_unit_is_notify_with_reload_and_unprivileged():
    text = open(UNIT).read()
    assert re.search(r"^Type=notify$", text, re.M)
    assert re.search(r"^ExecReload=/bin/kill -HUP \$MAINPID$", text, re.M)
    assert re.search(r"^User=rampart$", text, re.M)
    assert re.search(r"^NoNewPrivileges=yes$", text, re.M)
    # The broker's own sandbox must not be refused by the unit's system call filter.
    assert re.search(r"^SystemCallFilter=.*\bseccomp\b.*\blandlock_restrict_self\b", text, re.M)
