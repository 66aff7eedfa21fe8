"""Throughput and memory of ``suggest batch`` against ``jieba.lcut`` alone, in one run.

Reads messages as plain text, one a line (``--messages FILE``; default: the
bench's own messages, see ``_messages.py``), repeats them to N JSONL lines
(default 100,000; every third with the previous message as history, as in a
chat) in a temporary file, and per round:

* times ``jieba.lcut`` over the same N texts in this process, one core,
  jieba's dictionary loaded first: the baseline;
* runs ``suggest batch FILE --workers W`` for each W with the output written
  to a file, wall time of the whole command (start-up included): end to end.

Prints the medians over rounds: messages/s of each, each batch rate over
jieba's (for W workers: over W times jieba's single-core rate, target >= 0.6
for 2 workers), messages per CPU second of all the run's processes over
jieba's (what a busy shared machine changes least), and the peak resident
memory of the batch process and its workers together (sampled every 20 ms
with psutil) for 10,000 and N lines, with their ratio (flat: at most 1.10).

    python bench/batch.py [--messages FILE] [--n 100000] [--workers 1 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from bench._messages import messages  # noqa: E402
from bench.cold_start import ENV, suggest_command  # noqa: E402

SMALL = 10_000  # the short run that peak memory is compared against
SAMPLE_SECONDS = 0.02


def read_messages(path: Path | None) -> tuple[list[str], str]:
    if path is None:
        return messages(), "the bench's own messages (bench/_messages.py)"
    with open(path, encoding="utf-8", errors="replace") as handle:
        texts = [line.rstrip("\r\n") for line in handle]
    texts = [t for t in texts if t.strip()]
    if not texts:
        sys.exit(f"{path}: no messages in it")
    return texts, str(path)


def cycled(texts: list[str], n: int) -> list[str]:
    return [texts[i % len(texts)] for i in range(n)]


def write_input(path: Path, texts: list[str], history_every: int) -> None:
    with open(path, "w", encoding="utf-8") as out:
        for i, text in enumerate(texts):
            row: dict[str, Any] = {"id": i, "text": text}
            if history_every and i % history_every == 0 and i:
                row["history"] = [texts[i - 1]]
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def jieba_rate(texts: list[str]) -> tuple[float, float]:
    """jieba.lcut's messages per second of wall time and per second of CPU time."""
    from suggest.tokenizer import import_jieba

    jieba = import_jieba()
    jieba.initialize()  # the default dictionary, loaded before timing
    started, cpu = time.perf_counter(), time.process_time()
    for text in texts:
        jieba.lcut(text)
    return len(texts) / (time.perf_counter() - started), len(texts) / (time.process_time() - cpu)


