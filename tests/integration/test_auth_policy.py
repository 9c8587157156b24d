"""Passwords never in the clear: the cleartext policy seen from a
non-loopback-trusted address (127.0.0.2 while only 127.0.0.1/32 is
trusted), POP3 STLS with poplib and the STLS injection case, every SMTP
AUTH error over TCP, the failed-login limits and delays, and that no
password reaches the log."""

import base64
import poplib
import socket
import ssl
import time

from harness import HOST, free_port

PASSWORD = "secret"
PLAIN_ALICE = base64.b64encode(b"\0alice@localhost\0" + PASSWORD.encode()).decode()
UNTRUSTED_SRC = "127.0.0.2"


def insecure():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Lines:
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
        return ln.decode("latin-1").rstrip("\r")

    def smtp_reply(self):
        lines = []
        while True:
            ln = self.line()
            lines.append(ln)
            if ln[3:4] != "-":
                return int(ln[:3]), lines

    def smtp(self, text):
        self.sock.sendall(text.encode() + b"\r\n")
        return self.smtp_reply()

    def pop(self, text):
        self.sock.sendall(text.encode() + b"\r\n")
        return self.line()

    def multi(self):
        out = []
        while True:
            ln = self.line()
            if ln == ".":
                return out
            out.append(ln)


