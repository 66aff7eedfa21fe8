"""Broken packs: every kind of mistake is reported with the right file, line and key path.

Each case copies the bundled pack folders, breaks one file, and checks that
``load_packs`` reports the problem where it is and that ``Engine`` refuses
the packs with a ``PackError`` carrying the same problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from suggest import Engine, PackError
from suggest.errors import Problem
from suggest.packs import load_packs
from suggest.regexguard import regex_problem
from suggest.sources import PackSources

MARKER = Path("/tmp/suggest-pack-was-executed")

SHIPPING_HEAD = "id: shipping\nzh: 快递物流\nthreshold: 0.5\n"


@dataclass(frozen=True)
class Case:
    id: str
    file: str  # folder/name of the file written (replacing or adding)
    text: str | bytes
    line: int
    key: str  # fragment of the key path ("" when the problem is the whole file)
    message: str  # fragment of the message, lower case


def _shipping(body: str) -> str:
    return SHIPPING_HEAD + body


CASES = [
    Case("python object tag", "intents/shipping.yaml",
         _shipping(f"keywords:\n  - 包邮\n  - !!python/object/apply:os.system ['touch {MARKER}']\n"),
         6, "keywords[1]", "tag !!python/object/apply:os.system"),
    Case("python object on a scalar", "intents/shipping.yaml",
         _shipping("description: !!python/name:os.system\n"), 4, "description", "tag !!python/name"),
    Case("python tuple", "intents/shipping.yaml", _shipping("yields_to: !!python/tuple [size]\n"),
         4, "yields_to", "tag !!python/tuple"),
    Case("custom tag", "intents/shipping.yaml", _shipping("keywords:\n  - !shop 包邮\n"), 5, "keywords[0]", "tag !shop"),
    Case("duplicate key", "intents/shipping.yaml", _shipping("keywords: [包邮]\nthreshold: 0.6\n"),
         5, "threshold", "duplicate key"),
    Case("duplicate nested key", "intents/shipping.yaml",
         _shipping("keywords:\n  - {text: 包邮, weight: 0.8, weight: 0.9}\n"), 5, "keywords[0].weight", "duplicate key"),
    Case("id clash", "intents/zz_copy.yaml", "id: shipping\nkeywords: [包邮]\n", 1, "id", "unique intent id"),
    Case("tag id clash", "tags/zz_copy.yaml", "id: haggler\nkeywords: [砍价]\n", 1, "id", "unique customer-type id"),
    Case("reply for an unknown intent", "replies/zz_extra.yaml",
         "intent: no_such_intent\nreplies:\n  - {id: zz_one, text: 好的}\n", 1, "intent", "no intent pack defines"),
    Case("reply naming an unknown type", "replies/zz_extra.yaml",
         "intent: shipping\nreplies:\n  - id: zz_one\n    text: 好的\n    types: [no_such_type]\n",
         5, "replies[0].types[0]", "no pack defines"),
    Case("yields to an unknown intent", "intents/shipping.yaml", _shipping("keywords: [包邮]\nyields_to: [nothing]\n"),
         5, "yields_to[0]", "no intent pack defines"),
    Case("regex does not compile", "intents/shipping.yaml", _shipping("regex:\n  - '(发货'\n"),
         5, "regex[0]", "compiles"),
    Case("nested repeat", "intents/shipping.yaml", _shipping("regex:\n  - '(a+)+b'\n"), 5, "regex[0]", "backtrack"),
    Case("nested star", "intents/shipping.yaml", _shipping("regex:\n  - {pattern: '(\\d*)*x', weight: 0.5}\n"),
         5, "regex[0]", "backtrack"),
    Case("overlapping alternatives", "intents/shipping.yaml", _shipping("regex:\n  - '(a|aa)+$'\n"),
         5, "regex[0]", "backtrack"),
    Case("long repeats in a row", "intents/shipping.yaml", _shipping("regex:\n  - '拍.*没.*付'\n"),
         5, "regex[0]", "backtrack"),
    Case("catastrophic negation", "intents/shipping.yaml", _shipping("keywords: [包邮]\nnegations:\n  - '(亲|亲亲)+包邮'\n"),
         6, "negations[0]", "backtrack"),
    Case("catastrophic exclusion", "intents/shipping.yaml", _shipping("keywords: [包邮]\nexclude:\n  - '(\\w+\\s?)+$'\n"),
         6, "exclude[0]", "backtrack"),
    Case("empty keyword", "intents/shipping.yaml", _shipping("keywords:\n  - 包邮\n  - ''\n"), 6, "keywords[1]", "non-empty"),
    Case("blank keyword text", "intents/shipping.yaml", _shipping("keywords:\n  - {text: '  ', weight: 0.5}\n"),
         5, "keywords[0].text", "non-empty"),
    Case("weight above one", "intents/shipping.yaml", _shipping("keywords:\n  - {text: 包邮, weight: 1.5}\n"),
         5, "keywords[0].weight", "from 0 to 1"),
    Case("negative weight", "intents/shipping.yaml", _shipping("regex:\n  - {pattern: 发货, weight: -0.2}\n"),
         5, "regex[0].weight", "from 0 to 1"),
    Case("weight as text", "intents/shipping.yaml", _shipping("keywords:\n  - {text: 包邮, weight: high}\n"),
         5, "keywords[0].weight", "number"),
    Case("threshold out of range", "intents/shipping.yaml", "id: shipping\nthreshold: 7\nkeywords: [包邮]\n",
         2, "threshold", "from 0 to 1"),
    Case("unknown key", "intents/shipping.yaml", _shipping("keywordz:\n  - 包邮\n"), 4, "keywordz", "unknown key"),
    Case("unknown nested key", "intents/shipping.yaml", _shipping("keywords:\n  - {text: 包邮, wieght: 0.5}\n"),
         5, "keywords[0].wieght", "unknown key"),
    Case("missing id", "intents/shipping.yaml", "zh: 快递物流\nkeywords: [包邮]\n", 1, "", "missing key 'id'"),
    Case("not utf-8", "intents/shipping.yaml", SHIPPING_HEAD.encode() + b"keywords: [\xb0\xfc\xd3\xca]\n",
         4, "", "utf-8"),
    Case("utf-16", "intents/shipping.yaml", SHIPPING_HEAD.encode("utf-16"), 1, "", "utf-8"),
    Case("unclosed list", "intents/shipping.yaml", _shipping("keywords: [包邮, 发货\nregex: []\n"), 5, "", "invalid yaml"),
    Case("bad indentation", "intents/shipping.yaml", _shipping("keywords:\n  - 包邮\n - 发货\n"), 6, "", "invalid yaml"),
    Case("tab indentation", "intents/shipping.yaml", _shipping("keywords:\n\t- 包邮\n"), 5, "", "invalid yaml"),
    Case("two documents", "intents/shipping.yaml", _shipping("---\nid: size\n"), 4, "", "invalid yaml"),
    Case("control character", "intents/shipping.yaml", _shipping("keywords: [包\x07邮]\n"), 4, "", "printable"),
    Case("alias bomb", "intents/shipping.yaml",
         _shipping("description: x\nkeywords: &k [包邮, 发货]\nphrases:\n  items: *k\n"), 7, "phrases.items", "alias"),
    Case("list instead of mapping", "intents/shipping.yaml", "- id: shipping\n- keywords: [包邮]\n", 1, "",
         "intent pack mapping"),
    Case("empty file", "intents/shipping.yaml", "", 1, "", "intent pack mapping"),
    Case("bad id", "intents/shipping.yaml", "id: Shipping Intent\nkeywords: [包邮]\n", 1, "id", "an id of lower-case"),
    Case("tag pack unknown key", "tags/haggler.yaml", "id: haggler\nsignalz: {}\nkeywords: [砍价]\n", 2, "signalz",
         "unknown key"),
]


def _sources(root: Path) -> PackSources:
    return PackSources.of(intents=root / "intents", tags=root / "tags", replies=root / "replies")


def _find(problems: tuple[Problem, ...] | list[Problem], path: Path, case: Case) -> Problem:
    mine = [p for p in problems if Path(p.file).resolve() == path.resolve()]
    assert mine, f"no problem reported for {path.name}: {[str(p) for p in problems]}"
    for problem in mine:
        if case.message in problem.message.lower() and case.key in problem.key_path:
            return problem
    raise AssertionError(f"expected '{case.message}' at '{case.key}', got {[str(p) for p in mine]}")


def test_bundled_copy_is_clean(packs: Path) -> None:
    assert load_packs(_sources(packs)).errors == []


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_each_mistake_is_reported_where_it_is(packs: Path, case: Case) -> None:
    MARKER.unlink(missing_ok=True)
    target = packs / case.file
    if isinstance(case.text, bytes):
        target.write_bytes(case.text)
    else:
        target.write_text(case.text, encoding="utf-8")

    found = load_packs(_sources(packs))
    problem = _find(found.errors, target, case)
    assert problem.line == case.line, str(problem)
    assert str(problem).startswith(f"{problem.file}:{case.line}:" if case.line else problem.file)
    # Errors elsewhere can only be references to the broken pack ("no intent pack defines").
    others = [p for p in found.errors if Path(p.file).resolve() != target.resolve()]
    assert all("which no" in p.message for p in others), [str(p) for p in others]

    with pytest.raises(PackError) as raised:
        Engine(intents=packs / "intents", tags=packs / "tags", replies=packs / "replies")
    assert problem in raised.value.problems
    assert raised.value.file and raised.value.line == raised.value.problems[0].line
    assert not MARKER.exists(), "a tag in a pack ran code"


def test_all_problems_of_a_file_come_together(packs: Path) -> None:
    target = packs / "intents" / "shipping.yaml"
    target.write_text(_shipping("keywordz: [包邮]\nregex: ['(a+)+']\nkeywords:\n  - {text: 包邮, weight: 2}\n"),
                      encoding="utf-8")
    errors = load_packs(_sources(packs)).errors
    keys = {p.key_path for p in errors}
    assert {"keywordz", "regex[0]", "keywords[0].weight"} <= keys
    assert sorted(p.line for p in errors if p.key_path in {"keywordz", "regex[0]", "keywords[0].weight"}) == [4, 5, 7]


def test_missing_folder_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUGGEST_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(PackError, match="expected a folder of intent packs"):
        Engine(intents=tmp_path / "nowhere")


@pytest.mark.parametrize("pattern", [
    r"(a+)+b", r"(\d*)*x", r"(a|aa)+$", r"(a|a)*b", r"(?:a|b|ab)+c", r"(a?)+b", r"(a|a?)+b",
    r"((ab)+)+c", r"(x+x+)+y", r"(.*)+x", r"(a{1,10}){1,10}b", r"(\w+\s?)+$",
    r".*.*x", r"\d+.*\d+x", r"a*a*a*x", r"[^，。]*[^。]*x", r"(?:.*,){3}x", r"拍.*没.*付",
])
def test_catastrophic_shapes_are_refused(pattern: str) -> None:
    problem = regex_problem(pattern)
    assert problem is not None and "backtrack" in problem


@pytest.mark.parametrize("pattern", [
    r"几天(能|可以)?到", r"(不|没)(用|要)?包邮", r"^(在吗|在不在|有人吗)[?？]*$", r"(拍|下单)了?.*没付",
    r".{0,20}没.{0,20}付", r"(\d+)件.*", r"(?:\d+[,，])+x", r"(ab?)+c", r"(a|ab)*c", r"(?:包|包邮)+x",
    r"(\w|\d)+x", r"(\s|\S)*x", r"(a+b+)+c", r"(a++)+b", r"(?>a+)+b", r"(\d{1,3}[,.]){1,6}x",
    r"[一二三四五六七八九两]百[一二三四五六七八九十]*", r"(?i)(a|b)+x",
])
def test_ordinary_patterns_pass(pattern: str) -> None:
    assert regex_problem(pattern) is None


def test_bundled_patterns_all_pass(packs: Path) -> None:
    # The guard must never refuse the packs the product ships with.
    assert load_packs(_sources(packs)).errors == []
