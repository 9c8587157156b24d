"""facteur probe: the client-side checker, run against the real server
(STARTTLS with a verified certificate, plaintext with --tls no, implicit
TLS, wrong passwords, unverified certificates) and against deliberately
broken servers written here: a POP3 proxy that lies about message sizes
or hides TLS, and an SMTP server that hangs up after DATA."""

import base64
import json
import re
import socket
import ssl
import threading
import time

import pytest

from harness import ACCOUNTS, HOST, HOSTNAME, cli, free_port

ALICE = "alice@localhost"
BOB = "bob@localhost"

SMTP_STEPS = ["smtp.connect", "smtp.greeting", "smtp.ehlo", "smtp.starttls", "smtp.ehlo-tls",
              "smtp.auth", "smtp.mail", "smtp.rcpt", "smtp.data", "smtp.quit"]
POP3_STEPS = ["pop3.connect", "pop3.greeting", "pop3.capa", "pop3.stls", "pop3.capa-tls",
              "pop3.login", "pop3.stat", "pop3.list", "pop3.uidl", "pop3.find", "pop3.top",
              "pop3.retr", "pop3.dele", "pop3.quit", "pop3.confirm"]


def probe(*args, user=ALICE, password=None, timeout=60):
    """Runs facteur probe; returns (exit status, stdout text, stderr text)."""
    argv = ["probe", *map(str, args)]
    if user:
        argv += ["--user", user, "--password-stdin"]
    pw = password if password is not None else ACCOUNTS.get(user, "")
    r = cli(argv, input=(pw + "\n") if user else None, timeout=timeout)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def probe_json(*args, **kw):
    rc, out, err = probe(*args, "--json", **kw)
    assert out.count("\n") == 1 and out.endswith("}\n"), out[-300:]
    return rc, json.loads(out), err


def steps(report):
    return {s["name"]: s for s in report["steps"]}


def verdicts(report):
    return [(s["name"], s["verdict"]) for s in report["steps"]]


def text_verdicts(text):
    """(name, verdict) pairs from the text report."""
    out = []
    name = None
    for line in text.splitlines():
        m = re.match(r"^== (\S+)$", line)
        if m:
            name = m.group(1)
            continue
        m = re.match(r"^  (PASS|FAIL|WARN|INFO)  ", line)
        if m and name:
            out.append((name, m.group(1)))
            name = None
    return out


def targets(srv):
    return ["--smtp", f"{HOST}:{srv.smtp_port}", "--pop3", f"{HOST}:{srv.pop3_port}"]


def trust(srv):
    return ["--cafile", srv.data_dir / "tls" / "cert.pem", "--servername", HOSTNAME]


# ---------------------------------------------------------------- against facteur


