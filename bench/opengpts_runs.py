"""Querent and the real OpenGPTs backend side by side: `POST /threads` + `POST /runs/stream`.

One invocation starts both products on this machine: Querent (1 daphne + 1 Celery worker,
PostgreSQL + Redis, a scratch database) and OpenGPTs (upstream's unchanged backend from the anchor
folder, one uvicorn process as its Dockerfile starts it, its own scratch database; see
bench/_opengpts.py, which installs what it needs on first use). Both answer from the same
zero-latency scripted LLM (tests/fakes/llm_server.py, the OpenAI chat-completions protocol,
Nagle's algorithm off); OpenGPTs' assistant is its chatbot on "GPT 3.5 Turbo", which calls that
server at OPENAI_BASE_URL. The same client code drives both.

Each iteration creates a thread and streams one run on it. Measured per iteration: the run's
latency (request to `end`), the time to the first answer text (the first `data` frame holding an
AI message with non-empty content: OpenGPTs' first `data` frame is an echo of the input, so the
first frame would flatter it), and the CPU of each product's server processes per iteration
(Querent: web + worker; OpenGPTs: its uvicorn process). Rounds alternate products (Querent,
OpenGPTs, then OpenGPTs, Querent, ...) at each concurrency, with VACUUM ANALYZE on both databases
before every round; the ratios are medians of the ratios of paired rounds.

    .venv/bin/python bench/opengpts_runs.py [--runs 100] [--rounds 3] [--concurrency 1 10]
"""

import argparse
import json
import os
import statistics
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from _opengpts import opengpts_server
from _stack import PG, bench_stack, cpu_seconds, percentile, progress

QUESTION = "have a good day"
ANSWER = "You too! If you have any other questions, feel free to ask. "


def fallback(body):
    from tests.fakes.llm_server import last_user_text, text

    return text(ANSWER + last_user_text(body)[-8:], chunks=4)


class Product:
    def __init__(self, name: str, base: str, headers: dict, cookies: dict, database: str, pids: list[int], assistant_body: dict):
        self.name, self.base, self.headers, self.cookies, self.database, self.pids = name, base, headers, cookies, database, pids
        with httpx.Client(headers=headers, cookies=cookies) as client:
            response = client.post(f"{base}/assistants", json=assistant_body)
            response.raise_for_status()
            self.assistant_id = response.json()["assistant_id"]

    def client(self) -> httpx.Client:
        return httpx.Client(headers=self.headers, cookies=self.cookies, timeout=60)

    def cpu(self) -> float:
        return sum(map(cpu_seconds, self.pids))


def is_answer(message: dict) -> bool:
    return message.get("type") in ("ai", "AIMessageChunk") and bool(message.get("content"))


def iteration(product: Product, client: httpx.Client, n) -> tuple[float, float]:
    """A new thread (not timed) and one streamed run on it: (latency, time to first answer text)."""
    response = client.post(f"{product.base}/threads", json={"name": f"t{n}", "assistant_id": product.assistant_id})
    response.raise_for_status()
    body = {"thread_id": response.json()["thread_id"], "input": [{"content": f"{QUESTION} {n}", "type": "human"}]}
    started = time.monotonic()
    first_answer = ended = None
    event = None
    with client.stream("POST", f"{product.base}/runs/stream", json=body) as stream:
        if stream.status_code != 200:
            raise RuntimeError(f"{product.name}: /runs/stream answered {stream.status_code}: {stream.read()[:300]!r}")
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
                if event == "end" and ended is None:
                    ended = time.monotonic() - started
                elif event == "error":
                    raise RuntimeError(f"{product.name}: the run failed")
            elif line.startswith("data:") and event == "data" and first_answer is None:
                if any(is_answer(m) for m in json.loads(line[5:]) if isinstance(m, dict)):
                    first_answer = time.monotonic() - started
        # Read to the end of the stream, as an SSE client does: the connection serves the next run.
    if ended is None or first_answer is None:
        raise RuntimeError(f"{product.name}: the stream ended without {'`end`' if ended is None else 'answer text'}")
    return ended, first_answer


def measure(product: Product, runs: int, workers: int) -> dict:
    latencies, firsts, lock = [], [], threading.Lock()
    counter = iter(range(runs))

    def work(_):
        with product.client() as client:
            for n in counter:
                latency, first = iteration(product, client, n)
                with lock:
                    latencies.append(latency)
                    firsts.append(first)
                    progress(f"{product.name} concurrency {workers}: {len(latencies)}/{runs}")

    cpu_before = product.cpu()
    started = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(work, range(workers)))
    elapsed = time.monotonic() - started
    progress("")
    return {"rate": runs / elapsed, "latencies": latencies, "firsts": firsts, "cpu": (product.cpu() - cpu_before) / runs}


