"""Stopping cleanly on SIGTERM and SIGINT: a stop request, not a crash.

A long-running command (``suggest batch``, ``suggest chat``, and later the
service, reports and Dask batches) wraps its work in ``stop_on_signals()``.
While it is active, SIGTERM and SIGINT do not kill the process nor raise
``KeyboardInterrupt`` at a random point: the handler records which signal came
and the command decides where it may stop.

* Between two units of work (a result line, a chat message) the command
  looks at ``stop.requested`` and ends when it is set.
* Where it may wait for a long time on something harmless to abandon
  (reading input, waiting for a worker), it wraps that wait in
  ``with stop.interruptible():``. A signal that arrives inside (or that
  was pending on entry) raises ``Stopped`` there, once; the command catches
  it around its loop. Outside such a block, nothing is ever raised, so a
  result line is always written whole and a ``finally`` runs to its end.
* It then prints one line on stderr and exits with ``stop.exit_status``:
  128 + the signal number, so 143 for SIGTERM and 130 for SIGINT, as a shell
  reports a process the signal ended.

    with stop_on_signals() as stop:
        try:
            for item in work:
                with stop.interruptible():
                    result = next_result()       # may wait: safe to abandon
                write(result)                    # never cut in the middle
                if stop.requested:
                    break
        except Stopped:
            pass
    if stop.requested:
        print(f"stopped by {stop.signal_name} after {done} lines", file=sys.stderr)
        sys.exit(stop.exit_status)

Worker processes call ``ignore_stop_signals()``: the parent handles the
signals and ends its workers itself, so a worker never prints a traceback
when the whole process group gets a Ctrl-C or a ``kill``.

``signals_held()`` defers both signals over a short critical section (writing
a cache entry): they are delivered, with whatever effect they have, right
after it, so even a process without these handlers never dies half-way
through the section.

Handlers can only be installed from the main thread; elsewhere
``stop_on_signals()`` yields a request that never fires. A server framework
that installs its own handlers (uvicorn) can still use ``exit_status()`` and
``signal_name()`` for the same exit codes and message.

Python runs a handler between bytecodes: a signal that lands in the instant
before a blocking call starts is only handled when that call returns. Wait
with a timeout in a loop (as ``suggest.batch`` does for its workers) where a
wait may last long; a read of input has that instant too (so has a plain
Ctrl-C at any ``input()``).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType, TracebackType
from typing import Any

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def exit_status(signum: int) -> int:
    """The exit status of a command stopped by ``signum``: 128 + its number (143, 130)."""
    return 128 + signum


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class Stopped(BaseException):
    """Raised inside ``StopRequest.interruptible()`` when a stop signal came.

    A BaseException, like KeyboardInterrupt: an ``except Exception`` that keeps a
    run going over bad lines must not swallow it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal_name(signum))
        self.signum = signum


class StopRequest:
    """Which stop signal came (if any), set by the handlers of ``stop_on_signals``."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._depth = 0  # how many interruptible() blocks are open
        self._raised = False  # Stopped is raised once; later signals are only recorded

    @property
    def requested(self) -> bool:
        return self.signal is not None

    @property
    def exit_status(self) -> int:
        """143 for SIGTERM, 130 for SIGINT (0 when no stop was requested)."""
        return exit_status(self.signal) if self.signal is not None else 0

    @property
    def signal_name(self) -> str:
        return signal_name(self.signal) if self.signal is not None else ""

    def interruptible(self) -> _Interruptible:
        """A block in which a stop request raises ``Stopped`` (once, also if already pending)."""
        return _Interruptible(self)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signal is None:
            self.signal = signum
        if self._depth and not self._raised:
            self._raised = True
            raise Stopped(self.signal)


class _Interruptible:
    # A class, not @contextmanager: it is entered once per result line.
    __slots__ = ("request",)

    def __init__(self, request: StopRequest) -> None:
        self.request = request

    def __enter__(self) -> None:
        request = self.request
        if request.signal is not None and not request._raised:
            request._raised = True
            raise Stopped(request.signal)
        request._depth += 1

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.request._depth -= 1


@contextmanager
def stop_on_signals(signals: tuple[int, ...] = STOP_SIGNALS) -> Iterator[StopRequest]:
    """Turn ``signals`` into a ``StopRequest`` while the block runs; restore the old handlers after."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request  # signal handlers belong to the main thread: nothing to install
        return
    previous: dict[int, Any] = {}
    try:
        for signum in signals:
            previous[signum] = signal.signal(signum, request._handle)
        yield request
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


def ignore_stop_signals(on_sigterm: Callable[[int, FrameType | None], Any] | None = None) -> None:
    """For a worker process: SIGTERM and SIGINT are its parent's to handle.

    Both are ignored (``on_sigterm``, if given, handles SIGTERM instead, for a
    parent that ends its workers with it), then unblocked: a parent that starts
    its workers inside ``signals_held()`` leaves no gap in which a worker still
    runs the parent's handlers.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, on_sigterm or signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


@contextmanager
def signals_held(signals: tuple[int, ...] = STOP_SIGNALS) -> Iterator[None]:
    """Defer ``signals`` until the block ends; then each one that came has its usual effect.

    In the main thread the Python handlers are swapped for ones that only
    record, and a recorded signal is raised again after the old handlers are
    back (so a default SIGTERM still ends the process, after the block). The
    signals are also blocked in this thread: a process forked inside the block
    starts with them blocked (``ignore_stop_signals`` unblocks them), and in
    another thread, where handlers cannot be changed, that is all it can do.
    """
    came: list[int] = []
    previous: dict[int, Any] = {}
    masked = hasattr(signal, "pthread_sigmask")
    main = threading.current_thread() is threading.main_thread()
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, signals) if masked else None
    try:
        if main:
            for signum in signals:
                previous[signum] = signal.signal(signum, lambda signum, frame: came.append(signum))
        yield
    finally:
        if old_mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)  # pending ones reach the recorder
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        for signum in dict.fromkeys(came):
            signal.raise_signal(signum)
