"""The ``suggest`` command line: a thin click layer over the library.

Each command makes one library call and turns library errors into messages
on stderr and exit codes (2: broken packs or unusable input; 1: the command
ran and found something wrong). An agent runs ``suggest TEXT`` while a buyer
waits, so only click is imported up front: every other heavy module is
imported inside the command that needs it.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any, TypeVar

import click

from . import __version__

if TYPE_CHECKING:
    from .engine import Engine, Explanation
    from .errors import PackError
    from .results import Analysis
    from .stopping import StopRequest

F = TypeVar("F", bound=Callable[..., Any])

STDIN_LIMIT = 8 * 1024 * 1024  # bytes read from stdin; the engine reads only the first 2000 chars


class CliError(click.ClickException):
    """A message for the user (click prints ``Error: ...`` on stderr); exit status 1."""


class CannotRun(CliError):
    """Broken packs, unusable input, a missing file: exit status 2."""

    exit_code = 2


def _fail(message: str, status: int = 1) -> CliError:
    return CannotRun(message) if status == 2 else CliError(message)


# -- the group: `suggest TEXT` and `suggest COMMAND` ------------------------------------------

class DefaultGroup(click.Group):
    """A group whose first argument, when it names no command, is the buyer's message.

    ``suggest 包邮吗`` runs the hidden ``analyze`` command; ``suggest check``
    runs ``check``. To analyse a message that is a command name, write
    ``suggest analyze check``.
    """

    default_command = "analyze"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # Not while completing (resilient parsing): there the first word is a command being typed.
        if (args and not ctx.resilient_parsing and args[0] not in self.commands
                and args[0] not in ("--help", "-h", "--version")):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path, "[OPTIONS] TEXT | COMMAND [ARGS]...")


# Parameter types made once and shared: each click.Path() looks up translations (~0.1 ms).
_DIR = click.Path(exists=True, file_okay=False)
_FILE = click.Path(exists=True, dir_okay=False)


def _packs(f: F) -> F:
    """The options that choose packs, shared by every command that loads them."""
    options = [
        click.option("--intents", type=_DIR, metavar="DIR", help="Folder of intent packs (default: the bundled ones)."),
        click.option("--replies", type=_DIR, metavar="DIR",
                     help="Folder of reply packs; its shop.yaml is used unless --shop is given."),
        click.option("--tags", type=_DIR, metavar="DIR", help="Folder of customer-type (tag) packs."),
        click.option("--shop", type=_FILE, metavar="FILE", help="Shop profile (YAML) that fills the reply templates."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _top(f: F) -> F:
    return click.option("--top", default=3, show_default=True, type=click.IntRange(0, 50), metavar="N",
                        help="How many replies to suggest.")(f)


def _history(f: F) -> F:
    f = click.option("--agent", "-A", "agent_said", metavar="MSG",
                     help="What the agent said last (reads a short answer such as 可以 or 要那么久啊).")(f)
    return click.option("--history", "-H", "history", multiple=True, metavar="MSG",
                        help="An earlier message of the same buyer (repeatable, oldest first).")(f)


def _chat_so_far(history: tuple[str, ...], agent_said: str | None) -> list[Any]:
    """The buyer's earlier messages, then the agent's last message, as Engine.analyze takes them."""
    chat: list[Any] = [_valid_text(h, "--history") for h in history]
    if agent_said is not None:
        chat.append({"role": "agent", "text": _valid_text(agent_said, "--agent")})
    return chat


def _json(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON (one line) instead of text.")(f)


@click.group("suggest", cls=DefaultGroup, context_settings={"help_option_names": ["-h", "--help"]},
             epilog="""\b
Examples:
  suggest "包邮吗 几天能到"              intents, buyer type, numbered replies
  suggest --json -H "拍了还没付" "能便宜点吗"
  echo "怎么退货" | suggest -
  suggest chat                          one line per buyer message
  suggest batch messages.jsonl --workers 2 > results.jsonl
  suggest check --intents my-intents/

\b
Options of `suggest TEXT` (--json, --history, --top, --copy, packs):
`suggest analyze --help`. Each command's own: `suggest COMMAND --help`.""")
@click.version_option(__version__, "--version", prog_name="suggest", message="%(prog)s %(version)s")
def cli() -> None:
    """Quick replies for a Chinese e-commerce buyer's message (Taobao, Tmall, JD).

    `suggest TEXT` says what the buyer wants (intents, with scores), who they
    seem to be (customer types) and which replies to send, numbered and
    ready to copy. The other commands batch, chat, check packs, evaluate,
    explain and review an agent's draft.
    """


# -- shared helpers --------------------------------------------------------------------------

