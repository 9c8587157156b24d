"""Resource limits against hostile clients: slow-drip connections must not
starve others; max_connections and max_connections_per_ip refuse at once
with 421 / -ERR; idle sessions are closed after smtp_timeout /
pop3_timeout; max_errors mistakes end a session."""

import resource
import socket
import struct
import threading
import time

import pytest

import hardlib
from hardlib import Closed, make_message, parse_smtp_replies, wait_for

DRIPS = 500


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {want}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def timed_smtp_transaction(srv, tag):
    t0 = time.monotonic()
    msg, mid = make_message(tag, to="bob@localhost")
    with srv.smtp(timeout=10) as c:
        c.ehlo()
        r = c.send_mail("drip@example.org", ["bob@localhost"], msg)
        assert r.code == 250, r
        c.quit()
    return time.monotonic() - t0, mid


def timed_pop3_session(srv):
    t0 = time.monotonic()
    with srv.pop3(timeout=10) as p:
        p.login("bob@localhost")
        n, _ = p.ok("STAT").split()[1:3]
        assert int(n) >= 1
        p.retr(int(n))
        p.quit()
    return time.monotonic() - t0


def test_500_slow_drip_connections_do_not_starve_a_normal_client(make_server):
    raise_nofile(4096)
    srv = make_server(max_connections=5000, max_connections_per_ip=5000)
    socks = []
    stop = threading.Event()
    try:
        for i in range(DRIPS):
            port = srv.pop3_port if i % 5 == 0 else srv.smtp_port
            s = socket.create_connection((hardlib.HOST, port), timeout=10)
            socks.append(s)
        pattern = b"NOOP\r\n"

        def drip():
            k = 0
            while not stop.is_set():
                b = pattern[k % len(pattern): k % len(pattern) + 1]
                for s in socks:
                    try:
                        s.send(b)
                    except OSError:
                        pass
                k += 1
                stop.wait(1.0)

        t = threading.Thread(target=drip, daemon=True)
        t.start()
        time.sleep(1.2)
        smtp_times, pop3_times = [], []
        for i in range(3):
            dt, _ = timed_smtp_transaction(srv, f"among-drips-{i}")
            smtp_times.append(dt)
            pop3_times.append(timed_pop3_session(srv))
        print(f"with {DRIPS} drip connections: smtp {smtp_times} pop3 {pop3_times}")
        assert max(smtp_times) < 2.0, f"SMTP transaction too slow among drips: {smtp_times}"
        assert max(pop3_times) < 2.0, f"POP3 session too slow among drips: {pop3_times}"
        # Every drip connection was accepted and greeted: nobody was
        # starved to make room.
        greeted = 0
        for s in socks:
            s.settimeout(2)
            try:
                data = s.recv(200)
            except OSError:
                data = b""
            greeted += data.startswith(b"220 ") or data.startswith(b"+OK")
        assert greeted == DRIPS, f"only {greeted} of {DRIPS} drip connections were greeted"
        assert srv.alive()
    finally:
        stop.set()
        for s in socks:
            s.close()


# ---------------------------------------------------------------- limits


def refused_within(port, timeout=1.0):
    """Connects and returns (everything sent before the close, seconds)."""
    t0 = time.monotonic()
    c = hardlib.LineConn(port, timeout=5)
    with c:
        data = c.read_until_close(timeout=5)
    return data, time.monotonic() - t0


