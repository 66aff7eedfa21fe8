"""A cache of compiled programs in the user's cache folder, keyed by content.

* The key hashes every pack byte, the program model's definition, the sources of the
  modules that read, check and compile packs, and the installed jieba and
  pypinyin data, so a changed pack, a new version or an upgraded dependency
  never reads a stale entry.
* Each entry carries a SHA-256 of its payload: a file that is corrupt,
  truncated, foreign or of another key is ignored and rebuilt, never loaded.
* Writes go to a temporary file in the same folder and are renamed into
  place, so two processes building at once never see half a file; the
  loser's rename simply replaces an identical entry. SIGTERM and SIGINT are
  held over the write, so a signal never leaves a temporary file behind.
* A program built while its packs changed on disk is not stored under the
  old packs' key (``recheck``).
* Nothing is written inside the installed package: the folder is
  ``platformdirs.user_cache_dir("suggest")`` or ``$SUGGEST_CACHE_DIR``;
  ``SUGGEST_NO_CACHE=1`` turns the cache off. A cache that cannot be read
  or written only costs speed, never an answer.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import sys
import time
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from .program import Program, decode, encode
from .stopping import signals_held

MAGIC = b"SUGGEST-PROGRAM 2\n"
KEEP_ENTRIES = 16
STALE_TEMP_SECONDS = 3600  # a temporary file this old was left by a process that died
# Modules whose code decides what a program holds, or whether packs are accepted at all:
# an entry built by other code must not be reused (a stricter check would be skipped).
_CODE = ("cache.py", "compiler.py", "program.py", "rule_templates.py", "tokenizer.py", "packs.py", "schema.py",
         "yamlfile.py", "regexguard.py", "regexinfo.py", "templates.py", "sources.py", "normalize.py", "slots.py",
         "numbers.py")
# Data files the compiler reads from dependencies: (module, file next to it).
_DATA = (("jieba", "dict.txt"), ("pypinyin", "pinyin_dict.py"))


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
    for name in _CODE:
        try:
            digest.update(name.encode() + (here / name).read_bytes())
        except OSError:
            digest.update(name.encode())
    for module, name in _DATA:
        # Size and time of the installed file: cheap, and changes with any upgrade.
        try:
            spec = find_spec(module)
            origin = Path(spec.origin) if spec and spec.origin else None
            stat = (origin.with_name(name)).stat() if origin else None
            digest.update(f"{module}:{stat.st_size}:{stat.st_mtime_ns}".encode() if stat else module.encode())
        except (OSError, ImportError, ValueError):
            digest.update(module.encode())
    return digest.digest()


def cache_key(pack_fingerprint: str) -> str:
    from .program import model_fingerprint

    return hashlib.sha256(_code_fingerprint() + model_fingerprint().encode() + pack_fingerprint.encode()).hexdigest()


def entry_path(folder: Path, key: str) -> Path:
    return folder / f"program-{key[:40]}.bin"


def load_or_build(pack_fingerprint: str, build: Callable[[], Program],
                  recheck: Callable[[], str] | None = None) -> Program:
    """The cached program for these packs, or ``build()`` (stored for next time).

    ``recheck`` recomputes the pack fingerprint after building: when the packs
    changed meanwhile, the program is returned but not stored under the old key.
    """
    folder = cache_dir()
    if folder is None:
        return build()
    key = cache_key(pack_fingerprint)
    path = entry_path(folder, key)
    program = read_entry(path, key)
    if program is not None:
        return program
    program = build()
    if recheck is None or recheck() == pack_fingerprint:
        write_entry(folder, path, key, program)
    return program


def _header(key: str, payload: bytes) -> bytes:
    return MAGIC + key.encode() + b"\n" + hashlib.sha256(payload).hexdigest().encode() + b"\n"


def _read_payload(path: Path, key: str) -> bytes | None:
    """The payload stored at ``path`` for ``key``, or None if it is missing or not sound."""
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    prefix = MAGIC + key.encode() + b"\n"
    if not raw.startswith(prefix):
        return None  # foreign, old format, another key, or cut short in the header
    body = raw[len(prefix):]
    digest, newline, payload = body.partition(b"\n")
    if not newline or digest != hashlib.sha256(payload).hexdigest().encode():
        return None  # truncated or corrupt: marshal must never see it
    return payload


def is_whole(path: Path) -> bool:
    """Is the entry at ``path`` complete and unchanged (its header and checksum agree)?"""
    try:
        raw = path.read_bytes()
    except OSError:
        return False
    if not raw.startswith(MAGIC):
        return False
    key = raw[len(MAGIC):].split(b"\n", 1)[0].decode("ascii", "replace")
    return _read_payload(path, key) is not None


def read_entry(path: Path, key: str) -> Program | None:
    """The program stored at ``path`` for ``key``, or None if it is missing or not sound."""
    payload = _read_payload(path, key)
    if payload is None:
        return None
    try:
        program = decode(marshal.loads(payload))
    except (EOFError, ValueError, TypeError, IndexError, KeyError):
        return None  # not a program of this model
    return program if isinstance(program, Program) else None


def installed_key(module: str) -> str:
    """A key that changes when the installed package ``module`` does (its file's path,
    size and time), for data read out of it; cheaper than importlib.metadata."""
    spec = find_spec(module)
    if spec is None or not spec.origin:
        return "unknown"
    try:
        stat = os.stat(spec.origin)
    except OSError:
        return spec.origin
    return f"{spec.origin}:{stat.st_size}:{stat.st_mtime_ns}"


def load_or_build_data(name: str, key: str, build: Callable[[], Any]) -> Any:
    """Plain data that depends on ``key`` alone (not on the packs), cached like programs:
    the jieba base dictionary is read once, not again after every pack edit."""
    found = read_data(name, key)
    if found is not None:
        return found
    data = build()
    store_data(name, key, data)
    return data


def _data_path(name: str, key: str) -> tuple[Path, Path, str] | None:
    folder = cache_dir()
    if folder is None:
        return None
    full_key = hashlib.sha256(_code_fingerprint() + name.encode() + b"\0" + key.encode()).hexdigest()
    return folder, folder / f"data-{full_key[:40]}.bin", full_key


def read_data(name: str, key: str) -> Any:
    """The data stored under ``name`` and ``key``, or None (no cache, none stored, damaged)."""
    where = _data_path(name, key)
    if where is None:
        return None
    _folder, path, full_key = where
    payload = _read_payload(path, full_key)
    if payload is not None:
        try:
            return marshal.loads(payload)
        except (EOFError, ValueError, TypeError):
            pass
    return None


def store_data(name: str, key: str, data: Any) -> None:
    """Keep ``data`` under ``name`` and ``key`` (nothing when there is no cache folder)."""
    where = _data_path(name, key)
    if where is None:
        return
    folder, path, full_key = where
    with contextlib.suppress(ValueError):  # a value marshal cannot store: answer without caching
        _write_payload(folder, path, full_key, marshal.dumps(data))


def write_entry(folder: Path, path: Path, key: str, program: Program) -> None:
    try:
        payload = marshal.dumps(encode(program))
    except ValueError:
        return  # a value marshal cannot store: answer without caching
    _write_payload(folder, path, key, payload)


def _write_payload(folder: Path, path: Path, key: str, payload: bytes) -> None:
    import tempfile  # only a cache miss writes: a lookup does not pay for the import

    try:
        folder.mkdir(parents=True, exist_ok=True)
        # SIGTERM/SIGINT wait until the entry is in place or its temporary file is gone:
        # a signal's default action would otherwise leave the temporary file behind.
        with signals_held():
            handle, temp = tempfile.mkstemp(prefix=".program-", suffix=".tmp", dir=folder)
            try:
                with os.fdopen(handle, "wb") as out:
                    out.write(_header(key, payload))
                    out.write(payload)
                os.replace(temp, path)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
        _prune(folder)
    except OSError:
        pass  # a read-only or full cache folder only costs speed, never an answer


def _prune(folder: Path) -> None:
    """Keep the newest entries of each kind; drop temporary files left by processes that died."""
    entries: dict[str, list[tuple[float, Path]]] = {"program-": [], "data-": []}
    now = time.time()
    for item in folder.iterdir():
        try:
            mtime = item.stat().st_mtime
        except OSError:
            continue  # removed by another process meanwhile
        kind = next((k for k in entries if item.name.startswith(k)), None)
        if kind is not None and item.suffix == ".bin":
            entries[kind].append((mtime, item))
        elif item.name.startswith(".program-") and now - mtime > STALE_TEMP_SECONDS:
            item.unlink(missing_ok=True)
    for kept in entries.values():
        kept.sort(reverse=True)
        for _, old in kept[KEEP_ENTRIES:]:
            old.unlink(missing_ok=True)
