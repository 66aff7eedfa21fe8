"""Cold start of a one-shot ``suggest TEXT --json`` against ``import jieba; jieba.lcut``.

Each is a new process. One warm-up run of each first (so the engine's compiled
cache and jieba's own cache exist), then N runs of each, alternating so both see
the same machine load; prints the medians and their ratio. Target: <= 0.3.

    python bench/cold_start.py [-n 15] [--text 包邮吗]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def suggest_command() -> list[str]:
    """The console script next to this Python (the one an agent runs), else ``python -m suggest``."""
    script = Path(sys.executable).with_name("suggest")
    if script.is_file():
        return [str(script)]
    found = shutil.which("suggest")
    return [found] if found else [sys.executable, "-m", "suggest"]


# Python's own bytecode cache is one of the caches a real install has (pip compiles it
# at install time); PYTHONDONTWRITEBYTECODE in a dev shell would make every run
# recompile an editable checkout, so the warm-up may write it.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(command: list[str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run; CPU time suffers less from a busy machine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, cwd=ROOT.parent, env=ENV)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=15, help="timed runs of each command")
    parser.add_argument("--text", default="包邮吗 几天能到", help="the message to look up")
    args = parser.parse_args()

    ours = [*suggest_command(), args.text, "--json"]
    theirs = [sys.executable, "-c", f"import jieba; jieba.lcut({args.text!r})"]
    timed(ours)  # warm-up: builds the compiled-pack cache if missing
    timed(theirs)  # and jieba's own dictionary cache
    ours_runs: list[tuple[float, float]] = []
    theirs_runs: list[tuple[float, float]] = []
    for _ in range(args.n):
        ours_runs.append(timed(ours))
        theirs_runs.append(timed(theirs))

    print(f"runs: {args.n} of each, alternating; text {args.text!r}; suggest is {' '.join(ours[:-2])}")
    ratios = []
    for what, index in (("wall", 0), ("cpu", 1)):
        mine = [run[index] for run in ours_runs]
        base = [run[index] for run in theirs_runs]
        ours_median, theirs_median = statistics.median(mine), statistics.median(base)
        ratios.append(ours_median / theirs_median)
        print(f"{what:>4}  suggest TEXT --json:      median {ours_median * 1000:7.1f} ms "
              f"(min {min(mine) * 1000:.1f}, max {max(mine) * 1000:.1f})")
        print(f"{what:>4}  import jieba; jieba.lcut: median {theirs_median * 1000:7.1f} ms "
              f"(min {min(base) * 1000:.1f}, max {max(base) * 1000:.1f})")
    print(f"ratio of medians: {ratios[0]:.3f} wall, {ratios[1]:.3f} cpu (target <= 0.3)")


if __name__ == "__main__":
    main()