def _color(stream: IO[str] | None = None) -> bool:
    """Colours only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    stream = stream or sys.stdout
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _styler(on: bool) -> Callable[..., str]:
    def style(text: str, **kwargs: Any) -> str:
        return click.style(text, **kwargs) if on else text

    return style


def _binary(name: str) -> IO[bytes]:
    """The byte stream under sys.stdin/stdout (looked up each time: CliRunner swaps them)."""
    stream = getattr(sys, name)
    return getattr(stream, "buffer", stream)  # type: ignore[no-any-return]


def _err(message: str) -> None:
    click.echo(message, err=True)


def _write_json(obj: Any, stream: IO[bytes] | None = None) -> None:
    # Bytes, so a non-UTF-8 locale cannot turn Chinese text into an encoding traceback.
    import json

    out = stream or _binary("stdout")
    out.write(json.dumps(obj, ensure_ascii=False).encode("utf-8", "replace") + b"\n")
    out.flush()


def _pack_error(exc: PackError) -> CliError:
    problems = [p for p in exc.problems if p.severity == "error"] or list(exc.problems)
    lines = [str(p) for p in problems] or [str(exc)]
    count = len(lines)
    return _fail(f"the packs are broken ({count} problem{'s' if count != 1 else ''}):\n"
                 + "\n".join(lines) + "\n(`suggest check` lists every problem and warning)", 2)


@contextmanager
def _library_errors() -> Iterator[None]:
    """Library exceptions as messages and exit codes, never a traceback."""
    from .errors import InputError, PackError

    try:
        yield
    except PackError as exc:
        raise _pack_error(exc) from None
    except InputError as exc:
        raise _fail(str(exc), 2) from None
    except OSError as exc:
        where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        raise _fail(f"cannot read{where}: {exc.strerror or exc}", 2) from None
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("suggest."):
            raise
        # a part of the library this command needs is missing from this build
        raise _fail(f"this build of suggest lacks {exc.name}; reinstall it", 2) from None


def _engine(intents: str | None, replies: str | None, tags: str | None, shop: str | None) -> Engine:
    from .engine import Engine

    with _library_errors():
        return Engine(intents=intents, replies=replies, tags=tags, shop=shop)


def _valid_text(text: str, what: str) -> str:
    # argv that is not UTF-8 arrives with surrogate escapes; say so instead of printing garbage
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _fail(f"{what} is not valid UTF-8 text", 2) from None
    return text


def _read_stdin(what: str = "the message") -> str:
    import codecs

    data = _binary("stdin").read(STDIN_LIMIT + 1)
    cut = len(data) > STDIN_LIMIT
    data = data[:STDIN_LIMIT]
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    try:
        # final=False when cut: a character split at the cut is dropped, not an error
        return codecs.getincrementaldecoder("utf-8")().decode(data, final=not cut)
    except UnicodeDecodeError as exc:
        raise _fail(f"{what} on stdin is not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset "
                    f"{exc.start}); send it as UTF-8 text", 2) from None


def _text_arg(words: Sequence[str], what: str = "the message") -> str:
    """TEXT given as one or more words (joined by spaces), or ``-`` for stdin."""
    if list(words) == ["-"]:
        return _read_stdin(what)
    return _valid_text(" ".join(words), what)


def _truncation_note(analysis: Analysis) -> None:
    if analysis.truncated:
        from .normalize import MAX_INPUT_CHARS

        _err(f"note: the message is longer than {MAX_INPUT_CHARS} characters; only the first "
             f"{MAX_INPUT_CHARS} were read")


def format_analysis(analysis: Analysis, style: Callable[..., str]) -> str:
    """The agent's view: intents with scores and what fired, buyer types, numbered replies."""

    def why(evidence: Sequence[Any]) -> str:
        seen: list[str] = []
        for e in evidence:
            label = "earlier message" if e.kind == "history" else (e.text or e.pattern)
            if label not in seen:
                seen.append(label)
        return ", ".join(seen[:4])

    lines: list[str] = []
    if analysis.intents:
        for i, m in enumerate(analysis.intents):
            head = "intents " if i == 0 else "        "
            lines.append(f"{head} {style(m.id, fg='cyan', bold=True)} {m.score:.2f}"
                         + style(f"  ← {why(m.evidence)}", dim=True))
    else:
        lines.append("intents  none: nothing the shop has to answer")
    if analysis.tags:
        tags = ", ".join(f"{style(t.id, fg='magenta')} {t.score:.2f}" for t in analysis.tags)
        lines.append(f"buyer    {tags}")
    if analysis.situations:
        lines.append(f"case     {', '.join(analysis.situations)}")
    if analysis.stage:
        lines.append(f"stage    {analysis.stage.replace('_', '-')}")
    if analysis.slots:
        lines.append(f"slots    {format_slots(analysis.slots)}")
    if analysis.replies:
        lines.append("replies")
        for n, reply in enumerate(analysis.replies, 1):
            body = reply.text.replace("\n", "\n     ")
            lines.append(f"  {style(str(n), fg='yellow', bold=True)}. {body}")
    elif analysis.intents:
        lines.append("replies  none in the reply packs for this")
    return "\n".join(lines)


def format_slots(slots: Sequence[Any]) -> str:
    """height 165 ← 165, weight 55 ← 110斤 (earlier message)."""
    return ", ".join(f"{s.name} {s.value} ← {s.text}" + (" (earlier message)" if s.source == "history" else "")
                     for s in slots)


def _copy_reply(analysis: Analysis, number: int) -> None:
    from .clipboard import ClipboardUnavailable, copy

    if not analysis.replies:
        raise _fail("--copy: there is no reply to copy for this message", 1)
    if number > len(analysis.replies):
        raise _fail(f"--copy {number}: there are only {len(analysis.replies)} replies", 1)
    try:
        where = copy(analysis.replies[number - 1].text)
    except ClipboardUnavailable as exc:
        raise _fail(f"reply {number} was not copied: {exc}", 1) from None
    _err(f"copied reply {number} to the clipboard ({where})")


# -- suggest TEXT ----------------------------------------------------------------------------

@cli.command("analyze", hidden=True, epilog="""\b
Examples:
  suggest "包邮吗 几天能到"
  suggest 在吗 --top 2
  suggest --json -H "这个拍了还没付款" "能便宜点吗"
  echo "怎么退货" | suggest -
  suggest --copy 1 "尺码偏大吗"      put reply 1 on the clipboard""")
@click.argument("text", nargs=-1, required=True)
@_history
@_packs
@_top
@click.option("--copy", "copy_n", type=click.IntRange(min=1), metavar="N",
              help="Put reply N on the clipboard (exit 1, saying why, when there is none).")
