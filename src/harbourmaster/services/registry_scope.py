"""Which registry an operation names, and which repository of it: the lookup by name and the scope
check that ``registry test`` and ``registry browse`` share, and the approved registry an image is in
(for SBOM and signing operations).
"""

from __future__ import annotations

from harbourmaster.domain.model import Registry
from harbourmaster.domain.reference import ImageReference, parse_reference
from harbourmaster.domain.spelling import did_you_mean
from harbourmaster.errors import BadInput, NotFound
from harbourmaster.services.core import Harbourmaster

__all__ = [
    "ImageNotInApprovedRegistry",
    "approved_registry",
    "named_registry",
    "split_repository",
    "within_scope",
]


class ImageNotInApprovedRegistry(BadInput):
    """The image's registry is not one harbourmaster knows, so it is not contacted."""

    kind = "sbom-unknown-registry"


def approved_registry(hm: Harbourmaster, ref: ImageReference) -> Registry:
    """The approved registry that covers ``ref`` (host and path scope, at segment boundaries).

    Raises:
        ImageNotInApprovedRegistry: none does; harbourmaster contacts only approved registries.
    """
    snapshot = hm.snapshot()
    name = snapshot.index.lookup(ref)
    if name is None:
        raise ImageNotInApprovedRegistry(
            f"image {ref.normalized} is in no approved registry (no registry covers {ref.domain}/"
            f"{ref.path}); harbourmaster talks only to approved registries",
            details=["define the registry in the governance model, or use an image from an approved one"],
        )
    return snapshot.registries[name]


def named_registry(hm: Harbourmaster, name: str) -> Registry:
    """The registry called ``name``.

    Raises:
        NotFound: no such registry (with the nearest name, if one is close).
    """
    state = hm.state()
    reg = state.registry(name)
    if reg is None:
        known = (r.name for r in state.registries)
        raise NotFound(f"registry {name} is not defined{did_you_mean(name, known)}")
    return reg


def within_scope(registry: Registry, repository: str) -> bool:
    """Whether ``repository`` (a path on the registry's host) is inside the registry's scope."""
    scope = registry.location.scope
    return tuple(repository.split("/")[: len(scope)]) == scope


def split_repository(registry: Registry, text: str) -> tuple[str, str | None]:
    """``team/app``, ``team/app:v1`` or ``team/app@sha256:..`` (optionally with the host) ->
    (repository path, tag or digest or None).

    Raises:
        BadInput: not a repository name, or outside the registry's scope.
    """
    host = registry.location.host
    relative = text.removeprefix(f"{host}/")
    ref = parse_reference(f"{host}/{relative}")
    if ref.domain != host:
        raise BadInput(f"{text!r} is not a repository of registry {registry.name} ({host})")
    if not within_scope(registry, ref.path):
        raise BadInput(
            f"repository {ref.path} is outside the scope {registry.scope} of registry {registry.name}"
        )
    return ref.path, ref.digest or ref.tag
