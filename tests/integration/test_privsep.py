"""Three processes: the network process (sessions, parsers, TLS, relay),
the auth process, which alone reads the account files and runs crypt(3),
and the store process, which alone touches the Maildirs (doc/design.md,
"Processes"). Checked from outside, as an administrator
would: the process tree, what the network process's memory holds, and
what happens when either process dies."""

import hashlib
import os
import re
import signal
import smtplib
import time

import pytest

from harness import ACCOUNTS, APOP_SECRETS, HOST


def helper_pid(srv, which):
    m = re.search(rf"server {which}-process pid=(\d+)", srv.log())
    assert m, srv.log_tail()
    return int(m.group(1))


def auth_pid(srv):
    return helper_pid(srv, "auth")


def proc_status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for ln in f:
            k, _, v = ln.partition(":")
            fields[k] = v.strip()
    return fields


def gone(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1].startswith("Z")
    except FileNotFoundError:
        return True


def memory_holds(pid, needles):
    """{needle: found} over every readable mapping of pid (read through
    /proc/PID/mem: allowed to the parent, or to root)."""
    found = {n: False for n in needles}
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for ln in maps:
            parts = ln.split()
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            path = parts[5] if len(parts) > 5 else ""
            # Sanitizer shadow and reserved ranges are huge and empty.
            if "r" not in parts[1] or hi - lo > 256 << 20 or path.startswith("[v"):
                continue
            try:
                mem.seek(lo)
                chunk = mem.read(hi - lo)
            except OSError:
                continue
            for n in needles:
                found[n] = found[n] or n in chunk
    return found


@pytest.mark.parametrize("which", ["auth", "store"])
def test_each_helper_is_a_separate_undumpable_child(server, which):
    pid = helper_pid(server, which)
    st = proc_status(pid)
    assert int(st["PPid"]) == server.pid
    with open(f"/proc/{pid}/comm") as f:
        assert f.read().strip() == f"facteur-{which}"
    with open(f"/proc/{server.pid}/comm") as f:
        assert not f.read().startswith("facteur-")
    # Not dumpable: /proc/PID files of a non-dumpable process belong to root.
    assert os.stat(f"/proc/{pid}/environ").st_uid == 0
    if f"{which} sandbox landlock-abi=" in server.log():
        assert st["NoNewPrivs"] == "1"
        assert proc_status(server.pid)["NoNewPrivs"] == "1"
    # Each holds one socket to the network process, not the other's.
    socks = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
    assert sum(1 for t in socks if t.startswith("socket:")) == 1, socks


def test_logins_work_and_the_hashes_stay_in_the_auth_process(server):
    alice, bob = "alice@localhost", "bob@localhost"
    # Every way in: POP3 USER/PASS and APOP, SMTP AUTH.
    c = server.pop3_login(bob)
    c.quit()
    c = server.pop3()
    stamp = re.search(r"<[^>]*>", c.greeting).group(0)
    digest = hashlib.md5((stamp + APOP_SECRETS[alice]).encode()).hexdigest()
    c.ok(f"APOP {alice} {digest}")
    c.quit()
    s = smtplib.SMTP(HOST, server.smtp_port, timeout=10)
    s.ehlo()
    s.login(bob, ACCOUNTS[bob])
    s.quit()
    with pytest.raises(smtplib.SMTPAuthenticationError):
        s = smtplib.SMTP(HOST, server.smtp_port, timeout=10)
        s.ehlo()
        s.login(bob, "wrong")
    hashes = [ln.split(":", 1)[1].encode()
              for ln in (server.data_dir / "passwd").read_text().splitlines() if ":" in ln]
    assert len(hashes) == len(ACCOUNTS)
    # APOP was used with a digest only: the secret never crossed the wire.
    secret = APOP_SECRETS[alice].encode()
    found = memory_holds(server.pid, hashes + [secret, alice.encode()])
    assert found[alice.encode()], "the scan must see what the process does hold"
    assert not any(found[h] for h in hashes), "a password hash in the network process"
    assert not found[secret], "the APOP secret in the network process"
    if os.geteuid() == 0:  # root may read the undumpable auth process
        held = memory_holds(auth_pid(server), hashes[:1])
        assert held[hashes[0]], "the scan must find the hash where it is"


