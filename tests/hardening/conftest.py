"""Hardening fixtures: the real facteur binary on free loopback ports with
a private data directory, optionally under the LD_PRELOAD fault shim
(tests/fault/faultshim.c).

Fixtures
  facteur_bin   path of the binary (fails the session when missing)
  sanitized     True when the binary is an ASan build
  rng           random.Random seeded from HARDENING_SEED (or a printed seed)
  make_server   make_server(start=True, shim=False, **conf) -> Server
                with shim=True the server runs with LD_PRELOAD=faultshim.so
                and gets .fault(text) (replace the control file) and
                .fault_log() (lines of injected failures)

Every server has the accounts of hardlib.ACCOUNTS (made once per session
with the real CLI). At teardown a running server gets SIGTERM and must
exit 0; no server may have written a sanitizer report or a "bug" line.
"""

import os
import random
import shutil
import subprocess

import pytest

import hardlib
from hardlib import ACCOUNTS, FACTEUR_BIN, Server


@pytest.fixture(scope="session")
def facteur_bin():
    if not FACTEUR_BIN.exists():
        pytest.fail(f"facteur binary not found at {FACTEUR_BIN} (set FACTEUR_BIN)",
                    pytrace=False)
    return FACTEUR_BIN


@pytest.fixture(scope="session")
def sanitized(facteur_bin):
    return hardlib.binary_is_sanitized(facteur_bin)


@pytest.fixture
def rng(request):
    seed = os.environ.get("HARDENING_SEED")
    seed = int(seed) if seed else random.randrange(1 << 30)
    print(f"HARDENING_SEED={seed} ({request.node.name})")
    return random.Random(seed)


@pytest.fixture(scope="session")
def account_template(tmp_path_factory, facteur_bin):
    root = tmp_path_factory.mktemp("accounts")
    data = root / "data"
    data.mkdir()
    conf = root / "facteur.conf"
    hardlib.write_conf(conf, {"data_dir": str(data), "domains": "localhost",
                              "smtp_listen": "none", "pop3_listen": "none"})
    for name, pw in ACCOUNTS.items():
        r = subprocess.run([str(facteur_bin), "user", "add", name, "--password-stdin",
                            "-c", str(conf)], input=(pw + "\n").encode(),
                           capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr
    return data


def shim_env(control, log):
    shim = hardlib.faultshim_path()
    if not shim.exists():
        pytest.skip(f"faultshim not built at {shim} (set FACTEUR_FAULTSHIM, or build "
                    "tests/fault with meson)")
    preload = [str(shim)]
    asan_lib = hardlib.asan_runtime_library()
    if asan_lib:
        # gcc's dynamic ASan runtime insists on coming first.
        preload.insert(0, asan_lib)
    return {"LD_PRELOAD": ":".join(preload), "FAULT_CONTROL": str(control),
            "FAULT_LOG": str(log)}


@pytest.fixture
def make_server(tmp_path, account_template, sanitized):
    servers = []

    def make(start=True, shim=False, env=None, **conf):
        root = tmp_path / f"srv{len(servers)}"
        extra_env, env = env or {}, {}
        if shim:
            env = shim_env(root / "fault.control", root / "fault.log")
            # The shim re-reads its control file and appends to its log
            # from inside the network process, outside the mail root that
            # the sandbox confines it to.
            conf.setdefault("sandbox", "no")
        env.update(extra_env)
        srv = Server(root, conf, env)
        shutil.copy2(account_template / "passwd", srv.data_dir / "passwd")
        if shim:
            _add_fault_controls(srv, root / "fault.control", root / "fault.log")
        servers.append(srv)
        if start:
            srv.start()
            if shim and sanitized:
                _shim_probe(srv)
        return srv

    yield make
    problems = []
    for srv in servers:
        was_running = srv.proc is not None
        crashed = was_running and srv.proc.poll() is not None
        try:
            rc = srv.stop()
        except AssertionError as e:
            rc = None
            problems.append(str(e))
        print(f"--- server log ({srv.root}), {srv.starts} starts, {srv.killed} kills:\n"
              f"{srv.log_tail(40)}")
        if crashed:
            problems.append(f"server died during the test with status {rc}")
        elif was_running and rc not in (0, None):
            problems.append(f"server exited {rc} on SIGTERM")
        reports = srv.sanitizer_reports()
        if reports:
            problems.append(f"sanitizer/bug reports in the server log: {reports}")
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)


def _add_fault_controls(srv, control, log):
    def fault(text):
        """Replaces the control file atomically (the shim reloads it on
        its next intercepted call); "" switches every fault off."""
        tmp = control.with_suffix(".new")
        tmp.write_text(text + "\n")
        os.replace(tmp, control)

    def fault_log():
        try:
            return log.read_text().splitlines()
        except FileNotFoundError:
            return []

    srv.fault = fault
    srv.fault_log = fault_log


_probe_result = {}


def _shim_probe(srv):
    """Under a sanitizer build, checks once that the shim really takes
    effect (an ASan runtime could shadow it); skips the test if not."""
    if "ok" not in _probe_result:
        before = len(srv.fault_log())
        srv.fault("FSYNC=EIO:1")
        msg, _ = hardlib.make_message("shim-probe", to="bob@localhost")
        with srv.smtp() as c:
            c.ehlo()
            c.cmd("MAIL FROM:<probe@example.org>", 250)
            c.cmd("RCPT TO:<bob@localhost>", 250)
            c.cmd("DATA", 354)
            c.send(hardlib.data_bytes(msg))
            r = c.reply()
        srv.fault("")
        _probe_result["ok"] = r.code == 451 and len(srv.fault_log()) > before
        _probe_result["why"] = f"reply {r.raw!r}, fault log {srv.fault_log()}"
    else:
        srv.fault("")
    if not _probe_result["ok"]:
        pytest.skip("faultshim has no effect under this sanitizer build "
                    f"({_probe_result['why']}); run these tests with the gcc build")
