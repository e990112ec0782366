"""A Kubernetes environment given as ``kubeconfig: file:/path`` (or ``env:VAR``) with
``kubeconfig_context`` (issue 13): read in memory at apply time into the same connection the
``api_server``/``tls``/``token`` fields give — the server, the CA, the token or client key sealed in the
vault, never exported — and every problem a violation at ``environments[i].kubeconfig`` naming what is
wrong, nothing written, no secret in any message."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from harbourmaster.domain.authz import Principal
from harbourmaster.domain.model import Role
from harbourmaster.services.apply import apply_document
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.document import DocumentInvalid
from harbourmaster.services.export import export_model
from tests.services.test_environment_connections import (
    CERT,
    KEY_CANARY,
    TOKEN_CANARY,
    apply,
    document,
    everything_written,
    kube,
    opened,
    stored,
)

ADMIN = Principal("admin", Role.ADMINISTRATOR)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def kubeconfig(
    *,
    server: str = "https://k8s.test:6443",
    user: dict[str, Any] | None = None,
    cluster: dict[str, Any] | None = None,
    current: str | None = "prod",
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "prod-cluster",
             "cluster": cluster if cluster is not None
             else {"server": server, "certificate-authority-data": b64(CERT)}},
            {"name": "lab-cluster", "cluster": {"server": "https://lab.test"}},
        ],
        "users": [
            {"name": "deployer", "user": user if user is not None else {"token": TOKEN_CANARY}},
            {"name": "lab-user", "user": {"token": "lab-token"}},
        ],
        "contexts": [
            {"name": "prod", "context": {"cluster": "prod-cluster", "user": "deployer"}},
            {"name": "lab", "context": {"cluster": "lab-cluster", "user": "lab-user"}},
        ],
    }  # fmt: skip
    if current is not None:
        config["current-context"] = current
    return config


def written(directory: Path, config: dict[str, Any] | str, name: str = "kubeconfig") -> str:
    path = directory / name
    path.write_text(config if isinstance(config, str) else yaml.safe_dump(config))
    return f"file:{path}"


def violations_of(core: Harbourmaster, text: str) -> dict[str, str]:
    revision = core.snapshot().revision
    with pytest.raises(DocumentInvalid) as caught:
        apply(core, text)
    assert core.snapshot().revision == revision  # nothing written
    found: dict[str, str] = {}
    for v in caught.value.violations:
        found[v.path] = f"{found[v.path]}; {v.message}" if v.path in found else v.message
    assert TOKEN_CANARY not in json.dumps(found) and "canary" not in caught.value.diagnostics()
    return found


def test_a_kubeconfig_gives_the_api_server_its_ca_and_the_token_as_fields_would(
    core: Harbourmaster, tmp_path: Path
) -> None:
    apply(core, document(kube(kubeconfig=written(tmp_path, kubeconfig()))))
    env = core.snapshot().environments["prod-k8s"]
    connection = env.connection
    assert connection.api_server == "https://k8s.test:6443" and connection.token_set
    assert connection.tls.ca_bundle == CERT and not connection.tls.insecure
    assert opened(core, "prod-k8s", "token") == TOKEN_CANARY
    assert TOKEN_CANARY not in everything_written(core)
    (entry,) = yaml.safe_load(export_model(core, ADMIN))["environments"]
    assert entry["api_server"] == "https://k8s.test:6443" and entry["tls"] == {"ca_bundle": CERT}
    assert "kubeconfig" not in entry and "token" not in entry
    # The same kubeconfig again is a no-op, and so is the export (the stored token is kept).
    blob, revision = stored(core, "prod-k8s", "token"), core.snapshot().revision
    again = apply(core, document(kube(kubeconfig=written(tmp_path, kubeconfig()))))
    assert not again.changes and core.snapshot().revision == revision
    assert stored(core, "prod-k8s", "token") == blob
    apply(core, export_model(core, ADMIN))
    assert core.snapshot().environments["prod-k8s"] == env and stored(core, "prod-k8s", "token") == blob
    # Exactly what the fields give.
    monkey = pytest.MonkeyPatch()
    monkey.setenv("HM_TEST_API_TOKEN", TOKEN_CANARY)
    try:
        apply(core, document(kube(name="by-fields", api_server="https://k8s.test:6443",
                                  token="env:HM_TEST_API_TOKEN", tls={"ca_bundle": CERT})))  # fmt: skip
    finally:
        monkey.undo()
    assert core.snapshot().environments["by-fields"].connection == connection


def test_a_moved_server_brings_its_own_token_and_a_document_without_it_must_give_it_again(
    core: Harbourmaster, tmp_path: Path
) -> None:
    apply(core, document(kube(kubeconfig=written(tmp_path, kubeconfig()))))
    moved = kubeconfig(server="https://k8s-2.test", user={"token": TOKEN_CANARY + "-2"})
    apply(core, document(kube(kubeconfig=written(tmp_path, moved))))
    assert core.snapshot().environments["prod-k8s"].connection.api_server == "https://k8s-2.test"
    assert opened(core, "prod-k8s", "token") == TOKEN_CANARY + "-2"
    # The fields' binding rule holds: a document moving the server without a token is refused.
    found = violations_of(core, document(kube(api_server="https://k8s-3.test", tls={"ca_bundle": CERT})))
    assert "entered for another endpoint or API server" in found["environments[0].token"]


def test_the_context_is_chosen_and_client_certificate_files_are_read_beside_the_kubeconfig(
    core: Harbourmaster, tmp_path: Path
) -> None:
    (tmp_path / "ca.pem").write_text(CERT)
    (tmp_path / "client.pem").write_text(CERT)
    (tmp_path / "client.key").write_text(KEY_CANARY)
    config = kubeconfig(
        cluster={"server": "https://k8s.test/", "certificate-authority": "ca.pem"},
        user={"client-certificate": str(tmp_path / "client.pem"), "client-key": "client.key"},
        current="lab",
    )
    apply(core, document(kube(kubeconfig=written(tmp_path, config), kubeconfig_context="prod")))
    connection = core.snapshot().environments["prod-k8s"].connection
    assert connection.api_server == "https://k8s.test" and not connection.token_set
    assert connection.tls.ca_bundle == CERT and connection.tls.client_certificate == CERT
    # Read as a file: reference is (one trailing newline stripped).
    assert opened(core, "prod-k8s", "client_key") == KEY_CANARY.rstrip("\n")
    assert "hm-env-key-canary" not in everything_written(core)


def test_a_kubeconfig_in_a_variable_with_a_token_file_and_inline_certificate_data(
    core: Harbourmaster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "token").write_text(TOKEN_CANARY + "\n")
    config = kubeconfig(user={"tokenFile": str(tmp_path / "token"), "client-certificate-data": b64(CERT),
                              "client-key-data": b64(KEY_CANARY)})  # fmt: skip
    monkeypatch.setenv("HM_TEST_KUBECONFIG", yaml.safe_dump(config))
    apply(core, document(kube(kubeconfig="env:HM_TEST_KUBECONFIG")))
    connection = core.snapshot().environments["prod-k8s"].connection
    assert connection.token_set and connection.tls.client_key_set
    assert opened(core, "prod-k8s", "token") == TOKEN_CANARY
    assert opened(core, "prod-k8s", "client_key") == KEY_CANARY


@pytest.mark.parametrize(
    ("config", "says"),
    [
        ("apiVersion: v1\nclusters: [\n  token: " + TOKEN_CANARY, "not YAML at line"),
        ("- a list", "not a mapping"),
        (kubeconfig(current=None), "no current-context: give kubeconfig_context"),
        (kubeconfig(current="staging"), "no context named 'staging' (it has: lab, prod)"),
        (kubeconfig(cluster={"certificate-authority-data": b64(CERT)}), "cluster 'prod-cluster' of the "
         "kubeconfig has no server"),
        (kubeconfig(server="http://k8s.test"), "server 'http://k8s.test': write https://host"),
        (kubeconfig(cluster={"server": "https://k8s.test", "insecure-skip-tls-verify": True}),
         "insecure-skip-tls-verify: the API server is always verified"),
        (kubeconfig(user={"exec": {"command": "aws", "args": ["eks", "get-token"]}}),
         "user 'deployer' of the kubeconfig gets its credential from an exec credential plugin (exec)"),
        (kubeconfig(user={"auth-provider": {"name": "gcp"}}), "from an auth-provider (auth-provider)"),
        (kubeconfig(user={"username": "admin", "password": TOKEN_CANARY}), "basic auth"),
        (kubeconfig(user={}), "has no token and no client certificate and key"),
        (kubeconfig(user={"client-certificate-data": b64(CERT)}), "but no client-key"),
        (kubeconfig(user={"token": TOKEN_CANARY, "client-key-data": "%%%"}), "client-key-data is not base64"),
        (kubeconfig(cluster={"server": "https://k8s.test", "certificate-authority": "/nonexistent/ca.pem"}),
         "/nonexistent/ca.pem"),
        (kubeconfig(user={"tokenFile": "/nonexistent/token"}), "tokenFile"),
    ],
)
def test_a_bad_kubeconfig_is_refused_at_its_field_and_nothing_is_written(
    core: Harbourmaster, tmp_path: Path, config: dict[str, Any] | str, says: str
) -> None:
    found = violations_of(core, document(kube(kubeconfig=written(tmp_path, config))))
    assert says in found["environments[0].kubeconfig"], found


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"api_server": "https://k8s.test", "token": "env:HM_TEST_API_TOKEN"}, "environments[0].kubeconfig",
         "give either kubeconfig or api_server, token, not both"),
        ({"tls": {"ca_bundle": CERT}}, "environments[0].kubeconfig", "kubeconfig or tls, not both"),
        ({"kind": "swarm", "tier": "development", "namespaces": []}, "environments[0].kubeconfig",
         "only for kubernetes"),
    ],
)
def test_a_kubeconfig_with_the_fields_it_stands_for_is_refused_naming_them(
    core: Harbourmaster, tmp_path: Path, fields: dict[str, Any], field: str, says: str
) -> None:
    found = violations_of(core, document(kube(kubeconfig=written(tmp_path, kubeconfig()), **fields)))
    assert says in found[field], found


def test_an_unreadable_kubeconfig_and_a_context_alone_are_refused(
    core: Harbourmaster, tmp_path: Path
) -> None:
    found = violations_of(core, document(kube(kubeconfig=f"file:{tmp_path / 'missing'}"),
                                         kube(name="other", kubeconfig_context="prod")))  # fmt: skip
    assert str(tmp_path / "missing") in found["environments[0].kubeconfig"]
    assert "give kubeconfig" in found["environments[1].kubeconfig_context"]
    found = violations_of(core, document(kube(kubeconfig="kubeconfig.yaml")))
    assert "env:" in found["environments[0].kubeconfig"]


def test_through_the_api_no_kubeconfig_is_read(core: Harbourmaster, tmp_path: Path) -> None:
    with pytest.raises(DocumentInvalid) as caught:
        apply_document(core, ADMIN, document(kube(kubeconfig=written(tmp_path, kubeconfig()))),
                       source="api", host=None)  # fmt: skip
    found = {v.path: v.message for v in caught.value.violations}
    assert "with 'harbourmaster apply' there" in found["environments[0].kubeconfig"]
