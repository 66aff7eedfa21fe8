"""Reply packs and reply choice: coverage, templates, safety, ranking, shop profiles.

Most tests build a ``ReplyBook`` from the bundled reply packs and hand it
``IntentMatch``/``TagMatch`` objects directly, so they do not depend on how
the intent packs read a message.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import BUNDLED_INTENTS as INTENT_IDS

from suggest import Engine, PackError
from suggest.compiler import compile_program
from suggest.packs import load_packs
from suggest.replies import ReplyBook, answer_order, topic_words
from suggest.results import Evidence, IntentMatch, TagMatch
from suggest.sources import PackSources, bundled_dir
from suggest.templates import TemplateError, render, template_fields

CUSTOMER_TYPES = ("economy", "personalized", "convenience", "silent", "chatty", "indecisive", "arrogant",
                  "contrarian", "perfectionist", "irritable", "skeptical", "haggler", "frugal")
# The stages each need comes up in (domain notes): replies must be written for each.
STAGES_OF = {
    "size": ("pre_sale", "after_sale"),
    "bargain": ("pre_sale", "after_sale"),
    "shipping": ("pre_sale", "in_sale"),
    "quality_complaint": ("after_sale",),
    "unpaid_order": ("pre_sale",),
    "greeting": ("pre_sale",),
    "return_exchange": ("pre_sale", "after_sale"),
    "bad_review": ("after_sale",),
    "product_info": ("pre_sale", "after_sale"),
    "order_change": ("pre_sale", "in_sale"),
    "farewell": ("pre_sale", "in_sale", "after_sale"),
}
APOLOGY = re.compile(r"^(亲，)?[^，。！？]{0,4}(抱歉|对不起|不好意思)")


def _reply_packs() -> list[dict[str, Any]]:
    folder = bundled_dir("replies")
    return [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.yaml"))
            if p.name != "shop.yaml"]


PACKS = _reply_packs()
BY_INTENT = {pack["intent"]: pack["replies"] for pack in PACKS}
ALL_REPLIES = [(pack["intent"], reply) for pack in PACKS for reply in pack["replies"]]
SHOP: dict[str, Any] = yaml.safe_load((bundled_dir("replies") / "shop.yaml").read_text(encoding="utf-8"))
# A value for every slot hole a template may name ({height}, {size_pick}, ...): what a
# buyer's message fills in (tests/test_slots.py checks the filling itself).
SLOT_SAMPLES: dict[str, Any] = {"height": 165, "weight": 55, "weight_jin": 110, "size_pick": "L", "size_up": "XL",
                                "size_beyond": "2XL", "size": "M", "size_step": 1, "order_no": "1234567890123",
                                "buyer_courier": "顺丰", "colour": "黑色", "quantity": 2, "price_offer": 60,
                                "discount": 10, "days": 3, "date": "tomorrow", "region": "新疆"}


@pytest.fixture(scope="module")
def book() -> ReplyBook:
    """The bundled reply book as the engine builds it (with the intent packs' stages)."""
    return ReplyBook.from_program(compile_program(load_packs(PackSources.of())))


def said(intent: str, text: str = "", score: float = 0.9) -> IntentMatch:
    """An intent as the engine would report it, with what the buyer typed as evidence."""
    evidence = (Evidence("keyword", text, 0, len(text), text, 0.8),) if text else ()
    return IntentMatch(intent, score, evidence)


def tag(type_id: str) -> TagMatch:
    return TagMatch(type_id, 0.9)


# -- coverage ----------------------------------------------------------------------------

def test_one_pack_per_intent_and_no_other() -> None:
    assert sorted(BY_INTENT) == sorted(INTENT_IDS)
    assert len(PACKS) == len(INTENT_IDS)


@pytest.mark.parametrize("intent", INTENT_IDS)
def test_every_intent_has_enough_replies(intent: str) -> None:
    replies = BY_INTENT[intent]
    assert len(replies) >= 5
    assert sum(1 for r in replies if not r.get("types")) >= 3  # generic ones for any buyer
    assert any(r.get("types") for r in replies)  # and ones written for kinds of buyer


@pytest.mark.parametrize(("intent", "stage"), [(i, s) for i, stages in STAGES_OF.items() for s in stages])
def test_every_intent_has_replies_for_every_stage_it_occurs_in(intent: str, stage: str) -> None:
    fitting = [r for r in BY_INTENT[intent]
               if not r.get("types") and not r.get("with") and stage in r.get("stages", [stage])]
    assert fitting, f"no generic {intent} reply fits {stage}"
    if len(STAGES_OF[intent]) > 1:
        assert any(stage in r.get("stages", []) for r in BY_INTENT[intent]), f"none written for {stage}"


@pytest.mark.parametrize(("intent", "stage"), [(i, s) for i, stages in STAGES_OF.items() for s in stages])
def test_book_answers_every_intent_in_every_stage(book: ReplyBook, intent: str, stage: str) -> None:
    replies = book.choose([said(intent)], [], stage, top=3)
    assert len(replies) >= 2
    assert all(r.intent == intent for r in replies)


def test_every_customer_type_has_replies() -> None:
    used = {t for _, reply in ALL_REPLIES for t in reply.get("types", [])}
    assert used == set(CUSTOMER_TYPES)


def test_reply_ids_are_unique_and_named_after_their_intent() -> None:
    ids = [reply["id"] for _, reply in ALL_REPLIES]
    assert len(ids) == len(set(ids))
    for intent, reply in ALL_REPLIES:
        assert reply["id"].startswith(intent + ".")


# -- what the replies say ------------------------------------------------------------------

@pytest.mark.parametrize(("intent", "reply"), ALL_REPLIES, ids=[r["id"] for _, r in ALL_REPLIES])
def test_every_bundled_template_renders_with_the_example_shop(intent: str, reply: dict[str, Any]) -> None:
    text = render(reply["text"], {**SLOT_SAMPLES, **SHOP})
    assert "{" not in text and "}" not in text
    assert len(text) >= 15  # a sentence or two, never a bare word
    assert re.search(r"亲|您", text)


def test_replies_for_irritable_buyers_apologise_first() -> None:
    for _, reply in ALL_REPLIES:
        if "irritable" in reply.get("types", []):
            assert APOLOGY.search(reply["text"]), reply["id"]


def test_replies_for_hagglers_hold_the_price_with_an_offer() -> None:
    for _, reply in ALL_REPLIES:
        if "haggler" in reply.get("types", []):
            assert re.search(r"\{(promotions|coupon|gift|vip_discount)\}", reply["text"]), reply["id"]
            assert not re.search(r"便宜(给|点)您|少算|改价", reply["text"]), reply["id"]


def test_replies_for_frugal_buyers_mention_value_or_flexible_payment() -> None:
    frugal = [r for _, r in ALL_REPLIES if "frugal" in r.get("types", [])]
    assert frugal
    assert any("{installment}" in r["text"] for r in frugal)


def test_replies_for_skeptical_buyers_give_proof() -> None:
    for _, reply in ALL_REPLIES:
        if "skeptical" in reply.get("types", []):
            assert re.search(r"正品|退换|担保|凭证|记录|查询|追踪|明码标价|实物|负责", reply["text"]), reply["id"]


def test_quality_complaint_replies_soothe_before_asking_for_the_order() -> None:
    for reply in BY_INTENT["quality_complaint"]:
        text = reply["text"]
        apology = re.search(r"抱歉|对不起", text)
        assert apology, reply["id"]
        order = text.find("订单号")
        assert order == -1 or apology.start() < order, reply["id"]


def test_shipping_replies_never_promise_an_arrival_day() -> None:
    for reply in BY_INTENT["shipping"]:
        assert not re.search(r"(今天|明天|后天)[^，。]{0,3}到|保证[^，。]{0,6}到", reply["text"]), reply["id"]


# -- template safety ----------------------------------------------------------------------

@pytest.mark.parametrize("template", ["{x.__class__}", "{0}", "{a[0]}", "亲{", "亲}", "{shop_name!r}",
                                      "{shop_name:>10}", "{ shop name }", "{}", "{{shop_name}"])
def test_unsafe_templates_raise(template: str) -> None:
    with pytest.raises(TemplateError):
        template_fields(template)
    with pytest.raises(TemplateError):
        render(template, SHOP)


def test_doubled_braces_are_literal() -> None:
    assert render("{{shop_name}}：{shop_name}", SHOP) == "{shop_name}：" + SHOP["shop_name"]


def test_missing_variable_raises() -> None:
    with pytest.raises(TemplateError, match="no_such_thing"):
        render("亲，{no_such_thing}", SHOP)


def _copy_replies(tmp_path: Path) -> Path:
    folder = tmp_path / "replies"
    shutil.copytree(bundled_dir("replies"), folder)
    return folder


def _line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


@pytest.mark.parametrize("bad", ["{x.__class__}", "{0}", "{a[0]}", "{", "}"])
def test_pack_loader_reports_unsafe_template_with_file_and_line(tmp_path: Path, bad: str) -> None:
    folder = _copy_replies(tmp_path)
    target = folder / "bargain.yaml"
    text = target.read_text(encoding="utf-8")
    original = BY_INTENT["bargain"][1]["text"]
    target.write_text(text.replace(original, "亲，" + bad + "领券更划算"), encoding="utf-8")
    packs = load_packs(PackSources.of(replies=folder))
    mine = [p for p in packs.errors if p.file == str(target)]
    assert len(mine) == 1, [str(p) for p in packs.errors]
    assert mine[0].line == _line_of(target, "领券更划算")
    assert mine[0].key_path == "replies[1].text"
    assert f"{target}:{mine[0].line}" in str(mine[0])


def test_pack_loader_reports_unknown_shop_variable_with_file_and_line(tmp_path: Path) -> None:
    folder = _copy_replies(tmp_path)
    target = folder / "shipping.yaml"
    text = target.read_text(encoding="utf-8")
    original = BY_INTENT["shipping"][0]["text"]
    target.write_text(text.replace(original, "亲，默认发{carrier_pigeon}哦～"), encoding="utf-8")
    packs = load_packs(PackSources.of(replies=folder))
    mine = [p for p in packs.errors if p.file == str(target)]
    assert len(mine) == 1
    assert mine[0].line == _line_of(target, "carrier_pigeon")
    assert "carrier_pigeon" in mine[0].message
    with pytest.raises(PackError) as caught:
        Engine(replies=folder, use_cache=False)
    assert any(p.file == str(target) and p.line == mine[0].line for p in caught.value.problems)


def test_pack_loader_rejects_unknown_keys_and_bad_stages(tmp_path: Path) -> None:
    folder = _copy_replies(tmp_path)
    target = folder / "farewell.yaml"
    text = target.read_text(encoding="utf-8")
    text = text.replace("    priority: 30\n", "    priority: 30\n    mood: happy\n", 1)
    text = text.replace("stages: [pre_sale]", "stages: [before_sale]", 1)
    target.write_text(text, encoding="utf-8")
    packs = load_packs(PackSources.of(replies=folder))
    messages = [p.message for p in packs.errors if p.file == str(target)]
    assert any("mood" in m for m in messages)
    assert any("before_sale" in m for m in messages)


def test_bundled_reply_packs_load_cleanly() -> None:
    packs = load_packs(PackSources.of())
    replies_dir = str(bundled_dir("replies"))
    assert [str(p) for p in packs.problems if p.file.startswith(replies_dir)] == []


# -- choosing ------------------------------------------------------------------------------

def test_irritable_buyer_with_a_quality_complaint_gets_an_apology_first(book: ReplyBook) -> None:
    replies = book.choose([said("quality_complaint", "质量太差")], [tag("irritable")], "after_sale")
    assert replies[0].text.startswith(("真的非常抱歉", "非常抱歉", "抱歉", "对不起"))
    assert "irritable" in replies[0].id


def test_every_quality_complaint_reply_offered_apologises(book: ReplyBook) -> None:
    for types in ([], ["skeptical"], ["irritable"], ["convenience"], ["perfectionist"]):
        for reply in book.choose([said("quality_complaint")], [tag(t) for t in types], "after_sale", top=5):
            assert "抱歉" in reply.text


@pytest.mark.parametrize(("first", "second"), [("bargain", "shipping"), ("size", "product_info"),
                                               ("shipping", "order_change"), ("quality_complaint", "return_exchange"),
                                               ("greeting", "product_info"), ("unpaid_order", "bargain")])
def test_a_message_with_two_intents_gets_replies_for_both(book: ReplyBook, first: str, second: str) -> None:
    intents = [said(first, score=0.9), said(second, score=0.7)]
    replies = book.choose(intents, [], book.stage(intents), top=3)
    assert {first, second} <= {r.intent for r in replies}
    assert len(replies) == 3


def test_three_needs_with_top_two_get_the_two_most_pressing(book: ReplyBook) -> None:
    intents = [said("greeting", score=0.95), said("product_info", score=0.8), said("quality_complaint", score=0.6)]
    replies = book.choose(intents, [], "after_sale", top=2)
    assert [r.intent for r in replies] == ["quality_complaint", "product_info"]


def test_answer_order_puts_grievances_first_and_pleasantries_last() -> None:
    order = answer_order([said("farewell"), said("greeting"), said("shipping"), said("bad_review"),
                          said("size")])
    assert [m.id for m in order] == ["bad_review", "shipping", "size", "farewell", "greeting"]


def test_the_need_whose_reply_names_the_case_is_answered_first(book: ReplyBook) -> None:
    # a refund question listed first, the order already cancelled: the cancellation case leads
    intents = [said("return_exchange", score=0.9), said("order_change", score=0.7)]
    cases = ["order_change.already_cancelled"]
    replies = book.choose(intents, [], "after_sale", top=3, situations=cases)
    assert replies[0].id == "order_change.already_cancelled"
    # no case named: the message's own order holds
    plain = book.choose(intents, [], "after_sale", top=3)
    assert plain[0].intent == "return_exchange"
    # a greeting stays last even when it has a case of its own
    hello = [said("greeting", score=0.95), said("shipping", score=0.6)]
    assert book.choose(hello, [], "in_sale", top=2, situations=["greeting.human"])[0].intent == "shipping"


@pytest.mark.parametrize("top", [0, 1, 2, 3, 5, 8])
def test_at_most_top_replies_each_once(book: ReplyBook, top: int) -> None:
    intents = [said("bargain"), said("shipping")]
    replies = book.choose(intents, [tag("haggler")], "pre_sale", top=top)
    assert len(replies) <= top
    assert len({r.id for r in replies}) == len(replies)
    assert len({r.text for r in replies}) == len(replies)
    if top:
        assert len(replies) == top


def test_no_intent_no_reply(book: ReplyBook) -> None:
    assert book.choose([], [tag("irritable")], None) == ()


def test_default_top_is_three(book: ReplyBook) -> None:
    assert len(book.choose([said("bargain")], [], "pre_sale")) == 3


@pytest.mark.parametrize(("type_id", "expected"), [("haggler", "bargain.haggler_gift"),
                                                    ("frugal", "bargain.frugal"),
                                                    ("economy", "bargain.economy"),
                                                    ("skeptical", "bargain.skeptical"),
                                                    ("irritable", "bargain.irritable")])
def test_a_reply_written_for_the_buyer_comes_first(book: ReplyBook, type_id: str, expected: str) -> None:
    replies = book.choose([said("bargain", "便宜")], [tag(type_id)], "pre_sale")
    assert replies[0].id == expected


def test_stage_restricted_replies_stay_in_their_stage(book: ReplyBook) -> None:
    pre = {r.id for r in book.choose([said("bargain")], [], "pre_sale", top=20)}
    after = {r.id for r in book.choose([said("bargain")], [], "after_sale", top=20)}
    assert "bargain.price_protection" in after and "bargain.price_protection" not in pre
    assert "bargain.hold_price_promo" in pre and "bargain.hold_price_promo" not in after


def test_with_and_without(book: ReplyBook) -> None:
    alone = {r.id for r in book.choose([said("return_exchange")], [], "after_sale", top=20)}
    assert "return_exchange.ask_reason" in alone
    assert "return_exchange.quality_return" not in alone
    both = [said("quality_complaint"), said("return_exchange")]
    together = {r.id for r in book.choose(both, [], "after_sale", top=20)}
    assert "return_exchange.quality_return" in together
    assert "return_exchange.ask_reason" not in together  # they already said what is wrong


def test_the_reply_naming_what_was_asked_comes_first(book: ReplyBook) -> None:
    assert book.choose([said("product_info", "正品")], [], "pre_sale")[0].id == "product_info.authentic"
    assert book.choose([said("shipping", "顺丰")], [], "pre_sale")[0].id == "shipping.express"
    assert book.choose([said("bad_review", "返现")], [], "pre_sale")[0].id == "bad_review.reward_rules"
    assert book.choose([said("unpaid_order", "待付款 付过了")], [], "pre_sale")[0].id == \
        "unpaid_order.payment_trouble"
    assert book.choose([said("quality_complaint", "少发")], [], "after_sale")[0].id == \
        "quality_complaint.missing_or_wrong"
    # a pair common to any chat (收到) does not pull a reply up
    assert book.choose([said("quality_complaint", "收到就坏了")], [], "after_sale")[0].id == \
        "quality_complaint.apology_first"


def test_topic_words_skip_particles_and_common_pairs() -> None:
    assert topic_words("是正品吗") == {"是正", "正品"}
    assert "收到" not in topic_words("收到就坏了")
    assert topic_words("ok!!") == frozenset()


# -- stages ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("intents", "stage"), [
    ([("shipping", "包邮")], "pre_sale"),
    ([("shipping", "几天能到")], "pre_sale"),
    ([("shipping", "发货了吗")], "in_sale"),
    ([("shipping", "運費多少")], "pre_sale"),
    ([("shipping", "物流不动了")], "in_sale"),
    ([("shipping", "")], "in_sale"),
    ([("bargain", "便宜点")], "pre_sale"),
    ([("bargain", "退差价")], "after_sale"),
    ([("product_info", "怎么用")], "after_sale"),
    ([("product_info", "纯棉吗")], "pre_sale"),
    ([("return_exchange", "支持七天无理由吗")], "pre_sale"),
    ([("return_exchange", "退货")], "after_sale"),
    ([("size", "换大一码")], "after_sale"),
    ([("unpaid_order", "改价"), ("order_change", "改地址")], "pre_sale"),
    ([("order_change", "改地址")], "in_sale"),
    ([("bad_review", "给差评")], "after_sale"),
    ([("bad_review", "好评返现吗")], "pre_sale"),
    ([("bargain", "便宜"), ("quality_complaint", "坏了")], "after_sale"),
    ([("greeting", "在吗")], None),
    ([("farewell", "谢谢")], None),
    ([("greeting", "在吗"), ("size", "什么码")], "pre_sale"),
    ([], None),
])
def test_stage(book: ReplyBook, intents: list[tuple[str, str]], stage: str | None) -> None:
    assert book.stage([said(i, text) for i, text in intents]) == stage


