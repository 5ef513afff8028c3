"""Principals for end-to-end tests: an API key per user, created in the shared test database."""

import uuid

from assistants.models import ApiKey


def api_user(tenant: str = "acme", user_id: str | None = None, *, admin: bool = False) -> dict:
    """A member's key, or with `admin` a tenant admin's (who may create and change data sources)."""
    user_id = user_id or f"user-{uuid.uuid4().hex[:8]}"
    role = ApiKey.Role.ADMIN if admin else ApiKey.Role.MEMBER
    _, token = ApiKey.issue(name="e2e", tenant=tenant, user_id=user_id, role=role)
    return {"Authorization": f"Bearer {token}", "_user_id": user_id, "_tenant": tenant, "_role": role}


def headers(user: dict) -> dict:
    return {k: v for k, v in user.items() if not k.startswith("_")}
