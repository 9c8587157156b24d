"""Crash guarantees of the outbound queue (doc/queue.md), with real
processes: "A" (domain localhost) takes mail from alice and relays it to
"B" (domain remote.test, account carol) over a static route on loopback.

Promises checked:
- kill -9 of A under load: every message A answered with 250 reaches B
  at least once; B never holds a message whose client did not send it
  whole (and none that A refused); B never holds a partial message; a
  second copy at B exists only for an entry whose attempt was cut by a
  kill (RFC 5321 6.1), and there are no more of them than entries B had
  answered 250 for that were still queued at a kill, plus
  relay_concurrency transactions in flight per kill (kills x
  relay_concurrency alone is not a bound: a session takes its next job
  as soon as B answers, before the entry's removal is durable, so a kill
  can leave more acknowledged entries queued than there are sessions;
  the figures are printed); after each kill no envelope is without its message
  (invariant 2) and nothing is quarantined; after the drain the queue,
  queue/tmp and queue/corrupt are empty, and msg/ leftovers of the kills
  go at the first start once older than RECOVER_MIN_AGE;
- kill -9 of B while A relays: A defers and delivers everything once B is
  back; no loss, no bounce to alice; duplicates (B killed after storing,
  before its 250 reached A) at most relay_concurrency per kill;
- damaged entries: an envelope that does not parse is quarantined to
  corrupt/ with its message and a .reason (while running, and at start);
  an envelope without its message is quarantined at start with the
  reason "envelope without message" (while running the relay cannot
  lock such an entry, its lock being on msg/, and leaves it for the next
  start, which the test does not hold against it); a msg/ file without envelope is
  removed at start only when older than RECOVER_MIN_AGE (1 h), a younger
  one is kept; queue/tmp is emptied at start; a good entry next to the
  damage is delivered and A keeps serving.

HARDENING_SEED replays the random delays; HARDENING_RELAY_ROUNDS (default
12) sets the number of kills of A, HARDENING_RELAY_B_ROUNDS (default 10)
the number of kills of B, HARDENING_RELAY_CONCURRENCY (default 4) A's
relay_concurrency. B must get its port back at each restart (the route
names it); facteur binds with SO_REUSEADDR, so only another process
taking the port in between would fail the test.
"""

import email
import os
import random
import re
import smtplib
import subprocess
import threading
import time

import hardlib
from hardlib import ACCOUNTS, FACTEUR_BIN, HOST, wait_for

ALICE = "alice@localhost"
CAROL = "carol@remote.test"
CAROL_PW = "carolsecret"
CONCURRENCY = int(os.environ.get("HARDENING_RELAY_CONCURRENCY", "4"))  # A: sessions to B
THREADS = 6        # submitting clients
ROUNDS = int(os.environ.get("HARDENING_RELAY_ROUNDS", "12"))
B_ROUNDS = int(os.environ.get("HARDENING_RELAY_B_ROUNDS", "10"))
OLD = 2 * 3600     # older than RECOVER_MIN_AGE (3600 s, src/daemon/relay.c)
DRAIN_TIMEOUT = 60

A_QID = re.compile(r"\bid ([A-Za-z0-9._-]+)")
QUEUED_AS = re.compile(r"queued as ([A-Za-z0-9._-]+)")


# --------------------------------------------------------------- servers


def cli(srv, *args, input=b""):
    return subprocess.run([str(FACTEUR_BIN), *map(str, args), "-c", str(srv.conf_path)],
                          input=input, capture_output=True, timeout=60)


