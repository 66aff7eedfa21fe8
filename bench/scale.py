"""Throughput on Dask: 1 and 2 local workers beside plain ``suggest batch --workers 2``, same run, same input.

Writes N JSONL messages (default 40,000, as ``bench/batch.py`` writes them) to
a temporary file and times, wall clock, start-up included:

- ``suggest batch FILE --workers 2`` (the baseline, a process pool);
- ``suggest batch --dask ADDRESS FILE`` on a ``distributed.LocalCluster`` of
  1 and of 2 worker processes (one thread each), the cluster started before
  the clock (a platform's cluster is already running) and its workers warmed
  on a first tiny file (their engines built), as a running cluster's would be.

Each line prints messages per second and the ratio to the baseline.

    python bench/scale.py [--n 40000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from bench.batch import write_input  # noqa: E402
from bench.cold_start import suggest_command  # noqa: E402


def timed(args: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        done = subprocess.run(args, stdout=sink, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    status = "" if done.returncode == 0 else f"  (exit {done.returncode}: {done.stderr.decode()[-300:]})"
    return elapsed, status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=40_000, help="messages to generate")
    args = parser.parse_args()
    from distributed import Client, LocalCluster

    with tempfile.TemporaryDirectory(prefix="suggest-bench-") as folder:
        path = Path(folder) / "messages.jsonl"
        write_input(path, args.n)
        tiny = Path(folder) / "warm.jsonl"
        write_input(tiny, 20)
        print(f"messages: {args.n:,} ({path.stat().st_size / 1e6:.1f} MB), {os.cpu_count()} cores")
        subprocess.run([*suggest_command(), "在吗", "--json"], stdout=subprocess.DEVNULL, check=True)  # warm cache
        base, status = timed([*suggest_command(), "batch", str(path), "--workers", "2"])
        print(f"suggest batch --workers 2     : {base:7.2f} s  {args.n / base:8,.0f} messages/s  1.00x{status}")
        for workers in (1, 2):
            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                              host="127.0.0.1") as cluster, Client(cluster) as client:
                address = client.scheduler.address
                timed([*suggest_command(), "batch", "--dask", address, str(tiny)])  # engines built on the workers
                elapsed, status = timed([*suggest_command(), "batch", "--dask", address, str(path)])
            print(f"suggest batch --dask, {workers} worker{'s' if workers > 1 else ' '}: {elapsed:7.2f} s  "
                  f"{args.n / elapsed:8,.0f} messages/s  {base / elapsed:.2f}x{status}")


if __name__ == "__main__":
    main()