@_json
def analyze(text: tuple[str, ...], history: tuple[str, ...], agent_said: str | None, intents: str | None,
            replies: str | None, tags: str | None, shop: str | None, top: int, copy_n: int | None,
            as_json: bool) -> None:
    """Intents, buyer type and numbered replies for a buyer's message.

    TEXT is the message (several words are joined with spaces); `-` reads it
    from stdin.
    """
    message = _text_arg(text)
    earlier = _chat_so_far(history, agent_said)
    engine = _engine(intents, replies, tags, shop)
    with _library_errors():
        analysis = engine.analyze(message, earlier, top=max(top, copy_n or 0))
    if as_json:
        _write_json(analysis.to_dict())
    else:
        click.echo(format_analysis(analysis, _styler(_color())))
    _truncation_note(analysis)
    if copy_n is not None:
        _copy_reply(analysis, copy_n)


# -- suggest batch ---------------------------------------------------------------------------

@cli.command(epilog="""\b
Examples:
  suggest batch messages.jsonl > results.jsonl
  suggest batch messages.jsonl --workers 2 --top 2 > results.jsonl
  printf '{"text": "包邮吗"}\\n{"text": "那M呢", "history": ["多大尺码"]}\\n' | suggest batch -

\b
Input: one JSON object a line, {"text": "...", "history": ["...", ...]}.
Output: one JSON line per non-empty input line, in order:
  {"line": N, "intents": [...], "tags": [...], "replies": [...], ...}
or {"line": N, "error": "..."} for a bad line. Exit status 1 if any line failed.
A message with nothing to read ([图片] alone) gets "empty": true, no intents.
SIGTERM/SIGINT: whole lines only, then exit 143/130.

\b
On a Dask cluster (pip install 'suggest[dask]'), several files at once:
  suggest batch --dask tcp://scheduler:8786 day1.jsonl day2.jsonl > results.jsonl
(with several files each record names its "file").""")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--workers", "-w", default=1, show_default=True, type=click.IntRange(1, 64), metavar="N",
              help="Processes to analyse with (results keep the input order).")
@click.option("--dask", "dask_address", metavar="SCHEDULER_ADDRESS",
              help="Analyse on this Dask scheduler's workers (the packs are shipped to them).")
@_packs
@_top
@click.option("--json", "as_json", is_flag=True, help="Accepted for symmetry: batch output is always JSONL.")
def batch(files: tuple[str, ...], workers: int, dask_address: str | None, intents: str | None,
          replies: str | None, tags: str | None, shop: str | None, top: int, as_json: bool) -> None:
    """Analyse a JSONL file (or `-` for stdin) of buyer messages, streaming."""
    from .batch import WorkerError, run_batch_jsonl
    from .stopping import Stopped, stop_on_signals

    with stop_on_signals() as stop:
        engine = _engine(intents, replies, tags, shop)  # broken packs: report once, before any output
        if dask_address:
            _batch_dask(files, dask_address, intents, replies, tags, shop, top, stop)
            return
        if len(files) > 1:
            raise _fail("several files need --dask; without it, give one file (or -)", 2)
        stream, size = _open_input(files[0])
        out = _binary("stdout")
        counter = _ByteCounter(_input_lines(stream))
        engine_args = {"intents": intents, "replies": replies, "tags": tags, "shop": shop}
        failed = done = 0
        results = run_batch_jsonl(counter, workers, engine_args, top=top, engine=engine)
        try:
            with _progress(size) as progress, contextlib.closing(results):
                # Reading and waiting for workers may be cut short by SIGTERM/SIGINT;
                # writing a line never is, so stdout always ends on a whole line.
                while not stop.requested:
                    with stop.interruptible():
                        item = next(results, None)
                    if item is None:
                        break
                    is_error, line = item
                    out.write(line)
                    failed += is_error
                    done += 1
                    progress(counter.bytes)
        except Stopped:
            pass
        except WorkerError as exc:
            raise _fail(f"a worker could not load the packs: {exc}", 2) from None
        except BrokenPipeError:
            raise  # the reader left (`| head`): click exits quietly
        except OSError as exc:
            raise _fail(f"batch stopped: {exc.strerror or exc}", 2) from None
        finally:
            if stream is not _binary("stdin"):
                stream.close()
        out.flush()
    if stop.requested:
        _err(f"batch stopped by {stop.signal_name}: {done} line{'s' if done != 1 else ''} done "
             f"(each written whole to stdout)")
        sys.exit(stop.exit_status)
    if failed:
        _err(f"{failed} line{'s' if failed != 1 else ''} failed (see the \"error\" records)")
        sys.exit(1)


def _open_input(file: str) -> tuple[IO[bytes], int]:
    """``file`` (or stdin for ``-``) opened for reading bytes, and its size for the progress bar
    (0 when unknown). The caller closes it unless it is stdin."""
    if file == "-":
        return _binary("stdin"), 0
    try:
        stream = open(file, "rb")  # noqa: SIM115 - the caller closes it
        return stream, os.fstat(stream.fileno()).st_size
    except OSError as exc:
        raise _fail(f"cannot read {file}: {exc.strerror or exc}", 2) from None


def _input_lines(stream: IO[bytes]) -> Iterator[bytes]:
    """The stream's lines, read from its file descriptor when it has one (see read_fd_lines)."""
    from .batch import read_fd_lines, read_lines

    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
        return read_lines(stream)  # an in-memory stream (tests, embedding)
    return read_fd_lines(fd)


