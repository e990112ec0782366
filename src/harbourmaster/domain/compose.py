"""Every image a compose file names, following ``include`` and ``extends``.

Pure: other files are read through a :class:`ComposeReader` the caller
supplies (:mod:`harbourmaster.enforce.content` reads them from disk, with its
size limits).  Without a reader — content sent without a file, as through the
API — ``include`` and ``extends.file`` are refused, since there is nothing to
resolve them against and skipping them would let their images through.

* ``include``: short form (a path) and long form (``path``: a path or a list
  of paths merged as overrides, as compose does).  Each included file is read
  as its own application, and its own ``include`` and ``extends`` paths are
  relative to it.  Includes nest at most :data:`MAX_COMPOSE_DEPTH` deep; a file
  that includes itself, directly or not, is refused; a file included twice is
  read once.
* ``extends``: ``extends: base`` and ``extends: {service: base}`` take the
  base service of the same application; ``extends: {file: f, service: base}``
  takes it from ``f``, relative to the file that says so.  A service's image
  is its own, else the one it inherits.  Chains are followed at most
  :data:`MAX_COMPOSE_DEPTH` deep and cycles are refused.
* Paths using variable interpolation, and remote includes (``oci://``,
  git URLs), are refused: what they name cannot be known here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from harbourmaster.domain.workload_images import WorkloadError, WorkloadImage

__all__ = ["MAX_COMPOSE_DEPTH", "ComposeImages", "ComposeReader", "images_from_compose"]

#: How deep includes may nest, and how long an ``extends`` chain may be.
MAX_COMPOSE_DEPTH = 8


class ComposeReader(Protocol):
    """Reads the compose file ``path`` (as written), relative to the file ``relative_to``.

    ``relative_to`` is a name this reader returned earlier, or None for the
    file being checked.  Returns the file's name (the same name for the same
    file, however it was reached) and its parsed YAML; raises a
    :class:`~harbourmaster.errors.BadInput` naming ``field`` when it cannot.
    """

    def __call__(self, path: str, *, relative_to: str | None, field: str) -> tuple[str, object]: ...


@dataclass(frozen=True, slots=True)
class ComposeImages:
    """The images of a compose file, and the services that only build theirs."""

    images: list[WorkloadImage] = field(default_factory=list)
    build_only: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Service:
    """A service as the files of one application define it together (later files override)."""

    name: str
    file: str | None
    image: object = None
    image_file: str | None = None
    build: bool = False
    container_name: str | None = None
    extends: object = None
    extends_file: str | None = None


@dataclass(frozen=True, slots=True)
class _Found:
    image: object
    file: str | None
    path: str
    build: bool


def _in(file: str | None) -> str:
    return f" in {file}" if file else ""


def _check_path(path: str, field: str, where: str) -> None:
    if not path.strip():
        raise WorkloadError(f"{where}: {field} is empty")
    if "$" in path:
        raise WorkloadError(
            f"{where}: {field} {path!r} uses variable interpolation, which cannot be resolved here; "
            "write the path out"
        )
    if "://" in path or path.startswith("git@"):
        raise WorkloadError(f"{where}: {field} {path!r} is remote; only local files can be checked")


class _Compose:
    def __init__(self, read: ComposeReader | None, main: str | None) -> None:
        self.read = read
        self.main = main
        self.result = ComposeImages()
        self.done: set[tuple[str, ...]] = set()

    def where(self, file: str | None) -> str:
        return f"compose file {file}" if file and file != self.main else "compose file"

    def load(self, path: str, *, relative_to: str | None, field: str) -> tuple[str, Mapping[object, object]]:
        where = self.where(relative_to)
        _check_path(path, field, where)
        if self.read is None:
            raise WorkloadError(
                f"{where}: {field}: {path!r} cannot be followed: content sent without a file has no "
                "directory to resolve it against; check the file with `harbourmaster check -f FILE`, "
                "or put what it names in the content"
            )
        name, document = self.read(path, relative_to=relative_to, field=field)
        if not isinstance(document, Mapping):
            raise WorkloadError(f"{where}: {field}: {name} is not a compose file (a mapping)")
        return name, document

    def services(self, files: list[tuple[str | None, Mapping[object, object]]]) -> dict[str, _Service]:
        merged: dict[str, _Service] = {}
        for file, document in files:
            raw = document.get("services")
            if raw is None and "include" in document:
                continue
            if not isinstance(raw, Mapping):
                raise WorkloadError(
                    f"{self.where(file)}: 'services' must be a mapping of service names to services"
                )
            for raw_name, spec in raw.items():
                name = str(raw_name)
                if not isinstance(spec, Mapping):
                    raise WorkloadError(
                        f"compose service {name!r}{_in(self._shown(file))}: services.{name} must be a mapping"
                    )
                service = merged.setdefault(name, _Service(name, file))
                if spec.get("image") is not None:
                    service.image, service.image_file = spec["image"], file
                if spec.get("build") is not None:
                    service.build = True
                container_name = spec.get("container_name")
                if isinstance(container_name, str):
                    service.container_name = container_name
                if spec.get("extends") is not None:
                    service.extends, service.extends_file = spec["extends"], file
        return merged

    def _shown(self, file: str | None) -> str | None:
        return None if file == self.main else file

    def application(
        self, files: list[tuple[str | None, Mapping[object, object]]], stack: tuple[str, ...], depth: int
    ) -> None:
        services = self.services(files)
        for service in services.values():
            self.emit(service, services)
        for file, document in files:
            self.includes(file, document, stack, depth)

    def emit(self, service: _Service, services: dict[str, _Service]) -> None:
        found = self.effective(service, services, ((service.extends_file, service.name),))
        name = service.name
        shown = _in(self._shown(service.file))
        if found.image is None:
            if not found.build:
                raise WorkloadError(f"compose service {name!r}{shown}: it has neither 'image' nor 'build'")
            self.result.build_only.append(name)
            return
        if not isinstance(found.image, str):
            raise WorkloadError(
                f"compose service {name!r}{_in(self._shown(found.file))}: {found.path} must be a string, "
                f"not {type(found.image).__name__}"
            )
        self.result.images.append(
            WorkloadImage(
                image=found.image,
                kind="service",
                name=name,
                namespace=None,
                container=service.container_name or name,
                field_path=found.path,
                document=0,
                file=self._shown(found.file),
            )
        )

    def effective(
        self,
        service: _Service,
        services: dict[str, _Service],
        chain: tuple[tuple[str | None, str], ...],
    ) -> _Found:
        """The image (and whether it builds) of ``service``, following ``extends``."""
        if service.image is not None:
            return _Found(service.image, service.image_file, f"services.{service.name}.image", service.build)
        if service.extends is None:
            return _Found(None, None, "", service.build)
        field = f"services.{service.name}.extends"
        where = f"compose service {service.name!r}{_in(self._shown(service.extends_file))}"
        extends = service.extends
        file_ref: object = None
        if isinstance(extends, str):
            base_name: object = extends
        elif isinstance(extends, Mapping):
            base_name, file_ref = extends.get("service"), extends.get("file")
        else:
            raise WorkloadError(f"{where}: {field} must be a service name or a mapping with service")
        if not isinstance(base_name, str) or not base_name:
            raise WorkloadError(f"{where}: {field}.service must name a service")
        if file_ref is None:
            pool, pool_file = services, service.extends_file
        elif isinstance(file_ref, str):
            pool_file, document = self.load(file_ref, relative_to=service.extends_file, field=f"{field}.file")
            pool = self.services([(pool_file, document)])
        else:
            raise WorkloadError(f"{where}: {field}.file must be a path")
        key = (pool_file, base_name)
        if key in chain:
            raise WorkloadError(f"{where}: {field}: service {base_name!r} extends itself (an extends cycle)")
        if len(chain) > MAX_COMPOSE_DEPTH:
            raise WorkloadError(f"{where}: {field}: extends chains longer than {MAX_COMPOSE_DEPTH}")
        base = pool.get(base_name)
        if base is None:
            in_file = f" in {pool_file}" if file_ref is not None else ""
            raise WorkloadError(f"{where}: {field}: service {base_name!r} is not defined{in_file}")
        found = self.effective(base, pool, (*chain, key))
        return _Found(found.image, found.file, found.path, service.build or found.build)

    def includes(
        self, file: str | None, document: Mapping[object, object], stack: tuple[str, ...], depth: int
    ) -> None:
        raw = document.get("include")
        if raw is None:
            return
        where = self.where(file)
        if not isinstance(raw, list):
            raise WorkloadError(f"{where}: include must be a list")
        for index, entry in enumerate(raw):
            entry_field = f"include[{index}]"
            paths: list[tuple[str, str]]
            if isinstance(entry, str):
                paths = [(entry, entry_field)]
            elif isinstance(entry, Mapping):
                path = entry.get("path")
                if isinstance(path, str):
                    paths = [(path, f"{entry_field}.path")]
                elif isinstance(path, list) and path and all(isinstance(p, str) for p in path):
                    paths = [(p, f"{entry_field}.path[{j}]") for j, p in enumerate(path)]
                else:
                    raise WorkloadError(f"{where}: {entry_field}.path must be a path or a list of paths")
            else:
                raise WorkloadError(f"{where}: {entry_field} must be a path or a mapping with path")
            if depth >= MAX_COMPOSE_DEPTH:
                raise WorkloadError(
                    f"{where}: {entry_field}: includes nest more than {MAX_COMPOSE_DEPTH} levels deep"
                )
            loaded: list[tuple[str | None, Mapping[object, object]]] = []
            names: list[str] = []
            for path_text, path_field in paths:
                name, included = self.load(path_text, relative_to=file, field=path_field)
                if name in stack:
                    cycle = " -> ".join((*stack[stack.index(name) :], name))
                    raise WorkloadError(f"{where}: {path_field}: include cycle: {cycle}")
                if "services" not in included and "include" not in included:
                    raise WorkloadError(
                        f"{where}: {path_field}: {name} is not a compose file (it has neither services "
                        "nor include)"
                    )
                loaded.append((name, included))
                names.append(name)
            key = tuple(names)
            if key in self.done:
                continue
            self.done.add(key)
            self.application(loaded, (*stack, *names), depth + 1)


def images_from_compose(
    document: Mapping[object, object], *, read: ComposeReader | None = None, file: str | None = None
) -> ComposeImages:
    """The images of a compose file's services (and of what it includes or extends).

    ``file`` is the name of the file being checked, as ``read`` would name it
    (so that an include of it is recognised as a cycle); images found in it
    are reported without a file, those found elsewhere with theirs.

    A service with both ``build`` and ``image`` is reported as an image (the
    build is tagged with that name).  Each image's ``container`` is the
    service's ``container_name`` when set, else the service name.

    Raises:
        WorkloadError: ``services`` is not a mapping (or is missing without
            ``include``), a service is not a mapping, a service has neither
            ``image`` nor ``build`` (nor inherits one), an image is not a
            string, an ``extends`` is malformed, cyclic, too long or names an
            unknown service, an ``include`` is malformed, cyclic or too deep,
            a path is interpolated or remote, or a path must be followed and
            there is no ``read``.  The message names the service or field, and
            the file when it is not the one checked.
        BadInput: ``read`` could not read a file (as it reports).
    """
    compose = _Compose(read, file)
    if "services" not in document and "include" not in document:
        raise WorkloadError("compose file: 'services' must be a mapping of service names to services")
    compose.application([(file, document)], (file,) if file else (), 0)
    return compose.result
