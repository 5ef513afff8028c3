"""Two builds of Querent side by side: which is faster, measured at the same moment of the machine.

    git worktree add /tmp/ab-before <commit>
    .venv/bin/python bench/ab_builds.py /tmp/ab-before . [--runs 100] [--rounds 4] [--concurrency 1 10]

Each source folder (a checkout; both use this virtualenv) gets a stack of its own code: 1 daphne +
1 Celery worker, its own scratch databases, its own Redis prefix and queues, all against the same
PostgreSQL and Redis and answered by one zero-latency scripted LLM. The same client code sends
rounds of runs to them alternately (A, B, then B, A, ...) so that both see the same load, for
each path and concurrency:

- `opengpts`: POST /threads, then POST /runs/stream on it (timed together: the thread is part of
  the cost of a run in that dialect);
- `promptql`: POST /threads with the question, streamed to `finish` (one request).

Printed per round and summarised: runs/s, p50/p95 latency and the CPU of the build's web and worker
processes per run (from /proc), with the machine's load average; the ratio B/A of runs/s is the
median of the paired rounds' ratios (> 1: B is faster), CPU per run the ratio of medians.
"""

import argparse
import json
import os
import statistics
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx

from _stack import build_stack, cpu_seconds, percentile, progress

ANSWER = "You too! If you have any other questions, feel free to ask. "


def fallback(body):
    from tests.fakes.llm_server import last_user_text, text

    return text(ANSWER + last_user_text(body)[-8:], chunks=4)


def load() -> str:
    return " ".join(open("/proc/loadavg").read().split()[:3])


class Build:
    def __init__(self, label: str, root: Path, stack, headers: dict, database: str):
        self.label, self.root, self.stack, self.headers, self.database = label, root, stack, headers, database
        self.base = stack.base_url
        self.pids = [stack.web.pid, *(worker.pid for worker in stack.workers)]
        with httpx.Client(headers=headers) as client:
            response = client.post(f"{self.base}/assistants", json={"name": "bench", "config": {"configurable": {}}})
            response.raise_for_status()
            self.assistant_id = response.json()["assistant_id"]

    def cpu(self) -> list[float]:
        """CPU seconds used so far by the web process and by the worker(s)."""
        return [cpu_seconds(self.pids[0]), sum(map(cpu_seconds, self.pids[1:]))]

    def describe(self) -> str:
        commit = subprocess.run(["git", "-C", str(self.root), "describe", "--always", "--dirty"], capture_output=True, text=True).stdout.strip()
        return f"{self.label} = {self.root} ({commit})"


def stream_until(response, last_event: str) -> None:
    """Read an SSE response to its end; fail unless `last_event` came and no `error` did."""
    if response.status_code != 200:
        raise RuntimeError(f"{response.url} answered {response.status_code}: {response.read()[:300]!r}")
    seen = False
    for line in response.iter_lines():
        if line.startswith("event:"):
            event = line[6:].strip()
            if event == "error":
                raise RuntimeError(f"{response.url}: the run failed")
            seen = seen or event == last_event
    if not seen:
        raise RuntimeError(f"{response.url}: the stream ended without `{last_event}`")


def opengpts(build: Build, client: httpx.Client, n) -> None:
    response = client.post(f"{build.base}/threads", json={"name": f"t{n}", "assistant_id": build.assistant_id})
    response.raise_for_status()
    body = {"thread_id": response.json()["thread_id"], "input": [{"content": f"have a good day {n}", "type": "human"}]}
    with client.stream("POST", f"{build.base}/runs/stream", json=body) as stream:
        stream_until(stream, "end")


def promptql(build: Build, client: httpx.Client, n) -> None:
    with client.stream("POST", f"{build.base}/threads", json={"message": f"have a good day {n}"}) as stream:
        stream_until(stream, "finish")


PATHS = {"opengpts": opengpts, "promptql": promptql}


def measure(build: Build, path, runs: int, workers: int) -> dict:
    latencies, lock = [], threading.Lock()
    counter = iter(range(runs))

    def work(_):
        with httpx.Client(headers=build.headers, timeout=60) as client:
            for n in counter:
                started = time.monotonic()
                path(build, client, n)
                with lock:
                    latencies.append(time.monotonic() - started)
                    progress(f"{build.label} {path.__name__} c{workers}: {len(latencies)}/{runs}")

    cpu_before = build.cpu()
    started = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(work, range(workers)))
    elapsed = time.monotonic() - started
    progress("")
    web, worker = ((after - before) / runs for after, before in zip(build.cpu(), cpu_before))
    return {"rate": runs / elapsed, "latencies": latencies, "cpu": web + worker, "web": web, "worker": worker}