def _batch_dask(files: Sequence[str], address: str, intents: str | None, replies: str | None,
                tags: str | None, shop: str | None, top: int, stop: StopRequest) -> None:
    from .stopping import Stopped

    if "-" in files:
        raise _fail("--dask reads files by path (the workers read them), not stdin", 2)
    for file in files:
        if not os.path.isfile(file):
            raise _fail(f"cannot read {file}: no such file", 2)
    try:
        from .scale import PackBundle, run_batch_dask_jsonl
    except ModuleNotFoundError as exc:
        raise _fail(f"--dask needs {exc.name}: pip install 'suggest[dask]'", 2) from None

    out = _binary("stdout")
    failed = 0
    try:
        bundle = PackBundle.of(intents=intents, replies=replies, tags=tags, shop=shop)
        results = run_batch_dask_jsonl(list(files), address, bundle=bundle, top=top)
        while not stop.requested:
            with stop.interruptible():  # waiting for the cluster may be cut short; writing never is
                item = next(results, None)
            if item is None:
                break
            errors, lines = item
            out.write(lines)
            failed += errors
        out.flush()
    except Stopped:
        pass
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise _fail(f"batch stopped: {exc.strerror or exc}", 2) from None
    except Exception as exc:  # the scheduler cannot be reached, a worker died: say so, no traceback
        raise _fail(f"the Dask run failed: {type(exc).__name__}: {exc}", 2) from None
    if stop.requested:
        _err(f"batch stopped by {stop.signal_name} (each written line is whole)")
        sys.exit(stop.exit_status)
    if failed:
        _err(f"{failed} line{'s' if failed != 1 else ''} failed (see the \"error\" records)")
        sys.exit(1)


class _ByteCounter:
    """Counts the bytes read, for the progress bar (read from another thread with --workers)."""

    def __init__(self, lines: Iterator[bytes]) -> None:
        self.lines = lines
        self.bytes = 0

    def __iter__(self) -> Iterator[bytes]:
        for raw in self.lines:
            self.bytes += len(raw)
            yield raw


@contextmanager
def _progress(size: int, label: str = "batch", force: bool = False) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr, only when stderr is a terminal or asked for (never mixed into the output)."""
    stderr = sys.stderr
    if not (force or stderr.isatty()):
        yield lambda done: None
        return
    import time

    if size:
        with click.progressbar(length=size, file=stderr, label=label, show_eta=True,
                               color=_color(stderr)) as bar:
            shown, drawn_at = 0, 0.0

            def update(done: int) -> None:
                nonlocal shown, drawn_at
                now = time.monotonic()
                if now - drawn_at > 0.1:  # drawing every line would cost more than the analysis
                    bar.update(done - shown)
                    shown, drawn_at = done, now

            yield update
            bar.update(size - shown)
        return
    lines, drawn = 0, 0.0

    def tick(done: int) -> None:
        nonlocal lines, drawn
        lines += 1
        now = time.monotonic()
        if now - drawn > 0.2:
            stderr.write(f"\r{label}: {lines:,} lines")
            stderr.flush()
            drawn = now

    yield tick
    stderr.write(f"\r{label}: {lines:,} lines\n")


# -- suggest report / suggest mine ------------------------------------------------------------

def _log_options(f: F) -> F:
    options = [
        click.argument("log", type=click.Path(dir_okay=False, allow_dash=True)),
        click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True,
                     help="The log's format: JSONL (one message a line) or CSV with a header."),
        click.option("--column", "columns", multiple=True, metavar="FIELD=HEADER",
                     help="CSV: the header of a field's column, e.g. --column text=内容 (repeatable)."),
        click.option("--progress", is_flag=True, help="Draw the progress bar even when stderr is no terminal."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@contextmanager
def _log_lines(log: str, fmt: str, columns: Sequence[str], label: str, progress: bool) -> Iterator[Iterator[Any]]:
    """The log's messages, with a progress bar drawn as they are read."""
    from .chatlog import parse_columns, read_log
    from .errors import InputError

    try:
        mapping = parse_columns(columns)
    except InputError as exc:
        raise _fail(str(exc), 2) from None
    stream, size = _open_input(log)

    def lines(update: Callable[[int], None]) -> Iterator[Any]:
        for line in read_log(stream, fmt, mapping):
            yield line
            update(stream.tell() if size else 1)

    try:
        with _progress(size, label, progress) as update:
            yield lines(update)
    except InputError as exc:
        raise _fail(f"{log}: {exc}", 2) from None
    except UnicodeDecodeError:
        raise _fail(f"{log}: not UTF-8", 2) from None
    finally:
        if stream is not _binary("stdin"):
            stream.close()


@cli.command(epilog="""\b
Examples:
  suggest report chats.jsonl --html report.html
  suggest report chats.csv --format csv --column text=内容 --column session=会话ID --html report.html
  suggest report chats.jsonl --json > figures.json

\b
A log line is a message: text, and optional session (or buyer), role
(buyer/agent) and time. Agent lines are context, not buyer messages.""")
@_log_options
@click.option("--html", "html_out", type=click.Path(dir_okay=False, writable=True), metavar="OUT.html",
              help="Write the report as one self-contained HTML file.")
@click.option("--json", "as_json", is_flag=True, help="Print the report's figures as JSON on stdout.")
@click.option("--title", default="聊天记录报告", show_default=True, help="The HTML page's title.")
@click.option("--dask", "dask_address", metavar="SCHEDULER_ADDRESS",
              help="Count a JSONL log on this Dask scheduler's workers, range by range, and merge the counts.")