def children_cpu() -> float:
    """CPU seconds of every finished child and its descendants (the workers roll up too)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def have_psutil() -> bool:
    try:
        import psutil  # noqa: F401
    except ImportError:
        return False
    return True


class PeakRss:
    """The largest sum of RSS over a process and all its descendants, sampled in a thread."""

    def __init__(self, pid: int) -> None:
        self.peak = 0
        self.available = True
        try:
            import psutil
        except ImportError:
            self.available = False
            return
        self._process = psutil.Process(pid)
        self._errors = (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._done.is_set():
            try:
                family = [self._process, *self._process.children(recursive=True)]
            except self._errors:
                return
            total = 0
            for member in family:
                try:
                    total += member.memory_info().rss
                except self._errors:
                    continue  # a worker that just ended
            self.peak = max(self.peak, total)
            self._done.wait(SAMPLE_SECONDS)

    def stop(self) -> int:
        if self.available:
            self._done.set()
            self._thread.join()
        return self.peak


def run_batch(path: Path, workers: int, out_path: Path) -> tuple[float, float, int, str]:
    """(seconds, CPU seconds of all its processes, peak RSS bytes, problem or "") of one run."""
    started, cpu = time.perf_counter(), children_cpu()
    with open(out_path, "wb") as sink:
        proc = subprocess.Popen([*suggest_command(), "batch", str(path), "--workers", str(workers)],
                                stdout=sink, stderr=subprocess.PIPE, env=ENV)
        rss = PeakRss(proc.pid)
        _, stderr = proc.communicate()
    elapsed, cpu = time.perf_counter() - started, children_cpu() - cpu
    peak = rss.stop()
    problem = "" if proc.returncode == 0 else f"exit {proc.returncode}: {stderr.decode()[-200:].strip()}"
    return elapsed, cpu, peak, problem


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=Path, metavar="FILE", help="plain text, one message a line")
    parser.add_argument("--n", type=int, default=100_000, help="JSONL lines to run (messages repeated)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to run")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; medians are printed")
    parser.add_argument("--history-every", type=int, default=3, metavar="K",
                        help="every K-th line has the previous message as history (0: none)")
    args = parser.parse_args()

    texts, source = read_messages(args.messages)
    lines = cycled(texts, args.n)
    small = cycled(texts, min(SMALL, args.n))
    with tempfile.TemporaryDirectory(prefix="suggest-bench-") as folder:
        big_path, small_path = Path(folder) / "messages.jsonl", Path(folder) / "small.jsonl"
        write_input(big_path, lines, args.history_every)
        write_input(small_path, small, args.history_every)
        out_path = Path(folder) / "out.jsonl"
        print(f"messages: {args.n:,} lines ({big_path.stat().st_size / 1e6:.1f} MB) cycled from "
              f"{len(texts):,} in {source}; " + (f"one line in {args.history_every} has history" if args.history_every else "no history"))
        subprocess.run([*suggest_command(), "在吗", "--json"], stdout=subprocess.DEVNULL, check=True, env=ENV)

        jieba_rates: list[float] = []
        jieba_cpu_rates: list[float] = []
        rates: dict[int, list[float]] = {w: [] for w in args.workers}
        cpu_ratios: dict[int, list[float]] = {w: [] for w in args.workers}
        ratios: dict[int, list[float]] = {w: [] for w in args.workers}
        peak_big: dict[int, list[int]] = {w: [] for w in args.workers}
        peak_small: dict[int, list[int]] = {w: [] for w in args.workers}
        for round_no in range(1, args.rounds + 1):
            baseline, baseline_cpu = jieba_rate(lines)
            jieba_rates.append(baseline)
            jieba_cpu_rates.append(baseline_cpu)
            said = [f"jieba {baseline:,.0f}/s"]
            for workers in args.workers:
                elapsed, cpu, peak, problem = run_batch(big_path, workers, out_path)
                if problem:
                    print(f"  --workers {workers}: {problem}")
                rates[workers].append(args.n / elapsed)
                ratios[workers].append(args.n / elapsed / (workers * baseline))
                cpu_ratios[workers].append(args.n / cpu / baseline_cpu)
                peak_big[workers].append(peak)
                _, _, peak, _ = run_batch(small_path, workers, out_path)
                peak_small[workers].append(peak)
                said.append(f"--workers {workers} {args.n / elapsed:,.0f}/s")
            print(f"round {round_no}: " + ", ".join(said), flush=True)

        print(f"jieba.lcut, one core:   {statistics.median(jieba_rates):10,.0f} messages/s")
        for workers in args.workers:
            target = "  (target >= 0.6)" if workers == 2 else ""
            times = f"{workers} x " if workers > 1 else ""
            print(f"--workers {workers}:           {statistics.median(rates[workers]):10,.0f} messages/s"
                  f"  {statistics.median(ratios[workers]):.2f} of {times}jieba's rate{target}")
        # Per CPU second (all processes of the run, start-up included): what a busy shared
        # machine changes least, so it says what the wall-time figures would be on idle cores.
        print(f"per CPU second: jieba {statistics.median(jieba_cpu_rates):,.0f} messages; batch, as a "
              "fraction of that: " + ", ".join(f"--workers {w} {statistics.median(cpu_ratios[w]):.2f}"
                                               for w in args.workers))
        if not have_psutil():
            print("peak RSS: install psutil (pip install '.[bench]') to measure it")
            return
        for workers in args.workers:
            low, high = statistics.median(peak_small[workers]), statistics.median(peak_big[workers])
            print(f"peak RSS --workers {workers}: {len(small):,} lines {low / 2**20:6.1f} MiB, "
                  f"{args.n:,} lines {high / 2**20:6.1f} MiB, ratio {high / low:.2f} (flat: <= 1.10)")


if __name__ == "__main__":
    main()