def test_starttls_every_step_passes_and_json_matches_text(server):
    rc, rep, err = probe_json(*targets(server), "--tls", "starttls", *trust(server), user=BOB)
    assert rc == 0, json.dumps(rep, indent=1)
    assert rep["result"] == "PASS"
    assert [n for n, _ in verdicts(rep)] == SMTP_STEPS + POP3_STEPS
    assert all(v == "PASS" for _, v in verdicts(rep)), verdicts(rep)
    s = steps(rep)
    assert "certificate verified for mx.test" in s["smtp.starttls"]["reason"]
    assert any(d.startswith("subject:") and "mx.test" in d for d in s["smtp.starttls"]["details"])
    assert any(d.startswith("notAfter:") for d in s["pop3.stls"]["details"])
    assert "AUTH PLAIN inside TLS" in s["smtp.auth"]["reason"]
    assert "AUTH PLAIN inside TLS" in s["pop3.login"]["reason"]
    assert "identical" in s["pop3.retr"]["reason"]
    assert any("Return-Path, Received" in d for d in s["pop3.retr"]["details"])
    # every transcript line: a time, a direction, and exact byte counts
    greeting = s["smtp.greeting"]["transcript"][0]
    assert greeting["dir"] == "S" and greeting["text"] == "220 mx.test ESMTP facteur"
    assert greeting["bytes"] == len("220 mx.test ESMTP facteur\r\n")
    times = [ln["t_ms"] for st in rep["steps"] for ln in st["transcript"]]
    assert times == sorted(times) and times[0] >= 0
    # the password never appears: masked AUTH PLAIN, with the true size
    secret = ACCOUNTS[BOB]
    plain = base64.b64encode(f"\0{BOB}\0{secret}".encode()).decode()
    dump = json.dumps(rep)
    assert secret not in dump and plain not in dump
    auth = [ln for ln in s["smtp.auth"]["transcript"] if ln["dir"] == "C"][0]
    assert auth["text"] == "AUTH PLAIN <masked>"
    assert auth["bytes"] == len(f"AUTH PLAIN {plain}\r\n")
    # the test message was deleted again
    assert server.messages(BOB) == []
    # security summary: after STARTTLS/STLS nothing crosses in the clear
    used = [e for e in rep["security"] if e["used"]]
    assert {(e["protocol"], e["method"], e["channel"]) for e in used} == {
        ("SMTP", "AUTH PLAIN", "after STARTTLS"), ("POP3", "AUTH PLAIN", "after STLS")}
    assert all(not e["secret_in_clear"] and e["result"] == "accepted" for e in used)
    plain_user = [e for e in rep["security"]
                  if e["method"] == "USER/PASS" and e["channel"] == "plaintext"]
    assert plain_user and plain_user[0]["secret_in_clear"] is True

    # the text report of the same run has the same steps and verdicts
    rc2, text, _ = probe(*targets(server), "--tls", "starttls", *trust(server), user=BOB)
    assert rc2 == 0, text
    assert text_verdicts(text) == verdicts(rep)
    assert re.search(r"^ +\+\d+\.\dms S: 220 mx\.test ESMTP facteur  \(27 bytes\)$", text, re.M)
    assert "  C: PASS ****" not in text  # AUTH PLAIN was used, not PASS
    assert "C: AUTH PLAIN <masked>  (" in text
    assert secret not in text
    assert text.rstrip().endswith("result: PASS: 25 passed, 0 failed, 0 warnings")


def test_tls_no_passes_with_warnings_about_cleartext(server):
    rc, rep, _ = probe_json(*targets(server), "--tls", "no")
    assert rc == 0, json.dumps(rep, indent=1)
    s = steps(rep)
    assert "smtp.ehlo-tls" not in s and "pop3.capa-tls" not in s
    assert s["smtp.starttls"]["verdict"] == "INFO"
    assert s["smtp.auth"]["verdict"] == "WARN"
    assert "in the clear" in s["smtp.auth"]["reason"]
    # alice's APOP secret is not her password: APOP is refused, then the
    # password goes in the clear, as --tls no allows, and the step says so
    login = s["pop3.login"]
    assert login["verdict"] == "WARN", login
    assert "after APOP was refused" in login["reason"] and "in the clear" in login["reason"]
    assert any(ln["text"].startswith("APOP alice@localhost ") for ln in login["transcript"])
    for name in ("pop3.find", "pop3.top", "pop3.retr", "pop3.dele", "pop3.confirm"):
        assert s[name]["verdict"] == "PASS", s[name]
    sec = {(e["protocol"], e["method"], e["channel"]): e for e in rep["security"]}
    assert sec[("POP3", "APOP", "plaintext")]["exposure"] == "digest"
    assert sec[("POP3", "APOP", "plaintext")]["result"] == "refused"
    assert sec[("POP3", "USER/PASS", "plaintext")]["secret_in_clear"] is True
    assert sec[("SMTP", "AUTH PLAIN", "plaintext")]["used"] is True
    assert sec[("SMTP", "AUTH PLAIN", "plaintext")]["secret_in_clear"] is True
    assert server.messages(ALICE) == []


def test_tls_no_with_apop(server):
    """The APOP secret as password: APOP logs in without the password on the wire."""
    rc, rep, _ = probe_json(*targets(server), "--tls", "no", password="apop-shared-secret")
    s = steps(rep)
    assert s["pop3.login"]["verdict"] == "PASS"
    assert "logged in with APOP" in s["pop3.login"]["reason"]
    assert s["smtp.auth"]["verdict"] == "FAIL"  # the SMTP password is another one
    assert rc == 1


