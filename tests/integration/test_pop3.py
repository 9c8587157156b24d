"""POP3 (RFC 1939, CAPA and response codes of RFC 2449) against the real
daemon, with mail put in place over SMTP (or by hand, as another Maildir
program would)."""

import hashlib
import re
import socket
import threading
import time

import pytest

from harness import (
    HOSTNAME,
    Closed,
    asan_no_quarantine_env,
    vm_kib,
    make_message,
    pop3_unstuff,
    to_crlf,
)

ALICE = "alice@localhost"
PW = "secret"


@pytest.fixture
def mailbox(server):
    """alice gets three messages; returns (server, [sent CRLF messages])."""
    sent = []
    bodies = [
        "first message\r\n",
        ".leading dot\r\n..two dots\r\n.\r\nafter a lone dot\r\nline 5\r\n",
        "third\r\nsecond line\r\nthird line\r\n",
    ]
    for i, b in enumerate(bodies):
        msg, _ = make_message(subject=f"m{i + 1}", body=b, to=ALICE)
        server.deliver(ALICE, msg)
        sent.append(msg)
    return server, sent


def apop_digest(greeting, secret):
    m = re.search(r"<[^<>]*>", greeting)
    assert m, greeting
    return hashlib.md5((m.group(0) + secret).encode()).hexdigest()


# ---------------------------------------------------------------- greeting, auth


def test_greeting_has_unique_apop_timestamp(server):
    stamps = set()
    for _ in range(3):
        with server.pop3() as p:
            m = re.search(r"<[\x21-\x7e]+@" + re.escape(HOSTNAME) + ">", p.greeting)
            assert m, p.greeting
            stamps.add(m.group(0))
    assert len(stamps) == 3


def test_user_pass_with_full_address(server):
    with server.pop3() as p:
        p.ok(f"USER {ALICE}")
        p.ok(f"PASS {PW}")
        assert p.stat() == (0, 0)
        p.quit()


def test_login_with_bare_local_part_and_any_case(server):
    for login in ("alice", "Alice@LOCALHOST"):
        with server.pop3() as p:
            p.login(login, PW)
            p.quit()


def test_apop_with_secret_from_cli(server):
    with server.pop3() as p:
        s = p.ok(f"APOP {ALICE} {apop_digest(p.greeting, 'apop-shared-secret')}")
        assert s.startswith("+OK")
        assert p.stat() == (0, 0)
        p.quit()


def test_apop_failures_are_auth_errors(server):
    with server.pop3() as p:
        wrong = p.err(f"APOP {ALICE} {apop_digest(p.greeting, 'not-the-secret')}")
        assert wrong.startswith("-ERR [AUTH]")
        # bob has a password but no APOP secret
        nosecret = p.err(f"APOP bob@localhost {apop_digest(p.greeting, 'bobsecret')}")
        assert nosecret.startswith("-ERR [AUTH]")
        p.login(ALICE, PW)
    with server.pop3() as p:
        # the login password is not the APOP secret
        assert p.err(f"APOP {ALICE} {apop_digest(p.greeting, PW)}").startswith("-ERR [AUTH]")


def test_failed_logins_close_the_session(server):
    # max_auth_failures (default 3) failed logins per session, then close
    with server.pop3() as p:
        for _ in range(3):
            try:
                p.ok(f"USER {ALICE}")
                r = p.cmd("PASS wrong")
            except Closed:
                break
            assert r.startswith("-ERR [AUTH]"), r
        else:
            assert p.is_closed(5), "still open after 3 failed logins"
    with server.pop3() as p:  # the account itself is not locked
        p.login(ALICE, PW)


def test_apop_disabled(make_server):
    srv = make_server(apop=False)
    with srv.pop3() as p:
        assert "<" not in p.greeting, p.greeting
        p.err(f"APOP {ALICE} {'0' * 32}")
        p.login(ALICE, PW)


def test_wrong_password_and_unknown_user_answer_identically(server):
    replies = []
    for user, pw in ((ALICE, "wrong"), ("nobody@localhost", "wrong"), ("nobody", PW)):
        with server.pop3() as p:
            user_reply = p.cmd(f"USER {user}")
            assert user_reply.startswith("+OK"), "USER must not reveal unknown users"
            replies.append((user_reply, p.cmd(f"PASS {pw}")))
    assert replies[0] == replies[1] == replies[2], replies
    assert replies[0][1].startswith("-ERR [AUTH]")


def test_retry_after_failed_login(server):
    with server.pop3() as p:
        p.ok(f"USER {ALICE}")
        p.err("PASS wrong")
        p.login(ALICE, PW)
        p.quit()


