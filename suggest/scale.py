"""The batch analysis and the report on a Dask cluster (``pip install 'suggest[dask]'``).

The client reads the pack files once and ships their bytes (``PackBundle``);
each worker writes them into a temporary folder named by their hash and builds
its engine from it once, so workers need no pack files of their own. JSONL
files are cut into byte ranges (a line belongs to the range it starts in);
a first cheap pass counts the lines of each range so that every record keeps
the line number ``suggest batch`` gives it. Records come back in input order
per file, bad lines as error records at their place (``suggest.batch.process_line``).
Workers read the files by path, as ``dask.bag.read_text`` does: a shared file
system or the same paths on every machine.

Nothing in the core imports this module; it is the only one that imports dask.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dask.bag as db
from dask.delayed import delayed

from .batch import MAX_LINE_BYTES, OverlongLine, encode_record, process_line
from .chatlog import jsonl_messages
from .report import ReportCounts, analyse_log
from .sources import PackSources, pack_files

if TYPE_CHECKING:
    from .engine import Engine

BLOCK_BYTES = 4 * 1024 * 1024  # per task at most: tens of thousands of messages
MIN_BLOCK_BYTES = 64 * 1024  # per task at least: a thousand messages amortise the scheduling
BLOCKS_PER_WORKER = 4  # a smaller file is cut finer, so that every worker gets work
IN_FLIGHT_PER_WORKER = 2  # blocks computed ahead of the writer, per worker: bounds memory

Block = tuple[str, int, int]  # (path, start, end) in bytes


@dataclass(frozen=True)
class PackBundle:
    """The bytes of every pack file and the shop profile, read on the client, rebuilt on a worker."""

    files: tuple[tuple[str, bytes], ...]  # ("intents/size.yaml", b"...")
    digest: str

    @classmethod
    def of(cls, intents: str | Path | None = None, replies: str | Path | None = None,
           tags: str | Path | None = None, shop: str | Path | None = None) -> PackBundle:
        sources = PackSources.of(intents=intents, tags=tags, replies=replies, shop=shop)
        files: list[tuple[str, bytes]] = []
        for name, folder in (("intents", sources.intents), ("tags", sources.tags), ("replies", sources.replies)):
            files.extend((f"{name}/{path.name}", path.read_bytes()) for path in pack_files(folder, skip=sources.shop))
        files.append(("shop.yaml", sources.shop.read_bytes()))
        digest = hashlib.sha256()
        for name, data in files:
            digest.update(name.encode("utf-8") + b"\0" + data + b"\0")
        return cls(tuple(files), digest.hexdigest()[:24])

    def folder(self) -> Path:
        """The packs written out under the temp folder (once per machine: the name is their hash)."""
        root = Path(tempfile.gettempdir()) / f"suggest-packs-{self.digest}"
        if not (root / "complete").is_file():
            staging = Path(tempfile.mkdtemp(prefix=f"suggest-packs-{self.digest}-"))
            for name, data in self.files:
                (staging / name).parent.mkdir(parents=True, exist_ok=True)
                (staging / name).write_bytes(data)
            (staging / "complete").write_bytes(b"")
            # atomic: another worker sees all files or none; if it won the race, its copy is the same bytes
            with contextlib.suppress(OSError):
                os.rename(staging, root)
        return root

    def engine(self) -> Engine:
        """This process's engine for these packs, built on first use."""
        with _engines_lock:
            engine = _engines.get(self.digest)
            if engine is None:
                from .engine import Engine

                root = self.folder()
                engine = Engine(intents=root / "intents", replies=root / "replies", tags=root / "tags",
                                shop=root / "shop.yaml")
                _engines[self.digest] = engine
            return engine


_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def _checked(bundle: PackBundle | None) -> PackBundle:
    """The bundle, its packs built once on the client first.

    Broken packs raise ``PackError`` here, before any work is sent; and on a
    machine that also runs workers they find the compiled program in the cache.
    """
    bundle = bundle or PackBundle.of()
    bundle.engine()
    return bundle


# -- byte ranges of JSONL files ----------------------------------------------------------------

def blocks_of(paths: Sequence[str | Path], block_bytes: int = BLOCK_BYTES) -> list[list[Block]]:
    """Per file, its byte ranges (an empty file has one empty range)."""
    out = []
    for path in paths:
        size = os.path.getsize(path)
        starts = list(range(0, size, block_bytes)) or [0]
        out.append([(str(path), s, min(s + block_bytes, size)) for s in starts])
    return out


def count_line_starts(block: Block) -> int:
    """Physical lines that start in the range (what ``enumerate(read_lines(...))`` would number)."""
    path, start, end = block
    if start >= end:
        return 0
    with open(path, "rb") as f:
        f.seek(max(start, 1) - 1)
        data = f.read(end - max(start, 1))
    # a line starts at 0 and after every newline; only starts inside [start, end) count
    return (start == 0) + data.count(b"\n")


