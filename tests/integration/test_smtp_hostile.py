"""Hostile SMTP clients: over-long lines, endless lines, bare CR/LF, SMTP
smuggling, error floods, idle clients, NUL bytes, header injection."""

import re
import socket
import threading
import time

import pytest

from harness import (
    Closed,
    LineConn,
    asan_no_quarantine_env,
    vm_kib,
    make_message,
    smtp_data_bytes,
    strip_trace,
    to_lf,
)

SENDER = "sender@example.org"
MiB = 1024 * 1024


def parse_replies(data):
    """Splits raw reply bytes into a list of (code, last line text)."""
    out = []
    for ln in data.split(b"\r\n"):
        if not ln:
            continue
        m = re.match(rb"^(\d{3})([ -])(.*)$", ln, re.S)
        assert m, f"malformed reply line {ln!r} in {data!r}"
        if m.group(2) == b" ":
            out.append((int(m.group(1)), m.group(3).decode("utf-8", "replace")))
    return out


def assert_server_still_works(srv, rcpt="bob@localhost"):
    msg, mid = make_message(subject="after the storm")
    with srv.smtp() as c:
        c.ehlo()
        assert c.send_mail(SENDER, [rcpt], msg).code == 250
        c.quit()
    assert any(mid.encode() in m for m in srv.messages(rcpt))


# ---------------------------------------------------------------- line limits


def test_command_line_over_512_is_500_552_and_session_continues(server):
    with server.smtp() as c:
        c.ehlo()
        ok = b"NOOP " + b"a" * (512 - 7) + b"\r\n"
        assert len(ok) == 512
        c.send(ok)
        assert c.reply().code == 250, "a 512-octet command line is legal"
        long = b"NOOP " + b"a" * (513 - 7) + b"\r\n"
        c.send(long)
        r = c.reply()
        assert r.code == 500 and r.enhanced == "5.5.2", r
        c.cmd("NOOP", 250)
        c.send(b"MAIL FROM:<" + b"x" * 100000 + b"@example.org>\r\n")
        r = c.reply()
        assert r.code == 500 and r.enhanced == "5.5.2", r
        msg, mid = make_message()
        assert c.send_mail(SENDER, ["bob@localhost"], msg).code == 250


def test_text_line_over_1000_rejects_message_session_continues(server):
    bad, bad_mid = make_message(body=b"z" * 999 + b"\r\nnext\r\n")  # 1001 with CRLF
    good, good_mid = make_message()
    with server.smtp() as c:
        c.ehlo()
        c.cmd(f"MAIL FROM:<{SENDER}>", 250)
        c.cmd("RCPT TO:<bob@localhost>", 250)
        c.cmd("DATA", 354)
        c.send(smtp_data_bytes(bad))
        r = c.reply()
        assert r.code == 500 and r.enhanced == "5.5.2", r
        c.cmd("NOOP", 250)
        assert c.send_mail(SENDER, ["bob@localhost"], good).code == 250
    got = server.messages("bob@localhost")
    assert len(got) == 1 and good_mid.encode() in got[0]


def _blast(port, prefix, nbytes, suffix=b""):
    """Sends prefix + nbytes of 'A' (no newline) + suffix (which ends with
    QUIT) while reading replies; returns (replies bytes, closed_by_server)."""
    c = LineConn(port, timeout=20)
    received = bytearray()
    closed = threading.Event()

    def reader():
        c.sock.settimeout(20)
        while True:
            try:
                chunk = c.sock.recv(65536)
            except (ConnectionResetError, OSError):
                closed.set()
                return
            if not chunk:
                closed.set()
                return
            received.extend(chunk)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        c.sock.sendall(prefix)
        block = b"A" * 65536
        sent = 0
        while sent < nbytes and not closed.is_set():
            c.sock.sendall(block)
            sent += len(block)
        c.sock.sendall(suffix)
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        pass
    # the suffix ends with QUIT: wait for the server to answer and close
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not closed.is_set():
        time.sleep(0.05)
    was_closed = closed.is_set()
    c.close()
    t.join(5)
    return bytes(received), was_closed


