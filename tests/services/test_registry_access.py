"""The bridge from registry records to the registry client: providers, endpoints, caches, authz.

No network is used here: everything is decided before a connection would be
made (refusals, digest references, cached answers).  The behaviour against
real registries is in tests/integration/test_registry_operations.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from harbourmaster.bootstrap import build
from harbourmaster.cli._common import local_principal
from harbourmaster.domain.authz import Principal
from harbourmaster.domain.decision import Decision
from harbourmaster.domain.model import Provider, Role
from harbourmaster.errors import BadInput, Forbidden, NotFound
from harbourmaster.registry import Anonymous, CredentialProvider, UsernamePassword
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
)
from harbourmaster.services import (
    environment_access,
    registry_browse,
    registry_digests,
    registry_endpoints,
    registry_probe,
    registry_resolve,
    registry_scope,
)
from harbourmaster.services.apply import apply_document
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.registry_browse import CatalogUnavailable, browse
from harbourmaster.services.registry_digests import clear_registry_caches, resolve_decision_digests
from harbourmaster.services.registry_endpoints import endpoint_for, provider_for, run_sync
from harbourmaster.services.registry_resolve import ResolveRefused, resolve_image
from tests.fakes.clock import FixedClock

ADMIN = Principal("admin", Role.ADMINISTRATOR)
DIGEST = "sha256:" + "ab" * 32
SECRET = "bridge-secret-9c41-never-shown"


def _sa_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return json.dumps(
        {"type": "service_account", "client_email": "puller@proj.iam.gserviceaccount.com", "private_key": pem}
    )


def _cred(user: str, var: str = "HM_BRIDGE_SECRET", kind: str = "user") -> str:
    return f"{{kind: {kind}, username: '{user}', secret: env:{var}, expires: 2030-01-01}}"


#: One registry per provider (the built-in anonymous Docker Hub needs none), and the adapter expected.
PROVIDERS: dict[str, tuple[str, type[CredentialProvider]]] = {
    "custom": (f"url: https://reg.corp\n    credential: {_cred('bot')}", UsernamePassword),
    "harbor": (f"url: https://harbor.corp\n    credential: {_cred('robot$team+ci', kind='robot')}", Harbor),
    "quay": (f"url: https://quay.corp\n    credential: {_cred('team+puller', kind='robot')}", Quay),
    "proget": (f"url: https://proget.corp\n    credential: {_cred('api')}", ProGet),
    "dockerhub": (f"url: https://docker.io\n    scope: corp\n    credential: {_cred('corp')}", DockerHub),
    "ghcr": (f"url: https://ghcr.io\n    scope: corp\n    credential: {_cred('bot')}", Ghcr),
    "gitlab": (f"url: https://gitlab.corp\n    credential: {_cred('gitlab+deploy-token-7')}", GitLab),
    "acr": (f"url: https://corp.azurecr.io\n    tenant: t-1\n    credential: {_cred('client-id')}", Acr),
    "ecr": (
        "url: https://123456789012.dkr.ecr.eu-west-1.amazonaws.com\n"
        f"    credential: {_cred('AKIAEXAMPLEEXAMPLE')}",
        Ecr,
    ),
    "gar": (
        f"url: https://europe-docker.pkg.dev\n    project: p\n    credential: {_cred('sa', 'HM_BRIDGE_SA')}",
        Gar,
    ),
}


def _apply(hm: Harbourmaster, registries: str, extra: str = "") -> None:
    doc = f"apiVersion: harbourmaster.io/v1\nkind: Governance\nregistries:\n{registries}{extra}"
    apply_document(hm, local_principal(hm), doc, source="bridge.yaml", host=hm.host_files())


def _audit(hm: Harbourmaster, action: str) -> list[dict[str, object]]:
    with hm.store.read() as tx:
        return [
            {"target": e.target, "result": e.result, **e.details}
            for e in tx.audit.entries()
            if e.action == action
        ]


@pytest.fixture
def bridge(hm: Harbourmaster, monkeypatch: pytest.MonkeyPatch) -> Harbourmaster:
    monkeypatch.setenv("HM_BRIDGE_SECRET", SECRET)
    monkeypatch.setenv("HM_BRIDGE_SA", _sa_key())
    clear_registry_caches()
    _apply(
        hm,
        "".join(f"  - name: reg-{p}\n    provider: {p}\n    {body}\n" for p, (body, _) in PROVIDERS.items()),
    )
    return hm


def test_every_provider_is_covered_by_the_table() -> None:
    assert set(PROVIDERS) | {Provider.DOCKERHUB_ANONYMOUS.value} == {p.value for p in Provider}


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_provider_for_maps_each_provider_and_audits_the_use(bridge: Harbourmaster, provider: str) -> None:
    registry = bridge.state().registry(f"reg-{provider}")
    assert registry is not None
    adapter = provider_for(bridge, registry, actor="alice", purpose="registry.test")
    assert type(adapter) is PROVIDERS[provider][1]
    assert SECRET not in repr(adapter)
    (use,) = _audit(bridge, "credential.use")
    assert use["target"] == f"reg-{provider}" and use["purpose"] == "registry.test"
    assert SECRET not in json.dumps(use)


def test_adapters_get_the_provider_fields(bridge: Harbourmaster) -> None:
    state = bridge.state()
    ecr = provider_for(bridge, state.registry("reg-ecr"), actor="a", purpose="p")  # type: ignore[arg-type]
    assert isinstance(ecr, Ecr) and ecr.region == "eu-west-1"  # from the host
    acr = provider_for(bridge, state.registry("reg-acr"), actor="a", purpose="p")  # type: ignore[arg-type]
    assert isinstance(acr, Acr) and acr.tenant_id == "t-1" and acr.client_id == "client-id"
    assert acr.registry == "corp.azurecr.io"


def test_anonymous_without_a_credential_and_for_builtin_dockerhub(bridge: Harbourmaster) -> None:
    _apply(bridge, "  - name: open\n    provider: custom\n    url: https://open.corp\n")
    state = bridge.state()
    for name in ("open", "dockerhub-anonymous"):
        assert isinstance(provider_for(bridge, state.registry(name), actor="a", purpose="p"), Anonymous)  # type: ignore[arg-type]
    assert _audit(bridge, "credential.use") == []


@pytest.mark.parametrize(
    ("provider", "body", "error", "words"),
    [
        ("acr", f"url: https://x.azurecr.io\n    credential: {_cred('c')}", BadInput, "tenant"),
        ("ecr", f"url: https://ecr.corp\n    credential: {_cred('AKIAEXAMPLEEXAMPLE')}", BadInput, "region"),
        ("quay", f"url: https://q.corp\n    credential: {_cred('no-plus')}", BadInput, "namespace+robotname"),
        ("gar", f"url: https://g.pkg.dev\n    credential: {_cred('sa')}", ServiceAccountKeyError, "JSON"),
        (
            "ecr",
            f"url: https://e.corp\n    region: eu-west-1\n    credential: {_cred('lower')}",
            BadInput,
            "key id",
        ),
    ],
)
def test_unusable_provider_settings_are_clear_and_never_quote_the_secret(
    bridge: Harbourmaster, provider: str, body: str, error: type[Exception], words: str
) -> None:
    _apply(bridge, f"  - name: broken\n    provider: {provider}\n    {body}\n")
    with pytest.raises(error) as caught:
        provider_for(bridge, bridge.state().registry("broken"), actor="a", purpose="p")  # type: ignore[arg-type]
    assert words in str(caught.value) and SECRET not in str(caught.value)
    if provider in ("acr",) or "region" in words:
        assert _audit(bridge, "credential.use") == []  # checked before the secret is opened


def test_an_expired_credential_is_refused_and_the_refusal_audited(bridge: Harbourmaster) -> None:
    later = build(bridge.settings, clock=FixedClock.on(dt.date(2031, 1, 1)))
    with pytest.raises(BadInput, match="expired on 2030-01-01"):
        provider_for(later, later.state().registry("reg-custom"), actor="a", purpose="p")  # type: ignore[arg-type]
    assert [u["result"] for u in _audit(later, "credential.use")] == ["refused"]


def test_endpoint_for_security_and_development_only(
    bridge: Harbourmaster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.integration.registry_fixtures import CertificateAuthority

    ca = CertificateAuthority.create()
    cert, key = ca.issue("client", server=False)
    (tmp_path / "ca.pem").write_text(ca.pem)
    (tmp_path / "client.pem").write_text(cert)
    monkeypatch.setenv("HM_BRIDGE_KEY", key)
    _apply(
        bridge,
        "  - name: plain\n    provider: custom\n    url: http://10.0.0.1:5000\n    tls: {insecure: true}\n"
        "  - name: unverified\n    provider: custom\n    url: https://self.corp\n    tls: {insecure: true}\n"
        "  - name: mutual\n    provider: custom\n    url: https://m.corp:8443\n"
        f"    tls: {{ca_bundle: {tmp_path / 'ca.pem'}, client_certificate: {tmp_path / 'client.pem'},"
        " client_key: env:HM_BRIDGE_KEY}\n",
        "environments:\n  - {name: dev, kind: swarm, tier: development}\n"
        "  - {name: prod, kind: kubernetes, tier: production, namespaces: [web]}\n"
        "users: [{name: u}]\naccess: [{environment: dev, user: u}]\n"
        "grants:\n  - {registry: plain, environment: dev, users: [u]}\n"
        "  - {registry: mutual, environment: prod, namespaces: [web]}\n",
    )
    state = bridge.state()
    plain, dev_only = endpoint_for(bridge, state.registry("plain"), actor="a")  # type: ignore[arg-type]
    assert plain.base_url == "http://10.0.0.1:5000" and plain.security.plain_http and dev_only
    unverified, dev_only = endpoint_for(bridge, state.registry("unverified"), actor="a")  # type: ignore[arg-type]
    assert unverified.security.skip_verify and not unverified.security.plain_http and dev_only
    mutual, dev_only = endpoint_for(bridge, state.registry("mutual"), actor="a", purpose="x")  # type: ignore[arg-type]
    assert not dev_only and mutual.host == "m.corp:8443" and mutual.security.ca_bundle_pem == ca.pem
    assert mutual.security.client_certificate is not None
    assert mutual.security.client_certificate.private_key_pem.reveal() == key
    assert key.splitlines()[1] not in repr(mutual)
    (use,) = _audit(bridge, "credential.use")
    assert use == {"target": "mutual", "result": "ok", "purpose": "x", "field": "client_key"}
    hub, _ = endpoint_for(bridge, state.registry("dockerhub-anonymous"), actor="a")  # type: ignore[arg-type]
    assert hub.base_url == "https://registry-1.docker.io"


def test_run_sync_works_inside_a_running_loop() -> None:
    async def inner() -> int:
        await asyncio.sleep(0)
        return 7

    async def outer() -> int:
        return run_sync(inner())

    assert run_sync(inner()) == 7
    assert asyncio.run(outer()) == 7


def test_ttl_cache_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(registry_digests.time, "monotonic", lambda: now[0])
    cache: registry_digests._TtlCache[str, str] = registry_digests._TtlCache(30.0)
    cache.put("k", "v")
    now[0] = 129.9
    assert cache.get("k") == "v"
    now[0] = 130.0
    assert cache.get("k") is None


def _allowed(image: str, registry: str) -> Decision:
    return Decision(image, image, registry, True, ("granted",))


def test_digest_pinning_without_network(bridge: Harbourmaster) -> None:
    decisions = [
        _allowed(f"reg.corp/team/app@{DIGEST}", "reg-custom"),
        Decision("evil.corp/x:1", "evil.corp/x:1", None, False, ("denied by default",)),
        _allowed("reg.corp/team/app:v1", "reg-custom"),
        _allowed("reg.corp/team/other:v1", "reg-custom"),
    ]
    registry_digests.remember_digest(
        registry="reg-custom", host="reg.corp", repository="team/app", tag="v1", digest=DIGEST
    )
    registry_digests._unreachable.put(("reg-custom", "reg.corp"), "registry reg.corp: connection refused")
    pinned, errors = resolve_decision_digests(bridge, decisions, actor="alice")
    assert [d.digest for d in pinned] == [DIGEST, None, DIGEST, None]
    assert errors[:3] == [None, None, None]
    assert errors[3] is not None and "connection refused" in errors[3] and "not retried" in errors[3]
    assert pinned[1] == decisions[1]
    # Neither the cached answer nor the unreachable registry opened the credential.
    assert _audit(bridge, "credential.use") == []


def test_operations_check_roles_and_environment_access(hm: Harbourmaster, example_text: str) -> None:
    apply_document(hm, local_principal(hm), example_text, source="example.yaml", host=hm.host_files())
    for role in (Role.TEAM_MEMBER, Role.AUDITOR):
        who = Principal("payments-dev", role)
        with pytest.raises(Forbidden, match=r"registry\.probe"):
            registry_probe.test_registry(hm, who, "harbor-payments")
        with pytest.raises(Forbidden, match=r"registry\.probe"):
            browse(hm, who, "harbor-payments")
    image = f"harbor.corp/payments/api@{DIGEST}"
    with pytest.raises(Forbidden, match=r"decision\.check"):
        resolve_image(hm, Principal("auditor", Role.AUDITOR), image, environment="prod-eu")
    with pytest.raises(Forbidden, match="no access to environment prod-eu"):
        resolve_image(hm, Principal("tools-dev", Role.TEAM_MEMBER), image, environment="prod-eu")
    member = Principal("payments-dev", Role.TEAM_MEMBER)
    resolved = resolve_image(hm, member, image, environment="prod-eu")
    assert resolved.digest == DIGEST and resolved.registry == "harbor-payments"
    assert resolved.tenant == "namespace payments"
    (record,) = _audit(hm, "resolve")
    assert record["digest"] == DIGEST and record["target"] == image


def test_resolve_refuses_clearly_where_nothing_is_granted(hm: Harbourmaster, example_text: str) -> None:
    apply_document(hm, local_principal(hm), example_text, source="example.yaml", host=hm.host_files())
    with pytest.raises(ResolveRefused) as caught:
        resolve_image(hm, ADMIN, f"harbor.corp/web/app@{DIGEST}", environment="prod-eu", namespace="payments")
    assert "no registry granted to namespace payments" in caught.value.message
    assert any("harbor-web" in d and "not granted" in d for d in caught.value.details)
    with pytest.raises(NotFound, match="environment nowhere"):
        resolve_image(hm, ADMIN, "harbor.corp/web/app:1", environment="nowhere")
    with pytest.raises(BadInput):
        resolve_image(hm, ADMIN, "Harbor.corp/UPPER", environment="prod-eu")


def test_browse_refuses_before_any_connection(hm: Harbourmaster, example_text: str) -> None:
    apply_document(hm, local_principal(hm), example_text, source="example.yaml", host=hm.host_files())
    with pytest.raises(CatalogUnavailable, match="no catalog endpoint"):
        browse(hm, ADMIN, "ghcr-tools")
    with pytest.raises(BadInput, match="outside the scope payments"):
        browse(hm, ADMIN, "harbor-payments", "payments-evil/app")
    with pytest.raises(BadInput, match="needs a repository"):
        browse(hm, ADMIN, "harbor-payments", None, "v1")
    with pytest.raises(BadInput, match="give the reference once"):
        browse(hm, ADMIN, "harbor-payments", "payments/app:v1", "v2")
    with pytest.raises(NotFound):
        browse(hm, ADMIN, "nope")
    assert _audit(hm, "credential.use") == []


_component = st.from_regex(r"[a-z0-9]+(?:[._-][a-z0-9]+)?", fullmatch=True).filter(lambda s: len(s) <= 20)
_tag = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(
    scope=st.lists(_component, min_size=0, max_size=2),
    path=st.lists(_component, min_size=1, max_size=4),
    tag=st.none() | _tag,
)
def test_repository_arguments_split_and_respect_the_scope(
    scope: list[str], path: list[str], tag: str | None
) -> None:
    from harbourmaster.domain.matching import parse_registry_location
    from harbourmaster.domain.model import Registry

    location = parse_registry_location("https://reg.corp:5000", "/".join(scope) or None)
    registry = Registry("r", Provider.CUSTOM, "https://reg.corp:5000", location)
    text = "/".join(path) + (f":{tag}" if tag else "")
    inside = tuple(path[: len(scope)]) == tuple(scope)
    for given_text in (text, f"reg.corp:5000/{text}"):
        if inside:
            assert registry_scope.split_repository(registry, given_text) == ("/".join(path), tag)
        else:
            with pytest.raises(BadInput, match="outside the scope"):
                registry_scope.split_repository(registry, given_text)


def test_the_public_api_is_pinned() -> None:
    operations = {
        registry_probe: ["LastTestPublic", "last_tests", "test_registry"],
        registry_browse: ["BrowseResult", "CatalogUnavailable", "browse"],
        registry_resolve: ["ResolveRefused", "ResolvedImage", "resolve_image"],
        registry_scope: [
            "ImageNotInApprovedRegistry",
            "approved_registry",
            "named_registry",
            "split_repository",
            "within_scope",
        ],
    }
    for module, names in operations.items():
        assert module.__all__ == names
        for name in module.__all__:
            assert getattr(module, name) is not None
    # What surfaces use of the registry operations, each exported by the module that defines it.
    defining = (*operations, registry_endpoints, registry_digests, environment_access)
    exported = {name for module in defining for name in module.__all__ if getattr(module, name) is not None}
    assert exported >= {
        "BrowseResult",
        "CatalogUnavailable",
        "ResolveRefused",
        "ResolvedImage",
        "authorise_environment",
        "browse",
        "clear_registry_caches",
        "endpoint_for",
        "provider_for",
        "registry_host",
        "resolve_decision_digests",
        "resolve_image",
        "run_sync",
        "test_registry",
    }


def test_an_unexpected_failure_never_fails_the_decision(
    bridge: Harbourmaster, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_args: Any) -> list[object]:
        raise RuntimeError("a defect")

    monkeypatch.setattr(registry_digests, "_gather", broken)
    pinned, errors = resolve_decision_digests(
        bridge, [_allowed("reg.corp/team/app:v2", "reg-custom")], actor="a"
    )
    assert pinned[0].digest is None and errors == ["digest resolution failed unexpectedly (RuntimeError)"]
