"""Turn what a buyer typed into text the rules can match, keeping a map back.

Steps: cut to a bounded length, drop terminal escape sequences, control
characters, direction marks, NUL and lone surrogates, NFKC (full width to half
width; a letter and its combining marks compose as one), traditional to
simplified (OpenCC), lower-case, strip platform placeholders and menu
boilerplate, collapse repeated punctuation and white space, and cut again if
NFKC made the text longer than the bound. Emoji and the number of ``!``/``?``
are kept as features, because an angry buyer's ``！！！`` matters to the tag
rules. ``index[i]`` is the position in the original text of normalised char
``i``, so evidence can always point at what the buyer typed.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .errors import InputError

MAX_INPUT_CHARS = 2000  # a chat message longer than this is cut; Analysis says so

# JD anonymisation tokens and Taobao/Qianniu emoticon codes such as [流泪].
_PLACEHOLDER = re.compile(r"\[(数字|订单|金额|电话|手机|姓名|地址|链接|站点|时间|日期|邮箱|组织机构|身份证)[a-z]?\]"
                          r"|\[(图片|视频|语音|表情|文件|商品|订单卡片|动画表情)\]")
_EMOTE = re.compile(r"\[[\u4e00-\u9fff]{1,4}\]")
# Text the chat client inserts around the buyer's words, not the buyer's own.
_BOILERPLATE = re.compile(r"请选择咨询订单|京东快递\(移动端\)|\(移动端\)|订单号[:：]?(?=\s*#)")
_NUMBER_TOKENS = {"数字", "订单", "金额", "电话", "手机"}
# A run of one punctuation mark becomes one mark; a run of white space, or white space
# that is not a plain space, becomes one space. (The two never overlap: one pass.)
_COLLAPSE = re.compile(r"([!?.,~…。，、！？～;；:：\-—·^_])\1+|\s{2,}|[^\S ]")
_EMOJI_RANGES = ((0x1F300, 0x1FAFF), (0x2600, 0x27BF), (0x1F000, 0x1F2FF), (0xFE0F, 0xFE0F),
                 (0x2300, 0x23FF), (0x2B00, 0x2BFF))  # the last two: ⌚⏰⏳, ⭐⭕
_DROPPED = frozenset(("Cc", "Cf", "Cs", "Co", "Cn"))  # controls, format/direction marks, surrogates


@dataclass(frozen=True)
class Normalized:
    # What was read of the buyer's text: all of it, or its first ``limit`` characters
    # when ``truncated``; spans and evidence never reach past it.
    original: str
    text: str
    index: tuple[int, ...]
    exclamations: int
    questions: int
    emoji: tuple[str, ...]
    emotes: tuple[str, ...]
    truncated: bool
    # the original may hold combining marks (False when every character took the fast path)
    marks: bool = True

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original-text span of normalised ``text[start:end]``."""
        index = self.index
        size = len(index)
        if not size or start >= end:
            return (0, 0)
        first = index[start if start < size else size - 1]
        stop = index[(end if end < size else size) - 1] + 1
        if self.marks:
            # a letter's combining marks were folded into it: the span takes them too
            while stop < len(self.original) and unicodedata.category(self.original[stop])[0] == "M":
                stop += 1
        return (first, stop)

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "exclamations": self.exclamations, "questions": self.questions,
                "emoji": list(self.emoji), "truncated": self.truncated}


def is_empty(text: str | Normalized) -> bool:
    """True when nothing is left to read once normalised: only spaces, controls, escape
    codes or platform placeholders such as ``[图片]`` (no text, no emoji, no emoticon).

    The one rule for an empty message: ``Engine.analyze`` refuses such a message,
    and ``suggest batch`` answers it with an ``"empty": true`` record.
    """
    norm = text if isinstance(text, Normalized) else normalize(text)
    return not norm.text and not norm.emoji and not norm.emotes