def _block_lines(block: Block) -> Iterator[bytes]:
    """The physical lines starting in the range, overlong ones as ``OverlongLine`` (as ``read_lines``)."""
    path, start, end = block
    with open(path, "rb") as f:
        at = 0
        if start > 0:
            f.seek(start - 1)
            at = start - 1 + len(f.readline())  # the rest of the line that started in the range before
        while at < end:
            raw = f.readline(MAX_LINE_BYTES)
            if not raw:
                return
            at += len(raw)
            if len(raw) >= MAX_LINE_BYTES and not raw.endswith(b"\n"):
                rest = raw
                while rest and not rest.endswith(b"\n"):
                    rest = f.readline(MAX_LINE_BYTES)
                    at += len(rest)
                yield OverlongLine(raw[:64])
                continue
            yield raw


def analyze_block(block: Block, first_line: int, bundle: PackBundle, top: int = 3,
                  file_name: str | None = None) -> list[dict[str, Any]]:
    """The batch records of one range, numbered from ``first_line``."""
    engine = bundle.engine()
    records = []
    with _no_gc_passes():
        for lineno, raw in enumerate(_block_lines(block), first_line):
            if isinstance(raw, OverlongLine) or raw.strip():
                record = process_line(engine, lineno, raw, top)
                records.append({"file": file_name, **record} if file_name is not None else record)
    return records


def analyze_block_jsonl(block: Block, first_line: int, bundle: PackBundle, top: int = 3,
                        file_name: str | None = None) -> tuple[int, bytes]:
    """``analyze_block`` as JSONL, encoded on the worker: (error records, the lines)."""
    records = analyze_block(block, first_line, bundle, top, file_name)
    encoded = [encode_record(r) for r in records]
    return sum(is_error for is_error, _ in encoded), b"".join(line for _, line in encoded)


@contextmanager
def _no_gc_passes() -> Iterator[None]:
    # A worker process holds the scheduler's bookkeeping: full collections while a block's
    # records pile up cost as much as the analysis itself (the records hold no cycles).
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _first_lines(counts: Sequence[Sequence[int]]) -> list[list[int]]:
    out = []
    for per_file in counts:
        first, line = [], 1
        for n in per_file:
            first.append(line)
            line += n
        out.append(first)
    return out


# -- the library entry points --------------------------------------------------------------------

def analyze_bag(paths_or_bag: Sequence[str | Path] | db.Bag, *, bundle: PackBundle | None = None,
                top: int = 3, block_bytes: int = BLOCK_BYTES, name_files: bool | None = None) -> db.Bag:
    """A bag of batch records: one per non-blank input line, in input order (file by file).

    ``paths_or_bag`` is a list of JSONL paths, or a bag of JSONL lines (bytes or
    str; a line's number is its position in the bag). ``bundle`` defaults to
    the bundled packs. With several files each record names its ``file``
    (``name_files`` overrides). Counting the lines of each range is computed
    here, on the current scheduler; the analysis is left lazy.
    """
    bundle = _checked(bundle)
    shipped = delayed(bundle, pure=True)  # one key: sent once to each worker, not with every task
    if isinstance(paths_or_bag, db.Bag):
        sizes = paths_or_bag.map_partitions(lambda part: [len(list(part))]).compute()
        line_of_part = _first_lines([sizes])[0]
        offsets = db.from_sequence(line_of_part, npartitions=len(line_of_part))
        bag: db.Bag = db.map_partitions(_analyze_lines, paths_or_bag, offsets, shipped, top)
        return bag
    paths = [str(p) for p in paths_or_bag]
    per_file = blocks_of(paths, block_bytes)
    flat = [b for blocks in per_file for b in blocks]
    counts = db.from_sequence(flat, npartitions=len(flat)).map(count_line_starts).compute()
    it = iter(counts)
    firsts = _first_lines([[next(it) for _ in blocks] for blocks in per_file])
    named = len(paths) > 1 if name_files is None else name_files
    tasks = [(block, first, path if named else None) for path, blocks, starts in zip(paths, per_file, firsts, strict=True)
             for block, first in zip(blocks, starts, strict=True)]
    records: db.Bag = db.from_sequence(tasks, npartitions=len(tasks)).map_partitions(_analyze_tasks, shipped, top)
    return records


def _analyze_tasks(tasks: Sequence[tuple[Block, int, str | None]], bundle: PackBundle, top: int) -> list[dict[str, Any]]:
    return [r for block, first, name in tasks for r in analyze_block(block, first, bundle, top, name)]


def _analyze_lines(lines: Sequence[bytes | str], firsts: Sequence[int], bundle: PackBundle,
                   top: int) -> list[dict[str, Any]]:
    engine = bundle.engine()
    out = []
    for lineno, line in enumerate(lines, firsts[0]):
        raw = line.encode("utf-8", "surrogateescape") if isinstance(line, str) else line
        if isinstance(raw, OverlongLine) or raw.strip():
            out.append(process_line(engine, lineno, raw, top))
    return out


