"""jieba tokenisation with a compact dictionary owned by one engine.

Loading jieba's full default dictionary costs about 0.7 s, paid by every new
process. The engine instead builds, once per pack content, a prefix
dictionary from the most frequent words of jieba's dictionary plus every pack
keyword (so 包邮, 尺码, 七天无理由 stay whole), and keeps it in the compiled
cache. Each engine has its own ``jieba.Tokenizer``: no global jieba state is
shared between engines with different packs.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from math import log
from pathlib import Path
from typing import Any

COMMON_WORDS = 40000  # most frequent words of jieba's dictionary kept in the compact one
KEYWORD_FREQ = 200000  # high enough that a pack keyword wins against its parts
# The runs of text jieba cuts as one block (its ``re_han_default``; a test checks they agree).
JIEBA_BLOCK = re.compile("[\u4E00-\u9FD5a-zA-Z0-9+#&\\._%\\-]+")
# what jieba's cut runs together when the best route cuts them one by one (its ``re_eng``)
_ASCII_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def import_jieba() -> Any:
    """Import jieba without letting it drag in ``pkg_resources`` (~0.15 s)."""
    if "jieba" in sys.modules:
        return sys.modules["jieba"]
    blocked = "pkg_resources" not in sys.modules
    if blocked:
        sys.modules["pkg_resources"] = None  # type: ignore[assignment]
    try:
        import jieba
    finally:
        if blocked:
            del sys.modules["pkg_resources"]
    jieba.setLogLevel(60)
    return jieba


def build_prefix_dict(keywords: Iterable[str]) -> tuple[dict[str, int], int]:
    """The (FREQ, total) pair jieba's tokenizer works from."""
    from .cache import load_or_build_data

    jieba = import_jieba()
    dict_path = Path(jieba.__file__).with_name("dict.txt")
    try:
        stat = dict_path.stat()
        version = f"{dict_path}:{stat.st_size}:{stat.st_mtime_ns}:{COMMON_WORDS}"
    except OSError:
        version = f"{dict_path}:{COMMON_WORDS}"
    # jieba's part does not change with the packs: read once, not after every pack edit
    chosen: dict[str, int] = dict(load_or_build_data("jieba-base", version, lambda: _base_words(dict_path)))
    for keyword in keywords:
        keyword = keyword.strip()
        if keyword and " " not in keyword:
            chosen[keyword] = max(chosen.get(keyword, 0), KEYWORD_FREQ)
    freq_map: dict[str, int] = {}
    total = 0
    for word, freq in chosen.items():
        freq_map[word] = freq
        total += freq
        for end in range(1, len(word)):
            freq_map.setdefault(word[:end], 0)
    return freq_map, total


def _base_words(dict_path: Path) -> dict[str, int]:
    """The most frequent words of jieba's dictionary, and every single character it knows."""
    words: list[tuple[int, str]] = []
    with open(dict_path, encoding="utf-8") as handle:
        for line in handle:
            parts = line.split(" ")
            if len(parts) >= 2 and parts[1].strip().isdigit():
                words.append((int(parts[1]), parts[0]))
    words.sort(reverse=True)
    chosen: dict[str, int] = {word: freq for freq, word in words[:COMMON_WORDS]}
    for word, freq in _single_chars(words):
        chosen.setdefault(word, freq)
    return chosen


def _single_chars(words: list[tuple[int, str]]) -> Iterable[tuple[str, int]]:
    # Every single character jieba knows, so that rare characters keep a sane frequency.
    for freq, word in words:
        if len(word) == 1:
            yield word, freq