def test_ten_mib_without_newline_in_command_state(make_server):
    server = make_server(env=asan_no_quarantine_env())
    with server.smtp() as warm:
        warm.ehlo()
    hwm_before = vm_kib(server.pid, "VmHWM")
    received, closed = _blast(server.smtp_port, b"", 10 * MiB, b"\r\nNOOP\r\nQUIT\r\n")
    replies = parse_replies(received)
    assert replies and replies[0][0] == 220
    # either an error reply (500 line too long / 421) or cut off before QUIT
    codes = [code for code, _ in replies]
    assert any(c in (421, 500) for c in codes[1:]) or 221 not in codes, codes
    assert server.alive()
    growth = vm_kib(server.pid, "VmHWM") - hwm_before
    print(f"peak RSS growth {growth} KiB")
    assert growth < 8 * 1024, f"peak RSS grew by {growth} KiB: the line was buffered"
    assert_server_still_works(server)


def test_ten_mib_without_newline_in_data_state(make_server):
    srv = make_server(max_message_size="1M", env=asan_no_quarantine_env())
    with srv.smtp() as warm:
        warm.ehlo()
    hwm_before = vm_kib(srv.pid, "VmHWM")
    prefix = (
        b"EHLO c\r\nMAIL FROM:<sender@example.org>\r\nRCPT TO:<bob@localhost>\r\nDATA\r\n"
        b"Subject: endless\r\n\r\n"
    )
    received, closed = _blast(srv.smtp_port, prefix, 10 * MiB, b"\r\n.\r\nQUIT\r\n")
    replies = parse_replies(received)
    codes = [c for c, _ in replies]
    assert codes[:5] == [220, 250, 250, 250, 354], codes
    assert any(c in (421, 500, 552, 554) for c in codes[5:]) or 221 not in codes, codes
    assert 250 not in codes[5:], "an over-long, over-size message was accepted"
    growth = vm_kib(srv.pid, "VmHWM") - hwm_before
    print(f"peak RSS growth {growth} KiB")
    assert growth < 8 * 1024, f"peak RSS grew by {growth} KiB with max_message_size=1M"
    assert srv.messages("bob@localhost") == []
    assert_server_still_works(srv)


# ---------------------------------------------------------------- line ends


def test_bare_lf_command_lines_accepted(server):
    msg, mid = make_message()
    with server.smtp() as c:
        for line, code in (
            (b"HELO x\n", 250),
            (b"MAIL FROM:<sender@example.org>\n", 250),
            (b"RCPT TO:<bob@localhost>\n", 250),
            (b"DATA\n", 354),
        ):
            c.send(line)
            assert c.reply().code == code, line
        c.send(smtp_data_bytes(msg))
        assert c.reply().code == 250
        c.send(b"QUIT\n")
        assert c.reply().code == 221
    (stored,) = server.messages("bob@localhost")
    assert strip_trace(stored)[1] == to_lf(msg)


SMUGGLE_SEQUENCES = [
    b"\n.\n",
    b"\n.\r\n",
    b"\r.\r",
    b"\r.\n",
    b"\n.\r",
    b"\r\n.\n",
    b"\r.\r\n",
    b"\r\n.\r",
    b"\r\n\0.\r\n",
    b"\r\n.\0\r\n",
]
SMUGGLED = b"MAIL FROM:<evil@x>\r\nRCPT TO:<bob@localhost>\r\nDATA\r\nsmuggled\r\n.\r\n"


