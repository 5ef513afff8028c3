"""OpenGPTs `/runs/stream` under a zero-latency scripted LLM, on real daphne + Celery + Postgres + Redis.

Prints runs/s, p50/p95 run latency and time to the first `data` event at concurrency 1 and 10, beside
OpenGPTs' own figures measured on this kind of machine (13.4 runs/s sequential, p50 71 ms; 19.5
runs/s at concurrency 10, p50 489 ms, first `data` 123 ms) as ratios. Each iteration creates a thread
and streams one run on it, as a fresh OpenGPTs conversation does.

The machine's speed drifts by up to 1.5x within minutes, so the measurement is repeated in rounds
(concurrency 1, then 10, in each) on one stack: every round is printed, then the median round.

    .venv/bin/python bench/opengpts_runs.py [--runs 200] [--rounds 3]
"""

import argparse
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from _stack import bench_stack, cpu_seconds, percentile, progress

OPENGPTS = {1: {"rate": 13.4, "p50": 0.071}, 10: {"rate": 19.5, "p50": 0.489, "first_data": 0.123}}


def fallback(body):
    from tests.fakes.llm_server import last_user_text, text

    return text("You too! If you have any other questions, feel free to ask. " + last_user_text(body)[-8:], chunks=4)


def one_run(client, base, headers, thread_id, n):
    started = time.monotonic()
    first_data = None
    body = {"thread_id": thread_id, "input": {"messages": [{"content": f"have a good day {n}", "type": "human"}]}}
    ended = None
    with client.stream("POST", f"{base}/runs/stream", json=body, headers=headers, timeout=60) as response:
        for line in response.iter_lines():
            if line.startswith("event: data") and first_data is None:
                first_data = time.monotonic() - started
            if line.startswith("event: end") and ended is None:
                ended = time.monotonic() - started
            if line.startswith("event: error"):
                raise RuntimeError("run failed")
        # Read to the end of the stream, as an SSE client does: the connection is kept for the next run.
    if ended is None:
        raise RuntimeError("the stream ended without `end`")
    return ended, first_data


def measure(base, headers, assistant_id, runs, workers):
    latencies, firsts, lock = [], [], threading.Lock()
    counter = iter(range(runs))

    def work(index):
        with httpx.Client() as client:
            for n in counter:
                # A fresh thread per run (created outside the timed part): the run, not a growing
                # history, is what is measured.
                thread_id = client.post(f"{base}/threads", headers=headers, json={"name": f"t{n}", "assistant_id": assistant_id}).json()["thread_id"]
                latency, first = one_run(client, base, headers, thread_id, n)
                with lock:
                    latencies.append(latency)
                    firsts.append(first)
                    progress(f"concurrency {workers}: {len(latencies)}/{runs}")

    started = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(work, range(workers)))
    return runs / (time.monotonic() - started), latencies, firsts


def describe(workers: int, rate: float, latencies: list, firsts: list) -> str:
    base_line = OPENGPTS[workers]
    line = (f"concurrency {workers:>2}: {rate:6.1f} runs/s ({rate / base_line['rate']:.1f}× OpenGPTs' {base_line['rate']})   "
            f"p50 {percentile(latencies, 50) * 1000:.1f} ms (OpenGPTs {base_line['p50'] * 1000:.0f} ms)   "
            f"p95 {percentile(latencies, 95) * 1000:.1f} ms   first data p50 {percentile(firsts, 50) * 1000:.1f} ms")
    if "first_data" in base_line:
        line += f" (OpenGPTs {base_line['first_data'] * 1000:.0f} ms)"
    return line


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200, help="runs per concurrency level and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rounds: dict[int, list] = {1: [], 10: []}
    print("OpenGPTs /runs/stream, zero-latency scripted LLM, 1 daphne + 1 worker (-P threads -c 8), Postgres + Redis")
    with bench_stack(fallback) as (stack, llm, headers, data_source_id):
        base = stack.base_url
        with httpx.Client(headers=headers) as client:
            assistant = client.post(f"{base}/assistants", json={"name": "bench", "config": {"configurable": {}}}).json()
            warm = client.post(f"{base}/threads", json={"name": "warm", "assistant_id": assistant["assistant_id"]}).json()["thread_id"]
            for i in range(10):
                one_run(client, base, headers, warm, f"warm {i}")
        processes = {"web": [stack.web.pid], "worker": [worker.pid for worker in stack.workers]}
        for number in range(1, args.rounds + 1):
            for workers in (1, 10):
                cpu_before = {name: sum(map(cpu_seconds, pids)) for name, pids in processes.items()}
                rate, latencies, firsts = measure(base, headers, assistant["assistant_id"], args.runs, workers)
                cpu = {name: (sum(map(cpu_seconds, pids)) - cpu_before[name]) / args.runs * 1000 for name, pids in processes.items()}
                rounds[workers].append((rate, latencies, firsts))
                progress("")
                print(f"round {number}  {describe(workers, rate, latencies, firsts)}   "
                      f"CPU per thread + run: web {cpu['web']:.1f} ms, worker {cpu['worker']:.1f} ms", flush=True)
    print(f"median of {args.rounds} round(s), by runs/s:")
    for workers, measured in rounds.items():
        median = sorted(measured, key=lambda r: r[0])[(len(measured) - 1) // 2]
        print(f"  {describe(workers, *median)}")


if __name__ == "__main__":
    main()
