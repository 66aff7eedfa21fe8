"""Latency of ``suggest serve`` under a fixed loopback load, next to the library's own time.

Starts ``suggest serve`` (bundled packs, one worker) on a free 127.0.0.1 port,
then sends ``POST /v1/analyze`` at a fixed rate (open loop: request i is due at
start + i/rate, whether or not earlier ones have answered) for a fixed time,
over a pool of keep-alive connections. Latency is counted from when a request
was due, so a server that falls behind cannot hide it. In the same run it
times ``Engine.analyze`` in this process on the same messages (the library's
own per-call time: the floor the HTTP figures stand on).

    python bench/serve.py [--rate 300] [--seconds 20] [--workers 1] [--connections 32]

Bounded: at most rate * seconds requests, and it stops the server by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout

from bench._messages import BUILT_IN  # noqa: E402

HOST = "127.0.0.1"  # loopback only


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def start_server(port: int, workers: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, "-m", "suggest", "serve", "--host", HOST, "--port", str(port),
                                "--workers", str(workers)], cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("suggest serve did not start (is the serve extra installed?)")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/healthz", timeout=1):
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("suggest serve did not answer within 60 s")


def request_bytes(text: str, port: int) -> bytes:
    body = json.dumps({"text": text}, ensure_ascii=False).encode("utf-8")
    return (f"POST /v1/analyze HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode("ascii") + body


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def exchange(self, payload: bytes) -> int:
        self.writer.write(payload)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status


async def load(port: int, rate: float, seconds: float, connections: int, payloads: list[bytes]
               ) -> tuple[list[float], int, float]:
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(Connection(*await asyncio.open_connection(HOST, port)))
    latencies: list[float] = []
    errors = 0
    total = int(rate * seconds)

    async def one(i: int, due: float) -> None:
        nonlocal errors
        connection = await pool.get()
        try:
            status = await asyncio.wait_for(connection.exchange(payloads[i % len(payloads)]), timeout=10)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError):
            errors += 1
            connection.writer.close()
            pool.put_nowait(Connection(*await asyncio.open_connection(HOST, port)))
            return
        latencies.append(time.perf_counter() - due)
        if status != 200:
            errors += 1
        pool.put_nowait(connection)

    tasks = []
    start = time.perf_counter()
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    while not pool.empty():
        pool.get_nowait().writer.close()
    return latencies, errors, elapsed


def library_times(texts: list[str], rounds: int = 5) -> list[float]:
    from suggest import Engine

    engine = Engine()
    for text in texts:  # warm: jieba, caches
        engine.analyze(text)
    times = []
    for _ in range(rounds):
        for text in texts:
            started = time.perf_counter()
            engine.analyze(text)
            times.append(time.perf_counter() - started)
    return times


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=300, help="requests per second (default 300)")
    parser.add_argument("--seconds", type=float, default=20, help="how long to send (default 20)")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes (default 1)")
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections (default 32)")
    args = parser.parse_args()
    if args.rate <= 0 or args.seconds <= 0 or args.rate * args.seconds > 1_000_000:
        parser.error("rate and seconds must be positive, and at most 1,000,000 requests in all")
    os.environ.setdefault("SUGGEST_CACHE_DIR", str(Path("/tmp") / "suggest-bench-cache"))
    texts = list(BUILT_IN)
    port = free_port()
    server = start_server(port, args.workers)
    try:
        payloads = [request_bytes(t, port) for t in texts]
        # a short warm-up so the first requests do not pay for jieba's import
        asyncio.run(load(port, 50, 1, 4, payloads))
        latencies, errors, elapsed = asyncio.run(load(port, args.rate, args.seconds, args.connections, payloads))
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
    library = library_times(texts)
    sent = int(args.rate * args.seconds)
    lib_p50 = statistics.median(library)
    print(f"suggest serve, {args.workers} worker(s), POST /v1/analyze, {sent} requests at "
          f"{args.rate:g}/s for {args.seconds:g} s over {args.connections} connections (loopback)")
    print(f"  achieved        {len(latencies) / elapsed:8.1f} req/s  ({len(latencies)} answered, {errors} errors)")
    if latencies:
        p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
        print(f"  latency p50     {p50 * 1000:8.2f} ms")
        print(f"  latency p99     {p99 * 1000:8.2f} ms")
        print(f"  latency max     {max(latencies) * 1000:8.2f} ms")
    print(f"library Engine.analyze, same messages, this process ({len(library)} calls)")
    print(f"  per call p50    {lib_p50 * 1000:8.3f} ms")
    print(f"  per call p99    {percentile(library, 0.99) * 1000:8.3f} ms")
    if latencies:
        print(f"ratio HTTP p50 / library p50: {percentile(latencies, 0.5) / lib_p50:.1f}")
    if errors or (latencies and percentile(latencies, 0.99) > 0.015):
        print("target missed: p99 must be under 15 ms with no error")
        sys.exit(1)


if __name__ == "__main__":
    main()