@pytest.mark.parametrize("one_write", [False, True], ids=["stepwise", "one-write"])
@pytest.mark.parametrize("seq", SMUGGLE_SEQUENCES, ids=[repr(s)[2:-1] for s in SMUGGLE_SEQUENCES])
def test_smtp_smuggling_is_not_possible(server, seq, one_write):
    payload = b"From: <sender@example.org>\r\nSubject: smuggle\r\n\r\nhello" + seq + SMUGGLED
    with server.smtp() as c:
        if one_write:
            c.send(
                b"EHLO client.test\r\nMAIL FROM:<sender@example.org>\r\n"
                b"RCPT TO:<bob@localhost>\r\nDATA\r\n" + payload + b"QUIT\r\n"
            )
            rest = c.read_all_until_close()
            codes = [code for code, _ in parse_replies(rest)]
            assert codes[:4] == [250, 250, 250, 354], codes
            codes = codes[4:]
        else:
            c.ehlo()
            c.cmd("MAIL FROM:<sender@example.org>", 250)
            c.cmd("RCPT TO:<bob@localhost>", 250)
            c.cmd("DATA", 354)
            c.send(payload)
            first = c.reply()
            c.send(b"QUIT\r\n")
            rest = c.read_all_until_close()
            codes = [first.code] + [code for code, _ in parse_replies(rest)]
    # exactly one answer to the whole DATA, then QUIT's 221: the smuggled
    # MAIL/RCPT/DATA were never seen as commands
    assert len(codes) == 2 and codes[1] == 221, codes
    has_bare = b"\r" in seq.replace(b"\r\n", b"") or b"\n" in seq.replace(b"\r\n", b"")
    if has_bare:
        assert codes[0] == 550, f"bare CR/LF in a message must be rejected: {codes}"
    else:
        assert codes[0] in (250, 500, 550, 554), codes
    time.sleep(0.2)
    got = server.messages("bob@localhost")
    if codes[0] == 250:
        assert len(got) == 1
        assert b"hello" in got[0] and b"smuggled" in got[0], "message was split"
        assert not got[0].startswith(b"Return-Path: <evil@x>")
    else:
        assert got == []


def test_bare_lf_in_data_is_550_5_5_2(server):
    with server.smtp() as c:
        c.ehlo()
        c.cmd(f"MAIL FROM:<{SENDER}>", 250)
        c.cmd("RCPT TO:<bob@localhost>", 250)
        c.cmd("DATA", 354)
        c.send(b"Subject: x\r\n\r\nbare\nlf\r\n.\r\n")
        r = c.reply()
        assert r.code == 550 and r.enhanced == "5.5.2", r
        c.cmd("NOOP", 250)


def test_byte_at_a_time_session(server):
    msg, mid = make_message(body=".dot\r\nplain\r\n")
    blob = (
        b"EHLO trickle.test\r\nMAIL FROM:<sender@example.org>\r\n"
        b"RCPT TO:<bob@localhost>\r\nDATA\r\n" + smtp_data_bytes(msg) + b"QUIT\r\n"
    )
    with server.smtp() as c:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(blob)):
            c.sock.send(blob[i : i + 1])
        codes = [code for code, _ in parse_replies(c.read_all_until_close())]
    assert codes == [250, 250, 250, 354, 250, 221]
    (stored,) = server.messages("bob@localhost")
    assert strip_trace(stored)[1] == to_lf(msg)


# ---------------------------------------------------------------- abuse


def test_too_many_errors_is_421_and_close(make_server):
    srv = make_server(max_errors=5)
    with srv.smtp() as c:
        c.ehlo()
        codes = []
        for _ in range(10):
            try:
                r = c.cmd("FROB")
            except Closed:
                break
            codes.append(r.code)
            if r.code == 421:
                break
        assert codes and codes[-1] == 421, codes
        assert 4 <= len(codes) <= 7, codes
        assert all(code == 500 for code in codes[:-1])
        assert c.is_closed(5)
    assert_server_still_works(srv)


def test_error_flood_in_one_write_is_cut_off(server):
    with server.smtp() as c:
        c.send(b"FROB\r\n" * 1000)
        codes = [code for code, _ in parse_replies(c.read_all_until_close())]
        assert codes[-1] == 421 and len(codes) <= 30, codes


def test_idle_timeout_is_421(make_server):
    srv = make_server(smtp_timeout=2)
    with srv.smtp() as c:
        t0 = time.monotonic()
        c.settimeout(8)
        r = c.reply()
        elapsed = time.monotonic() - t0
        assert r.code == 421, r
        assert 1.5 <= elapsed <= 6, elapsed
        assert c.is_closed(3)


def test_data_timeout_is_421_and_nothing_delivered(make_server):
    srv = make_server(smtp_timeout=30, smtp_data_timeout=2)
    with srv.smtp() as c:
        c.ehlo()
        c.cmd(f"MAIL FROM:<{SENDER}>", 250)
        c.cmd("RCPT TO:<bob@localhost>", 250)
        c.cmd("DATA", 354)
        c.send(b"Subject: slow\r\n\r\npartial line")
        c.settimeout(8)
        r = c.reply()
        assert r.code == 421, r
        assert c.is_closed(3)
    assert srv.messages("bob@localhost") == []


