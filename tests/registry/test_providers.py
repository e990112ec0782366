"""Provider adapters against local stand-ins of the cloud identity endpoints.

The stand-ins check the exact request shape (SigV4 signature, JWT claims and
RS256 signature, form fields) and answer the way the real services do.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from harbourmaster.domain.secret import Secret
from harbourmaster.registry import (
    AuthenticationFailed,
    ClientOptions,
    RegistryClient,
    RegistryEndpoint,
    TokenExchangeFailed,
    TransportSecurity,
)
from harbourmaster.registry.providers import (
    Acr,
    DockerHub,
    Ecr,
    Gar,
    Ghcr,
    GitLab,
    Harbor,
    ProGet,
    Quay,
    ServiceAccountKeyError,
    ecr_region,
)
from harbourmaster.registry.providers._sigv4 import sign_v4
from tests.registry.standin import Reply, Seen, stand_in

KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout=30))


async def _creds(provider: Any) -> Any:
    async with httpx.AsyncClient() as http:
        return await provider.credentials(http=http)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- ECR ----------------------------------------------------------------------------------------


def _expected_sigv4(seen: Seen, url: str) -> str:
    """The Authorization an independent signer computes for the request the stand-in saw."""
    headers = {"Content-Type": seen.headers["content-type"], "X-Amz-Target": seen.headers["x-amz-target"]}
    amz_date = seen.headers["x-amz-date"]
    try:
        from unittest import mock

        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
    except ImportError:  # botocore is the optional oracle; fall back to the vector-checked signer
        return sign_v4(
            method="POST",
            url=url,
            headers=headers,
            body=seen.body,
            access_key_id=KEY_ID,
            secret_access_key=SECRET_KEY,
            region="eu-west-1",
            service="ecr",
            amz_date=amz_date,
        )["Authorization"]
    request = AWSRequest(method="POST", url=url, data=seen.body, headers=headers)
    with mock.patch(
        "botocore.auth.get_current_datetime", return_value=dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
    ):
        SigV4Auth(Credentials(KEY_ID, SECRET_KEY), "ecr", "eu-west-1").add_auth(request)
    return str(request.headers["Authorization"])


def _ecr_standin(password: str, expires_at: float):  # type: ignore[no-untyped-def]
    def route(seen: Seen) -> Reply:
        url = f"http://{seen.headers['host']}/"
        if (
            (seen.method, seen.path) != ("POST", "/")
            or seen.headers.get("x-amz-target")
            != "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken"
            or seen.headers.get("content-type") != "application/x-amz-json-1.1"
            or seen.body != b"{}"
        ):
            return Reply(400, {}, b'{"__type": "SerializationException"}')
        if seen.headers.get("authorization") != _expected_sigv4(seen, url):
            return Reply(403, {}, b'{"__type": "InvalidSignatureException", "message": "signature mismatch"}')
        token = base64.b64encode(f"AWS:{password}".encode()).decode()
        body = {
            "authorizationData": [
                {
                    "authorizationToken": token,
                    "expiresAt": expires_at,
                    "proxyEndpoint": "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com",
                }
            ]
        }
        return Reply(200, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(body).encode())

    return route


def test_ecr_signs_requests_and_refreshes_before_expiry() -> None:
    clock = Clock(1_700_000_000.0)
    with stand_in(_ecr_standin("ecr-password", clock.now + 12 * 3600)) as s:
        ecr = Ecr(
            access_key_id=KEY_ID,
            secret_access_key=Secret(SECRET_KEY),
            region="eu-west-1",
            endpoint_url=f"{s.url}/",
            refresh_margin=1800,
            clock=clock,
        )
        creds = run(_creds(ecr))
        assert creds.username == "AWS" and creds.password.reveal() == "ecr-password"
        assert ecr.refresh_due_at() == clock.now + 12 * 3600 - 1800
        clock.now += 11 * 3600  # well inside the validity: cached
        run(_creds(ecr))
        assert len(s.seen) == 1
        clock.now += 3600  # 30 minutes before expiry, inside the margin: refreshed before it lapses
        run(_creds(ecr))
        assert len(s.seen) == 2


def test_ecr_wrong_secret_is_refused_without_leaking_it() -> None:
    with stand_in(_ecr_standin("x", 2e9)) as s:
        ecr = Ecr(
            access_key_id=KEY_ID,
            secret_access_key=Secret("wrong-secret-canary"),
            region="eu-west-1",
            endpoint_url=f"{s.url}/",
        )
        with pytest.raises(TokenExchangeFailed, match="InvalidSignatureException") as info:
            run(_creds(ecr))
    assert "wrong-secret-canary" not in info.value.diagnostics() + repr(ecr)


def test_ecr_region_from_host_and_validation() -> None:
    assert ecr_region("123456789012.dkr.ecr.eu-west-1.amazonaws.com") == "eu-west-1"
    with pytest.raises(ValueError):
        ecr_region("ghcr.io")
    with pytest.raises(ValueError):
        Ecr(access_key_id=KEY_ID, secret_access_key=Secret("s"), region="mars")


# -- GAR ----------------------------------------------------------------------------------------


def _b64d(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def test_gar_jwt_bearer_grant() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    problems: list[str] = []

    def route(seen: Seen) -> Reply:
        form = {k: v[0] for k, v in parse_qs(seen.body.decode()).items()}
        if seen.path != "/token" or form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            problems.append(f"bad request {seen.path} {form.get('grant_type')}")
            return Reply(400, {}, b'{"error": "unsupported_grant_type"}')
        header, claims, signature = form["assertion"].split(".")
        try:
            key.public_key().verify(
                _b64d(signature), f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except Exception:
            problems.append("bad signature")
            return Reply(400, {}, b'{"error": "invalid_grant"}')
        h, c = json.loads(_b64d(header)), json.loads(_b64d(claims))
        if (
            h != {"alg": "RS256", "typ": "JWT", "kid": "key-1"}
            or c["iss"] != "sa@proj.iam.gserviceaccount.com"
            or c["aud"] != f"http://{seen.headers['host']}/token"
            or c["exp"] - c["iat"] != 3600
            or c["scope"] != "https://www.googleapis.com/auth/cloud-platform"
        ):
            problems.append(f"bad jwt {h} {c}")
            return Reply(400, {}, b'{"error": "invalid_grant"}')
        return Reply(
            200,
            {"Content-Type": "application/json"},
            b'{"access_token": "ya29.token", "expires_in": 3599, "token_type": "Bearer"}',
        )

    with stand_in(route) as s:
        sa_key = json.dumps(
            {
                "type": "service_account",
                "client_email": "sa@proj.iam.gserviceaccount.com",
                "private_key": pem,
                "private_key_id": "key-1",
                "token_uri": f"{s.url}/token",
            }
        )
        gar = Gar(Secret(sa_key), clock=Clock(1_700_000_000.0))
        creds = run(_creds(gar))
        run(_creds(gar))
    assert problems == []
    assert creds.username == "oauth2accesstoken" and creds.password.reveal() == "ya29.token"
    assert len(s.seen) == 1  # cached
    assert "PRIVATE KEY" not in repr(gar)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ('{"type": "authorized_user"}', "not a service-account key"),
        ('{"type": "service_account", "client_email": "a@b"}', "lacks private_key"),
        ('{"type": "service_account", "client_email": "a@b", "private_key": "SECRETPEM"}', "not a PEM"),
    ],
)
def test_gar_bad_keys(text: str, fragment: str) -> None:
    with pytest.raises(ServiceAccountKeyError, match=fragment) as info:
        Gar(Secret(text))
    assert "SECRETPEM" not in str(info.value)


# -- ACR ----------------------------------------------------------------------------------------


def _acr_world(refresh_ok: bool = True):  # type: ignore[no-untyped-def]
    """A stand-in for Entra ID, ACR's /oauth2/exchange and /oauth2/token, and ACR's /v2/ API."""
    state: dict[str, Any] = {"forms": []}

    def route(seen: Seen) -> Reply:
        host = seen.headers["host"]
        form = {k: v[0] for k, v in parse_qs(seen.body.decode()).items()} if seen.method == "POST" else {}
        state["forms"].append((seen.path, form))
        js = {"Content-Type": "application/json"}
        if seen.path == "/tenant-1/oauth2/v2.0/token":
            ok = form == {
                "grant_type": "client_credentials",
                "client_id": "app-1",
                "client_secret": "sp-secret",
                "scope": "https://containerregistry.azure.net/.default",
            }
            return (
                Reply(200, js, b'{"access_token": "aad-token", "expires_in": 3599}')
                if ok
                else Reply(401, js, b'{"error": "invalid_client"}')
            )
        if seen.path == "/oauth2/exchange":
            ok = form == {
                "grant_type": "access_token",
                "service": "myreg.azurecr.io",
                "tenant": "tenant-1",
                "access_token": "aad-token",
            }
            return (
                Reply(200, js, b'{"refresh_token": "acr-refresh"}')
                if ok and refresh_ok
                else Reply(401, js, b'{"error": "unauthorized"}')
            )
        if seen.path == "/oauth2/token":
            ok = form == {
                "grant_type": "refresh_token",
                "service": "myreg.azurecr.io",
                "scope": "repository:team/app:pull",
                "refresh_token": "acr-refresh",
            }
            return Reply(200, js, b'{"access_token": "acr-access"}') if ok else Reply(401, js, b"{}")
        if seen.headers.get("authorization") == "Bearer acr-access":
            return Reply(200, js, b'{"name": "team/app", "tags": ["v1", "v2"]}')
        return Reply(
            401,
            {
                "WWW-Authenticate": f'Bearer realm="http://{host}/oauth2/token",'
                'service="myreg.azurecr.io",scope="repository:team/app:pull"'
            },
        )

    return route, state


def _acr(url: str) -> Acr:
    return Acr(
        registry="myreg.azurecr.io",
        tenant_id="tenant-1",
        client_id="app-1",
        client_secret=Secret("sp-secret"),
        registry_url=url,
        authority=url,
    )


def test_acr_token_exchange_end_to_end() -> None:
    route, state = _acr_world()
    with stand_in(route) as s:

        async def go() -> list[str]:
            async with RegistryClient(
                RegistryEndpoint(s.host, TransportSecurity(plain_http=True)),
                provider=_acr(s.url),
                development_only=True,
            ) as client:
                return await client.tags("team/app")

        assert run(go()) == ["v1", "v2"]
    paths = [p for p, _ in state["forms"]]
    assert paths == [
        "/v2/team/app/tags/list",
        "/tenant-1/oauth2/v2.0/token",
        "/oauth2/exchange",
        "/oauth2/token",
        "/v2/team/app/tags/list",
    ]


def test_acr_refused_exchange_is_clear() -> None:
    route, _ = _acr_world(refresh_ok=False)
    with stand_in(route) as s, pytest.raises(TokenExchangeFailed, match="exchange answered 401") as info:
        run(_creds(_acr(s.url)))
    assert "sp-secret" not in info.value.diagnostics()


# -- static providers ---------------------------------------------------------------------------


def test_static_providers_shape_their_credentials() -> None:
    cases = [
        (DockerHub("alice", Secret("dckr_pat_x")), "alice"),
        (Ghcr("bob", Secret("ghp_x")), "bob"),
        (GitLab("gitlab+deploy-token-7", Secret("gldt-x")), "gitlab+deploy-token-7"),
        (Quay("org+robot", Secret("q")), "org+robot"),
        (ProGet(Secret("key")), "api"),
        (Harbor("robot$proj+ci", Secret("h")), "robot$proj+ci"),
    ]
    for provider, user in cases:
        creds = run(_creds(provider))
        assert creds.username == user
        assert creds.password.reveal() not in repr(provider)
    with pytest.raises(ValueError, match="namespace"):
        Quay("just-a-user", Secret("q"))
    with pytest.raises(ValueError, match="robot"):
        Harbor("admin", Secret("h"))
    assert "docker.com" in DockerHub("a", Secret("b")).blob_redirect_hosts


def test_static_provider_against_token_flow_standin() -> None:
    """A Docker Hub style token service: basic credentials at the realm, anonymous when none."""

    def route(seen: Seen) -> Reply:
        if seen.path == "/token":
            auth = seen.headers.get("authorization", "")
            if auth and base64.b64decode(auth[6:]) != b"alice:dckr_pat_x":
                return Reply(401, {}, b"{}")
            return Reply(200, {}, json.dumps({"token": "hub-token" if auth else "anon"}).encode())
        if seen.headers.get("authorization") == "Bearer hub-token":
            return Reply(200, {"Content-Type": "application/json"}, b'{"name": "library/x", "tags": ["1"]}')
        return Reply(
            401,
            {
                "WWW-Authenticate": f'Bearer realm="http://{seen.headers["host"]}/token",'
                'service="registry.docker.io"'
            },
        )

    async def go(provider: Any) -> list[str]:
        async with RegistryClient(
            RegistryEndpoint(s.host, TransportSecurity(plain_http=True)),
            provider=provider,
            development_only=True,
            options=ClientOptions(max_retries=0),
        ) as client:
            return await client.tags("library/x")

    with stand_in(route) as s:
        assert run(go(DockerHub("alice", Secret("dckr_pat_x")))) == ["1"]
        with pytest.raises(AuthenticationFailed, match="token service refused"):
            run(go(DockerHub("alice", Secret("wrong"))))
        with pytest.raises(AuthenticationFailed, match="rejected"):
            run(go(None))  # anonymous token, still not enough: a clear 401, not a loop
        token_queries = [q for q in s.seen if q.path == "/token"]
        assert token_queries[0].query["scope"] == ["repository:library/x:pull"]
        assert token_queries[0].query["service"] == ["registry.docker.io"]
