"""PromptQL threads under a zero-latency scripted LLM, on real daphne + Celery + Postgres + Redis.

Prints: runs/s and p50/p95 run latency (sequential and at concurrency 10), the CPU the web and
worker processes spend per sequential run, time from the LLM's first token to the first SSE byte
carrying it, and confirm POST → tool_response_message latency.

    .venv/bin/python bench/threads_stream.py [--runs 200] [--confirms 30]
"""

import argparse
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from _stack import bench_stack, cpu_seconds, percentile, progress

first_token_sent: dict[str, float] = {}


def fallback(body):
    from tests.fakes.llm_server import last_user_text, text, tool_call

    question = last_user_text(body)
    messages = body.get("messages") or []
    if "refund" in question:
        if messages[-1].get("role") == "tool":
            return text("Done.", chunks=1)
        return tool_call("rows = executor.run_sql('SELECT issue_credit(3, 1.00) AS credit_id')\nexecutor.print(rows)")
    first_token_sent[question] = time.monotonic()
    return text("Answer to " + question, chunks=1)


def sse_events(response):
    event, data = None, []
    for line in response.iter_lines():
        if line == "":
            if event:
                yield event, json.loads("\n".join(data))
            event, data = None, []
        elif line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])


def one_run(client, base, headers, question, *, all_events=False):
    started = time.monotonic()
    url = f"{base}/threads" + ("?events=all" if all_events else "")
    first_text_at = None
    finished_at = None
    with client.stream("POST", url, json={"message": question}, headers=headers, timeout=60) as response:
        for event, _ in sse_events(response):
            if first_text_at is None and event in ("assistant_delta", "assistant_response_message"):
                first_text_at = time.monotonic()
            if event == "error":
                raise RuntimeError("run failed")
            if event == "finish" and finished_at is None:
                finished_at = time.monotonic()
        # Read to the end of the stream, as an SSE client does: the connection is kept for the next run.
    if finished_at is None:
        raise RuntimeError("the stream ended without `finish`")
    return finished_at - started, first_text_at


def sequential(base, headers, runs):
    latencies = []
    with httpx.Client() as client:
        started = time.monotonic()
        for i in range(runs):
            latencies.append(one_run(client, base, headers, f"seq question {i}")[0])
            progress(f"sequential {i + 1}/{runs}")
        elapsed = time.monotonic() - started
    return runs / elapsed, latencies


def concurrent(base, headers, runs, workers=10):
    latencies, lock = [], threading.Lock()
    counter = iter(range(runs))

    def worker(n):
        with httpx.Client() as client:
            for i in counter:
                latency = one_run(client, base, headers, f"conc question {n}-{i}")[0]
                with lock:
                    latencies.append(latency)
                    progress(f"concurrency {workers}: {len(latencies)}/{runs}")

    started = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(worker, range(workers)))
    return runs / (time.monotonic() - started), latencies


def first_token_latency(base, headers, runs):
    gaps = []
    with httpx.Client() as client:
        for i in range(runs):
            question = f"token question {i}"
            _, first_text_at = one_run(client, base, headers, question, all_events=True)
            gaps.append(first_text_at - first_token_sent[question])
            progress(f"first token {i + 1}/{runs}")
    return gaps


def confirm_latency(base, headers, runs):
    gaps = []
    with httpx.Client() as client:
        for i in range(runs):
            with client.stream("POST", f"{base}/threads", json={"message": f"refund {i}"}, headers=headers, timeout=60) as response:
                events = sse_events(response)
                thread_id = None
                for event, data in events:
                    if event == "start":
                        thread_id = data["thread_id"]
                    if event == "user_confirmation":
                        started = time.monotonic()
                        client.post(f"{base}/threads/{thread_id}/user_confirmation", json={"confirmation_id": data["confirmation_id"], "confirm": True}, headers=headers)
                    if event == "tool_response_message":
                        gaps.append(time.monotonic() - started)
                    if event in ("finish", "error"):
                        break
            progress(f"confirm round trips {i + 1}/{runs}")
    return gaps


def run_breakdown():
    from threads.models import Run

    runs = Run.objects.filter(thread__name__startswith="seq question").exclude(started_at=None).exclude(finished_at=None)
    queue = [(r.started_at - r.created_at).total_seconds() for r in runs]
    work = [(r.finished_at - r.started_at).total_seconds() for r in runs]
    return {"queue": queue, "work": work}


def ms(value):
    return f"{value * 1000:.1f} ms"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--confirms", type=int, default=30)
    args = parser.parse_args()
    with bench_stack(fallback) as (stack, llm, headers, _):
        base = stack.base_url
        with httpx.Client() as client:  # warm-up: connections, pools, first imports
            for i in range(10):
                one_run(client, base, headers, f"warm {i}")
        processes = {"web": stack.web.pid, "worker": stack.workers[0].pid}
        cpu_before = {name: cpu_seconds(pid) for name, pid in processes.items()}
        seq_rate, seq = sequential(base, headers, args.runs)
        cpu_per_run = {name: (cpu_seconds(pid) - cpu_before[name]) / args.runs for name, pid in processes.items()}
        breakdown = run_breakdown()
        conc_rate, conc = concurrent(base, headers, args.runs)
        tokens = first_token_latency(base, headers, 50)
        confirms = confirm_latency(base, headers, args.confirms)
    progress("")
    print("PromptQL threads, zero-latency scripted LLM, 1 daphne + 1 worker (-P threads -c 8), Postgres + Redis")
    print(f"sequential:      {seq_rate:6.1f} runs/s   p50 {ms(percentile(seq, 50))}   p95 {ms(percentile(seq, 95))}   ({len(seq)} runs)")
    print(f"concurrency 10:  {conc_rate:6.1f} runs/s   p50 {ms(percentile(conc, 50))}   p95 {ms(percentile(conc, 95))}   ({len(conc)} runs)")
    print(f"  of which (sequential, from the runs' own timestamps): queued→picked up p50 {ms(percentile(breakdown['queue'], 50))}, "
          f"picked up→finished p50 {ms(percentile(breakdown['work'], 50))}")
    print(f"  CPU per sequential run: web {ms(cpu_per_run['web'])}, worker {ms(cpu_per_run['worker'])}")
    print(f"LLM first token → first SSE byte:  p50 {ms(percentile(tokens, 50))}   p95 {ms(percentile(tokens, 95))}")
    print(f"confirm POST → tool_response_message:  p50 {ms(percentile(confirms, 50))}   p95 {ms(percentile(confirms, 95))}   ({len(confirms)} round trips)")


if __name__ == "__main__":
    main()
