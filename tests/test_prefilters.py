"""The shortcuts the matcher takes must never change what it finds.

Regexes are skipped when a message lacks the strings they need (regexinfo), and a
keyword that must be a whole jieba token is checked by cutting only its block of
the message. Both are tested against doing the full work: the regex itself on
strings made to match it, and a jieba cut of the whole message.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suggest.compiler import compile_program
from suggest.matching import Matcher
from suggest.normalize import normalize
from suggest.packs import load_packs
from suggest.program import Program
from suggest.regexinfo import requirement, satisfied
from suggest.sources import PackSources
from suggest.tokenizer import JIEBA_BLOCK, Tokenizer, import_jieba

SHARED_EVAL = Path(__file__).resolve().parent.parent.parent / "shared" / "eval"


@pytest.fixture(scope="module")
def program() -> Program:
    return compile_program(load_packs(PackSources.of()))


@pytest.fixture(scope="module")
def matcher(program: Program) -> Matcher:
    return Matcher(program)


def _sample_texts() -> list[str]:
    """Texts buyers could send: hand-written ones, plus the shared sets where present."""
    texts = ["包邮吗 几天能到", "我不知道选哪个?", "啥材质的 有黑色的吗", "能退吗 退了运费谁出",
             "这个退烧贴能退吗", "sf能发吗", "tm的怎么还没发货!!!", "160斤穿多大码 平时穿xl",
             "200块包邮行就拍", "拍了还没付 改一下地址", "唉 算了 我再看看吧", "什么时候发货啊"]
    for name in ("dev.jsonl", "real.jsonl"):
        path = SHARED_EVAL / name
        if path.is_file():
            with open(path, encoding="utf-8") as handle:
                texts += [json.loads(line)["text"] for line in handle if line.strip()]
    return texts


@pytest.mark.parametrize(("pattern", "text", "met"), [
    ("我(自己)?[^,。]{0,4}(不知道|不清楚)[?]", "我真不知道?", True),
    ("我(自己)?[^,。]{0,4}(不知道|不清楚)[?]", "我想要这个?", False),  # 我 alone is not enough
    ("(什么|啥)(材质|材料)", "这是啥材料", True),
    ("(什么|啥)(材质|材料)", "什么颜色 材料好吗", False),  # the words must stand together
    ("有(的)?吗", "有的吗", True),
    ("(a|b.*)c", "bxc", True),
    ("(a|b.*)c", "xyc", False),
    ("(好|.{0,3})吧?", "xyz", True),  # one branch needs nothing: no filter
])
def test_requirements(pattern: str, text: str, met: bool) -> None:
    assert satisfied(requirement(pattern), text) is met
    if not met:
        assert re.search(pattern, text) is None


def test_every_pack_regex_is_found_when_it_matches(matcher: Matcher) -> None:
    texts = [normalize(t).text for t in _sample_texts()]
    for text in texts:
        active = set(matcher.active_regexes(text))
        for source in matcher.regexes():
            if source not in active:
                assert re.search(source, text) is None, (source, text)


@pytest.fixture(scope="module")
def regex_strategies(matcher: Matcher) -> list[tuple[str, st.SearchStrategy[str]]]:
    out = []
    for source in matcher.regexes():
        try:
            out.append((source, st.from_regex(source)))
        except Exception:  # a construct hypothesis cannot generate from
            continue
    return out


@settings(deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_strings_made_to_match_a_pack_regex_activate_it(
        matcher: Matcher, regex_strategies: list[tuple[str, st.SearchStrategy[str]]],
        data: st.DataObject) -> None:
    assert len(regex_strategies) > len(matcher.regexes()) // 2  # most patterns can be generated from
    for source, strategy in regex_strategies:
        text = data.draw(strategy, label=source)
        assert source in matcher.active_regexes(text), (source, text)


def test_block_pattern_is_jiebas() -> None:
    assert JIEBA_BLOCK.pattern == import_jieba().re_han_default.pattern.strip("()")


def test_is_token_agrees_with_a_full_cut(program: Program) -> None:
    freq, total = program.jieba
    tokenizer = Tokenizer(dict(freq), total)
    for raw in _sample_texts():
        text = normalize(raw).text
        whole = {(s, e) for _, s, e in tokenizer.tokens(text)}
        is_token = tokenizer.lazy(text)
        for start in range(len(text)):
            for end in range(start + 1, min(len(text), start + 4) + 1):
                assert is_token(start, end) == ((start, end) in whole), (text, start, end)


def _ours_and_jiebas(program: Program) -> tuple[Tokenizer, Any]:
    """Our tokenizer and a jieba one over the same dictionary."""
    freq, total = program.jieba
    jieba = import_jieba().Tokenizer()
    jieba.FREQ, jieba.total, jieba.initialized = dict(freq), total, True
    return Tokenizer(dict(freq), total), jieba


def _jieba_spans(jieba: Any, block: str) -> list[tuple[int, int]]:
    spans, at = [], 0
    for word in jieba.cut(block, HMM=False):
        spans.append((at, at + len(word)))
        at += len(word)
    return spans


def test_block_spans_are_jiebas_cut(program: Program) -> None:
    """The compiled block cut gives what jieba's own cut gives, block by block."""
    tokenizer, jieba = _ours_and_jiebas(program)
    blocks = [m.group(0) for raw in _sample_texts() for m in JIEBA_BLOCK.finditer(normalize(raw).text)]
    blocks += ["abc123", "sf能发吗", "iphone15手机壳", "xl码", "3q", "a", "1.5米", "50%", "c++"]
    for block in blocks:
        assert tokenizer.block_spans(block) == _jieba_spans(jieba, block), block


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet="包邮吗发货快递退款这个能不可以没有了到天几abc12 .-", min_size=1, max_size=20))
def test_block_spans_are_jiebas_cut_on_any_block(program: Program, text: str) -> None:
    tokenizer, jieba = _ours_and_jiebas(program)
    for m in JIEBA_BLOCK.finditer(text):
        assert tokenizer.block_spans(m.group(0)) == _jieba_spans(jieba, m.group(0)), m.group(0)


def test_pinyin_table_agrees_with_lazy_pinyin() -> None:
    from pypinyin import Style, lazy_pinyin

    from suggest.compiler import pinyin_table

    table = pinyin_table()
    assert len(table) > 20000
    for char in list(table)[::97] + ["女", "绿", "包", "邮", "退"]:
        assert table[char] == lazy_pinyin(char, style=Style.NORMAL)[0], char
