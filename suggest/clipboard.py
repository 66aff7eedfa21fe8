"""Put a reply on the system clipboard, when this machine has one.

Tried in order: ``$SUGGEST_CLIPBOARD`` (a command that reads the text on
stdin; ``none`` turns copying off), the clipboard programs of the session we
are in (``pbcopy`` on macOS, ``wl-copy`` under Wayland, ``xclip``/``xsel``
under X), then ``pyperclip`` if the optional extra ``suggest[clipboard]`` is
installed (Windows, WSL, Qt/GTK). No click here: chat and the CLI share it.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys

_TIMEOUT = 5.0  # a clipboard program that hangs must not hold up the agent


class ClipboardUnavailable(RuntimeError):
    """No clipboard could take the text; the message says why in plain words."""


def _candidates() -> list[list[str]]:
    # Only programs that can work in this session: xclip without $DISPLAY just fails slowly.
    wanted: list[list[str]] = []
    if sys.platform == "darwin":
        wanted.append(["pbcopy"])
    if os.environ.get("WAYLAND_DISPLAY"):
        wanted.append(["wl-copy"])
    if os.environ.get("DISPLAY"):
        wanted.append(["xclip", "-selection", "clipboard"])
        wanted.append(["xsel", "--clipboard", "--input"])
    return [argv for argv in wanted if shutil.which(argv[0])]


def _run(argv: list[str], text: str) -> None:
    # stdout/stderr to DEVNULL: xclip and wl-copy stay alive to own the selection,
    # and a pipe they keep open would make run() wait for them.
    subprocess.run(argv, input=text.encode("utf-8"), stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=_TIMEOUT, check=True)


def copy(text: str) -> str:
    """Copy ``text``; return the name of what took it. Raises ClipboardUnavailable."""
    override = os.environ.get("SUGGEST_CLIPBOARD")
    if override is not None:
        if override.strip().lower() in ("", "none", "off", "0"):
            raise ClipboardUnavailable("no clipboard: copying is turned off (SUGGEST_CLIPBOARD=none)")
        argv = shlex.split(override)
        try:
            _run(argv, text)
        except (OSError, subprocess.SubprocessError) as exc:
            raise ClipboardUnavailable(f"no clipboard: SUGGEST_CLIPBOARD command {argv[0]!r} failed ({exc})") from None
        return argv[0]
    failed: list[str] = []
    for argv in _candidates():
        try:
            _run(argv, text)
            return argv[0]
        except (OSError, subprocess.SubprocessError):
            failed.append(argv[0])
    try:
        import pyperclip  # optional extra: suggest[clipboard]
    except ImportError:
        pyperclip = None
    if pyperclip is not None:
        try:
            # determine_clipboard() each time: the session (DISPLAY, ...) may have changed
            copy_fn, _paste = pyperclip.determine_clipboard()
            copy_fn(text)
            return "pyperclip"
        except Exception:  # pyperclip raises its own exception types, and others from GTK/Qt
            pass
    programs = f"{', '.join(failed)} failed" if failed else \
        "no desktop session (DISPLAY or WAYLAND_DISPLAY) with wl-copy, xclip or xsel, and no pbcopy"
    extra = "pyperclip found no clipboard either" if pyperclip is not None else \
        "pyperclip is not installed (pip install 'suggest[clipboard]')"
    raise ClipboardUnavailable(
        f"no clipboard available on this machine: {programs}; {extra}. Set SUGGEST_CLIPBOARD "
        "to a command that reads the text on stdin (e.g. 'tmux load-buffer -') to copy another way.")
