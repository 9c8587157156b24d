"""Crash consistency: SIGKILL the daemon at random moments under load and
check what is on disk after each restart.

Promises checked (doc/design.md, "The life of a message" and "POP3"):
- a message that got 250 is in every recipient's new/ exactly once; a
  second copy exists only when one of its attempts was sent completely
  and never answered (RFC 5321 6.1: the client retried);
- nothing partial is ever visible in new/ or cur/;
- tmp/ files older than a minute are removed at start, younger ones kept;
- QUIT's UPDATE deletes only messages marked with DELE, all of them once
  "+OK" was sent, none if the session just dropped.

HARDENING_SEED replays the random delays; HARDENING_ROUNDS (default 20)
sets the number of kills of the SMTP test.
"""

import os
import random
import re
import signal
import threading
import time

import pytest

import hardlib
from hardlib import Closed, SMTPClient, data_bytes, make_message

THREADS = 8
ROUNDS = int(os.environ.get("HARDENING_ROUNDS", "20"))
RCPTS = ["alice@localhost", "bob@localhost"]
OLD = 3600  # seconds: a tmp file this old is garbage at start


def strip_trace(stored):
    """The stored message without the Return-Path/Received fields the
    server prepends (with their folded continuation lines)."""
    lines = stored.split(b"\n")
    i = 0
    while i < len(lines) and (lines[i].startswith(b"Return-Path:")
                              or lines[i].startswith(b"Received:")):
        i += 1
        while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
            i += 1
    return b"\n".join(lines[i:])


class Ledger:
    """What every client attempt saw, per Message-ID."""

    def __init__(self):
        self.lock = threading.Lock()
        self.msgs = {}  # mid -> dict(rcpts, body, ok, doubt, refused)

    def new(self, tag, rcpts):
        msg, mid = make_message(tag, to=rcpts[0])
        with self.lock:
            self.msgs[mid] = {"rcpts": rcpts, "body": msg, "ok": 0, "doubt": 0,
                              "refused": 0}
        return mid

    def count(self, mid, what):
        with self.lock:
            self.msgs[mid][what] += 1


def sender(port, ledger, queue, stop, rng, tid, stats, stopping_ok=False):
    """Sends messages until the server goes away or stop is set. queue
    holds this thread's Message-IDs not yet answered with 250 (retried
    first, like an MTA's queue). stopping_ok: the server may also stop
    cleanly (421 to a command) rather than vanish."""
    n = 0
    while not stop.is_set():
        try:
            c = SMTPClient(port, timeout=5)
        except (OSError, Closed, AssertionError):
            return
        try:
            c.ehlo()
            for _ in range(rng.randint(1, 6)):
                if stop.is_set():
                    break
                if not queue:
                    n += 1
                    rc = rng.choice([[RCPTS[tid % 2]]] * 4 + [RCPTS])
                    queue.append(ledger.new(f"t{tid}n{n}", rc))
                mid = queue[0]
                m = ledger.msgs[mid]
                c.cmd("MAIL FROM:<crash@example.org>", 250)
                for r in m["rcpts"]:
                    c.cmd(f"RCPT TO:<{r}>", 250)
                c.cmd("DATA", 354)
                # From here on the server may commit: an unanswered
                # attempt is "in doubt" (it may or may not be stored).
                ledger.count(mid, "doubt")
                c.send(data_bytes(m["body"]))
                r = c.reply()
                with ledger.lock:
                    m["doubt"] -= 1
                    if r.code == 250:
                        m["ok"] += 1
                        queue.pop(0)
                        stats["ok"] += 1
                    else:
                        m["refused"] += 1
                        stats["refused"] += 1
                assert r.code in (250, 421, 451, 452), r
            c.cmd("QUIT")
        except (OSError, Closed):
            stats["dropped"] += 1
        except AssertionError as e:
            if stopping_ok and "-> b'421 " in str(e):
                stats["dropped"] += 1
            else:
                # A wrong reply (a kill only ever closes the connection).
                stats["errors"].append(f"thread {tid}: {e}")
        finally:
            c.close()


