"""Compile validated packs into the matching program: plain, cacheable data.

The program holds only lists, dicts, strings and numbers, so the cache can
store it with ``marshal`` (fast, and it constructs no objects of its own).
Expensive derived tables are built here, once per pack content:

* the compact jieba prefix dictionary (see ``tokenizer``);
* toneless pinyin of every CJK character, and of every keyword, so the
  matcher can recognise pinyin-input slips (包油 for 包邮, 推货 for 退货)
  without anyone listing misspellings by hand.
"""

from __future__ import annotations

from typing import Any

from .normalize import normalize
from .packs import PackSet
from .regexinfo import Requirement, requirement
from .slots import compile_slots
from .tokenizer import build_prefix_dict

PROGRAM_FORMAT = 10  # bump when the shape of the program changes


def is_cjk(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fff"


def pinyin_table() -> dict[str, str]:
    """Toneless reading of each CJK character (its most common reading)."""
    from pypinyin import Style, lazy_pinyin
    from pypinyin.pinyin_dict import pinyin_dict

    table: dict[str, str] = {}
    for code in pinyin_dict:
        if 0x4E00 <= code <= 0x9FFF:
            char = chr(code)
            table[char] = lazy_pinyin(char, style=Style.NORMAL)[0]
    return table


def _need(pattern: str) -> Requirement | None:
    """The strings any match needs (see regexinfo), stored so that a new process
    neither analyses nor compiles regexes that the message cannot match."""
    return requirement(pattern)


def _pinyin_keys(word: str) -> list[str]:
    """Readings a slip of ``word`` may share: the word's own (便宜 = pian yi) and
    the characters' most common ones (bian yi), which is how a typed slip is read."""
    from pypinyin import Style, lazy_pinyin

    keys = {" ".join(lazy_pinyin(word, style=Style.NORMAL)),
            " ".join(lazy_pinyin(c, style=Style.NORMAL)[0] for c in word)}
    return sorted(keys)


def _word(text: str) -> str:
    """A pack word as the matcher sees messages: 包郵 and ＸＬ read as 包邮 and xl."""
    folded = normalize(text).text
    return folded or text.strip().lower()


def _rule_set(pack: dict[str, Any], pinyin: dict[str, str], slips: bool = True) -> dict[str, Any]:
    keywords = []
    for item in pack.get("keywords", []):
        rule = {"text": item} if isinstance(item, str) else item
        text = _word(rule["text"])
        variants = rule.get("variants", slips and len(text) >= 2 and all(is_cjk(c) for c in text))
        keys = _pinyin_keys(text) if variants and all(c in pinyin for c in text) else []
        keywords.append([text, float(rule.get("weight", 0.6)), bool(rule.get("token", False)), keys])
    regexes = []
    for item in pack.get("regex", []):
        rule = {"pattern": item} if isinstance(item, str) else item
        regexes.append([rule["pattern"], float(rule.get("weight", 0.7)), _need(rule["pattern"])])
    phrases = pack.get("phrases")
    together = [[[[_word(w) for w in group] for group in rule["all"]], float(rule.get("weight", 0.8))]
                for rule in pack.get("together", [])]
    only = []
    for rule in pack.get("only", []):
        particles = sorted({_word(w) for w in rule.get("particles", [])})
        # longest first, then alphabetical: the same order in every process
        words = sorted({_word(w) for w in rule["words"]} | set(particles), key=lambda w: (-len(w), w))
        only.append([words, particles, float(rule.get("weight", 0.8))])
    return {
        "id": pack["id"],
        "zh": pack.get("zh", ""),
        "threshold": float(pack.get("threshold", 0.5)),
        "yields_to": list(pack.get("yields_to", [])),
        "lift": bool(pack.get("lift", True)),
        "keywords": keywords,
        "regex": regexes,
        "phrases": [int(phrases.get("threshold", 85)), float(phrases.get("weight", 0.7)),
                    [_word(p) for p in phrases["items"]]] if phrases else [],
        "together": together,
        "only": only,
        "negations": [[p, _need(p)] for p in pack.get("negations", [])],
        "exclude": [[p, _need(p)] for p in pack.get("exclude", [])],
        "signals": pack.get("signals", {}),
    }


def compile_program(packs: PackSet) -> dict[str, Any]:
    pinyin = pinyin_table()
    intents = [_rule_set(p, pinyin) for p in packs.intents]
    for rule_set in intents:
        rule_set["exclude"] += [[p, _need(p)] for p in packs.shared_exclude]
    # Customer types are read from tone and wording; typing slips matter little there.
    tags = [_rule_set(p, pinyin, slips=False) for p in packs.tags]
    words = [k[0] for rs in intents + tags for k in rs["keywords"]]
    words += [w for rs in intents + tags for rule in rs["together"] for group in rule[0] for w in group]
    freq, total = build_prefix_dict(words)
    replies = [{"intent": p["intent"], "replies": [dict(r) for r in p["replies"]]} for p in packs.replies]
    return {
        "format": PROGRAM_FORMAT,
        "intents": intents,
        "tags": tags,
        "replies": replies,
        "shop": dict(packs.shop),
        "slots": compile_slots(packs.slots),
        "jieba": [freq, total],
        "pinyin": pinyin,
    }
