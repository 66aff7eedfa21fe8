"""``suggest chat``: the session logic, a pipe, and a pseudo-terminal."""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, invoke, no_traceback, run_suggest

from suggest import Engine
from suggest.chat import ChatSession
from suggest.clipboard import ClipboardUnavailable


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


def ids(outcome: object) -> list[str]:
    analysis = getattr(outcome, "analysis", None)
    assert analysis is not None, outcome
    return list(analysis.intent_ids)


# -- ChatSession ---------------------------------------------------------------------------

def test_messages_build_the_buyers_history(engine: Engine) -> None:
    session = ChatSession(engine)
    first = session.handle_line("发货了吗\n")
    assert first.kind == "analysis" and first.buyer == "buyer1" and first.turn == 1
    assert "shipping" in ids(first)
    follow_up = session.handle_line("？")
    assert "shipping" in ids(follow_up)  # read with the history
    assert session.buyer.history == ["发货了吗", "？"]


def test_each_buyer_keeps_its_own_history(engine: Engine) -> None:
    session = ChatSession(engine, buyer="小王")
    session.handle_line("发货了吗")
    switched = session.handle_line("/buyer 小李")
    assert switched.kind == "info" and "小李" in switched.text
    alone = session.handle_line("？")
    assert ids(alone) == []  # 小李 never asked about shipping
    back = session.handle_line("/buyer 小王")
    assert "1 message" in back.text
    assert "shipping" in ids(session.handle_line("？"))
    assert session.buyers["小王"].history == ["发货了吗", "？"]
    assert session.buyers["小李"].history == ["？"]
    listing = session.handle_line("/buyer")
    assert "* 小王" in listing.text and "小李" in listing.text


def test_new_buyer_has_a_fresh_history(engine: Engine) -> None:
    session = ChatSession(engine)
    session.handle_line("发货了吗")
    new = session.handle_line("/new")
    assert new.kind == "info" and session.current != "buyer1"
    assert session.buyer.history == []
    assert ids(session.handle_line("？")) == []


def test_history_command(engine: Engine) -> None:
    session = ChatSession(engine)
    assert "no messages" in session.handle_line("/history").text
    session.handle_line("在吗")
    session.handle_line("包邮吗")
    shown = session.handle_line("/history").text
    assert "1. 在吗" in shown and "2. 包邮吗" in shown


def test_copy_command(engine: Engine) -> None:
    copied: list[str] = []

    def fake(text: str) -> str:
        copied.append(text)
        return "test"

    session = ChatSession(engine, copier=fake)
    assert session.handle_line("/copy 1").kind == "error"  # nothing to copy yet
    answer = session.handle_line("怎么退货")
    assert answer.analysis is not None
    done = session.handle_line("/copy 2")
    assert done.kind == "info" and "copied reply 2" in done.text
    assert copied == [answer.analysis.replies[1].text]
    assert session.handle_line("/copy 99").kind == "error"
    assert session.handle_line("/copy x").kind == "error"


def test_copy_without_a_clipboard_says_so(engine: Engine) -> None:
    def none(text: str) -> str:
        raise ClipboardUnavailable("no clipboard available on this machine")

    session = ChatSession(engine, copier=none)
    session.handle_line("在吗")
    outcome = session.handle_line("/copy 1")
    assert outcome.kind == "error" and "no clipboard" in outcome.text


def test_blank_lines_quit_help_and_slash_messages(engine: Engine) -> None:
    session = ChatSession(engine)
    assert session.handle_line("\n").kind == "none"
    assert session.handle_line("  ").kind == "none"
    assert "/buyer" in session.handle_line("/help").text
    assert session.handle_line("/quit").kind == "quit"
    assert session.handle_line("/EXIT").kind == "quit"
    assert session.handle_line("/微笑 包邮吗").kind == "analysis"  # not a command: a buyer message
    assert session.handle_line("\x1b[31m\u200f").kind == "error"  # nothing left to read


# -- through a pipe ------------------------------------------------------------------------

SCRIPT = "\n".join([
    "包邮吗",
    "/buyer 小李",
    "怎么退货",
    "/history",
    "",
    "/copy 1",
    "/new",
    "在吗",
    "/buyer",
    "/quit",
    "this line comes after /quit",
]) + "\n"


