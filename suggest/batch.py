"""Analyse a JSONL stream of buyer messages: one result record per input line.

Input lines are handled as bytes, one at a time, so a file of any size is
read with flat memory and a bad line (invalid UTF-8, not JSON, no ``text``)
becomes an error record at its place instead of ending the run. A message
that is empty once normalised (``[图片]`` alone) is no error: its record has
no intents and ``"empty": true``. With several workers, each process builds
its own ``Engine`` once; results keep the input order and only a bounded
number of lines is in flight at any time. Workers ignore SIGTERM and SIGINT:
the caller stops the run (see ``suggest.stopping``) and the workers are
joined before ``run_batch`` returns, whichever way it ends.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Generator, Iterable, Iterator
from typing import IO, TYPE_CHECKING, Any

import orjson

from .errors import InputError
from .normalize import is_empty, normalize
from .results import Analysis
from .stopping import signals_held

if TYPE_CHECKING:
    from .engine import Engine

MAX_LINE_BYTES = 8 * 1024 * 1024  # a longer line is an error record; a message is cut at 2000 chars anyway
CHUNK_LINES = 256  # lines per task sent to a worker: big enough to amortise pickling
IN_FLIGHT_CHUNKS = 4  # per worker; bounds memory when the output is slower than the workers


class OverlongLine(bytes):
    """The start of an input line longer than MAX_LINE_BYTES (the rest was skipped)."""


def read_lines(stream: IO[bytes], max_bytes: int = MAX_LINE_BYTES) -> Iterator[bytes]:
    """Physical lines of a binary stream; an overlong line comes as one ``OverlongLine``."""
    while True:
        raw = stream.readline(max_bytes)
        if not raw:
            return
        if len(raw) >= max_bytes and not raw.endswith(b"\n"):
            rest = raw
            while rest and not rest.endswith(b"\n"):  # skip the rest of it without keeping it
                rest = stream.readline(max_bytes)
            yield OverlongLine(raw[:64])
            continue
        yield raw


def read_fd_lines(fd: int, max_bytes: int = MAX_LINE_BYTES, block: int = 1 << 16) -> Iterator[bytes]:
    """Like ``read_lines``, straight from a file descriptor, without a buffered stream.

    A buffered stream has a lock that a thread blocked in ``readline`` holds; at
    interpreter exit such a thread (waiting on a pipe that stays open) can stop
    the process from ending. ``os.read`` holds nothing, and a signal handler that
    raises can cut it short.
    """
    preview = min(64, max_bytes)  # what an OverlongLine keeps, as read_lines does
    held = bytearray()  # the start of a line whose end has not been read yet
    overlong: bytes | None = None  # the start of an overlong line, whose rest is skipped
    while data := os.read(fd, block):
        start = 0
        while (end := data.find(b"\n", start)) >= 0:
            piece = data[start:end + 1]
            start = end + 1
            if overlong is not None:
                yield OverlongLine(overlong)
                overlong = None
                continue
            if held:
                held += piece
                piece = bytes(held)
                held.clear()
            yield OverlongLine(piece[:preview]) if len(piece) > max_bytes else piece
        if overlong is None and start < len(data):
            held += data[start:]
            if len(held) >= max_bytes:
                overlong = bytes(held[:preview])
                held.clear()
    if overlong is not None:
        yield OverlongLine(overlong)
    elif held:
        yield bytes(held)


def _history_entry(entry: Any) -> bool:
    """A buyer's earlier message (text) or a {"role", "text"} object of either side."""
    if isinstance(entry, str):
        return True
    return (isinstance(entry, dict) and entry.get("role", "buyer") in ("buyer", "agent")
            and isinstance(entry.get("text"), str) and set(entry) <= {"role", "text"})


def _error(lineno: int, message: str) -> dict[str, Any]:
    return {"line": lineno, "error": message}