@_packs
def report(log: str, fmt: str, columns: tuple[str, ...], progress: bool, html_out: str | None, as_json: bool,
           title: str, dask_address: str | None, intents: str | None, replies: str | None, tags: str | None,
           shop: str | None) -> None:
    """What a chat log says: intents, buyer types, unanswered messages, rules, complaints."""
    from .packs import load_packs
    from .report import count_log
    from .sources import PackSources
    from .stopping import stop_on_signals

    with stop_on_signals() as stop:
        engine = _engine(intents, replies, tags, shop)
        done = [0]
        if dask_address:
            counts = _report_dask(log, fmt, dask_address, intents, replies, tags, shop)
        else:
            with _log_lines(log, fmt, columns, "report", progress) as lines:
                counts = count_log(_until_stopped(lines, stop, done), engine)
    if stop.requested:
        # half a log's figures would read as the whole log's: nothing is written
        _err(f"report stopped by {stop.signal_name} after {done[0]:,} log line{'s' if done[0] != 1 else ''}: "
             "no report written")
        sys.exit(stop.exit_status)
    figures = counts.figures(load_packs(PackSources.of(intents=intents, tags=tags, replies=replies, shop=shop)))
    if html_out:
        from .report_html import render_html

        try:
            with open(html_out, "w", encoding="utf-8") as out:
                out.write(render_html(figures, title))
        except OSError as exc:
            raise _fail(f"cannot write {html_out}: {exc.strerror or exc}", 2) from None
    if as_json:
        _write_json(figures)
    elif not html_out:
        click.echo(format_report(figures))
    failed = figures["errors"]["count"]
    if failed:
        _err(f"{failed} line{'s' if failed != 1 else ''} could not be read (the report counts the rest)")
        sys.exit(1)


def _until_stopped(lines: Iterable[Any], stop: StopRequest, done: list[int]) -> Iterator[Any]:
    """The lines until a stop signal comes (reading may be cut short; counting never is)."""
    from .stopping import Stopped

    source = iter(lines)
    while not stop.requested:
        try:
            with stop.interruptible():
                item = next(source)
        except (StopIteration, Stopped):
            return
        done[0] += 1
        yield item


def _report_dask(log: str, fmt: str, address: str, intents: str | None, replies: str | None,
                 tags: str | None, shop: str | None) -> Any:
    if fmt != "jsonl" or log == "-":
        raise _fail("--dask reads a JSONL log by path (the workers read it)", 2)
    if not os.path.isfile(log):
        raise _fail(f"cannot read {log}: no such file", 2)
    try:
        from .scale import PackBundle, report_dask
    except ModuleNotFoundError as exc:
        raise _fail(f"--dask needs {exc.name}: pip install 'suggest[dask]'", 2) from None
    try:
        bundle = PackBundle.of(intents=intents, replies=replies, tags=tags, shop=shop)
        return report_dask([log], address, bundle=bundle)
    except OSError as exc:
        raise _fail(f"the Dask run failed: {exc.strerror or exc}", 2) from None
    except Exception as exc:  # the scheduler cannot be reached, a worker died: say so, no traceback
        raise _fail(f"the Dask run failed: {type(exc).__name__}: {exc}", 2) from None


def format_report(figures: dict[str, Any]) -> str:
    """A few lines for the terminal."""
    lines = [f"buyer messages {figures['messages']:,}, without an intent {figures['unanswered']:,} "
             f"({figures['unanswered_share']:.1%}), agent lines {figures['agent_lines']:,}",
             "intents  " + ", ".join(f"{r['id']} {r['messages']:,}" for r in figures["intents"][:8])]
    groups = figures["unanswered_groups"][:5]
    if groups:
        lines.append("unanswered")
        lines.extend(f"  {g['messages']:>6,}  {' / '.join(g['examples'][:3])}" for g in groups)
    sessions = figures["sessions"]
    lines.append(f"sessions {sessions['count']:,}, ended on a complaint {sessions['ended_on_complaint']:,}")
    return "\n".join(lines)


@cli.command(epilog="""\b
Examples:
  suggest mine chats.jsonl > proposals.yaml
  suggest mine chats.csv --format csv --column text=内容 --min-support 5

\b
Groups the buyer messages the packs left without an intent and prints, per
group, a YAML snippet (a word class, a template, the intent it most likely
belongs to, examples from the log) with its support. Nothing is written
into the packs: review a snippet, then paste it into the pack it names.""")
@_log_options
@click.option("--min-support", default=3, show_default=True, type=click.IntRange(min=2), metavar="N",
              help="Messages a proposal must match at least.")
@click.option("--max", "max_proposals", default=30, show_default=True, type=click.IntRange(min=1), metavar="N",
              help="Proposals at most.")
@click.option("--json", "as_json", is_flag=True, help="One JSON line per proposal instead of YAML.")
@_packs
def mine(log: str, fmt: str, columns: tuple[str, ...], progress: bool, min_support: int, max_proposals: int,
         as_json: bool, intents: str | None, replies: str | None, tags: str | None, shop: str | None) -> None:
    """Propose rules from the messages no pack answered."""
    from .mine import mine as mine_proposals
    from .mine import pack_hints, unanswered_messages
    from .packs import load_packs
    from .sources import PackSources

    engine = _engine(intents, replies, tags, shop)
    with _log_lines(log, fmt, columns, "mine", progress) as lines:
        unanswered = unanswered_messages(lines, engine)
    packs = load_packs(PackSources.of(intents=intents, tags=tags, replies=replies, shop=shop))
    proposals = mine_proposals(unanswered, packs, min_support=min_support, max_proposals=max_proposals,
                               hints=pack_hints(unanswered, engine))
    if as_json:
        for proposal in proposals:
            _write_json(proposal.to_dict())
        return
    total = sum(unanswered.values())
    click.echo(f"# {len(proposals)} proposal{'s' if len(proposals) != 1 else ''} from {total:,} "
               f"message{'s' if total != 1 else ''} without an intent; nothing was written into the packs\n")
    click.echo("\n".join(p.to_yaml() for p in proposals), nl=False)


# -- suggest check ---------------------------------------------------------------------------

