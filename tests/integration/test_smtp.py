"""SMTP (RFC 5321 and the SIZE, PIPELINING, 8BITMIME, ENHANCEDSTATUSCODES
extensions) against the real daemon: replies as a client sees them and
the Maildir files that result."""

import os
import re
import time

import pytest

from harness import (
    HOSTNAME,
    Closed,
    LineConn,
    MAILDIR_NAME,
    POSTMASTER,
    make_message,
    smtp_data_bytes,
    strip_trace,
    to_lf,
)

SENDER = "sender@example.org"


# ---------------------------------------------------------------- session basics


def test_greeting_is_220_with_hostname(server):
    with server.smtp() as c:
        assert c.greeting.code == 220
        assert c.greeting.lines[0].split()[0] == HOSTNAME


def test_helo_is_250(server):
    with server.smtp() as c:
        r = c.cmd("HELO client.test", 250)
        assert HOSTNAME in r.lines[0]


def test_ehlo_advertises_extensions(make_server):
    srv = make_server(max_message_size="1M")
    with srv.smtp() as c:
        r = c.ehlo()
        assert r.lines[0].split()[0] == HOSTNAME
        kw = {ln.split()[0].upper(): ln.split()[1:] for ln in r.lines[1:]}
        for ext in ("PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SIZE"):
            assert ext in kw, f"EHLO lacks {ext}: {r.lines}"
        assert kw["SIZE"] == [str(1024 * 1024)]


def test_noop_rset_help_vrfy(server):
    with server.smtp() as c:
        c.ehlo()
        assert c.cmd("NOOP").code == 250
        assert c.cmd("NOOP with an argument").code == 250
        assert c.cmd("RSET").code == 250
        assert c.cmd("HELP").code == 214
        r = c.cmd("VRFY bob@localhost")
        assert r.code == 252, r
        r = c.cmd("VRFY nobody@localhost")
        assert r.code == 252, "VRFY must not reveal which users exist"


def test_quit_is_221_and_closes(server):
    with server.smtp() as c:
        c.ehlo()
        r = c.cmd("QUIT")
        assert r.code == 221
        assert r.enhanced == "2.0.0"
        assert c.is_closed(5)


def test_verbs_are_case_insensitive(server):
    msg, mid = make_message()
    with server.smtp() as c:
        c.cmd("ehlo client.test", 250)
        c.cmd(f"mail from:<{SENDER}>", 250)
        c.cmd("RcPt To:<bob@localhost>", 250)
        c.cmd("data", 354)
        c.send(smtp_data_bytes(msg))
        assert c.reply().code == 250
        c.cmd("nOoP", 250)
        c.cmd("rset", 250)
        c.cmd("quit", 221)
    assert [mid.encode() in m for m in server.messages("bob@localhost")] == [True]


def test_enhanced_codes_after_ehlo(server):
    with server.smtp() as c:
        c.ehlo()
        seen = []
        seen.append(c.cmd(f"MAIL FROM:<{SENDER}>", 250))
        seen.append(c.cmd("RCPT TO:<nobody@localhost>", 550))
        seen.append(c.cmd("RCPT TO:<bob@localhost>", 250))
        c.cmd("DATA", 354)
        c.send(smtp_data_bytes(make_message()[0]))
        seen.append(c.reply())
        seen.append(c.cmd("NOOP", 250))
        seen.append(c.cmd("RSET", 250))
        seen.append(c.cmd("FROB", 500))
        seen.append(c.cmd("RCPT TO:<bob@localhost>", 503))
        seen.append(c.cmd("QUIT", 221))
        for r in seen:
            assert r.enhanced, f"no enhanced status code in {r.raw!r}"
            assert r.enhanced[0] == str(r.code)[0], r
        assert seen[0].enhanced == "2.1.0"
        assert seen[1].enhanced == "5.1.1"
        assert seen[2].enhanced == "2.1.5"
        assert seen[3].code == 250 and seen[3].enhanced == "2.0.0"


# ---------------------------------------------------------------- MAIL parameters


