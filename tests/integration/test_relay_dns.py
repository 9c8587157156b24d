"""Relay through DNS: facteur "A" finds the next hop with MX/A lookups
against a private unbound on a loopback port (dnszone.py), and delivers to
facteur "B" listening on 127.0.0.1 (relay_port = B's port). Nothing leaves
the machine: every name lives under "test.", and unbound refuses anything
else.

Covers: MX delivery, fallback to the next preference when the best MX is
down, implicit MX (A record only), null MX (RFC 7505) and NXDOMAIN
bounces, DNS down -> deferral.
"""

import pytest

from dnszone import DnsZone, SilentUDP
from test_relay import (ALICE, CAROL, dsn_parts, queue_ids, remote_server, status_text,
                        submit, wait_for)


@pytest.fixture
def remote(make_server):
    b = remote_server(make_server)
    b.start()
    return b


def sender_via(make_server, zone_server, b_port, **extra):
    conf = {"dns_servers": zone_server, "relay_port": b_port, "retry_min": "1s",
            "retry_max": "2s"}
    conf.update(extra)
    return make_server(**conf)


def test_delivery_through_mx(make_server, remote):
    with DnsZone(["remote.test. MX 10 mx1.remote.test.",
                  "mx1.remote.test. A 127.0.0.1"]) as zone:
        a = sender_via(make_server, zone.server, remote.smtp_port)
        submit(a, [CAROL])
        wait_for(lambda: remote.messages(CAROL), what="delivery via MX")
        assert "dest=mx:remote.test" in a.log()
        assert "mta=mx1.remote.test" in a.log()
        wait_for(lambda: not queue_ids(a), what="queue empty")
    assert zone.recursions == 0


def test_best_mx_down_falls_back_to_next_preference(make_server, remote):
    # 127.0.0.2 is loopback too, but nothing listens there on B's port.
    with DnsZone(["remote.test. MX 10 mx1.remote.test.",
                  "remote.test. MX 20 mx2.remote.test.",
                  "mx1.remote.test. A 127.0.0.2",
                  "mx2.remote.test. A 127.0.0.1"]) as zone:
        a = sender_via(make_server, zone.server, remote.smtp_port)
        submit(a, [CAROL])
        wait_for(lambda: remote.messages(CAROL), what="delivery via the second MX")
        log = a.log()
        assert log.index("mta=mx1.remote.test addr=127.0.0.2") < log.index(
            "mta=mx2.remote.test addr=127.0.0.1")
        assert a.messages(ALICE) == []


def test_no_mx_uses_the_domain_address(make_server, remote):
    with DnsZone(["remote.test. A 127.0.0.1"]) as zone:
        a = sender_via(make_server, zone.server, remote.smtp_port)
        submit(a, [CAROL])
        wait_for(lambda: remote.messages(CAROL), what="delivery via the A record")
        assert "mta=remote.test" in a.log()


def test_null_mx_bounces_at_once(make_server, remote):
    with DnsZone(["nomail.test. MX 0 .", "nomail.test. A 127.0.0.1"]) as zone:
        a = sender_via(make_server, zone.server, remote.smtp_port)
        submit(a, ["someone@nomail.test"])
        bounce = wait_for(lambda: a.messages(ALICE), what="null MX bounce")
        _, parts = dsn_parts(bounce[0])
        st = status_text(parts[1])
        assert "Status: 5.1.10" in st and "Action: failed" in st, st
        assert remote.messages(CAROL) == []
        wait_for(lambda: not queue_ids(a), what="queue empty")


def test_nonexistent_domain_bounces(make_server, remote):
    with DnsZone(["remote.test. MX 10 mx1.remote.test.",
                  "mx1.remote.test. A 127.0.0.1"]) as zone:
        a = sender_via(make_server, zone.server, remote.smtp_port)
        submit(a, ["someone@no-such-domain.test"])
        bounce = wait_for(lambda: a.messages(ALICE), what="NXDOMAIN bounce")
        _, parts = dsn_parts(bounce[0])
        st = status_text(parts[1])
        assert "Status: 5.1.2" in st, st


def test_dns_down_defers(make_server, remote):
    with SilentUDP() as silent:
        a = sender_via(make_server, silent.server, remote.smtp_port, retry_min="1h",
                       retry_max="2h")
        submit(a, [CAROL])
        wait_for(lambda: " next-in=" in a.log(), timeout=60, what="deferral")
        assert "status=4.4.3" in a.log()
        assert len(queue_ids(a)) == 1
        assert a.messages(ALICE) == []


def test_ipv6_only_mx(make_server):
    """An MX host with only an AAAA record: delivered over IPv6 (::1)."""
    import socket
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    from harness import free_port
    port = free_port()
    b = remote_server(make_server, smtp_listen=f"127.0.0.1:{port}, [::1]:{port}")
    b.smtp_port = port
    b.pop3_port = free_port()
    b.start(keep_ports=True)
    with DnsZone(["remote.test. MX 10 mx6.remote.test.",
                  "mx6.remote.test. AAAA ::1"]) as zone:
        a = sender_via(make_server, zone.server, port)
        submit(a, [CAROL])
        wait_for(lambda: b.messages(CAROL), what="delivery over IPv6")
        assert f"addr=[::1]:{port}" in a.log()
        assert "([IPv6:::1])" in b.messages(CAROL)[0].decode()
