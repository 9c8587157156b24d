"""Hostile clients: address tricks, format strings, control bytes and NULs
in every argument, huge numbers, floods without a newline, talking out of
turn. Each must cost the attacker a 4xx/5xx (or -ERR) and nothing more:
no file outside the data directory, no raw byte of theirs in the log, no
unbounded memory, and the daemon goes on serving everybody else.
"""

import socket
import threading
import time

from pathlib import Path

import pytest

import hardlib
from hardlib import make_message, parse_smtp_replies

ATTACK = "%s%n%x%p%99999999d"
CTRL = "\x01\x07\x08\x0b\x0c\x1b[31m\x1b]0;pwn\x07\x7f"


def raw_log_bytes(srv):
    """Every log byte is printable ASCII or LF: nothing a client sent can
    move a terminal's cursor or forge a line."""
    bad = sorted({b for b in srv.log_bytes() if not (0x20 <= b < 0x7f or b == 0x0a)})
    return bad


# ---------------------------------------------------------------- addresses

REJECTED_SENDERS = [
    "<;sleep 5;>",
    "<`reboot`>",
    "<$(reboot)>",
    "<|/bin/sh>",
    "<a@b;c>",
    "<a@b> <c@d>",
    "<@a:b@c",
    "<a@[127.0.0.1]>x",
]

REJECTED_RCPTS = [
    "<@a:b@c>",
    "<v%r@localhost>",
    "<r!v@localhost>",
    "<../../etc/passwd@localhost>",
    "<..@localhost>",
    "<alice/../bob@localhost>",
    "<alice@localhost/../../x>",
    "<alice@../localhost>",
    "<alice@localhost/..>",
    "<.alice@localhost>",
    "<alice.@localhost>",
    "<alice@.localhost>",
    "<\"../../x\"@localhost>",
    "<\"alice/x\"@localhost>",
    "<alice@localhost@localhost>",
    "<|/bin/sh@localhost>",
    "<postmaster@../../etc>",
    "<alice@127.0.0.1>",
    "<alice@[127.0.0.1]>",
    "<%2e%2e%2fetc@localhost>",
    "<alice%localhost@localhost>",
    "<alice@localhost%evil.example>",
    "<alice@evil.example>",
    "<../../../../../../../../tmp/facteur-pwn@localhost>",
    "<alice@../../../../../../../../tmp/facteur-pwn>",
    "<\"../../../../../../../../tmp/facteur-pwn\"@localhost>",
]


def test_address_tricks_are_5xx_and_nothing_lands_outside(make_server):
    srv = make_server(max_errors=1000)
    top = srv.root.parent
    skip = (f"{srv.root.name}/data/mail",)
    outside_before = hardlib.tree_snapshot(top, skip=skip)
    with srv.smtp() as c:
        c.ehlo()
        for s in REJECTED_SENDERS:
            t0 = time.monotonic()
            r = c.cmd(f"MAIL FROM:{s}")
            assert 500 <= r.code < 600, f"MAIL FROM:{s} -> {r.raw!r}"
            assert time.monotonic() - t0 < 2
        c.cmd("MAIL FROM:<tricks@example.org>", 250)
        for a in REJECTED_RCPTS:
            r = c.cmd(f"RCPT TO:{a}")
            assert 500 <= r.code < 600, f"RCPT TO:{a} -> {r.raw!r}"
        # a legitimate recipient so that the message really is stored
        c.cmd("RCPT TO:<alice@localhost>", 250)
        c.cmd("DATA", 354)
        msg, mid = make_message("tricks")
        c.send(hardlib.data_bytes(msg))
        assert c.reply().code == 250
        c.quit()
    assert srv.message_ids("alice@localhost") == [mid.encode()]
    # Only the known mailboxes exist; nothing new outside data/mail.
    mail = srv.data_dir / "mail"
    assert sorted(p.name for p in mail.iterdir()) == ["localhost"]
    assert sorted(p.name for p in (mail / "localhost").iterdir()) == ["alice"], \
        sorted(p.name for p in (mail / "localhost").iterdir())
    outside_after = hardlib.tree_snapshot(top, skip=skip)
    new = set(outside_after) - set(outside_before)
    assert not new, f"files created outside data/mail: {sorted(new)}"
    assert not (srv.data_dir / "etc").exists()
    assert not Path("/tmp/facteur-pwn").exists()
    assert srv.alive()