@pytest.mark.parametrize("which", ["auth", "store"])
def test_killing_a_helper_stops_the_server_cleanly(server, which):
    pid = helper_pid(server, which)
    other = helper_pid(server, "store" if which == "auth" else "auth")
    os.kill(pid, signal.SIGKILL)
    rc = server.proc.wait(15)
    server.proc = None
    assert rc == 1
    log = server.log()
    assert f"{which} process-lost" in log and "server stopped" in log
    assert "killed signal=9" in log
    assert gone(other)


def test_killing_the_server_ends_the_helpers(server):
    pids = [helper_pid(server, "auth"), helper_pid(server, "store")]
    os.kill(server.pid, signal.SIGKILL)
    server.proc.wait(10)
    server.proc = None
    deadline = time.monotonic() + 10
    while not all(gone(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert all(gone(p) for p in pids)
    # Nothing holds the ports: a new server starts on them.
    server.start(keep_ports=True)
    server.deliver("bob@localhost", b"Subject: again\r\n\r\nafter a kill\r\n")


def test_accounts_added_and_removed_while_running(server):
    server.add_user("newbie@localhost", "n3wbie-pass")
    # At once: an unknown recipient makes the auth process look again.
    server.deliver("newbie@localhost", b"Subject: hi\r\n\r\nwelcome\r\n")
    c = server.pop3_login("newbie@localhost", "n3wbie-pass")
    assert c.stat()[0] == 1
    c.quit()
    r = server.cli("user", "del", "newbie@localhost")
    assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + 5
    while True:
        with server.smtp() as c:
            c.ehlo()
            c.cmd("MAIL FROM:<x@example.org>", 250)
            code = c.cmd("RCPT TO:<newbie@localhost>").code
        if code == 550 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert code == 550


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to change user")
def test_started_as_root_both_processes_become_the_user(account_template):
    """The deployment of dist/facteur.service: started as root with
    user = nobody, both processes run as nobody and still deliver and
    serve mail from a data directory that nobody owns."""
    import pwd
    import shutil
    import tempfile
    from harness import Server
    nobody = pwd.getpwnam("nobody")
    root = tempfile.mkdtemp(prefix="facteur-root-", dir="/tmp")
    try:
        os.chmod(root, 0o755)
        srv = Server(root, {"user": "nobody"})
        shutil.copy2(account_template / "passwd", srv.data_dir / "passwd")
        for dirpath, _, files in os.walk(srv.data_dir):
            os.chown(dirpath, nobody.pw_uid, nobody.pw_gid)
            for f in files:
                os.chown(os.path.join(dirpath, f), nobody.pw_uid, nobody.pw_gid)
        srv.start()
        try:
            # The administrator, as root, adds an account: the files are
            # the server's user's, not root's.
            srv.add_user("root-made@localhost", "r00t-made")
            for p in (srv.data_dir / "passwd", srv.data_dir / "mail" / "localhost" / "root-made"):
                assert p.stat().st_uid == nobody.pw_uid, p
            srv.deliver("root-made@localhost", b"Subject: new\r\n\r\nhello\r\n")
            srv.deliver("bob@localhost", b"Subject: as nobody\r\n\r\nhello\r\n")
            c = srv.pop3_login("bob@localhost")
            assert c.stat()[0] == 1
            c.quit()
            for pid in (srv.pid, auth_pid(srv), helper_pid(srv, "store")):
                st = proc_status(pid)
                assert st["Uid"].split() == [str(nobody.pw_uid)] * 4, st["Uid"]
                assert st["Gid"].split() == [str(nobody.pw_gid)] * 4, st["Gid"]
                assert st["Groups"] == "", st["Groups"]
        finally:
            assert srv.stop() == 0, srv.log_tail()
    finally:
        shutil.rmtree(root, ignore_errors=True)