def process_line(engine: Engine, lineno: int, raw: bytes, top: int = 3) -> dict[str, Any]:
    """One result record for one input line: the analysis, or ``{"line", "error"}``."""
    if isinstance(raw, OverlongLine):
        return _error(lineno, f"line is longer than {MAX_LINE_BYTES} bytes")
    if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]  # a UTF-8 byte order mark some editors write
    try:
        data = orjson.loads(raw)  # several times faster than json, and checks UTF-8 itself
    except orjson.JSONDecodeError:
        # What orjson refuses, json decides: it says where the line is wrong, and it also
        # reads what orjson does not (integers past 64 bits, NaN, lone surrogate escapes).
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return _error(lineno, f"line is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})")
        try:
            data = json.loads(line)
        except ValueError as exc:  # JSONDecodeError, and RecursionError-free ValueErrors of odd input
            return _error(lineno, f"line is not JSON: {exc}")
        except RecursionError:
            return _error(lineno, "line is not JSON: nested too deeply")
    if not isinstance(data, dict):
        return _error(lineno, f'expected a JSON object with "text", got {_json_type(data)}')
    if "text" not in data:
        return _error(lineno, 'expected a "text" field, found none')
    text = data["text"]
    if not isinstance(text, str):
        return _error(lineno, f'expected "text" to be a string, got {_json_type(text)}')
    history = data.get("history", [])
    if history is None:
        history = []
    if not isinstance(history, list) or not all(_history_entry(h) for h in history):
        return _error(lineno, '"history" must be a list of earlier messages, oldest first: texts, or '
                              '{"role": "buyer" or "agent", "text": "..."} objects')
    record: dict[str, Any] = {"line": lineno}
    if isinstance(data.get("id"), (str, int)) and not isinstance(data.get("id"), bool):
        record["id"] = data["id"]  # lets a caller join results back to its rows
    try:
        analysis = engine.analyze(text, history, top=top)
    except InputError as exc:
        norm = normalize(text)
        if not is_empty(norm):
            return _error(lineno, str(exc))
        # `[图片]` alone, a pasted card: normal in a chat log, so a result, not a failure
        record.update(Analysis(text=text, normalized="", truncated=norm.truncated).to_dict())
        record["empty"] = True
        return record
    except Exception as exc:  # one odd line must not end a run over millions
        return _error(lineno, f"internal error: {type(exc).__name__}: {exc}")
    record.update(analysis.to_dict())
    return record


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def numbered(lines: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes) of every non-blank line; numbers count every physical line."""
    for lineno, raw in enumerate(lines, 1):
        if isinstance(raw, OverlongLine) or raw.strip():
            yield lineno, raw


def run_batch(lines: Iterable[bytes], workers: int = 1, engine_args: dict[str, Any] | None = None,
              *, top: int = 3, engine: Engine | None = None) -> Generator[dict[str, Any], None, None]:
    """Result records for the non-blank lines, in input order.

    ``engine_args`` are ``Engine(**engine_args)`` keyword arguments (pack
    folders, shop); with ``workers == 1`` an ``engine`` already built may be
    passed instead. Raises ``WorkerError`` when a worker cannot load the packs.
    """
    yield from _run(lines, workers, engine_args, top, engine, encode=False)


def run_batch_jsonl(lines: Iterable[bytes], workers: int = 1, engine_args: dict[str, Any] | None = None,
                    *, top: int = 3, engine: Engine | None = None) -> Generator[tuple[bool, bytes], None, None]:
    """Like ``run_batch``, each record already a JSONL line: ``(is_error, line)``.

    The workers encode, so the parent process only writes: with two cores
    that is what lets two workers run at full speed.
    """
    yield from _run(lines, workers, engine_args, top, engine, encode=True)


def encode_record(record: dict[str, Any]) -> tuple[bool, bytes]:
    """``(is_error, one JSONL line)``: UTF-8, not ASCII escapes, the same keys and values as json."""
    try:
        line = orjson.dumps(record) + b"\n"
    except (orjson.JSONEncodeError, TypeError):  # a lone surrogate or a huge int from the input
        line = json.dumps(record, ensure_ascii=False).encode("utf-8", "replace") + b"\n"
    return "error" in record, line


def _run(lines: Iterable[bytes], workers: int, engine_args: dict[str, Any] | None, top: int,
         engine: Engine | None, encode: bool) -> Iterator[Any]:
    args = dict(engine_args or {})
    if workers <= 1:
        if engine is None:
            from .engine import Engine

            engine = Engine(**args)
        for lineno, raw in numbered(lines):
            record = process_line(engine, lineno, raw, top)
            yield encode_record(record) if encode else record
        return
    yield from _parallel(numbered(lines), workers, args, top, encode)


class WorkerError(RuntimeError):
    """A worker process could not build its engine (the message says why)."""


# -- worker processes ------------------------------------------------------------

_worker_engine: Engine | None = None
_worker_error: str | None = None
_worker_top = 3
_worker_encode = False
_worker_released: Any = None  # shared flag: set when the parent ends the pool itself

STOP_GRACE_SECONDS = 10.0  # a stopped run waits this long for the chunks in flight


def _init_worker(engine_args: dict[str, Any], top: int, encode: bool, released: Any) -> None:
    global _worker_engine, _worker_error, _worker_top, _worker_encode, _worker_released
    from .stopping import ignore_stop_signals

    # Ctrl-C and kill reach the whole process group: the parent handles them and ends
    # its workers, so a worker ignores them (no traceback, no lost chunk), all but
    # the SIGTERM of Pool.terminate(), which the parent sends only after releasing.
    _worker_released = released
    ignore_stop_signals(on_sigterm=_on_sigterm)
    _worker_top, _worker_encode = top, encode
    try:
        from .engine import Engine

        _worker_engine = Engine(**engine_args)
    except Exception as exc:  # raising here would make the pool respawn workers forever
        _worker_error = f"{type(exc).__name__}: {exc}"


def _on_sigterm(signum: int, frame: Any) -> None:
    if _worker_released is not None and _worker_released.value:
        import os

        os._exit(0)  # quietly: the parent has given up on this worker's results


def _work(chunk: list[tuple[int, bytes]]) -> list[Any]:
    if _worker_engine is None:
        raise WorkerError(_worker_error or "worker has no engine")
    records = [process_line(_worker_engine, lineno, raw, _worker_top) for lineno, raw in chunk]
    return [encode_record(r) for r in records] if _worker_encode else records


def _chunked(items: Iterator[tuple[int, bytes]], size: int) -> Iterator[list[tuple[int, bytes]]]:
    chunk: list[tuple[int, bytes]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _Failed:
    """Reading the input raised this: the consuming thread raises it again."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