def test_tricky_but_valid_sender_is_stored_safely(make_server):
    """Shell metacharacters are legal in a local part (RFC 5321 atext):
    they may be accepted, and must then only ever be data."""
    srv = make_server()
    sender = "`id`$(id)|x&y;z@example.org"
    with srv.smtp() as c:
        c.ehlo()
        r = c.cmd(f"MAIL FROM:<{sender}>")
        if r.code == 250:
            c.cmd("RCPT TO:<bob@localhost>", 250)
            c.cmd("DATA", 354)
            msg, mid = make_message("shellish", to="bob@localhost")
            c.send(hardlib.data_bytes(msg))
            assert c.reply().code == 250
            (f,) = srv.message_files("bob@localhost")
            assert f.read_bytes().startswith(f"Return-Path: <{sender}>\n".encode())
        else:
            assert 500 <= r.code < 600, r
        c.quit()


# ---------------------------------------------------------------- log injection

SMTP_ATTACK_LINES = [
    f"EHLO {ATTACK}{CTRL}",
    f"HELO {ATTACK}{CTRL}",
    f"EHLO {ATTACK}",
    f"EHLO {ATTACK}\"\\",
    f"MAIL FROM:<{ATTACK}{CTRL}@example.org>",
    f"MAIL FROM:<\"{ATTACK}{CTRL}\"@example.org>",
    f"MAIL FROM:<x@example.org> {ATTACK}={CTRL}",
    "MAIL FROM:<%s%n%x@example.org>",
    f"RCPT TO:<{ATTACK}{CTRL}@localhost>",
    f"RCPT TO:<\"{ATTACK}{CTRL}\"@localhost>",
    "RCPT TO:<%s%n%x@localhost>",
    f"RCPT TO:<bob@localhost> {ATTACK}={CTRL}",
    f"VRFY {ATTACK}{CTRL}",
    f"EXPN {ATTACK}{CTRL}",
    f"HELP {ATTACK}{CTRL}",
    f"NOOP {ATTACK}{CTRL}",
    f"{ATTACK}{CTRL}",
    f"AUTH {ATTACK}{CTRL}",
    f"RSET {ATTACK}",
    "MAIL FROM:<x@example.org>",
    f"RCPT TO:<{ATTACK}@localhost>",
    "RSET",
]

POP3_ATTACK_LINES = [
    f"USER {ATTACK}{CTRL}",
    f"PASS {ATTACK}{CTRL}",
    "USER %s%n%x",
    "PASS %s%n%x",
    f"APOP {ATTACK}{CTRL} 0123456789abcdef0123456789abcdef",
    f"APOP alice@localhost {ATTACK}",
    f"AUTH {ATTACK}{CTRL}",
    f"CAPA {ATTACK}{CTRL}",
    f"{ATTACK}{CTRL}",
    f"LIST {ATTACK}",
]


def test_format_strings_and_control_bytes_in_every_argument(make_server):
    srv = make_server(max_errors=1000)
    with srv.smtp() as c:
        for ln in SMTP_ATTACK_LINES:
            r = c.cmd(ln.encode("latin-1"))
            assert 200 <= r.code < 600, r
            assert "%n" not in r.text or ln.startswith("MAIL") or ln.startswith("RCPT"), r
        # the session is still fine
        c.ehlo()
        msg, mid = make_message("after-attack", to="bob@localhost")
        assert c.send_mail("a@example.org", ["bob@localhost"], msg).code == 250
        c.quit()
    with srv.pop3() as p:
        for ln in POP3_ATTACK_LINES:
            p.cmd(ln.encode("latin-1"))
            time.sleep(0.06)  # let the failed-login delay pass
    # after a failed login: USER/PASS with attack strings in TRANSACTION args
    with srv.pop3() as p:
        p.login("bob@localhost")
        for ln in (f"LIST {ATTACK}{CTRL}", f"RETR {ATTACK}", f"TOP 1 {ATTACK}",
                   f"UIDL {CTRL}", f"DELE {ATTACK}", f"{ATTACK}"):
            s = p.cmd(ln.encode("latin-1"))
            assert s.startswith("-ERR"), (ln, s)
        p.quit()
    srv.assert_serves()
    bad = raw_log_bytes(srv)
    assert not bad, f"raw bytes {[hex(b) for b in bad]} in the log:\n{srv.log_tail(80)}"
    log = srv.log()
    # The attack strings reached the log as text, never as a format, and
    # escaped (a quote would let a client forge key="value" pairs).
    assert "%s%n%x" in log, srv.log_tail(80)
    assert "name=%s%n%x%p%99999999d\\x22\\x5c" in log, srv.log_tail(80)


