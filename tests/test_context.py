"""What the agent said reads the buyer's short answer (the agent's side of the chat)
through the library, the command line, batch and chat."""

from __future__ import annotations

import json

import pytest
from conftest import invoke

from suggest import Engine

REMINDER = "亲，看到您的订单还没付款哦，是遇到什么问题了吗"


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


def test_the_same_short_line_reads_differently_after_different_agent_lines(engine: Engine) -> None:
    after_reminder = engine.analyze("还没呢", history=[{"role": "agent", "text": REMINDER}])
    after_help = engine.analyze("还没呢", history=[{"role": "agent", "text": "亲，请问还有什么可以帮您的吗"}])
    assert "unpaid_order" in after_reminder.intent_ids
    assert "unpaid_order" not in after_help.intent_ids
    assert "unpaid_order" not in engine.analyze("还没呢").intent_ids


def test_cli_agent_option() -> None:
    with_agent = invoke(["--json", "-A", REMINDER, "还没呢"])
    without = invoke(["--json", "还没呢"])
    assert with_agent.exit_code == 0 and without.exit_code == 0, with_agent.output
    assert "unpaid_order" in [m["id"] for m in json.loads(with_agent.stdout)["intents"]]
    assert "unpaid_order" not in [m["id"] for m in json.loads(without.stdout)["intents"]]


def test_batch_takes_agent_entries_and_refuses_unknown_roles() -> None:
    lines = [{"text": "还没呢", "history": [{"role": "agent", "text": REMINDER}]},
             {"text": "还没呢", "history": ["在吗"]},
             {"text": "还没呢", "history": [{"role": "robot", "text": "x"}]}]
    result = invoke(["batch", "-"], input="\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n")
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert "unpaid_order" in [m["id"] for m in records[0]["intents"]]
    assert "unpaid_order" not in [m["id"] for m in records[1]["intents"]]
    assert "role" in records[2]["error"]
    assert result.exit_code == 1


def test_chat_agent_and_copy_are_recorded_as_sent() -> None:
    script = f"/agent {REMINDER}\n还没呢\n/history\n"
    result = invoke(["chat", "--json"], input=script)
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout.splitlines()[0])
    assert record["turn"] == 1  # the agent's line is no buyer message
    assert "unpaid_order" in [m["id"] for m in record["intents"]]
    assert f"(you) {REMINDER}" in result.stderr


def test_copy_notes_the_reply_as_sent() -> None:
    from suggest.chat import ChatSession

    copied: list[str] = []
    session = ChatSession(Engine(), copier=lambda text: copied.append(text) or "test")
    session.handle_line("包邮吗")
    assert session.handle_line("/copy 1").kind == "info"
    assert session.buyer.history[-1] == {"role": "agent", "text": copied[0]}
    assert session.buyer.messages == 1
