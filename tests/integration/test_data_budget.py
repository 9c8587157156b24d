"""max_data_memory: the memory all messages in transit may hold together.
One session holding most of the budget in an unfinished DATA makes the
next message that would cross it fail with 452 4.3.1 (read to its end,
the session goes on); once the first finishes, mail flows again."""

import time

from harness import make_message

BOB = "bob@localhost"


def start_data(srv):
    c = srv.smtp()
    c.ehlo()
    c.cmd("MAIL FROM:<s@example.org>", 250)
    c.cmd(f"RCPT TO:<{BOB}>", 250)
    c.cmd("DATA", 354)
    return c


def test_budget_sheds_the_message_that_crosses_it(make_server):
    srv = make_server(max_message_size="1M", max_data_memory="1M")
    big = start_data(srv)
    # 700 KiB of lines, no end yet: the session holds ~1 MiB of buffer
    line = b"x" * 998 + b"\r\n"
    big.send(line * 700)
    time.sleep(0.5)
    other = start_data(srv)
    other.send(b"Subject: small\r\n\r\nhello\r\n.\r\n")
    r = other.reply()
    assert r.code == 452 and r.enhanced == "4.3.1", r
    # the session goes on
    other.cmd("RSET", 250)
    # the big one completes normally
    big.send(b"end\r\n.\r\n")
    r = big.reply()
    assert r.code == 250, r
    assert len(srv.messages(BOB)) == 1
    # with the budget free again, the same small message passes
    msg, _ = make_message(subject="again")
    assert other.send_mail("s@example.org", [BOB], msg).code == 250
    assert "data-shed" in srv.log()
    other.quit()
    big.quit()


def test_budget_below_message_size_is_a_config_error(make_server, tmp_path):
    srv = make_server(start=False, max_message_size="2M", max_data_memory="1M")
    r = srv.cli("config", "check")
    assert r.returncode == 1
    assert b"max_data_memory" in r.stderr