@cli.command(epilog="""\b
Examples:
  suggest check
  suggest check --intents shop/intents --replies shop/replies --shop shop/profile.yaml

\b
Prints FILE:LINE: key.path: message for every problem, errors first, then
warnings (overlapping rules). Exit status 2 on any error, 0 otherwise.""")
@_packs
def check(intents: str | None, replies: str | None, tags: str | None, shop: str | None) -> None:
    """Validate the packs and the shop profile."""
    with _library_errors():
        from .checking import check as check_packs

        problems = check_packs(intents=intents, replies=replies, tags=tags, shop=shop)
    errors = [p for p in problems if p.severity != "warning"]
    warnings = [p for p in problems if p.severity == "warning"]
    style = _styler(_color())
    for problem in errors:
        click.echo(style(str(problem), fg="red"))
    for problem in warnings:
        click.echo(style(str(problem), fg="yellow"))
    if not problems:
        click.echo(style("ok: no problems in the packs", fg="green"))
    else:
        click.echo(f"{len(errors)} error{'s' if len(errors) != 1 else ''}, "
                   f"{len(warnings)} warning{'s' if len(warnings) != 1 else ''}")
    if errors:
        sys.exit(2)


# -- suggest eval ----------------------------------------------------------------------------

@cli.command("eval", epilog="""\b
Examples:
  suggest eval ../shared/eval/dev.jsonl
  suggest eval labelled.jsonl --errors          also list false positives/negatives
  suggest eval labelled.jsonl --json | jq .intents.micro

\b
FILE holds one {"text", "intents", "tags", "history"} object a line.""")
@click.argument("file", type=_FILE)
@_json
@click.option("--errors", "show_errors", is_flag=True,
              help="Also list every false positive and false negative, grouped by intent.")
@_packs
def evaluate(file: str, as_json: bool, show_errors: bool, intents: str | None, replies: str | None,
             tags: str | None, shop: str | None) -> None:
    """Precision, recall and F1 per intent (and tags) on a labelled JSONL file."""
    engine = _engine(intents, replies, tags, shop)
    with _library_errors():
        from .evaluation import evaluate as run_eval
        from .evaluation import read_labelled

        try:
            rows = read_labelled(file)
        except ValueError as exc:  # a bad labelled line, or invalid UTF-8
            raise _fail(str(exc), 2) from None
        report = run_eval(engine, rows)
    if as_json:
        data = report.to_dict()
        if not show_errors:
            data.pop("errors", None)
        _write_json(data)
        return
    click.echo(report.format_table())
    if show_errors:
        listing = report.format_errors()
        click.echo("\n" + (listing or "no false positives or negatives"))


# -- suggest explain -------------------------------------------------------------------------

@cli.command(epilog="""\b
Examples:
  suggest explain "包油吗 几天到"
  suggest explain -H "发货了吗" "？"
  suggest explain --json "能便宜点吗 质量不好我就退" """)
@click.argument("text", nargs=-1, required=True)
@_history
@_json
@_packs
def explain(text: tuple[str, ...], history: tuple[str, ...], agent_said: str | None, as_json: bool,
            intents: str | None, replies: str | None, tags: str | None, shop: str | None) -> None:
    """Every rule of every pack that fired or nearly fired on TEXT, with scores."""
    message = _text_arg(text)
    earlier = _chat_so_far(history, agent_said)
    engine = _engine(intents, replies, tags, shop)
    with _library_errors():
        explanation = engine.explain(message, earlier)
    if as_json:
        _write_json(explanation.to_dict())
    else:
        click.echo(format_explanation(explanation, _styler(_color())))


def format_explanation(explanation: Explanation, style: Callable[..., str]) -> str:
    lines = ["tokens   " + " / ".join(t[0] for t in explanation.tokens)]
    analysis = explanation.analysis
    chosen = set(analysis.intent_ids) | set(analysis.tag_ids) | set(analysis.situations)
    for row in explanation.rows:
        if not row.evidence and not row.excluded_by:
            continue
        if row.excluded_by:
            verdict = style(f"excluded by /{row.excluded_by}/", fg="red")
        elif row.id in chosen:
            verdict = style("fired", fg="green", bold=True)
        elif row.score >= row.threshold and row.kind == "situation":
            verdict = "above threshold, dropped (its intent is not in the message)"
        elif row.score >= row.threshold:
            verdict = "above threshold, dropped (yields to another intent)"
        else:
            verdict = "below threshold"
        lines.append(f"{row.kind:<10}{style(row.id, fg='cyan')} {row.score:.3f} "
                     f"(threshold {row.threshold:g})  {verdict}")
        for e in row.evidence:
            lines.append(f"         {e.kind} {e.pattern!r} → {e.text!r} [{e.start}:{e.end}] weight {e.weight:.2f}")
    if explanation.near:
        lines.append("near misses")
        for n in explanation.near:
            lines.append(f"         {n.rule_set} {n.kind} {n.pattern!r} scored {n.score} "
                         f"(needs {n.needed}) on {n.text!r}")
    for slot in explanation.analysis.slots:
        where = f"earlier message -{slot.turns_ago}" if slot.source == "history" else "message"
        lines.append(f"slot     {style(slot.name, fg='cyan')} = {slot.value!r} ← {slot.text!r} "
                     f"[{slot.start}:{slot.end}] ({where})")
    result = ", ".join(explanation.analysis.intent_ids) or "no intent"
    lines.append(f"result   {result}")
    return "\n".join(lines)


# -- suggest review --------------------------------------------------------------------------