def test_show_secrets(server):
    rc, text, _ = probe(*targets(server), "--tls", "no", "--show-secrets", user="bob@localhost")
    plain = base64.b64encode(b"\0bob@localhost\0bobsecret").decode()
    assert f"C: AUTH PLAIN {plain}  (" in text
    assert rc == 0, text


def test_wrong_password_fails_and_says_so(server):
    rc, rep, _ = probe_json(*targets(server), "--tls", "starttls", *trust(server),
                            password="not-the-password")
    assert rc == 1
    assert rep["result"] == "FAIL"
    s = steps(rep)
    assert s["smtp.auth"]["verdict"] == "FAIL"
    assert "refused the user name or password" in s["smtp.auth"]["reason"]
    assert s["pop3.login"]["verdict"] == "FAIL"
    assert "refused the user name or password" in s["pop3.login"]["reason"]
    # the MX port took the message without a login; the probe says it stays
    assert s["smtp.data"]["verdict"] == "PASS"
    assert any("stays in the maildrop" in d for d in s["pop3.login"]["details"])
    assert "pop3.retr" not in s
    assert len(server.messages(ALICE)) == 1
    # one try only: a refused password is not retried with another method
    assert sum(ln["dir"] == "C" for ln in s["pop3.login"]["transcript"]) == 1


def test_unverified_certificate_stops_before_secrets(server):
    rc, rep, _ = probe_json(*targets(server), "--servername", HOSTNAME)
    assert rc == 1
    s = steps(rep)
    assert s["smtp.starttls"]["verdict"] == "FAIL"
    assert "NOT verified" in s["smtp.starttls"]["reason"]
    assert "smtp.auth" not in s and "pop3.login" not in s
    assert not any(ln["dir"] == "C" and ln["text"].startswith(("AUTH", "PASS", "USER", "APOP"))
                   for st in rep["steps"] for ln in st["transcript"])


def test_insecure_goes_on_and_says_not_verified(server):
    rc, rep, _ = probe_json(*targets(server), "--insecure")
    assert rc == 0, verdicts(rep)
    s = steps(rep)
    assert s["smtp.starttls"]["verdict"] == "WARN"
    assert "NOT verified" in s["smtp.starttls"]["reason"]
    assert "verified:    NO" in s["pop3.stls"]["details"]
    assert s["pop3.confirm"]["verdict"] == "PASS"


def test_name_mismatch_is_not_verified(server):
    rc, rep, _ = probe_json(*targets(server), "--cafile", server.data_dir / "tls" / "cert.pem",
                            "--servername", "other.test")
    assert rc == 1
    assert "NOT verified" in steps(rep)["smtp.starttls"]["reason"]
    assert "hostname mismatch" in steps(rep)["smtp.starttls"]["reason"]


@pytest.fixture
def tls_server(make_server):
    srv = make_server(start=False)
    srv.smtps_port, srv.pop3s_port = free_port(), free_port()
    srv.extra.update(smtps_listen=f"{HOST}:{srv.smtps_port}",
                     pop3s_listen=f"{HOST}:{srv.pop3s_port}")
    srv.start()
    deadline = time.monotonic() + 5
    want = {f"smtps {HOST}:{srv.smtps_port}", f"pop3s {HOST}:{srv.pop3s_port}"}
    while not want <= set(srv.out_path.read_text().splitlines()):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return srv


def test_implicit_tls(tls_server):
    srv = tls_server
    rc, rep, _ = probe_json("--smtp", f"{HOST}:{srv.smtps_port}", "--pop3",
                            f"{HOST}:{srv.pop3s_port}", "--tls", "implicit", *trust(srv))
    assert rc == 0, verdicts(rep)
    names = [n for n, _ in verdicts(rep)]
    assert names[:3] == ["smtp.connect", "smtp.tls", "smtp.greeting"]
    assert "pop3.tls" in names and "pop3.stls" not in names and "smtp.starttls" not in names
    used = {(e["protocol"], e["channel"]) for e in rep["security"] if e["used"]}
    assert used == {("SMTP", "implicit TLS"), ("POP3", "implicit TLS")}
    assert srv.messages(ALICE) == []


