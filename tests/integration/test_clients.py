"""Real clients against the real daemon: Python's smtplib and poplib, curl
(SMTP upload, POP3 RETR/LIST/DELE) and swaks."""

import email
import email.policy
import poplib
import shutil
import smtplib
import subprocess
from email.message import EmailMessage

import pytest

from harness import HOST, make_message, strip_trace, to_lf

needs_curl = pytest.mark.skipif(not shutil.which("curl"), reason="curl not installed")
needs_swaks = pytest.mark.skipif(not shutil.which("swaks"), reason="swaks not installed")

ALICE, BOB = "alice@localhost", "bob@localhost"


def run(args, timeout=30, input=None):
    return subprocess.run(args, capture_output=True, timeout=timeout, input=input)


# ---------------------------------------------------------------- smtplib


def test_smtplib_sendmail(server):
    msg, mid = make_message(to=BOB)
    with smtplib.SMTP(HOST, server.smtp_port, local_hostname="client.test", timeout=10) as s:
        code, _ = s.ehlo()
        assert code == 250
        assert s.has_extn("pipelining") and s.has_extn("8bitmime") and s.has_extn("size")
        refused = s.sendmail("sender@example.org", [BOB, ALICE, "nobody@localhost"], msg)
        assert list(refused) == ["nobody@localhost"] and refused["nobody@localhost"][0] == 550
    for rcpt in (BOB, ALICE):
        (stored,) = server.messages(rcpt)
        assert strip_trace(stored)[1] == to_lf(msg)


def test_smtplib_send_message_utf8(server):
    m = EmailMessage()
    m["From"] = "Zoë <zoe@example.org>"
    m["To"] = BOB
    m["Subject"] = "Grüße — ünïcödé"
    m["Message-ID"] = "<utf8-test@client.test>"
    m.set_content("Ça marche ? Ünïcödé body.\n.a line starting with a dot\n", cte="8bit")
    with smtplib.SMTP(HOST, server.smtp_port, timeout=10) as s:
        assert s.send_message(m) == {}
    (stored,) = server.messages(BOB)
    parsed = email.message_from_bytes(strip_trace(stored)[1], policy=email.policy.default)
    assert parsed["Subject"] == "Grüße — ünïcödé"
    assert parsed.get_content() == "Ça marche ? Ünïcödé body.\n.a line starting with a dot\n"


def test_smtplib_size_refused(make_server):
    srv = make_server(max_message_size="10K")
    msg, _ = make_message(body="x" * 70 + "\r\n" * 1 + ("y" * 70 + "\r\n") * 300)
    with smtplib.SMTP(HOST, srv.smtp_port, timeout=10) as s:
        s.ehlo()
        assert int(s.esmtp_features["size"]) == 10 * 1024
        with pytest.raises(smtplib.SMTPSenderRefused) as e:
            s.sendmail("sender@example.org", [BOB], msg)
        assert e.value.smtp_code == 552
    assert srv.messages(BOB) == []


def test_smtplib_all_recipients_refused(server):
    with smtplib.SMTP(HOST, server.smtp_port, timeout=10) as s:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
            s.sendmail("sender@example.org", ["bob@example.org"], b"Subject: x\r\n\r\nx\r\n")
        code, _ = e.value.recipients["bob@example.org"]
        assert code in (550, 554)


def test_smtplib_helo_only_client(server):
    msg, _ = make_message()
    with smtplib.SMTP(HOST, server.smtp_port, timeout=10) as s:
        assert s.helo()[0] == 250
        assert s.sendmail("sender@example.org", [BOB], msg) == {}
    assert len(server.messages(BOB)) == 1


# ---------------------------------------------------------------- poplib


def test_poplib_session(server):
    sent = []
    for i in range(2):
        msg, _ = make_message(subject=f"p{i}", body=f".dot {i}\r\nline\r\n", to=ALICE)
        server.deliver(ALICE, msg)
        sent.append(msg)
    p = poplib.POP3(HOST, server.pop3_port, timeout=10)
    try:
        assert p.getwelcome().startswith(b"+OK")
        caps = p.capa()
        assert "UIDL" in caps and "TOP" in caps
        p.user(ALICE)
        p.pass_("secret")
        count, size = p.stat()
        assert count == 2
        _, listing, _ = p.list()
        sizes = {int(a): int(b) for a, b in (ln.split() for ln in listing)}
        assert sum(sizes.values()) == size
        for i, msg in enumerate(sent, 1):
            _, lines, octets = p.retr(i)
            got = b"".join(ln + b"\r\n" for ln in lines)
            assert got.endswith(msg)
            assert len(got) == sizes[i]
        _, top, _ = p.top(1, 0)
        assert top[-1] == b"" and b"Subject: p0" in top
        _, uidls, _ = p.uidl()
        assert len(uidls) == 2
        p.dele(1)
        assert p.stat()[0] == 1
        p.quit()
    finally:
        p.close()
    assert len(server.message_files(ALICE)) == 1


def test_poplib_apop(server):
    p = poplib.POP3(HOST, server.pop3_port, timeout=10)
    try:
        p.apop(ALICE, "apop-shared-secret")
        assert p.stat() == (0, 0)
        p.quit()
    finally:
        p.close()


def test_poplib_bad_login(server):
    p = poplib.POP3(HOST, server.pop3_port, timeout=10)
    try:
        p.user(ALICE)
        with pytest.raises(poplib.error_proto) as e:
            p.pass_("wrong")
        assert e.value.args[0].startswith(b"-ERR [AUTH]")
    finally:
        p.close()


# ---------------------------------------------------------------- curl