def is_emoji(char: str) -> bool:
    code = ord(char)
    if code < 0x2300 or 0x3000 <= code < 0xFE0F:  # fast path: ASCII, CJK and most text
        return False
    return any(low <= code <= high for low, high in _EMOJI_RANGES)


@lru_cache(maxsize=1)
def _converter() -> Any:
    import opencc

    return opencc.OpenCC("t2s")


# Where traditional characters live (CJK extension A, the main block, compatibility ideographs).
_HAN_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF))


@lru_cache(maxsize=1)
def _traditional() -> frozenset[str]:
    """The characters OpenCC's t2s changes: most messages hold none and skip the converter."""
    from .cache import installed_key, load_or_build_data

    return frozenset(load_or_build_data("opencc-t2s-chars", installed_key("opencc"), _changed_by_t2s))


def _changed_by_t2s() -> str:
    chars = [chr(code) for low, high in _HAN_RANGES for code in range(low, high + 1)]
    converted = _converter().convert("\n".join(chars)).split("\n")  # a line per character: no phrases
    return "".join(c for c, s in zip(chars, converted, strict=True) if c != s)


def _to_simplified(text: str) -> str:
    if not text or text.isascii() or _traditional().isdisjoint(text):
        return text
    converted: str = _converter().convert(text)
    if len(converted) == len(text):
        return converted
    # A phrase conversion changed the length: convert char by char to keep the map.
    return "".join(c2 if len(c2 := _converter().convert(c)) == 1 else c for c in text)


# Printable ASCII, CJK ideographs, CJK punctuation and full-width forms: NFKC maps each
# of these to exactly one character, so the common case needs no per-character work.
_NEEDS_CARE = re.compile(r"[^\u0020-\u007e\u4e00-\u9fff\u3000-\u303f\uff01-\uff5e]")


def normalize(text: object, limit: int = MAX_INPUT_CHARS) -> Normalized:
    if not isinstance(text, str):
        raise InputError(f"expected the message as text, got {type(text).__name__}")
    truncated = len(text) > limit
    original = text[:limit] if truncated else text
    chars: list[str] = []
    index: list[int] = []
    emoji: list[str] = []
    fast = not _NEEDS_CARE.search(original)
    if fast:
        folded = unicodedata.normalize("NFKC", original)
        fast = len(folded) == len(original)
        if fast:
            chars, index = [folded], list(range(len(folded)))
    if not fast:
        _fold_slowly(original, chars, index, emoji)
    text2, index = _lower(_to_simplified("".join(chars)), index)
    bracket = "[" in text2  # placeholders and emoticon codes are all in brackets
    emotes = tuple(m.group(0) for m in _EMOTE.finditer(text2)
                   if not _PLACEHOLDER.fullmatch(m.group(0))) if bracket else ()
    exclamations = text2.count("!") + text2.count("！")
    questions = text2.count("?") + text2.count("？")
    if bracket:
        text2, index = _substitute(text2, index, _PLACEHOLDER, _placeholder_text)
        text2, index = _substitute(text2, index, _EMOTE, lambda m: " ")
    if "订单" in text2 or "移动端" in text2:
        text2, index = _substitute(text2, index, _BOILERPLATE, lambda m: " ")
    text2, index = _substitute(text2, index, _COLLAPSE, _collapsed)
    if text2[:1] == " " or text2[-1:] == " ":
        text2, index = _strip(text2, index)
    if len(text2) > limit:
        # NFKC can turn one character into up to 18 (U+FDFA): keep the rules' work bounded
        text2, index = _strip(text2[:limit], index[:limit])
        truncated = True
    return Normalized(original=original, text=text2, index=tuple(index), exclamations=exclamations,
                      questions=questions, emoji=tuple(emoji), emotes=emotes, truncated=truncated,
                      marks=not fast)


_MAX_CLUSTER = 32  # marks composed onto one letter; zalgo text beyond this is kept as is


