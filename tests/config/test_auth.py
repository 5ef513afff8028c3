import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from django.test import Client, override_settings

from assistants.models import ApiKey
from config import auth
from config.identity import Principal
from tests.fakes.oidc_provider import OidcProvider, new_rsa_key
from tests.fixtures.stack import free_port

pytestmark = pytest.mark.django_db

JWT_SECRET = "unit-test-jwt-secret-that-is-long-enough-for-hs256"


def me(client: Client, **headers):
    return client.get("/api/v1/me", **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()})


def make_jwt(sub="bob", *, secret=JWT_SECRET, exp_in=300, **claims):
    return jwt.encode({"sub": sub, "exp": int(time.time()) + exp_in, **claims}, secret, algorithm="HS256")


class TestApiKeys:
    def test_bearer_key_authenticates(self):
        _, token = ApiKey.issue(name="k", tenant="acme", user_id="alice")
        response = me(Client(), authorization=f"Bearer {token}")
        assert response.status_code == 200
        assert response.json() == {"tenant": "acme", "user_id": "alice", "source": "api_key"}

    def test_x_api_key_header_authenticates(self):
        _, token = ApiKey.issue(name="k", tenant="acme", user_id="alice")
        assert me(Client(), x_api_key=token).json()["user_id"] == "alice"

    def test_key_is_stored_hashed(self):
        key, token = ApiKey.issue(name="k", tenant="acme", user_id="alice")
        stored = ApiKey.objects.get(pk=key.pk)
        assert token.split("_", 2)[2] not in (stored.key_hash, stored.key_prefix)
        assert stored.key_hash == ApiKey.hash_secret(token.split("_", 2)[2])

    def test_revoked_key_is_401(self):
        key, token = ApiKey.issue(name="k", tenant="acme", user_id="alice")
        key.revoke()
        response = me(Client(), authorization=f"Bearer {token}")
        assert response.status_code == 401
        assert "revoked" in response.json()["detail"]

    def test_a_resolved_key_is_reused_without_a_query(self, django_assert_num_queries):
        from config.auth import principal_from_api_key

        _, token = ApiKey.issue(name="k", tenant="acme", user_id="alice")
        first = principal_from_api_key(token)
        with django_assert_num_queries(0):
            assert principal_from_api_key(token) == first
        forged = token[:-4] + ("aaaa" if not token.endswith("aaaa") else "bbbb")
        assert me(Client(), authorization=f"Bearer {forged}").status_code == 401  # the cache is keyed by the whole token

    def test_revoking_or_deleting_a_key_takes_effect_at_once_in_this_process(self):
        key, token = ApiKey.issue(name="k", tenant="acme", user_id="alice")
        other, other_token = ApiKey.issue(name="k2", tenant="acme", user_id="bob")
        assert me(Client(), authorization=f"Bearer {token}").status_code == 200
        assert me(Client(), authorization=f"Bearer {other_token}").status_code == 200
        key.revoke()
        assert me(Client(), authorization=f"Bearer {token}").status_code == 401
        other.delete()
        assert me(Client(), authorization=f"Bearer {other_token}").status_code == 401

    def test_a_key_revoked_elsewhere_stops_working_within_the_cache_time(self, settings):
        settings.API_KEY_CACHE_SECONDS = 0.2
        key, token = ApiKey.issue(name="k", tenant="acme", user_id="alice")
        assert me(Client(), authorization=f"Bearer {token}").status_code == 200
        ApiKey.objects.filter(pk=key.pk).update(revoked_at=key.created_at)  # as another process would: no signal here
        assert me(Client(), authorization=f"Bearer {token}").status_code == 200  # still resolved from the cache
        time.sleep(0.25)
        assert me(Client(), authorization=f"Bearer {token}").status_code == 401

    def test_no_cache_when_its_time_is_zero(self, settings, django_assert_num_queries):
        from config.auth import principal_from_api_key

        settings.API_KEY_CACHE_SECONDS = 0
        _, token = ApiKey.issue(name="k", tenant="acme", user_id="alice")
        principal_from_api_key(token)
        with django_assert_num_queries(1):
            principal_from_api_key(token)

    def test_wrong_secret_is_401(self):
        _, token = ApiKey.issue(name="k", tenant="acme", user_id="alice")
        forged = token[:-4] + ("aaaa" if not token.endswith("aaaa") else "bbbb")
        assert me(Client(), authorization=f"Bearer {forged}").status_code == 401

    def test_unknown_key_is_401(self):
        assert me(Client(), authorization="Bearer qk_deadbeef_nothing").status_code == 401

    def test_non_bearer_scheme_is_401(self):
        assert me(Client(), authorization="Basic YWxpY2U6cHc=").status_code == 401

    def test_management_command_prints_working_key(self):
        from io import StringIO

        from django.core.management import call_command

        out = StringIO()
        call_command("create_api_key", "carol", tenant="t9", stdout=out)
        token = out.getvalue().strip()
        assert me(Client(), authorization=f"Bearer {token}").json() == {"tenant": "t9", "user_id": "carol", "source": "api_key"}


