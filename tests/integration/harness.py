"""harness: what the integration tests share: the Server process wrapper,
raw-socket SMTP and POP3 clients that check every reply's syntax, Maildir
and message helpers. No pytest fixtures here (see conftest.py).

The only knob is the environment variable FACTEUR_BIN (default:
build/facteur relative to the repository root).
"""

import itertools
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
# FACTEUR_BIN: a relative value is taken from the current directory.
FACTEUR_BIN = Path(os.environ.get("FACTEUR_BIN") or REPO_ROOT / "build" / "facteur").resolve()

HOST = "127.0.0.1"
HOSTNAME = "mx.test"
# A loopback port where no DNS server listens (the discard port).
DNS_NOWHERE = "127.0.0.1:9"
NET_TIMEOUT = 10.0

ACCOUNTS = {
    "alice@localhost": "secret",
    "bob@localhost": "bobsecret",
    "pm@localhost": "pmsecret",
}
APOP_SECRETS = {"alice@localhost": "apop-shared-secret"}
POSTMASTER = "pm@localhost"


# --------------------------------------------------------------------------
# small helpers


def free_port():
    """A port that was free a moment ago (bind to 0, read, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_is_free(port):
    """Can a listener bind port? (SO_REUSEADDR like the daemon, so that
    TIME-WAIT leftovers do not count as "in use")."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
        return True


def write_conf(path, values):
    """Writes a facteur.conf: one "key = value" line per item (in order)."""
    lines = ["# written by tests/integration/conftest.py"]
    for k, v in values.items():
        if v is None:
            continue
        if isinstance(v, bool):
            v = "yes" if v else "no"
        lines.append(f"{k} = {v}")
    Path(path).write_text("\n".join(lines) + "\n")


def cli(args, input=None, env=None, timeout=30, cwd=None):
    """Runs the facteur binary with args; returns CompletedProcess (bytes)."""
    if isinstance(input, str):
        input = input.encode()
    return subprocess.run(
        [str(FACTEUR_BIN), *map(str, args)],
        input=input if input is not None else b"",
        capture_output=True,
        timeout=timeout,
        env=env,
        cwd=cwd,
    )


def split_addr(addr):
    local, _, domain = addr.rpartition("@")
    return local, domain


def asan_no_quarantine_env():
    """The environment for a daemon whose memory use is measured: ASan's
    quarantine would otherwise keep every freed buffer resident."""
    env = dict(os.environ)
    opts = env.get("ASAN_OPTIONS", "")
    env["ASAN_OPTIONS"] = (opts + ":" if opts else "") + (
        "quarantine_size_mb=0:thread_local_quarantine_size_kb=0")
    return env


