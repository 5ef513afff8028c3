"""Drives the official julep SDK (0.3.9) against a Querent server, as seed 004 shows it.

Runs in its own virtualenv (the SDK pins old libraries), so it imports nothing from Querent:
    python julep_sdk_client.py BASE_URL API_KEY
Prints one JSON object with what each call returned, for the test to check.
"""

import json
import sys
import time
import urllib.request

from julep import Client

SITUATION = """
You are Sara mental health professional, public speaker & renowned educator. You are licensed to be an intimacy and relationship coach. You are  an NLP coach who is qualified to deal with trauma, self-perceptions
About you:
...
Important guidelines:
...
"""


def plain(model):
    return json.loads(model.json()) if hasattr(model, "json") else model


def main(base_url: str, api_key: str) -> dict:
    client = Client(api_key=api_key, base_url=base_url)
    out = {}

    agent = client.agents.create(
        name="Sara",
        about="Sara is a relationship coach.",
        instructions=["Listen first.", "Answer in two sentences."],
        default_settings={"temperature": 0.7},
        metadata={"team": "care"},
    )
    out["agent_created"] = {"id": agent.id, "created_at": str(agent.created_at)}
    out["agent_get"] = plain(client.agents.get(agent.id))
    out["agents_filtered"] = [a.id for a in client.agents.list(metadata_filter={"team": "care"})]
    out["agents_other_filter"] = [a.id for a in client.agents.list(metadata_filter={"team": "nobody"})]
    updated = client.agents.update(agent_id=agent.id, about="Sara coaches couples.", metadata={"team": "care", "v": 2})
    out["agent_updated"] = {"id": updated.id, "updated_at": str(updated.updated_at)}
    out["agent_after_update"] = plain(client.agents.get(agent.id))

    user = client.users.create(name="Anon", about="Works night shifts.", metadata={"plan": "pro"})
    out["user_created"] = {"id": user.id}
    out["user_get"] = plain(client.users.get(user.id))
    out["users_filtered"] = [u.id for u in client.users.list(metadata_filter={"plan": "pro"}, limit=10, offset=0)]
    client.users.update(user_id=user.id, name="Anon Y. Mous")
    out["user_after_update"] = plain(client.users.get(user.id))

    # Creating a Session
    session = client.sessions.create(
        agent_id=agent.id,
        user_id=user.id,
        situation=SITUATION,
        metadata={"db_uuid": "1234"},
    )
    session_id = session.id
    out["session_created"] = {"id": session.id, "created_at": str(session.created_at)}
    # Retrieving a Session: using a Session ID
    out["session_get"] = json.loads(client.sessions.get(session_id).json())
    # Using Metadata Filters
    listed = client.sessions.list(metadata_filter={"db_uuid": "1234"})
    out["sessions_filtered"] = [{"id": s.id, "metadata": s.metadata.dict() if s.metadata else None, "type": type(s).__name__}
                                for s in listed]
    # Updating a Session
    client.sessions.update(
        session_id=session_id,
        situation="You are summarising and providing clear explanations about the new breakthroughs in maths and computer science",
    )
    out["session_after_update"] = json.loads(client.sessions.get(session_id).json())
    # The SDK's Session.metadata model declares no fields and drops what it is sent: read the JSON itself.
    raw = urllib.request.Request(f"{base_url}/sessions/{session_id}", headers={"Authorization": f"Bearer {api_key}"})
    with urllib.request.urlopen(raw, timeout=30) as answer:
        out["session_metadata_after_update"] = json.load(answer)["metadata"]

    reply = client.sessions.chat(session_id=session.id, messages=[{"role": "user", "content": "I keep arguing with my partner.", "name": "Anon"}])
    out["chat"] = json.loads(reply.json())
    out["history"] = [json.loads(m.json()) for m in client.sessions.history(session_id=session.id)]
    out["suggestions"] = [json.loads(s.json()) for s in client.sessions.suggestions(session_id=session.id)]

    # Docs: the agent's and the user's, read by the next chat, which names them in doc_ids.
    agent_doc = client.docs.create(agent_id=agent.id, doc={
        "title": "Security policy", "metadata": {"kind": "policy"},
        "content": ["Badges are personal and must be worn visibly at all times.",
                    "The loading dock of the Leeds warehouse opens with door code 4417.",
                    "Visitors sign in at reception and are escorted by their host."],
    })
    user_doc = client.docs.create(user_id=user.id, doc={
        "title": "About Anon", "content": "Anon works the night shift at the Leeds warehouse loading dock."})
    out["docs_created"] = {"agent": agent_doc.id, "user": user_doc.id}
    out["agent_docs"] = [json.loads(d.json()) for d in client.docs.list(agent_id=agent.id)]
    out["user_docs"] = [json.loads(d.json()) for d in client.docs.list(user_id=user.id)]
    out["agent_docs_filtered"] = [d.id for d in client.docs.list(agent_id=agent.id, metadata_filter={"kind": "nothing"})]
    search = urllib.request.Request(
        f"{base_url}/agents/{agent.id}/docs/search", data=json.dumps({"text": "Leeds door code", "limit": 2}).encode(), method="POST",
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(search, timeout=30) as answer:
        out["agent_docs_search"] = json.load(answer)
    reply = client.sessions.chat(session_id=session.id, messages=[{"role": "user", "content": "What is the door code of the Leeds loading dock?"}])
    out["docs_chat"] = json.loads(reply.json())
    client.docs.delete(agent_id=agent.id, doc_id=agent_doc.id)
    out["agent_docs_after_delete"] = [d.id for d in client.docs.list(agent_id=agent.id)]

    # A token budget: once the history outgrows it, the session's summary is written in the background.
    budgeted = client.sessions.create(agent_id=agent.id, user_id=user.id, situation="Budgeted.", token_budget=60,
                                      context_overflow="adaptive")
    for question in ("Budget one: how do I start a hard conversation with my partner?",
                     "Budget two: and what if they walk away while I am talking?"):
        client.sessions.chat(session_id=budgeted.id, messages=[{"role": "user", "content": question}])
    for _ in range(300):
        summary = client.sessions.get(budgeted.id).summary
        if summary:
            break
        time.sleep(0.1)
    out["budgeted_summary"] = summary

    client.sessions.delete(session_id)
    try:
        client.sessions.get(session_id)
        out["deleted_session_status"] = 200
    except Exception as exc:  # the SDK raises ApiError with the status
        out["deleted_session_status"] = getattr(exc, "status_code", repr(exc))

    # Docs given at creation, as the SDK's agents.create and users.create send them.
    librarian = client.agents.create(name="Librarian", about="Keeps the handbook.", instructions=["Quote the handbook."],
                                     docs=[{"title": "Handbook", "content": "Lunch is served at noon."}])
    out["agent_created_with_docs"] = [json.loads(d.json()) for d in client.docs.list(agent_id=librarian.id)]
    reader = client.users.create(name="Reader", about="Reads.", docs=[{"title": "Reader", "content": ["Likes tea.", "Works days."]}])
    out["user_created_with_docs"] = [json.loads(d.json()) for d in client.docs.list(user_id=reader.id)]
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2]), default=str))