def test_authorization_state_rejects_transaction_commands(server):
    with server.pop3() as p:
        for cmd in ("STAT", "LIST", "RETR 1", "DELE 1", "UIDL", "TOP 1 0", "PASS secret"):
            p.err(cmd)
        p.ok("QUIT")
        assert p.is_closed(3)


# ---------------------------------------------------------------- transaction


def test_capa(server):
    def caps(p):
        _, raw = p.multi("CAPA")
        return {ln.split()[0].upper(): ln for ln in raw.decode().split("\r\n") if ln}

    with server.pop3() as p:
        before = caps(p)
        for cap in ("TOP", "UIDL", "USER", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE",
                    "IMPLEMENTATION"):
            assert cap in before, f"CAPA lacks {cap}: {sorted(before)}"
        assert "facteur" in before["IMPLEMENTATION"].lower()
        p.login(ALICE, PW)
        after = caps(p)
        assert "TOP" in after and "UIDL" in after


def test_stat_list_retr(mailbox):
    srv, sent = mailbox
    with srv.pop3_login(ALICE) as p:
        n, total = p.stat()
        sizes = p.list()
        assert n == 3 and sorted(sizes) == [1, 2, 3]
        assert total == sum(sizes.values())
        for i, msg in enumerate(sent, 1):
            assert p.ok(f"LIST {i}") == f"+OK {i} {sizes[i]}"
            got = p.retr(i)
            assert got.endswith(msg), "RETR must return the message as sent"
            assert len(got) == sizes[i], "LIST octets must equal RETR octets"
            assert got.startswith(b"Return-Path: <sender@example.org>\r\n")
        p.quit()


def test_retr_is_dot_stuffed(mailbox):
    srv, sent = mailbox
    with srv.pop3_login(ALICE) as p:
        _, raw = p.multi("RETR 2")
        assert b"\r\n..leading dot\r\n...two dots\r\n..\r\nafter a lone dot\r\n" in raw
        assert pop3_unstuff(raw).endswith(sent[1])


def test_top(mailbox):
    srv, sent = mailbox
    with srv.pop3_login(ALICE) as p:
        full = p.retr(3)
        head, _, body = full.partition(b"\r\n\r\n")
        _, raw0 = p.multi("TOP 3 0")
        assert pop3_unstuff(raw0) == head + b"\r\n\r\n"
        _, raw2 = p.multi("TOP 3 2")
        assert pop3_unstuff(raw2) == head + b"\r\n\r\nthird\r\nsecond line\r\n"
        _, raw99 = p.multi("TOP 3 99")
        assert pop3_unstuff(raw99) == full
        _, rawdot = p.multi("TOP 2 3")
        assert rawdot.endswith(b"\r\n\r\n..leading dot\r\n...two dots\r\n..\r\n")
        p.err("TOP 3")
        p.err("TOP 3 -1")
        p.err("TOP 9 0")


def test_uidl(mailbox):
    srv, _ = mailbox
    with srv.pop3_login(ALICE) as p:
        u = p.uidl()
        assert sorted(u) == [1, 2, 3] and len(set(u.values())) == 3
        for n, uid in u.items():
            assert re.fullmatch(r"[\x21-\x7e]{1,70}", uid), uid
            assert p.ok(f"UIDL {n}") == f"+OK {n} {uid}"


def test_dele_rset_noop(mailbox):
    srv, _ = mailbox
    with srv.pop3_login(ALICE) as p:
        sizes = p.list()
        p.ok("DELE 1")
        assert p.stat() == (2, sizes[2] + sizes[3])
        p.err("DELE 1")
        p.err("RETR 1")
        p.err("LIST 1")
        p.err("TOP 1 0")
        p.err("UIDL 1")
        assert sorted(p.list()) == [2, 3]
        assert sorted(p.uidl()) == [2, 3]
        p.ok("RSET")
        assert p.stat() == (3, sum(sizes.values()))
        p.ok("NOOP")
        assert p.retr(1)


@pytest.mark.parametrize("arg", ["0", "99", "4", "4294967297", "4294967296",
                                 "18446744073709551617", "-1", "1x", ""])
def test_bad_message_numbers_are_err(mailbox, arg):
    srv, _ = mailbox
    with srv.pop3_login(ALICE) as p:
        for cmd in ("RETR", "LIST", "DELE", "UIDL"):
            if cmd in ("LIST", "UIDL") and arg == "":
                continue  # LIST / UIDL without argument are valid
            p.err(f"{cmd} {arg}")
        assert p.stat()[0] == 3, "a bad DELE argument deleted something"
        p.quit()
    assert len(srv.message_files(ALICE)) == 3