# ---------------------------------------------------------------- NUL


def test_nul_bytes_never_truncate_an_argument(make_server):
    srv = make_server()
    with srv.smtp() as c:
        c.ehlo()
        for ln in (b"EHLO a\x00b", b"\x00\x00\x00", b"MAIL FROM:<a\x00@example.org>",
                   b"MAIL\x00 FROM:<a@example.org>"):
            r = c.cmd(ln)
            assert 500 <= r.code < 600, (ln, r)
        c.cmd("MAIL FROM:<nul@example.org>", 250)
        for ln in (b"RCPT TO:<alice@localhost\x00evil>", b"RCPT TO:<alice\x00@localhost>",
                   b"RCPT TO:<alice@localhost>\x00", b"RCPT TO:<alice@local\x00host>"):
            r = c.cmd(ln)
            assert 500 <= r.code < 600, (ln, r)
        r = c.cmd("DATA")
        assert r.code in (503, 554), r
        c.quit()
    assert srv.message_files("alice@localhost") == []
    with srv.pop3() as p:
        p.cmd(b"USER alice@localhost\x00junk")
        s = p.cmd(b"PASS secret")
        assert s.startswith("-ERR"), f"logged in with a NUL-extended user name: {s}"
    with srv.pop3() as p:
        p.ok("USER alice@localhost")
        s = p.cmd(b"PASS secret\x00junk")
        assert s.startswith("-ERR"), f"logged in with a NUL-extended password: {s}"
    srv.assert_serves()
    assert not raw_log_bytes(srv)


# ---------------------------------------------------------------- numbers

HUGE_SIZES = ["99999999999999999999", "18446744073709551616", "18446744073709551615",
              "18446744073735766016", "4294967296", "26214401", "-1", "0x10", "1e9",
              "", "+5"]


@pytest.mark.parametrize("size", HUGE_SIZES)
def test_huge_or_bad_size_parameter_is_5xx(make_server_shared, size):
    srv = make_server_shared
    with srv.smtp() as c:
        c.ehlo()
        r = c.cmd(f"MAIL FROM:<a@example.org> SIZE={size}")
        assert 500 <= r.code < 600, f"SIZE={size} -> {r.raw!r}"
        # the transaction did not start
        r = c.cmd("RCPT TO:<alice@localhost>")
        assert r.code == 503, r
        c.quit()


@pytest.fixture(scope="module")
def make_server_shared(tmp_path_factory, account_template):
    """One server for the many quick number cases."""
    import shutil
    root = tmp_path_factory.mktemp("shared")
    srv = hardlib.Server(root)
    shutil.copy2(account_template / "passwd", srv.data_dir / "passwd")
    srv.start()
    yield srv
    rc = srv.stop()
    assert rc == 0, srv.log_tail()
    assert not srv.sanitizer_reports(), srv.log_tail(80)


POP3_BAD_NUMBERS = [
    "LIST 18446744073709551617", "LIST 18446744073709551616", "LIST 4294967297",
    "LIST 4294967296", "LIST 0", "LIST -1", "LIST +1", "LIST 1x", "LIST 0x1",
    "LIST 99999999999999999999999999999999", "RETR 4294967297", "RETR 18446744073709551617",
    "TOP 4294967297 0", "TOP 18446744073709551617 0", "TOP 1 -1", "DELE 4294967297",
    "DELE 18446744073709551617", "UIDL 4294967297", "UIDL 18446744073709551617",
    "TOP 1 1 1", "LIST 1 1",
]


def test_pop3_huge_numbers_never_wrap(make_server):
    srv = make_server(max_errors=1000)
    msg, mid = make_message("numbers", to="alice@localhost")
    srv.deliver("alice@localhost", msg)
    with srv.pop3() as p:
        p.login("alice@localhost")
        for ln in POP3_BAD_NUMBERS:
            s = p.cmd(ln)
            assert s.startswith("-ERR"), f"{ln} -> {s}"
        # a huge line count for TOP: refused, or the whole message
        s = p.cmd("TOP 1 18446744073709551617")
        if s.startswith("+OK"):
            p.read_multi()
        p.ok("LIST 1")
        s = p.quit()
        assert "1 messages left" in s or " 1 " in s, s
    assert srv.message_ids("alice@localhost") == [mid.encode()]


