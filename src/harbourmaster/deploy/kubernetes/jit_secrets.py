"""Kubernetes deployments with a deployment-window pull Secret (issue 13), through the official client.

:meth:`KubernetesTarget.apply`:

1. creates the ``kubernetes.io/dockerconfigjson`` Secret ``hm-jit-<deployment-id>``, labelled
   ``harbourmaster.io/jit-expires=<unix time>`` and ``harbourmaster.io/deployment=<id>``;
2. names it in the ``imagePullSecrets`` of every workload's pod template (and labels the template with
   ``harbourmaster.io/deployment`` and ``harbourmaster.io/workload``, by which the pods are found);
3. applies the objects (server-side apply, field manager ``harbourmaster``, forced);
4. polls the pods until every container of every pod has pulled its image or failed with a reason;
5. deletes the Secret and applies the objects again without the reference — in a ``finally``, so a
   failure, a timeout or an interrupt deletes it too.

A process killed between 1 and 5 leaves the Secret until :meth:`KubernetesTarget.reap` deletes it once
its expiry has passed. The ``kubernetes`` package is imported here only. A kubeconfig is read in
memory (bearer token or client certificate); nothing is written to disk.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from kubernetes import client

from harbourmaster.deploy.interface import DeployError, RegistryAuth
from harbourmaster.deploy.kubernetes._connection import (
    ApiServerConnection,
    ExpectedStatus,
    api_client,
    call_api,
    parse_kubeconfig,
)
from harbourmaster.deploy.kubernetes._jit_objects import (
    FIELD_MANAGER,
    LABEL_DEPLOYMENT,
    LABEL_EXPIRES,
    LABEL_WORKLOAD,
    SECRET_PREFIX,
    ContainerPull,
    KubernetesDeploymentResult,
    NamespaceGone,
    ReapedSecret,
    RolloutTimeout,
    Workload,
    check_deployment_id,
    container_pulls,
    pull_secret,
    secret_name,
    with_pull_secret,
    workloads,
)
from harbourmaster.domain.secret import Secret
from harbourmaster.errors import Error

__all__ = [
    "FIELD_MANAGER",
    "LABEL_DEPLOYMENT",
    "LABEL_EXPIRES",
    "ApiServerConnection",
    "ContainerPull",
    "KubernetesDeploymentResult",
    "KubernetesTarget",
    "NamespaceGone",
    "ReapedSecret",
    "RolloutTimeout",
]

_APIS: Final[dict[str, Callable[[client.ApiClient], Any]]] = {
    "v1": client.CoreV1Api,
    "apps/v1": client.AppsV1Api,
    "batch/v1": client.BatchV1Api,
}
_APPLY: Final = "application/apply-patch+yaml"


class KubernetesTarget:
    """An API server reached with a bearer token or a client certificate; see the module docstring."""

    def __init__(
        self, connection: ApiServerConnection, *, request_timeout: float = 10.0, poll_interval: float = 0.5
    ) -> None:
        """Raises: DeployError: the CA, client certificate or key cannot be read."""
        self._server = connection.api_server
        self._client = api_client(connection)
        self._timeout = request_timeout
        self._poll = poll_interval

    def close(self) -> None:
        """Close the client's connections."""
        self._client.close()  # type: ignore[no-untyped-call]

    @classmethod
    def connect(
        cls,
        api_server: str,
        *,
        token: Secret | None,
        ca_pem: str | None = None,
        client_cert_pem: str | None = None,
        client_key_pem: Secret | None = None,
        insecure_skip_tls_verify: bool = False,
        tls_server_name: str | None = None,
        request_timeout: float = 10.0,
        poll_interval: float = 0.5,
    ) -> KubernetesTarget:
        """A target for ``api_server`` (``https://host:6443``): its CA, and a bearer token or a client
        certificate, as PEM text in memory (the key is loaded through an anonymous in-memory file).

        Raises:
            DeployError: the CA, certificate or key cannot be read.
        """
        connection = ApiServerConnection(
            api_server=api_server.rstrip("/"),
            token=token,
            ca_pem=ca_pem,
            client_cert_pem=client_cert_pem,
            client_key_pem=client_key_pem,
            insecure_skip_tls_verify=insecure_skip_tls_verify,
            tls_server_name=tls_server_name,
        )
        return cls(connection, request_timeout=request_timeout, poll_interval=poll_interval)

    @classmethod
    def from_kubeconfig(
        cls,
        text: str,
        *,
        context: str | None = None,
        request_timeout: float = 10.0,
        poll_interval: float = 0.5,
    ) -> KubernetesTarget:
        """A target from kubeconfig text (its current context, or ``context``), read in memory.

        Raises:
            DeployError: not a kubeconfig; the context, cluster or user is missing; the user has neither
                a token nor inline client certificate data (exec plugins and files are not supported).
        """
        return cls(
            parse_kubeconfig(text, context), request_timeout=request_timeout, poll_interval=poll_interval
        )

    # -- the deployment ----------------------------------------------------------------------------------

    def apply(
        self,
        namespace: str,
        objects: Sequence[Mapping[str, Any]],
        credentials: Mapping[str, RegistryAuth],
        deployment_id: str,
        *,
        window_seconds: int,
        timeout: float,
    ) -> KubernetesDeploymentResult:
        """Deploy ``objects`` into ``namespace`` with ``credentials`` (registry host -> credential) in a
        Secret that lives for the rollout only, at most ``window_seconds``.

        Raises:
            BadInput: the deployment id cannot name a Secret.
            EngineUnreachable: the API server cannot be reached.
            NamespaceGone: the namespace does not exist or was deleted during the deployment.
            RolloutTimeout: some pod neither pulled nor failed within ``timeout`` seconds.
            DeployError: the API server refused an object (kind, name and reason given).
        """
        check_deployment_id(deployment_id)
        planned = workloads(namespace, list(objects), deployment_id)
        for workload in planned:
            self._api_for(workload)
        self._check_namespace(namespace)
        # Named before it is created: a create whose answer is lost may still have made it.
        name = secret_name(deployment_id) if credentials else None
        try:
            if credentials:
                self._create_pull_secret(
                    namespace, deployment_id, credentials, int(time.time()) + window_seconds
                )
            for workload in planned:
                self._apply_object(namespace, workload, with_pull_secret(workload.document, name))
            pulls = self._wait_for_pulls(namespace, deployment_id, planned, timeout)
        except BaseException as exc:
            if name is not None:
                try:
                    self._clean_up(namespace, name, planned)
                except DeployError as cleanup:
                    # The first failure is the one reported; the cleanup's is added to it.
                    if isinstance(exc, Error):
                        exc.details.extend([cleanup.message, *cleanup.details])
                    else:
                        exc.add_note(cleanup.diagnostics())
            raise
        if name is not None:
            self._clean_up(namespace, name, planned)
        return KubernetesDeploymentResult(
            namespace=namespace,
            deployment_id=deployment_id,
            secret=name,
            applied=tuple(w.describe() for w in planned),
            pulls=pulls,
            references_kept=tuple(
                w.describe() for w in planned if name and w.has_pod_template and not w.reference_removable
            ),
        )

    def reap(self, now: float | None = None) -> tuple[ReapedSecret, ...]:
        """Delete every ``hm-jit-*`` Secret, in any namespace, whose expiry label is past ``now``
        (Unix time; default the current time). Returns what was deleted.

        Raises:
            EngineUnreachable: the API server cannot be reached.
            DeployError: the API server refused the list or a delete.
        """
        moment = time.time() if now is None else now
        core = client.CoreV1Api(self._client)
        listing = self._call(
            "list the just-in-time Secrets",
            lambda: core.list_secret_for_all_namespaces(
                label_selector=LABEL_EXPIRES, _preload_content=False, _request_timeout=self._timeout
            ),
        )
        reaped = []
        for item in listing.get("items") or []:
            metadata = item.get("metadata") or {}
            name, namespace = str(metadata.get("name", "")), str(metadata.get("namespace", ""))
            try:
                expires = int((metadata.get("labels") or {}).get(LABEL_EXPIRES, ""))
            except ValueError:
                continue
            if name.startswith(SECRET_PREFIX) and expires <= moment:
                self._delete_secret(namespace, name)
                reaped.append(ReapedSecret(namespace, name, expires))
        return tuple(reaped)

    def delete(self, namespace: str, objects: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
        """Delete ``objects`` (as given to :meth:`apply`) from ``namespace``, in reverse order; ``Kind/name``
        of those that were there. A missing object, or a missing namespace, is already gone.

        Raises:
            EngineUnreachable: the API server cannot be reached.
            DeployError: the API server refused a delete, or an object's kind cannot be deployed.
        """
        planned = workloads(namespace, list(objects), "delete")
        calls = [(w, *self._api_for(w)) for w in planned]
        deleted: list[str] = []
        for workload, api, patch in reversed(calls):
            method = patch.replace("patch_", "delete_", 1)
            try:
                self._call(
                    f"delete {workload.describe()} in namespace {namespace}",
                    lambda api=api, method=method, workload=workload: getattr(api, method)(  # type: ignore[misc]
                        workload.name,
                        namespace,
                        propagation_policy="Foreground",
                        _preload_content=False,
                        _request_timeout=self._timeout,
                    ),
                    namespace=namespace,
                    expected=404,
                )
            except (ExpectedStatus, NamespaceGone):
                continue
            deleted.append(workload.describe())
        return tuple(reversed(deleted))

    # -- steps -----------------------------------------------------------------------------------------------

    def _create_pull_secret(
        self, namespace: str, deployment_id: str, credentials: Mapping[str, RegistryAuth], expires_at: int
    ) -> str:
        body = pull_secret(
            namespace=namespace, deployment_id=deployment_id, credentials=credentials, expires_at=expires_at
        )
        name = secret_name(deployment_id)
        core = client.CoreV1Api(self._client)
        try:
            self._call(
                f"create Secret {namespace}/{name}",
                lambda: core.create_namespaced_secret(
                    namespace,
                    body,  # type: ignore[arg-type]  # sent as it is, like the apply bodies
                    field_manager=FIELD_MANAGER,
                    _preload_content=False,
                    _request_timeout=self._timeout,
                ),
                namespace=namespace,
                expected=409,
            )
        except ExpectedStatus:
            # Left by an earlier attempt of this deployment that did not finish: replaced, with the
            # new credential and expiry.
            self._call(
                f"replace Secret {namespace}/{name}",
                lambda: core.replace_namespaced_secret(
                    name,
                    namespace,
                    body,  # type: ignore[arg-type]
                    field_manager=FIELD_MANAGER,
                    _preload_content=False,
                    _request_timeout=self._timeout,
                ),
                namespace=namespace,
            )
        return secret_name(deployment_id)

    def _apply_object(self, namespace: str, workload: Workload, document: dict[str, Any]) -> None:
        api, method = self._api_for(workload)
        self._call(
            f"apply {workload.describe()} in namespace {namespace}",
            lambda: getattr(api, method)(
                workload.name,
                namespace,
                document,
                field_manager=FIELD_MANAGER,
                force=True,
                _content_type=_APPLY,
                _preload_content=False,
                _request_timeout=self._timeout,
            ),
            namespace=namespace,
        )

    def _wait_for_pulls(
        self, namespace: str, deployment_id: str, planned: list[Workload], timeout: float
    ) -> tuple[ContainerPull, ...]:
        core = client.CoreV1Api(self._client)
        deadline = time.monotonic() + timeout
        pending: list[str] = []
        while True:
            self._check_namespace(namespace)
            pulls: list[ContainerPull] = []
            pending = []
            for workload in planned:
                if not workload.expected_pods:
                    continue
                selector = f"{LABEL_DEPLOYMENT}={deployment_id},{LABEL_WORKLOAD}={workload.label}"
                pods = self._call(
                    f"list the pods of {workload.describe()} in namespace {namespace}",
                    lambda selector=selector: core.list_namespaced_pod(  # type: ignore[misc]
                        namespace,
                        label_selector=selector,
                        _preload_content=False,
                        _request_timeout=self._timeout,
                    ),
                    namespace=namespace,
                )
                items = [
                    p
                    for p in pods.get("items") or []
                    if not (p.get("metadata") or {}).get("deletionTimestamp")
                ]
                done = 0
                for pod in items:
                    outcome = container_pulls(workload.describe(), pod)
                    if outcome is None:
                        pending.append(str(pod["metadata"]["name"]))
                    else:
                        pulls.extend(outcome)
                        done += 1
                if done < workload.expected_pods:
                    pending.append(f"{workload.describe()} ({done} of {workload.expected_pods} pods)")
            if not pending:
                return tuple(pulls)
            if time.monotonic() >= deadline:
                raise RolloutTimeout(
                    f"the rollout in namespace {namespace} did not finish pulling within {timeout:g}s",
                    details=[f"waiting for {p}" for p in pending],
                )
            time.sleep(self._poll)

    def _clean_up(self, namespace: str, name: str, planned: list[Workload]) -> None:
        # The Secret goes first: the credential must not outlive the window even if the
        # references cannot be removed (the namespace is gone, the server went away).
        errors: list[DeployError] = []
        try:
            self._delete_secret(namespace, name)
        except DeployError as exc:
            errors.append(exc)
        for workload in planned:
            if workload.reference_removable:
                try:
                    self._apply_object(namespace, workload, with_pull_secret(workload.document, None))
                except NamespaceGone:
                    break
                except DeployError as exc:
                    errors.append(exc)
        if errors:
            raise DeployError(
                f"cleaning up the deployment-window Secret {namespace}/{name} failed",
                details=[e.message for e in errors],
            )

    def _delete_secret(self, namespace: str, name: str) -> None:
        core = client.CoreV1Api(self._client)
        with contextlib.suppress(ExpectedStatus):
            self._call(
                f"delete Secret {namespace}/{name}",
                lambda: core.delete_namespaced_secret(
                    name, namespace, _preload_content=False, _request_timeout=self._timeout
                ),
                expected=404,
            )

    def _check_namespace(self, namespace: str) -> None:
        core = client.CoreV1Api(self._client)
        found = self._call(
            f"read namespace {namespace}",
            lambda: core.read_namespace(namespace, _preload_content=False, _request_timeout=self._timeout),
            namespace=namespace,
        )
        if (found.get("status") or {}).get("phase") == "Terminating":
            raise NamespaceGone(f"namespace {namespace} is being deleted on {self._server}")

    def _api_for(self, workload: Workload) -> tuple[Any, str]:
        factory = _APIS.get(workload.api_version)
        snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in workload.kind).lstrip("_")
        method = f"patch_namespaced_{snake}"
        if factory is None or not hasattr(factory, method):
            raise DeployError(
                f"{workload.api_version} {workload.kind} ({workload.name}) cannot be deployed yet"
            )
        return factory(self._client), method

    def _call(
        self, what: str, call: Callable[[], Any], *, namespace: str | None = None, expected: int | None = None
    ) -> dict[str, Any]:
        return call_api(self._server, what, call, namespace=namespace, expected=expected)
