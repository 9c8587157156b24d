"""Least privilege, seen from inside the running network process.

The fault shim (tests/fault) tries, at the server's first accept, to open
and to create files chosen by the test, and writes what happened to the
server's log: the sandbox must let the network process reach its queue
and nothing else, above all not the account files nor the Maildirs,
which only the auth and store processes touch (doc/design.md,
"Processes"; SECURITY.md)."""

import ctypes
import ctypes.util
import os
import re

import pytest

import hardlib


def landlock_abi():
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.syscall.restype = ctypes.c_long
    # landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)
    r = libc.syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return r if r > 0 else 0


needs_landlock = pytest.mark.skipif(landlock_abi() < 2,
                                    reason="the kernel has no Landlock ABI 2")


def probes(srv):
    """{(kind, path): result} from the shim's probe lines."""
    out = {}
    for m in re.finditer(r"^probe-(open|create) (\S+) (\S+)$", srv.log(), re.M):
        out[(m.group(1), m.group(2))] = m.group(3)
    return out


def start_probed(make_server, tmp_path, opens, creates, **conf):
    srv = make_server(start=False, shim=True,
                      env={"FAULT_PROBE_OPEN": ":".join(map(str, opens)),
                           "FAULT_PROBE_CREATE": ":".join(map(str, creates))},
                      **conf)
    srv.start()
    with srv.smtp() as c:  # the first accept runs the probes
        c.ehlo()
        c.quit()
    hardlib.wait_for(lambda: len(probes(srv)) == len(opens) + len(creates), 10,
                     what="the probe lines")
    return srv


@needs_landlock
def test_network_process_reaches_only_the_queue(make_server, tmp_path):
    root = tmp_path / "srv0"
    data = root / "data"
    outside = tmp_path / "outside.txt"
    outside.write_text("readable by mode\n")
    opens = [data / "passwd", root / "facteur.conf", outside, "/etc/shadow",
             "/etc/passwd", data / "mail", data / "queue"]
    creates = [data / "queue" / "probe.new", data / "mail" / "probe.new",
               data / "passwd.new", data / "evil", tmp_path / "evil", "/tmp/facteur-evil"]
    srv = start_probed(make_server, tmp_path, opens, creates, sandbox="yes")
    got = probes(srv)
    assert "network sandbox landlock-abi=" in srv.log()
    for p in opens[:6]:
        assert got[("open", str(p))] == "EACCES", (p, got)
    for p in opens[6:]:
        assert got[("open", str(p))] == "OK", (p, got)
    for p in creates[:1]:
        assert got[("create", str(p))] == "OK", (p, got)
    for p in creates[1:]:
        assert got[("create", str(p))] == "EACCES", (p, got)
        assert not os.path.exists(p)
    # And the server does its work inside those walls, the Maildirs
    # through the store process.
    msg, _ = hardlib.make_message("inside", to="bob@localhost")
    srv.deliver(["bob@localhost"], msg)
    assert len(srv.message_files("bob@localhost")) == 1
    c = srv.pop3()
    c.login("bob@localhost")
    assert c.retr(1).endswith(msg if isinstance(msg, bytes) else msg.encode())
    c.quit()


def test_sandbox_no_leaves_the_process_unconfined(make_server, tmp_path):
    """The control: the same probes without the sandbox succeed, so the
    EACCES above comes from the sandbox and not from file modes."""
    data = tmp_path / "srv0" / "data"
    srv = start_probed(make_server, tmp_path, [data / "passwd"], [data / "evil"],
                       sandbox="no")
    got = probes(srv)
    assert got[("open", str(data / "passwd"))] == "OK", got
    assert got[("create", str(data / "evil"))] == "OK", got
    assert "network sandbox" not in srv.log()


@needs_landlock
def test_a_certificate_kept_in_the_data_directory_opens_only_itself(make_server, tmp_path):
    """tls_cert and tls_key straight in data_dir: reading them must not
    open up the directory that holds the account files."""
    data = tmp_path / "srv0" / "data"
    srv = start_probed(make_server, tmp_path,
                       [data / "passwd", data / "cert.pem", data / "key.pem"], [],
                       sandbox="yes", tls_cert=str(data / "cert.pem"),
                       tls_key=str(data / "key.pem"))
    got = probes(srv)
    assert got[("open", str(data / "passwd"))] == "EACCES", got
    assert got[("open", str(data / "cert.pem"))] == "OK", got
    assert got[("open", str(data / "key.pem"))] == "OK", got
