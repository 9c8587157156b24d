#!/usr/bin/env python3
"""play_daemon: plays the session transcripts of tests/transcripts/ (format
and conventions: README.md next to this file) against a running facteur
daemon over TCP.

Importable (tests/integration/test_transcripts.py uses parse(), play() and
fill_maildir()) and runnable by hand:

    play_daemon.py --smtp-port 2525 smtp/*.txt
    play_daemon.py --pop3-port 1100 --alice-maildir DATA/mail/localhost/alice pop3/*.txt

The daemon must follow the README's conventions (hostname mx.test, accounts
alice@localhost/secret and bob@localhost, default limits, postmaster
accepted). A comment line "# cfg: NAME" names a configuration variant the
daemon must run with (Transcript.cfg; the caller maps names to settings).
For POP3 files, alice's maildrop must hold exactly the file's M
messages: with --alice-maildir the player empties that Maildir and writes
the messages into new/ itself, as any Maildir delivery program would, in
the LF form the store uses and without trace fields, oldest first (the
time field of each name increases). Only the standard library is used.
"""

import argparse
import os
import re
import socket
import sys
import time
from pathlib import Path

READ_TIMEOUT = 5.0     # per expected line (README: "5 s per line is plenty")
TRAILING_WAIT = 0.2    # extra output check at the end of a file


class TranscriptError(AssertionError):
    """A file that is invalid or that the server did not follow;
    the message reads "file:line: ..."."""


class Step:
    __slots__ = ("lineno", "kind", "data")

    def __init__(self, lineno, kind, data=b""):
        self.lineno = lineno
        self.kind = kind    # "send", "expect", "prefix", "closed"
        self.data = data

    def __repr__(self):
        return f"Step({self.lineno}, {self.kind}, {self.data!r})"


class Transcript:
    def __init__(self, path, messages, steps, cfg=()):
        self.path = Path(path)
        self.messages = messages  # list of messages, each a list of line bytes
        self.steps = steps
        self.cfg = list(cfg)      # names from "# cfg: a, b" comment lines

    @property
    def name(self):
        return self.path.name


_ESCAPES = {ord("r"): b"\r", ord("n"): b"\n", ord("t"): b"\t", ord("0"): b"\0",
            ord("\\"): b"\\"}


def unescape(text, where):
    """Decodes an R: line: \\r \\n \\t \\0 \\\\ \\xHH; anything else is an error."""
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c != ord("\\"):
            out.append(c)
            i += 1
            continue
        if i + 1 >= len(text):
            raise TranscriptError(f"{where}: backslash at end of R: line")
        e = text[i + 1]
        if e in _ESCAPES:
            out += _ESCAPES[e]
            i += 2
        elif e == ord("x"):
            hh = text[i + 2 : i + 4]
            if len(hh) != 2 or not re.fullmatch(rb"[0-9A-Fa-f]{2}", hh):
                raise TranscriptError(f"{where}: \\x needs exactly two hex digits")
            out.append(int(hh, 16))
            i += 4
        else:
            raise TranscriptError(f"{where}: unknown escape \\{chr(e)}")
    return bytes(out)


def _after_tag(line, tag):
    """Text after "TAG: " (one space), or b"" for "TAG:" alone."""
    rest = line[len(tag) :]
    if rest == b"":
        return b""
    if not rest.startswith(b" "):
        return None
    return rest[1:]


def parse(path):
    """Reads a transcript file; raises TranscriptError if it is invalid."""
    path = Path(path)
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    messages = []
    steps = []
    cfg = []
    for lineno, line in enumerate(lines, 1):
        where = f"{path}:{lineno}"
        if line.endswith(b"\r"):
            line = line[:-1]
        m = re.match(rb"^# cfg:(.*)$", line)
        if m:
            cfg += [c.strip().decode() for c in m.group(1).split(b",") if c.strip()]
            continue
        if line == b"" or line.startswith(b"#"):
            continue
        if line == b"CLOSED":
            steps.append(Step(lineno, "closed"))
            continue
        m = re.match(rb"^M([0-9]+):", line)
        if m:
            if steps:
                raise TranscriptError(f"{where}: M line after the session started")
            n = int(m.group(1))
            text = _after_tag(line, m.group(0))
            if text is None:
                raise TranscriptError(f"{where}: expected 'M{n}: text'")
            if n == len(messages):
                messages[-1].append(text)
            elif n == len(messages) + 1:
                messages.append([text])
            else:
                raise TranscriptError(f"{where}: message M{n} out of order")
            continue
        tag = line[:2]
        text = _after_tag(line, tag) if tag in (b"C:", b"R:", b"S:") else None
        if text is None:
            raise TranscriptError(f"{where}: invalid line {line[:60]!r}")
        if tag == b"C:":
            steps.append(Step(lineno, "send", text + b"\r\n"))
        elif tag == b"R:":
            steps.append(Step(lineno, "send", unescape(text, where)))
        elif text.endswith(b"*"):
            steps.append(Step(lineno, "prefix", text[:-1]))
        else:
            steps.append(Step(lineno, "expect", text))
    if not steps or steps[0].kind not in ("expect", "prefix"):
        raise TranscriptError(f"{path}: the first session line must be S: (the greeting)")
    return Transcript(path, messages, steps, cfg)


