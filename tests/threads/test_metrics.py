import pytest
from django.test import Client
from django.utils import timezone

from threads.models import Confirmation, Run, RunEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def activity(thread):
    now = timezone.now()
    done = Run.objects.create(thread=thread, status=Run.Status.COMPLETED, usage={"prompt_tokens": 100, "completion_tokens": 20},
                              finished_at=now)
    Run.objects.create(thread=thread, status=Run.Status.FAILED, usage={"prompt_tokens": 5, "completion_tokens": 1}, finished_at=now)
    RunEvent.objects.create(thread=thread, run=done, seq=1, type="tool_response_message", data={"output": {"error": None}})
    RunEvent.objects.create(thread=thread, run=done, seq=2, type="tool_response_message",
                            data={"output": {"error": "the code was stopped: it used more than 30 s of CPU"}})
    Confirmation.objects.create(thread=thread, run=done, message="DELETE FROM x", status="DENIED", expires_at=now)
    return thread


def test_metrics_from_the_database(activity):
    body = Client().get("/metrics").content.decode()
    assert 'querent_runs{status="completed"} 1.0' in body
    assert 'querent_runs{status="failed"} 1.0' in body
    assert 'querent_runs{status="running"} 0.0' in body
    assert 'querent_llm_tokens_total{kind="prompt"} 105.0' in body
    assert 'querent_llm_tokens_total{kind="completion"} 21.0' in body
    assert "querent_sandbox_runs_total 2.0" in body
    assert "querent_sandbox_kills_total 1.0" in body
    assert 'querent_confirmations{status="DENIED"} 1.0' in body
    assert 'querent_run_latency_seconds{quantile="0.5"}' in body


def test_metrics_token(activity, settings):
    settings.METRICS_TOKEN = "scrape-me"
    assert Client().get("/metrics").status_code == 401
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me").status_code == 200
