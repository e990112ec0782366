"""Environments' connections in the governance document (issue 13, section 0), on a real SQLite data
directory: how deployments reach a Docker Engine or a Kubernetes API server, with the TLS client key
and the API server token sealed in the vault — never exported, never in the audit log — kept across
export → apply, bound to the endpoint they were entered for, dropped with the connection, re-wrapped
by key rotation; every rule broken is a violation naming the field."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from harbourmaster.domain.authz import Principal
from harbourmaster.domain.model import EnvironmentKind, Role, Tier
from harbourmaster.services.apply import apply_document
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.credentials import open_environment_secret
from harbourmaster.services.document import DocumentInvalid
from harbourmaster.services.export import export_model
from harbourmaster.services.keys import rotate_master_key
from tests.deploy._sa_tokens import SigningKey, jwks

ADMIN = Principal("admin", Role.ADMINISTRATOR)
KEY_CANARY = "-----BEGIN PRIVATE KEY-----\nhm-env-key-canary-5d1c\n-----END PRIVATE KEY-----\n"
TOKEN_CANARY = "hm-env-token-canary-8e2f"


def _certificate() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "engine.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


CERT = _certificate()
JWKS = json.dumps(jwks(SigningKey.rsa()))


def document(*environments: dict[str, Any]) -> str:
    return yaml.safe_dump({"apiVersion": "harbourmaster.io/v1", "kind": "Governance",
                           "environments": list(environments)})


def docker(**fields: Any) -> dict[str, Any]:
    return {"name": "dev-docker", "kind": "docker-standalone", "tier": "development", **fields}


def kube(**fields: Any) -> dict[str, Any]:
    return {"name": "prod-k8s", "kind": "kubernetes", "tier": "production", "namespaces": ["web"], **fields}


TLS = {"ca_bundle": CERT, "client_certificate": CERT, "client_key": "env:HM_TEST_ENGINE_KEY"}


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HM_TEST_ENGINE_KEY", KEY_CANARY)
    monkeypatch.setenv("HM_TEST_API_TOKEN", TOKEN_CANARY)


def apply(core: Harbourmaster, text: str) -> Any:
    return apply_document(core, ADMIN, text, source="test.yaml", host=core.host_files())


def violations(core: Harbourmaster, text: str) -> dict[str, str]:
    with pytest.raises(DocumentInvalid) as caught:
        apply(core, text)
    return {v.path: v.message for v in caught.value.violations}


def stored(core: Harbourmaster, environment: str, field: str) -> bytes | None:
    with core.store.read() as tx:
        return tx.governance.environment_secret(environment, field)


def opened(core: Harbourmaster, environment: str, field: str) -> str:
    blob = stored(core, environment, field)
    assert blob is not None
    env = core.snapshot().environments[environment]
    return open_environment_secret(core, env, blob, field=field).reveal()


def everything_written(core: Harbourmaster) -> str:
    with core.store.read() as tx:
        audit = "".join(json.dumps(e.details) + e.target for e in tx.audit.entries())
    return export_model(core, ADMIN) + audit


def test_a_docker_engine_over_tls_keeps_its_client_key_in_the_vault(
    core: Harbourmaster, secrets: None
) -> None:
    apply(core, document(docker(endpoint="tcp://engine.test:2376", tls=TLS)))
    env = core.snapshot().environments["dev-docker"]
    assert env.connection.endpoint == "tcp://engine.test:2376"
    assert env.connection.tls.client_certificate == CERT and env.connection.tls.client_key_set
    assert opened(core, "dev-docker", "client_key") == KEY_CANARY
    assert "hm-env-key-canary" not in everything_written(core)
    exported = yaml.safe_load(export_model(core, ADMIN))
    (entry,) = exported["environments"]
    assert entry["endpoint"] == "tcp://engine.test:2376"
    assert entry["tls"] == {"ca_bundle": CERT, "client_certificate": CERT}
    # Export → apply changes nothing, and the key stays.
    blob = stored(core, "dev-docker", "client_key")
    apply(core, export_model(core, ADMIN))
    assert stored(core, "dev-docker", "client_key") == blob
    assert core.snapshot().environments["dev-docker"] == env


def test_a_kubernetes_api_server_with_its_token_and_service_account_issuer(
    core: Harbourmaster, secrets: None
) -> None:
    apply(core, document(kube(api_server="https://k8s.test:6443/", token="env:HM_TEST_API_TOKEN",
                               tls={"ca_bundle": CERT}, service_account_issuer="https://k8s.test",
                               jwks=JWKS)))  # fmt: skip
    connection = core.snapshot().environments["prod-k8s"].connection
    assert connection.api_server == "https://k8s.test:6443" and connection.token_set
    assert connection.service_account_issuer == "https://k8s.test" and connection.jwks == JWKS
    assert opened(core, "prod-k8s", "token") == TOKEN_CANARY
    assert TOKEN_CANARY not in everything_written(core)
    apply(core, export_model(core, ADMIN))
    assert core.snapshot().environments["prod-k8s"].connection == connection
    assert opened(core, "prod-k8s", "token") == TOKEN_CANARY


def test_a_secret_is_bound_to_the_endpoint_it_was_entered_for(core: Harbourmaster, secrets: None) -> None:
    apply(core, document(docker(endpoint="tcp://engine.test:2376", tls=TLS)))
    moved = {**TLS}
    del moved["client_key"]
    found = violations(core, document(docker(endpoint="tcp://other.test:2376", tls=moved)))
    assert "was entered for another endpoint" in found["environments[0].tls.client_key"]
    # Given again for the new endpoint, it is sealed for that one.
    apply(core, document(docker(endpoint="tcp://other.test:2376", tls=TLS)))
    assert opened(core, "dev-docker", "client_key") == KEY_CANARY


def test_a_connection_removed_takes_its_secrets_with_it(core: Harbourmaster, secrets: None) -> None:
    apply(core, document(docker(endpoint="tcp://engine.test:2376", tls=TLS),
                         kube(api_server="https://k8s.test", token="env:HM_TEST_API_TOKEN")))  # fmt: skip
    assert stored(core, "dev-docker", "client_key") and stored(core, "prod-k8s", "token")
    apply(core, document(docker(endpoint="unix:///run/docker.sock"), kube()))
    assert stored(core, "dev-docker", "client_key") is None and stored(core, "prod-k8s", "token") is None
    connection = core.snapshot().environments["dev-docker"].connection
    assert connection.endpoint == "unix:///run/docker.sock" and not connection.tls.client_key_set
    assert not core.snapshot().environments["prod-k8s"].connection.configured


def test_key_rotation_rewraps_the_connections_secrets(core: Harbourmaster, secrets: None) -> None:
    apply(core, document(docker(endpoint="tcp://engine.test:2376", tls=TLS),
                         kube(api_server="https://k8s.test", token="env:HM_TEST_API_TOKEN")))  # fmt: skip
    before = stored(core, "prod-k8s", "token")
    report = rotate_master_key(core, ADMIN)
    assert report.rewrapped >= 2
    fresh = Harbourmaster.from_environ()
    assert stored(fresh, "prod-k8s", "token") != before
    assert opened(fresh, "prod-k8s", "token") == TOKEN_CANARY
    assert opened(fresh, "dev-docker", "client_key") == KEY_CANARY


@pytest.mark.parametrize(
    ("entry", "field", "says"),
    [
        (kube(endpoint="unix:///run/docker.sock"), "environments[0].endpoint", "only for docker-standalone"),
        (docker(api_server="https://k8s.test"), "environments[0].api_server", "only for kubernetes"),
        (docker(jwks=JWKS), "environments[0].jwks", "only for kubernetes"),
        (docker(endpoint="unix://run/docker.sock"), "environments[0].endpoint", "unix:///absolute/path"),
        (docker(endpoint="ssh://engine.test"), "environments[0].endpoint", "ssh:// is not supported"),
        (docker(endpoint="tcp://engine.test"), "environments[0].endpoint", "tcp://host:port"),
        (docker(endpoint="tcp://engine.test:2375"), "environments[0].tls",
         "needs TLS with a client certificate"),
        ({**docker(endpoint="tcp://engine.test:2375", tls={"insecure": True}), "tier": "production"},
         "environments[0].tls.insecure", "only on the development tier"),
        (docker(endpoint="unix:///run/docker.sock", tls=TLS), "environments[0].tls", "not a unix socket"),
        (docker(tls=TLS), "environments[0].tls", "give endpoint"),
        (docker(endpoint="tcp://engine.test:2376", tls={"client_certificate": CERT}),
         "environments[0].tls.client_key", "needs a client key"),
        (docker(endpoint="tcp://engine.test:2376", tls={**TLS, "client_key": "HM_TEST_ENGINE_KEY"}),
         "environments[0].tls.client_key", "env:"),
        (kube(api_server="http://k8s.test"), "environments[0].api_server", "https://host"),
        (kube(tls=TLS), "environments[0].tls", "give api_server"),
        (kube(api_server="https://k8s.test"), "environments[0].token", "needs a token"),
        (kube(token="env:HM_TEST_API_TOKEN"), "environments[0].token", "give api_server"),
        (kube(service_account_issuer="https://k8s.test"), "environments[0].jwks", "come together"),
        (kube(service_account_issuer="https://k8s.test", jwks="{\"keys\": []}"), "environments[0].jwks", ""),
        (kube(service_account_issuer="https://k8s.test", jwks="{not json"), "environments[0].jwks",
         "not JSON"),
    ],
)
def test_bad_connections_are_refused_naming_the_field_and_nothing_is_written(
    core: Harbourmaster, secrets: None, entry: dict[str, Any], field: str, says: str
) -> None:
    revision = core.snapshot().revision
    found = violations(core, document(entry))
    assert field in found, found
    assert says in found[field]
    assert core.snapshot().revision == revision
    assert TOKEN_CANARY not in json.dumps(found) and "hm-env-key-canary" not in json.dumps(found)


def test_through_the_api_no_reference_is_resolved(core: Harbourmaster, secrets: None) -> None:
    with pytest.raises(DocumentInvalid) as caught:
        entry = kube(api_server="https://k8s.test", token="env:HM_TEST_API_TOKEN")
        apply_document(core, ADMIN, document(entry), source="api", host=None)
    found = {v.path: v.message for v in caught.value.violations}
    assert "with 'harbourmaster apply' there" in found["environments[0].token"]


def test_changing_an_environment_keeps_its_connection_within_the_rules(
    core: Harbourmaster, secrets: None
) -> None:
    from harbourmaster.domain.state import StateInvalid
    from harbourmaster.services.governance import update_environment

    apply(core, document(docker(endpoint="tcp://engine.test:2375", tls={"insecure": True})))
    update_environment(core, ADMIN, "dev-docker", group="lab")  # the connection is kept
    assert core.snapshot().environments["dev-docker"].connection.endpoint == "tcp://engine.test:2375"
    with pytest.raises(StateInvalid) as caught:
        update_environment(core, ADMIN, "dev-docker", tier=Tier.PRODUCTION)
    assert any("only on the development tier" in v.message for v in caught.value.violations)
    with pytest.raises(StateInvalid) as caught:
        update_environment(core, ADMIN, "dev-docker", kind=EnvironmentKind.KUBERNETES)
    assert any("reached through api_server" in v.message for v in caught.value.violations)
    assert core.snapshot().environments["dev-docker"].tier.value == "development"