# ---------------------------------------------------------------- floods


def flood(port, prefix, size, result, trailer):
    """Sends prefix + size bytes of 'A' (no newline), then CRLF; records
    what the server answered and whether it closed."""
    try:
        s = socket.create_connection((hardlib.HOST, port), timeout=30)
        s.settimeout(30)
        s.recv(1024)  # greeting
        if prefix:
            s.sendall(prefix)
        chunk = b"A" * 65536
        sent = 0
        try:
            while sent < size:
                s.sendall(chunk)
                sent += len(chunk)
            s.sendall(trailer)
        except (BrokenPipeError, ConnectionResetError):
            result["closed_early"] = True
        result["sent"] = sent
        s.settimeout(5)
        data = b""
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                data += d
        except (socket.timeout, ConnectionResetError):
            pass
        result["reply"] = data
        s.close()
    except Exception as e:  # reported by the test
        result["error"] = repr(e)


def rss_limit_kib(sanitized):
    # ASan keeps freed memory in quarantine and shadow: a wider bound.
    return 64 * 1024 if sanitized else 8 * 1024


@pytest.mark.parametrize("where", ["smtp-command", "smtp-data", "smtp-auth", "pop3",
                                   "pop3-auth"])
def test_ten_mib_without_newline(make_server, sanitized, where):
    srv = make_server()
    time.sleep(0.2)
    rss0 = hardlib.rss_kib(srv.pid)
    result = {}
    if where == "smtp-command":
        args = (srv.smtp_port, b"", 10 << 20, result, b"\r\nQUIT\r\n")
    elif where == "smtp-data":
        prefix = (b"EHLO flood\r\nMAIL FROM:<f@example.org>\r\nRCPT TO:<alice@localhost>\r\n"
                  b"DATA\r\n")
        args = (srv.smtp_port, prefix, 10 << 20, result, b"\r\n.\r\nQUIT\r\n")
    elif where == "smtp-auth":
        # an AUTH continuation line (RFC 4954 4 allows 12288 octets)
        args = (srv.smtp_port, b"EHLO flood\r\nAUTH PLAIN\r\n", 10 << 20, result,
                b"\r\nQUIT\r\n")
    elif where == "pop3-auth":
        args = (srv.pop3_port, b"AUTH PLAIN\r\n", 10 << 20, result, b"\r\nQUIT\r\n")
    else:
        args = (srv.pop3_port, b"", 10 << 20, result, b"\r\nQUIT\r\n")
    t = threading.Thread(target=flood, args=args, daemon=True)
    t.start()
    peak = rss0
    served = False
    deadline = time.monotonic() + 60
    while t.is_alive() and time.monotonic() < deadline:
        peak = max(peak, hardlib.rss_kib(srv.pid))
        if not served:
            # others are served while the flood goes on
            t0 = time.monotonic()
            srv.assert_serves()
            assert time.monotonic() - t0 < 5
            served = True
        time.sleep(0.05)
    t.join(5)
    assert not t.is_alive(), "flood client hung"
    assert "error" not in result, result
    peak = max(peak, hardlib.rss_kib(srv.pid))
    assert peak - rss0 < rss_limit_kib(sanitized), (
        f"RSS grew by {peak - rss0} KiB during a 10 MiB line")
    # The session gets an error for the line and goes on (QUIT answered).
    reply = result.get("reply", b"")
    assert not result.get("closed_early"), f"closed while the flood was sent: {reply[:300]!r}"
    if where == "pop3":
        lines = reply.split(b"\r\n")
        assert lines[0].startswith(b"-ERR") and lines[1].startswith(b"+OK"), reply[:300]
    elif where == "pop3-auth":
        lines = reply.split(b"\r\n")[:-1]
        # AUTH refused at once, or its continuation refused; then QUIT
        assert lines[-1].startswith(b"+OK") and lines[-2].startswith(b"-ERR"), reply[:300]
        assert not any(ln.startswith(b"+OK") for ln in lines[:-1]), reply[:300]
    elif where == "smtp-auth":
        codes = [code for code, _ in parse_smtp_replies(reply)]
        assert codes[0] == 250 and codes[-1] == 221, codes
        assert 500 <= codes[-2] < 600 and 235 not in codes, codes
    else:
        codes = [code for code, _ in parse_smtp_replies(reply)]
        if where == "smtp-data":
            assert codes[:4] == [250, 250, 250, 354], codes
            codes = codes[4:]
        assert len(codes) == 2 and codes[0] in (500, 552) and codes[1] == 221, (
            f"{where}: {codes}")
    assert srv.message_files("alice@localhost") == []
    srv.assert_serves()


