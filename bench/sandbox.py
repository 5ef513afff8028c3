"""Sandbox latency: pool start-up, warm snippets, and a cold `python -c` start for comparison.

    .venv/bin/python bench/sandbox.py [--runs 1000] [--cold-runs 50] [--pace SECONDS] [--pool-size N]

Warm runs go through SandboxPool.execute exactly as the worker calls it (bubblewrap, seccomp,
rlimits, a fresh forked child per snippet). The cold baseline starts a new interpreter per snippet
with no sandbox at all, so the ratio understates what the pool saves over a cold sandbox.
By default warm runs go back to back, which on a small machine also measures how fast finished
children are torn down and spares are prepared; --pace adds idle time between runs, as an agent
waiting for its model would.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("QUERENT_SECRET_KEY", "bench-only-not-a-secret")

import django  # noqa: E402

django.setup()

from executor.sandbox import SandboxConfig, SandboxPool  # noqa: E402

SNIPPETS = {
    "trivial": "executor.print(1 + 1)",
    "pandas groupby": (
        "import pandas as pd\n"
        "frame = pd.DataFrame({'key': [i % 10 for i in range(1000)], 'value': range(1000)})\n"
        "executor.print(frame.groupby('key')['value'].sum().head(3).to_dict())\n"
    ),
}
# What the cold run needs instead of the sandbox's `executor` object.
COLD_PRELUDE = "class executor:\n    print = print\n"


class NullHost:
    def run_sql(self, sql):
        return []

    def store_artifact(self, identifier, title, artifact_type, data):
        pass

    def get_artifact(self, identifier):
        return None


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure(label: str, runs: int, run_once, pace: float = 0.0) -> list[float]:
    timings = []
    for number in range(1, runs + 1):
        started = time.perf_counter()
        run_once()
        timings.append((time.perf_counter() - started) * 1000)
        if number % max(1, runs // 50) == 0 or number == runs:
            sys.stderr.write(f"\r  {label}: {number}/{runs} runs, p50 so far {percentile(timings, 0.5):.2f} ms   ")
            sys.stderr.flush()
        if pace:
            time.sleep(pace)
    sys.stderr.write("\n")
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1000, help="warm runs per snippet (default 1000)")
    parser.add_argument("--cold-runs", type=int, default=50, help="cold python -c runs per snippet (default 50)")
    parser.add_argument("--pace", type=float, default=0.0, help="seconds of idle time between warm runs (default 0)")
    parser.add_argument("--pool-size", type=int, default=None, help="zygotes in the pool (default: settings)")
    args = parser.parse_args()

    config = SandboxConfig.from_settings()
    if args.pool_size:
        config = SandboxConfig(**{**config.__dict__, "pool_size": args.pool_size})
    pool = SandboxPool(config)
    started = time.perf_counter()
    pool.start()
    print(f"pool start: {time.perf_counter() - started:.2f} s for {config.pool_size} zygotes "
          f"(mode: {pool.mode}, {os.cpu_count()} CPUs)")
    host = NullHost()
    rows = []
    try:
        for name, code in SNIPPETS.items():
            check = pool.execute(code, host)
            if check["error"]:
                raise SystemExit(f"{name} failed in the sandbox: {check['error']}")
            warm = measure(f"warm {name}", args.runs, lambda code=code: pool.execute(code, host), args.pace)
            command = [sys.executable, "-I", "-c", COLD_PRELUDE + code]
            cold = measure(f"cold {name}", args.cold_runs,
                           lambda command=command: subprocess.run(command, check=True, capture_output=True))
            rows.append((name, warm, cold))
    finally:
        pool.shutdown()

    pacing = f"{args.pace * 1000:g} ms apart" if args.pace else "back to back"
    print(f"\nwarm: {args.runs} runs per snippet, {pacing}; cold: {args.cold_runs} runs of `python -I -c`")
    print(f"{'snippet':<16} {'warm p50':>10} {'warm p95':>10} {'cold p50':>10} {'cold p95':>10} {'cold/warm':>10}")
    for name, warm, cold in rows:
        w50, w95 = percentile(warm, 0.5), percentile(warm, 0.95)
        c50, c95 = percentile(cold, 0.5), percentile(cold, 0.95)
        print(f"{name:<16} {w50:>8.2f}ms {w95:>8.2f}ms {c50:>8.2f}ms {c95:>8.2f}ms {c50 / w50:>9.1f}x")


if __name__ == "__main__":
    main()