def vm_kib(pid, field):
    """A memory figure of /proc/<pid>/status in KiB (VmRSS, VmHWM ...)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(field)


def strip_trace(stored):
    """Splits a stored message into (trace headers, rest): the leading
    Return-Path and Received fields (with their folded continuation lines)
    added by the server, and the message as sent."""
    assert stored.startswith(b"Return-Path: "), stored[:200]
    lines = stored.split(b"\n")
    i = 0
    trace = []
    while i < len(lines):
        ln = lines[i]
        if ln.startswith(b"Return-Path:") or ln.startswith(b"Received:"):
            trace.append(ln)
            i += 1
            while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
                trace[-1] += b"\n" + lines[i]
                i += 1
            continue
        break
    return trace, b"\n".join(lines[i:])


def to_lf(data):
    return data.replace(b"\r\n", b"\n")


def to_crlf(data):
    return to_lf(data).replace(b"\n", b"\r\n")


MAILDIR_NAME = re.compile(
    r"^(?P<sec>\d+)\.(?P<uniq>[^,:/]+)\.(?P<host>[^,:/]+),S=(?P<s>\d+),W=(?P<w>\d+)(?::2,[A-Za-z]*)?$"
)


# --------------------------------------------------------------------------
# protocol clients (raw sockets, so tests see every byte)


class Reply:
    def __init__(self, code, lines, raw):
        self.code = code
        self.lines = lines  # texts after "ddd-" / "ddd "
        self.raw = raw

    @property
    def enhanced(self):
        """The enhanced status code of the first line ("2.1.0"), or None."""
        m = re.match(r"^([245]\.\d{1,3}\.\d{1,3})( |$)", self.lines[0])
        return m.group(1) if m else None

    def __repr__(self):
        return f"Reply({self.raw!r})"


class Closed(Exception):
    pass


class LineConn:
    """A socket with a receive buffer (bytearray + read position, so that
    reading a 10 MiB reply line by line stays linear)."""

    def __init__(self, port, timeout=NET_TIMEOUT):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self._buf = bytearray()
        self._pos = 0

    @property
    def buf(self):
        return bytes(self._buf[self._pos :])

    @buf.setter
    def buf(self, value):
        self._buf = bytearray(value)
        self._pos = 0

    def settimeout(self, t):
        self.sock.settimeout(t)

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self):
        try:
            chunk = self.sock.recv(1 << 20)
        except (ConnectionResetError, BrokenPipeError) as e:
            raise Closed(str(e))
        if not chunk:
            raise Closed("EOF")
        if self._pos > (1 << 20):
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += chunk

    def read_line(self, limit=1 << 20):
        """One line including its LF (bytes)."""
        scanned = 0  # bytes after _pos known to hold no LF (_fill may compact)
        while True:
            i = self._buf.find(b"\n", self._pos + scanned)
            if i >= 0:
                line = bytes(self._buf[self._pos : i + 1])
                self._pos = i + 1
                return line
            scanned = len(self._buf) - self._pos
            if scanned > limit:
                raise AssertionError("server line too long")
            self._fill()

    def read_all_until_close(self, timeout=NET_TIMEOUT):
        """Everything until the server closes. Fails if it stays open."""
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

    def is_closed(self, timeout=3.0):
        """True if the server closes the connection (EOF/RST) within timeout
        without sending anything more."""
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False
        if chunk:
            self._buf += chunk
            return False
        return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


class SMTPClient(LineConn):
    """A line-level SMTP client that checks reply syntax on every read."""

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
            lines.append(m.group(3).decode("utf-8", "replace"))
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

    def helo(self, name="client.test"):
        return self.cmd(f"HELO {name}", 250)

    def send_mail(self, sender, rcpts, message, mail_params=""):
        """MAIL, RCPT..., DATA with message (bytes, CRLF or LF lines; dot
        stuffing is applied here). Returns the final reply."""
        if isinstance(message, str):
            message = message.encode()
        self.cmd(f"MAIL FROM:<{sender}>{mail_params}", 250)
        for r in rcpts:
            self.cmd(f"RCPT TO:<{r}>", 250)
        self.cmd("DATA", 354)
        self.send(smtp_data_bytes(message))
        return self.reply()

    def quit(self):
        r = self.cmd("QUIT")
        assert r.code == 221, r
        self.close()
        return r


def smtp_data_bytes(message):
    """The DATA payload: CRLF lines, leading dots doubled, CRLF.CRLF."""
    m = to_crlf(message)
    if not m.endswith(b"\r\n"):
        m += b"\r\n"
    stuffed = b"\r\n".join(
        (b"." + ln if ln.startswith(b".") else ln) for ln in m[:-2].split(b"\r\n")
    )
    if m == b"\r\n":
        stuffed = b""
    return stuffed + b"\r\n.\r\n"


class POP3Client(LineConn):
    def __init__(self, port, timeout=NET_TIMEOUT):
        super().__init__(port, timeout)
        self.greeting = self.status()
        assert self.greeting.startswith("+OK"), self.greeting

    def status(self):
        ln = self.read_line()
        assert ln.endswith(b"\r\n"), f"POP3 line without CRLF: {ln!r}"
        assert len(ln) <= 512, f"POP3 status line too long: {ln[:80]!r}"
        s = ln[:-2].decode("utf-8", "replace")
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
        """The raw (still dot-stuffed) body of a multi-line reply, up to but
        without the terminating ".\\r\\n"."""
        lines = []
        while True:
            ln = self.read_line(limit=64 << 20)
            if ln == b".\r\n":
                return b"".join(lines)
            lines.append(ln)

    def multi(self, line):
        """Sends a multi-line command; returns (status, raw stuffed body)."""
        s = self.ok(line)
        return s, self.read_multi()

    def login(self, user, password):
        self.ok(f"USER {user}")
        return self.ok(f"PASS {password}")

    def retr(self, n):
        """Returns the message un-stuffed, in CRLF form. When the +OK line
        gives a size ("+OK 139 octets") it must be the exact size."""
        status, raw = self.multi(f"RETR {n}")
        msg = pop3_unstuff(raw)
        m = re.match(r"^\+OK (\d+) octets", status)
        if m:
            assert int(m.group(1)) == len(msg), f"{status!r} but {len(msg)} octets sent"
        return msg

    def stat(self):
        s = self.ok("STAT")
        m = re.match(r"^\+OK (\d+) (\d+)(\s|$)", s)
        assert m, s
        return int(m.group(1)), int(m.group(2))

    def list(self):
        _, raw = self.multi("LIST")
        out = {}
        for ln in raw.split(b"\r\n")[:-1]:
            n, size = ln.split()
            out[int(n)] = int(size)
        return out

    def uidl(self):
        _, raw = self.multi("UIDL")
        out = {}
        for ln in raw.split(b"\r\n")[:-1]:
            n, u = ln.split()
            out[int(n)] = u.decode()
        return out

    def quit(self):
        s = self.ok("QUIT")
        self.close()
        return s


def pop3_unstuff(raw):
    assert raw == b"" or raw.endswith(b"\r\n"), raw[-50:]
    lines = raw.split(b"\r\n")[:-1]
    for ln in lines:
        assert b"\r" not in ln and b"\n" not in ln, f"bare CR/LF in POP3 body: {ln!r}"
    out = [ln[1:] if ln.startswith(b".") else ln for ln in lines]
    return b"".join(ln + b"\r\n" for ln in out)


# --------------------------------------------------------------------------
# the server


class StartError(Exception):
    pass


class Server:
    """One facteur daemon in a private directory.

    conf: dict of extra configuration keys (None removes a default).
    Listening ports are picked at start(); restart() tries to keep them."""

    def __init__(self, root, conf=None, env=None):
        self.env = env  # environment of the daemon (None: inherit)
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.root / "data"
        self.data_dir.mkdir(exist_ok=True)
        self.conf_path = self.root / "facteur.conf"
        self.extra = dict(conf or {})
        self.proc = None
        self.smtp_port = None
        self.pop3_port = None
        self.log_path = self.root / "server.stderr"
        self.out_path = self.root / "server.stdout"
        self.starts = 0
        self.write_conf()

    # configuration ------------------------------------------------------
    def conf_values(self):
        values = {
            "hostname": HOSTNAME,
            "data_dir": str(self.data_dir),
            "domains": "localhost",
            "postmaster": POSTMASTER,
            "smtp_listen": f"{HOST}:{self.smtp_port or free_port()}",
            "pop3_listen": f"{HOST}:{self.pop3_port or free_port()}",
            "auth_fail_delay": 50,
            "log_level": "info",
            # Tests never send a DNS query off loopback: relay tests give
            # their own DNS server; elsewhere nothing answers here.
            "dns_servers": DNS_NOWHERE,
        }
        values.update(self.extra)
        return values

    def write_conf(self):
        write_conf(self.conf_path, self.conf_values())

    # process ------------------------------------------------------------
    @property
    def pid(self):
        return self.proc.pid

    def start(self, keep_ports=False, attempts=6):
        assert self.proc is None, "already running"
        last = ""
        for attempt in range(attempts):
            if not (keep_ports and attempt == 0 and self.smtp_port):
                # Ports a test already chose for other listeners (free a
                # moment ago, not bound yet) must not be picked again.
                taken = {int(p) for v in self.extra.values() if isinstance(v, str)
                         for p in re.findall(r":(\d+)(?:,|$)", v)}
                self.smtp_port = free_port()
                while self.smtp_port in taken:
                    self.smtp_port = free_port()
                self.pop3_port = free_port()
                while self.pop3_port == self.smtp_port or self.pop3_port in taken:
                    self.pop3_port = free_port()
            self.write_conf()
            try:
                self._spawn()
                return self
            except StartError as e:
                last = str(e)
                if "in use" not in last.lower() and "eaddrinuse" not in last.lower():
                    raise
        raise StartError(f"could not start after {attempts} attempts: {last}")

    def _spawn(self):
        self.starts += 1
        out = open(self.out_path, "wb")
        err = open(self.log_path, "ab")
        err.write(f"----- start #{self.starts}\n".encode())
        err.flush()
        self.proc = subprocess.Popen(
            [str(FACTEUR_BIN), "serve", "-c", str(self.conf_path)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            cwd=self.root,
            env=self.env,
        )
        out.close()
        err.close()
        want = {f"smtp {HOST}:{self.smtp_port}", f"pop3 {HOST}:{self.pop3_port}"}
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            lines = set(self.out_path.read_text(errors="replace").splitlines())
            if want <= lines:
                return
            rc = self.proc.poll()
            if rc is not None:
                self.proc = None
                raise StartError(
                    f"facteur serve exited {rc} before listening:\n{self.log_tail()}"
                )
            time.sleep(0.01)
        self.proc.kill()
        self.proc.wait(5)
        self.proc = None
        raise StartError(
            f"no listener lines within 15 s; stdout={self.out_path.read_text()!r}\n"
            f"{self.log_tail()}"
        )

    def stop(self, timeout=10):
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

    def restart(self):
        rc = self.stop()
        assert rc == 0, f"exit status {rc} on SIGTERM\n{self.log_tail()}"
        return self.start(keep_ports=True)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n=40):
        return "\n".join(self.log().splitlines()[-n:])

    # clients ------------------------------------------------------------
    def smtp(self, **kw):
        return SMTPClient(self.smtp_port, **kw)

    def pop3(self, **kw):
        return POP3Client(self.pop3_port, **kw)

    def pop3_login(self, user="alice@localhost", password=None, **kw):
        c = self.pop3(**kw)
        c.login(user, password if password is not None else ACCOUNTS[user])
        return c

    def deliver(self, rcpts, message, sender="sender@example.org"):
        """Sends one message over SMTP; asserts 250."""
        if isinstance(rcpts, str):
            rcpts = [rcpts]
        with self.smtp() as c:
            c.ehlo()
            r = c.send_mail(sender, rcpts, message)
            assert r.code == 250, r
            c.quit()
        return r

    # accounts and files --------------------------------------------------
    def cli(self, *args, input=None):
        return cli([*args, "-c", self.conf_path], input=input)

    def add_user(self, name, password):
        r = self.cli("user", "add", name, "--password-stdin", input=password + "\n")
        assert r.returncode == 0, r.stderr
        return r

    def clone_accounts(self, names, like="bob@localhost"):
        """Adds accounts by writing passwd lines (documented format
        "name:crypt-hash") that reuse the hash of `like`: fast when a test
        needs a hundred accounts."""
        passwd = self.data_dir / "passwd"
        text = passwd.read_text()
        hash_ = None
        for ln in text.splitlines():
            if ln.startswith(like + ":"):
                hash_ = ln[len(like) + 1 :]
        assert hash_, f"no {like} in {passwd}"
        if not text.endswith("\n"):
            text += "\n"
        text += "".join(f"{n}:{hash_}\n" for n in names)
        passwd.write_text(text)

    def maildir(self, addr):
        local, domain = split_addr(addr)
        return self.data_dir / "mail" / domain / local

    def message_files(self, addr):
        md = self.maildir(addr)
        out = []
        for sub in ("new", "cur"):
            d = md / sub
            if d.is_dir():
                out += [p for p in d.iterdir() if not p.name.startswith(".")]
        return sorted(out, key=lambda p: (int(p.name.split(".")[0]), p.name))

    def messages(self, addr):
        return [p.read_bytes() for p in self.message_files(addr)]

    def tmp_files(self, addr):
        d = self.maildir(addr) / "tmp"
        return list(d.iterdir()) if d.is_dir() else []

    def all_tmp_files(self):
        root = self.data_dir / "mail"
        if not root.is_dir():
            return []
        return [p for p in root.glob("*/*/tmp/*")]



# --------------------------------------------------------------------------
# messages

_seq = itertools.count(1)


def make_message(subject="test", body="hello\r\n", sender="sender@example.org",
                 to="bob@localhost", headers=None):
    """An RFC 5322 message in CRLF form with a unique Message-ID.
    body may be str or bytes; returns (bytes, message_id)."""
    mid = f"<t{os.getpid()}.{next(_seq)}.{os.urandom(4).hex()}@client.test>"
    h = [
        f"From: <{sender}>",
        f"To: <{to}>",
        f"Subject: {subject}",
        f"Message-ID: {mid}",
        "Date: Thu, 28 Nov 2024 09:00:00 +0000",
    ]
    h += list(headers or [])
    if isinstance(body, str):
        body = body.encode()
    body = body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return ("\r\n".join(h) + "\r\n\r\n").encode() + body, mid