def test_client_vanishing_mid_data_leaves_nothing(server):
    c = server.smtp()
    c.ehlo()
    c.cmd(f"MAIL FROM:<{SENDER}>", 250)
    c.cmd("RCPT TO:<bob@localhost>", 250)
    c.cmd("DATA", 354)
    c.send(b"Subject: cut\r\n\r\n" + b"half a message\r\n" * 1000)
    c.close()
    time.sleep(0.3)
    assert server.messages("bob@localhost") == []
    assert server.tmp_files("bob@localhost") == []
    assert_server_still_works(server)


def test_nul_and_bare_cr_in_commands_are_rejected(server):
    with server.smtp() as c:
        c.ehlo()
        for bad in (
            b"MAIL FROM:<a\0b@example.org>\r\n",
            b"MAIL FROM:<a\rb@example.org>\r\n",
            b"NO\0OP\r\n",
        ):
            c.send(bad)
            r = c.reply()
            assert 500 <= r.code <= 501, (bad, r)
        c.cmd("NOOP", 250)


def test_eight_bit_bytes_in_commands(server):
    with server.smtp() as c:
        c.ehlo()
        c.cmd(f"MAIL FROM:<{SENDER}>", 250)
        for bad in ("RCPT TO:<b\u00f8b@localhost>".encode(), b"RCPT TO:<\xff\xfe@localhost>",
                    b"NO\xc3\xa9OP"):
            c.send(bad + b"\r\n")
            r = c.reply()
            assert 500 <= r.code < 600, (bad, r)
        c.cmd("RCPT TO:<bob@localhost>", 250)


def test_helo_cannot_inject_headers(server):
    msg, mid = make_message()
    with server.smtp() as c:
        c.send(b"EHLO evil.test\nX-Injected: yes\r\n")
        assert c.reply().code == 250
        assert c.reply().code == 500
        assert c.send_mail(SENDER, ["bob@localhost"], msg).code == 250
    (stored,) = server.messages("bob@localhost")
    assert b"X-Injected" not in stored


def test_thousand_pipelined_recipients(make_server):
    srv = make_server(max_recipients=100, max_errors=1000)
    with srv.smtp(timeout=20) as c:
        c.ehlo()
        c.cmd(f"MAIL FROM:<{SENDER}>", 250)
        c.send(b"RCPT TO:<bob@localhost>\r\n" * 1000)
        codes = [c.reply().code for _ in range(1000)]
        assert set(codes[:100]) == {250}, codes[:100]
        assert set(codes[100:]) == {452}
        c.cmd("DATA", 354)
        c.send(smtp_data_bytes(make_message()[0]))
        assert c.reply().code == 250
    # duplicates of one mailbox may be folded, but never more than 100
    assert 1 <= len(srv.messages("bob@localhost")) <= 100


def test_twenty_thousand_pipelined_noops_back_pressure(server):
    n = 20000
    with server.smtp(timeout=30) as c:
        c.ehlo()
        err = []

        def writer():
            try:
                c.sock.sendall(b"NOOP\r\n" * n + b"QUIT\r\n")
            except OSError as e:
                err.append(e)

        t = threading.Thread(target=writer, daemon=True)
        t.start()
        data = c.read_all_until_close(timeout=30)
        t.join(10)
        assert not err, err
        codes = [code for code, _ in parse_replies(data)]
        assert len(codes) == n + 1 and set(codes[:-1]) == {250} and codes[-1] == 221


# ---------------------------------------------------------------- half-close, back-pressure


def test_whole_session_then_half_close(server):
    """printf '...' | nc -N: the client sends everything, then shuts its
    write side. Every pipelined command must still be answered and the
    message stored before the server closes."""
    msg, mid = make_message()
    with server.smtp() as c:
        c.send(b"EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<bob@localhost>\r\nDATA\r\n"
               + smtp_data_bytes(msg) + b"QUIT\r\n")
        c.sock.shutdown(socket.SHUT_WR)
        codes = [code for code, _ in parse_replies(c.read_all_until_close())]
    assert codes == [250, 250, 250, 354, 250, 221], codes
    (stored,) = server.messages("bob@localhost")
    assert mid.encode() in stored


