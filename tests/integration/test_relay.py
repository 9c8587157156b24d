"""Relay: two facteur instances on loopback. "A" (domain localhost) takes
mail from its users and relays it; "B" (domain remote.test) is the next
hop, reached through a static route (no DNS here: see test_relay_dns.py).

Covers: submission -> queue -> delivery at B, open-relay refusal,
relay_networks, 5xx -> RFC 3464 bounce, 4xx/down -> retry -> delivery,
queue expiry bounce, restart with mail queued, connection reuse, smarthost
with AUTH over STARTTLS, aliases and +tag, a loop caught by max_hops, the
queue commands.
"""

import email
import smtplib
import time

import pytest

from harness import ACCOUNTS, HOST, free_port, make_message

ALICE = "alice@localhost"
BOB = "bob@localhost"
CAROL = "carol@remote.test"


def wait_for(pred, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def remote_server(make_server, **conf):
    """B: final destination for remote.test, with carol and dave's absence."""
    b = make_server(start=False, users=False, domains="remote.test",
                    postmaster="carol@remote.test", **conf)
    b.add_user(CAROL, "carolsecret")
    b.add_user("erin@remote.test", "erinsecret")
    return b


def relay_conf(b_port, **extra):
    conf = {
        "routes": f"remote.test={HOST}:{b_port}",
        "retry_min": "1s",
        "retry_max": "2s",
    }
    conf.update(extra)
    return conf


def submit(srv, rcpts, subject="relay test", user=ALICE, body="hello over there\r\n"):
    msg, mid = make_message(subject=subject, sender=user, to=", ".join(rcpts), body=body)
    with smtplib.SMTP(HOST, srv.smtp_port, timeout=10) as s:
        s.login(user, ACCOUNTS[user])
        refused = s.sendmail(user, rcpts, msg)
    assert refused == {}
    return mid


def queue_ids(srv):
    r = srv.cli("queue", "list")
    assert r.returncode == 0, r.stderr
    return [ln.split()[0] for ln in r.stdout.decode().splitlines()
            if ln and not ln.startswith(("ID", " ")) and "entr" not in ln and "empty" not in ln]


def parse(raw):
    return email.message_from_bytes(raw.replace(b"\r\n", b"\n"))


def dsn_parts(raw):
    m = parse(raw)
    assert m.get_content_type() == "multipart/report", m.get_content_type()
    assert m.get_param("report-type") == "delivery-status"
    parts = m.get_payload()
    assert len(parts) == 3, [p.get_content_type() for p in parts]
    assert parts[1].get_content_type() == "message/delivery-status"
    assert parts[2].get_content_type() == "text/rfc822-headers"
    return m, parts


def status_text(part):
    """The message/delivery-status part as text, however Python parsed it."""
    if part.is_multipart():
        return "\n".join(str(p) for p in part.get_payload())
    return part.get_payload(decode=False)


@pytest.fixture
def pair(make_server):
    b = remote_server(make_server)
    b.start()
    a = make_server(**relay_conf(b.smtp_port))
    return a, b


def test_submitted_mail_reaches_the_remote_instance(pair):
    a, b = pair
    mid = submit(a, [CAROL])
    got = wait_for(lambda: b.messages(CAROL), what="delivery at B")
    assert len(got) == 1
    m = parse(got[0])
    assert m["Message-ID"] == mid
    assert m["Return-Path"] == f"<{ALICE}>"
    # one Received from each hop, newest first
    received = m.get_all("Received")
    assert len(received) == 2, received
    # B's line: A used opportunistic STARTTLS (no AUTH on a route);
    # A's line: alice submitted with TLS? no: AUTH on loopback (ESMTPA)
    assert " with ESMTPS id " in " ".join(received[0].split()), received
    assert " with ESMTPA id " in " ".join(received[1].split()), received
    wait_for(lambda: not queue_ids(a), what="queue empty on A")
    assert "relay sent" in a.log()


def test_unauthenticated_foreign_recipient_is_refused(pair):
    a, _ = pair
    with a.smtp() as c:
        c.ehlo()
        c.cmd("MAIL FROM:<x@example.net>", 250)
        r = c.cmd(f"RCPT TO:<{CAROL}>", 554)
        assert r.enhanced == "5.7.1"
    assert queue_ids(a) == []


def test_relay_networks_may_relay_without_auth(make_server):
    b = remote_server(make_server)
    b.start()
    a = make_server(**relay_conf(b.smtp_port, relay_networks="127.0.0.0/8"))
    msg, _ = make_message(sender="app@localhost", to=CAROL)
    a.deliver([CAROL], msg, sender="app@localhost")
    wait_for(lambda: b.messages(CAROL), what="delivery at B")


def test_mixed_local_and_remote_recipients(pair):
    a, b = pair
    submit(a, [CAROL, BOB])
    wait_for(lambda: b.messages(CAROL), what="remote copy")
    wait_for(lambda: a.messages(BOB), what="local copy")
    local = parse(a.messages(BOB)[0])
    assert local["Return-Path"] == f"<{ALICE}>"
    wait_for(lambda: not queue_ids(a), what="queue empty")


def test_permanent_failure_bounces_to_the_sender(pair):
    a, b = pair
    mid = submit(a, ["dave@remote.test", CAROL], subject="for dave")
    wait_for(lambda: b.messages(CAROL), what="carol's copy")
    bounce = wait_for(lambda: a.messages(ALICE), what="bounce to alice")
    raw = bounce[0]
    assert raw.startswith(b"Return-Path: <>")
    m, parts = dsn_parts(raw)
    assert m["To"].strip("<>") == ALICE
    assert "MAILER-DAEMON@mx.test" in m["From"]
    assert m["Auto-Submitted"] == "auto-replied"
    st = status_text(parts[1])
    assert "Final-Recipient: rfc822;dave@remote.test" in st.replace("; ", ";")
    assert "Action: failed" in st
    assert "Status: 5.1.1" in st
    assert "Remote-MTA: dns;" in st.replace("; ", ";")
    assert "Diagnostic-Code: smtp;" in st.replace("; ", ";")
    assert CAROL not in st.split("Final-Recipient")[-1] or st.count("Final-Recipient") == 1
    headers = parts[2].get_payload()
    assert mid in str(headers)
    assert "hello over there" not in raw.decode(errors="replace")
    wait_for(lambda: not queue_ids(a), what="queue empty")


def test_no_bounce_for_the_null_sender(make_server):
    b = remote_server(make_server)
    b.start()
    a = make_server(**relay_conf(b.smtp_port, relay_networks="127.0.0.1/32"))
    msg, _ = make_message(sender="", to="dave@remote.test")
    a.deliver(["dave@remote.test"], msg, sender="")
    wait_for(lambda: "relay done" in a.log(), what="attempt done")
    time.sleep(1)
    assert not queue_ids(a)
    for acct in ACCOUNTS:
        assert a.messages(acct) == []


def test_temporary_failure_is_retried_until_delivered(make_server):
    b = remote_server(make_server)
    port = free_port()
    a = make_server(**relay_conf(port))
    submit(a, [CAROL])
    wait_for(lambda: "relay deferred" in a.log(), what="a deferral")
    assert queue_ids(a), "the message must stay queued"
    # The log line comes first; the envelope's new state is written next.
    show = lambda: a.cli("queue", "show", queue_ids(a)[0]).stdout.decode()
    wait_for(lambda: "connect failed" in show(), what="the deferral recorded")
    assert "pending" in show(), show()
    # B comes up on the routed port: the next retry delivers.
    b.smtp_port = port
    b.pop3_port = free_port()
    b.start(keep_ports=True)
    wait_for(lambda: b.messages(CAROL), timeout=30, what="delivery after retry")
    wait_for(lambda: not queue_ids(a), what="queue empty")
    assert a.messages(ALICE) == [], "no bounce for a delivered message"


def test_4xx_reply_then_success(make_server):
    """B refuses with 452 (too many recipients for now) then accepts."""
    b = remote_server(make_server, max_recipients=1)
    b.start()
    a = make_server(**relay_conf(b.smtp_port))
    submit(a, [CAROL, "erin@remote.test"])
    wait_for(lambda: b.messages(CAROL), what="first recipient")
    wait_for(lambda: b.messages("erin@remote.test"), timeout=30, what="second after retry")
    wait_for(lambda: not queue_ids(a), what="queue empty")
    assert a.messages(ALICE) == []


def test_expiry_bounces_with_4_4_7(make_server):
    a = make_server(**relay_conf(free_port(), queue_lifetime="2s"))
    submit(a, [CAROL])
    bounce = wait_for(lambda: a.messages(ALICE), timeout=30, what="expiry bounce")
    _, parts = dsn_parts(bounce[0])
    st = status_text(parts[1])
    assert "Status: 4.4.7" in st and "Action: failed" in st, st
    wait_for(lambda: not queue_ids(a), what="queue empty")


def test_delay_warning(make_server):
    a = make_server(**relay_conf(free_port(), delay_warning="1s", queue_lifetime="1h"))
    submit(a, [CAROL])
    warn = wait_for(lambda: a.messages(ALICE), timeout=30, what="delay warning")
    _, parts = dsn_parts(warn[0])
    st = status_text(parts[1])
    assert "Action: delayed" in st, st
    assert "Will-Retry-Until:" in st
    time.sleep(3)
    assert len(a.messages(ALICE)) == 1, "one warning only"
    assert queue_ids(a), "still queued"


def test_restart_with_mail_in_the_queue(make_server):
    b = remote_server(make_server)
    port = free_port()
    a = make_server(**relay_conf(port, retry_min="1h", retry_max="2h"))
    submit(a, [CAROL])
    wait_for(lambda: "relay deferred" in a.log(), what="a deferral")
    assert a.stop() == 0
    ids = queue_ids(a)
    assert len(ids) == 1
    b.smtp_port = port
    b.pop3_port = free_port()
    b.start(keep_ports=True)
    # The next attempt is an hour away; "queue flush" brings it forward,
    # even though the server is down right now.
    r = a.cli("queue", "flush")
    assert r.returncode == 0, r.stderr
    a.start()
    wait_for(lambda: b.messages(CAROL), timeout=20, what="delivery after restart")
    wait_for(lambda: not queue_ids(a), what="queue empty")


def test_one_connection_for_several_messages(make_server):
    """Four messages wait for a destination that is down; once it is up,
    one session (relay_concurrency = 1) carries all four."""
    b = remote_server(make_server)
    port = free_port()
    a = make_server(**relay_conf(port, relay_concurrency=1, retry_min="1h", retry_max="2h"))
    for i in range(4):
        submit(a, [CAROL], subject=f"reuse {i}")
    wait_for(lambda: a.log().count(" next-in=") == 4, what="four deferrals")
    b.smtp_port = port
    b.pop3_port = free_port()
    b.start(keep_ports=True)
    assert a.cli("queue", "flush").returncode == 0
    wait_for(lambda: len(b.messages(CAROL)) == 4, what="four deliveries")
    connects = [ln for ln in b.log().splitlines() if " connect peer=" in ln]
    assert len(connects) == 1, connects
    assert b.log().count(" result=queued ") == 4


def smarthost_client(make_server, b, pw_file, **extra):
    """A relays everything through B, authenticating as carol. Its
    clients are trusted by address (relay_networks) and send as carol, as
    B only lets carol send as herself."""
    return make_server(relayhost=f"{HOST}:{b.smtp_port}", relayhost_tls="required",
                       relayhost_tls_verify=False, relayhost_user=CAROL,
                       relayhost_password_file=str(pw_file), relay_networks="127.0.0.0/8",
                       **extra)


def test_smarthost_with_auth_over_starttls(make_server, tmp_path):
    b = remote_server(make_server)
    b.start()
    pw = tmp_path / "relay-password"
    pw.write_text("carolsecret\n")
    a = smarthost_client(make_server, b, pw, retry_min="1s", retry_max="2s")
    msg, _ = make_message(sender=CAROL, to="erin@remote.test")
    a.deliver(["erin@remote.test"], msg, sender=CAROL)
    got = wait_for(lambda: b.messages("erin@remote.test"), what="delivery via smarthost")
    m = parse(got[0])
    # B saw TLS and AUTH from A (RFC 3848 ESMTPSA)
    assert " with ESMTPSA " in " ".join(m.get_all("Received")[0].split())
    assert "carolsecret" not in a.log()
    assert 'auth mech=PLAIN user="carol@remote.test"' in b.log()


def test_smarthost_wrong_password_defers(make_server, tmp_path):
    """A refused AUTH is our configuration's fault: the mail waits, it is
    not bounced."""
    b = remote_server(make_server)
    b.start()
    pw = tmp_path / "relay-password"
    pw.write_text("wrong-pass\n")
    a = smarthost_client(make_server, b, pw, retry_min="1h", retry_max="2h")
    msg, _ = make_message(sender=CAROL, to="erin@remote.test")
    a.deliver(["erin@remote.test"], msg, sender=CAROL)
    wait_for(lambda: "relay deferred" in a.log(), what="deferral")
    assert "relay failed" not in a.log()
    assert b.messages("erin@remote.test") == []
    assert len(queue_ids(a)) == 1
    assert "wrong-pass" not in a.log()


def test_aliases_and_subaddressing(make_server):
    b = remote_server(make_server)
    b.start()
    a = make_server(start=False, **relay_conf(b.smtp_port))
    (a.data_dir / "aliases").write_text(
        "# team list\n"
        "team: alice, bob\n"
        "fwd: carol@remote.test\n"
        "keep: bob, carol@remote.test\n")
    a.start()
    msg, _ = make_message(to="team@localhost")
    a.deliver(["team@localhost"], msg)
    assert len(a.messages(ALICE)) == 1 and len(a.messages(BOB)) == 1
    msg, _ = make_message(to="bob+lists@localhost", subject="tagged")
    a.deliver(["bob+lists@localhost"], msg)
    assert len(a.messages(BOB)) == 2
    # forwarding by alias works for any sender (it is our own address)
    msg, _ = make_message(to="fwd@localhost", subject="forwarded")
    a.deliver(["fwd@localhost"], msg, sender="someone@example.net")
    wait_for(lambda: b.messages(CAROL), what="forwarded copy")
    msg, _ = make_message(to="keep@localhost", subject="kept and forwarded")
    a.deliver(["keep@localhost"], msg)
    wait_for(lambda: len(b.messages(CAROL)) == 2, what="second forwarded copy")
    assert len(a.messages(BOB)) == 3
    with a.smtp() as c:
        c.ehlo()
        c.cmd("MAIL FROM:<x@example.net>", 250)
        c.cmd("RCPT TO:<nobody+tag@localhost>", 550)


def test_loop_between_two_instances_is_caught(make_server):
    b = remote_server(make_server, max_hops=6)
    a = make_server(start=False, max_hops=6, retry_min="1s", retry_max="2s")
    b.start()
    a.start()
    # A forwards ping@localhost to B; B forwards pong@remote.test back.
    (a.data_dir / "aliases").write_text("ping: pong@remote.test\n")
    (b.data_dir / "aliases").write_text("pong: ping@localhost\n")
    a.extra["routes"] = f"remote.test={HOST}:{b.smtp_port}"
    b.extra["routes"] = f"localhost={HOST}:{a.smtp_port}"
    a.restart()
    b.restart()
    submit(a, ["ping@localhost"], subject="round and round")
    log = lambda: a.log() + b.log()  # noqa: E731
    wait_for(lambda: "loop-detected" in log(), timeout=30, what="loop detection")
    # The refusing hop's client bounces; the bounce reaches alice.
    bounce = wait_for(lambda: a.messages(ALICE), timeout=30, what="bounce for the loop")
    _, parts = dsn_parts(bounce[0])
    assert "5.4.6" in status_text(parts[1])


def test_queue_commands(make_server):
    a = make_server(**relay_conf(free_port(), retry_min="1h", retry_max="2h"))
    submit(a, [CAROL], subject="queue cli")
    wait_for(lambda: "relay deferred" in a.log(), what="a deferral")
    (qid,) = queue_ids(a)
    show = a.cli("queue", "show", qid)
    assert show.returncode == 0
    out = show.stdout.decode()
    assert f"sender     <{ALICE}>" in out and f"<{CAROL}> pending" in out
    assert "Subject: queue cli" in out
    assert a.cli("queue", "hold", qid).returncode == 0
    assert "held" in a.cli("queue", "list").stdout.decode()
    assert a.cli("queue", "release", qid).returncode == 0
    assert "held" not in a.cli("queue", "list").stdout.decode()
    assert a.cli("queue", "delete", qid).returncode == 0
    assert queue_ids(a) == []
    r = a.cli("queue", "delete", qid)
    assert r.returncode == 1 and b"no such entry" in r.stderr
    r = a.cli("queue", "show", "../../etc/passwd")
    assert r.returncode == 1
    assert a.messages(ALICE) == [], "delete sends no bounce"


def test_failed_recipient_bounced_while_others_wait(make_server):
    """dave fails for good at once; zed's domain is down. The bounce for
    dave comes now, not when zed's retries end; zed stays queued."""
    b = remote_server(make_server)
    b.start()
    a = make_server(**relay_conf(b.smtp_port, retry_min="1h", retry_max="2h",
                                 routes=f"remote.test={HOST}:{b.smtp_port}, "
                                        f"down.test={HOST}:{free_port()}"))
    submit(a, ["dave@remote.test", "zed@down.test"])
    bounce = wait_for(lambda: a.messages(ALICE), what="bounce for dave")
    _, parts = dsn_parts(bounce[0])
    st = status_text(parts[1])
    assert "dave@remote.test" in st and "zed@down.test" not in st, st
    (qid,) = queue_ids(a)
    show = a.cli("queue", "show", qid).stdout.decode()
    assert "<dave@remote.test> bounced" in show and "<zed@down.test> pending" in show, show
    # a flush retries zed only; no second bounce for dave
    assert a.cli("queue", "flush").returncode == 0
    wait_for(lambda: a.log().count(" next-in=") >= 2, what="second attempt")
    time.sleep(0.5)
    assert len(a.messages(ALICE)) == 1


def test_envelope_without_message_is_quarantined_while_running(make_server):
    a = make_server(**relay_conf(free_port(), retry_min="1h", retry_max="2h"))
    submit(a, [CAROL])
    wait_for(lambda: " next-in=" in a.log(), what="a deferral")
    (qid,) = queue_ids(a)
    (a.data_dir / "queue" / "msg" / qid).unlink()
    assert a.cli("queue", "flush").returncode == 0
    wait_for(lambda: "relay quarantined" in a.log(), what="quarantine")
    assert "envelope without message" in a.log()
    corrupt = a.data_dir / "queue" / "corrupt"
    assert (corrupt / f"{qid}.env").exists()
    assert queue_ids(a) == []


def test_submission_port_with_starttls_relays(make_server):
    """The issue's definition of done: submitted on the submission port
    (STARTTLS, AUTH), for a foreign domain, it arrives at the second
    instance."""
    import ssl
    b = remote_server(make_server)
    b.start()
    sub_port = free_port()
    a = make_server(**relay_conf(b.smtp_port, submission_listen=f"{HOST}:{sub_port}"))
    msg, mid = make_message(sender=ALICE, to=CAROL, subject="via submission")
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP(HOST, sub_port, timeout=10) as s:
        s.starttls(context=ctx)
        s.login(ALICE, ACCOUNTS[ALICE])
        assert s.sendmail(ALICE, [CAROL], msg) == {}
    got = wait_for(lambda: b.messages(CAROL), what="delivery at B")
    m = parse(got[0])
    assert m["Message-ID"] == mid
    assert " with ESMTPSA " in " ".join(m.get_all("Received")[1].split())


def test_session_limit_shared_between_destinations(make_server):
    """relay_max_sessions = 1 and two destinations: the second waits for
    the first session to end, then gets its turn (no starvation)."""
    b = make_server(start=False, users=False, domains="remote.test, remote2.test",
                    postmaster=CAROL)
    b.add_user(CAROL, "carolsecret")
    b.add_user("erin@remote2.test", "erinsecret")
    b.start()
    a = make_server(**relay_conf(b.smtp_port, relay_max_sessions=1,
                                 routes=f"remote.test={HOST}:{b.smtp_port}, "
                                        f"remote2.test={HOST}:{b.smtp_port}"))
    submit(a, [CAROL, "erin@remote2.test"])
    wait_for(lambda: b.messages(CAROL), what="first destination")
    wait_for(lambda: b.messages("erin@remote2.test"), timeout=20, what="second destination")
    wait_for(lambda: not queue_ids(a), what="queue empty")


def test_smarthost_over_implicit_tls(make_server, tmp_path):
    """relayhost_tls = smtps: TLS from the first byte (RFC 8314), AUTH inside."""
    smtps_port = free_port()
    b = remote_server(make_server, smtps_listen=f"{HOST}:{smtps_port}")
    b.start()
    pw = tmp_path / "relay-password"
    pw.write_text("carolsecret\n")
    a = make_server(relayhost=f"{HOST}:{smtps_port}", relayhost_tls="smtps",
                    relayhost_tls_verify=False, relayhost_user=CAROL,
                    relayhost_password_file=str(pw), relay_networks="127.0.0.0/8",
                    retry_min="1s", retry_max="2s")
    msg, _ = make_message(sender=CAROL, to="erin@remote.test")
    a.deliver(["erin@remote.test"], msg, sender=CAROL)
    got = wait_for(lambda: b.messages("erin@remote.test"), what="delivery over SMTPS")
    assert " with ESMTPSA " in " ".join(parse(got[0]).get_all("Received")[0].split())
    assert "listener=smtps" in b.log()


def test_relayhost_certificate_verified_by_default(make_server, tmp_path):
    """relayhost_tls_verify defaults to yes: B's self-signed certificate is
    refused, the mail waits (it is not sent in the clear, not bounced)."""
    b = remote_server(make_server)
    b.start()
    pw = tmp_path / "relay-password"
    pw.write_text("carolsecret\n")
    a = make_server(relayhost=f"{HOST}:{b.smtp_port}", relayhost_user=CAROL,
                    relayhost_password_file=str(pw), relay_networks="127.0.0.0/8",
                    retry_min="1h", retry_max="2h")
    msg, _ = make_message(sender=CAROL, to="erin@remote.test")
    a.deliver(["erin@remote.test"], msg, sender=CAROL)
    wait_for(lambda: " next-in=" in a.log(), what="deferral")
    assert b.messages("erin@remote.test") == []
    assert "auth mech=" not in b.log()
    assert a.messages(ALICE) == []


class SlowMX:
    """A minimal SMTP server on loopback that waits `delay` seconds before
    answering the final dot, and counts the messages it accepted."""

    def __init__(self, delay):
        import socket
        import threading
        self.delay = delay
        self.accepted = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((HOST, 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                f = conn.makefile("rb")
                conn.sendall(b"220 slow.test ESMTP\r\n")
                in_data = False
                for line in f:
                    if in_data:
                        if line == b".\r\n":
                            in_data = False
                            time.sleep(self.delay)
                            self.accepted += 1
                            conn.sendall(b"250 2.0.0 ok\r\n")
                        continue
                    verb = line[:4].upper()
                    if verb == b"EHLO":
                        conn.sendall(b"250-slow.test\r\n250 8BITMIME\r\n")
                    elif verb == b"DATA":
                        in_data = True
                        conn.sendall(b"354 go\r\n")
                    elif verb == b"QUIT":
                        conn.sendall(b"221 bye\r\n")
                        break
                    else:
                        conn.sendall(b"250 ok\r\n")

    def close(self):
        self.stop = True
        self.sock.close()


def test_shutdown_lets_a_transaction_in_flight_finish(make_server):
    """SIGTERM while the next hop is answering the final dot: the server
    waits for the answer and records it, so the restart sends nothing
    twice (RFC 5321 6.1)."""
    mx = SlowMX(delay=2.0)
    try:
        a = make_server(**relay_conf(mx.port, relay_tls="none"))
        submit(a, [CAROL])
        wait_for(lambda: "connected mta=" in a.log(), what="relay session")
        time.sleep(0.5)  # the dot is out; the answer is 1.5 s away
        assert a.stop() == 0
        assert mx.accepted == 1
        assert "relay sent" in a.log()
        assert queue_ids(a) == []
        a.start()
        time.sleep(1.5)
        assert mx.accepted == 1, "sent twice"
    finally:
        mx.close()


def test_catch_all_and_abuse(make_server):
    """"@localhost: alice" takes addresses that match no account or alias;
    existing accounts keep their mail; abuse@ goes to the postmaster."""
    a = make_server(start=False)
    (a.data_dir / "aliases").write_text("@localhost: alice\n")
    a.start()
    msg, _ = make_message(to="whoever@localhost")
    a.deliver(["whoever@localhost"], msg)
    assert len(a.messages(ALICE)) == 1
    msg, _ = make_message(to=BOB)
    a.deliver([BOB], msg)
    assert len(a.messages(BOB)) == 1 and len(a.messages(ALICE)) == 1
    b = make_server()
    msg, _ = make_message(to="abuse@localhost")
    b.deliver(["abuse@localhost"], msg)
    assert len(b.messages("pm@localhost")) == 1
