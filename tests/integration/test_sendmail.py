"""facteur sendmail: the sendmail(8) command line, submitting to the real
server's SMTP listener; what arrives is read from the Maildirs."""

import getpass
import re

from harness import HOST, cli, free_port, strip_trace, write_conf

ALICE, BOB, PM = "alice@localhost", "bob@localhost", "pm@localhost"


def sendmail(srv, args, message):
    """Runs facteur sendmail -c <server conf> args with message on stdin."""
    return cli(["sendmail", "-c", srv.conf_path, *args], input=message, timeout=30)


def only_message(srv, addr):
    msgs = srv.messages(addr)
    assert len(msgs) == 1, f"{addr}: {len(msgs)} messages"
    trace, rest = strip_trace(msgs[0])
    return trace, rest.decode()


def field(msg, name):
    m = re.search(rf"^{name}: (.*)$", msg, re.M | re.I)
    return m.group(1) if m else None


def test_recipients_as_arguments_headers_kept_and_added(server):
    msg = ("From: Sender <sender@example.org>\nTo: bob@localhost\nSubject: hello there\n"
           "X-Custom: kept as is\n\nfirst line\n.leading dot\n")
    r = sendmail(server, ["-i", BOB], msg)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"" and r.stderr == b""
    trace, got = only_message(server, BOB)
    assert field(got, "Subject") == "hello there"
    assert field(got, "X-Custom") == "kept as is"
    assert field(got, "From") == "Sender <sender@example.org>"
    assert re.match(r"^<\d+\.[0-9a-f]{16}@mx\.test>$", field(got, "Message-ID"))
    assert re.match(r"^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}$", field(got, "Date"))
    assert got.endswith("\n\nfirst line\n.leading dot\n")
    # envelope sender: the login name at the first domain
    assert trace[0] == f"Return-Path: <{getpass.getuser()}@localhost>".encode()
    assert server.messages(ALICE) == []


def test_f_sets_envelope_sender_and_F_the_from_name(server):
    r = sendmail(server, ["-f", "bounces@example.org", "-F", "Ops Team", "-oi", "-oem",
                          ALICE], "Subject: s\n\nbody\n")
    assert r.returncode == 0, r.stderr
    trace, got = only_message(server, ALICE)
    assert trace[0] == b"Return-Path: <bounces@example.org>"
    assert field(got, "From") == "Ops Team <bounces@example.org>"
    # attached value and the null sender
    r = sendmail(server, ["-f<>", BOB], "Subject: bounce\n\nb\n")
    assert r.returncode == 0, r.stderr
    trace, got = only_message(server, BOB)
    assert trace[0] == b"Return-Path: <>"


def test_t_reads_to_cc_bcc_and_removes_bcc(server):
    msg = ("From: a@example.org\nTo: Bob <bob@localhost>\nCc: \"Alice, A.\" <alice@localhost>\n"
           "Bcc: pm@localhost\nSubject: three\n\nhi\n")
    r = sendmail(server, ["-t", "-i"], msg)
    assert r.returncode == 0, r.stderr
    for addr in (ALICE, BOB, PM):
        _, got = only_message(server, addr)
        assert field(got, "Subject") == "three"
        assert field(got, "Bcc") is None, "Bcc must not be delivered"
        assert "pm@localhost" not in got
        assert field(got, "Cc") == "\"Alice, A.\" <alice@localhost>"


def test_t_adds_command_line_recipients_and_qualifies_names(server):
    r = sendmail(server, ["-t", "pm"], "To: bob\nSubject: q\n\nb\n")
    assert r.returncode == 0, r.stderr
    assert len(server.messages(BOB)) == 1 and len(server.messages(PM)) == 1


def test_dot_line_ends_input_without_i(server):
    r = sendmail(server, [BOB], "Subject: dots\n\nbefore\n..two dots\n.\nafter the end\n")
    assert r.returncode == 0, r.stderr
    _, got = only_message(server, BOB)
    assert got.endswith("\n\nbefore\n..two dots\n")
    assert "after the end" not in got