@needs_curl
@pytest.mark.parametrize("mode", ["crlf-file", "lf-file-with---crlf"])
def test_curl_smtp_upload(server, tmp_path, mode):
    msg, mid = make_message(body=".dot line\r\nsecond\r\n", to=BOB)
    f = tmp_path / "mail.eml"
    args = ["curl", "-sS", "--max-time", "10", f"smtp://{HOST}:{server.smtp_port}/client.test",
            "--mail-from", "sender@example.org", "--mail-rcpt", BOB, "--mail-rcpt", ALICE,
            "--upload-file", str(f)]
    if mode == "crlf-file":
        f.write_bytes(msg)
    else:
        f.write_bytes(to_lf(msg))
        args.append("--crlf")
    r = run(args)
    assert r.returncode == 0, r.stderr
    for rcpt in (BOB, ALICE):
        (stored,) = server.messages(rcpt)
        assert strip_trace(stored)[1] == to_lf(msg)


@needs_curl
def test_curl_smtp_unknown_recipient_fails(server, tmp_path):
    f = tmp_path / "mail.eml"
    f.write_bytes(make_message()[0])
    r = run(["curl", "-sS", "--max-time", "10", f"smtp://{HOST}:{server.smtp_port}",
             "--mail-from", "sender@example.org", "--mail-rcpt", "nobody@localhost",
             "--upload-file", str(f)])
    assert r.returncode != 0
    assert b"550" in r.stderr


def _fill_alice(srv, n=2):
    sent = []
    for i in range(n):
        msg, _ = make_message(subject=f"c{i}", body=f"..dots {i}\r\n.\r\nend\r\n", to=ALICE)
        srv.deliver(ALICE, msg)
        sent.append(msg)
    return sent


def _curl_list_retr_dele(srv, base, sent):
    r = run(["curl", "-sS", "--max-time", "10", base + "/"])
    assert r.returncode == 0, r.stderr
    listing = [ln.split() for ln in r.stdout.decode().splitlines()]
    assert [int(n) for n, _ in listing] == list(range(1, len(sent) + 1))
    for i, msg in enumerate(sent, 1):
        r = run(["curl", "-sS", "--max-time", "10", f"{base}/{i}"])
        assert r.returncode == 0, r.stderr
        assert r.stdout.endswith(msg)
        assert len(r.stdout) == int(listing[i - 1][1])
    r = run(["curl", "-sS", "--max-time", "10", "-X", "DELE", "-I", f"{base}/1"])
    assert r.returncode == 0, r.stderr
    assert len(srv.message_files(ALICE)) == len(sent) - 1


@needs_curl
def test_curl_pop3_login_password(server):
    """`curl pop3://alice:secret@host/1` with the default configuration."""
    sent = _fill_alice(server)
    _curl_list_retr_dele(server, f"pop3://alice:secret@{HOST}:{server.pop3_port}", sent)


@needs_curl
def test_curl_pop3_user_pass_without_apop(make_server):
    srv = make_server(apop=False)
    sent = _fill_alice(srv)
    _curl_list_retr_dele(srv, f"pop3://alice:secret@{HOST}:{srv.pop3_port}", sent)


@needs_curl
def test_curl_pop3_forced_apop(server):
    sent = _fill_alice(server)
    _curl_list_retr_dele(
        server, f"pop3://alice;AUTH=+APOP:apop-shared-secret@{HOST}:{server.pop3_port}", sent)


@needs_curl
def test_curl_pop3_wrong_password(server):
    r = run(["curl", "-sS", "--max-time", "10",
             f"pop3://bob:wrong@{HOST}:{server.pop3_port}/"])
    assert r.returncode == 67, (r.returncode, r.stderr)  # CURLE_LOGIN_DENIED


# ---------------------------------------------------------------- swaks


def swaks(srv, *extra):
    return run(["swaks", "--server", f"{HOST}:{srv.smtp_port}", "--timeout", "10",
                "--helo", "client.test", *extra])


@needs_swaks
@pytest.mark.parametrize("pipeline", [False, True], ids=["plain", "pipeline"])
def test_swaks_delivers(server, pipeline):
    extra = ["--pipeline"] if pipeline else []
    r = swaks(server, "--to", BOB, "--from", "sender@example.org",
              "--header", "Subject: swaks test", "--body", "hello from swaks", *extra)
    assert r.returncode == 0, r.stdout.decode()[-2000:]
    (stored,) = server.messages(BOB)
    assert b"Subject: swaks test" in stored and b"hello from swaks" in stored


@needs_swaks
def test_swaks_several_recipients(server):
    r = swaks(server, "--to", f"{BOB},{ALICE},postmaster", "--from", "sender@example.org",
              "--body", "to three")
    assert r.returncode == 0, r.stdout.decode()[-2000:]
    for rcpt in (BOB, ALICE, "pm@localhost"):
        assert len(server.messages(rcpt)) == 1


@needs_swaks
@pytest.mark.parametrize("rcpt", ["nobody@localhost", "bob@example.org"])
def test_swaks_rejected_recipient(server, rcpt):
    r = swaks(server, "--to", rcpt, "--from", "sender@example.org", "--body", "x")
    assert r.returncode == 24, r.stdout.decode()[-2000:]  # "no RCPTs accepted"


@needs_swaks
def test_swaks_null_sender(server):
    r = swaks(server, "--to", BOB, "--from", "<>", "--body", "bounce")
    assert r.returncode == 0, r.stdout.decode()[-2000:]
    (stored,) = server.messages(BOB)
    assert stored.startswith(b"Return-Path: <>\n")
