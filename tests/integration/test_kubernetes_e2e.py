"""Opt-in: the deployment-window Secret mode against a real cluster, when ``KUBECONFIG`` is set.

The one integration test allowed not to run everywhere (issue 13 asks for it opt-in): no API server
can run on the test machine. How it stays compatible with "under ``CI=true`` no integration test may
skip": without ``KUBECONFIG`` the module defines no ``test_`` function under CI (nothing is collected,
so nothing skips), and outside CI one test that skips, saying how to opt in.

With ``KUBECONFIG`` (its first file; bearer-token or client-certificate users, the data inline):

* always: a Deployment of a public image (``HM_E2E_PUBLIC_IMAGE``, default
  ``registry.k8s.io/pause:3.10``) is deployed in a fresh namespace with a dummy credential (for another
  host): the pods
  run, the ``hm-jit-*`` Secret is gone and the reference removed; a Secret left "by a crash" is reaped
  after its expiry only;
* with ``HM_E2E_IMAGE``, ``HM_E2E_REGISTRY_USER`` and ``HM_E2E_REGISTRY_PASSWORD`` (a private image
  and a credential allowed to pull it): it fails with ``ErrImagePull`` without the credential and
  runs with it (not defined without the three variables, so it never skips).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harbourmaster.deploy.interface import RegistryAuth
from harbourmaster.deploy.kubernetes.jit_secrets import KubernetesTarget
from harbourmaster.domain.secret import Secret
from tests.components import IN_CI

pytestmark = pytest.mark.integration

KUBECONFIG = os.environ.get("KUBECONFIG", "")
PUBLIC_IMAGE = os.environ.get("HM_E2E_PUBLIC_IMAGE", "registry.k8s.io/pause:3.10")
PRIVATE = [
    os.environ.get(v, "") for v in ("HM_E2E_IMAGE", "HM_E2E_REGISTRY_USER", "HM_E2E_REGISTRY_PASSWORD")
]


def _target() -> KubernetesTarget:
    path = Path(KUBECONFIG.split(os.pathsep)[0]).expanduser()
    return KubernetesTarget.from_kubeconfig(path.read_text(), poll_interval=1.0)


@pytest.fixture
def namespace() -> Iterator[tuple[str, Any]]:
    """A fresh namespace and a plain client to look into it (the test's own, not the code under test)."""
    from kubernetes import client, config

    api = client.CoreV1Api(config.new_client_from_config(config_file=KUBECONFIG.split(os.pathsep)[0]))
    name = f"hm-e2e-{uuid.uuid4().hex[:8]}"
    api.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    try:
        yield name, api
    finally:
        api.delete_namespace(name)


def _jit_secrets(api: Any, namespace: str) -> list[str]:
    return [
        s.metadata.name
        for s in api.list_namespaced_secret(namespace).items
        if s.metadata.name.startswith("hm-jit-")
    ]


def _deployment(image: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "e2e"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "e2e"}},
            "template": {
                "metadata": {"labels": {"app": "e2e"}},
                "spec": {"containers": [{"name": "e2e", "image": image}]},
            },
        },
    }


def _host(image: str) -> str:
    first, sep, _ = image.partition("/")
    return first if sep and ("." in first or ":" in first or first == "localhost") else "docker.io"


def _e2e_public_image_round_trip(namespace: tuple[str, Any]) -> None:
    name, api = namespace
    target = _target()
    # A credential for another host: the Secret's whole life is exercised while the kubelet pulls the
    # public image anonymously (a wrong credential for its own host could make the pull fail).
    credentials = {"hm-e2e.invalid": RegistryAuth("hm-e2e", Secret("not-a-real-password"))}
    result = target.apply(
        name, [_deployment(PUBLIC_IMAGE)], credentials, "e2e-public", window_seconds=600, timeout=180
    )
    assert result.ok, [p.describe() for p in result.failures]
    assert _jit_secrets(api, name) == []

    # As if killed after creating the Secret: reaped once expired (real time: other namespaces' live
    # Secrets are never touched), not before.
    target._create_pull_secret(name, "e2e-crash", credentials, int(time.time()) + 5)
    assert not [r for r in target.reap() if r.namespace == name]
    assert _jit_secrets(api, name) == ["hm-jit-e2e-crash"]
    time.sleep(6)
    assert [r.name for r in target.reap() if r.namespace == name] == ["hm-jit-e2e-crash"]
    assert _jit_secrets(api, name) == []


def _e2e_private_image(namespace: tuple[str, Any]) -> None:
    name, api = namespace
    image, user, password = PRIVATE
    target = _target()
    without = target.apply(name, [_deployment(image)], {}, "e2e-anon", window_seconds=600, timeout=180)
    assert {f.reason for f in without.failures} & {"ErrImagePull", "ImagePullBackOff"}
    credentials = {_host(image): RegistryAuth(user, Secret(password))}
    # A new deployment id relabels the template, so the pods are new and pull again.
    with_credential = target.apply(
        name, [_deployment(image)], credentials, "e2e-private", window_seconds=600, timeout=180
    )
    assert with_credential.ok, [p.describe() for p in with_credential.failures]
    assert _jit_secrets(api, name) == []


if KUBECONFIG:
    test_public_image_round_trip = _e2e_public_image_round_trip
    if all(PRIVATE):
        test_private_image = _e2e_private_image
elif not IN_CI:

    def test_opt_in() -> None:
        pytest.skip("opt-in: set KUBECONFIG to deploy to a real cluster (see the module docstring)")