@pytest.mark.parametrize("key", ["max_connections", "max_connections_per_ip"])
def test_connection_limit_refuses_at_once(make_server, key):
    conf = {"max_connections": 100, "max_connections_per_ip": 100}
    conf[key] = 4
    srv = make_server(**conf)
    held = [srv.smtp(), srv.smtp(), srv.pop3(), srv.pop3()]
    try:
        data, dt = refused_within(srv.smtp_port)
        assert data.startswith(b"421 ") and data.endswith(b"\r\n"), data
        assert data.count(b"\r\n") == 1, data
        assert dt < 1.0, f"refusal took {dt:.2f} s"
        data, dt = refused_within(srv.pop3_port)
        assert data.startswith(b"-ERR") and data.endswith(b"\r\n"), data
        assert dt < 1.0, f"refusal took {dt:.2f} s"
        # the held sessions are unaffected
        held[0].cmd("NOOP", 250)
        held[2].ok("USER bob@localhost")
        # one leaves: a newcomer is served again
        held.pop(0).quit()

        def served():
            c = hardlib.LineConn(srv.smtp_port, timeout=5)
            line = c.read_line()
            if line.startswith(b"220 "):
                return c
            c.close()
            return None

        c = wait_for(served, 3, step=0.05, what="a free slot after a QUIT")
        c.close()
    finally:
        for h in held:
            h.close()
    assert "too-many-connections" in srv.log()
    wait_for(lambda: _serves(srv), 3, step=0.05, what="service after the held sessions")


def _serves(srv):
    try:
        srv.assert_serves()
        return True
    except (AssertionError, Closed):
        return False


# ---------------------------------------------------------------- timeouts


def test_smtp_idle_timeout_after_greeting_is_421(make_server):
    srv = make_server(smtp_timeout=2)
    with srv.smtp() as c:
        t0 = time.monotonic()
        c.settimeout(8)
        r = c.reply()
        dt = time.monotonic() - t0
        assert r.code == 421 and r.lines[0].startswith("4.4.2"), r
        assert 1.5 <= dt <= 4.5, dt
        assert c.closed_within(2)


def test_smtp_idle_timeout_mid_transaction_and_mid_line(make_server):
    srv = make_server(smtp_timeout=2)
    with srv.smtp() as c:
        c.ehlo()
        c.cmd("MAIL FROM:<idle@example.org>", 250)
        c.cmd("RCPT TO:<alice@localhost>", 250)
        c.send(b"DA")  # half a command, then nothing
        t0 = time.monotonic()
        c.settimeout(8)
        r = c.reply()
        dt = time.monotonic() - t0
        assert r.code == 421, r
        assert 1.5 <= dt <= 4.5, dt
        assert c.closed_within(2)
    assert srv.message_files("alice@localhost") == []
    srv.assert_serves()


def test_pop3_idle_timeout_closes_without_update(make_server):
    srv = make_server(pop3_timeout=2)
    msg, mid = make_message("idle-pop3", to="alice@localhost")
    srv.deliver("alice@localhost", msg)
    with srv.pop3() as p:
        t0 = time.monotonic()
        assert p.closed_within(6), "idle AUTHORIZATION session not closed"
        dt = time.monotonic() - t0
        assert 1.5 <= dt <= 4.5, dt
    with srv.pop3() as p:
        p.login("alice@localhost")
        p.ok("DELE 1")
        t0 = time.monotonic()
        assert p.closed_within(6), "idle TRANSACTION session not closed"
        dt = time.monotonic() - t0
        assert 1.5 <= dt <= 4.5, dt
    # RFC 1939 3: the autologout timer closes without entering UPDATE.
    assert srv.message_ids("alice@localhost") == [mid.encode()]
    # and the maildrop lock is free again
    with srv.pop3() as p:
        p.login("alice@localhost")
        p.quit()


# ---------------------------------------------------------------- max_errors


def test_smtp_max_errors_is_421_and_close(make_server):
    srv = make_server(max_errors=3)
    with srv.smtp() as c:
        c.ehlo()
        assert [c.cmd("FROB").code for _ in range(3)] == [500, 500, 500]
        r = c.reply()  # unasked: the session ends after the third mistake
        assert r.code == 421 and r.lines[0].startswith("4.7.0"), r
        assert c.closed_within(2)
    with srv.smtp() as c:
        c.send(b"FROB\r\nFROB\r\nFROB\r\n")
        replies = parse_smtp_replies(c.read_until_close(timeout=5))
    codes = [code for code, _ in replies]
    assert codes == [500, 500, 500, 421], codes
    assert replies[-1][1].startswith("4.7.0"), replies
    srv.assert_serves()