def test_deletions_happen_only_on_quit(mailbox):
    srv, _ = mailbox
    files = srv.message_files(ALICE)
    assert len(files) == 3
    p = srv.pop3_login(ALICE)
    uid1 = p.uidl()[1]
    p.ok("DELE 1")
    p.close()  # dropped without QUIT: no UPDATE state
    time.sleep(0.3)
    assert len(srv.message_files(ALICE)) == 3
    with srv.pop3_login(ALICE) as p:
        assert p.stat()[0] == 3
        p.ok("DELE 1")
        assert p.quit().startswith("+OK")
    remaining = srv.message_files(ALICE)
    assert len(remaining) == 2
    with srv.pop3_login(ALICE) as p:
        assert uid1 not in p.uidl().values()
        assert p.stat()[0] == 2


def test_maildrop_lock(mailbox):
    srv, _ = mailbox
    first = srv.pop3_login(ALICE)
    try:
        with srv.pop3() as second:
            second.ok(f"USER {ALICE}")
            r = second.cmd(f"PASS {PW}")
            assert r.startswith("-ERR [IN-USE]"), r
        with srv.pop3() as third:
            # bare local part names the same maildrop
            third.ok("USER alice")
            assert third.cmd(f"PASS {PW}").startswith("-ERR [IN-USE]")
        first.quit()
    finally:
        first.close()
    time.sleep(0.1)
    with srv.pop3_login(ALICE) as p:
        assert p.stat()[0] == 3


def test_lock_released_when_client_drops(mailbox):
    srv, _ = mailbox
    p = srv.pop3_login(ALICE)
    p.close()
    for _ in range(50):
        with srv.pop3() as q:
            q.ok(f"USER {ALICE}")
            r = q.cmd(f"PASS {PW}")
            if r.startswith("+OK"):
                break
            assert r.startswith("-ERR [IN-USE]"), r
        time.sleep(0.05)
    else:
        pytest.fail("lock still held 2.5 s after the client went away")


def test_snapshot_ignores_mail_arriving_during_session(mailbox):
    srv, _ = mailbox
    with srv.pop3_login(ALICE) as p:
        before = p.list()
        uid_before = p.uidl()
        msg, mid = make_message(subject="late", to=ALICE)
        srv.deliver(ALICE, msg)
        assert len(srv.message_files(ALICE)) == 4
        assert p.stat()[0] == 3
        assert p.list() == before and p.uidl() == uid_before
        p.err("RETR 4")
        p.quit()
    with srv.pop3_login(ALICE) as p:
        assert p.stat()[0] == 4
        assert mid.encode() in p.retr(4)


def test_uidl_stable_across_sessions_and_restart(mailbox):
    srv, _ = mailbox
    with srv.pop3_login(ALICE) as p:
        u1 = p.uidl()
        p.retr(1)  # reading may move new/ -> cur/: the UIDL must not change
        p.quit()
    with srv.pop3_login(ALICE) as p:
        assert p.uidl() == u1
        p.quit()
    srv.restart()
    with srv.pop3_login(ALICE) as p:
        assert p.uidl() == u1


def test_long_command_line_is_err_and_session_continues(mailbox):
    srv, _ = mailbox
    with srv.pop3() as p:
        p.err("USER " + "a" * 1000)
        p.login(ALICE, PW)
        p.err("NOOP " + "x" * 300)
        p.err("X" * 20000)
        p.ok("NOOP")
        assert p.stat()[0] == 3


def test_unknown_command_is_err(server):
    with server.pop3() as p:
        p.err("FROB")
        p.login(ALICE, PW)
        p.err("FROB")
        p.err("STLS")
        p.ok("NOOP")


def test_commands_are_case_insensitive(mailbox):
    srv, sent = mailbox
    with srv.pop3() as p:
        p.ok(f"user {ALICE}")
        p.ok(f"pass {PW}")
        p.ok("stat")
        _, raw = p.multi("retr 1")
        assert pop3_unstuff(raw).endswith(sent[0])
        p.ok("quit")


def test_pipelined_commands(mailbox):
    srv, _ = mailbox
    with srv.pop3() as p:
        p.send(f"USER {ALICE}\r\nPASS {PW}\r\nSTAT\r\nLIST\r\nUIDL 2\r\nNOOP\r\nQUIT\r\n")
        assert p.status().startswith("+OK")
        assert p.status().startswith("+OK")
        assert re.match(r"\+OK 3 \d+", p.status())
        assert p.status().startswith("+OK")
        assert len(p.read_multi().split(b"\r\n")) == 4
        assert p.status().startswith("+OK 2 ")
        assert p.status().startswith("+OK")
        assert p.status().startswith("+OK")
        assert p.is_closed(3)


