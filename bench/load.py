"""Load: websocket subscribers on running threads while runs arrive at a steady rate.

Defaults follow the reliability issue: 200 subscribers (10 per thread on 20 threads), 20 runs/s
for 60 s, a zero-latency scripted LLM, one daphne and one worker. Prints event delivery latency
p50/p99 (model reply generated → event received by a subscriber), events lost or duplicated (from
the per-thread seq), run error rate, and the RSS of the web and worker processes over time.

    .venv/bin/python bench/load.py [--subscribers 200] [--threads 20] [--rate 20] [--seconds 60]
"""

import argparse
import asyncio
import json
import time
from pathlib import Path

import httpx
import websockets

from _stack import bench_stack, percentile, progress


def fallback(body):
    from tests.fakes.llm_server import text

    return text(json.dumps({"sent": time.time()}), chunks=1)


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


async def subscriber(ws_url, thread_id, token, stats, stop):
    seqs, latencies = [], []
    async with websockets.connect(f"{ws_url}/ws/threads/{thread_id}/?token={token}", open_timeout=30) as ws:
        stats["connected"] += 1
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=0.5)
            except asyncio.TimeoutError:
                continue
            message = json.loads(raw)
            if "seq" not in message:
                continue
            seqs.append(message["seq"])
            if message["event"] == "assistant_response_message":
                latencies.append(time.time() - json.loads(message["data"]["text"])["sent"])
    stats["latencies"].extend(latencies)
    expected = list(range(seqs[0], seqs[-1] + 1)) if seqs else []
    stats["lost"] += len(set(expected) - set(seqs))
    stats["duplicated"] += len(seqs) - len(set(seqs))
    stats["events"] += len(seqs)


async def driver(base, headers, threads, rate, seconds, stats):
    interval = 1 / rate
    async with httpx.AsyncClient(headers=headers, timeout=30) as client:
        started = time.monotonic()
        n = 0
        pending = set()
        while time.monotonic() - started < seconds:
            thread_id = threads[n % len(threads)]
            body = {"thread_id": thread_id, "input": [{"content": f"load {n}", "type": "human"}]}

            async def post(body=body):
                try:
                    response = await client.post(f"{base}/runs", json=body)
                    if response.status_code == 200:
                        stats["runs"] += 1
                    elif response.status_code == 400 and "in progress" in response.text:
                        stats["busy"] += 1  # the thread's previous run was still going
                    else:
                        stats["errors"] += 1
                except httpx.HTTPError:
                    stats["errors"] += 1

            pending.add(asyncio.create_task(post()))
            pending = {t for t in pending if not t.done()}
            n += 1
            await asyncio.sleep(max(0, started + n * interval - time.monotonic()))
        await asyncio.gather(*pending)


async def run_load(stack, headers, args):
    base, token = stack.base_url, headers["Authorization"].split()[1]
    async with httpx.AsyncClient(headers=headers, timeout=30) as client:
        assistant = (await client.post(f"{base}/assistants", json={"name": "load", "config": {}})).json()
        threads = [(await client.post(f"{base}/threads", json={"name": f"load {i}", "assistant_id": assistant["assistant_id"]})).json()["thread_id"]
                   for i in range(args.threads)]
    stats = {"connected": 0, "latencies": [], "lost": 0, "duplicated": 0, "events": 0, "runs": 0, "busy": 0, "errors": 0}
    stop = asyncio.Event()
    subs = [asyncio.create_task(subscriber(stack.ws_url, threads[i % len(threads)], token, stats, stop)) for i in range(args.subscribers)]
    while stats["connected"] < args.subscribers:
        await asyncio.sleep(0.1)
        progress(f"subscribers connected: {stats['connected']}/{args.subscribers}")
    rss = []

    async def sample():
        started = time.monotonic()
        while not stop.is_set():
            rss.append((round(time.monotonic() - started), rss_mb(stack.web.pid), rss_mb(stack.workers[0].pid)))
            progress(f"t={rss[-1][0]}s runs={stats['runs']} busy={stats['busy']} errors={stats['errors']} events={len(stats['latencies'])}")
            await asyncio.sleep(5)

    sampler = asyncio.create_task(sample())
    await driver(base, headers, threads, args.rate, args.seconds, stats)
    await asyncio.sleep(5)  # let the last runs finish and reach everyone
    stop.set()
    await asyncio.gather(*subs, sampler)
    return stats, rss


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=200)
    parser.add_argument("--threads", type=int, default=20)
    parser.add_argument("--rate", type=float, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    with bench_stack(fallback) as (stack, llm, headers, _):
        stats, rss = asyncio.run(run_load(stack, headers, args))
    progress("")
    attempted = stats["runs"] + stats["busy"] + stats["errors"]
    print(f"load: {args.subscribers} websocket subscribers on {args.threads} threads, {args.rate:g} runs/s for {args.seconds:g} s")
    print(f"runs started {stats['runs']}, refused because the thread was busy {stats['busy']}, errors {stats['errors']} "
          f"(error rate {stats['errors'] / max(1, attempted):.2%})")
    print(f"events delivered {stats['events']}, lost {stats['lost']}, duplicated {stats['duplicated']}")
    lat = stats["latencies"]
    print(f"delivery latency (reply generated → subscriber): p50 {percentile(lat, 50) * 1000:.1f} ms, p99 {percentile(lat, 99) * 1000:.1f} ms ({len(lat)} samples)")
    print("RSS MB over time (s: web, worker): " + ", ".join(f"{t}: {w:.0f}, {k:.0f}" for t, w, k in rss))


if __name__ == "__main__":
    main()