class TokenView:
    """Questions about the jieba tokens of one text, answered by cutting only the
    blocks asked about (see ``Tokenizer.lazy``)."""

    def __init__(self, tokenizer: Tokenizer, text: str) -> None:
        self._tokenizer, self._text = tokenizer, text
        self._blocks: list[tuple[int, int]] = []
        self._cut: dict[int, set[tuple[int, int]]] = {}

    def _spans_at(self, position: int) -> tuple[int, int, set[tuple[int, int]]] | None:
        """The block holding ``position`` and its token spans; None outside every block."""
        text = self._text
        if not self._blocks:
            self._blocks.extend(m.span() for m in JIEBA_BLOCK.finditer(text))
            self._blocks.append((len(text), len(text)))  # a sentinel, so the blocks are found once
        for block_start, block_end in self._blocks:
            if block_start <= position < block_end:
                break
        else:
            return None
        spans = self._cut.get(block_start)
        if spans is None:
            spans = self._cut[block_start] = {(block_start + s, block_start + e)
                                              for s, e in self._tokenizer.block_spans(text[block_start:block_end])}
        return block_start, block_end, spans

    def __call__(self, start: int, end: int) -> bool:
        """Is ``text[start:end]`` one whole token?"""
        found = self._spans_at(start)
        if found is None:  # outside every block each character is a token on its own
            return end - start == 1 and not self._text[start].isspace()
        _block_start, block_end, spans = found
        return end <= block_end and (start, end) in spans

    def aligned(self, start: int, end: int) -> bool:
        """Do both ends of ``text[start:end]`` fall between tokens (it cuts no token)?"""
        return self._boundary(start) and self._boundary(end)

    def _boundary(self, position: int) -> bool:
        if position <= 0 or position >= len(self._text):
            return True
        found = self._spans_at(position)
        if found is None:
            return True
        block_start, _block_end, spans = found
        return position == block_start or any(s == position for s, _e in spans)


class Tokenizer:
    """A jieba tokenizer over a prefix dictionary made by ``build_prefix_dict``."""

    def __init__(self, freq: dict[str, int], total: int) -> None:
        self._freq, self._total = freq, total
        self._tokenizer: Any = None  # jieba is imported the first time tokens are needed

    def _jieba(self) -> Any:
        if self._tokenizer is None:
            tokenizer = import_jieba().Tokenizer()
            tokenizer.FREQ = self._freq
            tokenizer.total = self._total
            tokenizer.initialized = True
            self._tokenizer = tokenizer
        return self._tokenizer

    def lazy(self, text: str) -> TokenView:
        """A test ``is_token(start, end)``: is ``text[start:end]`` one whole jieba token?

        jieba cuts a text block by block (runs of the characters in
        ``JIEBA_BLOCK``; anything else is a token per character), and a block's
        tokens do not depend on its neighbours, so only the block holding the span
        is cut, once, however often it is asked about.
        """
        return TokenView(self, text)

    def block_spans(self, block: str) -> list[tuple[int, int]]:
        """The token spans of one block (a run of ``JIEBA_BLOCK``), as jieba's ``cut(block,
        HMM=False)`` gives them, worked out here on the same dictionary.

        jieba's own cut is Python and costs as much as a whole lookup for the few
        messages that need tokens; this is its algorithm (the word graph of every
        dictionary word, the most probable route through it, single letters and digits
        run together), compiled with the rest of the hot path. A test holds it to
        jieba's cut on real lines.
        """
        freq = self._freq
        size = len(block)
        log_total = log(self._total)
        # route[i]: (log probability of the best cut of block[i:], where its first word ends)
        route: list[tuple[float, int]] = [(0.0, 0)] * (size + 1)
        for start in range(size - 1, -1, -1):
            end = start
            piece = block[start]
            ends: list[int] = []
            while end < size and piece in freq:
                if freq[piece]:
                    ends.append(end)
                end += 1
                piece = block[start:end + 1]
            if not ends:
                ends.append(start)
            route[start] = max((log(freq.get(block[start:last + 1]) or 1) - log_total + route[last + 1][0], last)
                               for last in ends)
        spans: list[tuple[int, int]] = []
        at = 0
        letters_from = -1  # where a run of single ASCII letters or digits began
        while at < size:
            stop = route[at][1] + 1
            if stop - at == 1 and block[at] in _ASCII_ALNUM:
                if letters_from < 0:
                    letters_from = at
            else:
                if letters_from >= 0:
                    spans.append((letters_from, at))
                    letters_from = -1
                spans.append((at, stop))
            at = stop
        if letters_from >= 0:
            spans.append((letters_from, size))
        return spans

    def tokens(self, text: str) -> list[tuple[str, int, int]]:
        """``(word, start, end)`` for every non-space token, HMM off (deterministic, fast)."""
        out: list[tuple[str, int, int]] = []
        position = 0
        for word in self._jieba().cut(text, HMM=False):
            end = position + len(word)
            if not word.isspace():
                out.append((word, position, end))
            position = end
        return out