class TestJwt:
    @pytest.fixture(autouse=True)
    def jwt_settings(self, settings):
        settings.JWT_SECRET = JWT_SECRET
        settings.JWT_JWKS_URL = None
        settings.JWT_ALGORITHMS = ["HS256"]

    def test_valid_token(self):
        response = me(Client(), authorization=f"Bearer {make_jwt('bob', tenant='globex')}")
        assert response.json() == {"tenant": "globex", "user_id": "bob", "source": "jwt"}

    def test_tenant_defaults(self):
        assert me(Client(), authorization=f"Bearer {make_jwt('bob')}").json()["tenant"] == "default"

    def test_expired_token_is_401(self):
        response = me(Client(), authorization=f"Bearer {make_jwt(exp_in=-10)}")
        assert response.status_code == 401
        assert "expired" in response.json()["detail"]

    def test_bad_signature_is_401(self):
        response = me(Client(), authorization=f"Bearer {make_jwt(secret='another-secret-that-is-also-long-enough-for-hs256')}")
        assert response.status_code == 401
        assert "invalid token" in response.json()["detail"]

    def test_alg_none_is_rejected(self):
        token = jwt.encode({"sub": "mallory", "exp": int(time.time()) + 60}, None, algorithm="none")
        assert me(Client(), authorization=f"Bearer {token}").status_code == 401

    def test_missing_sub_is_rejected(self):
        token = jwt.encode({"exp": int(time.time()) + 60}, JWT_SECRET, algorithm="HS256")
        assert me(Client(), authorization=f"Bearer {token}").status_code == 401


@pytest.fixture(scope="module")
def oidc_provider():
    provider = OidcProvider().start()
    yield provider
    provider.stop()


class TestOidc:
    """RS256 tokens checked against a provider's published keys, found by discovery or a JWKS URL."""

    @pytest.fixture(autouse=True)
    def oidc_settings(self, settings, oidc_provider):
        settings.JWT_SECRET = None
        settings.JWT_JWKS_URL = None
        settings.JWT_ISSUER = oidc_provider.issuer
        settings.JWT_AUDIENCE = "querent"
        settings.JWT_ALGORITHMS = ["RS256", "ES256"]
        settings.JWT_JWKS_COOLDOWN = 30.0
        auth._jwks_client.cache_clear()
        auth._discovered_jwks_url.cache_clear()
        yield
        auth._jwks_client.cache_clear()
        auth._discovered_jwks_url.cache_clear()

    def bearer(self, token):
        return me(Client(), authorization=f"Bearer {token}")

    def test_discovery_finds_the_keys_once(self, oidc_provider):
        discovery, jwks = oidc_provider.discovery_fetches, oidc_provider.jwks_fetches
        token = oidc_provider.token("alice", audience="querent", tenant="acme")
        assert self.bearer(token).json() == {"tenant": "acme", "user_id": "alice", "source": "jwt"}
        assert self.bearer(oidc_provider.token("bob", audience="querent")).json()["user_id"] == "bob"
        assert (oidc_provider.discovery_fetches - discovery, oidc_provider.jwks_fetches - jwks) == (1, 1)

    def test_a_jwks_url_needs_no_discovery(self, settings, oidc_provider):
        settings.JWT_JWKS_URL = oidc_provider.jwks_uri
        discovery = oidc_provider.discovery_fetches
        assert self.bearer(oidc_provider.token("carol", audience="querent")).json()["user_id"] == "carol"
        assert oidc_provider.discovery_fetches == discovery

    @pytest.mark.parametrize("change, needle", [
        ({"audience": "someone-else"}, "Audience"),
        ({"issuer": "https://evil.example"}, "issuer"),
        ({"exp_in": -10}, "expired"),
        ({"key": "foreign"}, "Signature verification failed"),
        ({"kid": "not-published"}, "signing key"),
        ({"sub": None}, "sub"),
    ])
    def test_wrong_tokens_are_401(self, oidc_provider, change, needle):
        options = {"audience": "querent", **change}
        if options.get("key") == "foreign":
            options["key"] = new_rsa_key()  # a key of the attacker's, under the provider's kid
        sub = options.pop("sub", "mallory")
        response = self.bearer(oidc_provider.token(sub, **options))
        assert response.status_code == 401
        assert needle in response.json()["detail"]

    def test_hs256_signed_with_the_public_key_is_refused(self, oidc_provider):
        public_pem = oidc_provider.keys[-1][1].public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        header = jwt.utils.base64url_encode(json.dumps({"alg": "HS256", "typ": "JWT", "kid": oidc_provider.keys[-1][0]}).encode())
        payload = jwt.utils.base64url_encode(json.dumps({"sub": "mallory", "aud": "querent", "iss": oidc_provider.issuer,
                                                         "exp": int(time.time()) + 60}).encode())
        signature = jwt.utils.base64url_encode(hmac.new(public_pem, header + b"." + payload, hashlib.sha256).digest())
        response = self.bearer((header + b"." + payload + b"." + signature).decode())
        assert response.status_code == 401

    def test_a_rotated_key_is_picked_up_without_a_restart(self, settings, oidc_provider):
        settings.JWT_JWKS_COOLDOWN = 0.0
        assert self.bearer(oidc_provider.token("dave", audience="querent")).status_code == 200
        oidc_provider.rotate()
        assert self.bearer(oidc_provider.token("dave", audience="querent")).json()["user_id"] == "dave"

    def test_made_up_kids_do_not_each_refetch_the_keys(self, oidc_provider):
        assert self.bearer(oidc_provider.token("erin", audience="querent")).status_code == 200
        fetches = oidc_provider.jwks_fetches
        for n in range(5):
            assert self.bearer(oidc_provider.token("mallory", audience="querent", kid=f"made-up-{n}")).status_code == 401
        assert oidc_provider.jwks_fetches == fetches

    def test_an_unreachable_provider_is_401_and_retried_later(self, settings, oidc_provider):
        settings.JWT_ISSUER = f"http://127.0.0.1:{free_port()}"
        response = self.bearer(oidc_provider.token("frank", audience="querent", issuer=settings.JWT_ISSUER))
        assert response.status_code == 401
        assert "could not be read" in response.json()["detail"]
        settings.JWT_ISSUER = oidc_provider.issuer  # the provider is back: nothing failed was cached
        assert self.bearer(oidc_provider.token("frank", audience="querent")).status_code == 200

    def test_a_discovery_document_for_another_issuer_is_refused(self, oidc_provider):
        oidc_provider.claimed_issuer = "https://someone-else.example"
        try:
            response = self.bearer(oidc_provider.token("heidi", audience="querent"))
        finally:
            oidc_provider.claimed_issuer = None
        assert response.status_code == 401
        assert "another issuer" in response.json()["detail"]

    def test_an_unreachable_jwks_is_401(self, settings, oidc_provider):
        settings.JWT_JWKS_URL = f"http://127.0.0.1:{free_port()}/jwks.json"
        response = self.bearer(oidc_provider.token("grace", audience="querent"))
        assert response.status_code == 401
        assert "could not be fetched" in response.json()["detail"]


