"""Reject pack regexes that do not compile or can backtrack catastrophically.

Python's ``re`` has no timeout, so a pattern such as ``(a+)+b`` can hang on a
long message. We refuse, at load time, any unbounded repeat nested inside
another unbounded repeat: the classic shape of exponential backtracking.
"""

from __future__ import annotations

import re
from typing import Any

try:  # Python 3.11+
    import re._constants as _sre_constants
    import re._parser as _sre_parse
except ImportError:  # pragma: no cover - older Pythons
    import sre_constants as _sre_constants  # type: ignore[no-redef]
    import sre_parse as _sre_parse  # type: ignore[no-redef]

_REPEATS = {_sre_constants.MAX_REPEAT, _sre_constants.MIN_REPEAT}
_POSSESSIVE = getattr(_sre_constants, "POSSESSIVE_REPEAT", None)
_UNBOUNDED = 10  # a repeat allowing more than this many counts as unbounded
MAX_PATTERN_LENGTH = 500


def regex_problem(pattern: str) -> str | None:
    """Why ``pattern`` is unsafe or invalid, or None when it is fine."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"expected a regular expression of at most {MAX_PATTERN_LENGTH} characters, got {len(pattern)}"
    try:
        re.compile(pattern)
    except re.error as exc:
        return f"expected a regular expression that compiles, got an error: {exc}"
    try:
        parsed = _sre_parse.parse(pattern)
    except Exception as exc:  # pragma: no cover - compile() already parsed it
        return f"cannot analyse regular expression: {exc}"
    if _nested_unbounded(list(parsed), inside_repeat=False):
        return ("expected a regular expression without nested unbounded repeats, got one that can "
                "backtrack catastrophically on a long message (such as '(a+)+')")
    return None


def _nested_unbounded(items: list[Any], inside_repeat: bool) -> bool:
    for op, arg in items:
        if op in _REPEATS or (_POSSESSIVE is not None and op == _POSSESSIVE):
            low, high, sub = arg
            unbounded = high is _sre_constants.MAXREPEAT or high > _UNBOUNDED
            if unbounded and inside_repeat and op != _POSSESSIVE:
                return True
            if _nested_unbounded(list(sub), inside_repeat or unbounded):
                return True
        elif op is _sre_constants.SUBPATTERN:
            if _nested_unbounded(list(arg[-1]), inside_repeat):
                return True
        elif op is _sre_constants.BRANCH:
            for branch in arg[1]:
                if _nested_unbounded(list(branch), inside_repeat):
                    return True
        elif op in (_sre_constants.ASSERT, _sre_constants.ASSERT_NOT):
            if _nested_unbounded(list(arg[1]), inside_repeat):
                return True
        elif op is getattr(_sre_constants, "ATOMIC_GROUP", None):
            if _nested_unbounded(list(arg), inside_repeat):
                return True
    return False
