"""A STAND-IN for the Kubernetes API server — not a Kubernetes API server.

No API server can run on the test machine, so the Kubernetes adapter
(:mod:`harbourmaster.deploy.kubernetes.jit_secrets`) is tested through the official ``kubernetes``
client against this local HTTP server on 127.0.0.1, which answers the API paths the adapter uses
the way the API server answers them (paths, ``Status`` error bodies, status codes):

* ``/api/v1/namespaces[/NS]`` (GET, POST, DELETE: a deleted namespace is *Terminating* for a moment —
  creates in it are 403 "being terminated" — then gone: creates are 404 ``namespaces "NS" not found``);
* ``/api/v1/namespaces/NS/{secrets,serviceaccounts,pods,configmaps,services}[/NAME]``,
  ``/api/v1/{secrets,pods}`` across namespaces;
* ``/apis/apps/v1/...`` Deployments, StatefulSets, DaemonSets, ReplicaSets and ``/apis/batch/v1/...``
  Jobs, CronJobs;
* GET (one, or a list with ``labelSelector``), POST, PUT, DELETE, and PATCH as server-side apply
  (``application/apply-patch+yaml``, ``fieldManager`` required, the manager's omitted fields removed),
  JSON merge patch, strategic merge patch (as a merge patch) and JSON patch.

Objects get ``uid``, ``resourceVersion``, ``creationTimestamp``. No watch: clients poll.

A **simulated controller and kubelet**: a Deployment, StatefulSet, ReplicaSet, DaemonSet, Job or Pod
gets pods (new ones whenever its pod template changes). A moment after a pod is created its containers
"pull": an image whose registry host has a canary credential configured is pulled only when the pod's
``imagePullSecrets`` name a ``kubernetes.io/dockerconfigjson`` Secret, existing at pull time, whose
``auths`` entry for the host carries exactly that credential; otherwise the container waits with
``ErrImagePull`` and the kubelet's message. Images from hosts without a canary are public. Like a
node's image cache, an image once pulled is reused without credentials unless ``imagePullPolicy`` is
``Always`` (the default for ``:latest`` and untagged images).

Every request is recorded (method, path, query, content type, body) in :attr:`KubeStandIn.requests`.
:attr:`KubeStandIn.before_request` lets a test inject a fault (delete a namespace mid-deploy).
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import itertools
import json
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

CORE_PLURALS = {
    "secrets": "Secret",
    "serviceaccounts": "ServiceAccount",
    "pods": "Pod",
    "configmaps": "ConfigMap",
    "services": "Service",
}
GROUP_PLURALS = {
    "apps/v1": {
        "deployments": "Deployment",
        "statefulsets": "StatefulSet",
        "daemonsets": "DaemonSet",
        "replicasets": "ReplicaSet",
    },
    "batch/v1": {"jobs": "Job", "cronjobs": "CronJob"},
}
# Kinds whose pods the simulated controller creates, and where their pod template is.
_POD_OWNERS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
PULL_FAILURE = (
    'Failed to pull image "{image}": failed to pull and unpack image "{image}": failed to resolve '
    'reference "{image}": pull access denied, repository does not exist or may require authorization: '
    "authorization failed: no basic auth credentials"
)


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    query: Mapping[str, str]
    content_type: str
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class ApiStatus(Exception):
    """An error the stand-in answers as a ``Status`` object."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message

    def body(self) -> dict[str, Any]:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def image_host(image: str) -> str:
    first, sep, _ = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def _pull_policy(container: Mapping[str, Any]) -> str:
    if container.get("imagePullPolicy"):
        return str(container["imagePullPolicy"])
    image = str(container.get("image", "")).partition("@")
    if image[1]:
        return "IfNotPresent"
    name = image[0]
    tag = name.rpartition(":")[2] if name.rfind(":") > name.rfind("/") else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def _matches(labels: Mapping[str, str], selector: str) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def _merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result


