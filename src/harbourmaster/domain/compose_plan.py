"""What a compose file asks a Docker Engine to run: a plan of containers, volumes and networks.

Pure: the caller loads the YAML and pins every service's image to a digest
(after the image policy verdict); :func:`plan_compose` turns both into a
:class:`ComposePlan` the Docker standalone target executes.

Only a deliberate subset of the compose specification is supported (see
:data:`SERVICE_FIELDS`, :data:`TOP_LEVEL_FIELDS`); any other field is refused
by its path (``services.web.privileged``), never ignored, since an ignored
``cap_add`` or ``network_mode: host`` would deploy something else than what
the file says.  Extension fields (``x-*``) are ignored, as compose does.

Each :class:`ContainerSpec` has a :attr:`~ContainerSpec.spec_hash` over
everything the container runs with.  It leaves out the deployment and verdict
ids, so redeploying an unchanged file under a new verdict changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from harbourmaster.domain import _compose_fields as fields
from harbourmaster.domain._compose_fields import FieldProblem, Mount, PortBinding, RestartPolicy
from harbourmaster.domain.reference import ReferenceError, parse_reference
from harbourmaster.errors import BadInput

__all__ = [
    "LABEL_DEPLOYMENT",
    "LABEL_PREFIX",
    "LABEL_PROJECT",
    "LABEL_SERVICE",
    "LABEL_SPEC_HASH",
    "LABEL_VERDICT",
    "SERVICE_FIELDS",
    "TOP_LEVEL_FIELDS",
    "ComposePlan",
    "ComposePlanError",
    "ContainerSpec",
    "Mount",
    "NetworkAttachment",
    "NetworkSpec",
    "PortBinding",
    "RestartPolicy",
    "VolumeSpec",
    "plan_compose",
]

LABEL_PREFIX = "io.harbourmaster."
LABEL_DEPLOYMENT = "io.harbourmaster.deployment"
LABEL_VERDICT = "io.harbourmaster.verdict"
LABEL_SPEC_HASH = "io.harbourmaster.spec-hash"
LABEL_PROJECT = "io.harbourmaster.project"
LABEL_SERVICE = "io.harbourmaster.service"

#: The service fields a standalone deployment maps; every other one is refused by name.
SERVICE_FIELDS = frozenset(
    {
        "image",
        "command",
        "entrypoint",
        "environment",
        "ports",
        "volumes",
        "restart",
        "networks",
        "network_mode",
        "depends_on",
        "labels",
        "working_dir",
        "user",
        "hostname",
        "read_only",
        "init",
        "tty",
        "stdin_open",
        "stop_signal",
    }
)
#: The top-level fields; ``version`` is obsolete and ignored, ``name`` must be the project.
TOP_LEVEL_FIELDS = frozenset({"services", "volumes", "networks", "name", "version"})

_PROJECT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_SERVICE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")
_DEFAULT_NETWORK = "default"
_UNSUPPORTED = "is not supported by harbourmaster's Docker standalone deployments"


class ComposePlanError(BadInput):
    """A compose file cannot be deployed as written; ``details`` lists every problem by field path."""

    kind = "invalid-compose"


@dataclass(frozen=True, slots=True)
class NetworkAttachment:
    """A network (engine name) a container joins, with its DNS aliases there."""

    network: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class VolumeSpec:
    """A named volume: the file's key, the engine's name, and whether it must already exist."""

    key: str
    name: str
    external: bool = False


@dataclass(frozen=True, slots=True)
class NetworkSpec:
    """A bridge network: the file's key, the engine's name, ``internal``, and whether it exists already."""

    key: str
    name: str
    internal: bool = False
    external: bool = False


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    """One container of a service, as the engine creates it (``<project>-<service>-1``)."""

    service: str
    name: str
    image: str  # repository@sha256:..., never a tag
    registry: str  # the registry host (and port) the image is pulled from
    command: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    environment: tuple[tuple[str, str], ...] = ()
    ports: tuple[PortBinding, ...] = ()
    mounts: tuple[Mount, ...] = ()
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    networks: tuple[NetworkAttachment, ...] = ()  # empty: no network at all (network_mode: none)
    depends_on: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    working_dir: str | None = None
    user: str | None = None
    hostname: str | None = None
    read_only: bool = False
    init: bool = False
    tty: bool = False
    stdin_open: bool = False
    stop_signal: str | None = None

    @property
    def spec_hash(self) -> str:
        """SHA-256 (hex) of the canonical JSON of every field: equal specs, equal hashes, any run."""
        canonical = json.dumps(
            {"spec": "harbourmaster.container/1", **asdict(self)}, sort_keys=True, separators=(",", ":")
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ComposePlan:
    """Containers in dependency order, and the volumes and networks they need."""

    project: str
    deployment_id: str
    verdict_id: str
    containers: tuple[ContainerSpec, ...]
    volumes: tuple[VolumeSpec, ...] = ()
    networks: tuple[NetworkSpec, ...] = ()

    def labels(self, spec: ContainerSpec) -> dict[str, str]:
        """The labels the engine puts on ``spec``'s container: the user's, then harbourmaster's."""
        return {
            **dict(spec.labels),
            LABEL_PROJECT: self.project,
            LABEL_SERVICE: spec.service,
            LABEL_DEPLOYMENT: self.deployment_id,
            LABEL_VERDICT: self.verdict_id,
            LABEL_SPEC_HASH: spec.spec_hash,
        }

    def resource_labels(self) -> dict[str, str]:
        """The labels on the volumes and networks the plan creates."""
        return {LABEL_PROJECT: self.project, LABEL_DEPLOYMENT: self.deployment_id}


