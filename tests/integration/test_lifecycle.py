"""The daemon's life: listener lines on stdout, SIGTERM (exit 0, nothing
lost), restart, ports in use, several listeners, log hygiene and the
quick start without a configuration file."""

import hashlib
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

from harness import (
    FACTEUR_BIN,
    HOST,
    Closed,
    POP3Client,
    SMTPClient,
    free_port,
    make_message,
    port_is_free,
)

BOB = "bob@localhost"


def wait_lines(path, want, proc, timeout=15):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        lines = path.read_text(errors="replace").splitlines() if path.exists() else []
        if set(want) <= set(lines):
            return lines
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    raise AssertionError(f"missing {want}; stdout={path.read_text()!r}")


# ---------------------------------------------------------------- stdout, ports


def test_stdout_has_exactly_one_line_per_listener(server):
    lines = server.out_path.read_text().splitlines()
    assert sorted(lines) == sorted(
        [f"smtp {HOST}:{server.smtp_port}", f"pop3 {HOST}:{server.pop3_port}"]
    )


def test_several_listeners(make_server):
    srv = make_server(start=False)
    s1, s2, p1 = free_port(), free_port(), free_port()
    srv.extra.update(smtp_listen=f"{HOST}:{s1}, {HOST}:{s2}", pop3_listen=f"{HOST}:{p1}")
    srv.smtp_port, srv.pop3_port = s1, p1
    srv.write_conf()
    srv._spawn()
    wait_lines(srv.out_path, [f"smtp {HOST}:{s2}"], srv.proc)
    for port in (s1, s2):
        with SMTPClient(port) as c:
            assert c.greeting.code == 220
            c.quit()
    with POP3Client(p1) as p:
        p.quit()


def test_port_in_use_is_an_error(make_server):
    busy = socket.socket()
    busy.bind((HOST, 0))
    busy.listen(1)
    try:
        srv = make_server(start=False)
        srv.extra["smtp_listen"] = f"{HOST}:{busy.getsockname()[1]}"
        srv.write_conf()
        p = subprocess.run([str(FACTEUR_BIN), "serve", "-c", str(srv.conf_path)],
                           capture_output=True, timeout=10)
        assert p.returncode != 0
        assert str(busy.getsockname()[1]).encode() in p.stderr, p.stderr
        assert b"smtp" not in p.stdout or b"pop3" not in p.stdout
    finally:
        busy.close()


# ---------------------------------------------------------------- SIGTERM


def test_sigterm_exits_zero_promptly(server):
    t0 = time.monotonic()
    assert server.stop() == 0
    assert time.monotonic() - t0 < 3


def test_sigint_exits_zero(server):
    server.proc.send_signal(signal.SIGINT)
    assert server.proc.wait(5) == 0
    server.proc = None


def test_sigterm_with_idle_sessions(make_server):
    srv = make_server()
    srv.deliver("alice@localhost", make_message()[0])
    smtp = srv.smtp()
    smtp.ehlo()
    pop = srv.pop3_login("alice@localhost")
    pop.ok("DELE 1")
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    r = smtp.reply()
    assert r.code == 421 and r.enhanced == "4.3.2", r
    assert smtp.is_closed(5)
    try:
        ln = pop.read_line()
        assert ln.startswith(b"-ERR"), ln
        assert pop.is_closed(5)
    except Closed:
        pass
    rc = srv.proc.wait(5)  # no second signal: wait for the exit
    srv.proc = None
    assert rc == 0 and time.monotonic() - t0 < 5
    assert len(srv.message_files("alice@localhost")) == 1, "no UPDATE without QUIT"


