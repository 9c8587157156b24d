"""Integration fixtures: start the real facteur binary on free loopback
ports with a temporary data directory, and talk to it as users would.

Fixtures
  facteur_bin      path of the binary (fails the session when missing)
  make_server      factory: make_server(start=True, users=True|[names], env=None,
                   **conf) -> Server
  server           a started Server with the default configuration
  run_cli          run_cli(args, input=None, env=None, cwd=None) -> CompletedProcess

Accounts in every server made by make_server (unless users=False): see
harness.ACCOUNTS. They are created once per session with the real CLI
("user add", "user apop-secret") and the resulting passwd/apop files are
copied into each server's data directory. At teardown each server gets
SIGTERM and must exit 0, must not have died during the test, and must
leave nothing in any Maildir tmp/.
"""

import shutil

import pytest

from harness import ACCOUNTS, APOP_SECRETS, FACTEUR_BIN, Server, cli


# --------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="session")
def facteur_bin():
    if not FACTEUR_BIN.exists():
        pytest.fail(f"facteur binary not found at {FACTEUR_BIN} (set FACTEUR_BIN)", pytrace=False)
    return FACTEUR_BIN


@pytest.fixture(scope="session")
def account_template(tmp_path_factory, facteur_bin):
    """passwd and apop files for ACCOUNTS, made once with the real CLI."""
    root = tmp_path_factory.mktemp("accounts")
    srv = Server(root)
    for name, pw in ACCOUNTS.items():
        srv.add_user(name, pw)
    for name, secret in APOP_SECRETS.items():
        r = srv.cli("user", "apop-secret", name, "--password-stdin", input=secret + "\n")
        assert r.returncode == 0, r.stderr
    return srv.data_dir


@pytest.fixture
def make_server(tmp_path, account_template):
    servers = []

    def make(start=True, users=True, env=None, **conf):
        root = tmp_path / f"srv{len(servers)}"
        srv = Server(root, conf, env=env)
        if users:
            # users=True: every account of ACCOUNTS; a list: only those
            for f in ("passwd", "apop"):
                src = account_template / f
                if not src.exists():
                    continue
                dst = srv.data_dir / f
                shutil.copy2(src, dst)
                if users is not True:
                    keep = [ln for ln in src.read_text().splitlines(keepends=True)
                            if ln.split(":", 1)[0] in users]
                    dst.write_text("".join(keep))
        servers.append(srv)
        if start:
            srv.start()
        return srv

    yield make
    problems = []
    for srv in servers:
        was_running = srv.proc is not None
        crashed = was_running and srv.proc.poll() is not None
        rc = srv.stop()
        print(f"--- server log ({srv.root}):\n{srv.log_tail(60)}")
        if crashed:
            problems.append(f"server died during the test with status {rc}")
        elif was_running and rc != 0:
            problems.append(f"server exited {rc} on SIGTERM")
        tmp = srv.all_tmp_files()
        if tmp:
            problems.append(f"files left in tmp/: {tmp}")
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)


@pytest.fixture
def server(make_server):
    return make_server()


@pytest.fixture
def run_cli(facteur_bin):
    return cli