def test_smtp_error_flood_in_one_write_is_cut_off(make_server):
    srv = make_server(max_errors=3)
    with srv.smtp() as c:
        c.send(b"FROB\r\n" * 5000)
        codes = [code for code, _ in parse_smtp_replies(c.read_until_close(timeout=5))]
    assert codes == [500, 500, 500, 421], codes


def test_pop3_max_errors_closes(make_server):
    srv = make_server(max_errors=3)
    with srv.pop3() as p:
        p.send(b"FROB\r\n" * 50)
        data = p.read_until_close(timeout=5)
    lines = data.split(b"\r\n")[:-1]
    assert all(ln.startswith(b"-ERR") for ln in lines), lines
    assert 3 <= len(lines) <= 4, f"{len(lines)} replies with max_errors=3: {lines}"
    assert b"too many errors" in lines[-1].lower(), lines
    srv.assert_serves()


# ---------------------------------------------------------------- descriptors


def test_real_emfile_does_not_spin_and_recovers(make_server):
    """The daemon's own descriptor limit (prlimit) runs out: pending
    clients wait in the backlog, the loop does not spin, and they are
    served as soon as descriptors are free again."""
    srv = make_server()
    nfds = len(list((hardlib.Path(f"/proc/{srv.pid}/fd")).iterdir()))
    limit = nfds + 4
    old = resource.prlimit(srv.pid, resource.RLIMIT_NOFILE)
    resource.prlimit(srv.pid, resource.RLIMIT_NOFILE, (limit, old[1]))
    held = []
    try:
        for _ in range(10):
            held.append(socket.create_connection((hardlib.HOST, srv.smtp_port), timeout=5))
        time.sleep(1.0)
        greeted, waiting = [], []
        for s in held:
            s.setblocking(False)
            try:
                data = s.recv(200)
            except BlockingIOError:
                data = b""
            s.settimeout(5)
            (greeted if data.startswith(b"220 ") else waiting).append(s)
        assert greeted and waiting, (len(greeted), len(waiting))
        cpu0 = hardlib.cpu_seconds(srv.pid)
        t0 = time.monotonic()
        time.sleep(2.0)
        used = hardlib.cpu_seconds(srv.pid) - cpu0
        assert used < 0.25 * (time.monotonic() - t0), f"{used:.2f} s CPU at EMFILE: busy loop"
        assert "accept-paused" in srv.log()
        for s in greeted:
            s.close()
        # the waiting ones are served once descriptors are free
        for s in waiting[: len(greeted)]:
            s.settimeout(5)
            assert s.recv(200).startswith(b"220 "), "a waiting client was never served"
    finally:
        for s in held:
            s.close()
    resource.prlimit(srv.pid, resource.RLIMIT_NOFILE, old)
    wait_for(lambda: _serves(srv), 5, step=0.1, what="service after EMFILE")


# ---------------------------------------------------------------- back-pressure


