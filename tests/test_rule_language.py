"""The rule language: word classes, templates, template guards, agent context, situations,
shop intents, and what `suggest check` says about them. Each test writes its own small packs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import invoke

from suggest import Engine, PackError
from suggest.checking import check
from suggest.sources import bundled_dir

CLASSES = """\
classes:
  when: [什么时候, 啥时候, 几天, 多久]
  send: [发货, 发出, 寄出]
  ask: [吗, 么, 不]
  can: [能, 可以]
  cover: [保修, 质保]
"""

WARRANTY = """\
id: warranty
zh: 保修
classes:
  how_long: [多久, 几年, 多长时间]
templates:
  - "{cover} {how_long}"
  - {template: "{can?}{cover}{ask}", weight: 0.8}
  - {template: "好的", agent: "{cover}", weight: 0.7}
negations:
  - {template: "不用{cover}"}
examples:
  match: [保修多久, 能保修吗, 质保吗, {text: 好的, history: [{role: agent, text: 本店整机质保一年}]}]
  no_match: [什么时候发货, 好的]
"""

SHIPPING = """\
id: shipping
templates:
  - "{when} {send}"
  - {template: "{send}了{ask}", weight: 0.8}
  - "还没{send}"
examples:
  match: [什么时候发货, 几天能发出, 多久可以寄出, 发货了吗, 怎么还没发货]
  no_match: [保修多久]
"""

REPLIES = {
    "warranty": """\
intent: warranty
replies:
  - id: warranty.basic
    text: 亲，整机保修一年，非人为损坏免费维修哦～
""",
    "shipping": """\
intent: shipping
situations:
  stalled:
    stage: in_sale
    templates: ["还没{send}"]
    examples:
      match: [怎么还没发货]
      no_match: [什么时候发货]
replies:
  - id: shipping.soon
    not_in: [stalled]
    text: 亲，付款后48小时内发出哦～
  - id: shipping.sorry
    situations: [stalled]
    text: 亲，让您久等了，我马上催仓库今天给您发出～
