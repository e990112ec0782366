"""Which configured registry an image reference belongs to.

A registry is configured by URL (``https://harbor.corp``) and an optional path
scope (``payments`` or ``team/sub``).  A reference belongs to it when the hosts
are equal and the scope is a prefix of the reference's path *by whole
segments*: scope ``payments`` covers ``harbor.corp/payments/api`` but not
``harbor.corp/payments-evil/api``, and host ``harbor.corp`` covers neither
``harbor.corp.evil.io/x`` nor ``harbor.corp:8443/x``.

Hosts compare literally after lower-casing, ports included: in the reference
grammar ``harbor.corp:443/x`` and ``harbor.corp/x`` are different names, so a
default port is never added or removed.  Docker Hub's host aliases
(``index.docker.io``, ``registry-1.docker.io``, ``registry.hub.docker.com``)
all mean ``docker.io``, on both sides.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from harbourmaster.domain.reference import DEFAULT_DOMAIN, ImageReference
from harbourmaster.errors import BadInput

__all__ = [
    "DOCKER_HUB_ALIASES",
    "LocationError",
    "RegistryIndex",
    "RegistryLocation",
    "canonical_host",
    "location_matches",
    "parse_registry_location",
]

#: Host names that are Docker Hub, mapped to the canonical ``docker.io``.
DOCKER_HUB_ALIASES: dict[str, str] = {
    "index.docker.io": DEFAULT_DOMAIN,
    "registry-1.docker.io": DEFAULT_DOMAIN,
    "registry.hub.docker.com": DEFAULT_DOMAIN,
}

_DOMAIN_COMPONENT = r"(?:[a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])"
_DOMAIN_NAME_RE = re.compile(rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*")
_IPV6_RE = re.compile(r"\[[a-f0-9:]+\]")
_PATH_COMPONENT_RE = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_SCHEMES = frozenset({"http", "https"})
_URL_MAX_LENGTH = 2048


class LocationError(BadInput):
    """A registry URL or scope is not acceptable."""

    kind = "invalid-registry-location"


@dataclass(frozen=True, slots=True)
class RegistryLocation:
    """Where a configured registry lives: lower-case ``host[:port]``, a path scope, and a scheme."""

    host: str
    scope: tuple[str, ...] = ()
    scheme: str = "https"

    @property
    def prefix(self) -> str:
        """The reference prefix this location covers: ``harbor.corp/payments``."""
        return "/".join((self.host, *self.scope))


def canonical_host(host: str) -> str:
    """Lower-case ``host`` and map Docker Hub's aliases to ``docker.io``."""
    lowered = host.lower()
    return DOCKER_HUB_ALIASES.get(lowered, lowered)


def _redact(url: str) -> str:
    """``url`` with anything that could be user information hidden, so an error never shows a password.

    Any ``@`` counts: a password containing ``/``, ``?`` or ``#`` would
    otherwise be mistaken for a path, query or fragment and echoed.
    """
    if "@" not in url:
        return url
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme.isalnum():
        return "<URL with user information>"
    return f"{scheme}{sep}***@{rest.rpartition('@')[2]}"


def _parse_host(field: str, shown: str, authority: str) -> str:
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            raise LocationError(f"{field} {shown!r}: the IPv6 address has no closing ']'")
        host, rest = authority[: end + 1], authority[end + 1 :]
        if not _IPV6_RE.fullmatch(host):
            raise LocationError(f"{field} {shown!r}: {host!r} is not a bracketed IPv6 address")
        if rest and not rest.startswith(":"):
            raise LocationError(f"{field} {shown!r}: unexpected {rest!r} after the IPv6 address")
        port = rest[1:] if rest else None
    else:
        host, colon, port_text = authority.partition(":")
        port = port_text if colon else None
        if not host:
            raise LocationError(f"{field} {shown!r}: the host is empty")
        if host.endswith("."):
            raise LocationError(
                f"{field} {shown!r}: remove the trailing '.' from the host; image references never have one"
            )
        if not _DOMAIN_NAME_RE.fullmatch(host):
            raise LocationError(
                f"{field} {shown!r}: host {host!r} must be letters, digits, '-' and '.' "
                "(a DNS name or IPv4 address) or a bracketed IPv6 address"
            )
    if port is None:
        if "." not in host and host != "localhost" and not host.startswith("["):
            # In a reference, "registry/app" means docker.io/registry/app, so
            # no image could ever be matched to this registry.
            raise LocationError(
                f"{field} {shown!r}: image references cannot name host {host!r}, which has no '.' "
                "and no port; use its fully qualified name or give the port"
            )
        return canonical_host(host)
    if not (port.isascii() and port.isdigit()) or port.startswith("0") or not 1 <= int(port) <= 65535:
        raise LocationError(f"{field} {shown!r}: port {port!r} must be a number from 1 to 65535")
    return f"{host}:{port}"