@override_settings(JWT_SECRET=None, JWT_JWKS_URL=None)
def test_jwt_refused_when_not_configured():
    response = me(Client(), authorization=f"Bearer {make_jwt()}")
    assert response.status_code == 401
    assert "not configured" in response.json()["detail"]


class TestDevelopmentAuth:
    @override_settings(DEV_AUTH=False)
    def test_cookie_ignored_when_dev_auth_off(self):
        client = Client()
        client.cookies["opengpts_user_id"] = "foo"
        assert me(client).status_code == 401

    @override_settings(DEV_AUTH=True)
    def test_cookie_accepted_in_dev_mode(self):
        client = Client()
        client.cookies["opengpts_user_id"] = "foo"
        assert me(client).json() == {"tenant": "default", "user_id": "foo", "source": "dev"}

    @override_settings(DEV_AUTH=True)
    def test_dev_mode_tenant_header(self):
        client = Client()
        client.cookies["opengpts_user_id"] = "foo"
        assert me(client, x_tenant_id="tenant-b").json()["tenant"] == "tenant-b"

    @override_settings(DEV_AUTH=True)
    def test_credentials_still_win_over_cookie_in_dev_mode(self):
        _, token = ApiKey.issue(name="k", tenant="acme", user_id="alice")
        client = Client()
        client.cookies["opengpts_user_id"] = "foo"
        assert me(client, authorization=f"Bearer {token}").json()["user_id"] == "alice"


class TestTenantHeader:
    def test_ordinary_key_cannot_switch_tenant(self):
        _, token = ApiKey.issue(name="k", tenant="acme", user_id="alice")
        response = me(Client(), authorization=f"Bearer {token}", x_tenant_id="globex")
        assert response.status_code == 401
        assert "may not act for tenant" in response.json()["detail"]

    def test_same_tenant_header_is_fine(self):
        _, token = ApiKey.issue(name="k", tenant="acme", user_id="alice")
        assert me(Client(), authorization=f"Bearer {token}", x_tenant_id="acme").status_code == 200

    def test_service_key_may_switch_tenant(self):
        _, token = ApiKey.issue(name="k", tenant="ops", user_id="svc", can_act_for_any_tenant=True)
        assert me(Client(), authorization=f"Bearer {token}", x_tenant_id="globex").json()["tenant"] == "globex"


def test_session_login_maps_to_default_tenant(django_user_model):
    user = django_user_model.objects.create_user("dora", password="pw-123456789")
    client = Client()
    client.force_login(user)
    assert me(client).json() == {"tenant": "default", "user_id": "dora", "source": "session"}


def test_principal_acting_for_rules():
    base = Principal("a", "u")
    assert base.acting_for("a") is base
    with pytest.raises(PermissionError):
        base.acting_for("b")
