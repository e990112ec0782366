"""The kubelet ``CredentialProviderConfig`` written for an environment has exactly the upstream shape.

The field sets below are the JSON names of the Go types in ``k8s.io/kubelet/config/v1/types.go``
(kubernetes/kubernetes ``staging/src/k8s.io/kubelet/config/v1/types.go``, v1.34, where KEP-4412's
``tokenAttributes.cacheType`` was added and made required: kubernetes/kubernetes#132617), documented
at https://kubernetes.io/docs/reference/config-api/kubelet-config.v1/ .
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from harbourmaster.domain.exports import credential_provider_config as module
from harbourmaster.domain.exports.credential_provider_config import (
    CredentialProviderSettings,
    credential_provider_config,
    go_duration,
    validate_match_image,
)
from harbourmaster.errors import BadInput

# CredentialProviderConfig: metav1.TypeMeta (apiVersion, kind) + providers.
CONFIG_FIELDS = {"apiVersion", "kind", "providers"}
# CredentialProvider.
PROVIDER_FIELDS = {
    "name",
    "matchImages",
    "defaultCacheDuration",
    "apiVersion",
    "args",
    "env",
    "tokenAttributes",
}
PROVIDER_REQUIRED = {"name", "matchImages", "defaultCacheDuration", "apiVersion"}
# ServiceAccountTokenAttributes (+required: serviceAccountTokenAudience, cacheType, requireServiceAccount).
TOKEN_ATTRIBUTE_FIELDS = {
    "serviceAccountTokenAudience",
    "cacheType",
    "requireServiceAccount",
    "requiredServiceAccountAnnotationKeys",
    "optionalServiceAccountAnnotationKeys",
}
TOKEN_ATTRIBUTES_REQUIRED = {"serviceAccountTokenAudience", "cacheType", "requireServiceAccount"}
CACHE_TYPES = {"Token", "ServiceAccount"}  # ServiceAccountTokenCacheType
EXEC_ENV_VAR_FIELDS = {"name", "value"}  # ExecEnvVar
# metav1.Duration is written by Go's time.Duration.String().
GO_DURATION = re.compile(r"^(0s|(\d+h)?(\d+m)?\d+s)$")

SETTINGS = CredentialProviderSettings(
    server_url="https://harbourmaster.corp:8400/",
    ca_file="/etc/kubernetes/harbourmaster/ca.crt",
    node_token_file="/etc/kubernetes/harbourmaster/node.token",
)


def config(**overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "environment": "prod-eu",
        "match_images": ["harbor.corp", "*.registry.corp:5000", "harbor.corp/payments"],
        "settings": SETTINGS,
    }
    arguments.update(overrides)
    return credential_provider_config(**arguments)


def test_document_has_the_upstream_shape() -> None:
    # Through YAML and back, as the file on the node is read.
    document = yaml.safe_load(yaml.safe_dump(config(), sort_keys=False))
    assert set(document) == CONFIG_FIELDS
    assert document["apiVersion"] == "kubelet.config.k8s.io/v1"
    assert document["kind"] == "CredentialProviderConfig"
    [provider] = document["providers"]
    assert PROVIDER_REQUIRED <= set(provider) <= PROVIDER_FIELDS
    assert provider["name"] == "harbourmaster"
    assert provider["apiVersion"] == "credentialprovider.kubelet.k8s.io/v1"
    assert GO_DURATION.match(provider["defaultCacheDuration"])
    assert all(isinstance(arg, str) for arg in provider["args"])
    for variable in provider["env"]:
        assert set(variable) == EXEC_ENV_VAR_FIELDS
        assert all(isinstance(value, str) for value in variable.values())
    attributes = provider["tokenAttributes"]
    assert TOKEN_ATTRIBUTES_REQUIRED <= set(attributes) <= TOKEN_ATTRIBUTE_FIELDS
    assert attributes["cacheType"] in CACHE_TYPES
    assert isinstance(attributes["requireServiceAccount"], bool)


def test_document_for_an_environment() -> None:
    assert config() == {
        "apiVersion": "kubelet.config.k8s.io/v1",
        "kind": "CredentialProviderConfig",
        "providers": [
            {
                "name": "harbourmaster",
                "matchImages": ["harbor.corp", "*.registry.corp:5000", "harbor.corp/payments"],
                "defaultCacheDuration": "5m0s",
                "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
                "args": ["credential-provider"],
                "env": [
                    {"name": module.ENV_SERVER_URL, "value": "https://harbourmaster.corp:8400"},
                    {"name": module.ENV_CA_FILE, "value": "/etc/kubernetes/harbourmaster/ca.crt"},
                    {"name": module.ENV_TOKEN_FILE, "value": "/etc/kubernetes/harbourmaster/node.token"},
                    {"name": module.ENV_ENVIRONMENT, "value": "prod-eu"},
                ],
                "tokenAttributes": {
                    "serviceAccountTokenAudience": "harbourmaster",
                    "requireServiceAccount": True,
                    "cacheType": "ServiceAccount",
                },
            }
        ],
    }


def test_duplicate_patterns_are_written_once_in_order() -> None:
    provider = config(match_images=["B.corp", "a.corp", "b.corp"])["providers"][0]
    assert provider["matchImages"] == ["b.corp", "a.corp"]


@pytest.mark.parametrize(
    "pattern",
    [
        "123456789.dkr.ecr.us-east-1.amazonaws.com",
        "*.azurecr.io",
        "gcr.io",
        "*.*.registry.io",
        "registry.io:8080/path",
        "k8s.*",
        "app*.k8s.io",
        "localhost:5000",
        "harbor.corp/payments/team-a",
    ],
)
def test_upstream_example_patterns_are_accepted(pattern: str) -> None:
    # The examples of the CredentialProvider.matchImages doc comment, and harbourmaster's own.
    assert validate_match_image(pattern) == pattern


@pytest.mark.parametrize(
    "pattern",
    [
        "",
        "https://harbor.corp",
        "harbor.corp:*",
        "harbor.corp:0",
        "harbor.corp:70000",
        "harbor.corp/pay*",
        "harbor.corp/payments:1.4",
        "harbor.corp/payments@sha256:" + "a" * 64,
        "harbor..corp",
        "-harbor.corp",
        "harbor_corp.io",
        "harbor.corp//x",
    ],
)
def test_malformed_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(BadInput, match="matchImages entry"):
        validate_match_image(pattern)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"match_images": []}, "no registry to match"),
        ({"environment": ""}, "name is empty"),
        ({"settings": CredentialProviderSettings("http://hm.corp", "/ca", "/t")}, "https only"),
        ({"settings": CredentialProviderSettings("https://", "/ca", "/t")}, "https only"),
        ({"settings": CredentialProviderSettings("https://hm.corp", "ca.crt", "/t")}, "CA file 'ca.crt'"),
        ({"settings": CredentialProviderSettings("https://hm.corp", "/ca", "t")}, "node token file 't'"),
        ({"default_cache_seconds": -1}, "outside 0s-24h"),
        ({"default_cache_seconds": 86_401}, "outside 0s-24h"),
    ],
)
def test_bad_settings_are_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(BadInput, match=message):
        config(**overrides)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (1, "1s"),
        (59, "59s"),
        (60, "1m0s"),
        (300, "5m0s"),
        (3600, "1h0m0s"),
        (3661, "1h1m1s"),
        (86_400, "24h0m0s"),
    ],
)
def test_go_duration_matches_go(seconds: int, text: str) -> None:
    # The values Go's time.Duration(seconds * time.Second).String() prints.
    assert go_duration(seconds) == text


def test_go_duration_refuses_negative() -> None:
    with pytest.raises(ValueError, match="negative"):
        go_duration(-1)