def test_error_flood_closes_connection(server):
    with server.pop3() as p:
        p.send(b"FROB\r\n" * 200)
        data = p.read_all_until_close()
        assert data.count(b"-ERR") <= 30, data.count(b"-ERR")


def test_empty_maildrop(server):
    with server.pop3_login("bob@localhost") as p:
        assert p.stat() == (0, 0)
        assert p.list() == {}
        assert p.uidl() == {}
        p.err("RETR 1")
        p.quit()


def test_quit_in_authorization_closes(server):
    with server.pop3() as p:
        assert p.cmd("QUIT").startswith("+OK")
        assert p.is_closed(3)


def test_idle_timeout_closes_without_update(make_server):
    srv = make_server(pop3_timeout=2)
    msg, _ = make_message(to=ALICE)
    srv.deliver(ALICE, msg)
    p = srv.pop3_login(ALICE)
    p.ok("DELE 1")
    p.settimeout(8)
    t0 = time.monotonic()
    try:
        while True:
            ln = p.read_line()  # an optional "-ERR" line before the close
            assert ln.startswith(b"-ERR"), ln
    except Closed:
        pass
    elapsed = time.monotonic() - t0
    assert 1.5 <= elapsed <= 6, elapsed
    p.close()
    assert len(srv.message_files(ALICE)) == 1, "autologout must not delete"


def test_hand_delivered_maildir_files_are_served(server):
    """Files written by another Maildir program: CRLF or LF line ends, no
    S=/W= in the name, one in cur/ with flags."""
    md = server.maildir(ALICE)
    for sub in ("tmp", "new", "cur"):
        (md / sub).mkdir(parents=True, exist_ok=True)
    crlf = b"Subject: crlf\r\n\r\nbody one\r\n.dot\r\n"
    lf = b"Subject: lf\n\nbody two\n"
    (md / "new" / "1700000000.M1P1.other").write_bytes(crlf)
    (md / "cur" / "1700000001.M2P2.other:2,S").write_bytes(lf)
    (md / "new" / ".hidden").write_bytes(b"Subject: no\n\nnot a message\n")
    (md / "new" / "1700000002.M3P3.other").write_bytes(b"Subject: headers only\n")
    with server.pop3_login(ALICE) as p:
        sizes = p.list()
        assert sorted(sizes) == [1, 2, 3]
        _, top = p.multi("TOP 3 0")
        assert top == b"Subject: headers only\r\n"
        m1, m2 = p.retr(1), p.retr(2)
        assert m1 == crlf and sizes[1] == len(crlf)
        assert m2 == to_crlf(lf) and sizes[2] == len(to_crlf(lf))
        u = p.uidl()
        assert u[1] == "1700000000.M1P1.other" and u[2] == "1700000001.M2P2.other"
        assert u[3] == "1700000002.M3P3.other"
        p.ok("DELE 2")
        p.quit()
    assert not (md / "cur" / "1700000001.M2P2.other:2,S").exists()
    assert (md / "new" / ".hidden").exists()


def test_concurrent_sessions_for_different_users(server):
    server.deliver(["alice@localhost", "bob@localhost"], make_message()[0])
    errors = []

    def session(user):
        try:
            for _ in range(5):
                with server.pop3_login(user) as p:
                    assert p.stat()[0] == 1
                    p.retr(1)
                    p.quit()
        except Exception as e:  # reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=session, args=(u,))
               for u in ("alice@localhost", "bob@localhost")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors


# ---------------------------------------------------------------- more maildrop cases


def test_password_with_spaces(make_server):
    srv = make_server(start=False)
    srv.add_user("carol@localhost", "two words  and more")
    srv.start()
    with srv.pop3() as p:
        p.ok("USER carol@localhost")
        assert p.cmd("PASS two words  and more").startswith("+OK")


def test_quit_keeps_mail_that_arrived_during_session(mailbox):
    srv, _ = mailbox
    with srv.pop3_login(ALICE) as p:
        for n in (1, 2, 3):
            p.ok(f"DELE {n}")
        msg, mid = make_message(subject="arrived meanwhile", to=ALICE)
        srv.deliver(ALICE, msg)
        p.quit()
    (left,) = srv.messages(ALICE)
    assert mid.encode() in left


def test_dele_everything(mailbox):
    srv, _ = mailbox
    with srv.pop3_login(ALICE) as p:
        for n in (1, 2, 3):
            p.ok(f"DELE {n}")
        assert p.stat() == (0, 0)
        assert p.list() == {}
        p.quit()
    assert srv.message_files(ALICE) == []
    with srv.pop3_login(ALICE) as p:
        assert p.stat() == (0, 0)