# ---------------------------------------------------------------- out of turn


def test_talking_before_the_greeting(make_server):
    srv = make_server()
    s = socket.create_connection((hardlib.HOST, srv.smtp_port), timeout=10)
    with s:
        s.sendall(b"EHLO early\r\nMAIL FROM:<e@example.org>\r\nRCPT TO:<bob@localhost>\r\n"
                  b"QUIT\r\n")
        c = hardlib.LineConn.__new__(hardlib.LineConn)
        c.sock, c.buf = s, b""
        data = c.read_until_close()
    replies = parse_smtp_replies(data)
    assert replies and replies[0][0] == 220, f"something came before the greeting: {data!r}"
    codes = [code for code, _ in replies[1:]]
    # answered in order (lenient), or refused as a pre-greeting talker
    assert codes == [250, 250, 250, 221] or (codes and codes[0] >= 400), codes
    s = socket.create_connection((hardlib.HOST, srv.pop3_port), timeout=10)
    with s:
        s.sendall(b"USER bob@localhost\r\nPASS bobsecret\r\nSTAT\r\nQUIT\r\n")
        c = hardlib.LineConn.__new__(hardlib.LineConn)
        c.sock, c.buf = s, b""
        data = c.read_until_close()
    lines = data.split(b"\r\n")
    assert lines[0].startswith(b"+OK") and b"POP3" in lines[0], data
    assert all(ln.startswith((b"+OK", b"-ERR")) for ln in lines[1:-1]), data
    srv.assert_serves()


def test_data_body_sent_before_354(make_server):
    """A client that does not wait for 354 (RFC 2920 3.1 forbids it):
    with a valid recipient the message is stored once, intact; with none,
    DATA is refused and the would-be body is never stored."""
    srv = make_server()
    msg, mid = make_message("pipelined", to="bob@localhost", body=b"line 1\r\n.dot\r\n")
    with srv.smtp(greet=False) as c:
        c.send(b"EHLO p\r\nMAIL FROM:<p@example.org>\r\nRCPT TO:<bob@localhost>\r\nDATA\r\n"
               + hardlib.data_bytes(msg) + b"QUIT\r\n")
        codes = [code for code, _ in parse_smtp_replies(c.read_until_close())]
    assert codes == [220, 250, 250, 250, 354, 250, 221], codes
    (f,) = srv.message_files("bob@localhost")
    assert f.read_bytes().endswith(msg.replace(b"\r\n", b"\n"))

    body = b"Subject: never\r\n\r\nnot a message\r\n"
    with srv.smtp(greet=False) as c:
        c.send(b"EHLO p\r\nMAIL FROM:<p@example.org>\r\nRCPT TO:<nobody@localhost>\r\nDATA\r\n"
               + body + b".\r\nQUIT\r\n")
        replies = parse_smtp_replies(c.read_until_close())
    codes = [code for code, _ in replies]
    assert codes[:4] == [220, 250, 250, 550], codes
    assert 500 <= codes[4] < 600, f"DATA without recipients -> {codes[4]}"
    assert 354 not in codes, codes
    # each pipelined line got exactly one answer, in order
    assert len(codes) == 1 + 4 + 4 + 1, codes
    assert codes[-1] == 221, codes
    assert srv.message_ids("bob@localhost") == [mid.encode()]
    assert srv.message_files("alice@localhost") == []


def test_pipelined_smuggled_transaction_after_refused_data(make_server):
    """The lines after a refused DATA are commands again (RFC 2920 3.1);
    whatever they do must be exactly what those commands would do on
    their own: one more transaction, nothing from the first."""
    srv = make_server()
    with srv.smtp(greet=False) as c:
        c.send(b"EHLO p\r\nMAIL FROM:<p@example.org>\r\nRCPT TO:<nobody@localhost>\r\nDATA\r\n"
               b"MAIL FROM:<q@example.org>\r\nRCPT TO:<bob@localhost>\r\nDATA\r\n"
               b"Subject: second\r\n\r\nsecond body\r\n.\r\nQUIT\r\n")
        codes = [code for code, _ in parse_smtp_replies(c.read_until_close())]
    assert codes[:4] == [220, 250, 250, 550], codes
    assert 500 <= codes[4] < 600 and codes[-1] == 221, codes
    assert len(codes) == 1 + 4 + 3 + 1 + 1, codes
    files = srv.message_files("bob@localhost")
    # The pipelined commands were judged one by one: the message exists
    # only if DATA got 354, and its sender is the one of the transaction
    # that was open (p if the second MAIL was refused as nested).
    assert len(files) == (1 if codes[7] == 354 else 0), (codes, files)
    sender = b"<q@example.org>" if codes[5] == 250 else b"<p@example.org>"
    for f in files:
        data = f.read_bytes()
        assert b"second body" in data
        assert data.split(b"\n", 1)[0] == b"Return-Path: " + sender, (codes, data[:80])


