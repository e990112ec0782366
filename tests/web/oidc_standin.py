"""A local stand-in OpenID provider on 127.0.0.1, for the web UI's OpenID Connect sign-in tests.

It is a stand-in, not an identity provider: it serves a discovery document, an authorization endpoint
that consents at once (it redirects back with a code for :attr:`OidcStandIn.user`), a token endpoint that
checks the client's secret (basic or post, as its discovery document says), the code's redirect URI and
the PKCE verifier (S256), and a JWKS with an RSA key made here with ``cryptography``; ID tokens are signed
with that key.  Knobs let a test send a tampered, expired or mis-addressed token.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import RSAKey


def _rsa_key(kid: str) -> RSAKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return RSAKey.import_key(pem, {"kid": kid, "use": "sig", "alg": "RS256"})


@dataclass
class _Grant:
    challenge: str
    method: str
    nonce: str
    redirect_uri: str
    user: str


@dataclass
class OidcStandIn:
    client_id: str
    client_secret: str
    now: Callable[[], float]
    #: The user the authorization endpoint signs in (its preferred_username claim).
    user: str = "platform"
    auth_methods: tuple[str, ...] = ("client_secret_basic",)
    #: Test knobs: what the next ID token says, and whether its payload is altered after signing.
    audience: str | None = None
    lifetime: int = 300
    tamper: bool = False
    sign_with_other_key: bool = False
    key: RSAKey = field(default_factory=lambda: _rsa_key("standin-1"))
    other_key: RSAKey = field(default_factory=lambda: _rsa_key("standin-1"))
    #: What the token endpoint saw: (auth method, refusal or "ok").
    token_requests: list[tuple[str, str]] = field(default_factory=list)
    _grants: dict[str, _Grant] = field(default_factory=dict)
    _server: ThreadingHTTPServer | None = None

    @property
    def issuer(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> OidcStandIn:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _json(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                if url.path == "/.well-known/openid-configuration":
                    self._json(200, standin.discovery())
                elif url.path == "/jwks":
                    self._json(200, {"keys": [standin.key.as_dict(private=False)]})
                elif url.path == "/authorize":
                    status, headers = standin.authorize({k: v[0] for k, v in parse_qs(url.query).items()})
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:
                    self._json(404, {"error": "not_found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if urlsplit(self.path).path != "/token":
                    self._json(404, {"error": "not_found"})
                    return
                status, body = standin.token(form, self.headers.get("Authorization"))
                self._json(status, body, {"Cache-Control": "no-store"})

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def discovery(self) -> dict[str, object]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": list(self.auth_methods),
            "code_challenge_methods_supported": ["S256"],
        }

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str]]:
        """Auto-consent: back to the redirect URI with a code (or an error)."""
        if query.get("response_type") != "code" or query.get("client_id") != self.client_id \
                or "openid" not in query.get("scope", "").split():
            return 400, {}
        back = query["redirect_uri"]
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            answer = {"error": "invalid_request", "state": query.get("state", "")}
        else:
            code = secrets.token_urlsafe(24)
            self._grants[code] = _Grant(query["code_challenge"], query["code_challenge_method"],
                                        query.get("nonce", ""), back, self.user)
            answer = {"code": code, "state": query.get("state", "")}
        return 302, {"Location": f"{back}?{urlencode(answer)}"}

    def _client_auth(self, form: dict[str, str], authorization: str | None) -> tuple[str, bool]:
        if authorization and authorization.startswith("Basic "):
            user, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
            return "client_secret_basic", user == self.client_id and password == self.client_secret
        if "client_secret" in form:
            return "client_secret_post", (form.get("client_id") == self.client_id
                                          and form["client_secret"] == self.client_secret)
        return "none", False

    def token(self, form: dict[str, str], authorization: str | None) -> tuple[int, dict[str, object]]:
        method, authenticated = self._client_auth(form, authorization)
        if not authenticated or method not in self.auth_methods:
            self.token_requests.append((method, "invalid_client"))
            return 401, {"error": "invalid_client"}
        grant = self._grants.pop(form.get("code", ""), None)
        if form.get("grant_type") != "authorization_code" or grant is None \
                or grant.redirect_uri != form.get("redirect_uri"):
            self.token_requests.append((method, "invalid_grant"))
            return 400, {"error": "invalid_grant"}
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if challenge != grant.challenge:
            self.token_requests.append((method, "pkce verifier mismatch"))
            return 400, {"error": "invalid_grant"}
        self.token_requests.append((method, "ok"))
        return 200, {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "expires_in": 300,
                     "id_token": self.id_token(grant)}

    def id_token(self, grant: _Grant) -> str:
        now = int(self.now())
        claims = {
            "iss": self.issuer, "sub": f"sub-{grant.user}", "aud": self.audience or self.client_id,
            "iat": now, "exp": now + self.lifetime, "nonce": grant.nonce, "preferred_username": grant.user,
        }
        key = self.other_key if self.sign_with_other_key else self.key
        token = jwt.encode({"alg": "RS256", "kid": "standin-1"}, claims, key)
        if self.tamper:  # another user's name in the payload, the original signature kept
            header, _, signature = token.split(".")
            claims["preferred_username"] = "admin"
            payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
            token = f"{header}.{payload}.{signature}"
        return token