def test_sigterm_under_load_loses_nothing(make_server):
    srv = make_server(max_connections_per_ip=100)
    accepted = []
    lock = threading.Lock()
    stop = threading.Event()

    def sender(n):
        while not stop.is_set():
            try:
                with srv.smtp(timeout=10) as c:
                    c.ehlo()
                    for _ in range(1000):
                        msg, mid = make_message(subject=f"load {n}")
                        r = c.send_mail("sender@example.org", [BOB], msg)
                        if r.code == 250:
                            with lock:
                                accepted.append(mid)
                        else:
                            return
            except (Closed, OSError, AssertionError):
                return

    threads = [threading.Thread(target=sender, args=(i,), daemon=True) for i in range(8)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    rc = srv.proc.wait(15)
    elapsed = time.monotonic() - t0
    stop.set()
    for t in threads:
        t.join(15)
    srv.proc = None
    assert rc == 0, srv.log_tail()
    assert elapsed < 10
    assert len(accepted) > 10
    stored = srv.messages(BOB)
    joined = b"\n".join(stored)
    for mid in accepted:
        assert joined.count(mid.encode()) == 1, f"{mid} got 250 but is not on disk once"
    assert srv.all_tmp_files() == []


def test_sigterm_during_data(make_server):
    srv = make_server()
    c = srv.smtp()
    c.ehlo()
    c.cmd("MAIL FROM:<sender@example.org>", 250)
    c.cmd("RCPT TO:<bob@localhost>", 250)
    c.cmd("DATA", 354)
    msg, mid = make_message()
    c.send(msg[:20])
    srv.proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    try:
        c.send(msg[20:] + b"\r\n.\r\n")
        r = c.reply()
        codes = [r.code]
        if r.code == 250:
            codes.append(c.reply().code)  # then the shutdown 421
    except (Closed, OSError):
        codes = []
    rc = srv.proc.wait(15)
    srv.proc = None
    assert rc == 0
    got = srv.messages(BOB)
    if codes and codes[0] == 250:
        assert len(got) == 1 and mid.encode() in got[0]
    else:
        assert got == [] and (not codes or codes[0] == 421), codes


def test_restart_keeps_mail(make_server):
    srv = make_server()
    msg, mid = make_message()
    srv.deliver(BOB, msg)
    srv.restart()
    with srv.pop3_login(BOB) as p:
        assert mid.encode() in p.retr(1)


# ---------------------------------------------------------------- log hygiene


def test_log_lines_and_no_secrets(make_server):
    srv = make_server(start=False)
    srv.add_user("carol@localhost", "Pa55-unique-XYZ")
    srv.start()
    srv.deliver("carol@localhost", make_message()[0])
    with srv.pop3() as p:
        p.ok("USER carol@localhost")
        p.err("PASS Wr0ng-unique-QQQ")
        p.login("carol@localhost", "Pa55-unique-XYZ")
        p.quit()
    time.sleep(0.2)
    log = srv.log()
    assert "Pa55-unique-XYZ" not in log and "Wr0ng-unique-QQQ" not in log
    assert "carol@localhost" in log
    lines = [ln for ln in log.splitlines() if not ln.startswith("----- start")]
    assert lines and all(len(ln) < 2000 for ln in lines)
    assert any(re.search(r"\bsmtp\b", ln) for ln in lines)
    assert any(re.search(r"\bpop3\b", ln) for ln in lines)


def test_log_escapes_client_bytes(server):
    with server.smtp() as c:
        c.send(b"EHLO evil\x1b[31m\x07.test\r\n")
        c.reply()
        c.send(b"MAIL FROM:<\xff\xfe\x1b[2J@example.org>\r\n")
        c.reply()
        c.quit()
    time.sleep(0.2)
    raw = server.log_path.read_bytes()
    assert b"\x1b" not in raw and b"\x07" not in raw


# ---------------------------------------------------------------- quick start


def _quick_start(tmp_path, env, cwd):
    """Starts `facteur serve` without -c; returns (proc, stdout path, stderr
    path), or skips when the quick-start ports are taken."""
    if not (port_is_free(2525) and port_is_free(1100)):
        pytest.skip("quick-start ports 2525/1100 are in use")
    out, err = tmp_path / "out", tmp_path / "err"
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = subprocess.Popen([str(FACTEUR_BIN), "serve"], stdout=o, stderr=e,
                                stdin=subprocess.DEVNULL, cwd=cwd, env=env)
    try:
        wait_lines(out, ["smtp 127.0.0.1:2525", "pop3 127.0.0.1:1100"], proc)
    except AssertionError:
        proc.kill()
        proc.wait(5)
        if b"in use" in err.read_bytes().lower():
            pytest.skip("quick-start ports taken meanwhile")
        raise
    return proc, out, err


def _stop(proc):
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0


def test_quick_start(tmp_path, facteur_bin):
    home = tmp_path / "home"
    env = dict(os.environ, FACTEUR_HOME=str(home))
    proc, out, err = _quick_start(tmp_path, env, tmp_path)
    try:
        first = out.read_text() + err.read_text()
        assert (home / "passwd").exists(), "data not in $FACTEUR_HOME"
        assert not (tmp_path / "facteur-data").exists()
        name = re.search(r"user:\s+(\S+@\S+)", first)
        pw = re.search(r"password:\s+(\S+)", first)
        assert name and pw, first
        name, pw = name.group(1), pw.group(1)
        assert name + ":" in (home / "passwd").read_text()
        assert pw not in (home / "passwd").read_text()
        with POP3Client(1100) as p:
            p.login(name, pw)
            p.quit()
        with POP3Client(1100) as p:  # APOP with the password as secret
            digest = hashlib.md5((re.search(r"<[^>]*>", p.greeting).group(0) + pw).encode())
            p.ok(f"APOP {name} {digest.hexdigest()}")
            p.quit()
        with SMTPClient(2525) as c:
            c.ehlo()
            assert c.send_mail("s@example.org", [name], make_message()[0]).code == 250
            c.quit()
        assert len(list((home / "mail").glob("*/*/new/*"))) == 1
    finally:
        _stop(proc)
    proc, out, err = _quick_start(tmp_path, env, tmp_path)
    try:
        again = out.read_text() + err.read_text()
        assert pw not in again, "the demo password is printed only once"
    finally:
        _stop(proc)


def test_quick_start_default_data_dir(tmp_path, facteur_bin):
    env = {k: v for k, v in os.environ.items() if k != "FACTEUR_HOME"}
    proc, out, err = _quick_start(tmp_path, env, tmp_path)
    try:
        assert (tmp_path / "facteur-data" / "passwd").exists()
    finally:
        _stop(proc)
