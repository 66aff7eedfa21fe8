"""Every bundled pack documents itself with examples; the examples are the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from suggest import Engine
from suggest.checking import check

ROOT = Path(__file__).resolve().parent.parent


def _cases(folder: str) -> list[Any]:
    cases = []
    for path in sorted((ROOT / folder).glob("*.yaml")):
        if path.name.startswith("_"):
            continue
        with open(path, encoding="utf-8") as handle:
            pack = yaml.safe_load(handle)
        for expect in ("match", "no_match"):
            for item in pack.get("examples", {}).get(expect, []):
                item = {"text": item} if isinstance(item, str) else item
                case_id = f"{pack['id']}-{expect}-{item['text'][:16]}"
                cases.append(pytest.param(pack["id"], expect, item["text"], tuple(item.get("history", [])),
                                          id=case_id))
    return cases


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


@pytest.mark.parametrize(("intent", "expect", "text", "history"), _cases("intents"))
def test_intent_examples(engine: Engine, intent: str, expect: str, text: str, history: tuple[str, ...]) -> None:
    found = engine.analyze(text, history).intent_ids
    assert (intent in found) is (expect == "match"), found


@pytest.mark.parametrize(("tag", "expect", "text", "history"), _cases("tags"))
def test_tag_examples(engine: Engine, tag: str, expect: str, text: str, history: tuple[str, ...]) -> None:
    found = engine.analyze(text, history).tag_ids
    assert (tag in found) is (expect == "match"), found


def test_every_pack_has_examples_both_ways() -> None:
    for folder in ("intents", "tags"):
        for path in (ROOT / folder).glob("*.yaml"):
            if path.name.startswith("_"):
                continue
            pack = yaml.safe_load(path.read_text(encoding="utf-8"))
            examples = pack.get("examples", {})
            assert examples.get("match"), f"{path.name} has no match examples"
            assert examples.get("no_match"), f"{path.name} has no no_match examples"


def test_bundled_packs_pass_check() -> None:
    errors = [p for p in check() if p.severity == "error"]
    assert errors == []


def test_ids_follow_the_taxonomy_contract(engine: Engine) -> None:
    # the taxonomy's eleven, plus needs outside it (other: true) that get an answer but no score,
    # and the fallbacks (a holding reply, or a confirmation of what the buyer handed over,
    # when nothing else is found)
    assert set(engine.intent_ids) - engine.outside_taxonomy == {
        "size", "bargain", "shipping", "quality_complaint", "unpaid_order", "greeting",
        "return_exchange", "bad_review", "product_info", "order_change", "farewell"}
    assert engine.outside_taxonomy == {"invoice", "unclear", "handover"}
    assert engine.fallback_intents == {"unclear", "handover"}
    assert set(engine.tag_ids) == {
        "economy", "personalized", "convenience", "silent", "chatty", "indecisive", "arrogant",
        "contrarian", "perfectionist", "irritable", "skeptical", "haggler", "frugal"}


TAXONOMY = ROOT.parent / "shared" / "taxonomy.yaml"


@pytest.mark.skipif(not TAXONOMY.exists(), reason="../shared is not beside this checkout")
def test_ids_match_shared_taxonomy(engine: Engine) -> None:
    taxonomy = yaml.safe_load(TAXONOMY.read_text(encoding="utf-8"))
    assert set(engine.intent_ids) - engine.outside_taxonomy == set(taxonomy["intents"])
    assert set(engine.tag_ids) == set(taxonomy["customer_types"])
