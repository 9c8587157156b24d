"""TLS: STARTTLS on SMTP, implicit TLS (SMTPS, POP3S), the submission
listener (AUTH required), cleartext AUTH policy, the generated self-signed
certificate and its reload on SIGHUP. Clients: raw sockets + ssl,
smtplib, poplib, curl, swaks, openssl."""

import base64
import hashlib
import poplib
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import time

import pytest

from harness import HOST, HOSTNAME, POP3Client, SMTPClient, free_port, make_message, strip_trace

needs_curl = pytest.mark.skipif(not shutil.which("curl"), reason="curl not installed")
needs_swaks = pytest.mark.skipif(not shutil.which("swaks"), reason="swaks not installed")
needs_openssl = pytest.mark.skipif(not shutil.which("openssl"), reason="openssl not installed")

ALICE, BOB = "alice@localhost", "bob@localhost"
PLAIN_ALICE = base64.b64encode(b"\0alice@localhost\0secret").decode()


def insecure():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


@pytest.fixture
def tls_server(make_server):
    """A server with every listener: .submission_port, .smtps_port, .pop3s_port."""
    srv = make_server(start=False)
    srv.submission_port, srv.smtps_port, srv.pop3s_port = free_port(), free_port(), free_port()
    srv.extra.update(
        submission_listen=f"{HOST}:{srv.submission_port}",
        smtps_listen=f"{HOST}:{srv.smtps_port}",
        pop3s_listen=f"{HOST}:{srv.pop3s_port}",
    )
    srv.start()
    want = {f"submission {HOST}:{srv.submission_port}", f"smtps {HOST}:{srv.smtps_port}",
            f"pop3s {HOST}:{srv.pop3s_port}"}
    deadline = time.monotonic() + 5
    while not want <= set(srv.out_path.read_text().splitlines()):
        assert time.monotonic() < deadline, srv.out_path.read_text()
        time.sleep(0.02)
    return srv