def test_unknown_stage_prefers_replies_that_fit_any_stage(book: ReplyBook) -> None:
    first = book.choose([said("farewell")], [], None)[0]
    assert not next(r for r in BY_INTENT["farewell"] if r["id"] == first.id).get("stages")


def test_by_id_and_for_intent(book: ReplyBook) -> None:
    reply = book.by_id("shipping.delivery_estimate")
    assert reply is not None and reply.intent == "shipping" and str(SHOP["delivery_days"]) in reply.text
    assert book.by_id("no.such.reply") is None
    best = book.for_intent("quality_complaint", [tag("irritable")])
    assert best is not None and best.id == "quality_complaint.irritable"
    assert book.for_intent("no_such_intent") is None


# -- the engine ----------------------------------------------------------------------------

def test_engine_with_another_shop_uses_its_values(tmp_path: Path) -> None:
    other = dict(SHOP, shop_name="山野户外专营店", agent="阿山", courier="韵达快递", free_shipping="满99包邮",
                 remote_fee="20元", promotions=["满300减30"])
    profile = tmp_path / "other.yaml"
    profile.write_text(yaml.safe_dump(other, allow_unicode=True), encoding="utf-8")
    engine = Engine(shop=profile)
    assert engine.shop["courier"] == "韵达快递"
    text = " ".join(r.text for r in engine.analyze("包邮吗").replies)
    assert "韵达快递" in text and "满99包邮" in text
    assert SHOP["courier"] not in text
    greeting = " ".join(r.text for r in engine.analyze("在吗").replies)
    assert "阿山" in greeting or "山野户外专营店" in greeting


