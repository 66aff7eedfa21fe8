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


# -- a real `suggest serve` process (tests/test_serve*.py) ------------------------------------

class Server:
    """A `suggest serve` process on a free loopback port."""

    def __init__(self, process: subprocess.Popen[bytes], url: str, packs: Path, log: Path) -> None:
        self.process, self.url, self.packs, self.log = process, url, packs, log

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(folder: Path, *extra: str, env: dict[str, str] | None = None, copy_packs: bool = True) -> Server:
    """Start `suggest serve` (on copies of the bundled packs under ``folder``); waits for /healthz.

    Without ``copy_packs`` it serves the bundled packs, whose compiled program is cached already.
    """
    import time

    import httpx

    packs_dir = folder / "packs"
    pack_options: list[str] = []
    if copy_packs:
        for name in ("intents", "tags", "replies"):
            if not (packs_dir / name).exists():
                shutil.copytree(bundled_dir(name), packs_dir / name)
            pack_options += [f"--{name}", str(packs_dir / name)]
    port = free_port()
    log = folder / f"serve-{port}.log"
    args = [sys.executable, "-m", "suggest", "serve", "--port", str(port), *pack_options, *extra]
    with open(log, "wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                   env={**os.environ, **(env or {})})
    server = Server(process, f"http://127.0.0.1:{port}", packs_dir, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"suggest serve ended at start:\n{server.log_text()}")
        try:
            if httpx.get(server.url + "/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    stop_server(server)
    raise RuntimeError(f"suggest serve did not answer within 60 s:\n{server.log_text()}")


def stop_server(server: Server, timeout: float = 20) -> int:
    import signal

    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(5)
    return server.process.returncode


@pytest.fixture(scope="session")
def server(_private_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One `suggest serve` for the session (no token; a 1 s read timeout to test slow clients)."""
    for module in ("fastapi", "uvicorn", "httpx"):
        pytest.importorskip(module)
    running = start_server(tmp_path_factory.mktemp("serve"), "--read-timeout", "1", "--grace", "5")
    yield running
    stop_server(running)


TOKEN = "s3cret-token"


@pytest.fixture(scope="session")
def guarded(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A second `suggest serve`: two workers, a token from SUGGEST_TOKEN, the bundled packs."""
    running = start_server(tmp_path_factory.mktemp("guarded"), "--workers", "2", env={"SUGGEST_TOKEN": TOKEN},
                           copy_packs=False)
    yield running
    assert stop_server(running) == 0
