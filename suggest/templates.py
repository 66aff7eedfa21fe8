"""Reply templates: ``{variable}`` holes filled from the shop profile only.

Templates come from files a shop edits. ``str.format`` would let
``{x.__class__}`` reach Python attributes, so we parse the holes ourselves:
a hole is a bare variable name, nothing else, and its value is looked up in
the profile mapping. ``{{`` and ``}}`` stand for literal braces.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class TemplateError(ValueError):
    pass


def template_fields(text: str) -> list[str]:
    """Variable names a template uses; raises TemplateError for anything else in braces."""
    names: list[str] = []
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        if token in ("{{", "}}"):
            continue
        inner = match.group(1)
        if inner is None:
            raise TemplateError(f"expected a matched '{{name}}' hole, got a lone {token!r}")
        if not _NAME.match(inner.strip()):
            raise TemplateError(f"expected a plain variable name in braces, got {{{inner}}}")
        names.append(inner.strip())
    return names


def format_value(value: Any) -> str:
    if isinstance(value, list):
        return "、".join(str(item) for item in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def render(text: str, values: Mapping[str, Any]) -> str:
    def fill(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        inner = match.group(1)
        if inner is None or not _NAME.match(inner.strip()):
            raise TemplateError(f"expected a plain variable name in braces, got {token}")
        name = inner.strip()
        if name not in values:
            raise TemplateError(f"the shop profile has no variable {name!r}")
        return format_value(values[name])

    return _TOKEN.sub(fill, text)