def test_pipe_with_json_gives_one_line_per_buyer_message() -> None:
    done = run_suggest(["chat", "--json"], input=SCRIPT.encode(), env={"SUGGEST_CLIPBOARD": "none"})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.decode().splitlines()
    assert len(lines) == 3, lines
    rows = [json.loads(line) for line in lines]
    assert [(r["buyer"], r["turn"], r["text"]) for r in rows] == [
        ("buyer1", 1, "包邮吗"), ("小李", 1, "怎么退货"), ("buyer3", 1, "在吗")]
    assert "shipping" in [m["id"] for m in rows[0]["intents"]]
    assert "return_exchange" in [m["id"] for m in rows[1]["intents"]]
    assert all(r["replies"] for r in rows)
    err = done.stderr.decode()
    assert "1. 怎么退货" in err  # /history went to stderr
    assert "no clipboard" in err
    assert "Traceback" not in err


def test_pipe_without_json_shows_numbered_replies() -> None:
    result = invoke(["chat"], input="包邮吗\n/history\n".encode())  # ends at end of input
    no_traceback(result)
    assert result.exit_code == 0
    assert "shipping" in result.stdout
    assert "  1. " in result.stdout
    assert "1. 包邮吗" in result.stdout
    assert "> " not in result.stderr  # not a terminal: no prompts


def test_pipe_with_invalid_utf8_line_goes_on() -> None:
    done = run_suggest(["chat", "--json"], input=b"\xff\xfe\n" + "在吗\n".encode())
    assert done.returncode == 0
    assert len(done.stdout.decode().splitlines()) == 1
    assert b"UTF-8" in done.stderr


def test_chat_with_broken_packs_exits_2(broken_intents: tuple[Path, Path]) -> None:
    folder, broken = broken_intents
    result = invoke(["chat", "--intents", str(folder)], input=b"hi\n")
    no_traceback(result)
    assert result.exit_code == 2 and f"{broken}:" in result.stderr


# -- through a pseudo-terminal -------------------------------------------------------------

def plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


class Terminal:
    """`suggest chat` on a pseudo-terminal, read with deadlines so a hang fails fast."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        import pty

        self.master, slave = pty.openpty()
        full_env = {**os.environ, "TERM": "dumb", **(env or {})}
        self.proc = subprocess.Popen([sys.executable, "-m", "suggest", *args], stdin=slave, stdout=slave,
                                     stderr=slave, env=full_env, cwd=ROOT, start_new_session=True)
        os.close(slave)
        self.seen = b""

    def expect(self, needle: str, count: int = 1, timeout: float = 30.0) -> str:
        """Wait until ``needle`` has been printed ``count`` times in all; return everything so far."""
        wanted = needle.encode()
        deadline = time.monotonic() + timeout
        while self.seen.count(wanted) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{needle!r} not seen in {timeout}s; got {self.seen.decode(errors='replace')!r}")
            ready, _, _ = select.select([self.master], [], [], min(left, 0.5))
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    chunk = b""
                if not chunk and self.proc.poll() is not None:
                    raise AssertionError(f"{needle!r} not seen before exit; got {self.seen.decode(errors='replace')!r}")
                self.seen += chunk
        return self.seen.decode(errors="replace")

    def send(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\r")

    def close(self, timeout: float = 15.0) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            os.close(self.master)


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_terminal_session_shows_prompt_and_replies() -> None:
    term = Terminal(["chat"])
    try:
        term.expect("buyer1> ")
        term.send("包邮吗")
        term.expect("shipping")
        out = plain(term.expect("buyer1> ", count=2))  # the answer, then the next prompt
        assert "  1. " in out and "  2. " in out
        assert "\x1b[" in term.seen.decode()  # a terminal gets colours
        term.send("/buyer 小李")
        term.expect("小李> ")
        term.send("/quit")
        assert term.close() == 0
    finally:
        if term.proc.poll() is None:
            term.proc.kill()


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_terminal_session_without_colours_and_ended_by_eof() -> None:
    term = Terminal(["chat", "--buyer", "阿明"], env={"NO_COLOR": "1"})
    try:
        term.expect("阿明> ")
        term.send("在吗")
        out = term.expect("阿明> ", count=2)
        assert "greeting" in out and "  1. " in out
        assert "\x1b[" not in out.replace("\x1b[?1034h", "")  # NO_COLOR: no colours
        os.write(term.master, b"\x04")  # Ctrl-D at an empty prompt: end of input
        assert term.close() == 0
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