def test_null_reverse_path_accepted_and_recorded(server):
    msg, mid = make_message(subject="bounce")
    with server.smtp() as c:
        c.ehlo()
        r = c.send_mail("", ["bob@localhost"], msg)
        assert r.code == 250
    (stored,) = server.messages("bob@localhost")
    assert stored.startswith(b"Return-Path: <>\n")


def test_size_param_over_limit_is_552(make_server):
    srv = make_server(max_message_size="1M")
    with srv.smtp() as c:
        c.ehlo()
        r = c.cmd(f"MAIL FROM:<{SENDER}> SIZE=2000000")
        assert r.code == 552 and r.enhanced == "5.3.4", r
        # session continues and a smaller declared size is fine
        c.cmd(f"MAIL FROM:<{SENDER}> SIZE=1000", 250)
        c.cmd("RCPT TO:<bob@localhost>", 250)
        c.cmd("QUIT", 221)


def test_size_param_boundary(make_server):
    srv = make_server(max_message_size="1M")
    with srv.smtp() as c:
        c.ehlo()
        c.cmd(f"MAIL FROM:<{SENDER}> SIZE={1024 * 1024}", 250)
        c.cmd("RSET", 250)
        r = c.cmd(f"MAIL FROM:<{SENDER}> SIZE={1024 * 1024 + 1}")
        assert r.code == 552, r


def test_size_param_huge_number_is_rejected_not_wrapped(make_server):
    srv = make_server(max_message_size="1M")
    with srv.smtp() as c:
        c.ehlo()
        # 2^64 + 1000 would wrap to 1000 in a sloppy parser
        r = c.cmd(f"MAIL FROM:<{SENDER}> SIZE=18446744073709552616")
        assert r.code in (501, 552, 555), r
        c.cmd("NOOP", 250)


def test_body_8bitmime_param_accepted(server):
    with server.smtp() as c:
        c.ehlo()
        c.cmd(f"MAIL FROM:<{SENDER}> BODY=8BITMIME", 250)
        c.cmd("RSET", 250)
        c.cmd(f"MAIL FROM:<{SENDER}> BODY=7BIT SIZE=100", 250)


# ---------------------------------------------------------------- recipients


def test_hundred_recipients_accepted_101st_is_452(make_server):
    srv = make_server(start=False, max_recipients=100)
    names = [f"r{i:03d}@localhost" for i in range(101)]
    srv.clone_accounts(names)
    srv.start()
    msg, mid = make_message(to="many")
    with srv.smtp() as c:
        c.ehlo()
        c.cmd(f"MAIL FROM:<{SENDER}>", 250)
        for n in names[:100]:
            c.cmd(f"RCPT TO:<{n}>", 250)
        r = c.cmd(f"RCPT TO:<{names[100]}>")
        assert r.code == 452 and r.enhanced == "4.5.3", r
        c.cmd("DATA", 354)
        c.send(smtp_data_bytes(msg))
        assert c.reply().code == 250
        c.quit()
    for n in names[:100]:
        got = srv.messages(n)
        assert len(got) == 1 and mid.encode() in got[0], n
    assert srv.messages(names[100]) == []


def test_unknown_local_user_is_550_511(server):
    with server.smtp() as c:
        c.ehlo()
        c.cmd(f"MAIL FROM:<{SENDER}>", 250)
        r = c.cmd("RCPT TO:<nobody@localhost>")
        assert r.code == 550 and r.enhanced == "5.1.1", r


@pytest.mark.parametrize(
    "rcpt", ["postmaster", "Postmaster", "POSTMASTER@localhost", "postmaster@LocalHost"]
)
def test_postmaster_is_delivered_to_configured_account(server, rcpt):
    msg, mid = make_message(to=rcpt)
    with server.smtp() as c:
        c.ehlo()
        r = c.send_mail(SENDER, [rcpt], msg)
        assert r.code == 250
    got = server.messages(POSTMASTER)
    assert len(got) == 1 and mid.encode() in got[0]
    assert server.messages("alice@localhost") == []