def remote_server(make_server):
    """B: final destination for remote.test, with carol only (accounts
    made with the real CLI, like tests/integration/test_relay.py)."""
    b = make_server(start=False, domains="remote.test", postmaster=CAROL)
    (b.data_dir / "passwd").write_text("")
    conf = b.root / "users.conf"
    hardlib.write_conf(conf, {"data_dir": str(b.data_dir), "domains": "remote.test",
                              "smtp_listen": "none", "pop3_listen": "none"})
    r = subprocess.run([str(FACTEUR_BIN), "user", "add", CAROL, "--password-stdin",
                        "-c", str(conf)], input=(CAROL_PW + "\n").encode(),
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return b


def relay_server(make_server, b_port, start=True, **extra):
    conf = {"routes": f"remote.test={HOST}:{b_port}", "retry_min": "1s",
            "retry_max": "2s", "relay_concurrency": CONCURRENCY}
    conf.update(extra)
    return make_server(start=start, **conf)


def restart_keeping_port(srv, what):
    port = srv.smtp_port
    srv.start(keep_ports=True)
    assert srv.smtp_port == port, (
        f"{what} could not get its port {port} back (now {srv.smtp_port}): the route "
        "would point nowhere")


# --------------------------------------------------------------- the queue


def qdir(srv):
    return srv.data_dir / "queue"


def qnames(srv, sub):
    d = qdir(srv) / sub
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


def queue_ids(srv):
    r = cli(srv, "queue", "list")
    assert r.returncode == 0, r.stderr
    return [ln.split()[0] for ln in r.stdout.decode().splitlines()
            if ln and not ln.startswith(("ID", " ")) and "entr" not in ln and "empty" not in ln]


def queue_is_empty(srv):
    return not qnames(srv, "env") and not qnames(srv, "hold") and not queue_ids(srv)


def drain(a):
    r = cli(a, "queue", "flush")
    assert r.returncode == 0, r.stderr
    t0 = time.monotonic()
    wait_for(lambda: queue_is_empty(a), timeout=DRAIN_TIMEOUT, step=0.2,
             what=f"A's queue to drain (left: {qnames(a, 'env')})")
    return time.monotonic() - t0


def check_spool_after_kill(a, when):
    """What a kill may leave (doc/queue.md, crash tables): never an
    envelope without its message, never a quarantine."""
    msgs = set(qnames(a, "msg"))
    for sub in ("env", "hold"):
        orphans = [n for n in qnames(a, sub) if n not in msgs]
        assert not orphans, f"{when}: {sub}/ entries without msg/: {orphans}"
    assert not qnames(a, "corrupt"), f"{when}: quarantined: {qnames(a, 'corrupt')}"


def log_segments(srv):
    """The server log cut at each "----- start #n" line: [start 1, ...]."""
    parts = re.split(r"^----- start #\d+\n", srv.log(), flags=re.M)
    return parts[1:]


def has_line(text, event, qid):
    return re.search(rf"relay {event} id={re.escape(qid)}(?=[\s]|$)", text) is not None


# --------------------------------------------------------------- clients


def make_mail(tag, rng):
    """(CRLF bytes, Message-ID), from alice to carol, with a body that
    names its message (sizes from a line to about 200 KiB, lines with a
    leading dot to exercise dot-stuffing on both hops)."""
    mid = f"<r{os.getpid()}.{tag}.{os.urandom(4).hex()}@client.test>"
    nlines = rng.choice([1, 3, 20, 200, 3000])
    body = "".join(f"{'.' if i % 7 == 3 else ''}{mid} line {i} of {nlines}\r\n"
                   for i in range(nlines))
    head = [f"From: <{ALICE}>", f"To: <{CAROL}>", f"Subject: relay crash {tag}",
            f"Message-ID: {mid}", "Date: Thu, 28 Nov 2024 09:00:00 +0000"]
    return ("\r\n".join(head) + "\r\n\r\n" + body).encode(), mid


class Ledger:
    """What every client attempt saw, per Message-ID. state: "new" (the
    payload was never sent), "doubt" (sent, no reply: A may or may not
    have queued it), "ok" (250), "refused" (4xx)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.msgs = {}

    def new(self, tag, rng):
        msg, mid = make_mail(tag, rng)
        with self.lock:
            self.msgs[mid] = {"msg": msg, "state": "new", "qid": None, "reply": None}
        return mid

    def set(self, mid, state, **kw):
        with self.lock:
            self.msgs[mid]["state"] = state
            self.msgs[mid].update(kw)

    def count(self, state):
        with self.lock:
            return sum(1 for m in self.msgs.values() if m["state"] == state)


def new_stats():
    return {"lock": threading.Lock(), "sessions": 0, "dropped": 0, "errors": []}


def bump(stats, key):
    with stats["lock"]:
        stats[key] += 1


def send_one(s, ledger, mid):
    """One transaction, by hand after RCPT so that "the payload went out"
    is known exactly."""
    m = ledger.msgs[mid]
    code, r = s.mail(ALICE)
    assert code == 250, f"MAIL -> {code} {r!r}"
    code, r = s.rcpt(CAROL)
    assert code == 250, f"RCPT -> {code} {r!r}"
    s.putcmd("data")
    code, r = s.getreply()
    assert code == 354, f"DATA -> {code} {r!r}"
    # From here on A may commit: unanswered means "in doubt".
    ledger.set(mid, "doubt")
    s.send(hardlib.data_bytes(m["msg"]))
    code, r = s.getreply()
    text = r.decode(errors="replace")
    if code == 250:
        q = QUEUED_AS.search(text)
        assert q, f"250 without a queue id: {text!r}"
        ledger.set(mid, "ok", qid=q.group(1), reply=text)
    else:
        ledger.set(mid, "refused", reply=f"{code} {text}")
        assert code in (421, 451, 452), f"end of DATA -> {code} {text!r}"


def submitter(port, ledger, stop, rng, tid, stats, server_dies):
    """Sends mail for carol as alice (AUTH) until stop is set. With
    server_dies, a refused connection ends the thread (A was killed);
    otherwise every failure is an error."""
    n = 0
    while not stop.is_set():
        try:
            s = smtplib.SMTP(HOST, port, timeout=15)
        except (ConnectionError, smtplib.SMTPServerDisconnected) as e:
            if not server_dies:
                stats["errors"].append(f"thread {tid}: connect: {e!r}")
            return
        except OSError as e:
            stats["errors"].append(f"thread {tid}: connect: {e!r}")
            return
        bump(stats, "sessions")
        try:
            s.login(ALICE, ACCOUNTS[ALICE])
            for _ in range(rng.randint(1, 4)):
                if stop.is_set():
                    break
                n += 1
                send_one(s, ledger, ledger.new(f"t{tid}n{n}", rng))
            s.quit()
        except (smtplib.SMTPServerDisconnected, ConnectionError) as e:
            bump(stats, "dropped")
            if not server_dies:
                stats["errors"].append(f"thread {tid}: dropped: {e!r}")
        except (AssertionError, OSError) as e:
            # a wrong reply, an AUTH refusal, a timeout (a killed server
            # closes at once: a timeout is a hang)
            stats["errors"].append(f"thread {tid}: {e!r}")
        finally:
            s.close()


def start_submitters(port, ledger, stats, rng, server_dies):
    stop = threading.Event()
    threads = [threading.Thread(target=submitter, daemon=True,
                                args=(port, ledger, stop, random.Random(rng.randrange(1 << 30)),
                                      t, stats, server_dies))
               for t in range(THREADS)]
    for t in threads:
        t.start()
    return stop, threads


def stop_submitters(stop, threads):
    stop.set()
    for t in threads:
        t.join(30)
        assert not t.is_alive(), "a client thread hung"


# --------------------------------------------------------------- B's mailbox


def strip_trace(stored):
    """The stored message without the Return-Path/Received fields the
    servers prepend (with their folded continuation lines)."""
    lines = stored.split(b"\n")
    i = 0
    while i < len(lines) and (lines[i].startswith(b"Return-Path:")
                              or lines[i].startswith(b"Received:")):
        i += 1
        while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
            i += 1
    return b"\n".join(lines[i:])


def audit_b(b, ledger):
    """Checks every file in carol's Maildir at B against the ledger;
    returns {Message-ID: [A's queue id of each copy]}."""
    copies = {}
    for p in b.message_files(CAROL):
        mid = hardlib.check_message_file(p)  # whole: name, S=, W=, header end
        assert mid is not None, f"{p}: no Message-ID"
        mid = mid.decode()
        assert mid in ledger.msgs, f"{p}: {mid} was never sent by any client"
        m = ledger.msgs[mid]
        assert m["state"] in ("ok", "doubt"), (
            f"{p}: {mid} is at B but its client {m['state']!r} (reply {m['reply']!r})")
        data = p.read_bytes()
        assert data.startswith(f"Return-Path: <{ALICE}>\n".encode()), data[:200]
        assert strip_trace(data) == m["msg"].replace(b"\r\n", b"\n"), (
            f"{p}: content differs from what was sent ({len(data)} bytes stored)")
        hdr = email.message_from_bytes(data)
        received = hdr.get_all("Received") or []
        assert len(received) == 2, f"{p}: want one Received per hop: {received}"
        q = A_QID.search(" ".join(received[-1].split()))
        assert q, f"{p}: no queue id in A's Received: {received[-1]!r}"
        if m["qid"]:
            assert q.group(1) == m["qid"], (
                f"{p}: A said 'queued as {m['qid']}', its trace says {q.group(1)}")
        copies.setdefault(mid, []).append(q.group(1))
    lost = [(mid, m["qid"]) for mid, m in ledger.msgs.items()
            if m["state"] == "ok" and mid not in copies]
    assert not lost, f"{len(lost)} messages answered 250 by A never reached B: {lost[:10]}"
    for mid, qids in copies.items():
        # Clients never resend, so one message is one queue entry at A.
        assert len(set(qids)) == 1, f"{mid} reached B from several entries of A: {qids}"
    return copies


def assert_no_bounce(a):
    assert a.message_files(ALICE) == [], "a bounce or warning reached alice"
    log = a.log()
    for bad in ("relay failed ", "relay bounce ", "relay delay-warning ", "relay quarantined ",
                "recover-failed", "write-failed", "load-failed"):
        assert bad not in log, f"A logged {bad!r}:\n" + "\n".join(
            ln for ln in log.splitlines() if bad in ln)[:2000]


# --------------------------------------------------------------- 1: kill A


def test_kill9_of_the_relaying_instance(make_server, rng):
    b = remote_server(make_server)
    b.start()
    a = relay_server(make_server, b.smtp_port, start=False)
    ledger = Ledger()
    stats = new_stats()
    delays = []
    windows = []  # per kill: entries acknowledged by B but still queued at A
    killed = []   # per kill: A's log of that run
    t0 = time.monotonic()
    for rnd in range(ROUNDS):
        a.start(keep_ports=rnd > 0)
        stop, threads = start_submitters(a.smtp_port, ledger, stats, rng, server_dies=True)
        delay = rng.choice([rng.uniform(0.0, 0.05), rng.uniform(0.05, 0.8),
                            rng.uniform(0.5, 2.0)])
        delays.append(round(delay, 3))
        time.sleep(delay)
        a.kill9()
        stop_submitters(stop, threads)
        check_spool_after_kill(a, f"after kill {rnd + 1}")
        assert b.alive(), "B died"
        # Entries B had answered 250 for that are still queued: A will
        # send them again (their removal was queued behind other disk
        # work on A's worker threads when the kill came).
        killed.append(log_segments(a)[-1])  # the log of the run just killed
        sent = set(re.findall(r"relay sent id=(\S+)", killed[-1]))
        windows.append(len(sent & set(qnames(a, "env") + qnames(a, "hold"))))
    kills = a.killed
    assert kills == ROUNDS
    assert not stats["errors"], stats["errors"][:10]
    load_time = time.monotonic() - t0
    queued_at_end = len(qnames(a, "env"))

    # Restart, drain.
    a.start(keep_ports=True)
    drain_time = drain(a)
    assert qnames(a, "tmp") == [], f"queue/tmp after restart and drain: {qnames(a, 'tmp')}"
    assert qnames(a, "corrupt") == [], f"quarantined: {qnames(a, 'corrupt')}"
    assert qnames(a, "hold") == []
    # msg/ may hold leftovers of enqueues and removals cut by a kill (no
    # envelope: not entries); they go at a start once older than an hour.
    leftovers = qnames(a, "msg")
    old = time.time() - OLD
    for n in leftovers:
        os.utime(qdir(a) / "msg" / n, (old, old))
    assert a.stop() == 0
    runs_before = len(log_segments(a))
    a.start(keep_ports=True)
    assert qnames(a, "msg") == [], f"aged msg/ leftovers survived a start: {qnames(a, 'msg')}"
    if leftovers:
        assert f"relay recovered files={len(leftovers)}" in "".join(
            log_segments(a)[runs_before:]), a.log_tail()
    assert queue_is_empty(a)

    # B: everything acknowledged is there, nothing else, nothing partial.
    copies = audit_b(b, ledger)
    assert_no_bounce(a)
    dupes = {mid: len(q) - 1 for mid, q in copies.items() if len(q) > 1}
    extra = sum(dupes.values())
    # A second copy needs an attempt of its entry cut by a kill: one that
    # started ("relay attempt") in a run that ended in SIGKILL before the
    # entry was done ("relay done" is logged once its removal is durable).
    for mid, n in dupes.items():
        q = copies[mid][0]
        cut = sum(1 for s in killed if has_line(s, "attempt", q) and not has_line(s, "done", q))
        assert n <= cut, (f"{mid} (A's {q}) is at B {n + 1} times but only {cut} of its "
                          "attempts were cut by a kill")
    # Each extra copy is an entry B had accepted when A died: either its
    # 250 was read and the entry still queued (windows), or the reply was
    # still on its way (at most one transaction per session, so at most
    # relay_concurrency per kill). Not kills x relay_concurrency alone: a
    # session takes its next job as soon as B answers, before the entry's
    # removal is durable, so a kill can leave more than relay_concurrency
    # acknowledged entries queued.
    bound = sum(windows) + kills * CONCURRENCY
    assert extra <= bound, (
        f"{extra} duplicate copies at B for {kills} kills: more than the {sum(windows)} "
        f"entries acknowledged by B but still queued at a kill plus {kills}x{CONCURRENCY} "
        "transactions in flight")

    sent_before_kill = sum(s.count("relay sent ") for s in killed)
    acked = ledger.count("ok")
    doubt = ledger.count("doubt")
    doubt_at_b = sum(1 for mid, m in ledger.msgs.items() if m["state"] == "doubt" and mid in copies)
    print(f"rounds={ROUNDS} kills={kills} delays={delays}")
    print(f"messages={len(ledger.msgs)} acked={acked} unanswered={doubt} "
          f"(of which at B: {doubt_at_b}) refused={ledger.count('refused')} "
          f"never-sent={ledger.count('new')} sessions={stats['sessions']} "
          f"dropped-sessions={stats['dropped']}")
    print(f"relayed-before-a-kill={sent_before_kill} queued-at-last-kill={queued_at_end} "
          f"files-at-B={len(b.message_files(CAROL))} distinct-at-B={len(copies)}")
    print(f"duplicates={extra} bound={bound} (acknowledged-but-queued per kill {windows}, "
          f"sum {sum(windows)}, + {kills}x{CONCURRENCY} in flight); "
          f"kills x relay_concurrency = {kills * CONCURRENCY}"
          f"{' EXCEEDED' if extra > kills * CONCURRENCY else ''}")
    print(f"messages-duplicated={len(dupes)} msg-leftovers-aged-and-removed={len(leftovers)}")
    print(f"load-time={load_time:.1f}s drain-time={drain_time:.1f}s")
    assert acked >= ROUNDS, f"too little load to mean anything: {acked} acknowledged"
    assert sent_before_kill > 0, "A never relayed before a kill: the test proves nothing"


# --------------------------------------------------------------- 2: kill B


def test_kill9_of_the_receiving_instance(make_server, rng):
    b = remote_server(make_server)
    b.start()
    a = relay_server(make_server, b.smtp_port)
    ledger = Ledger()
    stats = new_stats()
    ups, downs = [], []
    t0 = time.monotonic()
    stop, threads = start_submitters(a.smtp_port, ledger, stats, rng, server_dies=False)
    try:
        for rnd in range(B_ROUNDS):
            up = rng.choice([rng.uniform(0.05, 0.3), rng.uniform(0.3, 1.5)])
            down = rng.choice([0.0, rng.uniform(0.0, 0.5), rng.uniform(0.5, 2.5)])
            ups.append(round(up, 3))
            downs.append(round(down, 3))
            time.sleep(up)
            b.kill9()
            for p in b.message_files(CAROL):
                hardlib.check_message_file(p)
            time.sleep(down)
            restart_keeping_port(b, "B")
            assert a.alive(), "A died"
        time.sleep(0.5)
    finally:
        stop_submitters(stop, threads)
    load_time = time.monotonic() - t0
    assert not stats["errors"], stats["errors"][:10]
    # A never went away: every transaction got its answer, and a 250.
    assert ledger.count("ok") == len(ledger.msgs), {
        s: ledger.count(s) for s in ("new", "doubt", "refused")}
    queued = len(qnames(a, "env"))
    drain_time = drain(a)
    assert qnames(a, "corrupt") == [] and qnames(a, "tmp") == []

    copies = audit_b(b, ledger)
    assert_no_bounce(a)
    log = a.log()
    deferred = log.count("relay deferred ")
    assert deferred > 0, "A never saw B down: the test proves nothing"
    dupes = {mid: len(q) - 1 for mid, q in copies.items() if len(q) > 1}
    extra = sum(dupes.values())
    for mid in dupes:
        # The first copy's 250 was lost with B: that attempt deferred.
        q = copies[mid][0]
        assert has_line(log, "deferred", q), f"{mid} (A's {q}) duplicated without a deferral"
    assert extra <= B_ROUNDS * CONCURRENCY, (
        f"{extra} duplicate copies at B for {B_ROUNDS} kills of B")
    print(f"kills-of-B={b.killed} up={ups} down={downs}")
    print(f"messages={len(ledger.msgs)} acked={ledger.count('ok')} deferrals={deferred} "
          f"queued-when-clients-stopped={queued} files-at-B={len(b.message_files(CAROL))}")
    print(f"duplicates={extra} (bound {B_ROUNDS}x{CONCURRENCY}) messages-duplicated={len(dupes)}")
    print(f"load-time={load_time:.1f}s drain-time={drain_time:.1f}s")
    assert len(ledger.msgs) >= B_ROUNDS


# --------------------------------------------------------------- 3: damage


def new_qid(tag):
    return f"{int(time.time()):08x}.{tag}{os.urandom(4).hex()}"


def plant(srv, sub, name, data, age=None):
    """Writes queue/<sub>/<name> whole (temporary name, then rename), as
    a person restoring files by hand would."""
    d = qdir(srv) / sub
    d.mkdir(parents=True, exist_ok=True)
    tmp = srv.root / f".plant-{name}"
    tmp.write_bytes(data)
    os.chmod(tmp, 0o600)
    if age is not None:
        t = time.time() - age
        os.utime(tmp, (t, t))
    os.replace(tmp, d / name)
    return d / name


def stored_message(tag):
    """A queued message as the spool holds it: LF line ends, trace
    included."""
    mid = f"<planted.{tag}.{os.urandom(4).hex()}@client.test>"
    msg = (f"Received: from client.test by mx.test with ESMTPA id {tag}; "
           "Thu, 28 Nov 2024 09:00:00 +0000\n"
           f"From: <{ALICE}>\nTo: <{CAROL}>\nSubject: planted {tag}\n"
           f"Message-ID: {mid}\nDate: Thu, 28 Nov 2024 09:00:00 +0000\n\n"
           f"planted body {tag}\n").encode()
    return msg, mid


def envelope(qid, msg, rcpt=CAROL):
    now = int(time.time())
    return (f"facteur-envelope 1\nid {qid}\nsender {ALICE}\ncreated {now}\nnext {now}\n"
            f"attempts 0\nheld 0\nwarned 0\nsize {len(msg)}\nbody8bit 0\n"
            f"rcpt pending 0 0 {rcpt} -\n").encode()


def submit(a, tag):
    msg, mid = make_mail(tag, random.Random(tag))
    with smtplib.SMTP(HOST, a.smtp_port, timeout=15) as s:
        s.login(ALICE, ACCOUNTS[ALICE])
        assert s.sendmail(ALICE, [CAROL], msg) == {}
    return mid


def b_mids(b):
    return [hardlib.check_message_file(p).decode() for p in b.message_files(CAROL)]


def check_quarantined(a, stem, env_bytes, msg_bytes, reason=None):
    c = qdir(a) / "corrupt"
    assert (c / f"{stem}.env").read_bytes() == env_bytes, f"{stem}.env differs"
    if msg_bytes is None:
        assert not (c / f"{stem}.msg").exists()
    else:
        assert (c / f"{stem}.msg").read_bytes() == msg_bytes, f"{stem}.msg differs"
    text = (c / f"{stem}.reason").read_text()
    assert text.endswith("\n") and text.count("\n") == 1 and len(text) > 1, repr(text)
    assert all(0x20 <= ord(ch) < 0x7f for ch in text[:-1]), repr(text)
    if reason is not None:
        assert text == reason + "\n", repr(text)
    qid = stem.split("~")[0]
    for sub in ("env", "hold", "msg"):
        assert not (qdir(a) / sub / qid).exists(), f"{sub}/{qid} still there after quarantine"
    return text.strip()


def test_damaged_entries_are_quarantined_and_leftovers_recovered(make_server):
    b = remote_server(make_server)
    b.start()
    a = relay_server(make_server, b.smtp_port)
    first = submit(a, "before")
    wait_for(lambda: first in b_mids(b), timeout=20, what="first delivery")
    reasons = {}

    # --- while A runs; "queue flush" makes it look at every entry.
    garbage = os.urandom(200) + b"\x00\xff not an envelope\n"
    g1 = new_qid("garbage")
    g1_msg, g1_mid = stored_message("g1")
    plant(a, "msg", g1, g1_msg)
    plant(a, "env", g1, garbage)
    # A torn write: a good envelope without its last line end.
    torn = new_qid("torn")
    torn_msg, torn_mid = stored_message("torn")
    torn_env = envelope(torn, torn_msg)[:-1]
    plant(a, "msg", torn, torn_msg)
    plant(a, "env", torn, torn_env)
    # An envelope that names another id.
    other = new_qid("other")
    other_msg, other_mid = stored_message("other")
    other_env = envelope(new_qid("elsewhere"), other_msg)
    plant(a, "msg", other, other_msg)
    plant(a, "env", other, other_env)
    assert cli(a, "queue", "flush").returncode == 0
    for q in (g1, torn, other):
        wait_for(lambda: f"relay quarantined id={q}" in a.log(), timeout=20,
                 what=f"quarantine of {q}")
    reasons["garbage"] = check_quarantined(a, g1, garbage, g1_msg)
    reasons["torn"] = check_quarantined(a, torn, torn_env, torn_msg)
    reasons["other-id"] = check_quarantined(a, other, other_env, other_msg)
    assert g1 not in queue_ids(a)
    # The same id damaged again: a second stem, the first kept.
    g1_again = b"facteur-envelope 2\n"
    plant(a, "msg", g1, g1_msg)
    plant(a, "env", g1, g1_again)
    assert cli(a, "queue", "flush").returncode == 0
    wait_for(lambda: a.log().count(f"relay quarantined id={g1}") == 2, timeout=20,
             what="second quarantine of the same id")
    check_quarantined(a, f"{g1}~1", g1_again, g1_msg)
    check_quarantined(a, g1, garbage, g1_msg)
    # An envelope without its message while running: the relay cannot
    # lock it (the lock is on msg/), so it is left for the next start.
    lone_run = new_qid("lonerun")
    lone_run_env = envelope(lone_run, b"x" * 10)
    plant(a, "env", lone_run, lone_run_env)
    assert cli(a, "queue", "flush").returncode == 0
    # A keeps serving and relaying.
    second = submit(a, "during")
    wait_for(lambda: second in b_mids(b), timeout=20, what="delivery next to the damage")
    assert a.alive()

    # --- while A is down.
    assert a.stop() == 0
    g2 = new_qid("garbage")
    g2_msg, _ = stored_message("g2")
    plant(a, "msg", g2, g2_msg)
    plant(a, "env", g2, garbage)
    lone = new_qid("lone")
    lone_env = envelope(lone, b"y" * 20)
    plant(a, "env", lone, lone_env)
    held_lone = new_qid("heldlone")
    held_lone_env = envelope(held_lone, b"z" * 5).replace(b"held 0", b"held 1")
    plant(a, "hold", held_lone, held_lone_env)
    old_msg = new_qid("oldmsg")
    plant(a, "msg", old_msg, stored_message("old")[0], age=OLD)
    young_msg = new_qid("youngmsg")
    plant(a, "msg", young_msg, stored_message("young")[0], age=600)
    junk_tmp = plant(a, "tmp", f"{new_qid('junk')}.msg.1.1", b"half a message")
    good = new_qid("good")
    good_msg, good_mid = stored_message("good")
    plant(a, "msg", good, good_msg)
    plant(a, "env", good, envelope(good, good_msg))

    a.start(keep_ports=True)
    start_log = log_segments(a)[-1]
    assert "relay recover-failed" not in start_log, start_log
    assert not junk_tmp.exists(), "queue/tmp not emptied at start"
    assert not (qdir(a) / "msg" / old_msg).exists(), (
        "a msg/ file without envelope older than RECOVER_MIN_AGE survived a start")
    assert (qdir(a) / "msg" / young_msg).exists(), (
        "a msg/ file without envelope younger than RECOVER_MIN_AGE was removed")
    reasons["lone"] = check_quarantined(a, lone, lone_env, None, "envelope without message")
    check_quarantined(a, lone_run, lone_run_env, None, "envelope without message")
    check_quarantined(a, held_lone, held_lone_env, None, "envelope without message")
    wait_for(lambda: f"relay quarantined id={g2}" in a.log(), timeout=20,
             what="quarantine of an entry damaged while A was down")
    check_quarantined(a, g2, garbage, g2_msg)
    wait_for(lambda: good_mid in b_mids(b), timeout=20, what="delivery of the good entry")
    third = submit(a, "after")
    wait_for(lambda: third in b_mids(b), timeout=20, what="delivery after the restart")
    wait_for(lambda: queue_is_empty(a), timeout=20, what="queue empty")

    # Nothing damaged was sent; everything good was, once.
    mids = b_mids(b)
    for bad in (g1_mid, torn_mid, other_mid):
        assert bad not in mids, f"quarantined {bad} was delivered"
    for ok in (first, second, third, good_mid):
        assert mids.count(ok) == 1, (ok, mids)
    assert len(mids) == 4, mids
    assert a.message_files(ALICE) == [], "damage must not bounce"
    assert qnames(a, "tmp") == []
    stems = {n.rsplit(".", 1)[0] for n in qnames(a, "corrupt")}
    assert stems == {g1, f"{g1}~1", torn, other, lone_run, g2, lone, held_lone}, stems
    # The young leftover stays until it is old: still there after a restart.
    assert a.stop() == 0
    a.start(keep_ports=True)
    assert (qdir(a) / "msg" / young_msg).exists()
    assert queue_is_empty(a)
    print(f"quarantine reasons: {reasons}")