""",
}


def _shop(tmp_path: Path, intents: dict[str, str], classes: str = CLASSES,
          replies: dict[str, str] | None = None) -> dict[str, Path]:
    folders = {name: tmp_path / name for name in ("intents", "replies", "tags")}
    for folder in folders.values():
        folder.mkdir()
    (folders["intents"] / "_classes.yaml").write_text(classes, encoding="utf-8")
    for name, text in intents.items():
        (folders["intents"] / f"{name}.yaml").write_text(text, encoding="utf-8")
    for name, text in (replies if replies is not None else REPLIES).items():
        (folders["replies"] / f"{name}.yaml").write_text(text, encoding="utf-8")
    shutil.copy(bundled_dir("replies") / "shop.yaml", folders["replies"] / "shop.yaml")
    return folders


@pytest.fixture
def shop(tmp_path: Path) -> dict[str, Path]:
    return _shop(tmp_path, {"warranty": WARRANTY, "shipping": SHIPPING})


@pytest.fixture
def engine(shop: dict[str, Path]) -> Engine:
    return Engine(**shop)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["什么时候发货", "几天能发出", "多久可以寄出", "啥时候 能 发货"])
def test_a_template_covers_the_combinations(engine: Engine, text: str) -> None:
    assert engine.analyze(text).intent_ids == ("shipping",)


@pytest.mark.parametrize("text", ["发货什么时候", "什么时候我们家的快递员会来发货呢"])
def test_fragments_keep_order_and_gap(engine: Engine, text: str) -> None:
    assert "shipping" not in engine.analyze(text).intent_ids


def test_any_order_allows_the_other_order(tmp_path: Path) -> None:
    pack = SHIPPING.replace('  - "{when} {send}"', '  - {template: "{when} {send}", any_order: true}')
    engine = Engine(**_shop(tmp_path, {"shipping": pack, "warranty": WARRANTY}))  # type: ignore[arg-type]
    assert engine.analyze("发货什么时候").intent_ids == ("shipping",)


def test_a_wider_gap_reaches_further(tmp_path: Path) -> None:
    text = "什么时候我们家的快递员会来发货呢"
    pack = SHIPPING.replace('  - "{when} {send}"', '  - {template: "{when} {send}", gap: 12}')
    engine = Engine(**_shop(tmp_path, {"shipping": pack, "warranty": WARRANTY}))  # type: ignore[arg-type]
    assert engine.analyze(text).intent_ids == ("shipping",)


def test_optional_piece(engine: Engine) -> None:
    assert engine.analyze("能保修吗").intent_ids == ("warranty",)
    assert engine.analyze("保修吗").intent_ids == ("warranty",)


def test_slips_of_class_words_match(engine: Engine) -> None:
    # 法货 is a pinyin-input slip of 发货 (fa huo)
    assert engine.analyze("什么时候法货").intent_ids == ("shipping",)


def test_evidence_names_the_template_and_the_word_behind_each_piece(engine: Engine) -> None:
    text = "亲 质保是几年"
    match = engine.analyze(text).intents[0]
    evidence = next(e for e in match.evidence if e.kind == "template")
    assert evidence.pattern == "{cover} {how_long}"
    assert [(p.word_class, p.word) for p in evidence.parts] == [("cover", "质保"), ("how_long", "几年")]
    for part in evidence.parts:
        assert text[part.start:part.end] == part.word
    assert text[evidence.start:evidence.end] == evidence.text == "质保是几年"
    assert engine.analyze(text).to_dict()["intents"][0]["evidence"][0]["parts"][0]["class"] == "cover"


def test_template_negation(engine: Engine) -> None:
    assert "warranty" not in engine.analyze("不用保修吗").intent_ids


def test_agent_context_reads_the_same_line_differently(engine: Engine) -> None:
    assert engine.analyze("好的", history=[{"role": "agent", "text": "亲，整机质保一年哦"}]).intent_ids == ("warranty",)
    assert engine.analyze("好的", history=[{"role": "agent", "text": "亲，明天发货"}]).intent_ids == ()
    assert engine.analyze("好的").intent_ids == ()


@pytest.mark.parametrize("history", ["发货了吗", [{"role": "robot", "text": "x"}], [{"role": "agent"}], [3]])
def test_bad_history_entries_are_input_errors(engine: Engine, history: object) -> None:
    from suggest import InputError

    with pytest.raises(InputError):
        engine.analyze("好的", history=history)  # type: ignore[arg-type]


def test_a_shop_intent_is_analysed_answered_and_checked(engine: Engine, shop: dict[str, Path]) -> None:
    analysis = engine.analyze("这个保修多久")
    assert analysis.intent_ids == ("warranty",)
    assert analysis.replies[0].id == "warranty.basic"
    assert "warranty" in engine.intent_ids
    problems = check(**shop)  # type: ignore[arg-type]
    assert [p for p in problems if p.severity == "error"] == []


def test_situations_choose_the_reply_and_drop_contradicting_ones(engine: Engine) -> None:
    stalled = engine.analyze("怎么还没发货")
    assert stalled.situations == ("shipping.stalled",)
    assert [r.id for r in stalled.replies] == ["shipping.sorry"]
    assert stalled.stage == "in_sale"
    plain = engine.analyze("什么时候发货")
    assert plain.situations == ()
    assert [r.id for r in plain.replies] == ["shipping.soon"]


def test_cli_shows_the_case(shop: dict[str, Path]) -> None:
    args = [f"--{k}={v}" for k, v in shop.items()]
    result = invoke(["analyze", *args, "怎么还没发货"])
    assert result.exit_code == 0, result.output
    assert "case     shipping.stalled" in result.stdout


# -- what check says ------------------------------------------------------------------------

def _errors(tmp_path: Path, intents: dict[str, str], classes: str = CLASSES,
            replies: dict[str, str] | None = None) -> list[str]:
    folders = _shop(tmp_path, intents, classes, replies)
    return [f"{Path(p.file).name}:{p.line}: {p.key_path}: {p.message}"
            for p in check(**folders) if p.severity == "error"]  # type: ignore[arg-type]


def test_check_unknown_class(tmp_path: Path) -> None:
    pack = SHIPPING.replace("{when} {send}", "{when} {sned}")
    errors = _errors(tmp_path, {"shipping": pack, "warranty": WARRANTY})
    assert any(e.startswith("shipping.yaml:3: templates[0]:") and "{sned}" in e for e in errors), errors


def test_check_empty_class(tmp_path: Path) -> None:
    errors = _errors(tmp_path, {"shipping": SHIPPING, "warranty": WARRANTY}, CLASSES + "  empty: []\n")
    assert any(e.startswith("_classes.yaml:7: classes.empty:") and "non-empty list" in e for e in errors), errors


def test_check_class_defined_twice(tmp_path: Path) -> None:
    pack = WARRANTY.replace("classes:\n", "classes:\n  cover: [保修]\n", 1)
    errors = _errors(tmp_path, {"shipping": SHIPPING, "warranty": pack})
    assert any(e.startswith("warranty.yaml:4: classes.cover:") and "defined twice" in e for e in errors), errors


@pytest.mark.parametrize("template", ['"   "', '"{when"', '"{Bad Name}"', '"{can?}"'])
def test_check_broken_templates(tmp_path: Path, template: str) -> None:
    pack = SHIPPING.replace('"{when} {send}"', template)
    errors = _errors(tmp_path, {"shipping": pack, "warranty": WARRANTY})
    assert any(e.startswith("shipping.yaml:3: templates[0]:") for e in errors), errors


def test_check_template_no_example_fires(tmp_path: Path) -> None:
    pack = SHIPPING.replace('  - {template: "{send}了{ask}", weight: 0.8}',
                            '  - {template: "{send}了{ask}", weight: 0.8}\n  - "退{send}"')
    errors = _errors(tmp_path, {"shipping": pack, "warranty": WARRANTY})
    assert any(e.startswith("shipping.yaml:5: templates[2]:") and "matches none" in e for e in errors), errors


def test_check_class_word_that_is_another_packs_keyword(tmp_path: Path) -> None:
    pack = SHIPPING + "keywords: [保修]\n"
    folders = _shop(tmp_path, {"shipping": pack, "warranty": WARRANTY.replace("[多久, 几年", "[保修, 几年")})
    warnings = [p for p in check(**folders) if p.severity == "warning"]  # type: ignore[arg-type]
    assert any(p.key_path == "classes.how_long[0]" and "keyword of shipping" in p.message for p in warnings)


def test_check_situation_references(tmp_path: Path) -> None:
    replies = dict(REPLIES)
    replies["shipping"] = REPLIES["shipping"].replace("situations: [stalled]", "situations: [stuck]")
    errors = _errors(tmp_path, {"shipping": SHIPPING, "warranty": WARRANTY}, replies=replies)
    assert any("replies[1].situations[0]" in e and "'stuck'" in e for e in errors), errors


def test_check_situation_examples(tmp_path: Path) -> None:
    replies = dict(REPLIES)
    replies["shipping"] = REPLIES["shipping"].replace("match: [怎么还没发货]", "match: [什么时候发货]")
    errors = _errors(tmp_path, {"shipping": SHIPPING, "warranty": WARRANTY}, replies=replies)
    assert any(e.startswith("shipping.yaml:7: situations.stalled.examples.match[0]") for e in errors), errors


def test_a_broken_template_never_replaces_good_packs(shop: dict[str, Path], engine: Engine) -> None:
    (shop["intents"] / "warranty.yaml").write_text(WARRANTY.replace("{cover} {how_long}", "{nope} {how_long}"),
                                                  encoding="utf-8")
    with pytest.raises(PackError) as caught:
        engine.reload()
    assert any("{nope}" in p.message for p in caught.value.problems)
    assert engine.analyze("保修多久").intent_ids == ("warranty",)


FAULTS = """\
id: quality_complaint
classes:
  fault: [酸了, 没声音, 坏了]