def test_foreign_domain_is_never_relayed(server):
    with server.smtp() as c:
        c.ehlo()
        c.cmd(f"MAIL FROM:<{SENDER}>", 250)
        r = c.cmd("RCPT TO:<bob@example.org>")
        assert r.code in (550, 554) and r.enhanced == "5.7.1", r
        for trick in (
            "<bob@localhost.example.org>",
            "<bob@example.org@localhost>",
            "<bob%example.org@localhost>",
            '<"bob@example.org"@localhost>',
            "<bob@example.org.>",
            "<BOB@EXAMPLE.ORG>",
        ):
            r = c.cmd(f"RCPT TO:{trick}")
            assert 500 <= r.code < 600, f"{trick} -> {r.raw!r}"
        r = c.cmd("DATA")
        assert r.code in (503, 554), r
        c.cmd("RCPT TO:<bob@localhost>", 250)
        c.cmd("DATA", 354)
        c.send(smtp_data_bytes(make_message()[0]))
        assert c.reply().code == 250
    assert not (server.data_dir / "mail" / "example.org").exists()
    assert len(server.messages("bob@localhost")) == 1


# ---------------------------------------------------------------- errors


def test_unknown_command_is_500_and_session_continues(server):
    with server.smtp() as c:
        c.ehlo()
        assert c.cmd("FROB").code == 500
        assert c.cmd("MAILFROM:<a@b>").code == 500
        c.cmd("NOOP", 250)


def test_bad_sequence_is_503(server):
    with server.smtp() as c:
        c.ehlo()
        assert c.cmd("RCPT TO:<bob@localhost>").code == 503
        assert c.cmd("DATA").code == 503
        c.cmd(f"MAIL FROM:<{SENDER}>", 250)
        assert c.cmd("DATA").code == 503  # no recipient yet
        assert c.cmd(f"MAIL FROM:<{SENDER}>").code == 503  # nested MAIL
        c.cmd("RCPT TO:<bob@localhost>", 250)
        c.cmd("RSET", 250)
        assert c.cmd("DATA").code == 503  # RSET ended the transaction
        c.cmd("QUIT", 221)
    assert server.messages("bob@localhost") == []


def test_syntax_errors_are_501(server):
    with server.smtp() as c:
        assert c.cmd("HELO").code == 501
        assert c.cmd("EHLO").code == 501
        c.ehlo()
        assert c.cmd("MAIL FROM:<unterminated@example.org").code == 501
        assert c.cmd("MAIL").code == 501
        c.cmd(f"MAIL FROM:<{SENDER}>", 250)
        assert c.cmd("RCPT TO:").code == 501
        assert c.cmd("RCPT TO:<bob@localhost").code == 501
        c.cmd("RCPT TO:<bob@localhost>", 250)


def test_rset_discards_transaction(server):
    with server.smtp() as c:
        c.ehlo()
        c.cmd(f"MAIL FROM:<{SENDER}>", 250)
        c.cmd("RCPT TO:<alice@localhost>", 250)
        c.cmd("RSET", 250)
        msg, mid = make_message()
        r = c.send_mail(SENDER, ["bob@localhost"], msg)
        assert r.code == 250
    assert server.messages("alice@localhost") == []
    assert len(server.messages("bob@localhost")) == 1


# ---------------------------------------------------------------- delivery


def test_delivered_file_layout_and_trace_headers(server):
    msg, mid = make_message(body="line one\r\nline two\r\n")
    with server.smtp() as c:
        c.ehlo("client.test")
        r = c.send_mail(SENDER, ["bob@localhost"], msg)
        assert r.code == 250 and r.enhanced == "2.0.0"
    (path,) = server.message_files("bob@localhost")
    assert path.parent.name == "new"
    m = MAILDIR_NAME.match(path.name)
    assert m, path.name
    data = path.read_bytes()
    assert b"\r" not in data, "stored with LF line ends"
    assert int(m.group("s")) == len(data)
    assert int(m.group("w")) == len(data) + data.count(b"\n")
    assert data.startswith(f"Return-Path: <{SENDER}>\n".encode())
    trace, rest = strip_trace(data)
    assert len(trace) == 2 and trace[1].startswith(b"Received:"), trace
    assert HOSTNAME.encode() in trace[1] and b";" in trace[1]
    assert rest == to_lf(msg)
    assert server.tmp_files("bob@localhost") == []
    # mail is private whatever the umask: files 0600-ish, Maildirs 0700-ish
    assert path.stat().st_mode & 0o077 == 0, oct(path.stat().st_mode)
    md = server.maildir("bob@localhost")
    for d in (md, md / "new", md / "cur", md / "tmp"):
        assert d.stat().st_mode & 0o077 == 0, (d, oct(d.stat().st_mode))