def test_with_i_a_dot_line_is_content(server):
    r = sendmail(server, ["-i", BOB], "Subject: dots\n\nbefore\n.\nafter\n")
    assert r.returncode == 0, r.stderr
    _, got = only_message(server, BOB)
    assert got.endswith("\n\nbefore\n.\nafter\n")


def test_crlf_input_and_body_only_input(server):
    r = sendmail(server, ["-i", BOB], "Subject: crlf\r\n\r\nline\r\n")
    assert r.returncode == 0, r.stderr
    _, got = only_message(server, BOB)
    assert got.endswith("Subject: crlf\n" + got.split("Subject: crlf\n")[1])
    assert got.endswith("\n\nline\n")
    r = sendmail(server, ["-i", ALICE], "no headers at all\n")
    assert r.returncode == 0, r.stderr
    _, got = only_message(server, ALICE)
    assert field(got, "From") and field(got, "Date") and field(got, "Message-ID")
    assert got.endswith("\n\nno headers at all\n")


def test_unknown_recipient_is_67_and_nothing_is_sent(server):
    r = sendmail(server, ["-i", BOB, "nobody@localhost"], "Subject: s\n\nb\n")
    assert r.returncode == 67, r.stderr
    err = r.stderr.decode()
    assert "<nobody@localhost> refused: 550 5.1.1" in err
    assert "nothing was sent" in err
    assert server.messages(BOB) == []


def test_foreign_domain_is_refused(server):
    r = sendmail(server, ["-i", "someone@example.com"], "Subject: s\n\nb\n")
    assert r.returncode == 67
    assert b"554 5.7.1" in r.stderr


def test_4xx_is_tempfail_75(make_server):
    srv = make_server(max_recipients=1)
    r = sendmail(srv, ["-i", BOB, ALICE], "Subject: s\n\nb\n")
    assert r.returncode == 75, r.stderr
    assert b"452 4.5.3" in r.stderr
    assert srv.messages(BOB) == []


def test_too_big_is_dataerr_65(make_server):
    srv = make_server(max_message_size=1024)
    r = sendmail(srv, ["-i", BOB], "Subject: big\n\n" + "x" * 2000 + "\n")
    assert r.returncode == 65, r.stderr
    assert srv.messages(BOB) == []


def test_connection_refused_is_69(tmp_path):
    conf = tmp_path / "facteur.conf"
    write_conf(conf, {"data_dir": str(tmp_path / "data"), "domains": "localhost",
                      "smtp_listen": f"{HOST}:{free_port()}", "pop3_listen": "none"})
    r = cli(["sendmail", "-c", conf, "-i", BOB], input="Subject: s\n\nb\n")
    assert r.returncode == 69, r.stderr
    assert b"Connection refused" in r.stderr


def test_usage_errors(server):
    r = sendmail(server, ["-i"], "Subject: no recipients\n\nb\n")
    assert r.returncode == 64 and b"no recipients" in r.stderr
    r = sendmail(server, ["-bs"], "")
    assert r.returncode == 64
    r = sendmail(server, ["-Z", BOB], "")
    assert r.returncode == 64
    r = sendmail(server, ["-t", "-i"], "To: \"unterminated <bob@localhost>\n\nb\n")
    assert r.returncode == 65
    r = sendmail(server, ["-f"], "")
    assert r.returncode == 64
    assert server.messages(BOB) == []


def test_verbose_prints_the_dialogue(server):
    r = sendmail(server, ["-v", "-i", BOB], "Subject: v\n\nb\n")
    assert r.returncode == 0
    err = r.stderr.decode()
    assert re.search(r"C: RCPT TO:<bob@localhost>  \(25 bytes\)", err)
    assert "S: 250 2.0.0" in err
