"""Property-based tests: whatever a buyer or an agent types, the answers keep their promises.

* ``normalize``: the map back to the original is whole and in order, the text
  is bounded and free of controls, and normalising twice changes nothing.
* ``Engine.analyze``: no exception but ``InputError`` for empty text, scores in
  [0, 1], best first, evidence spans inside the text, the same answer twice.
* ``Engine.review``: no exception but ``InputError`` for an empty draft, problem
  spans inside the draft, the same answer twice.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suggest import Analysis, Engine, InputError
from suggest.normalize import MAX_INPUT_CHARS, normalize

SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

DOMAIN = ["包邮", "尺码", "退货", "发货", "便宜", "在吗", "谢谢", "多少钱", "什么时候到", "质量", "差评",
          "还没付", "拍了", "改地址", "七天无理由", "包油", "尺吗", "推货", "M码", "XL", "165", "50kg",
          "！", "？", "!!!", "???", "。", "，", "～", " ", "\n", "😡", "👌", "🙏🏻", "❤️", "[微笑]", "[图片]",
          "[数字]", "亲", "老板", "不用包邮", "不是质量问题", "不砍价", "包郵嗎", "ＸＬ"]
ODD = ["\x00", "\x1b[31m", "\x1b[0m", "\u202e", "\u200f", "\u200b", "\ufeff", "\ud800", "\udfff", "\u0301",
       "\ufdfa", "İ", "ß", "ﬁ", "\r\n", "\t", "\x7f", "\x9b", "\U0001F3FB", "\u3000"]

pieces = st.one_of(
    st.sampled_from(DOMAIN),
    st.sampled_from(ODD),
    st.text(max_size=8),  # arbitrary unicode
    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF).map(str),  # any CJK character
)
messages = st.lists(pieces, max_size=12).map("".join)
long_messages = st.builds(lambda part, times: part * times, messages, st.integers(100, 3000))
histories = st.lists(messages, max_size=4)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SUGGEST_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield Engine()


def _analyze(engine: Engine, text: str, history: list[str]) -> Analysis | None:
    try:
        return engine.analyze(text, history)
    except InputError as exc:
        assert "empty" in str(exc)
        norm = normalize(text)
        assert not norm.text and not norm.emoji and not norm.emotes  # refused only when nothing is left
        return None


def _check_analysis(analysis: Analysis, text: str) -> None:
    assert analysis.text == text
    for group in (analysis.intents, analysis.tags):
        scores = [m.score for m in group]
        assert scores == sorted(scores, reverse=True)
        assert len({m.id for m in group}) == len(group)
        for match in group:
            assert 0.0 <= match.score <= 1.0
            for ev in match.evidence:
                assert 0 <= ev.start <= ev.end <= min(len(text), MAX_INPUT_CHARS)
                assert text[ev.start:ev.end] == ev.text
                assert 0.0 <= ev.weight <= 1.0
    json.dumps(analysis.to_dict())


# -- normalize ---------------------------------------------------------------------


@SETTINGS
@given(st.one_of(messages, long_messages))
def test_normalize_keeps_a_whole_map(text: str) -> None:
    norm = normalize(text)
    assert len(norm.index) == len(norm.text) <= MAX_INPUT_CHARS
    assert list(norm.index) == sorted(norm.index)
    assert all(0 <= at < len(norm.original) for at in norm.index)
    assert norm.original == text[:MAX_INPUT_CHARS]
    if len(text) > MAX_INPUT_CHARS:
        assert norm.truncated
    assert not any(unicodedata.category(c) in ("Cc", "Cs") for c in norm.text)
    assert norm.text == norm.text.strip(" ")
    for start in range(0, len(norm.text), 7):
        for end in (start + 1, start + 4):
            o_start, o_end = norm.span(start, min(end, len(norm.text)))
            assert 0 <= o_start < o_end <= len(norm.original)


@SETTINGS
@given(messages)
def test_normalize_is_deterministic_and_idempotent(text: str) -> None:
    first = normalize(text)
    assert normalize(text) == first
    assert normalize(first.text).text == first.text


# -- analyze -----------------------------------------------------------------------


@SETTINGS
@given(messages, histories)
def test_analyze_keeps_its_promises(engine: Engine, text: str, history: list[str]) -> None:
    analysis = _analyze(engine, text, history)
    if analysis is None:
        return
    _check_analysis(analysis, text)
    assert _analyze(engine, text, history) == analysis  # deterministic (timings are not compared)


@SETTINGS
@given(long_messages)
def test_analyze_long_messages(engine: Engine, text: str) -> None:
    analysis = _analyze(engine, text, [])
    if analysis is None:
        return
    _check_analysis(analysis, text)
    if len(text) > MAX_INPUT_CHARS:
        assert analysis.truncated


@settings(deadline=None)
@given(st.lists(st.sampled_from(DOMAIN), min_size=1, max_size=6).map("".join))
def test_domain_words_are_read_the_same_wherever_they_stand(engine: Engine, text: str) -> None:
    # Dirt around a message changes nothing the rules see.
    plain = _analyze(engine, text, [])
    dirty = _analyze(engine, "\x1b[31m\u200b" + text + "\x00\u202c", [])
    if plain is None or dirty is None:
        assert plain is None and dirty is None
        return
    assert plain.intent_ids == dirty.intent_ids


# -- review ------------------------------------------------------------------------


@SETTINGS
@given(messages, st.one_of(st.none(), messages))
def test_review_keeps_its_promises(engine: Engine, draft: str, buyer: str | None) -> None:
    pytest.importorskip("suggest.review")
    try:
        review = engine.review(draft, buyer)
    except InputError as exc:
        assert "empty" in str(exc)
        return
    assert review.draft == draft
    for problem in review.problems:
        assert 0 <= problem.start <= problem.end <= len(draft)
        assert draft[problem.start:problem.end] == problem.text
    assert engine.review(draft, buyer) == review
    json.dumps(review.to_dict())
