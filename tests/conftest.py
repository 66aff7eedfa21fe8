"""Shared fixtures: a private cache folder, a CLI runner, broken pack folders."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import settings

from suggest.cli import cli
from suggest.sources import bundled_dir

# Property tests: a quick profile by default (the README's test command stays under four
# minutes on two cores); SUGGEST_HYPOTHESIS=deep for a long run by hand.
settings.register_profile("quick", max_examples=40)
settings.register_profile("deep", max_examples=400)
settings.load_profile("deep" if os.environ.get("SUGGEST_HYPOTHESIS") == "deep" else "quick")

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
# The bundled intents: one pack per file of intents/ (files starting with _ are shared data).
BUNDLED_INTENTS = tuple(sorted(p.stem for p in bundled_dir("intents").glob("*.yaml") if not p.name.startswith("_")))


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Compiled programs go to a temporary folder: the user's cache is never touched.

    One folder for the whole session (set in os.environ, so subprocesses
    inherit it): a per-test folder would recompile the packs in every test.
    """
    folder = tmp_path_factory.mktemp("suggest-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SUGGEST_CACHE_DIR", str(folder))
        mp.delenv("SUGGEST_NO_CACHE", raising=False)
        mp.delenv("NO_COLOR", raising=False)
        yield folder


@pytest.fixture
def packs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Copies of the bundled intents, tags and replies under tmp_path, to edit or break."""
    monkeypatch.setenv("SUGGEST_CACHE_DIR", str(tmp_path / "cache"))
    for name in ("intents", "tags", "replies"):
        shutil.copytree(bundled_dir(name), tmp_path / name)
    yield tmp_path


def make_runner() -> CliRunner:
    """A runner that keeps stdout and stderr apart (click 8.2+ always does; 8.1 needs asking)."""
    try:
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg]
    except TypeError:
        return CliRunner()


def invoke(args: Sequence[str], input: str | bytes | None = None, env: dict[str, str | None] | None = None) -> Result:
    """Run the CLI in-process; see result.stdout and result.stderr."""
    return make_runner().invoke(cli, list(args), input=input, env=env, catch_exceptions=True)


def run_suggest(args: Sequence[str | bytes], input: bytes | None = None, timeout: float = 60,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run ``python -m suggest`` in a new process (a real stdin, real exit status)."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    return subprocess.run([sys.executable, "-m", "suggest", *args], input=input, capture_output=True,
                          timeout=timeout, env=full_env, cwd=ROOT)


def no_traceback(result: Result) -> None:
    """The command ended by itself (exit status), not by an uncaught exception."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert "Traceback" not in result.output


@pytest.fixture
def broken_intents(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the bundled intent packs with one YAML file broken: (folder, broken file)."""
    folder = tmp_path / "intents"
    shutil.copytree(bundled_dir("intents"), folder)
    target = folder / "shipping.yaml"
    # An unclosed flow sequence: a YAML syntax error, reported with a line number.
    target.write_text("id: shipping\nthreshold: 0.5\nkeywords: [包邮, 发货\n", encoding="utf-8")
    return folder, target


def write_stand_in_packs(root: Path, intents: dict[str, str]) -> dict[str, Path]:
    """Small packs of a test's own under ``root``: intent packs from ``intents`` (id -> YAML),
    one reply each, one customer type. For tests whose figures must not move when the
    bundled packs are tuned. Returns the folders as Engine/CLI arguments."""
    folders = {name: root / name for name in ("intents", "replies", "tags")}
    for folder in folders.values():
        folder.mkdir(parents=True)
    for name, text in intents.items():
        (folders["intents"] / f"{name}.yaml").write_text(text, encoding="utf-8")
        (folders["replies"] / f"{name}.yaml").write_text(
            f"intent: {name}\nreplies:\n  - {{id: {name}.a, text: 亲，好的}}\n", encoding="utf-8")
    (folders["tags"] / "irritable.yaml").write_text("id: irritable\nkeywords: [垃圾]\n", encoding="utf-8")
    shutil.copy(bundled_dir("replies") / "shop.yaml", folders["replies"] / "shop.yaml")
    return folders


def pack_args(folders: dict[str, Path]) -> list[str]:
    return [arg for name, folder in folders.items() for arg in (f"--{name}", str(folder))]
