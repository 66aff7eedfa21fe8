"""Reviewing an agent's draft: flagged mistakes, clean drafts, context, spans, suggestions.

The cases live in ``tests/data/review_cases.yaml``. The engine here uses small
stand-in intent and customer-type packs (written to a temp folder) with the
bundled reply packs, so which intents a buyer message carries is fixed by this
file and not by the bundled intent packs, which change as they are tuned.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import BUNDLED_INTENTS as INTENT_IDS

from suggest import Engine, InputError, PackError
from suggest.review import (
    REVIEW_RULES,
    Review,
    ReviewProblem,
    bundled_rules,
    load_rules,
    review_draft,
)
from suggest.schema import validate
from suggest.sources import bundled_dir
from suggest.yamlfile import read_yaml

CASES_FILE = Path(__file__).parent / "data" / "review_cases.yaml"
CASES: dict[str, list[dict[str, Any]]] = yaml.safe_load(CASES_FILE.read_text(encoding="utf-8"))
CUSTOMER_TYPES = ("economy", "personalized", "convenience", "silent", "chatty", "indecisive", "arrogant",
                  "contrarian", "perfectionist", "irritable", "skeptical", "haggler", "frugal")

# Stand-in packs: plain keywords, so a buyer message's intents are obvious from the text.
STUB_INTENTS: dict[str, list[str]] = {
    "size": ["尺码", "什么码", "偏大", "偏小", "S码"],
    "bargain": ["便宜", "优惠", "打折", "降价", "差价", "太贵"],
    "shipping": ["包邮", "发货", "快递", "物流", "几天到"],
    "quality_complaint": ["坏了", "破了", "质量太差", "质量差", "有个洞", "线头"],
    "unpaid_order": ["没付", "付款", "改价"],
    "greeting": ["在吗", "你好"],
    "return_exchange": ["退货", "退款", "换货", "无理由"],
    "bad_review": ["差评", "中评"],
    "product_info": ["纯棉", "材质", "正品", "有货", "还有吗", "怎么样"],
    "order_change": ["改地址", "取消订单"],
    "farewell": ["谢谢", "再见"],
    "invoice": ["发票"],  # the bundled replies answer invoices too
    "unclear": ["__unclear__"],  # and hold the line for questions no pack knows (never fires here)
    "handover": ["__handover__"],  # and confirm what a buyer hands over (never fires here)
}
STUB_TAGS: dict[str, list[str]] = {t: [f"__{t}__"] for t in CUSTOMER_TYPES}
STUB_TAGS["irritable"] = ["气死", "什么破", "垃圾"]
STUB_TAGS["haggler"] = ["别家", "砍价"]


def _write_packs(folder: Path, packs: dict[str, list[str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for pack_id, words in packs.items():
        body = {"id": pack_id, "keywords": [{"text": w, "weight": 0.8} for w in words]}
        (folder / f"{pack_id}.yaml").write_text(yaml.safe_dump(body, allow_unicode=True), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    root = tmp_path_factory.mktemp("review-packs")
    return Engine(intents=_write_packs(root / "intents", STUB_INTENTS),
                  tags=_write_packs(root / "tags", STUB_TAGS))


def _ids(cases: list[dict[str, Any]]) -> list[str]:
    return [case["id"] for case in cases]


# -- the case table ----------------------------------------------------------------------

def test_case_table_is_big_enough_and_ids_unique() -> None:
    flagged, clean = CASES["flagged"], CASES["clean"]
    assert len(flagged) >= 40 and len(clean) >= 40
    ids = _ids(flagged) + _ids(clean)
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("case", CASES["flagged"], ids=_ids(CASES["flagged"]))
def test_flagged_drafts(engine: Engine, case: dict[str, Any]) -> None:
    review = engine.review(case["draft"], case.get("buyer"))
    assert not review.ok
    assert case["problem"] in review.problem_ids, review.to_dict()
    for problem in review.problems:
        # the span points at the offending words in the draft as typed
        assert 0 <= problem.start < problem.end <= len(case["draft"])
        assert problem.text == case["draft"][problem.start:problem.end]
        assert problem.text.strip()
        assert problem.reason and problem.suggestion


@pytest.mark.parametrize("case", CASES["clean"], ids=_ids(CASES["clean"]))
def test_clean_drafts(engine: Engine, case: dict[str, Any]) -> None:
    review = engine.review(case["draft"], case.get("buyer"))
    assert review.ok, review.to_dict()
    assert review.problems == ()


# -- context ----------------------------------------------------------------------------

def test_refund_advice_is_fine_for_a_plain_return_but_not_for_a_complaint(engine: Engine) -> None:
    draft = "您直接申请退款就行"
    assert engine.review(draft).ok
    assert engine.review(draft, "拍错颜色了 想退款").ok
    assert "push_refund" in engine.review(draft, "收到就坏了，什么破东西").problem_ids


def test_quality_assurance_is_fine_before_sale_but_not_to_a_complaint(engine: Engine) -> None:
    draft = "亲，我们的质量是有保证的"
    assert engine.review(draft, "质量怎么样").ok
    assert "quality_denial" in engine.review(draft, "质量太差了，才穿一次就坏了").problem_ids


def test_an_apology_first_makes_refund_advice_fine(engine: Engine) -> None:
    buyer = "收到就坏了"
    assert not engine.review("您直接申请退款吧", buyer).ok
    assert engine.review("非常抱歉给您添麻烦了，您直接申请退款，我马上同意", buyer).ok


def test_a_promotion_softens_a_firm_price_but_not_a_flat_refusal(engine: Engine) -> None:
    assert engine.review("亲，真的不能再便宜了，不过现在有满199减20的活动哦").ok
    assert "flat_refusal" in engine.review("不讲价，不过现在有满199减20的活动哦").problem_ids


def test_a_hedge_makes_a_day_an_estimate(engine: Engine) -> None:
    assert "exact_day" in engine.review("明天到").problem_ids
    assert engine.review("预计明天到").ok
    assert engine.review("正常情况下明天就能到").ok


# -- suggestions ---------------------------------------------------------------------------

def test_suggestion_comes_from_the_buyers_own_need(engine: Engine) -> None:
    review = engine.review("不讲价", "能便宜点吗")
    analysis = engine.analyze("能便宜点吗")
    assert review.problems[0].suggestion == analysis.replies[0].text


def test_suggestion_for_an_angry_buyer_starts_with_an_apology(engine: Engine) -> None:
    review = engine.review("这是快递的问题，你去找快递", "东西坏了！！！气死我了")
    assert review.problems
    for problem in review.problems:
        assert "抱歉" in problem.suggestion[:8] or "对不起" in problem.suggestion[:8]


def test_suggestion_without_a_buyer_message_fits_the_problem(engine: Engine) -> None:
    shop = engine.shop
    by_id = {p.id: p for p in engine.review("不讲价，明天一定到").problems}
    assert str(shop["promotions"][0]) in by_id["flat_refusal"].suggestion  # a price-holding reply
    assert str(shop["delivery_days"]) in by_id["exact_day"].suggestion  # an estimate, not a day
    complaint = engine.review("我们质量一直很好").problems[0]
    assert "抱歉" in complaint.suggestion


def test_suggestions_pass_their_own_review(engine: Engine) -> None:
    drafts = [case["draft"] for case in CASES["flagged"]]
    for draft in drafts:
        for problem in engine.review(draft).problems:
            assert engine.review(problem.suggestion).ok, (draft, problem.suggestion)


# -- results and errors ----------------------------------------------------------------------

def test_result_types_are_frozen_and_serialise(engine: Engine) -> None:
    review = engine.review("嗯", "在吗")
    assert isinstance(review, Review) and isinstance(review.problems[0], ReviewProblem)
    with pytest.raises(AttributeError):
        review.draft = "x"  # type: ignore[misc]
    data = review.to_dict()
    assert data["ok"] is False and data["draft"] == "嗯"
    assert {"id", "reason", "start", "end", "text", "suggestion"} <= set(data["problems"][0])
    assert review_draft(engine, "嗯").problem_ids == ("one_word",)


def test_spans_survive_normalisation(engine: Engine) -> None:
    draft = "親，\u3000不講價！！"  # traditional characters, a full-width space, repeated marks
    problem = engine.review(draft).problems[0]
    assert problem.id == "flat_refusal"
    assert draft[problem.start:problem.end] == problem.text == "不講價"


def test_one_problem_per_place(engine: Engine) -> None:
    review = engine.review("不讲价不议价")
    spans = [(p.start, p.end) for p in review.problems if p.id == "flat_refusal"]
    assert len(spans) == len(set(spans))
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))


@pytest.mark.parametrize("draft", ["", "   ", "\n\t"])
def test_empty_draft_is_an_input_error(engine: Engine, draft: str) -> None:
    with pytest.raises(InputError):
        engine.review(draft)


@pytest.mark.parametrize("draft", ["😊", "[微笑]", " 👍 👍 "])
def test_a_sticker_alone_is_a_bare_reply(engine: Engine, draft: str) -> None:
    review = engine.review(draft, "在吗")
    assert review.problem_ids == ("one_word",)
    assert review.problems[0].text == draft and review.problems[0].suggestion


def test_non_text_is_an_input_error(engine: Engine) -> None:
    with pytest.raises(InputError):
        engine.review(None)  # type: ignore[arg-type]
    with pytest.raises(InputError):
        engine.review("好的亲", 42)  # type: ignore[arg-type]


def test_blank_buyer_message_means_no_context(engine: Engine) -> None:
    assert engine.review("您直接申请退款就行", "   ").ok


def test_long_draft_stays_fast(engine: Engine) -> None:
    import time

    draft = "亲，" + "我们会尽快处理，" * 150 + "明天一定到"
    started = time.perf_counter()
    review = engine.review(draft)
    assert time.perf_counter() - started < 1.0
    assert "exact_day" in review.problem_ids


# -- the rules file ---------------------------------------------------------------------------

def test_bundled_rules_validate_and_reference_known_ids(engine: Engine) -> None:
    doc = read_yaml(bundled_rules())
    assert validate(doc, REVIEW_RULES) == []
    rules = load_rules()
    assert {r.id for r in rules} >= {"flat_refusal", "push_refund", "quality_denial", "blame_courier",
                                     "blame_buyer", "one_word", "rude", "exact_day"}
    reply_ids = {r["id"] for pack in yaml_packs() for r in pack["replies"]}
    for rule in rules:
        assert rule.intent in INTENT_IDS
        assert rule.reply is None or rule.reply in reply_ids
        for pattern in rule.patterns:
            assert pattern.buyer <= set(INTENT_IDS) | set(CUSTOMER_TYPES)


def yaml_packs() -> list[dict[str, Any]]:
    folder = bundled_dir("replies")
    return [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.yaml"))
            if p.name != "shop.yaml"]


def test_broken_rules_file_is_a_pack_error_with_file_and_line(tmp_path: Path) -> None:
    target = tmp_path / "rules.yaml"
    target.write_text("rules:\n  - id: bad\n    reason: 原因\n    intent: bargain\n"
                      "    patterns: ['(a+)+b']\n    colour: red\n", encoding="utf-8")
    with pytest.raises(PackError) as caught:
        load_rules(target)
    problems = caught.value.problems
    assert {p.line for p in problems} >= {5, 6}
    assert all(p.file == str(target) for p in problems)
    assert any("colour" in p.message for p in problems)


def test_soft_patterns_need_softeners(tmp_path: Path) -> None:
    target = tmp_path / "rules.yaml"
    target.write_text("rules:\n  - id: x\n    reason: 原因\n    intent: bargain\n"
                      "    patterns: [{pattern: 'abc', soft: true}]\n", encoding="utf-8")
    with pytest.raises(PackError, match="softeners"):
        load_rules(target)


def test_custom_rules_file(engine: Engine, tmp_path: Path) -> None:
    target = tmp_path / "rules.yaml"
    shutil.copy(bundled_rules(), target)
    extra = ("  - id: no_hey_hey\n    reason: 别用“嘿嘿”\n    intent: greeting\n"
             "    patterns: ['嘿嘿']\n")
    target.write_text(target.read_text(encoding="utf-8") + extra, encoding="utf-8")
    assert review_draft(engine, "嘿嘿，好的亲，马上为您处理", rules=target).problem_ids == ("no_hey_hey",)


def test_bundled_replies_pass_review(engine: Engine) -> None:
    from suggest.templates import render

    samples = {"height": 165, "weight": 55, "weight_jin": 110, "size_pick": "L", "size_up": "XL",
               "size_beyond": "2XL", "size": "M", "order_no": "1234567890123"}  # the slot holes used
    for pack in yaml_packs():
        for reply in pack["replies"]:
            text = render(reply["text"], {**samples, **engine.shop})
            assert engine.review(text).ok, (reply["id"], engine.review(text).to_dict())


# -- issue 12: wider review, off-topic drafts, rules as data, no engine import -----------------------

def test_case_table_has_the_issue_12_kinds(engine: Engine) -> None:
    wanted = {"push_refund", "push_away", "blame_buyer", "blame_courier", "argue", "sarcasm", "one_word",
              "exact_day", "review_on_complaint", "off_topic", "flat_refusal"}
    assert wanted <= {case["problem"] for case in CASES["flagged"]}


def test_off_topic_needs_a_buyer_message_and_clearly_different_needs(engine: Engine) -> None:
    draft = "亲，我们默认发中通快递，48小时内发货哦"
    assert "off_topic" not in engine.review(draft).problem_ids  # nothing to compare with
    assert "off_topic" not in engine.review(draft, "包邮吗").problem_ids  # the same need
    assert "off_topic" not in engine.review(draft, "在吗").problem_ids  # a greeting fits any answer
    assert "off_topic" not in engine.review("亲，这款很好看哦", "有S码吗").problem_ids  # no clear need in the draft
    review = engine.review(draft, "有S码吗")
    problem = next(p for p in review.problems if p.id == "off_topic")
    assert problem.suggestion == engine.analyze("有S码吗").replies[0].text
    assert draft[problem.start:problem.end] == problem.text and problem.text
    assert "size" in problem.reason and "shipping" in problem.reason


def test_related_needs_answer_each_other(engine: Engine) -> None:
    # a refund answers a complaint; an exchange of size answers a size question after delivery
    assert "off_topic" not in engine.review("亲，非常抱歉，马上给您退款", "衣服有个洞").problem_ids
    assert "off_topic" not in engine.review("亲，可以换货的，您申请一下就行", "尺码偏小").problem_ids


def test_wordless_rule_is_data(engine: Engine, tmp_path: Path) -> None:
    target = tmp_path / "rules.yaml"
    text = bundled_rules().read_text(encoding="utf-8").replace("    wordless: true\n", "")
    text += ("  - id: sticker_only\n    reason: 只发表情不够\n    intent: greeting\n"
             "    patterns: ['^$']\n    wordless: true\n")
    target.write_text(text, encoding="utf-8")
    assert review_draft(engine, "😊", "在吗", rules=target).problem_ids == ("sticker_only",)
    assert review_draft(engine, "😊", "在吗").problem_ids == ("one_word",)


def test_reply_lookups_are_public(engine: Engine) -> None:
    reply = engine.reply_by_id("bargain.hold_price_promo")
    assert reply is not None and reply.intent == "bargain" and "{" not in reply.text
    assert engine.reply_by_id("no.such.reply") is None
    assert engine.reply_by_id("size.pick") is None  # it needs the buyer's height and weight
    fit = engine.reply_for("shipping")
    assert fit is not None and fit.intent == "shipping"
    assert engine.reply_for("no_such_intent") is None


def test_review_module_does_not_import_the_engine() -> None:
    """engine imports review (Engine.review); review must not import engine back, not even
    for typing: it names what it needs of an engine as a Protocol."""
    import ast

    import suggest.review

    tree = ast.parse(Path(suggest.review.__file__).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert imported and not {m for m in imported if m and m.endswith("engine")}
    assert "_state" not in Path(suggest.review.__file__).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def bundled() -> Engine:
    return Engine()


@pytest.mark.parametrize(("draft", "buyer", "problem"), [
    ("那你去退款好了", "质量太差了", "push_refund"),
    ("你自己不会看详情页吗", "这个尺码怎么这么小", "blame_buyer"),
    ("呵呵，您开心就好", "能便宜点吗", "sarcasm"),
    ("嫌贵可以去别家看看", "太贵了", "push_away"),
    ("您理解错了", "你们发错货了", "argue"),
])
def test_the_issue_examples_with_the_bundled_packs(bundled: Engine, draft: str, buyer: str, problem: str) -> None:
    review = bundled.review(draft, buyer)
    assert problem in review.problem_ids
    assert all(p.suggestion for p in review.problems)
