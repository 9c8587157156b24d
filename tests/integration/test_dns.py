"""The outbound-mail DNS lookups (src/net/dns.c) through the dnsq tool
(tests/unit/dns/dnsq.c), against unbound on loopback serving a fixed
"test." zone (dnszone.py). Nothing is built here: dnsq is found next to
the facteur binary of the same build (FACTEUR_BIN's directory +
tests/unit/dns/dnsq), or at DNSQ_BIN.

Every query goes to 127.0.0.1: the zone's unbound refuses any name
outside "test." without recursing, and the fixture checks at the end that
it never tried to recurse."""

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from dnszone import DnsZone, SilentUDP, StubDNS, dns_query, free_port
from harness import FACTEUR_BIN

DNSQ = Path(os.environ.get("DNSQ_BIN") or FACTEUR_BIN.parent / "tests" / "unit" / "dns" / "dnsq")

EQ_HOSTS = ["a.eq.test", "b.eq.test", "c.eq.test", "d.eq.test"]
MANY_A = [f"192.0.2.{100 + i}" for i in range(12)]

RECORDS = [
    # MX by preference; each host with a different mix of families
    "mx.test. MX 20 mx2.test.",
    "mx.test. MX 10 mx1.test.",
    "mx.test. MX 30 mx3.test.",
    "mx1.test. A 192.0.2.1",
    "mx1.test. AAAA 2001:db8::1",
    "mx2.test. A 192.0.2.2",
    "mx3.test. AAAA 2001:db8::3",
    # four equal preferences, then a backup
    *[f"eq.test. MX 10 {h}." for h in EQ_HOSTS],
    "eq.test. MX 20 z.eq.test.",
    *[f"{h}. A 192.0.2.{20 + i}" for i, h in enumerate(EQ_HOSTS)],
    "z.eq.test. A 192.0.2.29",
    # no MX: the domain's own addresses (implicit MX)
    "a-only.test. A 192.0.2.10",
    "aaaa-only.test. AAAA 2001:db8::10",
    "both.test. A 192.0.2.11",
    "both.test. AAAA 2001:db8::11",
    "both.test. AAAA 2001:db8::12",
    # no MX and no address
    "txt-only.test. TXT \"v=spf1 -all\"",
    # RFC 7505 null MX; and a "." among real hosts (ignored)
    "nullmx.test. MX 0 .",
    "dotmx.test. MX 0 .",
    "dotmx.test. MX 20 mx2.test.",
    # MX hosts without addresses: one NXDOMAIN, one NODATA
    "noaddr.test. MX 10 ghost.test.",
    "noaddr.test. MX 20 txt-only.test.",
    "partial.test. MX 10 ghost.test.",
    "partial.test. MX 20 mx2.test.",
    # the same host twice: tried once, at its best preference
    "dup.test. MX 10 mx2.test.",
    "dup.test. MX 20 MX2.test.",
    "dup.test. MX 30 mx3.test.",
    # 20 MX records (an answer of ~1000 bytes: truncated over UDP, c-ares
    # asks again over TCP), and a host with 12 A records
    *[f"many.test. MX {100 - i} host{i:02d}-with-a-rather-long-name.many.test." for i in range(20)],
    *[f"host{i:02d}-with-a-rather-long-name.many.test. A 192.0.2.{200 + i}" for i in range(20)],
    *[f"manya.test. A {a}" for a in MANY_A],
]


@pytest.fixture(scope="module")
def dnsq():
    if not DNSQ.exists():
        pytest.fail(f"dnsq not found at {DNSQ} (build with -Dtests=true, or set DNSQ_BIN)",
                    pytrace=False)
    return DNSQ


@pytest.fixture(scope="module")
def zone():
    z = DnsZone(RECORDS).start()
    yield z
    rc = z.stop()
    assert rc == 0, f"unbound exited {rc}:\n{z.log_text[-2000:]}"
    assert z.recursions == 0, f"unbound tried to recurse:\n{z.log_text[-2000:]}"


class Result:
    def __init__(self, out):
        self.status = None
        self.implicit = None
        self.hosts = []  # (pref, name, [addresses])
        self.error = ""
        for line in out.splitlines():
            key, _, rest = line.partition(" ")
            if key == "status":
                self.status = rest
            elif key == "implicit":
                self.implicit = {"yes": True, "no": False}[rest]
            elif key == "host":
                pref, name, *addrs = rest.split()
                self.hosts.append((int(pref), name, addrs))
            elif key == "error":
                self.error = rest
            else:
                raise AssertionError(f"unexpected dnsq line {line!r}")
        assert self.status and self.implicit is not None, out

    @property
    def names(self):
        return [h[1] for h in self.hosts]

    def __repr__(self):
        return f"Result({self.status}, implicit={self.implicit}, {self.hosts}, {self.error!r})"


