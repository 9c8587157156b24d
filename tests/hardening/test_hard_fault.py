"""Fault injection with tests/fault/faultshim.so (LD_PRELOAD): a failing
disk must cost a 4xx and nothing else (never a half message, never a lost
session), and a full descriptor table must neither spin nor wedge the
listener.

Promises checked (doc/design.md, "The life of a message" step 4): a
failed commit answers 451 4.3.0, or 452 4.3.1 when the disk is full
(ENOSPC/EDQUOT), and leaves nothing visible in new/ (or tmp/).
"""

import socket
import time

import pytest

import hardlib
from hardlib import make_message, wait_for


def new_fault_lines(srv, before):
    return srv.fault_log()[before:]


def attempt(c, rcpts, tag):
    """One transaction on an open session; returns (reply, Message-ID)."""
    msg, mid = make_message(tag, to=rcpts[0])
    c.cmd("MAIL FROM:<fault@example.org>", 250)
    for r in rcpts:
        c.cmd(f"RCPT TO:<{r}>", 250)
    c.cmd("DATA", 354)
    c.send(hardlib.data_bytes(msg))
    return c.reply(), mid


def assert_nothing_stored(srv, rcpts):
    for r in rcpts:
        assert srv.message_files(r) == [], f"{r}: something visible after a failed commit"
        assert srv.tmp_files(r) == [], f"{r}: tmp/ not cleaned after a failed commit"


CASES = [
    # rule, recipients, expected code, enhanced code, call that must fail
    ("FSYNC_REG=EIO", ["alice@localhost"], 451, "4.3.0", "fsync EIO"),
    ("FSYNC=EIO", ["alice@localhost"], 451, "4.3.0", "fsync EIO"),
    # fsync of new/ after the link: the link must be undone
    ("FSYNC_DIR=EIO", ["alice@localhost"], 451, "4.3.0", "fsync EIO"),
    ("FSYNC_DIR=EIO:1:1", ["alice@localhost", "bob@localhost"], 451, "4.3.0", "fsync EIO"),
    ("WRITE=ENOSPC", ["alice@localhost"], 452, "4.3.1", "ENOSPC"),
    ("WRITE=EDQUOT", ["alice@localhost"], 452, "4.3.1", "EDQUOT"),
    ("WRITE=EIO", ["alice@localhost"], 451, "4.3.0", "EIO"),
    ("FSYNC=ENOSPC", ["alice@localhost"], 452, "4.3.1", "fsync ENOSPC"),
    ("FSYNC_DIR=ENOSPC", ["alice@localhost"], 452, "4.3.1", "fsync ENOSPC"),
    # second recipient's link fails: the first one's copy must go too
    ("LINK=EIO:1:1", ["alice@localhost", "bob@localhost"], 451, "4.3.0", "linkat EIO"),
    ("LINK=ENOSPC:1:1", ["alice@localhost", "bob@localhost"], 452, "4.3.1", "linkat ENOSPC"),
]


@pytest.mark.parametrize("rule,rcpts,code,esc,call", CASES,
                         ids=[c[0] + ("-2rcpt" if len(c[1]) > 1 else "") for c in CASES])
def test_disk_fault_during_data_is_4xx_nothing_visible_session_continues(
        make_server, rule, rcpts, code, esc, call):
    srv = make_server(shim=True)
    before = len(srv.fault_log())
    with srv.smtp() as c:
        c.ehlo()
        srv.fault(rule)
        r, failed_mid = attempt(c, rcpts, "faulty")
        fired = new_fault_lines(srv, before)
        assert fired, f"the fault {rule} never fired; reply {r.raw!r}"
        assert any(call in ln for ln in fired), fired
        assert r.code == code and r.lines[0].startswith(esc + " "), (
            f"{rule}: got {r.raw!r}, wanted {code} {esc}")
        assert_nothing_stored(srv, rcpts)
        # the session goes on; with the disk healthy again the next
        # message is stored, once, in every mailbox
        srv.fault("")
        r, mid = attempt(c, rcpts, "after-fault")
        assert r.code == 250, r
        c.quit()
    for rc in rcpts:
        assert srv.message_ids(rc) == [mid.encode()], f"{rc}: {srv.message_ids(rc)}"
    assert srv.tmp_files() == []
    assert "store-failed" in srv.log()


def test_disk_full_then_recovered_over_many_sessions(make_server):
    """ENOSPC for the first 5 deliveries, whatever sessions they come on;
    each gets 452, then everything is stored exactly once."""
    srv = make_server(shim=True)
    srv.fault("FSYNC=ENOSPC:5")
    codes = []
    stored = []
    for i in range(8):
        with srv.smtp() as c:
            c.ehlo()
            r, mid = attempt(c, ["bob@localhost"], f"full{i}")
            codes.append(r.code)
            if r.code == 250:
                stored.append(mid.encode())
            c.quit()
    assert codes == [452] * 5 + [250] * 3, codes
    assert sorted(srv.message_ids("bob@localhost")) == sorted(stored)
    assert srv.tmp_files() == []