@cli.command(epilog="""\b
Examples:
  suggest review "不讲价，爱买不买"
  suggest review --buyer "收到就坏了！！" "不可能，我们质量一直很好"
  suggest review --json "亲，这款已经是活动价了，可以领店铺券再减5元哦"

\b
Exit status 0 when the draft is fine, 1 when it found problems.""")
@click.argument("draft", nargs=-1, required=True)
@click.option("--buyer", "buyer", metavar="MSG", help="The buyer message the draft answers.")
@_json
@_packs
def review(draft: tuple[str, ...], buyer: str | None, as_json: bool, intents: str | None,
           replies: str | None, tags: str | None, shop: str | None) -> None:
    """Check an agent's DRAFT reply for what the training material calls wrong."""
    text = _text_arg(draft, "the draft")
    buyer_message = _valid_text(buyer, "--buyer") if buyer is not None else None
    engine = _engine(intents, replies, tags, shop)
    with _library_errors():
        result = engine.review(text, buyer_message)
    if as_json:
        _write_json(result.to_dict())
    else:
        style = _styler(_color())
        if result.ok:
            click.echo(style("ok: nothing to fix in this draft", fg="green"))
        for n, problem in enumerate(result.problems, 1):
            click.echo(f"{style(str(n), fg='yellow', bold=True)}. [{problem.id}] {problem.reason}")
            click.echo(f"   「{problem.text}」 at {problem.start}-{problem.end}")
            if problem.suggestion:
                click.echo(f"   try: {problem.suggestion}")
    if not result.ok:
        sys.exit(1)


# -- suggest chat ----------------------------------------------------------------------------

@cli.command(epilog="""\b
Examples:
  suggest chat
  suggest chat --buyer 小王
  printf '包邮吗\\n/buyer 小李\\n怎么退货\\n' | suggest chat --json > answers.jsonl

\b
Each line is the current buyer's next message. Commands:
  /new [NAME]   a new buyer, fresh history     /history   this buyer's messages
  /buyer NAME   switch buyer (own history)     /copy N    reply N to the clipboard
  /buyer        list buyers                    /quit      end (so does Ctrl-D)
With --json, stdout carries exactly one JSON line per buyer message;
prompts, command output and errors go to stderr.""")
@click.option("--buyer", default="buyer1", show_default=True, metavar="NAME", help="The first buyer's name.")
@_json
@_top
@_packs
def chat(buyer: str, as_json: bool, top: int, intents: str | None, replies: str | None, tags: str | None,
         shop: str | None) -> None:
    """A conversation: paste each buyer message, get numbered replies."""
    from .chat import ChatSession
    from .stopping import Stopped, stop_on_signals

    with stop_on_signals() as stop:
        engine = _engine(intents, replies, tags, shop)
        session = ChatSession(engine, buyer=_valid_text(buyer, "--buyer"), top=top)
        stdin = _binary("stdin")
        interactive = _isatty(sys.stdin)
        # readline editing (arrows, history) only when input() would print its prompt on a terminal
        use_input = interactive and _isatty(sys.stdout) and not as_json
        if use_input:
            with contextlib.suppress(ImportError):
                import readline  # noqa: F401 - importing it is what turns line editing on
        style = _styler(_color())
        err_style = _styler(_color(sys.stderr))
        if interactive:
            _err(err_style("suggest chat: paste each buyer message; /help lists commands, /quit ends", dim=True))
        answered = 0
        try:
            while not stop.requested:
                prompt = f"{session.current}> "
                try:
                    # waiting for the agent's next line is where a stop signal may cut in;
                    # an answer is always printed whole
                    with stop.interruptible():
                        if use_input:
                            line = input(prompt)  # plain: escapes would confuse readline's line width
                        else:
                            if interactive:
                                click.echo(err_style(prompt, fg="green"), err=True, nl=False)
                            raw = stdin.readline()
                            if not raw:
                                break
                            line = raw.decode("utf-8")
                except EOFError:
                    break
                except UnicodeDecodeError:
                    _err("error: that line is not valid UTF-8; skipped")
                    continue
                outcome = session.handle_line(line)
                if outcome.kind == "quit":
                    break
                if outcome.kind == "analysis" and outcome.analysis is not None:
                    if as_json:
                        _write_json(outcome.to_dict())
                    else:
                        click.echo(format_analysis(outcome.analysis, style))
                    answered += 1
                    _truncation_note(outcome.analysis)
                elif outcome.kind == "info":
                    click.echo(outcome.text, err=as_json)
                elif outcome.kind == "error":
                    _err(err_style(f"error: {outcome.text}", fg="red"))
        except Stopped:
            pass
    if stop.requested:
        if interactive:
            _err("")  # off the prompt's line
        _err(f"chat stopped by {stop.signal_name} after {answered} buyer message{'s' if answered != 1 else ''}")
        sys.exit(stop.exit_status)
    if interactive:
        _err(err_style("bye", dim=True))


# -- suggest serve ---------------------------------------------------------------------------

@cli.command(epilog="""\b
Examples:
  suggest serve                                  http://127.0.0.1:8000/ : the agent console
  suggest serve --port 9000 --workers 2
  SUGGEST_TOKEN=s3cret suggest serve --host 0.0.0.0
  curl -s localhost:8000/v1/analyze -d '{"text": "包邮吗"}' -H 'content-type: application/json'

\b
Needs the serve extra: pip install 'suggest[serve]'. Endpoints: POST /v1/analyze,
/v1/explain, /v1/review, /v1/batch (NDJSON), /v1/reload; GET /v1/packs, /healthz,
/openapi.json, and / (the console). SIGHUP reloads the packs; SIGTERM stops
after the requests in flight (up to --grace seconds).""")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port to bind.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), metavar="N",
              help="Worker processes (each loads the packs once).")
@click.option("--token", envvar="SUGGEST_TOKEN", metavar="TOKEN",
              help="Bearer token every endpoint but /healthz wants (default: $SUGGEST_TOKEN).")