def _flag(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise FieldProblem(path, "must be true or false")
    return value


def _resources(
    raw: object, kind: str, project: str, problems: list[str]
) -> dict[str, tuple[str, bool, bool]]:
    """Top-level ``volumes``/``networks``: key -> (engine name, external, internal)."""
    found: dict[str, tuple[str, bool, bool]] = {}
    if raw is None:
        return found
    if not isinstance(raw, Mapping):
        problems.append(f"{kind}: must be a mapping")
        return found
    allowed = {"name", "external"} | ({"driver", "internal"} if kind == "networks" else set())
    for key, spec in raw.items():
        path = f"{kind}.{key}"
        try:
            spec = spec or {}
            if not isinstance(spec, Mapping):
                raise FieldProblem(path, "must be a mapping")
            for item in spec:
                if item not in allowed and not str(item).startswith("x-"):
                    raise FieldProblem(f"{path}.{item}", "is not supported")
            if spec.get("driver", "bridge") != "bridge":
                raise FieldProblem(f"{path}.driver", "only bridge networks are supported")
            external = _flag(spec.get("external", False), f"{path}.external")
            internal = _flag(spec.get("internal", False), f"{path}.internal")
            default_name = str(key) if external else f"{project}_{key}"
            name = fields.text(spec.get("name", default_name), f"{path}.name")
            found[str(key)] = (name, external, internal)
        except FieldProblem as problem:
            problems.append(str(problem))
    return found


def _networks(
    service: Mapping[str, Any],
    path: str,
    *,
    project: str,
    declared: Mapping[str, tuple[str, bool, bool]],
    used: set[str],
) -> tuple[NetworkAttachment, ...]:
    name = path.rsplit(".", 1)[-1]
    mode = service.get("network_mode")
    if mode is not None:
        if mode != "none":
            raise FieldProblem(f"{path}.network_mode", f"{mode!r} is not supported (only none)")
        if "networks" in service:
            raise FieldProblem(f"{path}.networks", "cannot be combined with network_mode")
        return ()
    raw = service.get("networks")
    entries: dict[str, object]
    if raw is None:
        entries = {_DEFAULT_NETWORK: None}
    elif isinstance(raw, list):
        entries = {str(k): None for k in raw}
    elif isinstance(raw, Mapping):
        entries = {str(k): v for k, v in raw.items()}
    else:
        raise FieldProblem(f"{path}.networks", "must be a list or a mapping")
    attached = []
    for key, options in entries.items():
        where = f"{path}.networks.{key}"
        if key not in declared and key != _DEFAULT_NETWORK:
            raise FieldProblem(where, f"network {key!r} is not declared in the top-level networks")
        aliases: tuple[str, ...] = ()
        if options is not None:
            if not isinstance(options, Mapping):
                raise FieldProblem(where, "must be a mapping")
            for item in options:
                if item != "aliases":
                    raise FieldProblem(f"{where}.{item}", "is not supported")
            raw_aliases = options.get("aliases") or []
            if not isinstance(raw_aliases, list):
                raise FieldProblem(f"{where}.aliases", "must be a list")
            aliases = tuple(fields.text(a, f"{where}.aliases[{i}]") for i, a in enumerate(raw_aliases))
        used.add(key)
        engine_name = declared[key][0] if key in declared else f"{project}_{key}"
        attached.append(NetworkAttachment(network=engine_name, aliases=(name, *aliases)))
    return tuple(attached)


def _depends_on(value: object, path: str, services: Mapping[str, object]) -> tuple[str, ...]:
    if isinstance(value, list):
        names = {fields.text(v, f"{path}[{i}]"): None for i, v in enumerate(value)}
    elif isinstance(value, Mapping):
        names = {str(k): v for k, v in value.items()}
    else:
        raise FieldProblem(path, "must be a list or a mapping")
    for dependency, options in names.items():
        where = f"{path}.{dependency}"
        if dependency not in services:
            raise FieldProblem(where, f"service {dependency!r} is not defined")
        if options is None:
            continue
        if not isinstance(options, Mapping):
            raise FieldProblem(where, "must be a mapping")
        for item in options:
            if item not in ("condition", "required", "restart"):
                raise FieldProblem(f"{where}.{item}", "is not supported")
        if options.get("condition", "service_started") != "service_started":
            raise FieldProblem(
                f"{where}.condition", f"{options['condition']!r} is not supported (only service_started)"
            )
    return tuple(sorted(names))


def _optional_text(service: Mapping[str, Any], key: str, path: str) -> str | None:
    return None if service.get(key) is None else fields.text(service[key], f"{path}.{key}")


def _container(
    name: str,
    service: Mapping[str, Any],
    *,
    project: str,
    image: str,
    services: Mapping[str, object],
    volumes: Mapping[str, tuple[str, bool, bool]],
    networks: Mapping[str, tuple[str, bool, bool]],
    used_networks: set[str],
) -> tuple[ContainerSpec, list[str]]:
    """The spec of one service, and every problem found in it (the spec is meaningless if any)."""
    path = f"services.{name}"
    problems: list[str] = []
    values: dict[str, Any] = {}

    def parse(key: str, parser: Any) -> None:
        if service.get(key) is None:
            return
        try:
            values[key] = parser(service[key], f"{path}.{key}")
        except FieldProblem as problem:
            problems.append(str(problem))

    for key in service:
        if key not in SERVICE_FIELDS and not str(key).startswith("x-"):
            problems.append(f"{path}.{key}: {_UNSUPPORTED}")
    registry = ""
    try:
        reference = parse_reference(image)
        if reference.digest is None:
            raise FieldProblem(f"{path}.image", f"the pinned image {image!r} has no digest (repo@sha256:...)")
        image, registry = f"{reference.repository}@{reference.digest}", reference.domain
    except ReferenceError as exc:
        problems.append(f"{path}.image: {exc.message}")
    except FieldProblem as problem:
        problems.append(str(problem))
    parse("command", fields.command_line)
    parse("entrypoint", fields.command_line)
    parse("environment", fields.environment)
    parse("ports", fields.ports)
    parse("restart", fields.restart_policy)
    parse("labels", lambda v, p: fields.labels(v, p, reserved=LABEL_PREFIX))
    parse("depends_on", lambda v, p: _depends_on(v, p, services))
    volume_names = {key: engine for key, (engine, _, _) in volumes.items()}

    def mounts(value: object, where: str) -> tuple[Mount, ...]:
        if not isinstance(value, list):
            raise FieldProblem(where, "must be a list")
        return tuple(fields.mount(v, f"{where}[{i}]", volume_name=volume_names) for i, v in enumerate(value))

    parse("volumes", mounts)
    for key in ("working_dir", "user", "hostname", "stop_signal"):
        parse(key, fields.text)
    for key in ("read_only", "init", "tty", "stdin_open"):
        parse(key, _flag)
    try:
        values["networks"] = _networks(service, path, project=project, declared=networks, used=used_networks)
    except FieldProblem as problem:
        problems.append(str(problem))
    spec = ContainerSpec(
        service=name,
        name=f"{project}-{name}-1",
        image=image,
        registry=registry,
        command=values.get("command"),
        entrypoint=values.get("entrypoint"),
        environment=values.get("environment", ()),
        ports=values.get("ports", ()),
        mounts=values.get("volumes", ()),
        restart=values.get("restart", RestartPolicy()),
        networks=values.get("networks", ()),
        depends_on=values.get("depends_on", ()),
        labels=values.get("labels", ()),
        working_dir=values.get("working_dir"),
        user=values.get("user"),
        hostname=values.get("hostname"),
        read_only=values.get("read_only", False),
        init=values.get("init", False),
        tty=values.get("tty", False),
        stdin_open=values.get("stdin_open", False),
        stop_signal=values.get("stop_signal"),
    )
    return spec, problems


def _ordered(specs: list[ContainerSpec]) -> tuple[list[ContainerSpec], list[str]]:
    """``specs`` with every service after its dependencies (file order otherwise), or the cycle."""
    by_name = {s.service: s for s in specs}
    done: dict[str, None] = {}
    visiting: list[str] = []

    def visit(name: str) -> list[str] | None:
        if name in done:
            return None
        if name in visiting:
            return [*visiting[visiting.index(name) :], name]
        visiting.append(name)
        for dependency in by_name[name].depends_on:
            cycle = visit(dependency)
            if cycle:
                return cycle
        visiting.pop()
        done[name] = None
        return None

    for spec in specs:
        cycle = visit(spec.service)
        if cycle:
            return [], [f"services.{cycle[0]}.depends_on: dependency cycle: {' -> '.join(cycle)}"]
    return [by_name[n] for n in done], []


def plan_compose(
    document: Mapping[Any, Any],
    *,
    project: str,
    deployment_id: str,
    verdict_id: str,
    images: Mapping[str, str],
) -> ComposePlan:
    """The plan that deploys ``document`` as ``project`` with each service's image pinned in ``images``.

    Raises:
        ComposePlanError: anything in the file is unsupported or malformed, a
            service has no pinned image (or one without a digest), a volume or
            network is not declared, or ``depends_on`` names an unknown
            service or forms a cycle.  ``details`` names every problem by its
            field path (``services.web.ports[0]: ...``).
    """
    problems: list[str] = []
    if not _PROJECT.match(project):
        problems.append(
            f"project {project!r}: must be lower-case letters, digits, '-' and '_', "
            "starting with a letter or digit"
        )
    for key in document:
        if key not in TOP_LEVEL_FIELDS and not str(key).startswith("x-"):
            problems.append(f"{key}: {_UNSUPPORTED}")
    if document.get("name") not in (None, project):
        problems.append(f"name: {document['name']!r} differs from the deployment's project {project!r}")
    services = document.get("services")
    if not isinstance(services, Mapping) or not services:
        raise ComposePlanError("compose file: 'services' must be a non-empty mapping", details=problems)
    volumes = _resources(document.get("volumes"), "volumes", project, problems)
    networks = _resources(document.get("networks"), "networks", project, problems)
    for name in images:
        if name not in services:
            problems.append(f"images: service {name!r} is not in the compose file")
    specs: list[ContainerSpec] = []
    used_networks: set[str] = set()
    for raw_name, service in services.items():
        name = str(raw_name)
        if not _SERVICE.match(name):
            problems.append(f"services.{name}: the name must be letters, digits, '.', '-' and '_'")
            continue
        if not isinstance(service, Mapping):
            problems.append(f"services.{name}: must be a mapping")
            continue
        if name not in images:
            problems.append(f"services.{name}.image: no pinned image was given for this service")
            continue
        spec, found = _container(
            name,
            service,
            project=project,
            image=images[name],
            services=services,
            volumes=volumes,
            networks=networks,
            used_networks=used_networks,
        )
        problems += found
        specs.append(spec)
    ordered, cycle = _ordered(specs) if not problems else ([], [])
    problems += cycle
    if problems:
        raise ComposePlanError(
            f"the compose file cannot be deployed: {len(problems)} problem(s)", details=problems
        )
    if _DEFAULT_NETWORK in used_networks and _DEFAULT_NETWORK not in networks:
        networks[_DEFAULT_NETWORK] = (f"{project}_{_DEFAULT_NETWORK}", False, False)
    return ComposePlan(
        project=project,
        deployment_id=deployment_id,
        verdict_id=verdict_id,
        containers=tuple(ordered),
        volumes=tuple(VolumeSpec(key=k, name=n, external=e) for k, (n, e, _) in volumes.items()),
        networks=tuple(
            NetworkSpec(key=k, name=n, external=e, internal=i)
            for k, (n, e, i) in networks.items()
            if k in used_networks
        ),
    )