def test_eof_right_after_data_still_commits(server):
    msg, mid = make_message()
    with server.smtp() as c:
        c.ehlo()
        c.cmd(f"MAIL FROM:<{SENDER}>", 250)
        c.cmd("RCPT TO:<bob@localhost>", 250)
        c.cmd("DATA", 354)
        c.send(smtp_data_bytes(msg))
        c.sock.shutdown(socket.SHUT_WR)
        codes = [code for code, _ in parse_replies(c.read_all_until_close())]
    # the transaction was complete: it is answered, and 250 means stored
    assert codes == [250], codes
    (stored,) = server.messages("bob@localhost")
    assert mid.encode() in stored


def test_nothing_answered_after_quit(server):
    with server.smtp() as c:
        c.ehlo()
        c.send(b"QUIT\r\nNOOP\r\nMAIL FROM:<a@example.org>\r\n")
        codes = [code for code, _ in parse_replies(c.read_all_until_close())]
    assert codes == [221], codes


def test_pipelined_flood_without_reading_is_bounded(make_server):
    """A client that pipelines 1.5 million NOOPs and does not read: the
    server must stop reading (back-pressure), not queue 20 MB of replies."""
    srv = make_server(env=asan_no_quarantine_env())
    n = 1_500_000
    with srv.smtp(timeout=60) as c:
        c.ehlo()
        hwm_before = vm_kib(srv.pid, "VmHWM")
        done = threading.Event()
        err = []

        def writer():
            try:
                c.sock.sendall(b"NOOP\r\n" * n + b"QUIT\r\n")
            except OSError as e:
                err.append(e)
            done.set()

        t = threading.Thread(target=writer, daemon=True)
        t.start()
        time.sleep(1.5)  # not reading: the server's output can go nowhere
        growth = vm_kib(srv.pid, "VmHWM") - hwm_before
        data = c.read_all_until_close(timeout=60)
        t.join(30)
        assert not err, err
    assert data.count(b"\r\n") == n + 1 and data.endswith(b"221 2.0.0 Bye\r\n")
    assert data.count(b"250 ") == n
    print(f"peak RSS growth {growth} KiB")
    assert growth < 8 * 1024, f"peak RSS grew by {growth} KiB while the client did not read"


def test_max_connections_total(make_server):
    srv = make_server(max_connections=3)
    conns = [srv.smtp(), srv.smtp(), srv.pop3()]
    try:
        extra = LineConn(srv.smtp_port, timeout=5)
        try:
            first = extra.read_line()
            assert first.startswith(b"421"), first
        except Closed:
            pass
        finally:
            extra.close()
    finally:
        for c in conns:
            c.close()


def _trickle_until_closed(conn, data, interval, limit):
    """Sends data one byte every interval seconds (wrapping around) until
    the server closes or limit seconds pass; returns (elapsed, replies)."""
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn.settimeout(interval)
    got = b""
    t0 = time.monotonic()
    i = 0
    while time.monotonic() - t0 < limit:
        try:
            conn.sock.send(data[i % len(data) : i % len(data) + 1])
        except OSError:
            break
        i += 1
        try:
            chunk = conn.sock.recv(4096)
        except socket.timeout:
            continue
        except OSError:
            break
        if not chunk:
            break
        got += chunk
    return time.monotonic() - t0, got


def test_trickled_command_line_times_out(make_server):
    """Slowloris: a byte every 0.3 s, never a whole line, keeps the idle
    timer alive but must not keep the session alive past smtp_timeout."""
    srv = make_server(smtp_timeout=2)
    with srv.smtp() as c:
        c.ehlo()
        elapsed, got = _trickle_until_closed(c, b"NOOP xxxxxxxxxxxxxxxx", 0.3, 10)
    assert elapsed < 6, f"still open after {elapsed:.1f} s of trickling"
    assert got.startswith(b"421"), got


def test_trickled_pop3_line_times_out(make_server):
    srv = make_server(pop3_timeout=2)
    with srv.pop3() as p:
        elapsed, got = _trickle_until_closed(p, b"USER alicealicealice", 0.3, 10)
    assert elapsed < 6, f"still open after {elapsed:.1f} s of trickling"
    assert got == b"" or got.startswith(b"-ERR"), got