# --------------------------------------------------------------- maildrop


def message_bytes(lines):
    """A message of M lines in the store's form: each line + LF."""
    return b"".join(ln + b"\n" for ln in lines)


def crlf_size(lines):
    return sum(len(ln) + 2 for ln in lines)


def fill_maildir(maildir, messages, host="transcript"):
    """Empties the Maildir (new/ and cur/) and writes messages into new/,
    oldest first: names "<sec>.M<n>P<pid>.<host>,S=<size>,W=<crlf size>"
    with an increasing time field, written to tmp/ and renamed."""
    maildir = Path(maildir)
    for sub in ("tmp", "new", "cur"):
        d = maildir / sub
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        if sub != "tmp":
            for f in d.iterdir():
                if f.is_file():
                    f.unlink()
    base = 1700000000
    for n, lines in enumerate(messages, 1):
        data = message_bytes(lines)
        name = f"{base + n}.M{n}P{os.getpid()}.{host},S={len(data)},W={crlf_size(lines)}"
        tmp = maildir / "tmp" / name
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, maildir / "new" / name)


# --------------------------------------------------------------- playing


class _Conn:
    def __init__(self, host, port, timeout):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = False

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, timeout):
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
        self.buf += chunk

    def read_line(self, timeout):
        """A line up to and including LF; b"" at EOF before any byte;
        the partial line if EOF cuts it; raises socket.timeout."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf and not self.eof:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout()
            self._fill(left)
        i = self.buf.find(b"\n")
        if i < 0:
            line, self.buf = self.buf, b""
            return line
        line, self.buf = self.buf[: i + 1], self.buf[i + 1 :]
        return line

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def play(transcript, port, host="127.0.0.1", timeout=READ_TIMEOUT,
         trailing_wait=TRAILING_WAIT):
    """Plays one transcript on a fresh connection; raises TranscriptError
    ("file:line: expected ... got ...") on the first difference."""
    t = transcript
    conn = _Conn(host, port, timeout)
    pending = b""
    try:
        for step in t.steps:
            where = f"{t.path}:{step.lineno}"
            if step.kind == "send":
                pending += step.data
                continue
            if pending:
                try:
                    conn.send(pending)
                except OSError as e:
                    raise TranscriptError(f"{where}: send failed: {e}") from None
                pending = b""
            if step.kind == "closed":
                try:
                    line = conn.read_line(timeout)
                except socket.timeout:
                    raise TranscriptError(
                        f"{where}: expected the server to close, it stayed open") from None
                if line:
                    raise TranscriptError(f"{where}: expected close, got {line!r}")
                continue
            want = step.data
            try:
                line = conn.read_line(timeout)
            except socket.timeout:
                raise TranscriptError(
                    f"{where}: expected {want!r}, got nothing within {timeout} s") from None
            if not line:
                raise TranscriptError(f"{where}: expected {want!r}, got end of file")
            if not line.endswith(b"\r\n"):
                raise TranscriptError(f"{where}: expected {want!r}, got {line!r} (no CR LF)")
            got = line[:-2]
            ok = got == want if step.kind == "expect" else got.startswith(want)
            if not ok:
                how = "" if step.kind == "expect" else " (prefix)"
                raise TranscriptError(f"{where}: expected{how} {want!r}, got {got!r}")
        if pending:
            try:
                conn.send(pending)
            except OSError:
                pass
        if not conn.eof and trailing_wait > 0:
            try:
                extra = conn.read_line(trailing_wait)
            except socket.timeout:
                extra = b""
            if extra or conn.buf:
                raise TranscriptError(
                    f"{t.path}: end of file, but the server sent {(extra + conn.buf)[:200]!r}")
    finally:
        conn.close()


def files_in(directory):
    return sorted(Path(directory).glob("*.txt"))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--smtp-port", type=int)
    ap.add_argument("--pop3-port", type=int)
    ap.add_argument("--alice-maildir", help="Maildir of alice@localhost to fill for POP3 files")
    ap.add_argument("files", nargs="*", help="default: every file under smtp/ and pop3/")
    a = ap.parse_args(argv)
    here = Path(__file__).resolve().parent
    files = [Path(f) for f in a.files] or files_in(here / "smtp") + files_in(here / "pop3")
    failed = 0
    for f in files:
        proto = f.resolve().parent.name
        try:
            t = parse(f)
            if proto == "smtp":
                if not a.smtp_port:
                    raise TranscriptError(f"{f}: --smtp-port needed")
                play(t, a.smtp_port, a.host)
            elif proto == "pop3":
                if not a.pop3_port:
                    raise TranscriptError(f"{f}: --pop3-port needed")
                if a.alice_maildir:
                    fill_maildir(a.alice_maildir, t.messages)
                elif t.messages:
                    raise TranscriptError(f"{f}: has M lines: --alice-maildir needed")
                play(t, a.pop3_port, a.host)
            else:
                raise TranscriptError(f"{f}: not under smtp/ or pop3/")
            print(f"ok   {f}")
        except (TranscriptError, OSError) as e:
            failed += 1
            print(f"FAIL {e}")
    print(f"{len(files) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