def test_fsync_failure_during_pop3_update_is_err_and_keeps_unmarked(make_server):
    srv = make_server(shim=True)
    mids = []
    for i in range(4):
        msg, mid = make_message(f"upd{i}", to="alice@localhost")
        srv.deliver("alice@localhost", msg)
        mids.append(mid.encode())
    before = len(srv.fault_log())
    with srv.pop3() as p:
        p.login("alice@localhost")
        p.ok("TOP 1 0")
        head = p.read_multi()
        marked = hardlib.MESSAGE_ID.search(head).group(1)
        p.ok("DELE 1")
        srv.fault("FSYNC_DIR=EIO")
        s = p.cmd("QUIT")
        srv.fault("")
        assert new_fault_lines(srv, before), "the fault never fired"
        # RFC 1939 6: an UPDATE that could not complete answers -ERR
        assert s.startswith("-ERR"), s
        assert p.closed_within(5)
    left = srv.message_ids("alice@localhost")
    assert set(mids) - {marked} <= set(left), "an unmarked message disappeared"
    srv.assert_serves("alice@localhost")


# ---------------------------------------------------------------- accept


def smtp_greeting_within(sock, timeout):
    sock.settimeout(timeout)
    try:
        data = sock.recv(1024)
    except socket.timeout:
        return None
    return data


@pytest.mark.parametrize("err", ["EMFILE", "ENFILE"])
def test_accept_emfile_does_not_spin_and_recovers(make_server, err):
    srv = make_server(shim=True)
    srv.assert_serves()
    before = len(srv.fault_log())
    srv.fault(f"ACCEPT={err}")
    waiting = socket.create_connection((hardlib.HOST, srv.smtp_port), timeout=5)
    try:
        # The kernel completed the handshake; the daemon cannot accept.
        wait_for(lambda: len(srv.fault_log()) > before, 5, what="an accept() failure")
        cpu0 = hardlib.cpu_seconds(srv.pid)
        t0 = time.monotonic()
        time.sleep(2.0)
        used = hardlib.cpu_seconds(srv.pid) - cpu0
        wall = time.monotonic() - t0
        fails = len(srv.fault_log()) - before
        assert srv.alive()
        assert used < 0.25 * wall, f"{used:.2f} s CPU in {wall:.2f} s: busy loop on {err}"
        assert fails <= 20, f"{fails} accept() calls in ~2 s: the listener retries too fast"
        srv.fault("")
        # Accepting resumes: the waiting client is greeted, new ones too.
        greeting = smtp_greeting_within(waiting, 5)
        assert greeting and greeting.startswith(b"220 "), greeting
    finally:
        waiting.close()
    srv.assert_serves()
    assert "accept-paused" in srv.log()


def test_accept_fails_a_few_times_then_serves_without_help(make_server):
    srv = make_server(shim=True)
    srv.fault("ACCEPT=EMFILE:3")
    t0 = time.monotonic()
    with srv.smtp(timeout=15) as c:
        assert c.greeting.code == 220
        c.quit()
    assert time.monotonic() - t0 < 10
    with srv.pop3(timeout=15) as p:
        p.login("bob@localhost")
        p.quit()
    assert len(srv.fault_log()) >= 3


def test_pop3_listener_also_survives_emfile(make_server):
    srv = make_server(shim=True)
    srv.fault("ACCEPT=EMFILE")
    s = socket.create_connection((hardlib.HOST, srv.pop3_port), timeout=5)
    try:
        wait_for(lambda: srv.fault_log(), 5, what="an accept() failure")
        cpu0 = hardlib.cpu_seconds(srv.pid)
        time.sleep(1.5)
        assert hardlib.cpu_seconds(srv.pid) - cpu0 < 0.4
        srv.fault("")
        data = smtp_greeting_within(s, 5)
        assert data and data.startswith(b"+OK"), data
    finally:
        s.close()
    with srv.pop3() as p:
        p.login("alice@localhost")
        p.quit()


def test_fault_from_the_environment_alone(make_server):
    """FAULT_<NAME> in the environment works without a control file: the
    first delivery after start fails with 452, the next is stored."""
    srv = make_server(start=False, shim=True)
    srv.env["FAULT_WRITE"] = "ENOSPC:1"
    srv.start()
    with srv.smtp() as c:
        c.ehlo()
        r, _ = attempt(c, ["bob@localhost"], "env-fault")
        assert r.code == 452, r
        r, mid = attempt(c, ["bob@localhost"], "env-after")
        assert r.code == 250, r
        c.quit()
    assert srv.message_ids("bob@localhost") == [mid.encode()]
    assert any("ENOSPC" in ln for ln in srv.fault_log())
