"""A conversation session: the agent pastes each buyer message, one per line.

Each buyer has its own history, which feeds ``Engine.analyze`` so a short
follow-up (``？``, ``那M呢``) and the buyer's type read right. Lines that start
with a known command (``/new``, ``/buyer NAME``, ``/history``, ``/copy N``,
``/quit``, ``/help``) drive the session; any other line is a buyer message,
even one that starts with ``/``. No I/O and no click here: the CLI reads the
lines and prints the outcomes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import InputError

if TYPE_CHECKING:
    from .engine import Engine
    from .results import Analysis

KEEP_HISTORY = 200  # per buyer, for /history; the engine itself reads only the last few

HELP = """\
commands:
  /new [NAME]     a new buyer with a fresh history
  /buyer NAME     switch to buyer NAME (each buyer keeps its own history)
  /buyer          list the buyers of this session
  /history        the current buyer's chat so far
  /agent TEXT     what you (the agent) sent: it helps read the buyer's short answers
  /copy N         put reply N of the last answer on the clipboard (and note it as sent)
  /quit           end the session (so does end of input, Ctrl-D)
any other line is the current buyer's next message"""


@dataclass
class Buyer:
    name: str
    # the chat so far: buyer messages as text, what the agent sent as {"role": "agent", "text"}
    history: list[Any] = field(default_factory=list)
    last: Analysis | None = None

    @property
    def messages(self) -> int:
        """How many messages the buyer has sent."""
        return sum(1 for entry in self.history if isinstance(entry, str))

    def agent_said(self, text: str) -> None:
        self.history.append({"role": "agent", "text": text})
        del self.history[:-KEEP_HISTORY]


@dataclass(frozen=True)
class Outcome:
    """What one input line produced.

    kind: ``analysis`` (a buyer message was analysed), ``info`` (command
    output), ``error`` (a message for the agent), ``quit``, or ``none``
    (a blank line).
    """

    kind: str
    text: str = ""
    analysis: Analysis | None = None
    buyer: str = ""
    turn: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The JSON record of a buyer message (``analysis`` outcomes only)."""
        if self.analysis is None:
            raise ValueError("only an analysis outcome has a JSON record")
        return {"buyer": self.buyer, "turn": self.turn, **self.analysis.to_dict()}


def _default_copier(text: str) -> str:
    from .clipboard import copy

    return copy(text)


class ChatSession:
    """Buyers, their histories, and the current buyer; ``handle_line`` does the rest."""

    COMMANDS = ("/new", "/buyer", "/history", "/agent", "/copy", "/quit", "/exit", "/help")

    def __init__(self, engine: Engine, buyer: str = "buyer1", top: int = 3,
                 copier: Callable[[str], str] | None = None) -> None:
        self.engine = engine
        self.top = top
        self.copier = copier or _default_copier
        self.buyers: dict[str, Buyer] = {}
        self.current = self._buyer(buyer.strip() or "buyer1").name

    @property
    def buyer(self) -> Buyer:
        return self.buyers[self.current]

    def _buyer(self, name: str) -> Buyer:
        if name not in self.buyers:
            self.buyers[name] = Buyer(name)
        return self.buyers[name]

    def handle_line(self, line: str) -> Outcome:
        line = line.rstrip("\r\n")
        if not line.strip():
            return Outcome("none")
        word, _, rest = line.strip().partition(" ")
        if word.lower() in self.COMMANDS:
            return self._command(word.lower(), rest.strip())
        return self.message(line)

    def message(self, text: str) -> Outcome:
        """Analyse the current buyer's next message with their history, then remember it."""
        buyer = self.buyer
        try:
            analysis = self.engine.analyze(text, buyer.history, top=self.top)
        except InputError as exc:
            return Outcome("error", str(exc), buyer=buyer.name)
        buyer.history.append(text)
        del buyer.history[:-KEEP_HISTORY]
        buyer.last = analysis
        return Outcome("analysis", analysis=analysis, buyer=buyer.name, turn=buyer.messages)

    def _command(self, command: str, arg: str) -> Outcome:
        if command in ("/quit", "/exit"):
            return Outcome("quit")
        if command == "/help":
            return Outcome("info", HELP)
        if command == "/new":
            name = arg or self._fresh_name()
            if name in self.buyers and self.buyers[name].history:
                return Outcome("error", f"buyer {name} already exists; /buyer {name} switches to them")
            self.current = self._buyer(name).name
            return Outcome("info", f"new buyer {name}, fresh history", buyer=name)
        if command == "/buyer":
            if not arg:
                return Outcome("info", self._list_buyers())
            known = arg in self.buyers
            self.current = self._buyer(arg).name
            count = self.buyer.messages
            said = f"switched to {arg} ({count} message{'s' if count != 1 else ''} so far)" if known \
                else f"new buyer {arg}, fresh history"
            return Outcome("info", said, buyer=arg)
        if command == "/history":
            history = self.buyer.history
            if not history:
                return Outcome("info", f"{self.current}: no messages yet")
            count = self.buyer.messages
            lines = [f"{self.current}: {count} message{'s' if count != 1 else ''}"]
            lines += [f"  {i}. {entry}" if isinstance(entry, str) else f"  {i}. (you) {entry['text']}"
                      for i, entry in enumerate(history, 1)]
            return Outcome("info", "\n".join(lines))
        if command == "/agent":
            if not arg:
                return Outcome("error", "usage: /agent TEXT (what you sent the buyer)")
            self.buyer.agent_said(arg)
            return Outcome("info", f"noted what you sent {self.current}")
        if command == "/copy":
            return self._copy(arg)
        return Outcome("error", f"unknown command {command}")  # pragma: no cover - COMMANDS guards it

    def _copy(self, arg: str) -> Outcome:
        last = self.buyer.last
        if last is None or not last.replies:
            return Outcome("error", f"no reply to copy yet for {self.current}")
        if not arg.isdigit() or not 1 <= int(arg) <= len(last.replies):
            return Outcome("error", f"usage: /copy N with N from 1 to {len(last.replies)}")
        number = int(arg)
        from .clipboard import ClipboardUnavailable

        try:
            where = self.copier(last.replies[number - 1].text)
        except ClipboardUnavailable as exc:
            return Outcome("error", str(exc))
        self.buyer.agent_said(last.replies[number - 1].text)  # the agent sends what it copies
        return Outcome("info", f"copied reply {number} to the clipboard ({where})")

    def _fresh_name(self) -> str:
        n = len(self.buyers) + 1
        while f"buyer{n}" in self.buyers:
            n += 1
        return f"buyer{n}"

    def _list_buyers(self) -> str:
        lines = ["buyers:"]
        for name, buyer in self.buyers.items():
            mark = "*" if name == self.current else " "
            lines.append(f" {mark} {name} ({buyer.messages} messages)")
        return "\n".join(lines)