def vacuum_analyze(*databases: str) -> None:
    import psycopg

    from _stack import PG

    for database in databases:
        with psycopg.connect(f"{PG}/{database}", autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")


def line(label: str, result: dict) -> str:
    return (f"{label} {result['rate']:6.1f} runs/s   p50 {percentile(result['latencies'], 50) * 1000:6.1f} ms   "
            f"p95 {percentile(result['latencies'], 95) * 1000:6.1f} ms   CPU per run {result['cpu'] * 1000:5.1f} ms "
            f"(web {result['web'] * 1000:4.1f} + worker {result['worker'] * 1000:4.1f})")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", type=Path, help="source folder of build A (e.g. a worktree of the older commit)")
    parser.add_argument("b", type=Path, help="source folder of build B")
    parser.add_argument("--runs", type=int, default=100, help="runs per build, path, concurrency and round")
    parser.add_argument("--rounds", type=int, default=4, help="pairs of rounds (A, B then B, A, ...)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--paths", nargs="+", choices=list(PATHS), default=list(PATHS))
    parser.add_argument("--warm", type=int, default=20, help="unmeasured runs per build and path first")
    args = parser.parse_args()
    from tests.fakes.llm_server import ScriptedLLMServer

    print(f"A/B of two builds; zero-latency scripted LLM; {args.runs} runs per round; machine: {os.cpu_count()} cores, load average {load()}")
    llm = ScriptedLLMServer(fallback=fallback).start()
    results = {}
    try:
        with ExitStack() as stacks:
            builds = []
            for label, root in (("A", args.a.resolve()), ("B", args.b.resolve())):
                stack, headers, database = stacks.enter_context(build_stack(root, llm.base_url))
                builds.append(Build(label, root, stack, headers, database))
            for build in builds:
                print(f"{build.describe()}: 1 daphne + {len(build.stack.workers)} Celery worker")
            for name in args.paths:
                for build in builds:
                    progress(f"warming {build.label} {name} …")
                    with httpx.Client(headers=build.headers, timeout=60) as client:
                        for i in range(args.warm):
                            PATHS[name](build, client, f"warm {i}")
                for workers in args.concurrency:
                    vacuum_analyze(*(build.database for build in builds))
                    for number in range(args.rounds):
                        for build in builds if number % 2 == 0 else builds[::-1]:
                            result = measure(build, PATHS[name], args.runs, workers)
                            results.setdefault((name, workers, build.label), []).append(result)
                            print(f"{name:<8} c{workers:<2} round {number + 1}  {line(build.label, result)}   load {load()}", flush=True)
    finally:
        llm.stop()
    print(f"\nsummary ({args.rounds} rounds each; runs/s and CPU: median round; latencies: all runs); load average at end {load()}")
    for name in args.paths:
        for workers in args.concurrency:
            a, b = results[(name, workers, "A")], results[(name, workers, "B")]
            pooled = {}
            for label, rounds in (("A", a), ("B", b)):
                pooled[label] = {"rate": statistics.median(r["rate"] for r in rounds), "latencies": [x for r in rounds for x in r["latencies"]],
                                 **{key: statistics.median(r[key] for r in rounds) for key in ("cpu", "web", "worker")}}
                print(f"  {name:<8} c{workers:<2} {line(label, pooled[label])}")
            paired = [rb["rate"] / ra["rate"] for ra, rb in zip(a, b)]
            print(f"  {name:<8} c{workers:<2} B/A runs/s {statistics.median(paired):.2f}× (paired: {', '.join(f'{r:.2f}' for r in paired)}); "
                  f"p50 {percentile(pooled['B']['latencies'], 50) / percentile(pooled['A']['latencies'], 50):.2f}×; "
                  f"CPU per run {pooled['B']['cpu'] / pooled['A']['cpu']:.2f}× ({(pooled['B']['cpu'] - pooled['A']['cpu']) * 1000:+.1f} ms)")


if __name__ == "__main__":
    main()