def test_message_reaches_every_local_recipient(server):
    msg, mid = make_message()
    rcpts = ["alice@localhost", "bob@localhost", POSTMASTER]
    with server.smtp() as c:
        c.ehlo()
        assert c.send_mail(SENDER, rcpts, msg).code == 250
    bodies = [server.messages(r) for r in rcpts]
    for b in bodies:
        assert len(b) == 1
        assert strip_trace(b[0])[1] == to_lf(msg)


def test_recipient_address_case_is_folded(server):
    with server.smtp() as c:
        c.ehlo()
        assert c.send_mail(SENDER, ["Bob@LOCALHOST"], make_message()[0]).code == 250
    assert len(server.messages("bob@localhost")) == 1


def test_dot_stuffing_round_trip(server):
    body = b".leading dot\r\n..two dots\r\n.\r\n...\r\n. space\r\nend\r\n"
    msg, mid = make_message(body=body)
    wire = smtp_data_bytes(msg)
    assert b"\r\n..leading dot\r\n...two dots\r\n..\r\n....\r\n" in wire
    with server.smtp() as c:
        c.ehlo()
        assert c.send_mail(SENDER, ["bob@localhost"], msg).code == 250
    (stored,) = server.messages("bob@localhost")
    assert strip_trace(stored)[1] == to_lf(msg)


def test_eight_bit_body_round_trip(server):
    raw = bytes(b for b in range(0x80, 0x100))
    body = b"caf\xc3\xa9 \xe2\x82\xac\r\n" + raw + b"\r\n" + raw[::-1] + b"\r\nend\r\n"
    msg, mid = make_message(body=body, headers=["Content-Type: text/plain; charset=utf-8",
                                                 "Content-Transfer-Encoding: 8bit"])
    with server.smtp() as c:
        c.ehlo()
        r = c.send_mail(SENDER, ["bob@localhost"], msg, mail_params=" BODY=8BITMIME")
        assert r.code == 250
    (stored,) = server.messages("bob@localhost")
    assert strip_trace(stored)[1] == to_lf(msg)


def test_line_of_exactly_1000_octets_is_accepted(server):
    line = b"x" * 998
    msg, mid = make_message(body=line + b"\r\n")
    with server.smtp() as c:
        c.ehlo()
        assert c.send_mail(SENDER, ["bob@localhost"], msg).code == 250
    (stored,) = server.messages("bob@localhost")
    assert line + b"\n" in stored


def test_message_over_max_size_is_552_and_session_continues(make_server):
    srv = make_server(max_message_size="10K")
    big, _ = make_message(body=("y" * 70 + "\r\n") * 300)  # ~21 KiB
    small, mid = make_message()
    with srv.smtp() as c:
        c.ehlo()
        r = c.send_mail(SENDER, ["bob@localhost"], big)
        assert r.code == 552 and r.enhanced == "5.3.4", r
        c.cmd("NOOP", 250)
        assert c.send_mail(SENDER, ["bob@localhost"], small).code == 250
    got = srv.messages("bob@localhost")
    assert len(got) == 1 and mid.encode() in got[0]


def test_several_transactions_in_one_session(server):
    mids = []
    with server.smtp() as c:
        c.ehlo()
        for i in range(5):
            msg, mid = make_message(subject=f"n{i}")
            mids.append(mid)
            assert c.send_mail(SENDER, ["alice@localhost"], msg).code == 250
        c.quit()
    got = server.messages("alice@localhost")
    assert len(got) == 5
    for mid in mids:
        assert sum(mid.encode() in g for g in got) == 1, mid