def connect(port, src=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(10)
    if src:
        s.bind((src, 0))
    s.connect((HOST, port))
    return Lines(s)


def policy_server(make_server):
    srv = make_server(start=False, cleartext_auth_networks="127.0.0.1/32")
    srv.submission_port = free_port()
    srv.extra.update(submission_listen=f"{HOST}:{srv.submission_port}")
    srv.start()
    time.sleep(0.1)
    return srv


def test_untrusted_address_gets_no_cleartext_smtp_auth(make_server):
    srv = policy_server(make_server)
    c = connect(srv.smtp_port, UNTRUSTED_SRC)
    assert c.smtp_reply()[0] == 220
    code, lines = c.smtp("EHLO client.test")
    assert code == 250
    assert not any("AUTH" in l for l in lines), lines   # not advertised before TLS
    assert any("STARTTLS" in l for l in lines)
    code, lines = c.smtp("AUTH PLAIN " + PLAIN_ALICE)
    assert code == 538 and "5.7.11" in lines[0], lines
    # After STARTTLS the same client may log in.
    assert c.smtp("STARTTLS")[0] == 220
    t = Lines(insecure().wrap_socket(c.sock))
    code, lines = t.smtp("EHLO client.test")
    assert any(l.endswith("AUTH PLAIN LOGIN") for l in lines), lines
    assert t.smtp("AUTH PLAIN " + PLAIN_ALICE)[0] == 235
    t.smtp("QUIT")
    # The trusted address still may, without TLS (loopback default).
    c2 = connect(srv.smtp_port)
    c2.smtp_reply()
    assert any("AUTH PLAIN" in l for l in c2.smtp("EHLO client.test")[1])


def test_untrusted_address_gets_no_cleartext_pop3_login(make_server):
    srv = policy_server(make_server)
    c = connect(srv.pop3_port, UNTRUSTED_SRC)
    greeting = c.line()
    assert greeting.startswith("+OK")
    assert c.pop("CAPA").startswith("+OK")
    capa = c.multi()
    assert "STLS" in capa and "USER" not in capa
    assert not any(l.startswith("SASL") for l in capa), capa
    assert c.pop("USER alice").startswith("-ERR [AUTH]")
    assert c.pop("PASS " + PASSWORD).startswith("-ERR [AUTH]")
    assert c.pop("AUTH PLAIN " + PLAIN_ALICE).startswith("-ERR [AUTH]")
    # STLS, then the login works and CAPA lists the methods.
    assert c.pop("STLS").startswith("+OK")
    t = Lines(insecure().wrap_socket(c.sock))
    assert t.pop("CAPA").startswith("+OK")
    capa = t.multi()
    assert "USER" in capa and "SASL PLAIN LOGIN" in capa and "STLS" not in capa
    assert t.pop("AUTH PLAIN " + PLAIN_ALICE).startswith("+OK")
    assert t.pop("QUIT").startswith("+OK")


def test_poplib_stls(make_server):
    srv = make_server()
    p = poplib.POP3(HOST, srv.pop3_port, timeout=10)
    p.stls(context=insecure())
    p.user("alice@localhost")
    p.pass_(PASSWORD)
    assert p.stat()[0] >= 0
    p.quit()


def test_stls_discards_pipelined_plaintext(make_server):
    srv = make_server()
    c = connect(srv.pop3_port)
    c.line()
    c.sock.sendall(b"STLS\r\nUSER alice\r\nPASS secret\r\n")
    assert c.line().startswith("+OK")
    assert c.buf == b""
    t = Lines(insecure().wrap_socket(c.sock))
    # Had "USER alice" been run, PASS alone would now log in.
    assert t.pop("PASS " + PASSWORD).startswith("-ERR")
    t.sock.close()


def test_smtp_auth_errors(make_server):
    srv = make_server()
    c = connect(srv.smtp_port)
    c.smtp_reply()
    c.smtp("EHLO client.test")
    assert c.smtp("AUTH PLAIN !!!notbase64")[0] == 501
    assert c.smtp("AUTH CRAM-MD5")[0] == 504
    assert c.smtp("AUTH PLAIN")[0] == 334
    assert c.smtp("*")[0] == 501                      # cancelled
    assert c.smtp("AUTH LOGIN")[0] == 334
    c.sock.sendall(b"A" * 13000 + b"\r\n")            # over 12288 octets
    code, _ = c.smtp_reply()
    assert code == 500
    bad = base64.b64encode(b"\0alice@localhost\0wrong").decode()
    code, lines = c.smtp("AUTH PLAIN " + bad)
    assert code == 535 and "5.7.8" in lines[0]
    assert c.smtp("AUTH PLAIN " + PLAIN_ALICE)[0] == 235
    assert c.smtp("AUTH PLAIN " + PLAIN_ALICE)[0] == 503  # second AUTH
    unknown = base64.b64encode(b"\0nobody@localhost\0x").decode()
    c2 = connect(srv.smtp_port)
    c2.smtp_reply()
    c2.smtp("EHLO client.test")
    code2, lines2 = c2.smtp("AUTH PLAIN " + unknown)
    assert (code2, lines2[0][4:]) == (535, lines[0][4:])  # same answer, unknown user


def test_failed_logins_close_the_session_and_slow_down(make_server):
    srv = make_server(auth_fail_delay=100, max_auth_failures=3)
    c = connect(srv.smtp_port)
    c.smtp_reply()
    c.smtp("EHLO client.test")
    bad = base64.b64encode(b"\0alice@localhost\0wrong").decode()
    times = []
    for _ in range(3):
        t0 = time.monotonic()
        code, lines = c.smtp("AUTH PLAIN " + bad)
        times.append(time.monotonic() - t0)
        assert code == 535
    assert c.smtp_reply()[0] == 421          # after the third failure
    # Delays grow with the failures from this address: 100, 200, 400 ms.
    assert times[0] >= 0.08 and times[2] >= 0.3 and times[2] > times[0], times


def test_no_password_in_the_log(make_server):
    srv = make_server(transcript="all")
    c = connect(srv.smtp_port)
    c.smtp_reply()
    c.smtp("EHLO client.test")
    c.smtp("AUTH PLAIN " + PLAIN_ALICE)
    c.smtp("QUIT")
    p = connect(srv.pop3_port)
    p.line()
    p.pop("USER alice")
    p.pop("PASS " + PASSWORD)
    p.pop("QUIT")
    p2 = poplib.POP3(HOST, srv.pop3_port, timeout=10)
    try:
        p2.user("alice")
        p2.pass_("hunter2-wrong")
    except poplib.error_proto:
        pass
    srv.stop()
    log = srv.log()
    for secret in (PLAIN_ALICE, "hunter2-wrong", "PASS secret"):
        assert secret not in log, secret
