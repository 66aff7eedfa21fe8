"""Instructions per message of ``Engine.analyze`` and ``jieba.lcut``, counted by callgrind.

Wall-clock timings on a shared machine swing by a fifth from run to run; the
number of instructions executed does not. This runs the same warm-up three
times under ``valgrind --tool=callgrind`` (once doing nothing more, once with
extra rounds of ``analyze``, once with extra rounds of ``jieba.lcut``) and
subtracts, so start-up and warm-up cancel out. Needs valgrind; takes a few
minutes. Instructions are not time (cache misses and branch mispredictions
cost more on one side than the other), so read it beside ``bench/speed.py``.

    python bench/instructions.py [--rounds 2]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WORKER = """
import sys
sys.path.insert(0, {root!r})
from bench._messages import messages
from suggest import Engine
from suggest.tokenizer import import_jieba
texts = messages()
engine = Engine()
jieba = import_jieba()
jieba.initialize()
for text in texts:
    engine.analyze(text)
    jieba.lcut(text)
mode, rounds = sys.argv[1], int(sys.argv[2])
for _ in range(rounds):
    for text in texts:
        if mode == "analyze":
            engine.analyze(text)
        elif mode == "jieba":
            jieba.lcut(text)
print(len(texts))
"""


def count(script: Path, mode: str, rounds: int, out_dir: Path) -> tuple[int, int]:
    result = subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_dir / mode}", sys.executable,
         str(script), mode, str(rounds)],
        capture_output=True, text=True, check=True)
    found = re.search(r"Collected : (\d+)", result.stderr)
    if not found:
        raise SystemExit(f"callgrind printed no count:\n{result.stderr[-2000:]}")
    return int(found.group(1)), int(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2, help="extra passes over all messages")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    with tempfile.TemporaryDirectory() as folder:
        out_dir = Path(folder)
        script = out_dir / "worker.py"
        script.write_text(WORKER.format(root=str(ROOT)), encoding="utf-8")
        # once outside valgrind: the compiled-pack cache must exist before counting, or the
        # first counted run pays for building it and the differences go negative
        subprocess.run([sys.executable, str(script), "none", "0"], capture_output=True, check=True)
        base, n = count(script, "none", 0, out_dir)
        analyze, _ = count(script, "analyze", args.rounds, out_dir)
        lcut, _ = count(script, "jieba", args.rounds, out_dir)
    calls = n * args.rounds
    per_analyze = (analyze - base) / calls
    per_jieba = (lcut - base) / calls
    print(f"messages: {n}, {args.rounds} extra rounds each")
    print(f"Engine.analyze: {per_analyze / 1000:9.0f} k instructions/message")
    print(f"jieba.lcut:     {per_jieba / 1000:9.0f} k instructions/message")
    print(f"ratio:          {per_analyze / per_jieba:9.2f} (instructions; target for time <= 1.5)")


if __name__ == "__main__":
    main()
