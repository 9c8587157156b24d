"""hardlib: what the hardening tests share: a facteur process wrapper that
can be killed with SIGKILL and run under the fault-injection shim, raw
SMTP/POP3 clients, Maildir inspection, /proc measurements.

No pytest fixtures here (see conftest.py). Knobs (environment):
  FACTEUR_BIN        the binary (default: build/facteur in the repository)
  FACTEUR_FAULTSHIM  faultshim.so (default: tests/fault/faultshim.so in the
                     build directory of FACTEUR_BIN)
  FACTEUR_ASAN=1     the binary is sanitized (also detected from the binary)
  HARDENING_SEED     seed for the random kill delays (default: random,
                     printed so a failing run can be replayed)
"""

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
FACTEUR_BIN = Path(os.environ.get("FACTEUR_BIN") or REPO_ROOT / "build" / "facteur").resolve()
HOST = "127.0.0.1"
HOSTNAME = "mx.test"
# A loopback port where no DNS server listens (the discard port).
DNS_NOWHERE = "127.0.0.1:9"
NET_TIMEOUT = 10.0

ACCOUNTS = {
    "alice@localhost": "secret",
    "bob@localhost": "bobsecret",
}

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


# --------------------------------------------------------------------------
# the binary and the shim


def faultshim_path():
    env = os.environ.get("FACTEUR_FAULTSHIM")
    if env:
        return Path(env).resolve()
    return FACTEUR_BIN.parent / "tests" / "fault" / "faultshim.so"


