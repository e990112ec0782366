"""The compose service fields a Docker standalone deployment maps, each parsed on its own.

Pure helpers of :mod:`harbourmaster.domain.compose_plan`.  Every parser takes
the raw YAML value and the field path (``services.web.ports[1]``) and raises
:class:`FieldProblem` naming that path; the plan collects every problem.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "FieldProblem",
    "Mount",
    "PortBinding",
    "RestartPolicy",
    "command_line",
    "environment",
    "labels",
    "mount",
    "ports",
    "restart_policy",
    "text",
]

# ``$VAR`` or ``${VAR...}``: compose would interpolate it from an environment this code cannot see.
_INTERPOLATION = re.compile(r"(?<!\$)(?:\$\$)*\$(?:\{|[A-Za-z_])")
_PORT_SHORT = re.compile(
    r"^(?:(?:(?P<ip>\[[0-9A-Fa-f:.]+\]|[0-9.]+):)?(?P<host>\d+(?:-\d+)?)?:)?"
    r"(?P<container>\d+(?:-\d+)?)(?:/(?P<proto>tcp|udp|sctp))?$"
)
_RESTART = re.compile(r"^(?P<name>no|always|unless-stopped|on-failure)(?::(?P<retries>\d+))?$")


class FieldProblem(Exception):
    """One field of a compose file cannot be deployed; ``path`` names it."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


@dataclass(frozen=True, slots=True)
class PortBinding:
    """A container port published on the host (``host_port`` None: the engine picks one)."""

    container_port: int
    protocol: Literal["tcp", "udp", "sctp"] = "tcp"
    host_ip: str | None = None
    host_port: int | None = None


@dataclass(frozen=True, slots=True)
class Mount:
    """A named volume (``source`` is the engine's volume name) or a bind of an absolute host path."""

    kind: Literal["volume", "bind"]
    source: str
    target: str
    read_only: bool = False


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    name: Literal["no", "always", "unless-stopped", "on-failure"] = "no"
    max_retries: int = 0


