"""Dataherald's questions/responses API over a live stack, and the shape of a change that waits
for approval, shared by the end-to-end tests of each data source engine."""

import httpx

from tests.support.principals import headers


def call(stack, user, method: str, path: str, **kwargs) -> httpx.Response:
    """One request to the stack as `user` (path from the root, e.g. /api/v1/questions)."""
    return httpx.request(method, f"{stack.base_url}{path}", headers=headers(user), timeout=120, **kwargs)


def check_pending(body: dict, sql: str) -> tuple[dict, str]:
    """A response that holds `sql` for approval: nothing run, the exact SQL, how to approve or deny.
    Returns the pending change and the path that decides it."""
    change = body["pending_confirmation"]
    path = f"/api/v1/responses/{body['id']}/confirmations/{change['confirmation_id']}"
    assert body["sql_generation_status"] == "NONE" and body["sql_query"] == sql and body["sql_query_result"] is None
    assert change["sql"] == sql and change["status"] == "PENDING"
    assert change["approve"] == {"method": "POST", "path": path, "body": {"approve": True}}
    assert change["deny"]["body"] == {"approve": False}
    assert change["chat_page"] == f"/#/t/{change['thread_id']}"
    assert change["admin"] == f"/admin/threads/confirmation/{change['confirmation_id']}/change/"
    assert sql in body["error_message"] and path in body["error_message"]
    return change, path


def deny_and_check(stack, user, path: str) -> None:
    """Deny the change at `path`: the response says it was not approved, nothing ran, and the
    decision is final (a later approval is a 409)."""
    denied = call(stack, user, "POST", path, json={"approve": False})
    assert denied.status_code == 200, denied.text
    out = denied.json()
    assert out["sql_generation_status"] == "INVALID" and "did not approve" in out["error_message"]
    assert out["confirmation"]["status"] == "DENIED" and out["sql_query_result"] is None
    assert call(stack, user, "POST", path, json={"approve": True}).status_code == 409
