"""dnszone: a private DNS server for tests: Debian's unbound in the
foreground on 127.0.0.1:<free port>, answering only from records the test
gives. Standard library only; no pytest here.

    with DnsZone([
        "mx.test. MX 10 mx1.test.",
        ("mx1.test.", "A", "192.0.2.1"),
        "nullmx.test. MX 0 .",
    ]) as zone:
        run(["dnsq", "--server", zone.server, "mx", "mx.test"])

Nothing may leave the machine, so the generated configuration:
  - serves each zone in `zones` (default "test.") as a static local-zone:
    names in it exist only as given (others are NXDOMAIN, other types
    NODATA), and every record must lie in one of them;
  - refuses every other name locally (local-zone "." refuse), so the
    iterator is never asked to recurse, and replaces the built-in root
    hints with a root at 127.0.0.1;
  - sends from 127.0.0.1 only, over IPv4 only, as a further fence;
  - keeps the pid file and the log in its own directory.
After stop(), `recursions` is unbound's own count of queries it tried to
resolve elsewhere (must be 0), read from its exit statistics.

Local data is answered as given: a CNAME is returned alone, not followed
to its target as a recursive resolver would (use StubDNS for that case).
For facteur's configuration, `dns_servers = <zone.server>`.

Also: free_port() (UDP and TCP both free), SilentUDP (a bound UDP socket
that never answers: the timeout case), StubDNS (a scripted UDP server for
what unbound will not do: stay silent or fail for some names only), and
dns_query() (a minimal client giving (rcode, number of answers)).
"""

import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path

HOST = "127.0.0.1"
UNBOUND = os.environ.get("UNBOUND") or "/usr/sbin/unbound"
QTYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "MX": 15, "TXT": 16, "AAAA": 28}


class StartError(Exception):
    pass


def free_port():
    """A port free a moment ago for both UDP and TCP on 127.0.0.1 (unbound
    binds both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind((HOST, 0))
            port = u.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind((HOST, port))
                except OSError:
                    continue
        return port
    raise StartError("no free port")


class SilentUDP:
    """A UDP socket bound on 127.0.0.1 that never reads nor replies: a DNS
    server that times out (no ICMP "port unreachable" either)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.port = self.sock.getsockname()[1]
        self.server = f"{HOST}:{self.port}"

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class StubDNS:
    """A scripted DNS server on 127.0.0.1 (UDP only, one thread) for the
    failures unbound will not produce on demand.

    answers   {(name, type): [rdata, ...]} with type "MX" ("10 host.test"),
              "A" or "AAAA"; other types of a known name get NODATA
    silent    names never answered (any type): their queries time out
    servfail  names answered SERVFAIL
    Any other name is NXDOMAIN. `server` is "127.0.0.1:PORT"."""

    def __init__(self, answers=None, silent=(), servfail=()):
        self.answers = {(_norm(n), t.upper()): list(v) for (n, t), v in (answers or {}).items()}
        self.names = {n for n, _ in self.answers}
        self.silent = {_norm(n) for n in silent}
        self.servfail = {_norm(n) for n in servfail}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.server = f"{HOST}:{self.port}"
        self.queries = []  # (name, type) as received
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            reply = self._reply(data)
            if reply:
                self.sock.sendto(reply, peer)

    def _reply(self, q):
        try:
            name, end = _read_qname(q, 12)
            qtype = struct.unpack(">H", q[end:end + 2])[0]
        except (IndexError, ValueError, struct.error):
            return None
        tname = {v: k for k, v in QTYPES.items()}.get(qtype, str(qtype))
        self.queries.append((name, tname))
        if name in self.silent:
            return None
        rdatas = [_rdata(tname, r) for r in self.answers.get((name, tname), [])]
        rcode = 2 if name in self.servfail else 0 if name in self.names else 3
        if rcode:
            rdatas = []
        head = struct.pack(">HHHHHH", struct.unpack(">H", q[:2])[0], 0x8180 | rcode, 1,
                           len(rdatas), 0, 0)
        out = head + q[12:end + 4]
        for rd in rdatas:
            # 0xc00c: the question's name
            out += struct.pack(">HHHIH", 0xC00C, qtype, 1, 300, len(rd)) + rd
        return out

    def close(self):
        self._stop.set()
        self._thread.join(5)
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _read_qname(buf, off):
    labels = []
    while buf[off]:
        n = buf[off]
        if n > 63:
            raise ValueError("compressed or bad label")
        labels.append(buf[off + 1:off + 1 + n].decode("ascii").lower())
        off += 1 + n
    return ".".join(labels) + ".", off + 1


