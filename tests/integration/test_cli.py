"""The command line: --help/--version, "user ..." and "config check", and
that account changes reach a running server."""

import re
import stat
import time

import pytest

from harness import Server, cli, make_message, write_conf


@pytest.fixture
def fresh(tmp_path, facteur_bin):
    """A configuration with no accounts (server not started)."""
    return Server(tmp_path / "srv")


def passwd_lines(srv):
    p = srv.data_dir / "passwd"
    if not p.exists():
        return []
    return [ln for ln in p.read_text().splitlines() if ln and not ln.startswith("#")]


def add(srv, name, pw="pw-123456"):
    return srv.cli("user", "add", name, "--password-stdin", input=pw + "\n")


def listed(srv):
    r = srv.cli("user", "list")
    assert r.returncode == 0, r.stderr
    return r.stdout.decode().split()


def wait_for(pred, timeout=4.0):
    """Accounts are re-read at most once a second: poll a little."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > end:
            return v
        time.sleep(0.1)


# ---------------------------------------------------------------- help, version


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help(facteur_bin, flag):
    r = cli([flag])
    assert r.returncode == 0
    out = r.stdout.decode()
    assert out.startswith("usage: facteur")
    for word in ("serve", "user add", "config check"):
        assert word in out


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(facteur_bin, flag):
    r = cli([flag])
    assert r.returncode == 0
    assert re.fullmatch(r"facteur \d+\.\d+\.\d+\S*\n", r.stdout.decode())


def test_no_arguments_and_unknown_command_fail(facteur_bin):
    r = cli([])
    assert r.returncode != 0 and b"usage" in r.stderr
    r = cli(["frobnicate"])
    assert r.returncode != 0 and b"frobnicate" in r.stderr


# ---------------------------------------------------------------- user


def test_user_add_list_del(fresh):
    assert add(fresh, "carol@localhost", "carol-pw").returncode == 0
    assert add(fresh, "Dave@LocalHost", "dave-pw").returncode == 0
    assert sorted(listed(fresh)) == ["carol@localhost", "dave@localhost"]
    lines = passwd_lines(fresh)
    assert len(lines) == 2
    for ln in lines:
        name, _, h = ln.partition(":")
        assert re.match(r"^\$(y|6|2b|7)\$", h), f"not a crypt(3) hash: {h}"
    text = (fresh.data_dir / "passwd").read_text()
    assert "carol-pw" not in text and "dave-pw" not in text
    mode = stat.S_IMODE((fresh.data_dir / "passwd").stat().st_mode)
    assert mode & 0o077 == 0, oct(mode)
    r = fresh.cli("user", "del", "carol@localhost")
    assert r.returncode == 0, r.stderr
    assert listed(fresh) == ["dave@localhost"]


def test_user_add_creates_missing_data_dir(fresh):
    fresh.data_dir.rmdir()
    r = add(fresh, "carol@localhost")
    assert r.returncode == 0, r.stderr
    assert listed(fresh) == ["carol@localhost"]


def test_user_add_existing_fails_and_keeps_hash(fresh):
    assert add(fresh, "carol@localhost", "one").returncode == 0
    before = passwd_lines(fresh)
    r = add(fresh, "carol@localhost", "two")
    assert r.returncode != 0
    assert passwd_lines(fresh) == before


def test_user_del_unknown_fails(fresh):
    assert add(fresh, "carol@localhost").returncode == 0
    r = fresh.cli("user", "del", "nobody@localhost")
    assert r.returncode != 0
    assert listed(fresh) == ["carol@localhost"]


def test_user_passwd_changes_hash(fresh):
    assert add(fresh, "carol@localhost", "one").returncode == 0
    before = passwd_lines(fresh)
    r = fresh.cli("user", "passwd", "carol@localhost", "--password-stdin", input="two\n")
    assert r.returncode == 0, r.stderr
    after = passwd_lines(fresh)
    assert len(after) == 1 and after != before
    r = fresh.cli("user", "passwd", "nobody@localhost", "--password-stdin", input="x\n")
    assert r.returncode != 0


def test_empty_password_is_refused(fresh):
    r = add(fresh, "carol@localhost", "")
    assert r.returncode != 0
    assert listed(fresh) == []


@pytest.mark.parametrize(
    "name",
    [
        "../x@localhost",
        "a/b@localhost",
        "x\x01y@localhost",
        "x\x7fy@localhost",
        "x y@localhost",
        "a:b@localhost",
        "@localhost",
        "carol@",
        "carol@local/host",
        "carol@..",
        "carol@../../etc",
        "a..b@localhost",
        ".a@localhost",
        "a.@localhost",
        "x" * 65 + "@localhost",
        "",
        "carol@localhost\nmallory@localhost",
    ],
)
def test_invalid_names_rejected(fresh, name):
    r = add(fresh, name)
    assert r.returncode != 0, f"{name!r} was accepted"
    assert passwd_lines(fresh) == []
    assert not (fresh.data_dir / "mail").exists() or not any(
        (fresh.data_dir / "mail").rglob("*")
    )


def test_apop_secret_set_and_remove(make_server):
    srv = make_server()
    r = srv.cli("user", "apop-secret", "bob@localhost", "--password-stdin", input="bob-apop\n")
    assert r.returncode == 0, r.stderr
    apop = (srv.data_dir / "apop").read_text()
    assert "bob@localhost:bob-apop" in apop
    mode = stat.S_IMODE((srv.data_dir / "apop").stat().st_mode)
    assert mode & 0o077 == 0, oct(mode)
    r = srv.cli("user", "apop-secret", "bob@localhost", "--remove")
    assert r.returncode == 0, r.stderr
    assert "bob@localhost" not in (srv.data_dir / "apop").read_text()
    r = srv.cli("user", "apop-secret", "nobody@localhost", "--password-stdin", input="x\n")
    assert r.returncode != 0


# ---------------------------------------------------------------- live changes


def _rcpt_code(srv, rcpt):
    with srv.smtp() as c:
        c.ehlo()
        c.cmd("MAIL FROM:<s@example.org>", 250)
        return c.cmd(f"RCPT TO:<{rcpt}>").code


def _pop3_ok(srv, user, pw):
    with srv.pop3() as p:
        p.ok(f"USER {user}")
        return p.cmd(f"PASS {pw}").startswith("+OK")


def test_user_add_del_reach_running_server(make_server):
    srv = make_server()
    assert _rcpt_code(srv, "carol@localhost") == 550
    assert add(srv, "carol@localhost", "carol-pw").returncode == 0
    assert wait_for(lambda: _rcpt_code(srv, "carol@localhost") == 250)
    assert wait_for(lambda: _pop3_ok(srv, "carol@localhost", "carol-pw"))
    srv.deliver("carol@localhost", make_message()[0])
    assert srv.cli("user", "del", "carol@localhost").returncode == 0
    assert wait_for(lambda: _rcpt_code(srv, "carol@localhost") == 550)
    assert not _pop3_ok(srv, "carol@localhost", "carol-pw")


def test_user_passwd_reaches_running_server(make_server):
    srv = make_server()
    assert _pop3_ok(srv, "bob@localhost", "bobsecret")
    r = srv.cli("user", "passwd", "bob@localhost", "--password-stdin", input="new-bob\n")
    assert r.returncode == 0, r.stderr
    assert wait_for(lambda: _pop3_ok(srv, "bob@localhost", "new-bob"))
    assert not _pop3_ok(srv, "bob@localhost", "bobsecret")


# ---------------------------------------------------------------- config check


def _check(path):
    return cli(["config", "check", "-c", path])


def test_config_check_good(server):
    r = _check(server.conf_path)
    assert r.returncode == 0, r.stderr


def test_config_check_all_keys(tmp_path, facteur_bin):
    conf = tmp_path / "all.conf"
    write_conf(conf, {
        "hostname": "mx.test", "data_dir": str(tmp_path / "d"), "domains": "localhost, example.test",
        "postmaster": "pm@localhost", "smtp_listen": "127.0.0.1:2525, [::1]:2525",
        "pop3_listen": "127.0.0.1:1100", "max_message_size": "20M", "max_recipients": 100,
        "smtp_max_line": 512, "smtp_max_text_line": 1000, "max_errors": 20,
        "smtp_timeout": 300, "smtp_data_timeout": 600, "pop3_timeout": 600,
        "max_connections": 500, "max_connections_per_ip": 20, "apop": "yes", "vrfy": "no",
        "auth_fail_delay": 50, "workers": 4, "log_level": "debug",
    })
    r = _check(conf)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize(
    "bad_line",
    [
        "no_such_key = 1",
        "max_message_size = lots",
        "max_message_size = 10X",
        "max_recipients = -1",
        "max_recipients = 99999999999999999999",
        "apop = maybe",
        "smtp_listen = 127.0.0.1:99999",
        "smtp_listen = 127.0.0.1:0",
        "smtp_listen = not-an-address:25",
        "log_level = loud",
        "this line has no equals sign",
        "hostname = mx.test",  # duplicate of line 2
    ],
)
def test_config_check_bad_names_file_and_line(tmp_path, facteur_bin, bad_line):
    conf = tmp_path / "bad.conf"
    conf.write_text(
        "# comment\n"
        "hostname = mx.test\n"
        f"data_dir = {tmp_path / 'd'}\n"
        "\n"
        f"{bad_line}\n"
        "domains = localhost\n"
    )
    r = _check(conf)
    assert r.returncode != 0, f"{bad_line!r} accepted"
    assert f"{conf}:5".encode() in r.stderr, r.stderr


def test_config_check_missing_file(tmp_path, facteur_bin):
    r = _check(tmp_path / "absent.conf")
    assert r.returncode != 0
    assert b"absent.conf" in r.stderr


def test_serve_refuses_bad_config(tmp_path, facteur_bin):
    conf = tmp_path / "bad.conf"
    conf.write_text(f"data_dir = {tmp_path}\nmax_errors = many\n")
    r = cli(["serve", "-c", conf], timeout=10)
    assert r.returncode != 0
    assert f"{conf}:2".encode() in r.stderr