def _parse_scope(field: str, scope: str) -> tuple[str, ...]:
    inner = scope.removeprefix("/").removesuffix("/")
    if not inner:
        if scope not in ("", "/"):
            raise LocationError(f"scope of {field} {scope!r}: it has an empty path segment ('//')")
        return ()
    segments = tuple(inner.split("/"))
    for segment in segments:
        if not segment:
            raise LocationError(f"scope of {field} {scope!r}: it has an empty path segment ('//')")
        if not _PATH_COMPONENT_RE.fullmatch(segment):
            raise LocationError(
                f"scope of {field} {scope!r}: segment {segment!r} must be lower-case letters and digits, "
                "separated by one '.', one or two '_', or dashes"
            )
    return segments


def parse_registry_location(url: str, scope: str | None = None, *, field: str = "url") -> RegistryLocation:
    """Validate a registry URL (``https://harbor.corp``) and optional path scope.

    A single leading or trailing ``/`` on the scope is ignored; an empty scope
    means the whole registry.

    Raises:
        LocationError: naming ``field`` and what is wrong: a scheme other than
            http or https; user information (the password is never repeated);
            a path, query or fragment (a path belongs in the scope); an empty or
            invalid host, a trailing dot, a port outside 1-65535; or a scope
            segment that is not a valid repository path component.
    """
    if not isinstance(url, str):
        raise LocationError(f"{field} must be a string, not {type(url).__name__}")
    shown = _redact(url)
    if len(url) > _URL_MAX_LENGTH:
        raise LocationError(f"{field} is {len(url)} characters long; the limit is {_URL_MAX_LENGTH}")
    if url.strip() != url or any(c.isspace() or not c.isprintable() for c in url):
        raise LocationError(f"{field} {shown!r}: it contains whitespace or control characters")
    if "@" in url:
        raise LocationError(
            f"{field} {shown!r}: user information is not allowed in a registry URL; "
            "give credentials separately so they are stored in the vault"
        )
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise LocationError(f"{field} {shown!r}: it must start with https:// or http://")
    scheme = scheme.lower()
    if scheme not in _SCHEMES:
        raise LocationError(f"{field} {shown!r}: the scheme must be https or http, not {scheme!r}")
    cut = [i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0]
    authority_end = min(cut, default=len(rest))
    authority, tail = rest[:authority_end], rest[authority_end:]
    if "?" in tail or "#" in tail:
        raise LocationError(f"{field} {shown!r}: a registry URL has no query or fragment")
    if tail not in ("", "/"):
        raise LocationError(
            f"{field} {shown!r}: a registry URL has no path; give the repository prefix "
            f"{tail.strip('/')!r} as the scope instead"
        )
    host = _parse_host(field, shown, authority.lower())
    if scope is not None and not isinstance(scope, str):
        raise LocationError(f"scope of {field} must be a string, not {type(scope).__name__}")
    segments = _parse_scope(field, scope) if scope else ()
    return RegistryLocation(host=host, scope=segments, scheme=scheme)


def location_matches(location: RegistryLocation, ref: ImageReference) -> bool:
    """True when ``ref`` is on ``location``'s host and inside its scope, by whole path segments."""
    if canonical_host(ref.domain) != location.host:
        return False
    scope = location.scope
    return ref.path_segments[: len(scope)] == scope


K = TypeVar("K")


class RegistryIndex(Generic[K]):
    """Finds the registries a reference belongs to, most specific scope first.

    Built once from ``(key, location)`` pairs; each lookup costs one dict probe
    per path segment of the reference, however many registries are indexed.
    Several keys may share a location; they are returned in insertion order.
    """

    __slots__ = ("_by_location", "_size")

    def __init__(self, entries: Iterable[tuple[K, RegistryLocation]]) -> None:
        self._by_location: dict[tuple[str, tuple[str, ...]], list[K]] = {}
        self._size = 0
        for key, location in entries:
            self._by_location.setdefault((location.host, location.scope), []).append(key)
            self._size += 1

    def __len__(self) -> int:
        return self._size

    def lookup(self, ref: ImageReference) -> K | None:
        """The first key of the most specific location covering ``ref``, or None."""
        host = canonical_host(ref.domain)
        segments = ref.path_segments
        table = self._by_location
        for length in range(len(segments), -1, -1):
            keys = table.get((host, segments[:length]))
            if keys:
                return keys[0]
        return None

    def lookup_all(self, ref: ImageReference) -> list[K]:
        """Every key whose location covers ``ref``: longest scope first, then insertion order."""
        host = canonical_host(ref.domain)
        segments = ref.path_segments
        table = self._by_location
        found: list[K] = []
        for length in range(len(segments), -1, -1):
            keys = table.get((host, segments[:length]))
            if keys:
                found.extend(keys)
        return found