def binary_is_sanitized(path=FACTEUR_BIN):
    """True for an ASan build: FACTEUR_ASAN=1, a libasan in ldd's list
    (gcc), or the statically linked runtime's symbols (clang)."""
    if os.environ.get("FACTEUR_ASAN") == "1":
        return True
    if asan_runtime_library(path):
        return True
    try:
        with open(path, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


def asan_runtime_library(path=FACTEUR_BIN):
    """The path of a dynamically linked libasan (gcc -fsanitize=address),
    which must come first in LD_PRELOAD; None otherwise."""
    try:
        out = subprocess.run(["ldd", str(path)], capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"libasan\.so[^\s]*\s+=>\s+(\S+)", out)
    return m.group(1) if m else None


# --------------------------------------------------------------------------
# small helpers


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def write_conf(path, values):
    lines = ["# written by tests/hardening"]
    for k, v in values.items():
        if v is None:
            continue
        if isinstance(v, bool):
            v = "yes" if v else "no"
        lines.append(f"{k} = {v}")
    Path(path).write_text("\n".join(lines) + "\n")


def cpu_seconds(pid):
    """utime + stime of a process (all its threads), in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def wait_for(pred, timeout, step=0.02, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


_mid_seq = 0


def make_message(tag, to="alice@localhost", body=None, extra_headers=()):
    """(bytes in CRLF form, Message-ID) with a unique Message-ID."""
    global _mid_seq
    _mid_seq += 1
    mid = f"<h{os.getpid()}.{_mid_seq}.{os.urandom(4).hex()}.{tag}@client.test>"
    head = [
        "From: <sender@example.org>",
        f"To: <{to}>",
        f"Subject: hardening {tag}",
        f"Message-ID: {mid}",
        "Date: Thu, 28 Nov 2024 09:00:00 +0000",
        *extra_headers,
    ]
    if body is None:
        body = f"body of {tag}\r\n" * 3
    if isinstance(body, str):
        body = body.encode()
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body, mid


def data_bytes(message):
    """The DATA payload: CRLF lines, dot-stuffed, ending in CRLF.CRLF."""
    m = message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if not m.endswith(b"\r\n"):
        m += b"\r\n"
    lines = m[:-2].split(b"\r\n")
    out = b"\r\n".join((b"." + ln if ln.startswith(b".") else ln) for ln in lines)
    return (out + b"\r\n" if m != b"\r\n" else b"") + b".\r\n"


# --------------------------------------------------------------------------
# raw clients


class Closed(Exception):
    pass


class Reply:
    def __init__(self, code, lines, raw):
        self.code = code
        self.lines = lines
        self.raw = raw

    @property
    def text(self):
        return "\n".join(self.lines)

    def __repr__(self):
        return f"Reply({self.raw!r})"


class LineConn:
    def __init__(self, port, timeout=NET_TIMEOUT):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.buf = b""

    def settimeout(self, t):
        self.sock.settimeout(t)

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        try:
            self.sock.sendall(data)
        except (ConnectionResetError, BrokenPipeError) as e:
            raise Closed(str(e))

    def _fill(self):
        try:
            chunk = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError) as e:
            raise Closed(str(e))
        if not chunk:
            raise Closed("EOF")
        self.buf += chunk

    def read_line(self, limit=1 << 20):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line, self.buf = self.buf[: i + 1], self.buf[i + 1:]
                return line
            if len(self.buf) > limit:
                raise AssertionError("server line too long")
            self._fill()

    def read_until_close(self, timeout=NET_TIMEOUT):
        """Everything until the server closes; fails if it stays open."""
        self.sock.settimeout(timeout)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                self._fill()
            except Closed:
                out, self.buf = self.buf, b""
                return out
            except socket.timeout:
                break
        raise AssertionError(f"server did not close; got {self.buf[-300:]!r}")

    def closed_within(self, timeout):
        """True if the server closes (EOF/RST) within timeout. Bytes that
        arrive meanwhile are kept in self.buf."""
        self.sock.settimeout(0.2)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                return True
            except socket.timeout:
                continue
            if not chunk:
                return True
            self.buf += chunk
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def parse_smtp_replies(data):
    """[(code, text)] for every complete reply in data (multi-line replies
    folded into one); asserts the syntax of every line."""
    out = []
    cur = []
    for ln in data.split(b"\r\n")[:-1]:
        m = re.match(rb"^(\d{3})([ -])(.*)$", ln, re.S)
        assert m, f"malformed reply line {ln!r} in {data[-500:]!r}"
        cur.append(m.group(3))
        if m.group(2) == b" ":
            out.append((int(m.group(1)), b"\n".join(cur).decode("latin-1")))
            cur = []
    return out


class SMTPClient(LineConn):
    def __init__(self, port, timeout=NET_TIMEOUT, greet=True):
        super().__init__(port, timeout)
        self.greeting = self.reply() if greet else None

    def reply(self):
        lines = []
        raw = b""
        code = None
        while True:
            ln = self.read_line()
            raw += ln
            assert ln.endswith(b"\r\n"), f"reply line without CRLF: {ln!r}"
            assert len(ln) <= 512, f"reply line over 512 octets: {ln[:80]!r}"
            m = re.match(rb"^(\d{3})([ -])(.*)\r\n$", ln, re.S)
            assert m, f"malformed reply line {ln!r}"
            c = int(m.group(1))
            assert code is None or c == code, f"mixed codes in reply {raw!r}"
            code = c
            lines.append(m.group(3).decode("latin-1"))
            if m.group(2) == b" ":
                return Reply(code, lines, raw)

    def cmd(self, line, expect=None):
        if isinstance(line, str):
            line = line.encode()
        self.send(line + b"\r\n")
        r = self.reply()
        if expect is not None:
            assert r.code == expect, f"{line[:80]!r} -> {r.raw!r}, wanted {expect}"
        return r

    def ehlo(self, name="client.test"):
        return self.cmd(f"EHLO {name}", 250)

    def send_mail(self, sender, rcpts, message):
        self.cmd(f"MAIL FROM:<{sender}>", 250)
        for r in rcpts:
            self.cmd(f"RCPT TO:<{r}>", 250)
        self.cmd("DATA", 354)
        self.send(data_bytes(message))
        return self.reply()

    def quit(self):
        r = self.cmd("QUIT")
        assert r.code == 221, r
        self.close()
        return r


class POP3Client(LineConn):
    def __init__(self, port, timeout=NET_TIMEOUT, greet=True):
        super().__init__(port, timeout)
        self.greeting = self.status() if greet else None
        if greet:
            assert self.greeting.startswith("+OK"), self.greeting

    def status(self):
        ln = self.read_line()
        assert ln.endswith(b"\r\n"), f"POP3 line without CRLF: {ln!r}"
        assert len(ln) <= 512, f"POP3 status line too long: {ln[:80]!r}"
        s = ln[:-2].decode("latin-1")
        assert s.startswith("+OK") or s.startswith("-ERR"), f"bad status {ln!r}"
        return s

    def cmd(self, line):
        if isinstance(line, str):
            line = line.encode()
        self.send(line + b"\r\n")
        return self.status()

    def ok(self, line):
        s = self.cmd(line)
        assert s.startswith("+OK"), f"{line!r} -> {s!r}"
        return s

    def err(self, line):
        s = self.cmd(line)
        assert s.startswith("-ERR"), f"{line!r} -> {s!r}"
        return s

    def read_multi(self):
        data = b""
        while True:
            ln = self.read_line(limit=64 << 20)
            if ln == b".\r\n":
                return data
            data += ln

    def login(self, user="alice@localhost", password=None):
        self.ok(f"USER {user}")
        return self.ok(f"PASS {password if password is not None else ACCOUNTS[user]}")

    def uidl(self):
        self.ok("UIDL")
        out = {}
        for ln in self.read_multi().split(b"\r\n")[:-1]:
            n, u = ln.split()
            out[int(n)] = u.decode()
        return out

    def retr(self, n):
        self.ok(f"RETR {n}")
        raw = self.read_multi()
        lines = raw.split(b"\r\n")[:-1]
        return b"".join((ln[1:] if ln.startswith(b".") else ln) + b"\r\n" for ln in lines)

    def quit(self):
        s = self.ok("QUIT")
        self.close()
        return s


# --------------------------------------------------------------------------
# Maildir inspection

MAILDIR_NAME = re.compile(
    r"^(?P<sec>\d+)\.(?P<uniq>[^,:/]+)\.(?P<host>[^,:/]+)"
    r"(?:,S=(?P<s>\d+))?(?:,W=(?P<w>\d+))?(?::2,[A-Za-z]*)?$"
)
MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]*>)", re.I | re.M)


def check_message_file(path):
    """Asserts a file in new/ or cur/ is a whole message: its name parses,
    its size equals the S= field, its header section ends; returns its
    Message-ID (bytes) or None."""
    m = MAILDIR_NAME.match(path.name)
    assert m, f"unexpected Maildir name {path}"
    data = path.read_bytes()
    if m.group("s") is not None:
        assert len(data) == int(m.group("s")), (
            f"partial file {path}: {len(data)} bytes, name says {m.group('s')}")
    w = m.group("w")
    if w is not None:
        crlf = len(data) + data.count(b"\n") - data.count(b"\r\n")
        assert crlf == int(w), f"{path}: W={w} but the CRLF size is {crlf}"
    assert b"\n\n" in data or b"\r\n\r\n" in data, f"no end of header in {path}"
    head = data.split(b"\n\n", 1)[0]
    assert head.startswith(b"Return-Path: "), f"no trace header in {path}: {data[:100]!r}"
    mid = MESSAGE_ID.search(head)
    return mid.group(1) if mid else None


def message_files(maildir):
    out = []
    for sub in ("new", "cur"):
        d = Path(maildir) / sub
        if d.is_dir():
            out += [p for p in d.iterdir() if not p.name.startswith(".")]
    return out


def tree_snapshot(root, skip=()):
    """{relative path: size} of every file and directory under root,
    except under the relative directories in skip."""
    root = Path(root)
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        if any(str(rel) == s or str(rel).startswith(s + "/") for s in skip):
            dirnames[:] = []
            continue
        for f in filenames + dirnames:
            p = Path(dirpath) / f
            try:
                st = p.lstat()
            except FileNotFoundError:
                continue
            out[str(rel / f)] = (st.st_size if not p.is_dir() else 0)
    return out


# --------------------------------------------------------------------------
# the server


class StartError(Exception):
    pass


SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                     "runtime error:", "\nbug ")


class Server:
    """One facteur daemon in a private directory. conf: extra keys; env:
    extra environment (e.g. LD_PRELOAD for the shim)."""

    def __init__(self, root, conf=None, env=None):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.root / "data"
        self.data_dir.mkdir(exist_ok=True)
        self.conf_path = self.root / "facteur.conf"
        self.extra = dict(conf or {})
        self.env = dict(env or {})
        self.proc = None
        self.smtp_port = None
        self.pop3_port = None
        self.log_path = self.root / "server.stderr"
        self.out_path = self.root / "server.stdout"
        self.starts = 0
        self.killed = 0

    def conf_values(self):
        values = {
            "hostname": HOSTNAME,
            "data_dir": str(self.data_dir),
            "domains": "localhost",
            "smtp_listen": f"{HOST}:{self.smtp_port}",
            "pop3_listen": f"{HOST}:{self.pop3_port}",
            "auth_fail_delay": 50,
            "log_level": "info",
            # Tests never send a DNS query off loopback: relay tests give
            # their own DNS server; elsewhere nothing answers here.
            "dns_servers": DNS_NOWHERE,
        }
        values.update(self.extra)
        return values

    @property
    def pid(self):
        return self.proc.pid

    def start(self, keep_ports=False, attempts=6, timeout=20):
        assert self.proc is None, "already running"
        last = ""
        for attempt in range(attempts):
            if not (keep_ports and attempt == 0 and self.smtp_port):
                self.smtp_port = free_port()
                self.pop3_port = free_port()
                while self.pop3_port == self.smtp_port:
                    self.pop3_port = free_port()
            write_conf(self.conf_path, self.conf_values())
            try:
                self._spawn(timeout)
                return self
            except StartError as e:
                last = str(e)
                if "in use" not in last.lower():
                    raise
        raise StartError(f"could not start after {attempts} attempts: {last}")

    def _spawn(self, timeout):
        self.starts += 1
        env = dict(os.environ)
        env.update(self.env)
        out = open(self.out_path, "wb")
        err = open(self.log_path, "ab")
        err.write(f"----- start #{self.starts}\n".encode())
        err.flush()
        self.proc = subprocess.Popen(
            [str(FACTEUR_BIN), "serve", "-c", str(self.conf_path)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=self.root, env=env,
        )
        out.close()
        err.close()
        want = {f"smtp {HOST}:{self.smtp_port}", f"pop3 {HOST}:{self.pop3_port}"}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = set(self.out_path.read_text(errors="replace").splitlines())
            if want <= lines:
                return
            rc = self.proc.poll()
            if rc is not None:
                self.proc = None
                raise StartError(f"facteur serve exited {rc} before listening:\n{self.log_tail()}")
            time.sleep(0.01)
        self.proc.kill()
        self.proc.wait(5)
        self.proc = None
        raise StartError(f"no listener lines within {timeout} s\n{self.log_tail()}")

    def kill9(self):
        """SIGKILL (this process only, by pid) and reap."""
        p = self.proc
        self.proc = None
        if p is None:
            return
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
        p.wait(10)
        self.killed += 1

    def stop(self, timeout=15):
        """SIGTERM and wait; returns the exit status (None if not running)."""
        if self.proc is None:
            return None
        p = self.proc
        self.proc = None
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        try:
            return p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
            raise AssertionError(f"facteur did not exit within {timeout} s of SIGTERM")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        try:
            return self.log_path.read_bytes().decode("latin-1")
        except FileNotFoundError:
            return ""

    def log_bytes(self):
        try:
            return self.log_path.read_bytes()
        except FileNotFoundError:
            return b""

    def log_tail(self, n=40):
        return "\n".join(self.log().splitlines()[-n:])

    def sanitizer_reports(self):
        log = "\n" + self.log()
        return [m for m in SANITIZER_MARKERS if m in log]

    # clients
    def smtp(self, **kw):
        return SMTPClient(self.smtp_port, **kw)

    def pop3(self, **kw):
        return POP3Client(self.pop3_port, **kw)

    def deliver(self, rcpts, message, sender="sender@example.org"):
        if isinstance(rcpts, str):
            rcpts = [rcpts]
        with self.smtp() as c:
            c.ehlo()
            r = c.send_mail(sender, rcpts, message)
            assert r.code == 250, r
            c.quit()
        return r

    def assert_serves(self, rcpt="bob@localhost"):
        """A complete SMTP transaction and a POP3 login still work."""
        msg, mid = make_message("still-serving", to=rcpt)
        self.deliver(rcpt, msg)
        assert mid.encode() in self.message_ids(rcpt)
        with self.pop3() as p:
            p.login(rcpt)
            p.quit()

    # files
    def maildir(self, addr):
        local, _, domain = addr.rpartition("@")
        return self.data_dir / "mail" / domain / local

    def message_files(self, addr):
        return message_files(self.maildir(addr))

    def message_ids(self, addr):
        """Message-IDs of every stored message (a list: duplicates show)."""
        return [check_message_file(p) for p in self.message_files(addr)]

    def tmp_files(self, addr=None):
        if addr:
            d = self.maildir(addr) / "tmp"
            return sorted(d.iterdir()) if d.is_dir() else []
        root = self.data_dir / "mail"
        return sorted(root.glob("*/*/tmp/*")) if root.is_dir() else []
