"""Bad input to ``Engine.analyze``: a sane answer or a clear ``InputError``, never anything else."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from suggest import Analysis, Engine, InputError
from suggest.normalize import MAX_INPUT_CHARS


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SUGGEST_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield Engine()


def check_sane(analysis: Analysis, text: str) -> None:
    """Scores in range, best first, every evidence span inside what the buyer typed."""
    assert analysis.text == text
    assert len(analysis.normalized) <= MAX_INPUT_CHARS
    for group in (analysis.intents, analysis.tags):
        scores = [m.score for m in group]
        assert scores == sorted(scores, reverse=True)
        for match in group:
            assert 0.0 <= match.score <= 1.0
            assert match.evidence
            for ev in match.evidence:
                assert 0 <= ev.start <= ev.end <= len(text)
                assert ev.end <= MAX_INPUT_CHARS  # nothing past the cut is ever read
                assert text[ev.start:ev.end] == ev.text
                assert 0.0 <= ev.weight <= 1.0
    json.dumps(analysis.to_dict())  # serialisable as is (lone surrogates are escaped)


EMPTY = [
    ("empty", ""),
    ("spaces", "   "),
    ("ideographic space", "\u3000\u3000"),
    ("white space", "\n\t\r\n"),
    ("nul", "\x00\x00\x00"),
    ("controls", "\x01\x02\x7f\x9f"),
    ("ansi only", "\x1b[31m\x1b[0m"),
    ("direction marks", "\u202e\u200f\u200e"),
    ("zero width", "\u200b\u200d\ufeff"),
    ("lone surrogates", "\ud800\udfff"),
]


@pytest.mark.parametrize("text", [c[1] for c in EMPTY], ids=[c[0] for c in EMPTY])
def test_empty_is_a_clear_input_error(engine: Engine, text: str) -> None:
    with pytest.raises(InputError, match="empty"):
        engine.analyze(text)


@pytest.mark.parametrize("value", [None, b"\xe5\x8c\x85\xe9\x82\xae", 3, 1.5, ["包邮"], {"text": "包邮"}])
def test_not_text_is_an_input_error(engine: Engine, value: object) -> None:
    with pytest.raises(InputError, match="expected the message as text"):
        engine.analyze(value)  # type: ignore[arg-type]


def test_history_must_be_a_list_of_texts(engine: Engine) -> None:
    with pytest.raises(InputError, match="list of earlier messages"):
        engine.analyze("那M呢", history="尺码怎么选")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="every history message as text"):
        engine.analyze("那M呢", history=["尺码怎么选", None])  # type: ignore[list-item]


ODD = [
    ("emoji only", "😡😡😡"),
    ("one emoji", "👌"),
    ("emoji sequence", "👨‍👩‍👧‍👦🏳️‍🌈👍🏽"),
    ("emoticons", "[微笑][流泪]"),
    ("placeholder only", "[图片]"),
    ("controls around words", "\x07包\x08邮\x7f吗"),
    ("nul inside", "包\x00邮\x00吗"),
    ("ansi", "\x1b[1;31m包邮吗\x1b[0m"),
    ("ansi half", "\x1b[31"),
    ("rtl override", "\u202e吗邮包\u202c"),
    ("rtl in arabic", "\u200fمرحبا 包邮吗"),
    ("mixed scripts", "Hello Привет مرحبا こんにちは 안녕하세요 包邮吗"),
    ("kana and hangul only", "こんにちは안녕하세요カタカナ"),
    ("lone surrogate", "包邮\ud800吗"),
    ("surrogateescape bytes", b"\xff\xfe\xe5\x8c\x85".decode("utf-8", "surrogateescape")),
    ("combining marks", "包\u0301邮\u0308吗\u20dd"),
    ("zalgo", "发" + "\u0336\u0301\u0308" * 300 + "货"),
    ("punctuation only", "？？？！！！。。。"),
    ("question mark", "?"),
    ("digits only", "1234567890"),
    ("private use", "\ue000\ue001包邮"),
    ("unassigned", "\U000e0001\U0010ffff包邮"),
    ("nfkc growth", "\ufdfa" * 300),
    ("long latin word", "a" * 5000),
    ("url", "https://item.taobao.com/item.htm?id=123&spm=a1z10" * 30),
    ("newlines", "包邮吗\n" * 3000),
    ("brackets", "[[[[[[[[[[" * 300),
]


@pytest.mark.parametrize("text", [c[1] for c in ODD], ids=[c[0] for c in ODD])
def test_odd_input_gets_a_sane_answer(engine: Engine, text: str) -> None:
    try:
        analysis = engine.analyze(text)
    except InputError as exc:
        assert "empty" in str(exc)  # the only reason odd text may be refused
        return
    check_sane(analysis, text)
    again = engine.analyze(text)
    assert again == analysis


@pytest.mark.parametrize("text", [c[1] for c in ODD[:12]], ids=[c[0] for c in ODD[:12]])
def test_odd_input_with_odd_history(engine: Engine, text: str) -> None:
    history = ["", "\x00", "😡", "包邮吗" * 10_000, "\ud800", "尺码"]
    try:
        analysis = engine.analyze(text, history)
    except InputError:
        return
    check_sane(analysis, text)


@pytest.mark.parametrize("text", ["包郵嗎", "包\x00邮吗", "\x1b[31m包邮吗\x1b[0m", "\u202e包邮吗",
                                  "ＢＡＯ包邮吗？？？", "Hello Привет 包邮吗 안녕", "包邮吗\ud800"])
def test_dirt_does_not_hide_a_clear_question(engine: Engine, text: str) -> None:
    analysis = engine.analyze(text)
    assert "shipping" in analysis.intent_ids
    check_sane(analysis, text)
    shipping = next(m for m in analysis.intents if m.id == "shipping")
    assert any("包" in ev.text for ev in shipping.evidence)


def test_one_megabyte_message_is_cut_and_says_so(engine: Engine) -> None:
    text = "包邮吗" + "这件衣服什么时候发货" * 100_000
    assert len(text.encode("utf-8")) > 1_000_000
    analysis = engine.analyze(text)
    assert analysis.truncated
    assert analysis.to_dict()["truncated"] is True
    assert len(analysis.normalized) <= MAX_INPUT_CHARS
    assert "shipping" in analysis.intent_ids
    check_sane(analysis, text)


def test_one_char_a_million_times(engine: Engine) -> None:
    for char in ("哈", "!", "a", "😡", " ", "\x00"):
        text = char * 1_000_000
        try:
            analysis = engine.analyze(text)
        except InputError:
            assert not text.strip("\x00 ")
            continue
        assert analysis.truncated
        check_sane(analysis, text)


def test_long_history_message_is_cut(engine: Engine) -> None:
    analysis = engine.analyze("？", ["包邮吗" * 100_000])
    for match in analysis.intents:
        for ev in match.evidence:
            assert len(ev.pattern) <= MAX_INPUT_CHARS


def test_short_message_is_not_marked_truncated(engine: Engine) -> None:
    assert not engine.analyze("包邮吗").truncated
    assert not engine.analyze("好" * MAX_INPUT_CHARS).truncated


def test_explain_copes_with_odd_input(engine: Engine) -> None:
    for text in ("😡😡😡", "包\x00邮吗", "\ud800包邮", "\ufdfa" * 300, "哈" * 100_000):
        explanation = engine.explain(text)
        json.dumps(explanation.to_dict())


def test_review_copes_with_odd_input(engine: Engine) -> None:
    pytest.importorskip("suggest.review")
    for draft in ("😡", "不行\x00", "\ud800没有", "\x1b[31m不能便宜\x1b[0m", "亲" * 100_000):
        review = engine.review(draft, "能便宜点吗\x00")
        for problem in review.problems:
            assert 0 <= problem.start <= problem.end <= len(draft)
            assert draft[problem.start:problem.end] == problem.text
    with pytest.raises(InputError):
        engine.review("\x00 \u200b")


def test_packs_on_disk_are_untouched(engine: Engine) -> None:
    # Reading odd input never writes anything next to the packs.
    root = Path(__file__).resolve().parent.parent
    before = sorted(p.name for p in (root / "intents").iterdir())
    engine.analyze("\x00" * 10 + "包邮")
    assert sorted(p.name for p in (root / "intents").iterdir()) == before
