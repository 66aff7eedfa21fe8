"""Warm per-message time of ``Engine.analyze`` against ``jieba.lcut`` alone.

Same messages, one run, rounds interleaved so both see the same machine load. The
headline is the median over rounds of (engine time / jieba time) in the same round:
on a shared machine single rounds swing by a fifth, and a ratio taken within a
round cancels most of that. The fastest round of each is printed too.
Both are warm: the engine is built and has seen every message once, and jieba's
default dictionary is initialised before timing. Target: ratio <= 1.5.

    python bench/speed.py [--rounds 7] [--messages FILE]

``--messages FILE`` times real lines too (JSONL with "text", or one message a line), e.g.
``../shared/realdata/customer_msgs.txt``: the built-in list is short and clean, which
flatters; both ratios are printed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from bench._messages import messages, messages_from  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15, help="timed passes over all messages")
    parser.add_argument("--messages", type=Path, metavar="FILE", help="real lines to time as well")
    args = parser.parse_args()
    sets = [("the bench's messages", messages())]
    if args.messages:
        sets.append((str(args.messages), messages_from(args.messages)))
    for name, texts in sets:
        run(name, texts, args.rounds)


def run(source: str, texts: list[str], rounds: int) -> None:
    from suggest import Engine
    from suggest.tokenizer import import_jieba

    engine = Engine()
    jieba = import_jieba()
    jieba.initialize()  # the default dictionary, loaded before timing
    for text in texts:  # warm-up: caches, lazily built converters, branch paths
        engine.analyze(text)
        jieba.lcut(text)

    engine_times: list[float] = []
    jieba_times: list[float] = []
    for _ in range(rounds):
        started = time.perf_counter()
        for text in texts:
            engine.analyze(text)
        engine_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        for text in texts:
            jieba.lcut(text)
        jieba_times.append(time.perf_counter() - started)

    per_engine = min(engine_times) / len(texts)
    per_jieba = min(jieba_times) / len(texts)
    round_ratios = [e / j for e, j in zip(engine_times, jieba_times, strict=True)]
    print(f"messages: {len(texts)} from {source}, {rounds} rounds (fastest of each)")
    print(f"Engine.analyze: {per_engine * 1e6:9.1f} us/message")
    print(f"jieba.lcut:     {per_jieba * 1e6:9.1f} us/message")
    print(f"ratio:          {statistics.median(round_ratios):9.2f} (median of per-round ratios; target <= 1.5)")
    print(f"fastest rounds: {per_engine / per_jieba:9.2f} (fastest engine round / fastest jieba round)")


if __name__ == "__main__":
    main()