class TLSLines:
    """Line reading over an ssl-wrapped socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(self.buf)
            self.buf += chunk
        ln, _, self.buf = self.buf.partition(b"\n")
        return ln + b"\n"

    def reply(self):
        lines = []
        while True:
            ln = self.line()
            lines.append(ln)
            if ln[3:4] == b" ":
                return int(ln[:3]), b"".join(lines)

    def cmd(self, text):
        self.sock.sendall(text.encode() + b"\r\n")
        return self.reply()


def starttls(c, ctx=None, server_hostname=None):
    """EHLO + STARTTLS on an SMTPClient; returns TLSLines over the TLS socket."""
    c.ehlo()
    c.cmd("STARTTLS", 220)
    assert c.buf == b"", "server sent bytes after 220 in plaintext"
    s = (ctx or insecure()).wrap_socket(c.sock, server_hostname=server_hostname)
    return TLSLines(s)


# ---------------------------------------------------------------- STARTTLS


def test_starttls_with_smtplib(tls_server):
    srv = tls_server
    msg, mid = make_message()
    with smtplib.SMTP(HOST, srv.smtp_port, timeout=10) as s:
        s.ehlo()
        assert s.has_extn("starttls")
        code, _ = s.starttls(context=insecure())
        assert code == 220
        s.ehlo()
        assert not s.has_extn("starttls"), "STARTTLS offered again inside TLS"
        assert s.has_extn("size") and s.has_extn("pipelining")
        assert s.sendmail("sender@example.org", [BOB], msg) == {}
    (stored,) = srv.messages(BOB)
    assert strip_trace(stored)[1] == msg.replace(b"\r\n", b"\n")


def test_starttls_discards_pipelined_plaintext(tls_server):
    """CVE-2011-0411: commands sent after STARTTLS in the same plaintext
    packet must not be executed inside the TLS session."""
    with tls_server.smtp() as c:
        c.ehlo()
        c.send(b"STARTTLS\r\nFROB injected\r\nMAIL FROM:<evil@example.org>\r\n")
        r = c.reply()
        assert r.code == 220
        t = TLSLines(insecure().wrap_socket(c.sock))
        code, raw = t.cmd("EHLO client.test")
        assert code == 250, f"an injected command was answered inside TLS: {raw!r}"
        code, raw = t.cmd("RCPT TO:<bob@localhost>")
        assert code == 503, f"the injected MAIL survived STARTTLS: {raw!r}"


def test_starttls_resets_the_session(tls_server):
    """RFC 3207 4.2: after the handshake the server forgets what it knew
    from the client: EHLO is needed again and AUTH state is gone."""
    with tls_server.smtp() as c:
        c.ehlo()
        assert c.cmd(f"AUTH PLAIN {PLAIN_ALICE}").code == 235  # loopback: allowed
        c.cmd("STARTTLS", 220)
        t = TLSLines(insecure().wrap_socket(c.sock))
        code, _ = t.cmd("MAIL FROM:<sender@example.org>")
        assert code == 503, "EHLO is needed again after STARTTLS"
        assert t.cmd("EHLO client.test")[0] == 250
        code, raw = t.cmd(f"AUTH PLAIN {PLAIN_ALICE}")
        assert code == 235, f"AUTH state survived STARTTLS: {raw!r}"
        code, _ = t.cmd("STARTTLS")
        assert 500 <= code < 600, "STARTTLS inside TLS"
        assert t.cmd("QUIT")[0] == 221


def test_starttls_refused_inside_transaction_or_accepted_fresh(tls_server):
    with tls_server.smtp() as c:
        c.ehlo()
        c.cmd("MAIL FROM:<sender@example.org>", 250)
        r = c.cmd("STARTTLS")
        if r.code == 220:
            t = TLSLines(insecure().wrap_socket(c.sock))
            t.cmd("EHLO client.test")
            assert t.cmd("RCPT TO:<bob@localhost>")[0] == 503, "transaction survived STARTTLS"
        else:
            assert r.code == 503, r
            c.cmd("NOOP", 250)


def test_certificate_is_for_hostname(tls_server):
    cert = tls_server.data_dir / "tls" / "cert.pem"
    assert cert.exists() and (tls_server.data_dir / "tls" / "key.pem").exists()
    ctx = ssl.create_default_context(cafile=str(cert))
    with tls_server.smtp() as c:
        t = starttls(c, ctx, server_hostname=HOSTNAME)  # verifies chain and name
        assert t.cmd("EHLO client.test")[0] == 250
    key_mode = (tls_server.data_dir / "tls" / "key.pem").stat().st_mode & 0o077
    assert key_mode == 0, "private key readable by others"


def test_sighup_reloads_certificate(tls_server):
    srv = tls_server
    r = srv.cli("cert", "selfsigned", "--host", "other.test")
    assert r.returncode == 0, r.stderr
    srv.proc.send_signal(signal.SIGHUP)
    cert = srv.data_dir / "tls" / "cert.pem"
    ctx = ssl.create_default_context(cafile=str(cert))
    deadline = time.monotonic() + 5
    while True:
        assert srv.alive(), "SIGHUP killed the server"
        try:
            with srv.smtp() as c:
                t = starttls(c, ctx, server_hostname="other.test")
                assert t.cmd("EHLO client.test")[0] == 250
            break
        except ssl.SSLError:
            assert time.monotonic() < deadline, "new certificate not served after SIGHUP"
            time.sleep(0.1)
    assert srv.alive()


# ---------------------------------------------------------------- implicit TLS


def test_smtps_is_submission_with_auth(tls_server):
    """Implicit TLS on the SMTPS listener is message submission (RFC 8314
    3.3): AUTH is required, then mail goes through."""
    srv = tls_server
    msg, mid = make_message()
    with smtplib.SMTP_SSL(HOST, srv.smtps_port, timeout=10, context=insecure()) as s:
        code, _ = s.ehlo()
        assert code == 250 and not s.has_extn("starttls") and s.has_extn("auth")
        with pytest.raises(smtplib.SMTPSenderRefused) as e:
            s.sendmail("alice@localhost", [BOB], msg)
        assert e.value.smtp_code == 530
        s.rset()
        s.login("alice@localhost", "secret")
        assert s.sendmail("alice@localhost", [BOB], msg) == {}
    assert len(srv.messages(BOB)) == 1


def test_pop3s_session(tls_server):
    srv = tls_server
    msg, _ = make_message(to=ALICE)
    srv.deliver(ALICE, msg)
    p = poplib.POP3_SSL(HOST, srv.pop3s_port, timeout=10, context=insecure())
    try:
        p.user(ALICE)
        p.pass_("secret")
        assert p.stat()[0] == 1
        _, lines, _ = p.retr(1)
        assert b"".join(ln + b"\r\n" for ln in lines).endswith(msg)
        p.quit()
    finally:
        p.close()


def test_plaintext_on_tls_port_is_refused(tls_server):
    for port in (tls_server.smtps_port, tls_server.pop3s_port):
        s = socket.create_connection((HOST, port), timeout=5)
        try:
            s.sendall(b"EHLO plain\r\n")
            s.settimeout(5)
            try:
                data = s.recv(100)
            except (ConnectionResetError, socket.timeout):
                data = b""
            assert not data.startswith(b"250") and not data.startswith(b"+OK"), data
        finally:
            s.close()
    assert tls_server.alive()
    with smtplib.SMTP_SSL(HOST, tls_server.smtps_port, timeout=10, context=insecure()) as s:
        assert s.noop()[0] == 250


def test_tls_handshake_garbage_does_not_hurt(tls_server):
    for port in (tls_server.smtps_port, tls_server.pop3s_port):
        s = socket.create_connection((HOST, port), timeout=5)
        s.sendall(b"\x16\x03\x01\x02\x00" + b"\xff" * 600)
        s.close()
    with tls_server.smtp() as c:
        c.ehlo()
        c.send(b"STARTTLS\r\n")
        assert c.reply().code == 220
        c.send(b"\x16\x03\x01\x00\x05hello")
        c.close()
    time.sleep(0.2)
    assert tls_server.alive()
    p = poplib.POP3_SSL(HOST, tls_server.pop3s_port, timeout=10, context=insecure())
    p.quit()


# ---------------------------------------------------------------- AUTH and submission


def test_cleartext_auth_allowed_on_loopback_by_default(server):
    with server.smtp() as c:
        r = c.ehlo()
        assert any(ln.upper().startswith("AUTH ") and "PLAIN" in ln.upper() for ln in r.lines)
        assert c.cmd(f"AUTH PLAIN {PLAIN_ALICE}").code == 235
        assert c.cmd(f"AUTH PLAIN {PLAIN_ALICE}").code == 503


def test_smtp_auth_wrong_password(server):
    bad = base64.b64encode(b"\0alice@localhost\0wrong").decode()
    unknown = base64.b64encode(b"\0nobody@localhost\0wrong").decode()
    with server.smtp() as c:
        c.ehlo()
        r1 = c.cmd(f"AUTH PLAIN {bad}")
        r2 = c.cmd(f"AUTH PLAIN {unknown}")
        assert r1.code == 535 and r1.raw == r2.raw, (r1, r2)


def test_cleartext_auth_networks_none(make_server):
    srv = make_server(cleartext_auth_networks="none")
    with srv.smtp() as c:
        r = c.ehlo()
        assert not any(ln.upper().startswith("AUTH") for ln in r.lines), r.lines
        r = c.cmd(f"AUTH PLAIN {PLAIN_ALICE}")
        assert r.code == 538 and r.enhanced == "5.7.11", r
        t = starttls(c)
        code, raw = t.cmd("EHLO client.test")
        assert b"AUTH" in raw
        assert t.cmd(f"AUTH PLAIN {PLAIN_ALICE}")[0] == 235


def test_cleartext_auth_networks_none_covers_pop3_passwords(make_server):
    """cleartext_auth_networks: "clients allowed to log in without TLS".
    A POP3 password sent in clear from outside those networks must be
    refused like SMTP AUTH is."""
    srv = make_server(cleartext_auth_networks="none")
    with srv.pop3() as p:
        r = p.cmd("USER alice@localhost")
        if r.startswith("+OK"):
            r = p.cmd("PASS secret")
        assert r.startswith("-ERR"), f"cleartext POP3 login accepted: {r}"


def test_submission_requires_auth_and_owned_sender(tls_server):
    srv = tls_server
    with SMTPClient(srv.submission_port) as c:
        assert c.greeting.code == 220
        c.ehlo()
        r = c.cmd("MAIL FROM:<alice@localhost>")
        assert r.code == 530 and r.enhanced == "5.7.0", r
        t = starttls(c)
        assert t.cmd("EHLO client.test")[0] == 250
        assert t.cmd(f"AUTH PLAIN {PLAIN_ALICE}")[0] == 235
        code, raw = t.cmd("MAIL FROM:<bob@localhost>")
        assert code == 553, f"sending as someone else: {raw!r}"
        assert t.cmd("MAIL FROM:<alice@localhost>")[0] == 250
        assert t.cmd("RCPT TO:<bob@localhost>")[0] == 250
        assert t.cmd("DATA")[0] == 354
        t.sock.sendall(b"Subject: submitted\r\n\r\nhi\r\n.\r\n")
        assert t.reply()[0] == 250
    (stored,) = srv.messages(BOB)
    assert b"Subject: submitted" in stored
    # RFC 3848: the Received line says the message came over TLS with AUTH.
    assert b"with ESMTPSA id" in stored


def test_submission_with_smtplib_login(tls_server):
    srv = tls_server
    with smtplib.SMTP(HOST, srv.submission_port, timeout=10) as s:
        s.starttls(context=insecure())
        s.login("alice@localhost", "secret")
        assert s.sendmail("alice@localhost", [BOB], b"Subject: login\r\n\r\nx\r\n") == {}
    assert len(srv.messages(BOB)) == 1


def test_unauthenticated_relay_still_denied_after_starttls(tls_server):
    with tls_server.smtp() as c:
        t = starttls(c)
        t.cmd("EHLO client.test")
        assert t.cmd("MAIL FROM:<a@example.org>")[0] == 250
        code, raw = t.cmd("RCPT TO:<someone@example.org>")
        assert code == 554, raw


# ---------------------------------------------------------------- real clients


@needs_curl
def test_curl_smtp_starttls_and_smtps(tls_server, tmp_path):
    srv = tls_server
    f = tmp_path / "m.eml"
    f.write_bytes(make_message()[0])
    for url, extra in ((f"smtp://{HOST}:{srv.smtp_port}", ["--ssl-reqd"]),
                       (f"smtps://{HOST}:{srv.smtps_port}",
                        ["--user", "alice@localhost:secret"])):
        r = subprocess.run(["curl", "-sS", "-k", "--max-time", "10", url, *extra,
                            "--mail-from", "alice@localhost", "--mail-rcpt", BOB,
                            "--upload-file", str(f)], capture_output=True, timeout=30)
        assert r.returncode == 0, (url, r.stderr)
    assert len(srv.messages(BOB)) == 2


@needs_curl
def test_curl_pop3s(tls_server):
    srv = tls_server
    msg, _ = make_message(to=ALICE)
    srv.deliver(ALICE, msg)
    r = subprocess.run(["curl", "-sS", "-k", "--max-time", "10",
                        f"pop3s://alice:secret@{HOST}:{srv.pop3s_port}/1"],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith(msg)


@needs_swaks
def test_swaks_tls_and_auth(tls_server):
    srv = tls_server
    base = ["swaks", "--timeout", "10", "--to", BOB, "--from", "alice@localhost",
            "--helo", "client.test", "--body", "via swaks"]
    for extra in (["--server", f"{HOST}:{srv.smtp_port}", "--tls"],
                  ["--server", f"{HOST}:{srv.smtps_port}", "--tlsc",
                   "--auth", "LOGIN", "--auth-user", "alice@localhost",
                   "--auth-password", "secret"],
                  ["--server", f"{HOST}:{srv.submission_port}", "--tls",
                   "--auth", "PLAIN", "--auth-user", "alice@localhost",
                   "--auth-password", "secret"]):
        r = subprocess.run(base + extra, capture_output=True, timeout=30)
        assert r.returncode == 0, (extra, r.stdout.decode()[-1500:])
    assert len(srv.messages(BOB)) == 3


@needs_openssl
def test_openssl_s_client_starttls(tls_server):
    r = subprocess.run(
        ["openssl", "s_client", "-starttls", "smtp", "-connect", f"{HOST}:{tls_server.smtp_port}",
         "-servername", HOSTNAME, "-brief", "-ign_eof"],
        input=b"EHLO client.test\r\nQUIT\r\n", capture_output=True, timeout=20)
    out = r.stdout + r.stderr
    assert b"CN = mx.test" in out or b"CN=mx.test" in out, out[-1500:]
    assert b"250" in r.stdout and b"221" in r.stdout, r.stdout[-500:]


def test_pop3_over_tls_apop_and_dele(tls_server):
    srv = tls_server
    srv.deliver(ALICE, make_message(to=ALICE)[0])
    s = insecure().wrap_socket(socket.create_connection((HOST, srv.pop3s_port), timeout=10))
    t = TLSLines(s)
    greeting = t.line().decode()
    stamp = re.search(r"<[^>]+>", greeting).group(0)
    digest = hashlib.md5((stamp + "apop-shared-secret").encode()).hexdigest()
    s.sendall(f"APOP {ALICE} {digest}\r\nDELE 1\r\nQUIT\r\n".encode())
    for _ in range(3):
        assert t.line().startswith(b"+OK")
    s.close()
    assert srv.message_files(ALICE) == []


def test_plain_pop3_client_unaffected(tls_server):
    with POP3Client(tls_server.pop3_port) as p:
        p.login(ALICE, "secret")
        p.quit()
