"""Prometheus `/metrics`, computed from the database at scrape time.

Every web and worker process on every machine writes to the same database, so reading the totals
there gives one consistent picture without a multi-process metrics directory or a push gateway.
"""

import secrets
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, F, IntegerField, Sum
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.http import HttpResponse
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from config.errors import json_error

from .models import Confirmation, Feedback, Run, RunEvent

LATENCY_WINDOW = timedelta(hours=1)
SANDBOX_KILLED_PREFIX = "the code was stopped"


def _quantile(values, q):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]


class QuerentCollector:
    def collect(self):
        runs = GaugeMetricFamily("querent_runs", "Runs by status", labels=["status"])
        counts = dict(Run.objects.values_list("status").annotate(n=Count("id")))
        for status in Run.Status.values:
            runs.add_metric([status], counts.get(status, 0))
        yield runs

        latency = GaugeMetricFamily("querent_run_latency_seconds", "Run latency (queued to finished) over the last hour", labels=["quantile"])
        since = timezone.now() - LATENCY_WINDOW
        durations = [
            d.total_seconds()
            for d in Run.objects.filter(finished_at__gte=since).annotate(d=F("finished_at") - F("created_at")).values_list("d", flat=True)[:10000]
            if d is not None
        ]
        for q in (0.5, 0.95, 0.99):
            latency.add_metric([str(q)], _quantile(durations, q))
        yield latency

        tokens = CounterMetricFamily("querent_llm_tokens", "LLM tokens used by runs", labels=["kind"])
        sums = Run.objects.aggregate(
            prompt=Sum(Cast(KeyTextTransform("prompt_tokens", "usage"), IntegerField())),
            completion=Sum(Cast(KeyTextTransform("completion_tokens", "usage"), IntegerField())),
        )
        tokens.add_metric(["prompt"], sums["prompt"] or 0)
        tokens.add_metric(["completion"], sums["completion"] or 0)
        yield tokens

        snippets = RunEvent.objects.filter(type="tool_response_message")
        yield CounterMetricFamily("querent_sandbox_runs", "Code snippets executed in the sandbox", value=snippets.count())
        killed = snippets.filter(payload__contains=f'"error": "{SANDBOX_KILLED_PREFIX}').count()
        yield CounterMetricFamily("querent_sandbox_kills", "Snippets the sandbox had to stop (limits, crashes)", value=killed)

        confirmations = GaugeMetricFamily("querent_confirmations", "Confirmations by status", labels=["status"])
        by_status = dict(Confirmation.objects.values_list("status").annotate(n=Count("id")))
        for status in Confirmation.Status.values:
            confirmations.add_metric([status], by_status.get(status, 0))
        yield confirmations

        # People's ratings of runs (OpenGPTs' thumbs): how many per key, and the scores' sum, so a
        # dashboard can show the mean of each.
        feedback = CounterMetricFamily("querent_feedback", "Feedback given on runs, by key", labels=["key"])
        score = GaugeMetricFamily("querent_feedback_score_sum", "Sum of the scores given on runs, by key", labels=["key"])
        for key, n, total in Feedback.objects.values_list("key").annotate(n=Count("id"), total=Sum("score")).values_list("key", "n", "total")[:100]:
            feedback.add_metric([key], n)
            score.add_metric([key], total or 0)
        yield feedback
        yield score


def metrics(request):
    if settings.METRICS_TOKEN:
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not secrets.compare_digest(sent, settings.METRICS_TOKEN):
            return json_error("metrics need 'Authorization: Bearer <QUERENT_METRICS_TOKEN>'", 401)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(QuerentCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
