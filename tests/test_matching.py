"""How the matcher reads buyers: slips, longest keyword, negations, history, evidence."""

from __future__ import annotations

import pytest

from suggest import Engine


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


@pytest.mark.parametrize(("text", "intent", "keyword"), [
    ("包油吗", "shipping", "包邮"),
    ("这个尺吗准吗", "size", "尺码"),
    ("卖家怎么还不发或", "shipping", "发货"),
    ("东西坏了 我要推货", "return_exchange", "退货"),
    ("能偏宜点吗", "bargain", "便宜"),
])
def test_pinyin_slips_match_their_keyword(engine: Engine, text: str, intent: str, keyword: str) -> None:
    match = {m.id: m for m in engine.analyze(text).intents}[intent]
    assert any(e.kind == "variant" and e.pattern == keyword for e in match.evidence)


@pytest.mark.parametrize("text", ["你们为什么不发货", "这个能吃吗", "到底发没发"])
def test_common_words_are_not_slips(engine: Engine, text: str) -> None:
    for match in engine.analyze(text).intents:
        assert all(e.kind != "variant" for e in match.evidence), match


def test_longest_keyword_wins_across_packs(engine: Engine) -> None:
    # 到付 (shipping) inside 货到付款 (unpaid_order)
    assert engine.analyze("能货到付款吗").intent_ids == ("unpaid_order",)


@pytest.mark.parametrize(("text", "absent"), [
    ("不是质量问题 就是不喜欢 能退吗", "quality_complaint"),
    ("八十包邮我就拍", "shipping"),
    ("不是要砍价 就问问有没有新人券", "nothing"),
])
def test_negations(engine: Engine, text: str, absent: str) -> None:
    assert absent not in engine.analyze(text).intent_ids


def test_history_reads_a_short_follow_up(engine: Engine) -> None:
    assert engine.analyze("？", ["发货了吗"]).intent_ids == ("shipping",)
    assert "size" in engine.analyze("那L呢", ["160 100斤穿M行吗"]).intent_ids
    # a bare yes carries nothing over
    assert engine.analyze("是的", ["发货了吗"]).intent_ids == ()


def test_intents_describe_the_current_message(engine: Engine) -> None:
    assert engine.analyze("好的 谢谢", ["什么时候发货"]).intent_ids == ("farewell",)


def test_several_intents_best_first(engine: Engine) -> None:
    analysis = engine.analyze("这件有M码吗 包邮吗 能便宜点不")
    assert set(analysis.intent_ids) == {"size", "product_info", "shipping", "bargain"}
    scores = [m.score for m in analysis.intents]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)


def test_evidence_points_at_what_the_buyer_typed(engine: Engine) -> None:
    text = "這件衣服怎麼還沒發貨！！"
    for match in engine.analyze(text).intents:
        for evidence in match.evidence:
            assert text[evidence.start:evidence.end] == evidence.text


def test_greeting_only_as_a_separate_opener(engine: Engine) -> None:
    assert engine.analyze("在吗").intent_ids == ("greeting",)
    assert "greeting" in engine.analyze("在吗？这个还有黑色吗").intent_ids
    assert "greeting" not in engine.analyze("你好 请问这个是什么材质").intent_ids


def test_farewell_yields_to_a_real_need(engine: Engine) -> None:
    assert engine.analyze("收到了 但是拉链坏了").intent_ids == ("quality_complaint",)


def test_out_of_scope_needs_get_no_intent_of_the_taxonomy(engine: Engine) -> None:
    # an invoice gets the bundled need outside the taxonomy (answered, not scored), nothing else
    assert engine.analyze("麻烦开一张电子发票 谢谢").intent_ids == ("invoice",)
    assert engine.outside_taxonomy == {"invoice", "unclear", "handover"}


def test_pasted_agent_text_gets_no_intent(engine: Engine) -> None:
    text = "亲亲 建议您先在订单页申请售后哦 给您带来不便敬请谅解"
    assert engine.analyze(text).intent_ids == ()


def test_explain_shows_fired_and_near_rules(engine: Engine) -> None:
    explanation = engine.explain("尺码偏打还是偏小")
    fired = {row.id for row in explanation.rows if row.evidence}
    assert "size" in fired
    data = explanation.to_dict()
    assert data["analysis"]["intents"][0]["id"] == "size"
    assert any(rule["id"] == "size" for rule in data["rules"])


def test_tags_from_history(engine: Engine) -> None:
    assert "economy" in engine.analyze("那包邮吗", ["有券吗", "满减能叠加吗"]).tag_ids
    assert "silent" in engine.analyze("几码", ["这件", "黑色"]).tag_ids
    assert "irritable" in engine.analyze("到底发不发货！！！！").tag_ids


@pytest.mark.parametrize("text", ["图片你们看到了么", "那个链接找到了吗"])
def test_dao_ending_another_verb_is_no_arrival(engine: Engine, text: str) -> None:
    assert "shipping" not in engine.analyze(text).intent_ids


def test_an_arrival_question_still_is_one(engine: Engine) -> None:
    assert "shipping" in engine.analyze("快递到了么 我一直没看到").intent_ids