_END = object()  # the input is exhausted


def _parallel(items: Iterator[tuple[int, bytes]], workers: int, engine_args: dict[str, Any],
              top: int, encode: bool) -> Iterator[Any]:
    """Chunks sent to a pool by a reader thread; results yielded here in input order.

    The calling thread only waits for results and yields them, so a signal handler
    that stops the run cuts the wait short, and a result is yielded as soon as it
    is done even when the input is slow. However the loop ends (done, an error, a
    stop signal, the consumer closing the generator), no more chunks are sent, the
    chunks in flight finish and the workers are joined before this returns: no
    worker outlives the run. A reader still waiting for input is left behind (a
    daemon thread that sends nothing more).
    """
    import atexit
    import multiprocessing
    import queue
    from collections import deque
    from multiprocessing.pool import AsyncResult  # imports multiprocessing's exit hook before ours

    context = multiprocessing.get_context()
    released = context.RawValue("b", 0)

    def release() -> None:  # at exit multiprocessing terminates live workers: let them go
        released.value = 1

    slots = threading.Semaphore(workers * IN_FLIGHT_CHUNKS)  # bounds memory: read-ahead is limited
    stop = threading.Event()
    lock = threading.Lock()  # no chunk is sent once the pool is closing
    in_flight: deque[AsyncResult[list[Any]]] = deque()
    sent: queue.Queue[Any] = queue.Queue()
    # A signal held while the pool starts is delivered right after: by then the cleanup is armed.
    atexit.register(release)  # registered after multiprocessing's own exit hook, so it runs first
    pool: Any = None

    def feed() -> None:
        try:
            for chunk in _chunked(items, CHUNK_LINES):
                while not slots.acquire(timeout=0.1):
                    if stop.is_set():
                        return
                with lock:
                    if stop.is_set():
                        return
                    result = pool.apply_async(_work, (chunk,))
                    in_flight.append(result)
                sent.put(result)
            sent.put(_END)
        except BaseException as exc:  # a read error: the caller's thread raises it
            sent.put(_Failed(exc))

    finished = False
    try:
        with signals_held():  # the workers start with the signals blocked until they ignore them
            pool = context.Pool(workers, initializer=_init_worker, initargs=(engine_args, top, encode, released))
        reader = threading.Thread(target=feed, name="suggest-batch-reader", daemon=True)
        reader.start()
        while (item := _next_sent(sent)) is not _END:
            if isinstance(item, _Failed):
                raise item.error
            while not item.ready():
                item.wait(_POLL_SECONDS)
            records = item.get()
            with lock:
                in_flight.popleft()
            slots.release()
            yield from records
        finished = True
    finally:
        with lock:
            stop.set()
            pending = list(in_flight)
        if pool is not None:
            pool.close()
            if not finished:
                _drain(pending, pool, released)
            pool.join()
        atexit.unregister(release)


# Waits come back this often: a signal that lands just before a blocking wait begins
# is handled at the next return, not only when the next result comes.
_POLL_SECONDS = 0.25


def _next_sent(sent: Any) -> Any:
    import queue

    while True:
        try:
            return sent.get(timeout=_POLL_SECONDS)
        except queue.Empty:
            continue


def _drain(pending: Iterable[Any], pool: Any, released: Any) -> None:
    """Let the chunks in flight finish (bounded); a worker that does not is terminated."""
    import time

    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for result in pending:
        result.wait(max(0.0, deadline - time.monotonic()))
        if not result.ready():
            break
    else:
        return
    released.value = 1
    pool.terminate()
