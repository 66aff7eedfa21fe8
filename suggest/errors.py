"""The two exception types a caller of the library needs to know."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or worth a warning) in a pack file."""

    file: str
    line: int
    key_path: str
    message: str
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        key = f" {self.key_path}:" if self.key_path else ""
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{where}:{key} {prefix}{self.message}"


class PackError(Exception):
    """A rule, reply, tag pack or shop profile is broken.

    Carries every problem found, each with file, line and key path, so a
    shop owner can fix them all in one go.
    """

    def __init__(self, problems: list[Problem] | tuple[Problem, ...]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        first = self.problems[0] if self.problems else None
        self.file = first.file if first else ""
        self.line = first.line if first else 0
        self.key_path = first.key_path if first else ""
        super().__init__("\n".join(str(p) for p in self.problems) or "broken pack")


class InputError(ValueError):
    """The buyer's message (or a draft) cannot be analysed as given."""
