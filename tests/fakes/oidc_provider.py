"""A minimal OpenID Connect provider, for tests: discovery, a JWKS endpoint and RS256 tokens.

    provider = OidcProvider().start()
    provider.issuer                     # http://127.0.0.1:PORT, serving /.well-known/openid-configuration
    token = provider.token("alice", audience="querent", tenant="acme")
    provider.rotate()                   # a new signing key is published beside the old one
    provider.jwks_fetches               # how many times the key set was read

Keys are generated per provider; only their public halves are ever served.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class OidcProvider:
    def __init__(self, host: str = "127.0.0.1"):
        self.host = host
        self.keys: list[tuple[str, rsa.RSAPrivateKey]] = []  # (kid, key), newest last
        self.jwks_fetches = 0
        self.discovery_fetches = 0
        self.claimed_issuer: str | None = None  # what discovery says the issuer is; None: the real one
        self._httpd: ThreadingHTTPServer | None = None
        self.rotate()

    @property
    def issuer(self) -> str:
        return f"http://{self.host}:{self._httpd.server_address[1]}"

    @property
    def jwks_uri(self) -> str:
        return f"{self.issuer}/jwks.json"

    def rotate(self, *, keep_old: bool = True) -> str:
        """Publish a new signing key (the one `token` signs with from now on); returns its kid."""
        kid = uuid.uuid4().hex[:12]
        self.keys = (self.keys if keep_old else []) + [(kid, new_rsa_key())]
        return kid

    def token(self, sub: str | None, *, audience: str | None = None, issuer: str | None = None, exp_in: int = 300,
              kid: str | None = None, key: rsa.RSAPrivateKey | None = None, **claims) -> str:
        """An RS256 token signed with the newest key (or `key`), its header naming `kid`."""
        current_kid, current_key = self.keys[-1]
        payload = {"iss": issuer or self.issuer, "exp": int(time.time()) + exp_in, "iat": int(time.time()), **claims}
        if sub is not None:
            payload["sub"] = sub
        if audience is not None:
            payload["aud"] = audience
        return jwt.encode(payload, key or current_key, algorithm="RS256", headers={"kid": kid or current_kid})

    def jwks(self) -> dict:
        keys = []
        for kid, key in self.keys:
            jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": keys}

    def start(self) -> OidcProvider:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):
                pass

            def do_GET(self):
                if self.path == "/.well-known/openid-configuration":
                    provider.discovery_fetches += 1
                    body = {"issuer": provider.claimed_issuer or provider.issuer, "jwks_uri": provider.jwks_uri,
                            "id_token_signing_alg_values_supported": ["RS256"]}
                elif self.path == "/jwks.json":
                    provider.jwks_fetches += 1
                    body = provider.jwks()
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer((self.host, 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, name="oidc-provider", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