templates: ["{fault}"]
negations:
  - {template: "没坏"}
examples:
  match: [牛奶酸了, 耳机没声音]
  no_match: [算了不要了]
"""


@pytest.fixture
def faults(tmp_path: Path) -> Engine:
    return Engine(**_shop(tmp_path, {"quality_complaint": FAULTS, "shipping": SHIPPING},  # type: ignore[arg-type]
                          replies={"shipping": REPLIES["shipping"],
                                   "quality_complaint": REPLIES["warranty"].replace("warranty", "quality_complaint")}))


def test_a_typed_word_of_its_own_is_no_slip(faults: Engine) -> None:
    assert faults.analyze("算了不要了").intent_ids == ()  # 算了 (suan le) is a word, not 酸了
    assert faults.analyze("牛奶酸了").intent_ids == ("quality_complaint",)


def test_a_slip_that_cuts_a_word_is_no_slip(engine: Engine) -> None:
    # 发活 (fa huo) stands alone for 发货, but 沙发活动 cuts 沙发 and 活动 apart
    assert engine.analyze("什么时候发活").intent_ids == ("shipping",)
    assert engine.analyze("什么时候沙发活动").intent_ids == ()


def test_a_negated_first_match_does_not_hide_a_later_one(faults: Engine) -> None:
    assert faults.analyze("盒子没坏了 但是耳机坏了").intent_ids == ("quality_complaint",)
    assert faults.analyze("盒子没坏了").intent_ids == ()


def test_literal_text_may_end_in_a_question_mark(tmp_path: Path) -> None:
    pack = SHIPPING.replace('  - "还没{send}"', '  - "还没{send}"\n  - "发了?{ask}"')
    pack = pack.replace("怎么还没发货]", "怎么还没发货, 发了?么]")
    engine = Engine(**_shop(tmp_path, {"shipping": pack, "warranty": WARRANTY}))  # type: ignore[arg-type]
    assert engine.analyze("发了?么").intent_ids == ("shipping",)
    assert engine.analyze("吗").intent_ids == ()  # the literal piece is required, not optional
