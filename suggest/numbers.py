"""Numbers as buyers type them: 165, 1.65, 一百一十, 两, 十五, 1米65, 一米六五.

The slot extractors (``slots``) find where a number is; this module says
which number it is. Every function returns ``None`` for text it cannot read,
never raises on what a buyer typed.
"""

from __future__ import annotations

import re

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "俩": 2, "三": 3, "四": 4, "五": 5,
           "六": 6, "七": 7, "八": 8, "九": 9}
_UNITS = {"十": 10, "百": 100, "千": 1000}
_ARABIC = re.compile(r"^[0-9]+(\.[0-9]+)?$")
_MAX_CHARS = 12  # longer runs are not a quantity a buyer means


def chinese_number(text: str) -> int | None:
    """一百一十 -> 110, 十五 -> 15, 两 -> 2, 一五零 -> 150 (digit by digit), 一万二 -> None.

    The forms a buyer types for heights, weights, prices and days: up to the
    thousands, with the spoken shortcuts 十五 (no leading 一) and 一百五 (a
    trailing digit after 百 means fifty, not five).
    """
    if not text or len(text) > _MAX_CHARS or any(c not in _DIGITS and c not in _UNITS for c in text):
        return None
    if text[0] in _UNITS and text[0] != "十":
        return None  # 百五: only 十 may stand without its digit
    if all(c in _DIGITS for c in text):
        if len(text) == 1:
            return _DIGITS[text]
        if len(text) == 2:
            return None  # 四五天 is four or five days, not 45
        return int("".join(str(_DIGITS[c]) for c in text))  # 一六五 read digit by digit
    total = 0
    digit: int | None = None
    last_unit = 10_000
    zero = False  # 一百零五: after 零 a digit counts as itself
    for char in text:
        if char in ("零", "〇"):
            zero = True
            continue
        if char in _DIGITS:
            if digit is not None and _DIGITS[char] != 0:
                return None  # 一二十: two digits in a row before a unit
            digit = _DIGITS[char]
            continue
        unit = _UNITS[char]
        if unit >= last_unit:
            return None  # 十百, 百百: units must fall
        total += (1 if digit is None else digit) * unit
        digit, last_unit = None, unit
    if digit is not None:
        # 一百五 is 150 and 三千二 is 3200: a bare digit after a unit is one step lower
        total += digit * (last_unit // 10 if not zero and last_unit > 10 and text[-2] in _UNITS else 1)
    return total


def parse_number(text: str) -> float | None:
    """Arabic (165, 57.5) or Chinese (一百一十) digits as a number."""
    text = text.strip()
    if _ARABIC.match(text):
        return float(text)
    found = chinese_number(text)
    return float(found) if found is not None else None


_METERS = re.compile(r"^([12一两])(?:\.|米|m)([0-9零一二三四五六七八九]{0,2})$")


def parse_meters(text: str) -> float | None:
    """A height in metres as centimetres: 1.65 / 1米65 / 一米六五 -> 165, 1米6 / 一米七 -> 160 / 170."""
    text = text.strip().rstrip("米m")
    match = _METERS.match(text)
    if match is None:
        value = parse_number(text)
        return round(value * 100) if value is not None and 1.0 <= value < 2.5 else None
    whole = parse_number(match.group(1))
    rest = match.group(2)
    if whole is None:
        return None
    if not rest:
        return whole * 100
    # after the 米 the digits are centimetres: 六五 is 65, a single 七 is 70
    cm = "".join(c if c.isdigit() else str(_DIGITS[c]) for c in rest)
    return whole * 100 + (int(cm) * 10 if len(cm) == 1 else int(cm))
