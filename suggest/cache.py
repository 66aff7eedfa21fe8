"""A cache of compiled programs in the user's cache folder, keyed by content.

* The key hashes every pack byte, the program format and this module's
  compiler sources, so a changed pack or a new version never reads a stale
  entry.
* A file that is corrupt, truncated, foreign or of another key is ignored
  and rebuilt.
* Writes go to a temporary file in the same folder and are renamed into
  place, so two processes building at once never see half a file.
* Nothing is written inside the installed package: the folder is
  ``platformdirs.user_cache_dir("suggest")`` or ``$SUGGEST_CACHE_DIR``;
  ``SUGGEST_NO_CACHE=1`` turns the cache off.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

MAGIC = b"SUGGEST-PROGRAM\n"
KEEP_ENTRIES = 16


def cache_dir() -> Path | None:
    if os.environ.get("SUGGEST_NO_CACHE"):
        return None
    override = os.environ.get("SUGGEST_CACHE_DIR")
    if override:
        return Path(override)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("suggest", appauthor=False))


def _code_fingerprint() -> bytes:
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256(sys.version.encode())
    for name in ("compiler.py", "tokenizer.py", "cache.py"):
        try:
            digest.update((here / name).read_bytes())
        except OSError:
            digest.update(name.encode())
    return digest.digest()


def cache_key(pack_fingerprint: str) -> str:
    return hashlib.sha256(_code_fingerprint() + pack_fingerprint.encode()).hexdigest()


def load_or_build(pack_fingerprint: str, build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    folder = cache_dir()
    key = cache_key(pack_fingerprint)
    if folder is None:
        return build()
    path = folder / f"program-{key[:40]}.bin"
    program = read_entry(path, key)
    if program is not None:
        return program
    program = build()
    write_entry(folder, path, key, program)
    return program


def read_entry(path: Path, key: str) -> dict[str, Any] | None:
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    header = MAGIC + key.encode() + b"\n"
    if not raw.startswith(header):
        return None
    try:
        program = marshal.loads(raw[len(header):])
    except (EOFError, ValueError, TypeError):
        return None
    return program if isinstance(program, dict) else None


def write_entry(folder: Path, path: Path, key: str, program: dict[str, Any]) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        payload = MAGIC + key.encode() + b"\n" + marshal.dumps(program)
        handle, temp = tempfile.mkstemp(prefix=".program-", dir=folder)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(payload)
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        _prune(folder)
    except OSError:
        pass  # a read-only or full cache folder only costs speed, never an answer


def _prune(folder: Path) -> None:
    entries = sorted(folder.glob("program-*.bin"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[KEEP_ENTRIES:]:
        old.unlink(missing_ok=True)
