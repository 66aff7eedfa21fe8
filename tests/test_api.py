"""The public library surface: small, typed, frozen, and free of the CLI."""

from __future__ import annotations

import ast
import dataclasses
import shutil
from pathlib import Path

import pytest

import suggest
from suggest import Analysis, Engine, InputError, IntentMatch, PackError
from suggest.engine import Explanation

PACKAGE = Path(suggest.__file__).resolve().parent
CLI_MODULES = {"cli.py", "chat.py", "__main__.py"}


def test_public_names_are_few_and_exported() -> None:
    assert set(suggest.__all__) == {"Analysis", "Engine", "Evidence", "InputError", "IntentMatch", "PackError",
                                    "Problem", "Reply", "TagMatch", "__version__"}
    for name in suggest.__all__:
        assert hasattr(suggest, name)


def test_package_is_typed() -> None:
    assert (PACKAGE / "py.typed").exists()


def test_core_never_imports_click() -> None:
    for path in PACKAGE.glob("*.py"):
        if path.name in CLI_MODULES:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not any(n == "click" or n.startswith("click.") for n in names), path.name


def test_results_are_frozen_and_serialisable() -> None:
    analysis = Engine().analyze("包邮吗 几天能到")
    assert isinstance(analysis, Analysis)
    with pytest.raises(dataclasses.FrozenInstanceError):
        analysis.intents = ()  # type: ignore[misc]
    data = analysis.to_dict()
    assert set(data) >= {"intents", "tags", "replies"}
    assert data["intents"][0]["id"] == "shipping"
    assert {"id", "score", "evidence"} <= set(data["intents"][0])
    assert isinstance(analysis.intents[0], IntentMatch)


def test_engine_loads_a_shops_own_packs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUGGEST_CACHE_DIR", str(tmp_path / "cache"))
    root = PACKAGE.parent
    for name in ("intents", "tags", "replies"):
        shutil.copytree(root / name, tmp_path / name)
    pack = tmp_path / "intents" / "product_info.yaml"
    pack.write_text(pack.read_text(encoding="utf-8").replace(
        "keywords:\n", "keywords:\n  - {text: 芯片牌子, weight: 0.9}\n", 1), encoding="utf-8")
    engine = Engine(intents=tmp_path / "intents", tags=tmp_path / "tags", replies=tmp_path / "replies")
    assert "product_info" in engine.analyze("芯片牌子").intent_ids
    assert "product_info" not in Engine().analyze("芯片牌子").intent_ids


def test_broken_pack_raises_one_error_type_with_file_and_line(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUGGEST_CACHE_DIR", str(tmp_path / "cache"))
    shutil.copytree(PACKAGE.parent / "intents", tmp_path / "intents")
    (tmp_path / "intents" / "size.yaml").write_text("id: size\nkeywordz: [尺码]\n", encoding="utf-8")
    with pytest.raises(PackError) as caught:
        Engine(intents=tmp_path / "intents")
    problem = caught.value.problems[0]
    assert problem.file.endswith("size.yaml")
    assert problem.line == 2
    assert "keywordz" in problem.key_path


@pytest.mark.parametrize("bad", ["", "   ", "\x00\x01", None, 42])
def test_unusable_text_is_an_input_error(bad: object) -> None:
    with pytest.raises(InputError):
        Engine().analyze(bad)  # type: ignore[arg-type]


def test_results_made_on_the_hot_path_equal_ones_made_the_usual_way() -> None:
    from suggest.results import Evidence, IntentMatch, assemble

    evidence = Evidence("keyword", "包邮", 0, 2, "包邮", 0.8, (0, 2))
    fast = assemble(Evidence, kind="keyword", pattern="包邮", start=0, end=2, text="包邮", weight=0.8,
                    norm_span=(0, 2))
    assert fast == evidence and hash(fast) == hash(evidence) and repr(fast) == repr(evidence)
    match = assemble(IntentMatch, id="shipping", score=0.9, evidence=(fast,))
    assert match == IntentMatch("shipping", 0.9, (evidence,))
    with pytest.raises(AttributeError):
        match.score = 1.0  # type: ignore[misc]


def test_building_an_engine_leaves_the_garbage_collector_as_it_was() -> None:
    import gc

    assert gc.isenabled()
    Engine()
    assert gc.isenabled()  # paused while building, running again after
    gc.disable()
    try:
        Engine()
        assert not gc.isenabled()  # a caller's own choice is kept
    finally:
        gc.enable()


def test_explain_can_leave_out_the_rules_that_nearly_fired() -> None:
    engine = Engine()
    text = "什么时候发"  # shipping fires; templates one fragment short turn up as near misses
    full = engine.explain(text)
    fired_only = engine.explain(text, near_misses=False)
    assert full.near and not fired_only.near
    assert _templates_fired(full) == _templates_fired(fired_only)
    assert full.analysis == fired_only.analysis


def _templates_fired(explanation: Explanation) -> set[tuple[str, str]]:
    return {(row.id, e.pattern) for row in explanation.rows for e in row.evidence if e.kind == "template"}