@click.option("--insecure", is_flag=True, help="Allow binding beyond loopback without a token.")
@click.option("--max-body", default=1024 * 1024, show_default=True, type=click.IntRange(1), metavar="BYTES",
              help="Largest request body (413 beyond it).")
@click.option("--max-history", default=100, show_default=True, type=click.IntRange(0), metavar="N",
              help="Most history items a request may send (400 beyond it).")
@click.option("--read-timeout", default=10.0, show_default=True, type=click.FloatRange(0.1), metavar="S",
              help="Seconds a client may take to send its whole body (408 beyond it).")
@click.option("--grace", default=10.0, show_default=True, type=click.FloatRange(0), metavar="S",
              help="On SIGTERM, seconds the requests in flight get to finish.")
@_packs
def serve(host: str, port: int, workers: int, token: str | None, insecure: bool, max_body: int,
          max_history: int, read_timeout: float, grace: float, intents: str | None, replies: str | None,
          tags: str | None, shop: str | None) -> None:
    """Serve the engine over HTTP, with the agent console at /."""
    try:
        from .serve import Settings, is_loopback, run
    except ModuleNotFoundError as exc:
        raise _fail(f"suggest serve needs the serve extra ({exc.name} is missing): "
                    "pip install 'suggest[serve]'", 2) from None
    if not token and not is_loopback(host) and not insecure:
        raise _fail(f"refusing to serve on {host} without a token: set SUGGEST_TOKEN or --token "
                    "(or pass --insecure to accept anyone who can reach it)", 2)
    import time

    started = time.perf_counter()
    engine = _engine(intents, replies, tags, shop)  # broken packs: report them before binding
    load_seconds = time.perf_counter() - started
    settings = Settings(intents=intents, replies=replies, tags=tags, shop=shop, token=token or None,
                        max_body=max_body, max_history=max_history, read_timeout=read_timeout)
    with _library_errors():
        run(settings, host, port, workers, grace, engine=engine if workers == 1 else None,
            load_seconds=load_seconds)


# -- suggest export / import (千牛 quick phrases) --------------------------------------------

_ENCODINGS = click.Choice(["utf-8-sig", "utf-8", "gbk"])


@cli.command("export", epilog="""\b
Examples:
  suggest export --format qianniu quick-phrases.csv
  suggest export --format qianniu --encoding gbk --shop my-shop.yaml old-qianniu.csv

\b
Writes the columns 快捷短语编码, 快捷短语, 快捷短语分组: a short code per reply
(unique, the same on every run), the reply filled from the shop profile, and
the intent's Chinese name as the group. UTF-8 with BOM unless --encoding gbk;
a reply GBK cannot hold is listed on stderr and left out (exit status 1).""")
@click.argument("out", type=click.Path(dir_okay=False, writable=True))
@click.option("--format", "fmt", type=click.Choice(["qianniu"]), default="qianniu", show_default=True,
              help="The file format (千牛 quick phrases).")
@click.option("--encoding", type=_ENCODINGS, default="utf-8-sig", show_default=True,
              help="utf-8-sig (UTF-8 with BOM) for current 千牛, gbk for older versions.")
@_packs
def export_cmd(out: str, fmt: str, encoding: str, intents: str | None, replies: str | None, tags: str | None,
               shop: str | None) -> None:
    """Write the reply packs as a 千牛 quick-phrase import file (CSV)."""
    from .qianniu import phrases_from_packs, write_csv

    with _library_errors():
        phrases = phrases_from_packs(intents=intents, replies=replies, tags=tags, shop=shop)
        result = write_csv(phrases, out, encoding=encoding)
    _err(f"wrote {result.written} quick phrases to {out}")
    for phrase, bad in result.unencodable:
        _err(f"not written: {phrase.code} ({phrase.source}): {encoding} cannot hold {bad!r}")
    if result.unencodable:
        sys.exit(1)


@cli.command("import", epilog="""\b
Examples:
  suggest import --format qianniu exported.csv --out my-shop/replies
  suggest check --replies my-shop/replies

\b
Each phrase goes to the reply pack of the intent its group names (the
intent's Chinese name or id); when the group says nothing, to the intent the
engine reads in the phrase. The rest land in OUT/unsorted.csv for the shop
to sort. Reads UTF-8 (with or without BOM) or GBK.""")
@click.argument("file", type=_FILE)
@click.option("--format", "fmt", type=click.Choice(["qianniu"]), default="qianniu", show_default=True,
              help="The file format (千牛 quick phrases).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), metavar="DIR",
              help="Folder for the reply packs (created; existing packs there are not overwritten).")
@click.option("--encoding", type=click.Choice(["auto", "utf-8", "gbk"]), default="auto", show_default=True,
              help="The file's encoding (auto: UTF-8 if it decodes, else GBK).")
@_packs
def import_cmd(file: str, fmt: str, out_dir: str, encoding: str, intents: str | None, replies: str | None,
               tags: str | None, shop: str | None) -> None:
    """Turn a 千牛 quick-phrase export (CSV) into reply packs."""
    from .qianniu import QianniuError, import_phrases, read_phrases

    engine = _engine(intents, replies, tags, shop)
    with _library_errors():
        try:
            phrases = read_phrases(file, encoding=encoding)
            result = import_phrases(phrases, out_dir, engine, intents=intents, source_name=file)
        except QianniuError as exc:
            raise _fail(str(exc), 2) from None
    for path, count in result.written:
        _err(f"wrote {count} replies to {path}")
    if result.unsorted:
        _err(f"{result.unsorted} phrases had no intent: sort them in {result.unsorted_file}")


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="suggest")


if __name__ == "__main__":  # pragma: no cover
    main()