def plant_tmp(srv, name, age):
    p = srv.maildir("alice@localhost") / "tmp" / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"Return-Path: <planted@example.org>\nSubject: half a mess")
    t = time.time() - age
    os.utime(p, (t, t))
    return p


def kill_store(srv):
    """SIGKILL the store process (the Maildirs' writer) by its pid; the
    server notices and stops with status 1 (a supervisor restarts it)."""
    pid = int(re.findall(r"server store-process pid=(\d+)", srv.log())[-1])
    os.kill(pid, signal.SIGKILL)
    p, srv.proc = srv.proc, None
    assert p.wait(15) == 1, "the server must stop when its store process dies"
    srv.killed += 1


@pytest.mark.parametrize("victim,rounds", [("server", ROUNDS), ("store", max(ROUNDS // 2, 1))])
def test_kill9_under_smtp_load_loses_and_corrupts_nothing(make_server, rng, victim, rounds):
    srv = make_server(start=False)
    ledger = Ledger()
    queues = [[] for _ in range(THREADS)]
    stats = {"ok": 0, "refused": 0, "dropped": 0, "errors": []}
    delays = []
    for rnd in range(rounds):
        old = plant_tmp(srv, f"100.planted-old-{rnd}.host", OLD)
        srv.start(keep_ports=rnd > 0)
        assert not old.exists(), f"round {rnd}: stale tmp file {old.name} survived a start"
        stop = threading.Event()
        threads = [threading.Thread(target=sender, daemon=True,
                                    args=(srv.smtp_port, ledger, queues[t], stop,
                                          random.Random(rng.randrange(1 << 30)), t, stats,
                                          victim == "store"))
                   for t in range(THREADS)]
        for t in threads:
            t.start()
        delay = rng.choice([rng.uniform(0.0, 0.05), rng.uniform(0.05, 0.6),
                            rng.uniform(0.3, 1.0)])
        delays.append(round(delay, 3))
        time.sleep(delay)
        if victim == "store":
            kill_store(srv)
        else:
            srv.kill9()
        stop.set()
        for t in threads:
            t.join(20)
            assert not t.is_alive(), "a sender thread hung after the kill"
    assert not stats["errors"], stats["errors"]

    # Every leftover of the crashes is younger than a minute: make them
    # old, plant one young file, and start once more.
    leftovers = srv.tmp_files()
    t = time.time() - OLD
    for p in leftovers:
        os.utime(p, (t, t))
    young = plant_tmp(srv, "100.planted-young.host", 10)
    srv.start(keep_ports=True)
    survivors = [p.name for p in srv.tmp_files() if p != young]
    assert not survivors, f"crash leftovers older than 60 s survived the start: {survivors}"
    assert young.exists(), "a tmp file younger than 60 s was removed at start"
    young.unlink()

    # On disk: every file whole, every 250 stored exactly once.
    dupes = []
    copies = {}
    for rcpt in RCPTS:
        for p in srv.message_files(rcpt):
            mid = hardlib.check_message_file(p)
            assert mid is not None, f"{p}: no Message-ID"
            mid = mid.decode()
            assert mid in ledger.msgs, f"{p}: unknown message {mid}"
            m = ledger.msgs[mid]
            assert rcpt in m["rcpts"], f"{mid} delivered to {rcpt}, not a recipient"
            want = m["body"].replace(b"\r\n", b"\n")
            assert strip_trace(p.read_bytes()) == want, f"{p}: content differs from what was sent"
            copies[(rcpt, mid)] = copies.get((rcpt, mid), 0) + 1
    lost = []
    for mid, m in ledger.msgs.items():
        assert m["ok"] <= 1, f"{mid} got 250 twice (the client never resends after 250)"
        for rcpt in m["rcpts"]:
            n = copies.get((rcpt, mid), 0)
            if m["ok"] and n == 0:
                lost.append((rcpt, mid))
            # Each attempt stores at most one copy; refused (4xx) attempts none.
            assert n <= m["ok"] + m["doubt"], (
                f"{mid} in {rcpt}: {n} copies from {m['ok']} accepted and "
                f"{m['doubt']} unanswered attempts ({m['refused']} refused)")
            if n > 1:
                dupes.append((rcpt, mid, n))
    assert not lost, f"messages acknowledged with 250 but missing: {lost}"

    # What POP3 shows agrees with the directory.
    with srv.pop3() as p:
        p.login("alice@localhost")
        n, _ = p.ok("STAT").split()[1:3]
        assert int(n) == len(srv.message_files("alice@localhost"))
        p.quit()

    doubt = sum(1 for m in ledger.msgs.values() if m["doubt"])
    print(f"victim={victim} rounds={rounds} delays={delays}")
    print(f"messages={len(ledger.msgs)} accepted={stats['ok']} refused={stats['refused']} "
          f"dropped-sessions={stats['dropped']} unanswered={doubt} "
          f"rfc5321-6.1-duplicates={len(dupes)} {dupes}")
    assert stats["ok"] >= rounds, f"too little load to mean anything: {stats}"


# ---------------------------------------------------------------- POP3


def top_mids(p, count):
    """Message number -> Message-ID, from TOP n 0."""
    out = {}
    for i in range(1, count + 1):
        p.ok(f"TOP {i} 0")
        head = p.read_multi()
        m = hardlib.MESSAGE_ID.search(head)
        assert m, head
        out[i] = m.group(1).decode()
    return out


def mids_on_disk(srv, rcpt):
    return [hardlib.check_message_file(p).decode() for p in srv.message_files(rcpt)]


def test_kill9_around_pop3_quit_deletes_only_marked(make_server, rng):
    srv = make_server(start=False)
    rcpt = "alice@localhost"
    rounds = 10
    modes = ["kill-before-quit", "kill-right-after-quit", "kill-soon-after-quit",
             "kill-after-ok"]
    seen = []
    for rnd in range(rounds):
        srv.start(keep_ports=rnd > 0)
        have = mids_on_disk(srv, rcpt)
        for i in range(max(0, 8 - len(have))):
            msg, _ = make_message(f"pop{rnd}.{i}", to=rcpt)
            srv.deliver(rcpt, msg)
        before = mids_on_disk(srv, rcpt)
        assert len(before) == len(set(before)), "duplicate Message-IDs before the round"
        mode = modes[rnd % len(modes)]
        with srv.pop3() as p:
            p.login(rcpt)
            n, _ = p.ok("STAT").split()[1:3]
            by_num = top_mids(p, int(n))
            assert sorted(by_num.values()) == sorted(before)
            marked_nums = rng.sample(sorted(by_num), rng.randint(1, len(by_num) - 1))
            for i in marked_nums:
                p.ok(f"DELE {i}")
            marked = {by_num[i] for i in marked_nums}
            got_ok = False
            if mode == "kill-before-quit":
                srv.kill9()
            elif mode == "kill-after-ok":
                p.ok("QUIT")
                got_ok = True
                srv.kill9()
            else:
                p.send("QUIT\r\n")
                if mode == "kill-soon-after-quit":
                    time.sleep(rng.uniform(0, 0.01))
                srv.kill9()
                try:
                    p.settimeout(1)
                    got_ok = p.status().startswith("+OK")
                except (Closed, OSError, AssertionError):
                    got_ok = False
        srv.start(keep_ports=True)
        after = mids_on_disk(srv, rcpt)
        vanished = set(before) - set(after)
        assert vanished <= marked, (
            f"round {rnd} ({mode}): unmarked messages disappeared: {vanished - marked}")
        assert set(after) <= set(before), f"round {rnd}: messages appeared from nowhere"
        if got_ok:
            assert not (marked & set(after)), (
                f"round {rnd} ({mode}): +OK to QUIT but marked messages remain: "
                f"{marked & set(after)}")
        if mode == "kill-before-quit":
            assert not vanished, f"round {rnd}: a dropped session deleted {vanished}"
        # The kernel released the maildrop lock of the killed process.
        with srv.pop3() as p:
            p.login(rcpt)
            p.quit()
        seen.append((mode, len(marked), len(vanished), got_ok))
        srv.kill9()
    print(f"pop3 rounds (mode, marked, deleted, +OK seen): {seen}")