def _fold_slowly(original: str, chars: list[str], index: list[int], emoji: list[str]) -> None:
    """Character by character: drop what is not text, NFKC the rest, keep the map.

    A letter and the combining marks after it are folded together, so NFKC can
    compose them (e + ◌́ to é) even when a dropped control stands in between.
    """
    skip = _terminal_positions(original) if ("\x1b" in original or "\x9b" in original) else frozenset()
    letter_at = -1  # where the current letter's folded form starts in ``chars``; -1: none
    letter = ""  # the letter and its marks as typed
    letter_pos = 0
    for pos, char in enumerate(original):
        if pos in skip:
            continue
        if is_emoji(char):
            # Kept in the text (👌 alone is a farewell) and listed as a feature.
            if char != "\ufe0f":
                emoji.append(char)
                chars.append(char)
                index.append(pos)
            letter_at = -1
            continue
        category = unicodedata.category(char)
        if category in _DROPPED:
            if char in "\t\n\r":
                chars.append(" ")
                index.append(pos)
                letter_at = -1
            continue  # controls, ESC, NUL, RTL and zero-width marks, lone surrogates
        if category[0] == "M" and letter_at >= 0 and len(letter) < _MAX_CLUSTER:
            letter += char
            folded = unicodedata.normalize("NFKC", letter)
            del chars[letter_at:], index[letter_at:]
            chars.extend(folded)
            index.extend([letter_pos] * len(folded))
            continue
        folded = char if char.isascii() else unicodedata.normalize("NFKC", char)
        letter_at, letter, letter_pos = len(chars), char, pos
        chars.extend(folded)
        index.extend([pos] * len(folded))


def _lower(text: str, index: list[int]) -> tuple[str, list[int]]:
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered, index
    # A few letters lower-case to two characters (İ to i + ◌̇): keep the map in step.
    out: list[str] = []
    out_index: list[int] = []
    for char, at in zip(text, index, strict=True):
        low = char.lower()
        out.append(low)
        out_index.extend([at] * len(low))
    return "".join(out), out_index


# Terminal escape sequences pasted from a console: CSI (colours, cursor moves),
# OSC (titles, links; ended by BEL or ST), DCS/SOS/PM/APC strings, and the short
# two-character escapes. A lone ESC before anything else is dropped on its own.
_TERMINAL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x9b[0-?]*[ -/]*[@-~]"
                       r"|\x1b\][^\x07\x1b\x9c]{0,512}(?:\x07|\x1b\\|\x9c)"
                       r"|\x1b[PX^_][^\x1b\x9c]{0,512}(?:\x1b\\|\x9c)"
                       r"|\x1b[ -/]*[0-~]")


def _terminal_positions(text: str) -> frozenset[int]:
    return frozenset(i for m in _TERMINAL.finditer(text) for i in range(m.start(), m.end()))


def _collapsed(match: re.Match[str]) -> str:
    return match.group(1) or " "


def _placeholder_text(match: re.Match[str]) -> str:
    return "#" if match.group(1) in _NUMBER_TOKENS else " "


def _substitute(text: str, index: list[int], pattern: re.Pattern[str],
                replace: Any) -> tuple[str, list[int]]:
    out: list[str] = []
    out_index: list[int] = []
    last = 0
    for match in pattern.finditer(text):
        start, end = match.span()
        out.append(text[last:start])
        out_index.extend(index[last:start])
        new = replace(match)
        out.append(new)
        anchor = index[start] if start < len(index) else (index[-1] if index else 0)
        out_index.extend([anchor] * len(new))
        last = end
    if last == 0:
        return text, index
    out.append(text[last:])
    out_index.extend(index[last:])
    return "".join(out), out_index


def _strip(text: str, index: list[int]) -> tuple[str, list[int]]:
    start, end = 0, len(text)
    while start < end and text[start] == " ":
        start += 1
    while end > start and text[end - 1] == " ":
        end -= 1
    return text[start:end], index[start:end]