def _rdata(rtype, text):
    if rtype == "A":
        return socket.inet_pton(socket.AF_INET, text)
    if rtype == "AAAA":
        return socket.inet_pton(socket.AF_INET6, text)
    if rtype == "MX":
        pref, host = text.split()
        return struct.pack(">H", int(pref)) + _qname(host)
    raise ValueError(f"StubDNS: no rdata for {rtype}")


def _qname(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\0"


def dns_query(port, name, qtype="A", timeout=2.0, host=HOST):
    """One UDP query (recursion desired); returns (rcode, answer count).
    Raises socket.timeout when nothing answers."""
    qid = int.from_bytes(os.urandom(2), "big")
    pkt = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    pkt += _qname(name) + struct.pack(">HH", QTYPES[qtype.upper()], 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(pkt, (host, port))
        deadline = time.monotonic() + timeout
        while True:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            data = s.recv(65535)
            if len(data) >= 12 and struct.unpack(">H", data[:2])[0] == qid:
                return data[3] & 0x0F, struct.unpack(">H", data[6:8])[0]


def _norm(name):
    return name.lower().rstrip(".") + "."


def _in_zone(name, zones):
    n = _norm(name)
    return any(n == z or n.endswith("." + z) for z in zones)


def _record_line(rec, ttl):
    """"name TYPE rdata" (TTL and class optional) or (name, type, rdata)."""
    if isinstance(rec, (tuple, list)):
        name, rtype, rdata = rec
        text = f"{name} {ttl} IN {rtype} {rdata}"
    else:
        text = " ".join(str(rec).split())
    if not text or "\n" in text or ("'" in text and '"' in text):
        raise ValueError(f"bad record {rec!r}")
    return text


def _quote(text):
    # unbound takes either quote; TXT data carries double quotes.
    return f"'{text}'" if '"' in text else f'"{text}"'


class DnsZone:
    """unbound serving `records` on 127.0.0.1:<port>.

    records   iterable of "name [ttl] [IN] TYPE rdata" strings or
              (name, type, rdata) tuples; every name under one of `zones`
    zones     static local zones (default ("test.",)); anything else is
              refused without recursion
    root      directory for the config, pid file and log (default: a new
              temporary directory, removed by stop())
    verbosity unbound's log verbosity (2: detailed operation)
    """

    def __init__(self, records=(), zones=("test.",), root=None, verbosity=2, ttl=300):
        self.zones = [_norm(z) for z in zones]
        if not self.zones or "." in self.zones:
            raise ValueError("zones must be named zones below the root")
        self.records = [_record_line(r, ttl) for r in records]
        for line in self.records:
            if not _in_zone(line.split()[0], self.zones):
                # unbound would make a transparent zone for it, whose other
                # names could be sent to the iterator.
                raise ValueError(f"record outside the zones {self.zones}: {line!r}")
        self._own_root = root is None
        self.root = Path(root) if root else None
        self.verbosity = verbosity
        self.port = None
        self.proc = None
        self.log_text = ""
        self.recursions = None

    # paths and addresses -------------------------------------------------
    @property
    def server(self):
        """"127.0.0.1:PORT": for dnsq --server and facteur's dns_servers."""
        return f"{HOST}:{self.port}"

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    @property
    def conf_path(self):
        return self.root / "unbound.conf"

    @property
    def log_path(self):
        return self.root / "unbound.log"

    def log(self):
        if self.log_path.exists():
            return self.log_path.read_text(errors="replace")
        return self.log_text

    # configuration --------------------------------------------------------
    def _write_conf(self):
        hints = self.root / "root.hints"
        # Never the built-in root servers: should the iterator ever run, it
        # finds only this loopback address.
        hints.write_text(". 3600 IN NS root.invalid.\nroot.invalid. 3600 IN A 127.0.0.1\n")
        lines = [
            "server:",
            f"    verbosity: {self.verbosity}",
            f"    interface: {HOST}",
            f"    port: {self.port}",
            "    do-ip4: yes",
            "    do-ip6: no",
            "    do-udp: yes",
            "    do-tcp: yes",
            f"    outgoing-interface: {HOST}",
            "    do-not-query-localhost: no",
            "    access-control: 127.0.0.0/8 allow",
            "    do-daemonize: no",
            '    chroot: ""',
            '    username: ""',
            f'    directory: "{self.root}"',
            f'    pidfile: "{self.root / "unbound.pid"}"',
            f'    logfile: "{self.log_path}"',
            "    use-syslog: no",
            "    log-time-ascii: yes",
            f'    root-hints: "{hints}"',
            '    module-config: "iterator"',
            "    num-threads: 1",
            "    so-reuseport: no",
            "    outgoing-range: 8",
            "    outgoing-num-tcp: 1",
            "    incoming-num-tcp: 8",
            "    msg-cache-size: 256k",
            "    rrset-cache-size: 256k",
            "    prefetch: no",
            "    minimal-responses: no",
            '    local-zone: "." refuse',
        ]
        lines += [f'    local-zone: "{z}" static' for z in self.zones]
        lines += [f"    local-data: {_quote(r)}" for r in self.records]
        lines += ["remote-control:", "    control-enable: no", ""]
        self.conf_path.write_text("\n".join(lines))

    # process --------------------------------------------------------------
    def start(self, timeout=10.0, attempts=5):
        assert self.proc is None, "already running"
        if self.root is None:
            self.root = Path(tempfile.mkdtemp(prefix="dnszone-"))
        self.root.mkdir(parents=True, exist_ok=True)
        last = ""
        for _ in range(attempts):
            self.port = free_port()
            self._write_conf()
            if self.log_path.exists():
                self.log_path.unlink()
            try:
                self._spawn(timeout)
                return self
            except StartError as e:
                last = str(e)
                if "address already in use" not in last.lower():
                    break
        raise StartError(last)

    def _spawn(self, timeout):
        errf = open(self.root / "unbound.stderr", "wb")
        self.proc = subprocess.Popen(
            [UNBOUND, "-d", "-c", str(self.conf_path)],
            stdin=subprocess.DEVNULL, stdout=errf, stderr=errf, cwd=self.root,
        )
        errf.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                self.proc = None
                err = (self.root / "unbound.stderr").read_text(errors="replace")
                raise StartError(f"unbound exited {rc}: {err}\n{self.log()}")
            try:
                # Any answer means it listens; "test." itself is local.
                dns_query(self.port, self.zones[0], "SOA", timeout=0.2)
                return
            except OSError:
                pass
        self.proc.kill()
        self.proc.wait(5)
        self.proc = None
        raise StartError(f"unbound did not answer within {timeout} s\n{self.log()}")

    def stop(self, timeout=10.0):
        """SIGTERM by pid and wait; returns the exit status (None if it was
        not running). Reads the log (and `recursions`) before removing a
        directory made by start()."""
        rc = None
        if self.proc is not None:
            p, self.proc = self.proc, None
            if p.poll() is None:
                os.kill(p.pid, signal.SIGTERM)
            try:
                rc = p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                rc = p.wait(5)
        if self.root is not None:
            self.log_text = self.log()
            m = re.findall(r"server stats for thread \d+: \d+ queries, \d+ answers from cache, "
                           r"(\d+) recursions", self.log_text)
            self.recursions = sum(int(x) for x in m) if m else None
            if self._own_root:
                shutil.rmtree(self.root, ignore_errors=True)
                self.root = None
        return rc

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
