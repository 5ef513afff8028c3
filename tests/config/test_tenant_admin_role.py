"""Where the tenant-admin role comes from: an API key's role, a JWT's role claim, a staff login,
development auth. Resolved through config.auth.resolve_principal, as every surface does."""

import time
from io import StringIO

import jwt
import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.management import call_command
from django.test import RequestFactory, override_settings

from assistants.models import ApiKey
from config.auth import resolve_principal

pytestmark = pytest.mark.django_db

SECRET = "unit-test-jwt-secret-that-is-long-enough-for-hs256"


def resolve(user=None, **headers):
    request = RequestFactory().get("/", **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()})
    return resolve_principal(request, django_user=user or AnonymousUser())


def bearer(token: str) -> dict:
    return {"authorization": f"Bearer {token}"}


def test_api_keys_are_members_unless_issued_as_admins():
    _, member = ApiKey.issue(name="m", tenant="acme", user_id="max")
    _, admin = ApiKey.issue(name="a", tenant="acme", user_id="ada", role=ApiKey.Role.ADMIN)
    assert resolve(**bearer(member)).is_tenant_admin is False
    assert resolve(**bearer(admin)).is_tenant_admin is True


def test_a_key_changed_to_admin_in_the_admin_counts_at_once():
    key, token = ApiKey.issue(name="m", tenant="acme", user_id="max")
    assert resolve(**bearer(token)).is_tenant_admin is False
    key.role = ApiKey.Role.ADMIN
    key.save()  # the admin form's save: this process forgets resolved keys
    assert resolve(**bearer(token)).is_tenant_admin is True


def test_create_api_key_command_takes_a_role():
    out = StringIO()
    call_command("create_api_key", "ada", "--tenant", "acme", "--role", "admin", stdout=out)
    assert resolve(**bearer(out.getvalue().strip())).is_tenant_admin is True
    out = StringIO()
    call_command("create_api_key", "max", "--tenant", "acme", stdout=out)
    assert resolve(**bearer(out.getvalue().strip())).is_tenant_admin is False
    assert set(ApiKey.objects.values_list("user_id", "role")) == {("ada", "admin"), ("max", "member")}


@pytest.mark.parametrize(
    ("claims", "admin"),
    [({}, False), ({"role": "member"}, False), ({"role": "admin"}, True), ({"role": ["viewer", "admin"]}, True),
     ({"role": ["viewer"]}, False), ({"role": "administrator"}, False), ({"role": {"admin": True}}, False)],
)
def test_jwt_role_claim(claims, admin):
    token = jwt.encode({"sub": "jo", "exp": int(time.time()) + 60, "tenant": "acme", **claims}, SECRET, algorithm="HS256")
    with override_settings(JWT_SECRET=SECRET, JWT_JWKS_URL=None, JWT_ISSUER=None, JWT_ALGORITHMS=["HS256"]):
        principal = resolve(**bearer(token))
    assert (principal.tenant, principal.user_id, principal.is_tenant_admin) == ("acme", "jo", admin)


def test_jwt_role_claim_name_is_a_setting():
    token = jwt.encode({"sub": "jo", "exp": int(time.time()) + 60, "roles": ["admin"], "role": "member"}, SECRET, algorithm="HS256")
    with override_settings(JWT_SECRET=SECRET, JWT_JWKS_URL=None, JWT_ISSUER=None, JWT_ALGORITHMS=["HS256"], JWT_ROLE_CLAIM="roles"):
        assert resolve(**bearer(token)).is_tenant_admin is True


def test_staff_logins_are_admins_of_the_default_tenant(django_user_model):
    staff = django_user_model.objects.create_user("sam", password="pw-123456789", is_staff=True)
    plain = django_user_model.objects.create_user("pat", password="pw-123456789")
    principal = resolve(staff)
    assert (principal.tenant, principal.source, principal.is_tenant_admin) == ("default", "session", True)
    assert resolve(plain).is_tenant_admin is False


def test_development_auth_is_an_admin_and_stays_one_for_another_tenant():
    with override_settings(DEV_AUTH=True):
        assert resolve().is_tenant_admin is True
        assert resolve(x_tenant_id="globex").is_tenant_admin is True
    with override_settings(DEV_AUTH=False):
        assert resolve() is None


def test_a_service_keys_role_goes_with_it_to_the_tenant_it_acts_for():
    _, member = ApiKey.issue(name="s", tenant="ops", user_id="svc", can_act_for_any_tenant=True)
    _, admin = ApiKey.issue(name="s", tenant="ops", user_id="svc2", can_act_for_any_tenant=True, role=ApiKey.Role.ADMIN)
    assert resolve(**bearer(member), x_tenant_id="globex").is_tenant_admin is False
    acting = resolve(**bearer(admin), x_tenant_id="globex")
    assert (acting.tenant, acting.is_tenant_admin) == ("globex", True)


def test_the_role_is_shown_and_set_in_the_django_admin(admin_client):
    added = admin_client.post(
        "/admin/assistants/apikey/add/", {"name": "ops", "tenant": "acme", "user_id": "ada", "role": "admin"}, follow=True
    )
    assert added.status_code == 200
    key = ApiKey.objects.get(user_id="ada")
    assert key.role == ApiKey.Role.ADMIN
    listing = admin_client.get("/admin/assistants/apikey/").content.decode()
    assert "tenant admin" in listing
    form = admin_client.get(f"/admin/assistants/apikey/{key.pk}/change/").content.decode()
    assert 'name="role"' in form
    changed = admin_client.post(
        f"/admin/assistants/apikey/{key.pk}/change/", {"name": "ops", "tenant": "acme", "user_id": "ada", "role": "member"}
    )
    assert changed.status_code == 302
    key.refresh_from_db()
    assert key.role == ApiKey.Role.MEMBER
