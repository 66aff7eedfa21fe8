"""`suggest check` beyond the schema: failing examples, overlapping rules, dead patterns."""

from __future__ import annotations

from pathlib import Path

from suggest.checking import check

ROOT = Path(__file__).resolve().parent.parent


def _check(root: Path) -> list[str]:
    return [str(p) for p in check(intents=root / "intents", tags=root / "tags", replies=root / "replies")]


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_a_failing_example_is_an_error_with_its_line(packs: Path) -> None:
    _edit(packs / "intents" / "size.yaml", "  no_match:\n", "  no_match:\n    - 尺码偏大吗\n")
    errors = [p for p in _check(packs) if "warning" not in p]
    assert any("size.yaml:" in p and "not to match size" in p for p in errors), errors


def test_same_keyword_in_two_packs_is_a_warning(packs: Path) -> None:
    _edit(packs / "intents" / "product_info.yaml", "keywords:\n", "keywords:\n  - {text: 包邮, weight: 0.5}\n")
    warnings = [p for p in _check(packs) if "warning" in p]
    assert any("'包邮' is in several packs" in p for p in warnings), warnings


def test_keyword_inside_another_packs_keyword_is_a_warning(packs: Path) -> None:
    warnings = [p for p in _check(packs) if "warning" in p]
    assert any("'到付' (shipping) is inside '货到付款' of unpaid_order" in p for p in warnings), warnings


def test_example_that_another_pack_matches_is_a_warning_unless_listed(packs: Path) -> None:
    path = packs / "intents" / "greeting.yaml"
    _edit(path, "      also: [product_info]\n", "")
    warnings = [p for p in _check(packs) if "warning" in p]
    assert any("greeting.yaml" in p and "also matches product_info" in p for p in warnings), warnings


def test_full_width_punctuation_in_a_regex_is_a_warning(packs: Path) -> None:
    _edit(packs / "intents" / "size.yaml", "regex:\n", "regex:\n  - {pattern: '多大码？', weight: 0.5}\n")
    warnings = [p for p in _check(packs) if "warning" in p]
    assert any("size.yaml" in p and "never occurs in a normalised message" in p for p in warnings), warnings


def test_bundled_packs_have_no_dead_patterns() -> None:
    assert not [p for p in check() if "never occurs" in str(p)]