def test_ten_mib_message_round_trip(make_server):
    srv = make_server(max_message_size="20M")
    rnd = os.urandom(10 * 1024 * 1024 // 2).hex().encode()
    body = b"\r\n".join(rnd[i : i + 76] for i in range(0, len(rnd), 76)) + b"\r\n"
    msg, mid = make_message(body=body)
    assert len(msg) > 10 * 1024 * 1024
    with srv.smtp(timeout=60) as c:
        c.ehlo()
        r = c.send_mail(SENDER, ["bob@localhost"], msg, mail_params=f" SIZE={len(msg)}")
        assert r.code == 250, r
    (stored,) = srv.messages("bob@localhost")
    assert strip_trace(stored)[1] == to_lf(msg)
    with srv.pop3_login("bob@localhost") as p:
        p.settimeout(60)
        got = p.retr(1)
        assert got.endswith(msg)
        assert p.list()[1] == len(got)


# ---------------------------------------------------------------- pipelining


def test_pipelined_commands_answered_in_order(server):
    with server.smtp() as c:
        c.send(
            b"EHLO client.test\r\n"
            b"MAIL FROM:<sender@example.org>\r\n"
            b"RCPT TO:<alice@localhost>\r\n"
            b"RCPT TO:<nobody@localhost>\r\n"
            b"RCPT TO:<bob@localhost>\r\n"
            b"DATA\r\n"
        )
        codes = [c.reply().code for _ in range(6)]
        assert codes == [250, 250, 250, 550, 250, 354]
        msg, mid = make_message()
        c.send(smtp_data_bytes(msg) + b"QUIT\r\n")
        assert c.reply().code == 250
        assert c.reply().code == 221
    assert len(server.messages("alice@localhost")) == 1
    assert len(server.messages("bob@localhost")) == 1


def test_whole_session_in_one_write(server):
    msg1, mid1 = make_message(subject="one")
    msg2, mid2 = make_message(subject="two")
    blob = (
        b"EHLO client.test\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<bob@localhost>\r\nDATA\r\n"
        + smtp_data_bytes(msg1)
        + b"MAIL FROM:<b@example.org>\r\nRCPT TO:<alice@localhost>\r\nDATA\r\n"
        + smtp_data_bytes(msg2)
        + b"QUIT\r\n"
    )
    with server.smtp() as c:
        c.send(blob)
        codes = [c.reply().code for _ in range(10)]
        assert codes == [250, 250, 250, 354, 250, 250, 250, 354, 250, 221]
        assert c.is_closed(5)
    (b,) = server.messages("bob@localhost")
    (a,) = server.messages("alice@localhost")
    assert mid1.encode() in b and mid2.encode() in a


def test_longest_legal_path_is_accepted(server):
    # 64-octet local part, 249-octet path with brackets (RFC 5321 4.5.3.1)
    path = f"{'l' * 64}@{'d' * 63}.{'e' * 63}.{'f' * 50}.org"
    with server.smtp() as c:
        c.ehlo()
        c.cmd(f"MAIL FROM:<{path}>", 250)
        c.cmd("NOOP", 250)


def test_received_header_names_helo(server):
    with server.smtp() as c:
        c.ehlo("helo-name.test")
        assert c.send_mail(SENDER, ["bob@localhost"], make_message()[0]).code == 250
    (stored,) = server.messages("bob@localhost")
    trace, _ = strip_trace(stored)
    assert b"helo-name.test" in trace[1]


def _refused(port):
    """True if a new connection is turned away (421 then close, or close)."""
    c = LineConn(port, timeout=5)
    try:
        first = c.read_line()
    except Closed:
        return True
    finally:
        c.close()
    if first.startswith(b"421"):
        return True
    assert first.startswith(b"220"), first
    return False


def test_max_connections_per_ip(make_server):
    srv = make_server(max_connections_per_ip=3)
    conns = [srv.smtp() for _ in range(3)]
    try:
        assert [c.greeting.code for c in conns] == [220, 220, 220]
        assert _refused(srv.smtp_port)
        conns.pop().quit()
        # a slot is free again (the server may need a moment to notice)
        for _ in range(50):
            if not _refused(srv.smtp_port):
                break
            time.sleep(0.05)
        else:
            pytest.fail("no connection accepted after one was closed")
    finally:
        for c in conns:
            c.close()


# ---------------------------------------------------------------- more envelope cases


def test_duplicate_recipients_get_one_copy(server):
    msg, mid = make_message()
    rcpts = ["bob@localhost", "bob@localhost", "BOB@localhost", "postmaster", POSTMASTER]
    with server.smtp() as c:
        c.ehlo()
        r = c.send_mail(SENDER, rcpts, msg)
        assert r.code == 250, r
    assert len(server.messages("bob@localhost")) == 1
    assert len(server.messages(POSTMASTER)) == 1


def test_empty_message_is_accepted(server):
    with server.smtp() as c:
        c.ehlo()
        c.cmd(f"MAIL FROM:<{SENDER}>", 250)
        c.cmd("RCPT TO:<bob@localhost>", 250)
        c.cmd("DATA", 354)
        c.send(b".\r\n")
        assert c.reply().code == 250
    (stored,) = server.messages("bob@localhost")
    trace, rest = strip_trace(stored)
    assert len(trace) == 2 and rest == b""


def test_address_literal_is_foreign(server):
    with server.smtp() as c:
        c.ehlo()
        c.cmd(f"MAIL FROM:<{SENDER}>", 250)
        for rcpt in ("<bob@[127.0.0.1]>", "<postmaster@[127.0.0.1]>", "<bob@[IPv6:::1]>"):
            r = c.cmd(f"RCPT TO:{rcpt}")
            assert r.code == 554 and r.enhanced == "5.7.1", (rcpt, r)


def test_source_route_is_never_followed(server):
    with server.smtp() as c:
        c.ehlo()
        c.cmd(f"MAIL FROM:<{SENDER}>", 250)
        r = c.cmd("RCPT TO:<@example.org:bob@localhost>")
        assert r.code == 250 or 500 <= r.code < 600, r
        r2 = c.cmd("RCPT TO:<@localhost:bob@example.org>")
        assert 500 <= r2.code < 600, f"relay through a source route: {r2.raw!r}"
        if r.code == 250:
            c.cmd("DATA", 354)
            c.send(smtp_data_bytes(make_message()[0]))
            assert c.reply().code == 250
            assert len(server.messages("bob@localhost")) == 1
    assert not (server.data_dir / "mail" / "example.org").exists()


def test_mail_parameters_errors(server):
    with server.smtp() as c:
        c.ehlo()
        r = c.cmd(f"MAIL FROM:<{SENDER}> FOO=BAR")
        assert r.code == 555, r  # RFC 5321 4.1.1.11
        r = c.cmd(f"MAIL FROM:<{SENDER}> SIZE=abc")
        assert r.code in (501, 555), r
        r = c.cmd(f"MAIL FROM:<{SENDER}> BODY=9BIT")
        assert r.code in (501, 555), r
        c.cmd(f"MAIL FROM:<{SENDER}>", 250)


def test_ehlo_in_transaction_resets_it(server):
    with server.smtp() as c:
        c.ehlo()
        c.cmd(f"MAIL FROM:<{SENDER}>", 250)
        c.cmd("RCPT TO:<bob@localhost>", 250)
        c.ehlo()
        assert c.cmd("DATA").code == 503
        c.cmd(f"MAIL FROM:<{SENDER}>", 250)


def test_quit_in_transaction_delivers_nothing(server):
    with server.smtp() as c:
        c.ehlo()
        c.cmd(f"MAIL FROM:<{SENDER}>", 250)
        c.cmd("RCPT TO:<bob@localhost>", 250)
        c.cmd("QUIT", 221)
    time.sleep(0.1)
    assert server.messages("bob@localhost") == []


@pytest.mark.parametrize("greet,protocol", [("EHLO", b"ESMTP"), ("HELO", b"SMTP")])
def test_received_names_protocol(server, greet, protocol):
    # RFC 5321 4.4 / RFC 3848: "with ESMTP" after EHLO, "with SMTP" after HELO
    with server.smtp() as c:
        c.cmd(f"{greet} client.test", 250)
        assert c.send_mail(SENDER, ["bob@localhost"], make_message()[0]).code == 250
    (stored,) = server.messages("bob@localhost")
    trace, _ = strip_trace(stored)
    assert re.search(rb"\swith " + protocol + rb"\s", trace[1]), trace[1]
