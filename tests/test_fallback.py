"""The fallback pack (``fallback: true``): a holding reply for a question or request no
other pack recognises, never an intent of its own when anything else is found, and
never scored as a label."""

from __future__ import annotations

import pytest

from suggest import Engine
from suggest.evaluation import LabelledMessage, evaluate


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


@pytest.mark.parametrize("text", ["你们看了没有", "帮我看看", "那我接下来要做什么", "让你们同事联系我一下"])
def test_an_unknown_question_gets_a_holding_reply(engine: Engine, text: str) -> None:
    analysis = engine.analyze(text)
    assert analysis.intent_ids == ("unclear",)
    assert analysis.replies and analysis.replies[0].id.startswith("unclear.")


def test_a_chaser_gets_the_chasing_reply_first(engine: Engine) -> None:
    assert engine.analyze("问好了吗 怎么样了").replies[0].id == "unclear.chasing"


@pytest.mark.parametrize("text", ["包邮吗 帮我看看", "这件有没有黑色", "谢谢 帮我看看"])
def test_no_fallback_when_another_intent_is_found(engine: Engine, text: str) -> None:
    analysis = engine.analyze(text)
    assert analysis.intent_ids and "unclear" not in analysis.intent_ids


def test_the_history_comes_before_the_fallback(engine: Engine) -> None:
    """怎么样了 after 发货了吗 asks about the parcel: the lifted intent, not a holding reply."""
    assert engine.analyze("怎么样了").intent_ids == ("unclear",)
    after = engine.analyze("怎么样了", history=["发货了吗"])
    assert "shipping" in after.intent_ids and "unclear" not in after.intent_ids


@pytest.mark.parametrize("text", ["真的吗", "哈哈", "等会儿我问问家里人"])
def test_reactions_and_the_buyers_own_plans_get_no_holding_reply(engine: Engine, text: str) -> None:
    assert "unclear" not in engine.analyze(text).intent_ids


def test_the_fallback_is_not_scored_as_a_label(engine: Engine) -> None:
    assert "unclear" in engine.outside_taxonomy
    report = evaluate(engine, [LabelledMessage("x1", "帮我看看", frozenset(), frozenset())])
    assert report.false_alarms == 0
    assert "unclear" not in report.intents.per_label


# The hand-over pack: the buyer passes something over and asks nothing.
@pytest.mark.parametrize(("text", "first_reply"), [
    ("这边订单已经拍好了", "handover.order_placed"),
    ("单号 7781234509876543", "handover.number"),
    ("jd0098123456789", "handover.number"),
    ("图片发给您了", "handover.received"),
    ("那我就要白色的吧", "handover.picked"),
])
def test_a_hand_over_gets_a_confirmation_that_fits_it(engine: Engine, text: str, first_reply: str) -> None:
    analysis = engine.analyze(text)
    assert analysis.intent_ids == ("handover",)
    assert analysis.replies[0].id == first_reply


def test_a_mobile_number_is_confirmed_but_not_called_an_order_number(engine: Engine) -> None:
    analysis = engine.analyze("手机号 13900001111")
    assert analysis.intent_ids == ("handover",)
    assert "handover.number" not in {r.id for r in analysis.replies}


@pytest.mark.parametrize("text", ["付款了吗", "已经下单了 什么时候发货", "拍了两件 能便宜点吗", "一共[数字x]块钱"])
def test_a_question_beside_the_hand_over_is_answered_instead(engine: Engine, text: str) -> None:
    assert "handover" not in engine.analyze(text).intent_ids


def test_a_question_with_a_hand_over_gets_the_holding_reply(engine: Engine) -> None:
    assert engine.analyze("钱付过了 接下来要做什么").intent_ids == ("unclear",)


@pytest.mark.parametrize("text", ["那就是说下周一前能修好对吧", "这个步骤要如何弄", "那件事你们查清楚了么"])
def test_a_question_without_the_usual_question_words_gets_the_holding_reply(engine: Engine, text: str) -> None:
    assert engine.analyze(text).intent_ids == ("unclear",)


@pytest.mark.parametrize("text", ["对吧", "好吗", "哈哈哈"])
def test_a_bare_reaction_is_still_no_question(engine: Engine, text: str) -> None:
    assert "unclear" not in engine.analyze(text).intent_ids


def test_a_statement_no_pack_reads_is_acknowledged(engine: Engine) -> None:
    analysis = engine.analyze("我昨天下午已经跟楼下物业打过招呼了")
    assert analysis.intent_ids == ("handover",)
    assert analysis.replies[0].id.startswith("handover.")


@pytest.mark.parametrize("text", ["嗯嗯", "哈哈哈哈哈哈哈哈", "我知道"])
def test_chatter_and_short_answers_get_no_acknowledgement(engine: Engine, text: str) -> None:
    assert "handover" not in engine.analyze(text).intent_ids
