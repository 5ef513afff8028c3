"""The operator's limits are ceilings: the rule (assistants/limits.py) and every adapter that applies
it, in-process — OpenGPTs assistants and runs, Julep agents, the admin form, the engine at run time."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from assistants import limits
from assistants.forms import AssistantAdminForm
from assistants.models import ApiKey, Assistant
from threads.models import Run, Thread

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def operator(settings):
    """Default gpt-4o-mini; gpt-4o may be named too; at most 6 steps per run."""
    settings.QUERENT_MODEL = "gpt-4o-mini"
    settings.QUERENT_ALLOWED_MODELS = ["gpt-4o-mini", "gpt-4o"]
    settings.AGENT_MAX_STEPS = 6
    return settings


# --- the rule --------------------------------------------------------------------------------


def test_allowed_models_always_include_the_default(settings):
    settings.QUERENT_MODEL, settings.QUERENT_ALLOWED_MODELS = "m-default", ["m-other", "m-default", "m-other"]
    assert limits.allowed_models() == ["m-default", "m-other"]
    settings.QUERENT_ALLOWED_MODELS = []
    assert limits.allowed_models() == ["m-default"]


@pytest.mark.parametrize("value, expected", [(None, ""), ("", ""), ("gpt-4o-mini", "gpt-4o-mini"), ("gpt-4o", "gpt-4o")])
def test_allowed_or_empty_model_passes(operator, value, expected):
    assert limits.check_model(value) == expected


@pytest.mark.parametrize("value", ["o1-pro", "gpt-4o ", "GPT-4O", "querent-demo", "x" * 500])
def test_another_model_is_refused_naming_it_and_the_allowed_ones(operator, value):
    with pytest.raises(limits.LimitError) as caught:
        limits.check_model(value, field="configurable.model")
    message = caught.value.message
    assert caught.value.field == "configurable.model" and message.startswith("configurable.model ")
    assert repr(value)[:40] in message and "gpt-4o-mini, gpt-4o" in message and "QUERENT_ALLOWED_MODELS" in message
    assert len(message) < 400  # a huge value is cut, not echoed whole


@pytest.mark.parametrize("value", [5, ["gpt-4o"], {"name": "gpt-4o"}, True])
def test_a_model_that_is_not_a_string_is_refused(operator, value):
    with pytest.raises(limits.LimitError, match="must be a string"):
        limits.check_model(value)


@pytest.mark.parametrize("value", [1, 3, 6])
def test_max_steps_may_lower_the_cap(operator, value):
    assert limits.check_max_steps(value) == value
    assert limits.check_max_steps(None) is None


@pytest.mark.parametrize("value", [7, 1_000_000, 0, -1, 2.0, 2.5, "3", True, False, [3], float("inf")])
def test_max_steps_over_the_cap_zero_negative_or_not_an_integer_is_refused(operator, value):
    with pytest.raises(limits.LimitError) as caught:
        limits.check_max_steps(value, field="configurable.max_steps")
    message = caught.value.message
    assert message.startswith("configurable.max_steps ") and "from 1 to 6" in message and "QUERENT_MAX_STEPS" in message


def test_run_time_clamps_instead_of_refusing(operator):
    assert limits.steps_for_run(None) == 6 and limits.steps_for_run(3) == 3 and limits.steps_for_run(1_000_000) == 6
    assert limits.steps_for_run(0) == 6 and limits.steps_for_run(-5) == 6 and limits.steps_for_run("2") == 6 and limits.steps_for_run(True) == 6
    assert limits.model_for_run("gpt-4o") == "gpt-4o"
    assert limits.model_for_run("") == limits.model_for_run(None) == "gpt-4o-mini"
    assert limits.model_for_run("o1-pro") == "gpt-4o-mini"  # no longer (or never) allowed: the default


def test_allowed_models_setting_defaults_to_querent_model(tmp_path):
    probe = "import django, json; django.setup(); from django.conf import settings; print(json.dumps(settings.QUERENT_ALLOWED_MODELS))"

    def allowed(**env):
        clean = {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "config.settings", "QUERENT_VAR_DIR": str(tmp_path),
                 "QUERENT_SECRET_KEY": "x", **env}
        result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    assert allowed() == ["gpt-4o-mini"]
    assert allowed(QUERENT_MODEL="llama3.1") == ["llama3.1"]
    assert allowed(QUERENT_MODEL="llama3.1", QUERENT_ALLOWED_MODELS="llama3.1, qwen2.5 ,") == ["llama3.1", "qwen2.5"]


# --- the admin: a choice among the allowed models, the same rule on save -----------------------


@pytest.mark.django_db
def test_model_clean_applies_the_rule(operator):
    assistant = Assistant(tenant="acme", owner="alice", name="a", model="gpt-4o")
    assistant.full_clean()
    assistant.model = "o1-pro"
    with pytest.raises(ValidationError) as caught:
        assistant.full_clean()
    assert "o1-pro" in caught.value.message_dict["model"][0]


@pytest.mark.django_db
def test_admin_form_offers_only_allowed_models(operator):
    form = AssistantAdminForm()
    assert [value for value, _ in form.fields["model"].choices] == ["", "gpt-4o-mini", "gpt-4o"]
    base = {"name": "a", "tenant": "acme", "owner": "alice", "instructions": "", "about": "",
            "metadata": "{}", "config": "{}"}
    assert AssistantAdminForm(data={**base, "model": "gpt-4o"}).is_valid()
    refused = AssistantAdminForm(data={**base, "model": "o1-pro"})
    assert not refused.is_valid() and "model" in refused.errors
    # A stored model the operator has since removed is shown as such and cannot be saved again.
    stale = Assistant.objects.create(tenant="acme", owner="alice", name="old", model="o1-pro")
    form = AssistantAdminForm(instance=stale, data={**base, "model": "o1-pro"})
    assert ("o1-pro", "o1-pro (not allowed: choose another)") in form.fields["model"].choices
    assert not form.is_valid() and "is not allowed" in form.errors["model"][0]


@pytest.mark.django_db
def test_admin_add_page_refuses_a_model_outside_the_list(operator, admin_client):
    url = reverse("admin:assistants_assistant_add")
    page = admin_client.get(url)
    assert page.status_code == 200 and b'<option value="gpt-4o">gpt-4o</option>' in page.content
    body = {"name": "a", "tenant": "acme", "owner": "alice", "public": "", "about": "", "instructions": "", "tools": "[]",
            "data_source": "", "metadata": "{}", "config": "{}"}
    admin_client.post(url, {**body, "model": "o1-pro"})
    assert not Assistant.objects.filter(name="a").exists()
    saved = admin_client.post(url, {**body, "model": "gpt-4o"})
    assert saved.status_code == 302 and Assistant.objects.get(name="a").model == "gpt-4o"


# --- the APIs, in-process ----------------------------------------------------------------------


@pytest.fixture
def api(db, operator):
    _, token = ApiKey.issue(name="limits", tenant="acme", user_id="alice")
    client = Client()

    def call(method, path, body=None):
        response = client.generic(method, path, data=json.dumps(body) if body is not None else b"",
                                  content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
        return response.status_code, response.json()

    return call


@pytest.mark.django_db(transaction=True)
def test_opengpts_assistant_with_a_disallowed_model_is_400(api):
    status, body = api("POST", "/assistants", {"name": "a", "config": {"configurable": {"model": "o1-pro"}}})
    assert status == 400 and "'o1-pro' is not allowed" in body["detail"] and "gpt-4o-mini, gpt-4o" in body["detail"]
    status, body = api("POST", "/assistants", {"name": "a", "config": {"configurable": {"max_steps": 100}}})
    assert status == 400 and "max_steps" in body["detail"] and "from 1 to 6" in body["detail"]
    status, created = api("POST", "/assistants", {"name": "a", "config": {"configurable": {"model": "gpt-4o", "max_steps": 2}}})
    assert status == 200, created
    assert Assistant.objects.get(pk=created["assistant_id"]).model == "gpt-4o"
    status, body = api("PUT", f"/assistants/{created['assistant_id']}", {"name": "a", "config": {"configurable": {"model": "o1-pro"}}})
    assert status == 400 and "o1-pro" in body["detail"]
    assert Assistant.objects.get(pk=created["assistant_id"]).model == "gpt-4o"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("configurable, needle", [
    ({"max_steps": 1_000_000}, "configurable.max_steps must be a whole number from 1 to 6"),
    ({"max_steps": 0}, "configurable.max_steps"),
    ({"max_steps": -3}, "configurable.max_steps"),
    ({"max_steps": "5"}, "configurable.max_steps"),
    ({"max_steps": 2.5}, "configurable.max_steps"),
    ({"model": "o1-pro"}, "configurable.model 'o1-pro' is not allowed"),
    ({"model": 7}, "configurable.model must be a string"),
])
@pytest.mark.parametrize("path", ["/runs", "/runs/stream"])
def test_opengpts_run_over_the_limits_is_400_and_starts_nothing(api, path, configurable, needle):
    status, assistant = api("POST", "/assistants", {"name": "a", "config": {}})
    status, thread = api("POST", "/threads", {"name": "t", "assistant_id": assistant["assistant_id"]})
    status, body = api("POST", path, {"thread_id": thread["thread_id"], "input": [{"content": "hi", "type": "human"}],
                                      "config": {"configurable": configurable}})
    assert status == 400 and body["detail"].startswith("config: ") and needle in body["detail"], body
    assert not Run.objects.filter(thread_id=thread["thread_id"]).exists()


@pytest.mark.django_db(transaction=True)
def test_opengpts_run_config_keeps_only_allowed_values(api, monkeypatch):
    from threads import services

    monkeypatch.setattr("threads.store.orm.enqueue_run", lambda run_id: None)  # no worker here: the stored config is the point
    status, assistant = api("POST", "/assistants", {"name": "a", "config": {}})
    status, thread = api("POST", "/threads", {"name": "t", "assistant_id": assistant["assistant_id"]})
    status, body = api("POST", "/runs", {"thread_id": thread["thread_id"], "input": [{"content": "hi", "type": "human"}],
                                         "config": {"configurable": {"max_steps": 2, "model": "gpt-4o"}}})
    assert status == 200, body
    assert Run.objects.get(pk=body["run_id"]).config == {"model": "gpt-4o", "max_steps": 2}


@pytest.mark.django_db(transaction=True)
def test_opengpts_config_schema_shows_the_limits(api):
    status, schema = api("GET", "/runs/config_schema")
    properties = schema["properties"]["configurable"]["properties"]
    assert properties["model"]["enum"] == ["", "gpt-4o-mini", "gpt-4o"] and properties["max_steps"]["maximum"] == 6


@pytest.mark.django_db(transaction=True)
def test_julep_agent_with_a_disallowed_model_is_400(api):
    status, body = api("POST", "/api/agents", {"name": "x", "model": "o1-pro"})
    assert status == 400 and body["detail"].startswith("model: model 'o1-pro' is not allowed") and "gpt-4o-mini, gpt-4o" in body["detail"]
    status, created = api("POST", "/api/agents", {"name": "x", "model": "gpt-4o"})
    assert status == 201
    for method in ("PUT", "PATCH"):
        status, body = api(method, f"/api/agents/{created['id']}", {"name": "x", "about": "", "model": "o1-pro"})
        assert status == 400 and "o1-pro" in body["detail"]
    assert Assistant.objects.get(pk=created["id"]).model == "gpt-4o"
    # Julep's hosted names and an empty model mean the default; null in a PATCH leaves it as it was.
    assert api("POST", "/api/agents", {"name": "x", "model": "julep-ai/samantha-1-turbo"})[0] == 201
    assert api("PATCH", f"/api/agents/{created['id']}", {"model": None})[0] == 200
    assert Assistant.objects.get(pk=created["id"]).model == "gpt-4o"


# --- the engine, at run time ---------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("stored, run_config, expected", [
    ("o1-pro", {}, "gpt-4o-mini"),  # stored before the operator narrowed the list: the default runs
    ("gpt-4o", {}, "gpt-4o"),
    ("", {"model": "o1-pro"}, "gpt-4o-mini"),  # a run row written around the API
    ("", {"model": "gpt-4o"}, "gpt-4o"),
    ("", {}, "gpt-4o-mini"),
])
def test_engine_only_ever_calls_an_allowed_model(operator, stored, run_config, expected):
    from threads.engine import AgentLoop

    assistant = Assistant.objects.create(tenant="acme", owner="alice", name="a", model=stored)
    thread = Thread.objects.create(tenant="acme", owner="alice", name="t", assistant=assistant)
    run = Run.objects.create(thread=thread, config=run_config)
    assert AgentLoop(Run.objects.select_related("thread__assistant").get(pk=run.pk)).llm_config.model == expected