def test_pop3_only_and_usage_errors(server, run_cli):
    rc, rep, _ = probe_json("--pop3", f"{HOST}:{server.pop3_port}", "--tls", "no")
    assert rc == 0
    assert steps(rep)["pop3.find"]["verdict"] == "INFO"
    assert not any(n.startswith("smtp.") for n, _ in verdicts(rep))
    for args in ([], ["--smtp"], ["--smtp", "h:0"], ["--smtp", "h", "--tls", "maybe"],
                 ["--smtp", "h", "--cafile", "x", "--insecure"], ["--smtp", "h", "extra"],
                 ["--smtp", "h", "--timeout", "0"], ["--smtp", "h", "--bogus"]):
        r = run_cli(["probe", *args])
        assert r.returncode == 2, (args, r.stderr)
        assert b"facteur probe:" in r.stderr
    r = run_cli(["probe", "--help"])
    assert r.returncode == 0 and b"--tls" in r.stdout


def test_connection_refused_fails(run_cli):
    port = free_port()
    r = run_cli(["probe", "--smtp", f"{HOST}:{port}", "--from", "a@b.test", "--to", "c@d.test"])
    assert r.returncode == 1
    assert b"smtp.connect" in r.stdout and b"Connection refused" in r.stdout


# ---------------------------------------------------------------- broken servers


