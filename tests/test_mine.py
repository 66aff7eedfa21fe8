"""`suggest mine`: the template semantics, groups of unanswered lines, snippets in the rule language."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import yaml
from conftest import invoke, pack_args, write_stand_in_packs

from suggest.mine import mine
from suggest.packs import PackSet
from suggest.rule_templates import TemplateSyntaxError, matches_text

CLASSES = {"spot": ["驿站", "快递柜", "菜鸟站"]}


@pytest.mark.parametrize(("text", "matches"), [
    ("驿站取不了件", True),               # class word, then the fragment right after
    ("快递柜里面取不出来", True),          # a gap of two characters
    ("菜鸟站那边一直取不到", True),        # a gap of four
    ("菜鸟站那边一直都取不到", False),     # five is too many
    ("取不到驿站的件", False),            # fragments in order only
    ("驿站", False),
])
def test_fragments_match_in_order_with_a_bounded_gap(text: str, matches: bool) -> None:
    assert matches_text("{spot} 取不", CLASSES, text) is matches


def test_text_inside_a_fragment_is_adjacent_and_the_gap_can_be_set() -> None:
    assert matches_text("{spot}取不", CLASSES, "驿站取不了")
    assert not matches_text("{spot}取不", CLASSES, "驿站里取不了")
    assert matches_text("{spot} 取不", CLASSES, "菜鸟站那边一直都是取不到", gap=6)
    with pytest.raises(KeyError):
        matches_text("{nope} 取不", CLASSES, "驿站取不了")
    with pytest.raises(TemplateSyntaxError):
        matches_text("   ", CLASSES, "驿站取不了")


# Our own unanswered lines: pick-up troubles at places that vary, invoices, and noise.
UNANSWERED = Counter({
    "驿站取不了件": 3, "快递柜取不出来": 2, "菜鸟站取不到": 1, "丰巢柜子取不出": 1, "门口驿站取不到啊": 1,
    "能开专票吗": 2, "可以开普票吗": 1, "能开发票吗": 1,
    "今天天气不错": 1, "哈哈哈": 1, "我问问我老婆": 1,
})


def test_a_group_becomes_a_class_of_what_varies_and_a_template() -> None:
    proposals = mine(UNANSWERED, min_support=3)
    pickup = next(p for p in proposals if "取不" in p.template)
    assert pickup.class_name and pickup.template == f"{{{pickup.class_name}}} 取不"
    assert {"驿站", "快递柜"} <= set(pickup.class_words)
    # support: exactly the messages the template matches, counted with their repeats
    matched = {t: n for t, n in UNANSWERED.items() if pickup.matches(t)}
    assert pickup.support == sum(matched.values()) >= 7
    assert set(pickup.examples) <= set(matched) and len(pickup.examples) >= 3
    assert not pickup.known_intent and pickup.intent.startswith("mined_")
    assert all(not p.matches("今天天气不错") for p in proposals)


def test_a_group_whose_words_are_in_a_pack_is_proposed_for_that_intent() -> None:
    packs = PackSet(intents=[{"id": "shipping", "keywords": [{"text": "驿站"}, {"text": "快递柜"}]},
                             {"id": "size", "keywords": [{"text": "尺码"}]}])
    pickup = next(p for p in mine(UNANSWERED, packs, min_support=3) if "取不" in p.template)
    assert pickup.known_intent and pickup.intent == "shipping"


def test_a_group_on_which_a_packs_rules_fired_below_threshold_is_proposed_for_it() -> None:
    from suggest import Engine
    from suggest.mine import pack_hints

    hints = pack_hints(["驿站取不了件", "在吗在吗"], Engine())
    assert set(hints) == {"驿站取不了件", "在吗在吗"}  # every text gets an entry, empty or not
    pickup_lines = {t for t in UNANSWERED if "取不" in t}
    fake = {t: {"shipping"} for t in pickup_lines}
    pickup = next(p for p in mine(UNANSWERED, min_support=3, hints=fake) if "取不" in p.template)
    assert pickup.known_intent and pickup.intent == "shipping"
    plain = next(p for p in mine(UNANSWERED, min_support=3) if "取不" in p.template)
    assert not plain.known_intent


def test_the_snippet_is_yaml_in_the_contract_form() -> None:
    packs = PackSet(intents=[{"id": "shipping", "keywords": [{"text": "驿站"}]}])
    pickup = next(p for p in mine(UNANSWERED, packs, min_support=3) if "取不" in p.template)
    snippet = pickup.to_yaml()
    assert snippet.startswith(f"# proposed: {pickup.support} messages, intent shipping "
                              "(its words already appear in that pack)\n")
    data = yaml.safe_load(snippet)
    assert data == {"id": "shipping", "classes": {pickup.class_name: list(pickup.class_words)},
                    "templates": [pickup.template], "examples": {"match": list(pickup.examples)}}
    # the examples are what the template says it matches
    assert all(matches_text(data["templates"][0], data["classes"], e) for e in data["examples"]["match"])


def test_too_little_support_proposes_nothing() -> None:
    assert mine(Counter({"驿站取不了件": 1, "快递柜取不出来": 1}), min_support=3) == []
    assert mine(Counter()) == []


def test_cli_mine_prints_snippets_and_writes_nothing(tmp_path: Path) -> None:
    # stand-in packs: which lines go unanswered must not move as the bundled packs grow
    folders = write_stand_in_packs(tmp_path / "packs", {"shipping": "id: shipping\nkeywords: [包邮, 发货]\n"})
    rows = [{"session": f"s{i}", "text": t} for i, (t, n) in enumerate(UNANSWERED.items()) for _ in range(n)]
    rows.insert(0, {"session": "s0", "role": "agent", "text": "亲，请问有什么可以帮您"})
    log = tmp_path / "chats.jsonl"
    log.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    result = invoke(["mine", *pack_args(folders), str(log), "--min-support", "3"])
    assert result.exit_code == 0, result.stderr
    snippets = [s for s in result.stdout.split("\n\n") if s.strip() and not s.startswith("# 0")]
    parsed = [yaml.safe_load(s) for s in snippets[1:]]
    assert parsed and all({"id", "templates", "examples"} <= set(p) for p in parsed)
    assert any("取不" in p["templates"][0] for p in parsed)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")} == before
    as_json = invoke(["mine", *pack_args(folders), str(log), "--min-support", "3", "--json"])
    assert as_json.exit_code == 0 and [json.loads(line)["templates"] for line in as_json.stdout.splitlines()] == \
        [p["templates"] for p in parsed]