def run_dnsq(dnsq, server, kind, name, timeout_ms=2000, tries=1, cancel_ms=None):
    args = [str(dnsq), "--server", server, "--timeout", str(timeout_ms), "--tries", str(tries)]
    if cancel_ms is not None:
        args += ["--cancel", str(cancel_ms)]
    p = subprocess.run(args + [kind, name], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"dnsq exited {p.returncode}: {p.stderr}"
    assert p.stderr == "", p.stderr
    return Result(p.stdout)


@pytest.fixture
def mx(dnsq, zone):
    return lambda name, **kw: run_dnsq(dnsq, zone.server, "mx", name, **kw)


@pytest.fixture
def host(dnsq, zone):
    return lambda name, **kw: run_dnsq(dnsq, zone.server, "host", name, **kw)


# --------------------------------------------------------------------------
# MX


def test_mx_hosts_by_preference_ipv6_first(mx):
    r = mx("mx.test")
    assert r.status == "OK" and not r.implicit and r.error == ""
    assert r.hosts == [
        (10, "mx1.test", ["2001:db8::1", "192.0.2.1"]),
        (20, "mx2.test", ["192.0.2.2"]),
        (30, "mx3.test", ["2001:db8::3"]),
    ]


def test_mx_names_have_no_final_dot(mx):
    r = mx("mx.test.")
    assert r.status == "OK"
    assert r.names == ["mx1.test", "mx2.test", "mx3.test"]


def test_equal_preferences_are_shuffled_within_their_rank(mx):
    orders = set()
    for _ in range(25):
        r = mx("eq.test")
        assert r.status == "OK"
        assert sorted(r.names[:4]) == EQ_HOSTS
        assert [h[0] for h in r.hosts] == [10, 10, 10, 10, 20]
        assert r.hosts[4] == (20, "z.eq.test", ["192.0.2.29"])
        orders.add(tuple(r.names[:4]))
    # 25 runs with one order only: chance 24**-24.
    assert len(orders) > 1


@pytest.mark.parametrize("domain, addrs", [
    ("a-only.test", ["192.0.2.10"]),
    ("aaaa-only.test", ["2001:db8::10"]),
    ("both.test", ["2001:db8::11", "2001:db8::12", "192.0.2.11"]),
])
def test_no_mx_means_implicit_mx(mx, domain, addrs):
    r = mx(domain)
    assert r.status == "OK" and r.implicit
    assert len(r.hosts) == 1
    pref, name, got = r.hosts[0]
    assert (pref, name) == (0, domain)
    assert sorted(got) == sorted(addrs)
    # IPv6 first (within a family, the server's order)
    assert got == [a for a in got if ":" in a] + [a for a in got if ":" not in a]


def test_no_mx_and_no_address_is_no_domain(mx):
    r = mx("txt-only.test")
    assert r.status == "NO_DOMAIN" and r.implicit and r.hosts == []
    assert "txt-only.test" in r.error


def test_null_mx(mx):
    r = mx("nullmx.test")
    assert r.status == "NULL_MX" and r.hosts == []
    assert "nullmx.test" in r.error


def test_root_among_other_mx_is_ignored(mx):
    r = mx("dotmx.test")
    assert r.status == "OK"
    assert r.hosts == [(20, "mx2.test", ["192.0.2.2"])]


def test_nxdomain_is_no_domain(mx, host):
    r = mx("nothere.test")
    assert r.status == "NO_DOMAIN" and r.hosts == []
    assert r.error == "MX lookup for nothere.test: domain not found"
    r = host("nothere.test")
    assert r.status == "NO_DOMAIN"
    assert "nothere.test: domain not found" in r.error


def test_mx_hosts_without_addresses(mx):
    # RFC 5321 5.1: MX records present, none usable: an error, and a
    # permanent one since every name was answered (NXDOMAIN, NODATA).
    r = mx("noaddr.test")
    assert r.status == "NO_DOMAIN" and not r.implicit and r.hosts == []
    assert r.error == "no MX host of noaddr.test has an address"
    # hosts without addresses are dropped, the others kept
    r = mx("partial.test")
    assert r.status == "OK"
    assert r.hosts == [(20, "mx2.test", ["192.0.2.2"])]


def test_duplicate_mx_host_is_kept_once(mx):
    r = mx("dup.test")
    assert r.status == "OK"
    assert [(p, n.lower()) for p, n, _ in r.hosts] == [(10, "mx2.test"), (30, "mx3.test")]


def test_at_most_16_mx_hosts_the_best_ones(mx):
    r = mx("many.test")
    assert r.status == "OK"
    assert len(r.hosts) == 16
    # preferences 100 - i: the best are host19 (81) ... host04 (96)
    assert [h[0] for h in r.hosts] == list(range(81, 97))
    assert r.hosts[0] == (81, "host19-with-a-rather-long-name.many.test", ["192.0.2.219"])


def test_addresses_per_host_are_capped(host):
    r = host("manya.test")
    assert r.status == "OK"
    assert len(r.hosts[0][2]) == 8
    assert set(r.hosts[0][2]) <= set(MANY_A)


def test_names_outside_the_zone_are_refused_not_resolved(mx, zone):
    r = mx("example.com")
    # c-ares 1.18 skips a server that answers REFUSED (or SERVFAIL) and,
    # with none left, reports what it would for an unreachable one.
    assert r.status == "TEMPFAIL"
    assert r.error == "MX lookup for example.com: refused or failed by the servers"


def test_bad_names_are_not_queried(mx):
    r = mx("a..test")
    assert r.status == "NO_DOMAIN" and r.error == "bad domain name"


# --------------------------------------------------------------------------
# hosts


def test_host_addresses_ipv6_first(host):
    r = host("mx1.test")
    assert r.status == "OK" and not r.implicit
    assert r.hosts == [(0, "mx1.test", ["2001:db8::1", "192.0.2.1"])]
    r = host("mx3.test.")
    assert r.hosts == [(0, "mx3.test", ["2001:db8::3"])]


def test_host_without_address_is_no_domain(host):
    r = host("txt-only.test")
    assert r.status == "NO_DOMAIN" and r.hosts == []
    assert "lookup for txt-only.test: no such record" in r.error


@pytest.mark.parametrize("kind, name, want", [
    ("host", "192.0.2.7", (0, "192.0.2.7", ["192.0.2.7"])),
    ("host", "2001:db8::7", (0, "2001:db8::7", ["2001:db8::7"])),
    ("host", "[2001:db8::8]", (0, "2001:db8::8", ["2001:db8::8"])),
    ("host", "[IPv6:2001:db8::9]", (0, "2001:db8::9", ["2001:db8::9"])),
    ("mx", "[192.0.2.9]", (0, "192.0.2.9", ["192.0.2.9"])),
])
def test_numeric_hosts_need_no_query(dnsq, kind, name, want):
    # The server never answers: any query would take the full 3 s and
    # fail; a numeric host is answered at once.
    with SilentUDP() as silent:
        t0 = time.monotonic()
        r = run_dnsq(dnsq, silent.server, kind, name, timeout_ms=3000, tries=1)
        assert time.monotonic() - t0 < 2.5
    assert r.status == "OK" and r.hosts == [want]
    assert r.implicit == (kind == "mx")


# --------------------------------------------------------------------------
# failures of the server


def test_timeout_is_tempfail(dnsq):
    with SilentUDP() as silent:
        t0 = time.monotonic()
        r = run_dnsq(dnsq, silent.server, "mx", "mx.test", timeout_ms=100, tries=2)
        elapsed = time.monotonic() - t0
        r2 = run_dnsq(dnsq, silent.server, "host", "mx1.test", timeout_ms=100, tries=1)
    assert r.status == "TEMPFAIL" and r.hosts == []
    assert r.error == "MX lookup for mx.test: timeout"
    assert elapsed < 5
    assert r2.status == "TEMPFAIL"
    assert r2.error.endswith("lookup for mx1.test: timeout")


def test_connection_refused_is_tempfail(dnsq):
    port = free_port()  # nothing listens: ICMP port unreachable
    r = run_dnsq(dnsq, f"127.0.0.1:{port}", "mx", "mx.test", timeout_ms=1000, tries=2)
    assert r.status == "TEMPFAIL"
    assert r.error == "MX lookup for mx.test: refused or failed by the servers"


def test_next_server_after_a_silent_one(dnsq, zone):
    with SilentUDP() as silent:
        r = run_dnsq(dnsq, f"{silent.server}, {zone.server}", "mx", "mx.test",
                     timeout_ms=200, tries=2)
    assert r.status == "OK"
    assert r.names == ["mx1.test", "mx2.test", "mx3.test"]


# MX answered, then the hosts' address queries fail (StubDNS)

SLOW = {
    ("slow.test", "MX"): ["10 a.slow.test", "20 b.slow.test"],
    ("mixed.test", "MX"): ["10 a.slow.test", "20 fast.test"],
    ("mixed-nx.test", "MX"): ["10 a.slow.test", "20 ghost.test"],
    ("fast.test", "A"): ["192.0.2.50"],
    ("broken.test", "MX"): ["10 fast.test"],
}


def test_mx_hosts_whose_lookups_time_out_are_tempfail(dnsq):
    with StubDNS(SLOW, silent=["a.slow.test", "b.slow.test"]) as stub:
        r = run_dnsq(dnsq, stub.server, "mx", "slow.test", timeout_ms=100, tries=1)
        asked = set(stub.queries)
    assert r.status == "TEMPFAIL" and r.hosts == []
    assert r.error in {f"{t} lookup for {h}: timeout"
                       for t in ("A", "AAAA") for h in ("a.slow.test", "b.slow.test")}
    assert {("a.slow.test.", "A"), ("a.slow.test.", "AAAA"),
            ("b.slow.test.", "A"), ("b.slow.test.", "AAAA")} <= asked


def test_a_host_that_times_out_is_dropped_when_another_answers(dnsq):
    with StubDNS(SLOW, silent=["a.slow.test"]) as stub:
        r = run_dnsq(dnsq, stub.server, "mx", "mixed.test", timeout_ms=100, tries=1)
    assert r.status == "OK"
    assert r.hosts == [(20, "fast.test", ["192.0.2.50"])]


def test_no_address_anywhere_but_one_timeout_is_tempfail(dnsq):
    # ghost.test is NXDOMAIN, a.slow.test may answer next time.
    with StubDNS(SLOW, silent=["a.slow.test"]) as stub:
        r = run_dnsq(dnsq, stub.server, "mx", "mixed-nx.test", timeout_ms=100, tries=1)
    assert r.status == "TEMPFAIL"
    assert r.error.endswith("lookup for a.slow.test: timeout")


def test_servfail_is_tempfail(dnsq):
    with StubDNS(SLOW, servfail=["broken.test", "fast.test"]) as stub:
        r = run_dnsq(dnsq, stub.server, "mx", "broken.test", tries=1)
        r2 = run_dnsq(dnsq, stub.server, "host", "fast.test", tries=1)
    assert r.status == "TEMPFAIL"
    assert r.error == "MX lookup for broken.test: refused or failed by the servers"
    assert r2.status == "TEMPFAIL"


def test_free_cancels_during_the_address_queries(dnsq):
    with StubDNS(SLOW, silent=["a.slow.test", "b.slow.test"]) as stub:
        r = run_dnsq(dnsq, stub.server, "mx", "slow.test", timeout_ms=5000, tries=1,
                     cancel_ms=300)
        assert ("a.slow.test.", "AAAA") in stub.queries
    assert r.status == "TEMPFAIL" and r.hosts == []
    assert r.error == "MX lookup for slow.test: cancelled"


def test_free_cancels_a_pending_lookup(dnsq):
    with SilentUDP() as silent:
        t0 = time.monotonic()
        r = run_dnsq(dnsq, silent.server, "mx", "mx.test", timeout_ms=5000, tries=1,
                     cancel_ms=100)
        assert time.monotonic() - t0 < 4
    assert r.status == "TEMPFAIL" and r.hosts == []
    assert r.error == "MX lookup for mx.test: cancelled"


def test_free_during_a_lookup_in_flight(dnsq, zone):
    # Freed a few milliseconds in: during the MX query, during the 32
    # address queries, or after the result. Whichever, the callback runs
    # exactly once (dnsq exits 3 otherwise) and nothing leaks (sanitizer
    # builds fail the exit status).
    for ms in (1, 2, 3, 5, 8):
        r = run_dnsq(dnsq, zone.server, "mx", "many.test", timeout_ms=2000, tries=1,
                     cancel_ms=ms)
        assert r.status in ("OK", "TEMPFAIL")
        if r.status == "TEMPFAIL":
            assert r.error == "MX lookup for many.test: cancelled"


def test_zone_answers_directly(zone):
    # The helper's own client: what unbound says, before any c-ares.
    assert dns_query(zone.port, "mx.test", "MX") == (0, 3)
    assert dns_query(zone.port, "nothere.test", "A")[0] == 3     # NXDOMAIN
    assert dns_query(zone.port, "txt-only.test", "A") == (0, 0)  # NODATA
    assert dns_query(zone.port, "example.com", "A")[0] == 5      # REFUSED
    with pytest.raises(socket.timeout):
        with SilentUDP() as s:
            dns_query(s.port, "mx.test", timeout=0.1)
