"""`rampart passwd` and `rampart ban`: real files, real libpwquality, real mosquitto_passwd output."""
import os
import stat
import subprocess

BIN = os.environ.get("RAMPART_BIN", os.path.join(os.path.dirname(__file__), "../../build-asan/rampart"))
GOOD = "Blue-kettle-94-sings"


def run(*args, stdin=None):
    return subprocess.run([BIN, *args], input=stdin, capture_output=True, text=True, timeout=60)


def test_add_with_stdin_writes_argon2id_and_mode_0600(tmp_path):
    pw = tmp_path / "pw"
    out = run("passwd", "-c", "--stdin", str(pw), "alice", stdin=GOOD + "\n")
    assert out.returncode == 0, out.stderr
    line = pw.read_text().strip()
    user, hash_, fields = line.split(":", 2)
    assert user == "alice"
    assert hash_.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert fields.startswith("set=")
    assert stat.S_IMODE(pw.stat().st_mode) == 0o600
    assert GOOD not in pw.read_text()


def test_policy_refuses_short_dictionary_and_username(tmp_path):
    pw = tmp_path / "pw"
    for user, bad in [("alice", "short1!"), ("alice", "password123456"), ("alice", "alice-Xy9!alice")]:
        out = run("passwd", "-c", "--stdin", str(pw), user, stdin=bad + "\n")
        assert out.returncode == 1
        assert "refused by the policy" in out.stderr
    assert not pw.exists()


def test_policy_is_configurable(tmp_path):
    pw = tmp_path / "pw"
    conf = tmp_path / "pwquality.conf"
    conf.write_text("minlen = 24\n")
    out = run("passwd", "-c", "--stdin", "--policy", str(conf), str(pw), "alice", stdin=GOOD + "\n")
    assert out.returncode == 1 and "shorter" in out.stderr
    conf.write_text("minlen = 6\ndictcheck = 0\n")
    out = run("passwd", "-c", "--stdin", "--policy", str(conf), str(pw), "alice", stdin="qwerty99\n")
    assert out.returncode == 0, out.stderr


def test_batch_delete_list_and_keep_other_lines(tmp_path):
    pw = tmp_path / "pw"
    # a mosquitto_passwd file with a comment: the tool keeps it and the $7$ line byte for byte
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(pw), "legacy", "secret1"], check=True, timeout=30)
    legacy = pw.read_text()
    pw.write_text("# fleet A\n" + legacy)
    assert run("passwd", "-b", str(pw), "bob", GOOD).returncode == 0
    users = tmp_path / "users"
    users.write_text("carol:Green-lamp-77-dances\ndave:Quiet-river-31-hums\n")
    assert run("passwd", "--batch-file", str(users), str(pw)).returncode == 0
    text = pw.read_text()
    assert text.startswith("# fleet A\n" + legacy)
    listing = run("passwd", "--list", str(pw))
    assert listing.returncode == 0
    assert "legacy\tpbkdf2-sha512 ($7$) (weak" in listing.stdout
    for u in ("bob", "carol", "dave"):
        assert f"{u}\targon2id" in listing.stdout
    assert run("passwd", "-D", str(pw), "carol").returncode == 0
    assert "carol:" not in pw.read_text()
    assert run("passwd", "-D", str(pw), "carol").returncode == 1


def test_batch_file_with_one_bad_line_writes_nothing(tmp_path):
    pw = tmp_path / "pw"
    assert run("passwd", "-c", "-b", str(pw), "bob", GOOD).returncode == 0
    before = pw.read_text()
    users = tmp_path / "users"
    users.write_text("carol:Green-lamp-77-dances\ndave:weak\n")
    out = run("passwd", "--batch-file", str(users), str(pw))
    assert out.returncode == 1 and ":2:" in out.stderr
    assert pw.read_text() == before


def test_scram_and_max_age(tmp_path):
    pw = tmp_path / "pw"
    assert run("passwd", "-c", "-b", "--scram", "--max-age", "90", str(pw), "eve", GOOD).returncode == 0
    line = pw.read_text().strip()
    assert ":$scram-sha-256$4096$" in line
    assert line.endswith(",max_age=7776000")


def test_password_never_taken_from_argv_without_b(tmp_path):
    pw = tmp_path / "pw"
    out = run("passwd", "-c", str(pw), "alice", GOOD)
    assert out.returncode == 2
    assert not pw.exists()


def test_ban_tool_add_list_del(tmp_path):
    bans = tmp_path / "bans"
    assert run("ban", "-f", str(bans), "add", "address", "192.0.2.5", "--for", "1h", "--reason", "ops").returncode == 0
    assert run("ban", "-f", str(bans), "add", "username", "evil user").returncode == 0
    assert run("ban", "-f", str(bans), "add", "network", "10.0.0.0/40").returncode == 1
    listing = run("ban", "-f", str(bans), "list").stdout
    assert "address\t192.0.2.5\texpires=20" in listing
    assert "username\tevil%20user\texpires=never" in listing
    assert run("ban", "-f", str(bans), "del", "username", "evil user").returncode == 0
    assert "evil" not in run("ban", "-f", str(bans), "list").stdout
    assert stat.S_IMODE(bans.stat().st_mode) == 0o600
