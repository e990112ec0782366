"""The kubelet credential provider exec protocol, driven as the kubelet drives it: a process is
started, the ``CredentialProviderRequest`` is written on its stdin, and its stdout is read as the
``CredentialProviderResponse`` — or, on a non-zero exit, ignored (the pull goes without credentials).

Field names are the upstream Go types' JSON names (``k8s.io/kubelet/pkg/apis/credentialprovider/v1``
``types.go``, Kubernetes v1.34): request ``apiVersion``, ``kind``, ``image``, ``serviceAccountToken``,
``serviceAccountAnnotations``; response ``apiVersion``, ``kind``, ``cacheKeyType``, ``cacheDuration``,
``auth`` (map of ``AuthConfig``: ``username``, ``password``).
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harbourmaster.deploy.kubernetes import credential_provider
from harbourmaster.deploy.kubernetes.credential_provider import (
    API_VERSION,
    CacheKeyType,
    CredentialProviderRequest,
    CredentialProviderResponse,
    ProtocolError,
    RegistryAuth,
    auth_key,
    cache_seconds,
    run,
)
from harbourmaster.errors import BadInput, Unauthenticated

RESPONSE_FIELDS = {"apiVersion", "kind", "cacheKeyType", "cacheDuration", "auth"}
AUTH_CONFIG_FIELDS = {"username", "password"}
TOKEN = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6cGF5bWVudHM6YXBpIn0.c2ln"

PLUGIN = textwrap.dedent(
    f"""
    import sys
    from harbourmaster.deploy.kubernetes.credential_provider import run
    from harbourmaster.errors import Unauthenticated

    def fetch(image, token):
        if token != {TOKEN!r}:
            raise Unauthenticated("the credential server refused the pod's service-account token")
        if image.endswith("/broken"):
            raise RuntimeError("connection reset " + token)
        return "robot$payments+pull", "s3cret-password", 300

    sys.exit(run(sys.stdin.buffer, sys.stdout.buffer, fetch))
    """
)


def request(**overrides: Any) -> dict[str, Any]:
    document = {
        "apiVersion": API_VERSION,
        "kind": "CredentialProviderRequest",
        "image": "harbor.corp/payments/api:1.4",
        "serviceAccountToken": TOKEN,
        "serviceAccountAnnotations": {"harbourmaster.io/environment": "prod-eu"},
    }
    document.update(overrides)
    return {k: v for k, v in document.items() if v is not None}


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("plugin") / "harbourmaster-credential-provider.py"
    path.write_text(PLUGIN)
    return path


def exec_plugin(plugin: Path, stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    # As the kubelet execs it: arguments from the config, the request on stdin, a timeout.
    return subprocess.run(
        [sys.executable, str(plugin), "credential-provider"], input=stdin, capture_output=True, timeout=30
    )


# --- through a process --------------------------------------------------------------------------


def test_kubelet_round_trip(plugin: Path) -> None:
    started = time.perf_counter()
    done = exec_plugin(plugin, json.dumps(request()).encode())
    elapsed = time.perf_counter() - started
    assert done.returncode == 0, done.stderr
    assert done.stderr == b""
    response = json.loads(done.stdout)
    assert set(response) <= RESPONSE_FIELDS
    assert response == {
        "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
        "kind": "CredentialProviderResponse",
        "cacheKeyType": "Image",
        "cacheDuration": "4m0s",
        "auth": {
            "harbor.corp/payments/api": {"username": "robot$payments+pull", "password": "s3cret-password"}
        },
    }
    for auth in response["auth"].values():
        assert set(auth) == AUTH_CONFIG_FIELDS
    # A loose bound (CI machines vary); the budget is p99 <= 100 ms on a node.
    assert elapsed < 2.0


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        (
            json.dumps(request(apiVersion="credentialprovider.kubelet.k8s.io/v1beta1")).encode(),
            "apiVersion 'credentialprovider.kubelet.k8s.io/v1beta1' is not supported",
        ),
        (
            json.dumps(request(kind="ExecCredential")).encode(),
            "kind 'ExecCredential' is not CredentialProviderRequest",
        ),
        (json.dumps(request(image="")).encode(), "the request has no image"),
        (
            json.dumps({k: v for k, v in request().items() if k != "image"}).encode(),
            "the request has no image",
        ),
        (b"not json", "the request on stdin is not JSON"),
        (b"", "the request on stdin is not JSON"),
        (
            json.dumps(request(serviceAccountToken="wrong")).encode(),
            "refused the pod's service-account token",
        ),
        (json.dumps(request(image="harbor.corp/payments/broken")).encode(), "unexpected RuntimeError"),
    ],
)
def test_failures_exit_non_zero_with_one_line_and_no_output(plugin: Path, stdin: bytes, message: str) -> None:
    done = exec_plugin(plugin, stdin)
    assert done.returncode == 1
    assert done.stdout == b""
    err = done.stderr.decode()
    assert err.count("\n") == 1 and err.endswith("\n")
    assert err.startswith("harbourmaster credential-provider: ")
    assert message in err
    assert TOKEN not in err


def test_import_is_stdlib_only() -> None:
    probe = (
        "import sys, json, harbourmaster.deploy.kubernetes.credential_provider; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    loaded = set(
        json.loads(subprocess.run([sys.executable, "-c", probe], capture_output=True, check=True).stdout)
    )
    heavy = {
        "pydantic",
        "httpx",
        "httpcore",
        "yaml",
        "jwt",
        "cryptography",
        "typer",
        "rich",
        "sqlalchemy",
        "fastapi",
        "starlette",
        "anyio",
        "sigstore",
    }
    assert loaded & heavy == set()


# --- in process ------------------------------------------------------------------------------------


def test_request_is_parsed() -> None:
    parsed = CredentialProviderRequest.parse(json.dumps(request()).encode())
    assert parsed.image == "harbor.corp/payments/api:1.4"
    assert parsed.service_account_token == TOKEN
    assert parsed.service_account_annotations == {"harbourmaster.io/environment": "prod-eu"}
    assert TOKEN not in repr(parsed)


def test_request_without_token_or_annotations() -> None:
    parsed = CredentialProviderRequest.parse(
        json.dumps(request(serviceAccountToken=None, serviceAccountAnnotations=None)).encode()
    )
    assert parsed.service_account_token is None
    assert parsed.service_account_annotations == {}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "not a JSON object"),
        (request(serviceAccountToken=7), "serviceAccountToken is not a string"),
        (request(serviceAccountAnnotations={"a": 1}), "serviceAccountAnnotations is not a map of strings"),
        (request(serviceAccountAnnotations=["a"]), "serviceAccountAnnotations is not a map of strings"),
        (request(image=["x"]), "no image"),
        ({"kind": "CredentialProviderRequest", "image": "x"}, "apiVersion None is not supported"),
    ],
)
def test_bad_requests_are_protocol_errors(document: Any, message: str) -> None:
    with pytest.raises(ProtocolError, match=message) as info:
        CredentialProviderRequest.parse(json.dumps(document).encode())
    assert isinstance(info.value, BadInput)


def test_oversized_request_is_refused() -> None:
    with pytest.raises(ProtocolError, match="larger than"):
        CredentialProviderRequest.parse(b" " * (1024 * 1024 + 1))


@pytest.mark.parametrize(
    ("image", "image_key", "registry_key"),
    [
        ("harbor.corp/payments/api:1.4", "harbor.corp/payments/api", "harbor.corp"),
        (
            "harbor.corp:8443/payments/api@sha256:" + "a" * 64,
            "harbor.corp:8443/payments/api",
            "harbor.corp:8443",
        ),
        ("harbor.corp/payments/api", "harbor.corp/payments/api", "harbor.corp"),
        ("localhost:5000/api:dev", "localhost:5000/api", "localhost:5000"),
        ("localhost/api", "localhost/api", "localhost"),
        ("nginx", "docker.io/library/nginx", "docker.io"),
        ("nginx:1.27", "docker.io/library/nginx", "docker.io"),
        ("bitnami/redis:7", "docker.io/bitnami/redis", "docker.io"),
    ],
)
def test_auth_key(image: str, image_key: str, registry_key: str) -> None:
    assert auth_key(image, CacheKeyType.IMAGE) == image_key
    assert auth_key(image, CacheKeyType.REGISTRY) == registry_key
    assert auth_key(image, CacheKeyType.GLOBAL) == registry_key


@pytest.mark.parametrize(("ttl", "cached"), [(0, 0), (-5, 0), (10, 8), (300, 240), (3600, 3540), (900, 840)])
def test_cache_seconds_keep_back_part_of_the_credential_life(ttl: int, cached: int) -> None:
    assert cache_seconds(ttl) == cached


def test_response_document() -> None:
    response = CredentialProviderResponse(
        cache_key_type=CacheKeyType.REGISTRY, auth={"harbor.corp": RegistryAuth("u", "")}, cache_seconds=3600
    )
    assert json.loads(response.to_json()) == {
        "apiVersion": API_VERSION,
        "kind": "CredentialProviderResponse",
        "cacheKeyType": "Registry",
        "cacheDuration": "1h0m0s",
        "auth": {"harbor.corp": {"username": "u", "password": ""}},
    }
    assert "cacheDuration" not in CredentialProviderResponse(CacheKeyType.GLOBAL, {}).to_document()
    assert "password" not in repr(RegistryAuth("u", "p").__repr__().replace("username", ""))


def test_run_in_process_with_registry_cache_key() -> None:
    stdout, stderr = io.BytesIO(), io.StringIO()
    code = run(
        io.BytesIO(json.dumps(request()).encode()),
        stdout,
        lambda image, token: ("u", "p", 0),
        stderr=stderr,
        cache_key_type=CacheKeyType.REGISTRY,
    )
    assert code == 0 and stderr.getvalue() == ""
    answer = json.loads(stdout.getvalue())
    assert answer["cacheKeyType"] == "Registry"
    assert answer["cacheDuration"] == "0s"  # a credential that must not be cached
    assert answer["auth"] == {"harbor.corp": {"username": "u", "password": "p"}}


@pytest.mark.parametrize(
    "answer", [("u", None, 60), (None, "p", 60), ("u", "p", -1), ("u", "p", "60"), ("u", "p", True)]
)
def test_malformed_fetch_answers_fail_cleanly(answer: Any) -> None:
    stdout, stderr = io.BytesIO(), io.StringIO()
    assert run(io.BytesIO(json.dumps(request()).encode()), stdout, lambda i, t: answer, stderr=stderr) == 1
    assert stdout.getvalue() == b""
    assert stderr.getvalue().count("\n") == 1


def test_fetch_error_message_is_one_line() -> None:
    def fetch(image: str, token: str | None) -> tuple[str, str, int]:
        raise Unauthenticated("refused:\nthe token\nexpired")

    stdout, stderr = io.BytesIO(), io.StringIO()
    assert run(io.BytesIO(json.dumps(request()).encode()), stdout, fetch, stderr=stderr) == 1
    assert stderr.getvalue() == "harbourmaster credential-provider: refused: the token expired\n"


def test_exported_members() -> None:
    assert set(credential_provider.__all__) == {
        "API_VERSION",
        "CacheKeyType",
        "CredentialProviderRequest",
        "CredentialProviderResponse",
        "Fetch",
        "ProtocolError",
        "RegistryAuth",
        "auth_key",
        "cache_seconds",
        "run",
    }
    assert all(hasattr(credential_provider, name) for name in credential_provider.__all__)


@given(st.binary(max_size=256) | st.text(max_size=256).map(str.encode))
@settings(max_examples=300)
def test_any_stdin_parses_or_is_a_protocol_error(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        CredentialProviderRequest.parse(data)


@given(
    st.dictionaries(
        st.sampled_from(["apiVersion", "kind", "image", "serviceAccountToken", "serviceAccountAnnotations"]),
        st.none()
        | st.integers()
        | st.text(max_size=20)
        | st.lists(st.text(max_size=5), max_size=2)
        | st.dictionaries(st.text(max_size=5), st.text(max_size=5) | st.integers(), max_size=2),
    )
)
def test_any_request_object_parses_or_is_a_protocol_error(document: dict[str, Any]) -> None:
    with contextlib.suppress(ProtocolError):
        CredentialProviderRequest.parse(json.dumps(document).encode())
