"""Concurrency: twenty smtplib senders at once (with POP3 readers in the
middle of it) and many simultaneous connections. Every message that got
250 must be stored exactly once."""

import re
import smtplib
import socket
import struct
import threading
import time

from harness import HOST, Closed, make_message

SENDERS = 20
PER_SENDER = 10


def test_twenty_concurrent_senders(make_server):
    srv = make_server(max_connections=500, max_connections_per_ip=200)
    rcpts = ["alice@localhost", "bob@localhost"]
    sent = {r: [] for r in rcpts}
    errors = []
    lock = threading.Lock()
    start = threading.Barrier(SENDERS + 1)
    done = threading.Event()

    def sender(n):
        try:
            start.wait(10)
            for i in range(PER_SENDER):
                rcpt = rcpts[(n + i) % 2]
                msg, mid = make_message(subject=f"load {n}/{i}", to=rcpt,
                                        body=f"sender {n} message {i}\r\n" * (1 + 50 * (i % 3)))
                # half the messages on one long session, half on fresh ones
                if i % 2 == 0:
                    with smtplib.SMTP(HOST, srv.smtp_port, timeout=20) as s:
                        s.sendmail(f"s{n}@example.org", [rcpt], msg)
                else:
                    sessions[n].sendmail(f"s{n}@example.org", [rcpt], msg)
                with lock:
                    sent[rcpt].append(mid)
        except Exception as e:  # collected and reported below
            errors.append(f"sender {n}: {e!r}")

    def reader():
        # POP3 sessions while mail pours in: never an error but IN-USE
        while not done.is_set():
            try:
                with srv.pop3() as p:
                    p.ok("USER bob@localhost")
                    r = p.cmd("PASS bobsecret")
                    if r.startswith("+OK"):
                        n, _ = p.stat()
                        if n:
                            p.retr(n)
                        p.quit()
                    else:
                        assert r.startswith("-ERR [IN-USE]"), r
            except Exception as e:  # collected and reported below
                errors.append(f"reader: {e!r}")
                return
            time.sleep(0.02)

    sessions = [smtplib.SMTP(HOST, srv.smtp_port, timeout=20) for _ in range(SENDERS)]
    threads = [threading.Thread(target=sender, args=(n,)) for n in range(SENDERS)]
    readers = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads + readers:
        t.start()
    start.wait(10)
    t0 = time.monotonic()
    for t in threads:
        t.join(120)
    done.set()
    for t in readers:
        t.join(20)
    elapsed = time.monotonic() - t0
    for s in sessions:
        try:
            s.quit()
        except smtplib.SMTPException:
            pass
    assert not errors, errors[:5]
    assert sum(len(v) for v in sent.values()) == SENDERS * PER_SENDER
    for rcpt, mids in sent.items():
        stored = srv.messages(rcpt)
        assert len(stored) == len(mids), rcpt
        found = []
        for m in stored:
            hit = re.search(rb"^Message-ID: (<[^>]+>)$", m, re.M)
            assert hit, m[:300]
            found.append(hit.group(1).decode())
        assert sorted(found) == sorted(mids), rcpt
    assert srv.all_tmp_files() == []
    with srv.pop3_login("bob@localhost") as p:
        assert p.stat()[0] == len(sent["bob@localhost"])
    print(f"{SENDERS * PER_SENDER} messages in {elapsed:.2f} s")


def test_hundred_simultaneous_connections(make_server):
    srv = make_server(max_connections=500, max_connections_per_ip=200)
    conns = []
    try:
        for _ in range(100):
            conns.append(srv.smtp())
        for c in conns:
            assert c.greeting.code == 220
        for c in conns[::2]:
            c.ehlo()
        for i, c in enumerate(conns[::2][:10]):
            msg, _ = make_message(subject=f"c{i}")
            assert c.send_mail("s@example.org", ["bob@localhost"], msg).code == 250
        for c in conns:
            c.cmd("NOOP", 250)
    finally:
        for c in conns:
            c.close()
    assert len(srv.messages("bob@localhost")) == 10


def test_connection_slots_are_released(make_server):
    """Per-IP accounting survives every way a client can leave: QUIT, a
    reset (SO_LINGER 0), a close in the middle of DATA or of a POP3 login."""
    srv = make_server(max_connections_per_ip=5)
    for i in range(60):
        port = srv.smtp_port if i % 2 else srv.pop3_port
        s = socket.create_connection((HOST, port), timeout=5)
        kind = (i // 2) % 4
        if kind == 0:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif kind == 1 and port == srv.smtp_port:
            s.sendall(b"EHLO x\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<bob@localhost>\r\n"
                      b"DATA\r\npartial")
        elif kind == 1:
            s.sendall(b"USER bob@localhost\r\nPASS bobsecret\r\nSTAT\r\n")
        elif kind == 2:
            s.sendall(b"QUIT\r\n")
            s.recv(100)
        s.close()
    # every slot must come back: five at once, on each protocol
    for make in (srv.smtp, srv.pop3):
        deadline = time.monotonic() + 5
        while True:
            conns = []
            try:
                for _ in range(5):
                    conns.append(make())
                greet = [getattr(c.greeting, "code", c.greeting) for c in conns]
                if all(g == 220 or str(g).startswith("+OK") for g in greet):
                    break
            except (Closed, AssertionError, OSError):
                pass
            finally:
                for c in conns:
                    c.close()
            assert time.monotonic() < deadline, "connection slots leaked"
            time.sleep(0.1)
