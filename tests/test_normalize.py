"""The normaliser: what each kind of odd character becomes, and the map back to the original."""

from __future__ import annotations

import unicodedata

import pytest

from suggest import Engine
from suggest.errors import InputError
from suggest.normalize import MAX_INPUT_CHARS, Normalized, is_empty, normalize


def check_map(norm: Normalized) -> None:
    """The map back to the original is whole: one entry per character, in order, in range."""
    assert len(norm.index) == len(norm.text)
    assert list(norm.index) == sorted(norm.index)
    assert all(0 <= at < min(len(norm.original), MAX_INPUT_CHARS) for at in norm.index)
    for start in range(len(norm.text)):
        o_start, o_end = norm.span(start, start + 1)
        assert 0 <= o_start < o_end <= len(norm.original)


CASES = [
    # (name, what the buyer typed, normalised text)
    ("full width", "ＸＬ码有吗？", "xl码有吗?"),
    ("traditional", "包郵嗎", "包邮吗"),
    ("upper case", "Size M", "size m"),
    ("nul bytes", "包\x00邮\x00吗", "包邮吗"),
    ("control chars", "包\x07邮\x08吗\x7f", "包邮吗"),
    ("c1 control", "包\x85邮吗", "包邮吗"),
    ("ansi colour", "\x1b[31m包邮吗\x1b[0m", "包邮吗"),
    ("ansi after cjk", "包邮\x1b[1;32m吗\x1b[0m", "包邮吗"),
    ("ansi osc title", "\x1b]0;title\x07包邮吗", "包邮吗"),
    ("ansi osc link", "\x1b]8;;http://x.cn\x1b\\链接\x1b]8;;\x1b\\包邮吗", "链接包邮吗"),
    ("c1 csi", "\x9b31m包邮吗", "包邮吗"),
    ("lone esc keeps next char", "\x1b包邮吗", "包邮吗"),
    ("brackets are not ansi", "要[m]码", "要[m]码"),
    ("rtl marks", "\u202e包邮吗\u202c\u200f", "包邮吗"),
    ("zero width", "包\u200b邮\u200d吗\ufeff", "包邮吗"),
    ("lone surrogates", "\ud800包邮\udfff吗", "包邮吗"),
    ("combining mark composes", "cafe\u0301 包邮", "café 包邮"),
    ("dotted capital i", "İ包邮", "i\u0307包邮"),
    ("tabs and newlines", "包邮\t\n\r吗", "包邮 吗"),
    ("runs of punctuation", "包邮吗？？？！！！", "包邮吗?!"),
    ("emoji kept", "好的👌", "好的👌"),
    ("variation selector dropped", "❤\ufe0f", "❤"),
    ("placeholder number", "订单[数字]发货了吗", "订单#发货了吗"),
    ("placeholder picture", "[图片]这个有货吗", "这个有货吗"),
    ("emote code", "好的[微笑]", "好的"),
    ("ligature", "ﬁne", "fine"),
    ("mixed scripts", "Hello Привет مرحبا こんにちは 안녕", "hello привет مرحبا こんにちは 안녕"),
]


@pytest.mark.parametrize(("typed", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_what_each_input_becomes(typed: str, expected: str) -> None:
    norm = normalize(typed)
    assert norm.text == expected
    assert not norm.truncated
    check_map(norm)


def test_nothing_left_of_controls_and_marks() -> None:
    every_control = "".join(chr(c) for c in range(0x20)) + "\x7f" + "".join(chr(c) for c in range(0x80, 0xA0))
    marks = "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"
    norm = normalize(every_control + marks + "\ud800\udc00\ue000")
    assert norm.text == ""
    assert norm.index == ()


def test_evidence_span_covers_what_was_typed() -> None:
    typed = "\x1b[31m包\x00郵\x1b[0m嗎"
    norm = normalize(typed)
    assert norm.text == "包邮吗"
    start, end = norm.span(0, 2)  # 包邮
    assert typed[start:end] == "包\x00郵"
    start, end = norm.span(0, 3)
    assert typed[start:end] == "包\x00郵\x1b[0m嗎"


def test_span_takes_combining_marks_along() -> None:
    typed = "e\u0301\u0301x"
    norm = normalize(typed)
    start, end = norm.span(0, 1)
    assert typed[start:end] == "e\u0301\u0301"


def test_expanding_letter_keeps_the_map_in_step() -> None:
    # İ lower-cases to two characters; everything after must still point right.
    norm = normalize("İİ包邮")
    check_map(norm)
    start, end = norm.span(norm.text.index("包"), norm.text.index("包") + 2)
    assert "İİ包邮"[start:end] == "包邮"


def test_emoji_are_features() -> None:
    norm = normalize("😡😡⭐ 发货！！！")
    assert norm.emoji == ("😡", "😡", "⭐")
    assert norm.exclamations == 3
    assert "😡" in norm.text


def test_long_input_is_cut_and_says_so() -> None:
    norm = normalize("包邮吗" * 400_000)
    assert norm.truncated
    assert len(norm.text) <= MAX_INPUT_CHARS
    assert norm.original.startswith("包邮吗")
    check_map(norm)


def test_one_char_a_million_times() -> None:
    norm = normalize("哈" * 1_000_000)
    assert norm.truncated
    assert norm.text == "哈" * MAX_INPUT_CHARS


def test_input_at_the_limit_is_not_cut() -> None:
    norm = normalize("a" * MAX_INPUT_CHARS)
    assert not norm.truncated
    assert len(norm.text) == MAX_INPUT_CHARS


def test_growth_from_nfkc_is_bounded() -> None:
    # U+FDFA becomes 18 characters under NFKC: short input, long text; still bounded.
    typed = "\ufdfa" * 500
    norm = normalize(typed)
    assert len(typed) < MAX_INPUT_CHARS
    assert len(norm.text) <= MAX_INPUT_CHARS
    assert norm.truncated
    check_map(norm)


def test_zalgo_text() -> None:
    typed = "包" + "\u0301" * 5000 + "邮吗"
    norm = normalize(typed)
    assert norm.truncated
    check_map(norm)


@pytest.mark.parametrize("value", [None, b"bytes", 42, ["list"]])
def test_not_text_is_an_input_error(value: object) -> None:
    with pytest.raises(InputError, match="expected the message as text"):
        normalize(value)  # type: ignore[arg-type]


def test_normalised_text_has_no_controls() -> None:
    norm = normalize("".join(chr(c) for c in range(0, 0x3000, 7)))
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Cs") for c in norm.text)
    check_map(norm)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


@pytest.mark.parametrize("text", ["", "   ", "[图片]", "[商品] [视频]", "\x1b[31m\u200b\x07", "[订单卡片]\n",
                                  "👌", "[微笑]", "?", "包邮吗", "[图片] 包邮吗", "[数字x]"])
def test_is_empty_is_the_rule_the_engine_refuses_by(text: str, engine: Engine) -> None:
    try:
        engine.analyze(text)
        refused = False
    except InputError:
        refused = True
    assert is_empty(text) == refused == is_empty(normalize(text))
