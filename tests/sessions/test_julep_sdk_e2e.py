"""The official julep SDK 0.3.9 against the live server, making seed 004's calls.

The SDK pins old libraries (pydantic v1 style models, an old openai), so it lives in a virtualenv
of its own at .venv-julep/ (git-ignored), made once by the fixture below; the client script runs
there as a subprocess against the stack's URL and prints JSON.
"""

import fcntl
import json
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.fakes.llm_server import text
from tests.support.principals import api_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-julep"
PYTHON = VENV / "bin" / "python"
SDK_PINS = ["julep==0.3.9", "marshmallow<4", "beartype==0.18.5"]
CLIENT = Path(__file__).with_name("julep_sdk_client.py")


def _sdk_ready() -> bool:
    if not PYTHON.exists():
        return False
    probe = subprocess.run(
        [str(PYTHON), "-c", "import importlib.metadata as m, julep; print(m.version('julep'))"],
        capture_output=True, text=True, timeout=60,
    )
    return probe.returncode == 0 and probe.stdout.strip() == "0.3.9"


@pytest.fixture(scope="session")
def julep_python():
    """The SDK's interpreter; the virtualenv is built on first use (a lock keeps xdist workers from racing)."""
    VENV.mkdir(exist_ok=True)
    with open(VENV / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _sdk_ready():
            subprocess.run(["python3", "-m", "venv", str(VENV)], check=True, timeout=300)
            install = subprocess.run([str(PYTHON), "-m", "pip", "install", "-q", *SDK_PINS], capture_output=True, text=True, timeout=600)
            if install.returncode != 0:
                pytest.fail(f"could not install {' '.join(SDK_PINS)} into {VENV}:\n{install.stdout}\n{install.stderr}")
    return PYTHON


def test_julep_sdk_drives_agents_users_sessions_and_chat(stack, llm, shared_demo, julep_python):
    user = api_user(tenant="julep-sdk")
    token = user["Authorization"].removeprefix("Bearer ")
    llm.script([text("It sounds like you both want to be heard. What do the arguments usually start with?")],
               match="I keep arguing")
    llm.script([text("The door code is 4417.")], match="door code of the Leeds")
    llm.script([text("They discussed starting hard conversations and partners who walk away.")], match="User: Budget one")
    llm.script([text("Start with how you feel, not with what they did.")], match="Budget one")
    llm.script([text("Ask for a pause and agree on when to come back to it.")], match="Budget two")

    ran = subprocess.run([str(julep_python), str(CLIENT), f"{stack.base_url}/api", token],
                         capture_output=True, text=True, timeout=180, cwd=str(ROOT))
    assert ran.returncode == 0, f"{ran.stdout}\n{ran.stderr}"
    out = json.loads(ran.stdout.strip().splitlines()[-1])

    agent_id = out["agent_created"]["id"]
    assert uuid.UUID(agent_id).version == 4
    agent = out["agent_get"]
    assert agent["name"] == "Sara" and agent["instructions"] == ["Listen first.", "Answer in two sentences."]
    assert agent["model"] == "julep-ai/samantha-1-turbo"  # the SDK's default model name, kept as given
    assert agent["default_settings"] == {"temperature": 0.7}
    assert out["agents_filtered"] == [agent_id] and out["agents_other_filter"] == []
    assert out["agent_updated"]["id"] == agent_id
    assert out["agent_after_update"]["about"] == "Sara coaches couples."
    assert out["agent_after_update"]["instructions"] == ["Listen first.", "Answer in two sentences."]  # PATCH kept it

    user_id = out["user_created"]["id"]
    assert out["user_get"]["name"] == "Anon" and out["user_get"]["about"] == "Works night shifts."
    assert out["users_filtered"] == [user_id]
    assert out["user_after_update"]["name"] == "Anon Y. Mous" and out["user_after_update"]["about"] == "Works night shifts."

    session_id = out["session_created"]["id"]
    got = out["session_get"]
    assert (got["id"], got["user_id"], got["agent_id"]) == (session_id, user_id, agent_id)
    assert got["situation"].startswith("\nYou are Sara mental health professional") and got["summary"] is None
    assert got["render_templates"] is False
    assert [s["id"] for s in out["sessions_filtered"]] == [session_id]
    assert out["sessions_filtered"][0]["type"] == "Session"
    after = out["session_after_update"]
    assert after["situation"].startswith("You are summarising and providing clear explanations")
    assert out["session_metadata_after_update"] == {"db_uuid": "1234"}  # a situation-only update keeps it, as in Julep
    assert (after["agent_id"], after["user_id"]) == (agent_id, user_id)

    chat = out["chat"]
    assert chat["finish_reason"] == "stop"
    [[reply]] = chat["response"]
    assert reply["role"] == "assistant" and reply["content"].startswith("It sounds like you both want to be heard.")
    assert chat["usage"]["total_tokens"] > 0 and chat["doc_ids"] == {"agent_doc_ids": [], "user_doc_ids": []}
    chat_request = next(r for r in llm.requests if r["messages"][-1]["content"] == "I keep arguing with my partner.")
    system = chat_request["messages"][0]["content"]
    assert "You are summarising and providing clear explanations" in system  # the updated situation
    assert "Listen first.\nAnswer in two sentences." in system
    assert "You are talking to Anon Y. Mous. About them: Works night shifts." in system

    assert [(m["role"], m["content"]) for m in out["history"]] == [
        ("user", "I keep arguing with my partner."), ("assistant", reply["content"]),
    ]
    assert out["suggestions"] and {s["session_id"] for s in out["suggestions"]} == {session_id}
    assert out["deleted_session_status"] == 404

    # Docs: created, listed and searched as the SDK calls them, then used by a chat.
    agent_doc, user_doc = out["docs_created"]["agent"], out["docs_created"]["user"]
    [listed] = out["agent_docs"]
    assert (listed["id"], listed["title"]) == (agent_doc, "Security policy")  # (the SDK's CreateDoc drops metadata)
    assert listed["content"][1] == "The loading dock of the Leeds warehouse opens with door code 4417."
    assert [d["id"] for d in out["user_docs"]] == [user_doc] and out["agent_docs_filtered"] == []
    hit = out["agent_docs_search"]["items"][0]
    assert hit["id"] == agent_doc and "4417" in hit["snippet"]["content"]
    docs_chat = out["docs_chat"]
    assert docs_chat["response"][0][0]["content"] == "The door code is 4417."
    assert docs_chat["doc_ids"] == {"agent_doc_ids": [agent_doc], "user_doc_ids": [user_doc]}
    docs_request = next(r for r in llm.requests if r["messages"][-1]["content"] == "What is the door code of the Leeds loading dock?")
    sent = "\n".join(m["content"] or "" for m in docs_request["messages"] if m["role"] == "system")
    assert "door code 4417" in sent and "night shift" in sent  # the model was sent both docs' passages
    assert out["agent_docs_after_delete"] == []
    assert [(d["title"], d["content"]) for d in out["agent_created_with_docs"]] == [("Handbook", "Lunch is served at noon.")]
    assert [(d["title"], d["content"]) for d in out["user_created_with_docs"]] == [("Reader", ["Likes tea.", "Works days."])]
    assert out["budgeted_summary"] == "They discussed starting hard conversations and partners who walk away."
