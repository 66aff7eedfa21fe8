"""Throughput of ``suggest batch`` with 1 and 2 workers.

Writes N JSONL messages (default 100,000, cycled from a small list, some with
history) to a temporary file, runs ``suggest batch FILE --workers W`` for each W
with the output going to /dev/null, and prints messages per second (wall time of
the whole command, start-up included).

    python bench/batch.py [--n 100000] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from bench._messages import BUILT_IN  # noqa: E402
from bench.cold_start import suggest_command  # noqa: E402


def write_input(path: Path, n: int) -> None:
    with open(path, "w", encoding="utf-8") as out:
        for i in range(n):
            row: dict[str, object] = {"id": i, "text": BUILT_IN[i % len(BUILT_IN)]}
            if i % 3 == 0:  # a third with history, as in a real chat
                row["history"] = [BUILT_IN[(i + 7) % len(BUILT_IN)]]
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="messages to generate")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to run")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="suggest-bench-") as folder:
        path = Path(folder) / "messages.jsonl"
        write_input(path, args.n)
        size = path.stat().st_size
        print(f"messages: {args.n:,} ({size / 1e6:.1f} MB) in {path.name}")
        subprocess.run([*suggest_command(), "在吗", "--json"], stdout=subprocess.DEVNULL, check=True)  # warm cache
        for workers in args.workers:
            started = time.perf_counter()
            with open(os.devnull, "wb") as sink:
                done = subprocess.run([*suggest_command(), "batch", str(path), "--workers", str(workers)],
                                      stdout=sink, stderr=subprocess.PIPE)
            elapsed = time.perf_counter() - started
            status = "" if done.returncode == 0 else f"  (exit {done.returncode}: {done.stderr.decode()[-200:]})"
            print(f"--workers {workers}: {elapsed:7.2f} s  {args.n / elapsed:10,.0f} messages/s{status}")


if __name__ == "__main__":
    main()