class Fixture:
    """A one-thread TCP server on a free loopback port; handler(conn) is
    called for each connection."""

    def __init__(self, handler):
        self.sock = socket.socket()
        self.sock.bind((HOST, 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.handler = handler
        self.errors = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.settimeout(10)
            try:
                self.handler(conn)
            except Exception as e:  # reported by the test
                self.errors.append(repr(e))
            finally:
                conn.close()

    def close(self):
        self.sock.close()


def read_line(f):
    line = f.readline()
    if not line:
        raise EOFError
    return line


def pop3_proxy(upstream_port, rewrite):
    """A POP3 proxy to facteur; rewrite(cmd, status, body_lines) returns
    the (status, body_lines) to pass on (lines as bytes with CRLF)."""
    multi = {"CAPA", "LIST", "UIDL", "RETR", "TOP"}

    def handler(conn):
        up = socket.create_connection((HOST, upstream_port), timeout=10)
        cf, uf = conn.makefile("rb"), up.makefile("rb")
        try:
            status, _ = rewrite("", read_line(uf), [])
            conn.sendall(status)
            while True:
                line = read_line(cf)
                up.sendall(line)
                words = line.decode(errors="replace").split()
                verb = words[0].upper() if words else ""
                status = read_line(uf)
                body = []
                is_multi = verb in multi and not (verb in ("LIST", "UIDL") and len(words) > 1)
                if status.startswith(b"+OK") and is_multi:
                    while True:
                        b = read_line(uf)
                        body.append(b)
                        if b == b".\r\n":
                            break
                status, body = rewrite(line.decode(errors="replace").strip(), status, body)
                conn.sendall(status + b"".join(body))
                if verb == "QUIT":
                    return
        finally:
            up.close()

    return Fixture(handler)


def lying_sizes(cmd, status, body):
    """LIST says one octet more per message, and STAT agrees with it."""
    if cmd == "STAT" and status.startswith(b"+OK "):
        n, size = status.split()[1:3]
        return b"+OK %d %d\r\n" % (int(n), int(size) + int(n)), body
    if cmd == "LIST":
        out = []
        for b in body:
            if b != b".\r\n":
                n, size = b.split()
                b = b"%d %d\r\n" % (int(n), int(size) + 1)
            out.append(b)
        return status, out
    return status, body


def test_lying_list_sizes_fail_the_retr_step(server):
    fx = pop3_proxy(server.pop3_port, lying_sizes)
    try:
        rc, rep, _ = probe_json("--smtp", f"{HOST}:{server.smtp_port}", "--pop3",
                                f"{HOST}:{fx.port}", "--tls", "no")
    finally:
        fx.close()
    assert rc == 1
    s = steps(rep)
    assert s["pop3.list"]["verdict"] == "PASS"  # consistent with the lying STAT
    assert s["pop3.retr"]["verdict"] == "FAIL"
    assert re.search(r"LIST said (\d+) octets, RETR returned (\d+)", s["pop3.retr"]["reason"])
    m = re.search(r"LIST said (\d+) octets, RETR returned (\d+)", s["pop3.retr"]["reason"])
    assert int(m.group(1)) == int(m.group(2)) + 1
    assert "differs" not in s["pop3.retr"]["reason"]  # the bytes themselves are right
    assert [n for n, v in verdicts(rep) if v == "FAIL"] == ["pop3.retr"]
    assert not fx.errors, fx.errors


def hide_tls(cmd, status, body):
    """No STLS in CAPA and no APOP timestamp in the greeting."""
    if cmd == "":
        return re.sub(rb" <[^>]*>", b"", status), body
    if cmd == "CAPA":
        return status, [b for b in body if b != b"STLS\r\n"]
    return status, body


def test_no_tls_offered_refuses_cleartext_password(server):
    fx = pop3_proxy(server.pop3_port, hide_tls)
    try:
        rc, rep, _ = probe_json("--pop3", f"{HOST}:{fx.port}")
    finally:
        fx.close()
    assert rc == 1
    s = steps(rep)
    assert s["pop3.stls"]["verdict"] == "WARN"
    assert s["pop3.login"]["verdict"] == "FAIL"
    assert "refusing to send the password in the clear" in s["pop3.login"]["reason"]
    assert not any(ln["dir"] == "C" and ln["text"].startswith(("PASS", "AUTH", "USER"))
                   for ln in s["pop3.login"]["transcript"])
    sent = [ln["text"] for st in rep["steps"] for ln in st["transcript"] if ln["dir"] == "C"]
    assert sent == ["CAPA", "QUIT"]


def stream_proxy(upstream_port, rewrite_server_line):
    """Relays bytes both ways to facteur, passing each line the server
    sends through rewrite_server_line(bytes) -> bytes."""

    def handler(conn):
        up = socket.create_connection((HOST, upstream_port), timeout=10)

        def client_to_server():
            try:
                while True:
                    data = conn.recv(65536)
                    if not data:
                        break
                    up.sendall(data)
            except OSError:
                pass
            finally:
                try:
                    up.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

        t = threading.Thread(target=client_to_server, daemon=True)
        t.start()
        uf = up.makefile("rb")
        try:
            for line in uf:
                conn.sendall(rewrite_server_line(line))
        except OSError:
            pass
        finally:
            up.close()
            t.join(5)

    return Fixture(handler)


def test_auth_login_when_plain_is_not_offered(server):
    fx = stream_proxy(server.smtp_port,
                      lambda ln: ln.replace(b"AUTH PLAIN LOGIN", b"AUTH LOGIN"))
    try:
        rc, rep, _ = probe_json("--smtp", f"{HOST}:{fx.port}", "--tls", "no", user=BOB)
    finally:
        fx.close()
    assert rc == 0, verdicts(rep)
    auth = steps(rep)["smtp.auth"]
    assert auth["verdict"] == "WARN" and "AUTH LOGIN" in auth["reason"]
    sent = [(ln["text"], ln["bytes"]) for ln in auth["transcript"] if ln["dir"] == "C"]
    user64 = base64.b64encode(BOB.encode())
    pass64 = base64.b64encode(ACCOUNTS[BOB].encode())
    assert sent == [("AUTH LOGIN", 12), ("<masked: user name>", len(user64) + 2),
                    ("<masked: password>", len(pass64) + 2)]
    got = [ln["text"] for ln in auth["transcript"] if ln["dir"] == "S"]
    assert got[0].startswith("334 ") and got[-1].startswith("235 ")
    assert steps(rep)["smtp.data"]["verdict"] == "PASS"
    assert not fx.errors, fx.errors


def smtp_hangs_up_after_data(conn):
    f = conn.makefile("rb")
    conn.sendall(b"220 broken.test ESMTP\r\n")
    while True:
        line = read_line(f).upper()
        if line.startswith(b"EHLO"):
            conn.sendall(b"250-broken.test\r\n250 8BITMIME\r\n")
        elif line.startswith(b"DATA"):
            conn.sendall(b"354 go ahead\r\n")
            while read_line(f) != b".\r\n":
                pass
            return  # no reply: the connection just closes
        elif line.startswith(b"QUIT"):
            conn.sendall(b"221 bye\r\n")
            return
        else:
            conn.sendall(b"250 ok\r\n")


def test_server_dropping_after_data_fails_the_data_step(server):
    fx = Fixture(smtp_hangs_up_after_data)
    try:
        rc, rep, _ = probe_json("--smtp", f"{HOST}:{fx.port}", "--pop3",
                                f"{HOST}:{server.pop3_port}", "--tls", "no")
    finally:
        fx.close()
    assert rc == 1
    s = steps(rep)
    assert s["smtp.starttls"]["verdict"] == "INFO"
    assert s["smtp.auth"]["verdict"] == "WARN"  # AUTH not offered
    assert s["smtp.data"]["verdict"] == "FAIL"
    assert "may or may not have been accepted" in s["smtp.data"]["reason"]
    assert "closed by the server" in s["smtp.data"]["reason"]
    assert "smtp.quit" not in s
    assert s["pop3.find"]["verdict"] == "INFO"  # nothing to look for
    assert [n for n, v in verdicts(rep) if v == "FAIL"] == ["smtp.data"]
    assert not fx.errors, fx.errors


def test_garbage_greeting_fails(server):
    def garbage(conn):
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    fx = Fixture(garbage)
    try:
        rc, rep, _ = probe_json("--smtp", f"{HOST}:{fx.port}", "--tls", "no", "--timeout", "2")
    finally:
        fx.close()
    assert rc == 1
    s = steps(rep)
    assert s["smtp.greeting"]["verdict"] == "FAIL"
    assert "malformed reply" in s["smtp.greeting"]["reason"]


def test_plaintext_after_starttls_go_ahead_is_discarded(server):
    """A server (or someone in the middle) that sends more after "220" to
    STARTTLS: those plaintext bytes must never be read as if they came
    through TLS."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(server.data_dir / "tls" / "cert.pem", server.data_dir / "tls" / "key.pem")

    def handler(conn):
        out, f = conn, conn.makefile("rb")
        out.sendall(b"220 inj.test ESMTP\r\n")
        tls = False
        while True:
            line = read_line(f).upper()
            if line.startswith(b"EHLO"):
                out.sendall(b"250-inj.test\r\n250 8BITMIME\r\n" if tls else
                            b"250-inj.test\r\n250 STARTTLS\r\n")
            elif line.startswith(b"STARTTLS"):
                conn.sendall(b"220 go ahead\r\n250-injected\r\n250 AUTH PLAIN\r\n")
                out = ctx.wrap_socket(conn, server_side=True)
                f, tls = out.makefile("rb"), True
            elif line.startswith(b"DATA"):
                out.sendall(b"354 go\r\n")
                while read_line(f) != b".\r\n":
                    pass
                out.sendall(b"250 ok\r\n")
            elif line.startswith(b"QUIT"):
                out.sendall(b"221 bye\r\n")
                return
            else:
                out.sendall(b"250 ok\r\n")

    fx = Fixture(handler)
    try:
        rc, rep, _ = probe_json("--smtp", f"{HOST}:{fx.port}", "--tls", "starttls", *trust(server),
                                "--from", "a@example.org", "--to", "b@example.org", user=None)
    finally:
        fx.close()
    s = steps(rep)
    assert s["smtp.starttls"]["verdict"] == "WARN", s["smtp.starttls"]
    assert "plaintext bytes after the go-ahead were discarded" in s["smtp.starttls"]["reason"]
    assert any(d.startswith("discarded:   30 bytes") for d in s["smtp.starttls"]["details"])
    # the EHLO inside TLS is the server's real one, not the injected lines
    assert [ln["text"] for ln in s["smtp.ehlo-tls"]["transcript"] if ln["dir"] == "S"] == [
        "250-inj.test", "250 8BITMIME"]
    assert s["smtp.data"]["verdict"] == "PASS"
    assert rc == 0
    assert not fx.errors, fx.errors
