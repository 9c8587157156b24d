"""The C:/S: session transcripts of tests/transcripts/ (README.md there),
played over TCP against the real daemon by tests/transcripts/play_daemon.py:
each file on a fresh daemon configured per the README's conventions."""

import sys

import pytest

from harness import REPO_ROOT

TRANSCRIPTS = REPO_ROOT / "tests" / "transcripts"
sys.path.insert(0, str(TRANSCRIPTS))
import play_daemon  # noqa: E402

SMTP_FILES = play_daemon.files_in(TRANSCRIPTS / "smtp")
POP3_FILES = play_daemon.files_in(TRANSCRIPTS / "pop3")

# README conventions: hostname mx.test, local domain localhost, accounts
# alice@localhost (password "secret") and bob@localhost and no others,
# postmaster accepted, default limits.
CONVENTIONS = dict(hostname="mx.test", domains="localhost", postmaster="alice@localhost",
                   tls_cert="none", max_auth_failures=5)
# SMTP files expect the pure core's default: no STARTTLS (tls_cert = none
# above) and no AUTH offered (no cleartext AUTH from anywhere). POP3 files
# log in with USER/PASS in clear on loopback, which the default allows.
SMTP_CONVENTIONS = dict(CONVENTIONS, cleartext_auth_networks="none", max_auth_failures=3)
USERS = ["alice@localhost", "bob@localhost"]
# "# cfg: NAME" variants -> extra settings. auth-plaintext: AUTH offered
# and allowed without TLS, as on loopback.
# no-cleartext: logins refused without TLS.
CFG_VARIANTS = {
    "auth-plaintext": {"cleartext_auth_networks": "127.0.0.0/8, ::1"},
    "no-cleartext": {"cleartext_auth_networks": "none"},
}


def conf_for(t, base):
    conf = dict(base)
    for name in t.cfg:
        assert name in CFG_VARIANTS, f"{t.path}: unknown cfg variant {name!r}"
        conf.update(CFG_VARIANTS[name])
    return conf


def test_transcripts_exist():
    assert len(SMTP_FILES) >= 1 and len(POP3_FILES) >= 1


@pytest.mark.parametrize("path", SMTP_FILES + POP3_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_transcript_parses(path):
    t = play_daemon.parse(path)
    assert t.steps
    if path.parent.name == "smtp":
        assert not t.messages, "M lines are for POP3 files"


@pytest.mark.parametrize("path", SMTP_FILES, ids=lambda p: p.name)
def test_smtp_transcript(make_server, path):
    t = play_daemon.parse(path)
    srv = make_server(users=USERS, **conf_for(t, SMTP_CONVENTIONS))
    play_daemon.play(t, srv.smtp_port)


@pytest.mark.parametrize("path", POP3_FILES, ids=lambda p: p.name)
def test_pop3_transcript(make_server, path):
    t = play_daemon.parse(path)
    srv = make_server(start=False, users=USERS, **conf_for(t, CONVENTIONS))
    play_daemon.fill_maildir(srv.maildir("alice@localhost"), t.messages)
    srv.start()
    play_daemon.play(t, srv.pop3_port)
    assert "secret" not in srv.log().replace("apop-secret", ""), "a password reached the log"