def test_engine_with_a_shop_missing_a_variable_is_a_pack_error(tmp_path: Path) -> None:
    profile = tmp_path / "thin.yaml"
    thin = {k: v for k, v in SHOP.items() if k != "coupon"}
    profile.write_text(yaml.safe_dump(thin, allow_unicode=True), encoding="utf-8")
    with pytest.raises(PackError) as caught:
        Engine(shop=profile, use_cache=False)
    assert any("coupon" in p.message and p.line > 0 and p.file.endswith(".yaml")
               for p in caught.value.problems)


def test_engine_replies_folder_with_its_own_shop(tmp_path: Path) -> None:
    folder = _copy_replies(tmp_path)
    shop_file = folder / "shop.yaml"
    shop_file.write_text(shop_file.read_text(encoding="utf-8").replace("中通快递", "圆通快递"), encoding="utf-8")
    engine = Engine(replies=folder)
    assert any("圆通快递" in r.text for r in engine.analyze("包邮吗").replies)


def test_engine_answers_a_clear_question_from_the_right_pack() -> None:
    analysis = Engine().analyze("包邮吗")
    assert analysis.replies
    assert analysis.replies[0].intent == "shipping"
    assert analysis.stage == "pre_sale"


@pytest.mark.parametrize("text", ["退差价 降价了", "正品吗 有没有防伪", "顺丰 新疆能发吗", "少发了一个 补发",
                                  "返现 好评", "什么时候发货 到哪了", "在吗"])
@pytest.mark.parametrize("types", [(), ("haggler",), ("irritable", "skeptical")])
def test_topic_ranking_with_a_limit_is_the_full_ranking_cut(book: ReplyBook, text: str,
                                                            types: tuple[str, ...]) -> None:
    """Asking for the first few replies gives the first few of the full ranking."""
    said_pairs = topic_words(text)
    for intent in INTENT_IDS:
        for stage in ("pre_sale", "in_sale", "after_sale", None):
            present, kinds = frozenset([intent]), frozenset(types)
            expected = list(book.candidates(intent, present, kinds, stage, said_pairs))
            # with no slots given, a reply with slot holes (its text keeps the braces) is never offered
            assert not any("{" in r.text for r in expected)
            for limit in (1, 3, 6):
                assert list(book.candidates(intent, present, kinds, stage, said_pairs, limit=limit)) == \
                    expected[:limit]