def block_size_for(total_bytes: int, workers: int) -> int:
    """Ranges small enough for every worker to get several, large enough to amortise a task."""
    return max(MIN_BLOCK_BYTES, min(BLOCK_BYTES, total_bytes // max(1, workers * BLOCKS_PER_WORKER) + 1))


def run_batch_dask(paths: Sequence[str | Path], address: str | Any, *, bundle: PackBundle | None = None,
                   top: int = 3, block_bytes: int | None = None,
                   name_files: bool | None = None) -> Iterator[dict[str, Any]]:
    """``suggest batch --dask``: records in input order, streamed from the cluster a few ranges ahead.

    ``address`` is a scheduler address or a ``distributed.Client``.
    """
    for chunk in _run_dask(paths, address, bundle, top, block_bytes, name_files, analyze_block):
        yield from chunk


def run_batch_dask_jsonl(paths: Sequence[str | Path], address: str | Any, *, bundle: PackBundle | None = None,
                         top: int = 3, block_bytes: int | None = None,
                         name_files: bool | None = None) -> Iterator[tuple[int, bytes]]:
    """Like ``run_batch_dask``, a range at a time as JSONL the workers encoded: (error records, bytes)."""
    yield from _run_dask(paths, address, bundle, top, block_bytes, name_files, analyze_block_jsonl)


def _run_dask(paths: Sequence[str | Path], address: str | Any, bundle: PackBundle | None, top: int,
              block_bytes: int | None, name_files: bool | None, work: Any) -> Iterator[Any]:
    from distributed import Client

    client = address if isinstance(address, Client) else Client(address, set_as_default=False)
    try:
        bundle = _checked(bundle)
        [shipped] = client.scatter([bundle], broadcast=True)
        paths = [str(p) for p in paths]
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        size = block_bytes or block_size_for(sum(os.path.getsize(p) for p in paths), workers)
        per_file = blocks_of(paths, size)
        flat = [b for blocks in per_file for b in blocks]
        counts = client.gather(client.map(count_line_starts, flat, pure=False))
        it = iter(counts)
        firsts = _first_lines([[next(it) for _ in blocks] for blocks in per_file])
        named = len(paths) > 1 if name_files is None else name_files
        tasks = [(block, first, path if named else None)
                 for path, blocks, starts in zip(paths, per_file, firsts, strict=True)
                 for block, first in zip(blocks, starts, strict=True)]
        window = IN_FLIGHT_PER_WORKER * workers
        pending: list[Any] = []
        for task in tasks:
            pending.append(client.submit(work, task[0], task[1], shipped, top, task[2], pure=False))
            if len(pending) >= window:
                yield pending.pop(0).result()
        while pending:
            yield pending.pop(0).result()
    finally:
        if client is not address:
            client.close()


def report_bag(paths: Sequence[str | Path], *, bundle: PackBundle | None = None,
               block_bytes: int = BLOCK_BYTES, scheduler: Any = None) -> ReportCounts:
    """Report counts of JSONL chat logs, counted range by range on the workers and merged.

    A session cut by a range boundary is merged whole (its messages, how it
    ended); its first messages after the cut are read without the history of
    the range before.
    """
    bundle = _checked(bundle)
    shipped = delayed(bundle, pure=True)
    per_file = blocks_of([str(p) for p in paths], block_bytes)
    flat = [b for blocks in per_file for b in blocks]
    # ``scheduler``: a distributed.Client to run on (default: the current one)
    run: dict[str, Any] = {"scheduler": scheduler} if scheduler is not None else {}
    counts = db.from_sequence(flat, npartitions=len(flat)).map(count_line_starts).compute(**run)
    it = iter(counts)
    firsts = _first_lines([[next(it) for _ in blocks] for blocks in per_file])
    tasks = [(part, block, first) for part, (block, first) in
             enumerate(zip(flat, [f for fs in firsts for f in fs], strict=True))]
    bag = db.from_sequence(tasks, npartitions=len(tasks))
    partials = bag.map_partitions(_count_tasks, shipped).compute(**run)
    total = ReportCounts()
    for partial in partials:  # in input order: the later part of a session is the later one
        total.merge(partial)
    return total


def _count_tasks(tasks: Sequence[tuple[int, Block, int]], bundle: PackBundle) -> list[ReportCounts]:
    engine = bundle.engine()
    out = []
    for part, block, first in tasks:
        counts = ReportCounts()
        lines = jsonl_messages(enumerate(_block_lines(block), first))
        for _ in analyse_log(lines, engine, counts, part):
            pass
        out.append(counts)
    return out


def report_dask(paths: Sequence[str | Path], address: str | Any, *, bundle: PackBundle | None = None) -> ReportCounts:
    """``suggest report --dask``: ``report_bag`` on this scheduler (an address or a Client), ranges sized to it."""
    from distributed import Client

    client = address if isinstance(address, Client) else Client(address, set_as_default=False)
    try:
        workers = len(client.scheduler_info().get("workers", {}))
        size = block_size_for(sum(os.path.getsize(p) for p in paths), workers)
        return report_bag(paths, bundle=bundle, block_bytes=size, scheduler=client)
    finally:
        if client is not address:
            client.close()
