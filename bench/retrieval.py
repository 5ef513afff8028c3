"""Document ingest and retrieval cost, on the embedded database (SQLite in a scratch folder).

Ingests `--documents` synthetic documents of `--paragraphs` paragraphs each into one assistant
(parse, chunk, store), then times `assistants.retrieval.search` (load the scope's chunk terms,
BM25, fetch the passages) for questions whose answer is in one passage, and checks that passage
ranks first. Prints ingest throughput and search p50/p95 per scope size.

    .venv/bin/python bench/retrieval.py [--documents 10 50 200] [--paragraphs 20] [--queries 50]
"""

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WORDS = ("invoice customer shipment warehouse ledger payroll contract supplier quarterly revenue forecast budget audit "
         "policy holiday badge visitor reception security laptop network printer office meeting travel expense").split()


def paragraph(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(60)) + "."


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--paragraphs", type=int, default=20)
    parser.add_argument("--queries", type=int, default=50)
    args = parser.parse_args()

    scratch = tempfile.mkdtemp(prefix="querent-bench-retrieval-")
    for name in ("DATABASE_URL", "REDIS_URL", "QUERENT_EMBEDDINGS_MODEL"):
        os.environ.pop(name, None)
    os.environ.update({"QUERENT_SECRET_KEY": "bench", "QUERENT_VAR_DIR": scratch, "DJANGO_SETTINGS_MODULE": "config.settings"})
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from assistants import document_services, retrieval
    from assistants.document_services import Scope, Upload
    from assistants.models import Assistant
    from config.identity import Principal

    principal = Principal("bench", "bench")
    print(f"scratch SQLite database (removed at the end); {args.paragraphs} paragraphs of 60 words per document, lexical ranking")
    for count in args.documents:
        rng = random.Random(count)
        assistant = Assistant.objects.create(tenant="bench", owner="bench", name=f"bench-{count}")
        scope = Scope(assistant=assistant)
        answers = []
        uploads = []
        for d in range(count):
            paragraphs = [paragraph(rng) for _ in range(args.paragraphs)]
            code = f"zx{d:05d}"
            paragraphs[rng.randrange(len(paragraphs))] = f"The vault combination for site {code} is {d * 7 + 1000}."
            answers.append(code)
            uploads.append(Upload(f"doc-{d}.txt", "\n\n".join(paragraphs).encode()))
        started = time.perf_counter()
        stored = []
        for start in range(0, len(uploads), 50):  # the per-scope document limit counts what is held
            with override(max_documents=count + 1):
                stored += document_services.ingest(principal, scope, uploads[start:start + 50])
        ingest_seconds = time.perf_counter() - started
        chunks = sum(d.chunk_count for d in stored)
        timings, first = [], 0
        for q in range(args.queries):
            code = answers[q % count]
            began = time.perf_counter()
            found = retrieval.search(scope.documents("bench"), f"vault combination for site {code}")
            timings.append(time.perf_counter() - began)
            first += bool(found) and code in found[0].text
        timings.sort()
        p95 = timings[min(len(timings) - 1, int(0.95 * len(timings)))]
        print(f"{count:>5} documents, {chunks:>6} passages: ingest {ingest_seconds:.2f} s ({chunks / ingest_seconds:.0f} passages/s); "
              f"search p50 {statistics.median(timings) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms; answer ranked first {first}/{args.queries}")
    shutil.rmtree(scratch, ignore_errors=True)


class override:
    def __init__(self, max_documents: int):
        from django.test import override_settings

        self.inner = override_settings(MAX_DOCUMENTS_PER_SCOPE=max_documents)

    def __enter__(self):
        self.inner.enable()

    def __exit__(self, *exc):
        self.inner.disable()


if __name__ == "__main__":
    main()