def vacuum_analyze(*databases: str) -> None:
    import psycopg

    for database in databases:
        with psycopg.connect(f"{PG}/{database}", autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")


def line(name: str, result: dict) -> str:
    return (f"{name:<8} {result['rate']:6.1f} runs/s   p50 {percentile(result['latencies'], 50) * 1000:6.1f} ms   "
            f"p95 {percentile(result['latencies'], 95) * 1000:6.1f} ms   first answer text p50 "
            f"{percentile(result['firsts'], 50) * 1000:6.1f} ms   CPU per iteration {result['cpu'] * 1000:5.1f} ms")


def load() -> str:
    return " ".join(open("/proc/loadavg").read().split()[:3])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=100, help="iterations per product, concurrency level and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--warm", type=int, default=20, help="unmeasured iterations per product first")
    args = parser.parse_args()
    print(f"OpenGPTs /threads + /runs/stream, side by side; zero-latency scripted LLM; {args.runs} iterations per round")
    print(f"machine: {os.cpu_count()} cores, load average at start {load()}")
    with bench_stack(fallback) as (stack, llm, headers, _), opengpts_server(llm.base_url) as (og_base, og_pid, og_database):
        querent = Product("Querent", stack.base_url, headers, {}, os.environ["DATABASE_URL"].rsplit("/", 1)[1],
                          [stack.web.pid, *(worker.pid for worker in stack.workers)], {"name": "bench", "config": {"configurable": {}}})
        opengpts = Product("OpenGPTs", og_base, {}, {"opengpts_user_id": "bench"}, og_database, [og_pid], {
            "name": "bench", "public": False,
            "config": {"configurable": {"type": "chatbot", "type==chatbot/llm_type": "GPT 3.5 Turbo",
                                        "type==chatbot/system_message": "You are helpful"}},
        })
        commit = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True).stdout.strip()
        print(f"Querent {commit or ''}: 1 daphne + {len(stack.workers)} Celery worker process(es); "
              f"OpenGPTs (upstream 8e7fef7, unchanged): 1 uvicorn process")
        for product in (querent, opengpts):
            progress(f"warming {product.name} …")
            with product.client() as client:
                for i in range(args.warm):
                    iteration(product, client, f"warm {i}")
        progress("")
        results = {(p.name, c): [] for p in (querent, opengpts) for c in args.concurrency}
        for number in range(args.rounds):
            order = (querent, opengpts) if number % 2 == 0 else (opengpts, querent)
            for workers in args.concurrency:
                for product in order:
                    vacuum_analyze(querent.database, opengpts.database)
                    result = measure(product, args.runs, workers)
                    results[(product.name, workers)].append(result)
                    print(f"round {number + 1}  c{workers:<2}  {line(product.name, result)}   load {load()}", flush=True)
    print(f"\nsummary over {args.rounds} round(s) (runs/s and CPU: median round; latencies: all iterations); "
          f"load average at end {load()}")
    for workers in args.concurrency:
        pooled = {}
        for name in ("Querent", "OpenGPTs"):
            rounds = results[(name, workers)]
            pooled[name] = {
                "rate": statistics.median(r["rate"] for r in rounds),
                "latencies": [x for r in rounds for x in r["latencies"]],
                "firsts": [x for r in rounds for x in r["firsts"]],
                "cpu": statistics.median(r["cpu"] for r in rounds),
            }
            print(f"  c{workers:<2} {line(name, pooled[name])}")
        paired = [q["rate"] / o["rate"] for q, o in zip(results[("Querent", workers)], results[("OpenGPTs", workers)])]
        q, o = pooled["Querent"], pooled["OpenGPTs"]
        print(f"  c{workers:<2} ratio Querent/OpenGPTs: runs/s {statistics.median(paired):.2f}× (paired rounds: "
              f"{', '.join(f'{r:.2f}' for r in paired)}); p50 latency {percentile(o['latencies'], 50) / percentile(q['latencies'], 50):.2f}× lower; "
              f"first answer text p50 {percentile(o['firsts'], 50) / percentile(q['firsts'], 50):.2f}× sooner; "
              f"CPU per iteration {o['cpu'] / q['cpu']:.2f}× less")


if __name__ == "__main__":
    main()
