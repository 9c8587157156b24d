"""Server-side session transcripts (transcript = ...): every C:/S: line of
a session in the log, secrets redacted, message bodies summarised."""

import base64
import re

from harness import make_message

PASSWORD = "secret"


def transcript_lines(srv, proto):
    return [l for l in srv.log().splitlines() if re.match(rf"{proto} \w+ [CS]: ", l)]


def test_smtp_and_pop3_transcripts_redact_secrets(make_server):
    srv = make_server(transcript="all")
    body = b"the body must not be logged: " + PASSWORD.encode() + b"\r\n"
    msg, _ = make_message(body=body, to="alice@localhost")
    with srv.smtp() as c:
        c.ehlo()
        plain = base64.b64encode(b"\0alice@localhost\0" + PASSWORD.encode()).decode()
        assert c.cmd(f"AUTH PLAIN {plain}").code == 235
        assert c.send_mail("alice@localhost", ["alice@localhost"], msg).code == 250
        c.quit()
    with srv.pop3() as p:
        p.ok("USER alice")
        p.ok("PASS " + PASSWORD)
        p.ok("STAT")
        p.quit()
    srv.stop()
    smtp = transcript_lines(srv, "smtp")
    pop3 = transcript_lines(srv, "pop3")
    text = "\n".join(smtp + pop3)
    assert any(l.endswith("S: 220 " + srv.conf_values()["hostname"] + " ESMTP facteur")
               for l in smtp)
    assert any(l.endswith("C: AUTH PLAIN <redacted>") for l in smtp)
    assert any(" S: 235 " in l for l in smtp)
    assert any("C: MAIL FROM:<alice@localhost>" in l for l in smtp)
    assert any("C: DATA" in l for l in smtp)
    assert any(l.endswith("C: PASS <redacted>") for l in pop3)
    assert any(" S: +OK " in l for l in pop3)
    log = srv.log()
    assert PASSWORD not in log.replace("secret@", "")
    assert plain not in log
    assert "must not be logged" not in log


def test_transcript_only_on_named_listeners(make_server):
    srv = make_server(transcript="pop3")
    with srv.smtp() as c:
        c.ehlo()
        c.quit()
    with srv.pop3() as p:
        p.multi("CAPA")
        p.quit()
    srv.stop()
    assert transcript_lines(srv, "smtp") == []
    assert any(" C: CAPA" in l for l in transcript_lines(srv, "pop3"))