def test_log_has_no_raw_client_bytes_after_hostile_session(make_server):
    srv = make_server(max_errors=1000)
    with srv.smtp() as c:
        c.send(b"EHLO \x1b[2J\x1b[H\r\nMAIL FROM:<a\x1b@example.org>\r\n"
               b"RCPT TO:<\xff\xfe\x9b@localhost>\r\nHELO \xc3\xa9t\xc3\xa9\r\nQUIT\r\n")
        c.read_until_close()
    with srv.pop3() as p:
        p.send(b"USER \x1b[2J\xff\xfe\r\nPASS x\r\nQUIT\r\n")
        p.read_until_close()
    bad = raw_log_bytes(srv)
    assert not bad, f"raw bytes {[hex(b) for b in bad]} in the log"


# ---------------------------------------------------------------- garbage

SMTP_VERBS = [b"EHLO", b"HELO", b"MAIL FROM:", b"RCPT TO:", b"DATA", b"RSET", b"NOOP",
              b"VRFY", b"EXPN", b"HELP", b"QUIT", b"AUTH PLAIN", b"AUTH LOGIN", b"STARTTLS",
              b"BDAT", b"ETRN", b"."]
POP3_VERBS = [b"USER", b"PASS", b"APOP", b"STAT", b"LIST", b"RETR", b"DELE", b"NOOP",
              b"RSET", b"TOP", b"UIDL", b"CAPA", b"AUTH", b"STLS", b"QUIT"]
PIECES = [b"<alice@localhost>", b"<bob@localhost>", b"<>", b"alice@localhost", b"secret",
          b"1", b"0", b"-1", b"4294967297", b"%s%n", b"\x00", b"\r", b"\n", b"\xff",
          b"\x1b[2J", b" ", b"  ", b"\t", b"SIZE=1", b"BODY=8BITMIME", b"<", b">", b":",
          b"=", b"\"", b"\\", b"A" * 600, b"AGFsaWNlAHNlY3JldA==", b"*", b"@", b"."]


def garbage_line(r, verbs):
    parts = [r.choice(verbs)] if r.random() < 0.8 else []
    for _ in range(r.randint(0, 4)):
        parts.append(r.choice(PIECES) if r.random() < 0.8 else
                     bytes(r.randrange(256) for _ in range(r.randint(1, 12))))
    return b" ".join(parts) + (b"\r\n" if r.random() < 0.9 else b"\n")


def test_random_garbage_sessions_never_hurt_the_daemon(make_server, rng):
    """Seeded random command soup (valid verbs with hostile arguments,
    random bytes, stray CR/LF/NUL), pipelined, on 240 sessions; the daemon
    must survive, keep serving, and keep its log clean."""
    srv = make_server(max_errors=50)
    for i in range(240):
        smtp = i % 2 == 0
        c = hardlib.LineConn(srv.smtp_port if smtp else srv.pop3_port, timeout=5)
        with c:
            if not smtp and rng.random() < 0.5:
                c.send(b"USER bob@localhost\r\nPASS bobsecret\r\n")
            lines = [garbage_line(rng, SMTP_VERBS if smtp else POP3_VERBS)
                     for _ in range(rng.randint(1, 25))]
            try:
                c.send(b"".join(lines))
                # half-close: the daemon answers what it got, then closes
                c.sock.shutdown(socket.SHUT_WR)
                assert c.closed_within(5), f"session {i} not closed after EOF: {lines!r}"
            except hardlib.Closed:
                pass
        assert srv.alive(), f"daemon died after garbage session {i}: {lines!r}"
    srv.assert_serves()
    bad = raw_log_bytes(srv)
    assert not bad, f"raw bytes {[hex(b) for b in bad]} in the log"