def test_pipelined_retr_without_reading_stays_bounded(make_server, sanitized):
    srv = make_server()
    body = (b"x" * 70 + b"\r\n") * (8 * 1024 * 1024 // 72)
    msg, _ = make_message("big", to="alice@localhost", body=body)
    srv.deliver("alice@localhost", msg)
    time.sleep(0.2)
    rss0 = hardlib.rss_kib(srv.pid)
    p = srv.pop3()
    with p:
        p.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        p.login("alice@localhost")
        p.send(b"RETR 1\r\n" * 200 + b"TOP 1 100000\r\n" * 200)
        peak = rss0
        for _ in range(20):
            time.sleep(0.1)
            peak = max(peak, hardlib.rss_kib(srv.pid))
    grow = peak - rss0
    limit = (3 if not sanitized else 8) * len(msg) // 1024
    assert grow < limit, f"RSS grew by {grow} KiB for an {len(msg) >> 20} MiB message"
    srv.assert_serves("bob@localhost")


# ---------------------------------------------------------------- known bugs


def test_smtp_drip_never_completing_a_command_is_timed_out(make_server):
    srv = make_server(smtp_timeout=2)
    with srv.smtp() as c:
        c.sock.settimeout(0.1)
        t0 = time.monotonic()
        closed = False
        while time.monotonic() - t0 < 5.5:
            try:
                c.sock.send(b"N")
            except OSError:
                closed = True
                break
            if c.closed_within(0.5):
                closed = True
                break
        dt = time.monotonic() - t0
        assert closed, f"a dripping client kept its session for {dt:.1f} s with smtp_timeout=2"
        assert dt < 5.5, dt


def test_refused_connection_flood_is_rate_limited_in_the_log(make_server):
    srv = make_server(max_connections_per_ip=1)
    with srv.smtp() as held:
        for _ in range(300):
            c = hardlib.LineConn(srv.smtp_port, timeout=5)
            with c:
                assert c.read_line().startswith(b"421 ")
        held.cmd("NOOP", 250)
    refused = sum(1 for ln in srv.log().splitlines() if " refused " in ln)
    assert refused <= 30, f"{refused} log lines for 300 refused connections from one address"


# ---------------------------------------------------------------- churn


def _rst_close(sock):
    """Close with RST (SO_LINGER 0): the peer vanishes mid-sentence."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def test_abandoned_sessions_never_leak_slots_or_locks(make_server, rng):
    """Clients vanish at every awkward moment (during a password check on
    a worker, a commit, a RETR, a half line); afterwards every connection
    slot and the maildrop lock are free again."""
    per_ip = 4
    srv = make_server(max_connections_per_ip=per_ip, max_connections=1000)
    big = (b"y" * 70 + b"\r\n") * 20000
    msg, big_mid = make_message("churn-big", to="alice@localhost", body=big)
    srv.deliver("alice@localhost", msg)
    plan = ["pop3-pass", "pop3-retr", "pop3-dele-quit", "smtp-dot", "smtp-half",
            "smtp-data", "pop3-half"]
    for i in range(60):
        what = plan[i % len(plan)]
        rst = rng.random() < 0.5
        if what.startswith("pop3"):
            c = hardlib.LineConn(srv.pop3_port)
            c.read_line()
            if what == "pop3-pass":
                c.send(b"USER alice@localhost\r\nPASS secret\r\n")
            elif what == "pop3-retr":
                c.send(b"USER alice@localhost\r\nPASS secret\r\nRETR 1\r\n")
                time.sleep(0.05)
            elif what == "pop3-dele-quit":
                c.send(b"USER alice@localhost\r\nPASS wrong\r\nDELE 1\r\nQUIT\r\n")
            else:
                c.send(b"USER ali")
        else:
            c = hardlib.LineConn(srv.smtp_port)
            c.read_line()
            if what == "smtp-dot":
                m, _ = make_message(f"churn{i}", to="bob@localhost")
                c.send(b"EHLO c\r\nMAIL FROM:<c@example.org>\r\nRCPT TO:<bob@localhost>\r\n"
                       b"DATA\r\n" + hardlib.data_bytes(m))
            elif what == "smtp-data":
                c.send(b"EHLO c\r\nMAIL FROM:<c@example.org>\r\nRCPT TO:<bob@localhost>\r\n"
                       b"DATA\r\nSubject: cut\r\n\r\nhalf a bo")
            else:
                c.send(b"MAIL FROM:<c@exa")
        if rst:
            _rst_close(c.sock)
        else:
            c.close()
    # every session ended: the per-address count is back to zero
    wait_for(lambda: srv.log().count(" connect peer=") == srv.log().count(" disconnect"),
             10, step=0.1, what="every abandoned session to be freed")
    held = []
    try:
        for k in range(per_ip):
            port = srv.smtp_port if k % 2 else srv.pop3_port
            c = hardlib.LineConn(port)
            line = c.read_line()
            held.append(c)
            assert line.startswith((b"220 ", b"+OK")), f"slot {k} refused: {line!r}"
    finally:
        for c in held:
            c.close()
    # the maildrop lock was released by every vanished POP3 session
    wait_for(lambda: _serves(srv), 5, step=0.1, what="service after the churn")
    with srv.pop3() as p:
        p.login("alice@localhost")
        p.quit()
    # the big message is still there: no vanished session deleted it
    assert srv.message_ids("alice@localhost") == [big_mid.encode()]