def test_last_line_without_newline_octets_match(server):
    """A file from another Maildir program whose last line has no line end:
    RETR has to end the line with CRLF before ".", and LIST/STAT must count
    exactly what RETR sends (RFC 1939 5, 11)."""
    md = server.maildir(ALICE)
    for sub in ("tmp", "new", "cur"):
        (md / sub).mkdir(parents=True, exist_ok=True)
    (md / "new" / "1700000000.M1P1.other").write_bytes(b"Subject: x\n\nno newline at end")
    with server.pop3_login(ALICE) as p:
        size = p.list()[1]
        got = p.retr(1)
        assert got == b"Subject: x\r\n\r\nno newline at end\r\n"
        assert size == len(got), f"LIST says {size}, RETR sent {len(got)}"
        assert p.stat() == (1, len(got))


def test_message_file_vanishing_does_not_hang(mailbox):
    srv, _ = mailbox
    with srv.pop3_login(ALICE) as p:
        p.list()
        srv.message_files(ALICE)[0].unlink()
        p.send("RETR 1\r\n")
        p.settimeout(5)
        try:
            first = p.read_line()
        except Closed:
            first = b""
        if first.startswith(b"+OK"):
            # the +OK was already out: the only honest end is a close
            assert p.is_closed(5), "truncated RETR but the connection stays open"
        else:
            assert first.startswith(b"-ERR") or first == b"", first
            if first:
                p.ok("NOOP")
    with srv.pop3_login(ALICE) as p:
        assert p.stat()[0] == 2


def test_large_maildrop(server):
    md = server.maildir(ALICE)
    for sub in ("tmp", "new", "cur"):
        (md / sub).mkdir(parents=True, exist_ok=True)
    n = 2000
    for i in range(n):
        body = f"Subject: bulk {i}\n\nmessage {i}\n".encode()
        (md / "new" / f"{1700000000 + i}.M{i}P1.bulk").write_bytes(body)
    with server.pop3_login(ALICE, timeout=30) as p:
        assert p.stat()[0] == n
        sizes = p.list()
        assert len(sizes) == n
        assert len(set(p.uidl().values())) == n
        assert b"message 1234" in p.retr(1235)
        p.send("".join(f"DELE {i}\r\n" for i in range(1, n + 1, 2)))
        for _ in range(1, n + 1, 2):
            assert p.status().startswith("+OK")
        assert p.stat()[0] == n // 2
        p.quit()
    assert len(server.message_files(ALICE)) == n // 2


def test_half_close_after_pipelined_session(mailbox):
    srv, _ = mailbox
    with srv.pop3() as p:
        p.send(f"USER {ALICE}\r\nPASS {PW}\r\nDELE 1\r\nDELE 2\r\nQUIT\r\n")
        p.sock.shutdown(socket.SHUT_WR)
        data = p.read_all_until_close()
    lines = data.split(b"\r\n")[:-1]
    assert len(lines) == 5 and all(ln.startswith(b"+OK") for ln in lines), lines
    assert len(srv.message_files(ALICE)) == 1


def test_slow_readers_of_big_message_are_bounded(make_server):
    """Three clients RETR a 10 MiB message and do not read: the server must
    not hold the whole message in memory for each of them."""
    srv = make_server(max_message_size="20M", env=asan_no_quarantine_env())
    users = {"alice@localhost": "secret", "bob@localhost": "bobsecret",
             "pm@localhost": "pmsecret"}
    body = (b"x" * 76 + b"\r\n") * (10 * 1024 * 1024 // 78)
    msg, _ = make_message(body=body, to=ALICE)
    with srv.smtp(timeout=60) as c:
        c.ehlo()
        assert c.send_mail("s@example.org", list(users), msg).code == 250
    hwm_before = vm_kib(srv.pid, "VmHWM")
    readers = []
    try:
        for user, pw in users.items():
            p = srv.pop3_login(user, pw, timeout=60)
            p.send("RETR 1\r\n")
            readers.append(p)
        time.sleep(1.0)  # nobody reads: the server's output can go nowhere
        growth = vm_kib(srv.pid, "VmHWM") - hwm_before
        for p in readers:
            assert p.status().startswith("+OK")
            assert pop3_unstuff(p.read_multi()).endswith(msg)
            p.quit()
    finally:
        for p in readers:
            p.close()
    print(f"peak RSS growth {growth} KiB")
    assert growth < 12 * 1024, f"peak RSS grew by {growth} KiB for three stalled RETRs"