def text(value: object, path: str) -> str:
    """A scalar as compose reads it: numbers and booleans as text, ``$$`` as ``$``.

    Variable interpolation (``$VAR``, ``${VAR}``) is refused: the caller sends
    the file as it will run, and an unresolved variable would run as written.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if not isinstance(value, str):
        raise FieldProblem(path, f"must be a string, not {type(value).__name__}")
    if _INTERPOLATION.search(value):
        raise FieldProblem(
            path, f"{value!r} uses variable interpolation, which is not resolved here; write the value out"
        )
    return value.replace("$$", "$")


def command_line(value: object, path: str) -> tuple[str, ...]:
    """``command``/``entrypoint``: a list of arguments, or a string split as a shell would."""
    if isinstance(value, str):
        try:
            return tuple(text(word, path) for word in shlex.split(value))
        except ValueError as exc:
            raise FieldProblem(path, f"cannot be split into arguments: {exc}") from None
    if isinstance(value, list):
        return tuple(text(item, f"{path}[{i}]") for i, item in enumerate(value))
    raise FieldProblem(path, "must be a string or a list of strings")


def _pairs(value: object, path: str, what: str) -> dict[str, str | None]:
    """The list (``KEY=value``) or mapping form of ``environment`` and ``labels``."""
    found: dict[str, str | None] = {}
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str) or not key:
                raise FieldProblem(path, f"{what} names must be non-empty strings")
            found[key] = None if item is None else text(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            entry = text(item, f"{path}[{index}]")
            key, equals, rest = entry.partition("=")
            if not key:
                raise FieldProblem(f"{path}[{index}]", f"{entry!r} has no {what} name")
            found[key] = rest if equals else None
    else:
        raise FieldProblem(path, "must be a list of KEY=value strings or a mapping")
    return found


def environment(value: object, path: str) -> tuple[tuple[str, str], ...]:
    """``environment`` as sorted pairs; a name without a value (taken from the shell) is refused."""
    pairs = _pairs(value, path, "variable")
    for key, item in pairs.items():
        if item is None:
            raise FieldProblem(
                f"{path}.{key}", "has no value (compose would take it from the shell); write the value out"
            )
    return tuple(sorted((k, v) for k, v in pairs.items() if v is not None))


def labels(value: object, path: str, *, reserved: str) -> tuple[tuple[str, str], ...]:
    """``labels`` as sorted pairs; labels under ``reserved`` belong to harbourmaster and are refused."""
    pairs = _pairs(value, path, "label")
    for key in pairs:
        if key.startswith(reserved):
            raise FieldProblem(f"{path}.{key}", f"labels under {reserved} are set by harbourmaster")
    return tuple(sorted((k, v or "") for k, v in pairs.items()))


def _port_range(spec: str, path: str) -> list[int]:
    low, dash, high = spec.partition("-")
    first, last = int(low), int(high) if dash else int(low)
    if not 0 < first <= last <= 65535:
        raise FieldProblem(path, f"port {spec!r} is out of range 1-65535")
    return list(range(first, last + 1))


def _bindings(
    container: str, host: str | None, host_ip: str | None, protocol: str, path: str
) -> list[PortBinding]:
    targets = _port_range(container, path)
    hosts: list[int | None] = [None] * len(targets)
    if host:
        hosts = list(_port_range(host, path))
        if len(hosts) != len(targets):
            raise FieldProblem(
                path, f"host range {host!r} and container range {container!r} differ in length"
            )
    ip = host_ip.strip("[]") if host_ip else None
    return [
        PortBinding(container_port=t, protocol=protocol, host_ip=ip, host_port=h)  # type: ignore[arg-type]
        for t, h in zip(targets, hosts, strict=True)
    ]


_PORT_LONG_KEYS = {"target", "published", "host_ip", "protocol", "mode", "name", "app_protocol"}


def ports(value: object, path: str) -> tuple[PortBinding, ...]:
    """``ports``: short syntax (``80``, ``8080:80``, ``127.0.0.1:8080:80/udp``, ranges) and long syntax."""
    if not isinstance(value, list):
        raise FieldProblem(path, "must be a list")
    found: list[PortBinding] = []
    for index, entry in enumerate(value):
        where = f"{path}[{index}]"
        if isinstance(entry, Mapping):
            for key in entry:
                if key not in _PORT_LONG_KEYS:
                    raise FieldProblem(f"{where}.{key}", "is not supported")
            if entry.get("mode", "host") not in ("host", "ingress"):
                raise FieldProblem(f"{where}.mode", "must be host or ingress")
            target, published = entry.get("target"), entry.get("published")
            protocol = entry.get("protocol", "tcp")
            if protocol not in ("tcp", "udp", "sctp"):
                raise FieldProblem(f"{where}.protocol", "must be tcp, udp or sctp")
            if not isinstance(target, int) or isinstance(target, bool):
                raise FieldProblem(f"{where}.target", "must be a port number")
            host = None if published is None else text(published, f"{where}.published")
            if host is not None and not re.fullmatch(r"\d+(-\d+)?", host):
                raise FieldProblem(f"{where}.published", f"{host!r} is not a port or a port range")
            host_ip = entry.get("host_ip")
            ip = None if host_ip is None else text(host_ip, f"{where}.host_ip")
            found += _bindings(str(target), host, ip, protocol, where)
            continue
        spec = text(entry, where)
        match = _PORT_SHORT.match(spec)
        if match is None:
            raise FieldProblem(
                where,
                f"{spec!r} is not [[HOST_IP:]HOST_PORT:]CONTAINER_PORT[/PROTOCOL] "
                "(an IPv6 address goes in brackets)",
            )
        found += _bindings(match["container"], match["host"], match["ip"], match["proto"] or "tcp", where)
    return tuple(found)


_MOUNT_LONG_KEYS = {"type", "source", "target", "read_only"}


def mount(entry: object, path: str, *, volume_name: Mapping[str, str]) -> Mount:
    """One ``volumes`` entry of a service: ``NAME:/path[:ro|rw]``, ``/host:/path[:ro|rw]`` or the long form.

    ``volume_name`` maps the file's top-level volume keys to engine volume
    names; a named volume must be declared there.  Relative host paths,
    anonymous volumes and tmpfs are refused.
    """
    if isinstance(entry, Mapping):
        for key in entry:
            if key not in _MOUNT_LONG_KEYS:
                raise FieldProblem(f"{path}.{key}", "is not supported")
        kind = entry.get("type")
        if kind not in ("volume", "bind"):
            raise FieldProblem(f"{path}.type", "must be volume or bind")
        source = text(entry.get("source", ""), f"{path}.source")
        target = text(entry.get("target", ""), f"{path}.target")
        read_only = entry.get("read_only", False)
        if not isinstance(read_only, bool):
            raise FieldProblem(f"{path}.read_only", "must be true or false")
    else:
        spec = text(entry, path)
        parts = spec.split(":")
        if len(parts) == 1:
            raise FieldProblem(path, f"{spec!r} is an anonymous volume; name it (NAME:{spec})")
        if len(parts) > 3:
            raise FieldProblem(path, f"{spec!r} is not SOURCE:TARGET[:ro|rw]")
        source, target = parts[0], parts[1]
        mode = parts[2] if len(parts) == 3 else "rw"
        if mode not in ("ro", "rw"):
            raise FieldProblem(path, f"mode {mode!r} is not supported (ro or rw)")
        read_only = mode == "ro"
        kind = "bind" if source.startswith((".", "/", "~")) else "volume"
    if not target.startswith("/"):
        raise FieldProblem(path, f"target {target!r} must be an absolute path in the container")
    if kind == "bind":
        if not source.startswith("/"):
            raise FieldProblem(path, f"bind source {source!r} must be an absolute host path")
        return Mount(kind="bind", source=source, target=target, read_only=read_only)
    if source not in volume_name:
        raise FieldProblem(path, f"volume {source!r} is not declared in the top-level volumes")
    return Mount(kind="volume", source=volume_name[source], target=target, read_only=read_only)


def restart_policy(value: object, path: str) -> RestartPolicy:
    """``restart``: ``no``, ``always``, ``unless-stopped``, ``on-failure[:N]``."""
    spec = "no" if value is False else text(value, path)
    match = _RESTART.match(spec)
    if match is None or (match["retries"] is not None and match["name"] != "on-failure"):
        raise FieldProblem(path, f"{spec!r} is not no, always, unless-stopped or on-failure[:N]")
    retries = int(match["retries"]) if match["retries"] else 0
    return RestartPolicy(name=match["name"], max_retries=retries)  # type: ignore[arg-type]