def _json_patch(document: Any, operations: list[dict[str, Any]]) -> Any:
    document = copy.deepcopy(document)
    for op in operations:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].lstrip("/").split("/")]
        parent = document
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        last = parts[-1]
        kind = op["op"]
        if kind == "test":
            current = parent[int(last)] if isinstance(parent, list) else parent[last]
            if current != op["value"]:
                raise ApiStatus(422, "Invalid", f"the test operation failed at {op['path']}")
        elif kind == "remove":
            del parent[int(last) if isinstance(parent, list) else last]
        elif kind in ("add", "replace"):
            if isinstance(parent, list):
                index = len(parent) if last == "-" else int(last)
                if kind == "add":
                    parent.insert(index, op["value"])
                else:
                    parent[index] = op["value"]
            else:
                parent[last] = op["value"]
        else:
            raise ApiStatus(422, "Invalid", f"JSON patch operation {kind!r} is not supported by the stand-in")
    return document


class KubeStandIn:
    """The stand-in server's state and HTTP front; see the module docstring."""

    def __init__(
        self,
        *,
        canary: Mapping[str, tuple[str, str]] | None = None,
        namespaces: tuple[str, ...] = ("default",),
        pull_seconds: float = 0.15,
        terminating_seconds: float = 0.3,
        token: str | None = None,
    ) -> None:
        self.token = token
        self.canary = dict(canary or {})
        self.pull_seconds = pull_seconds
        self.terminating_seconds = terminating_seconds
        self.requests: list[RecordedRequest] = []
        self.before_request: Callable[[str, str, Mapping[str, str]], None] | None = None
        self._lock = threading.RLock()
        self._rv = itertools.count(1)
        self._namespaces: dict[str, dict[str, Any]] = {}
        self._terminating: dict[str, float] = {}
        # (apiVersion, plural, namespace, name) -> object
        self._objects: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        # Applied configuration per (object key, field manager), for server-side apply.
        self._applied: dict[tuple[tuple[str, str, str, str], str], dict[str, Any]] = {}
        self._pulled_images: set[str] = set()
        self._template_hashes: dict[str, str] = {}
        self._server: ThreadingHTTPServer | None = None
        self._scheme = "http"
        self._thread: threading.Thread | None = None
        for namespace in namespaces:
            self.create_namespace(namespace)

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self, tls: ssl.SSLContext | None = None) -> str:
        """Serve on a free port of 127.0.0.1 (HTTPS with ``tls``, a server context); the base URL."""
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if (
                    standin.token is not None
                    and self.headers.get("Authorization") != f"Bearer {standin.token}"
                ):
                    code, payload = 401, ApiStatus(401, "Unauthorized", "Unauthorized").body()
                else:
                    code, payload = standin.handle(
                        self.command, self.path, self.headers.get("Content-Type", ""), body
                    )
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._scheme = "https" if tls is not None else "http"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"{self._scheme}://127.0.0.1:{self._server.server_address[1]}"

    # -- test helpers --------------------------------------------------------------------------------

    def create_namespace(self, name: str) -> None:
        with self._lock:
            self._namespaces[name] = self._stamp(
                {
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {"name": name},
                    "status": {"phase": "Active"},
                }
            )

    def delete_namespace(self, name: str) -> None:
        """As ``kubectl delete namespace``: Terminating for a moment, its objects deleted, then gone."""
        with self._lock:
            namespace = self._namespaces.get(name)
            if namespace is None:
                raise ApiStatus(404, "NotFound", f'namespaces "{name}" not found')
            namespace["status"]["phase"] = "Terminating"
            self._terminating[name] = time.monotonic() + self.terminating_seconds
            for key in [k for k in self._objects if k[2] == name]:
                del self._objects[key]

    def objects(self, plural: str, namespace: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            self._expire()
            found = [
                o
                for (_, p, ns, _), o in self._objects.items()
                if p == plural and (namespace is None or ns == namespace)
            ]
            for obj in found:
                if plural == "pods":
                    self._kubelet(obj)
            return copy.deepcopy(found)

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            for (_, p, ns, n), obj in self._objects.items():
                if (p, ns, n) == (plural, namespace, name):
                    if p == "pods":
                        self._kubelet(obj)
                    return copy.deepcopy(obj)
        return None

    # -- request handling ------------------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, content_type: str, body: bytes) -> tuple[int, Any]:
        split = urlsplit(raw_path)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        path = split.path.rstrip("/")
        with self._lock:
            self.requests.append(RecordedRequest(method, path, query, content_type, body))
        try:
            if self.before_request is not None:
                self.before_request(method, path, query)
            with self._lock:
                self._expire()
                return self._route(method, path, query, content_type, body)
        except ApiStatus as status:
            return status.code, status.body()

    def _route(
        self, method: str, path: str, query: Mapping[str, str], content_type: str, body: bytes
    ) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "v1"]:
            api_version, rest = "v1", parts[2:]
            plurals = CORE_PLURALS
        elif len(parts) >= 3 and parts[0] == "apis" and f"{parts[1]}/{parts[2]}" in GROUP_PLURALS:
            api_version, rest = f"{parts[1]}/{parts[2]}", parts[3:]
            plurals = GROUP_PLURALS[api_version]
        else:
            raise ApiStatus(404, "NotFound", f"the server could not find the requested resource ({path})")
        if api_version == "v1" and rest[:1] == ["namespaces"] and len(rest) <= 2:
            return self._namespace_route(method, rest[1] if len(rest) == 2 else None, body)
        if len(rest) == 1 and rest[0] in plurals and method == "GET":
            return 200, self._list(api_version, rest[0], plurals[rest[0]], None, query)
        if len(rest) < 3 or rest[0] != "namespaces" or rest[2] not in plurals:
            raise ApiStatus(404, "NotFound", f"the server could not find the requested resource ({path})")
        namespace, plural, kind = rest[1], rest[2], plurals[rest[2]]
        name = rest[3] if len(rest) >= 4 else None
        if len(rest) == 5 and rest[4] == "status" and method == "GET":
            pass  # the object's status subresource: the object itself
        elif len(rest) > 4:
            raise ApiStatus(404, "NotFound", f"the server could not find the requested resource ({path})")
        key = (api_version, plural, namespace, name or "")
        if name is None:
            if method == "GET":
                return 200, self._list(api_version, plural, kind, namespace, query)
            if method == "POST":
                document = self._decode(body, content_type)
                return 201, self._create(api_version, plural, kind, namespace, document)
            raise ApiStatus(405, "MethodNotAllowed", f"{method} is not allowed on a collection")
        if method == "GET":
            obj = self._existing(key, kind)
            if plural == "pods":
                self._kubelet(obj)
            return 200, obj
        if method == "DELETE":
            obj = self._existing(key, kind)
            self._delete(key)
            return 200, obj
        if method == "PUT":
            self._existing(key, kind)
            document = self._decode(body, content_type)
            return 200, self._store(key, kind, document, replace=True)
        if method == "PATCH":
            return self._patch(key, kind, query, content_type, body)
        raise ApiStatus(405, "MethodNotAllowed", f"{method} is not allowed")

    def _namespace_route(self, method: str, name: str | None, body: bytes) -> tuple[int, Any]:
        if name is None and method == "POST":
            document = self._decode(body, "json")
            new = str((document.get("metadata") or {}).get("name", ""))
            if not new:
                raise ApiStatus(400, "BadRequest", "the namespace has no name")
            if new in self._namespaces:
                raise ApiStatus(409, "AlreadyExists", f'namespaces "{new}" already exists')
            self.create_namespace(new)
            return 201, copy.deepcopy(self._namespaces[new])
        if name is None:
            if method == "GET":
                return 200, {
                    "kind": "NamespaceList",
                    "apiVersion": "v1",
                    "metadata": {},
                    "items": [copy.deepcopy(n) for n in self._namespaces.values()],
                }
            raise ApiStatus(405, "MethodNotAllowed", "only GET and POST on namespaces in the stand-in")
        if name not in self._namespaces:
            raise ApiStatus(404, "NotFound", f'namespaces "{name}" not found')
        if method == "GET":
            return 200, copy.deepcopy(self._namespaces[name])
        if method == "DELETE":
            self.delete_namespace(name)
            return 200, copy.deepcopy(self._namespaces[name])
        raise ApiStatus(405, "MethodNotAllowed", f"{method} is not allowed on a namespace in the stand-in")

    # -- objects ------------------------------------------------------------------------------------------

    def _decode(self, body: bytes, content_type: str) -> dict[str, Any]:
        try:
            document = yaml.safe_load(body) if "yaml" in content_type else json.loads(body)
        except (ValueError, yaml.YAMLError) as exc:
            raise ApiStatus(400, "BadRequest", f"the body is not valid: {exc}") from exc
        if not isinstance(document, dict):
            raise ApiStatus(400, "BadRequest", "the body is not an object")
        return document

    def _stamp(self, obj: dict[str, Any], previous: Mapping[str, Any] | None = None) -> dict[str, Any]:
        metadata = obj.setdefault("metadata", {})
        old = (previous or {}).get("metadata", {})
        metadata["uid"] = old.get("uid") or str(uuid.uuid4())
        metadata["creationTimestamp"] = old.get("creationTimestamp") or _now()
        metadata["resourceVersion"] = str(next(self._rv))
        return obj

    def _check_namespace(self, namespace: str, kind: str, name: str) -> None:
        if namespace not in self._namespaces:
            raise ApiStatus(404, "NotFound", f'namespaces "{namespace}" not found')
        if self._namespaces[namespace]["status"]["phase"] == "Terminating":
            raise ApiStatus(
                403,
                "Forbidden",
                f'{kind.lower()}s "{name}" is forbidden: unable to create new content in namespace '
                f"{namespace} because it is being terminated",
            )

    def _validate(self, api_version: str, kind: str, document: Mapping[str, Any], name: str | None) -> str:
        if document.get("apiVersion") != api_version or document.get("kind") != kind:
            raise ApiStatus(400, "BadRequest", f"the object is not a {api_version} {kind}")
        doc_name = (document.get("metadata") or {}).get("name")
        if not doc_name or (name is not None and doc_name != name):
            raise ApiStatus(400, "BadRequest", "the name of the object does not match the name on the URL")
        return str(doc_name)

    def _create(
        self, api_version: str, plural: str, kind: str, namespace: str, document: dict[str, Any]
    ) -> dict[str, Any]:
        name = self._validate(api_version, kind, document, None)
        self._check_namespace(namespace, kind, name)
        key = (api_version, plural, namespace, name)
        if key in self._objects:
            raise ApiStatus(409, "AlreadyExists", f'{plural} "{name}" already exists')
        return self._store(key, kind, document, replace=False)

    def _store(
        self, key: tuple[str, str, str, str], kind: str, document: dict[str, Any], *, replace: bool
    ) -> dict[str, Any]:
        api_version, _, namespace, name = key
        self._validate(api_version, kind, document, name)
        previous = self._objects.get(key)
        if previous is not None:
            self._check_immutable(kind, name, previous, document)
        obj = copy.deepcopy(document)
        obj["metadata"]["namespace"] = namespace
        if previous is not None and "status" in previous and kind != "Pod":
            obj.setdefault("status", previous["status"])
        self._stamp(obj, previous)
        if kind == "Pod":
            obj.setdefault("status", {"phase": "Pending"})
            obj["metadata"]["_createdAt"] = (
                previous["metadata"]["_createdAt"] if previous else time.monotonic()
            )
        self._objects[key] = obj
        if kind in _POD_OWNERS:
            self._reconcile(obj, kind, namespace)
        return copy.deepcopy(obj)

    @staticmethod
    def _check_immutable(
        kind: str, name: str, previous: Mapping[str, Any], document: Mapping[str, Any]
    ) -> None:
        # As the API server's validation: a Job's pod template and a Pod's spec (but its images) are fixed.
        if kind == "Job" and (previous.get("spec") or {}).get("template") != (document.get("spec") or {}).get(
            "template"
        ):
            raise ApiStatus(
                422,
                "Invalid",
                f'Job.batch "{name}" is invalid: spec.template: Invalid value: field is immutable',
            )
        if kind == "Pod":

            def without_images(spec: Any) -> Any:
                spec = copy.deepcopy(spec or {})
                for field in ("initContainers", "containers"):
                    for container in spec.get(field) or []:
                        container.pop("image", None)
                return spec

            if without_images(previous.get("spec")) != without_images(document.get("spec")):
                raise ApiStatus(
                    422,
                    "Invalid",
                    f'Pod "{name}" is invalid: spec: Forbidden: pod updates may not '
                    "change fields other than `spec.containers[*].image`, ...",
                )

    def _delete(self, key: tuple[str, str, str, str]) -> None:
        obj = self._objects.pop(key)
        for applied_key in [k for k in self._applied if k[0] == key]:
            del self._applied[applied_key]
        uid = obj["metadata"]["uid"]
        for pod_key in [k for k, o in self._objects.items() if k[1] == "pods" and self._owner(o) == uid]:
            del self._objects[pod_key]

    def _existing(self, key: tuple[str, str, str, str], kind: str) -> dict[str, Any]:
        obj = self._objects.get(key)
        if obj is None:
            resource = key[1] if "/" not in key[0] else f"{key[1]}.{key[0].partition('/')[0]}"
            raise ApiStatus(404, "NotFound", f'{resource} "{key[3]}" not found')
        return copy.deepcopy(obj)

    def _list(
        self, api_version: str, plural: str, kind: str, namespace: str | None, query: Mapping[str, str]
    ) -> dict[str, Any]:
        selector = query.get("labelSelector", "")
        items = []
        for (av, p, ns, _), obj in self._objects.items():
            if av != api_version or p != plural or (namespace is not None and ns != namespace):
                continue
            if not _matches(obj["metadata"].get("labels") or {}, selector):
                continue
            if p == "pods":
                self._kubelet(obj)
            items.append(copy.deepcopy(obj))
        return {
            "kind": f"{kind}List",
            "apiVersion": api_version,
            "metadata": {"resourceVersion": str(next(self._rv))},
            "items": items,
        }

    def _patch(
        self,
        key: tuple[str, str, str, str],
        kind: str,
        query: Mapping[str, str],
        content_type: str,
        body: bytes,
    ) -> tuple[int, Any]:
        media = content_type.split(";")[0].strip()
        existing = self._objects.get(key)
        if media == "application/apply-patch+yaml":
            manager = query.get("fieldManager")
            if not manager:
                raise ApiStatus(
                    400, "BadRequest", "PATCH request with apply content-type must have fieldManager"
                )
            applied = self._decode(body, "yaml")
            self._validate(key[0], kind, applied, key[3])
            if existing is None:
                self._check_namespace(key[2], kind, key[3])
                base: dict[str, Any] = {}
            else:
                # The manager's earlier applied configuration is replaced: fields it no longer
                # applies are removed, as server-side apply does for fields a manager owns alone.
                base = {k: v for k, v in existing.items() if k not in ("spec", "data", "type", "stringData")}
                base["metadata"] = {
                    k: v for k, v in existing["metadata"].items() if k not in ("labels", "annotations")
                }
            merged = _merge_patch(base, applied)
            merged["metadata"]["managedFields"] = [
                {"manager": manager, "operation": "Apply", "apiVersion": key[0], "time": _now()}
            ]
            self._applied[(key, manager)] = applied
            stored = self._store(key, kind, merged, replace=existing is not None)
            return (201 if existing is None else 200), stored
        if existing is None:
            raise ApiStatus(404, "NotFound", f'{key[1]} "{key[3]}" not found')
        if media in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
            patched = _merge_patch(existing, json.loads(body))
        elif media == "application/json-patch+json":
            patched = _json_patch(existing, json.loads(body))
        else:
            raise ApiStatus(
                415, "UnsupportedMediaType", f"the body of the request was in an unknown format: {media}"
            )
        return 200, self._store(key, kind, patched, replace=True)

    # -- simulated controller and kubelet ---------------------------------------------------------------

    @staticmethod
    def _owner(pod: Mapping[str, Any]) -> str | None:
        refs = pod["metadata"].get("ownerReferences") or []
        return refs[0]["uid"] if refs else None

    def _reconcile(self, obj: dict[str, Any], kind: str, namespace: str) -> None:
        template = obj.get("spec", {}).get("template") or {}
        template_hash = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]
        uid = obj["metadata"]["uid"]
        if self._template_hashes.get(uid) == template_hash:
            return
        self._template_hashes[uid] = template_hash
        for pod_key in [k for k, o in self._objects.items() if k[1] == "pods" and self._owner(o) == uid]:
            del self._objects[pod_key]
        spec = obj.get("spec", {})
        count = int(spec.get("parallelism", 1)) if kind == "Job" else 1
        if kind in ("Deployment", "StatefulSet", "ReplicaSet"):
            count = int(spec.get("replicas", 1))
        for index in range(count):
            name = f"{obj['metadata']['name']}-{template_hash}-{index}"
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "labels": dict((template.get("metadata") or {}).get("labels") or {}),
                    "ownerReferences": [
                        {
                            "apiVersion": obj["apiVersion"],
                            "kind": kind,
                            "name": obj["metadata"]["name"],
                            "uid": uid,
                        }
                    ],
                },
                "spec": copy.deepcopy(template.get("spec") or {}),
            }
            self._store(("v1", "pods", namespace, name), "Pod", pod, replace=False)

    def _credential_for(self, pod: Mapping[str, Any], host: str) -> bool:
        username, password = self.canary[host]
        namespace = pod["metadata"]["namespace"]
        for ref in pod["spec"].get("imagePullSecrets") or []:
            secret = self._objects.get(("v1", "secrets", namespace, ref.get("name", "")))
            if secret is None or secret.get("type") != "kubernetes.io/dockerconfigjson":
                continue
            try:
                config = json.loads(base64.b64decode(secret.get("data", {}).get(".dockerconfigjson", "")))
            except ValueError:
                continue
            for registry, auth in (config.get("auths") or {}).items():
                registry_host = registry.removeprefix("https://").removeprefix("http://").split("/")[0]
                if registry_host == "index.docker.io":
                    registry_host = "docker.io"
                if registry_host != host:
                    continue
                user, pw = auth.get("username"), auth.get("password")
                if auth.get("auth"):
                    user, _, pw = base64.b64decode(auth["auth"]).decode().partition(":")
                if (user, pw) == (username, password):
                    return True
        return False

    def _kubelet(self, pod: dict[str, Any]) -> None:
        """Pull the pod's images once, ``pull_seconds`` after the pod was created."""
        status = pod.setdefault("status", {"phase": "Pending"})
        if "containerStatuses" in status:
            return
        if time.monotonic() - pod["metadata"]["_createdAt"] < self.pull_seconds:
            return
        results: dict[str, list[dict[str, Any]]] = {}
        all_running = True
        for field, status_field in (
            ("initContainers", "initContainerStatuses"),
            ("containers", "containerStatuses"),
        ):
            for container in pod["spec"].get(field) or []:
                image = str(container.get("image", ""))
                host = image_host(image)
                cached = image in self._pulled_images and _pull_policy(container) != "Always"
                ok = host not in self.canary or cached or self._credential_for(pod, host)
                entry: dict[str, Any] = {
                    "name": container.get("name"),
                    "image": image,
                    "ready": ok,
                    "restartCount": 0,
                }
                if ok:
                    self._pulled_images.add(image)
                    digest = hashlib.sha256(image.encode()).hexdigest()
                    entry["imageID"] = f"{image.partition('@')[0].rsplit(':', 1)[0]}@sha256:{digest}"
                    entry["started"] = True
                    entry["state"] = {"running": {"startedAt": _now()}}
                else:
                    all_running = False
                    entry["imageID"] = ""
                    entry["started"] = False
                    entry["state"] = {
                        "waiting": {"reason": "ErrImagePull", "message": PULL_FAILURE.format(image=image)}
                    }
                results.setdefault(status_field, []).append(entry)
        status.update(results)
        status.setdefault("containerStatuses", [])
        status["phase"] = "Running" if all_running else "Pending"

    def _expire(self) -> None:
        now = time.monotonic()
        for name, deadline in list(self._terminating.items()):
            if now >= deadline:
                del self._terminating[name]
                self._namespaces.pop(name, None)
