r"""Image references, parsed and normalised as container tools do.

The grammar is the one of the distribution project's ``reference`` package::

    reference        := name [ ":" tag ] [ "@" digest ]
    name             := [ domain "/" ] path-component [ "/" path-component ]*
    domain           := host [ ":" port-number ]
    host             := domain-name | "[" ipv6-hex-and-colons "]"
    domain-name      := domain-component [ "." domain-component ]*
    domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
    port-number      := [0-9]+
    path-component   := [a-z0-9]+ ( separator [a-z0-9]+ )*
    separator        := "." | "_" | "__" | "-"+
    tag              := [\w][\w.-]{0,127}      (\w: ASCII letters, digits and "_")
    digest           := algorithm ":" hex      (sha256: 64, sha512: 128 lower-case hex)

and the Docker normalisation rules: the first component is a registry host only
when it contains ``.`` or ``:`` or is exactly ``localhost``; otherwise the name
lives on ``docker.io``, where a one-component name gains the ``library/``
prefix; ``index.docker.io`` is an alias of ``docker.io``; the whole name
(``domain/path``, after normalisation) is at most 255 characters.

The tag grammar is defined here once (:data:`TAG_PATTERN`, :func:`validate_tag`)
and the digest in :mod:`harbourmaster.domain.digest` (:class:`Digest`); the
registry client and the SBOM sources use both.

Deliberate choices where tools disagree (each is the stricter one):

* A first component with upper-case letters but no ``.`` or ``:`` (``Foo/bar``)
  is rejected.  Newer Docker reads it as a registry host, podman and skopeo
  reject it; accepting it would let one string mean two different images.
* A first component that contains ``.`` or ``:`` but is not a valid host
  (``a_b.c/d``) is rejected.  The Go library accepts it as a name *without* a
  registry, which no client can pull from and no policy can place.
* The registry host is lower-cased (DNS is case-insensitive), and the
  ``index.docker.io`` alias is applied after lower-casing.
* Docker Hub's other host names, ``registry-1.docker.io`` (its API host) and
  ``registry.hub.docker.com``, are aliases of ``docker.io`` too, with the
  ``library/`` prefix for one-component names: ``registry-1.docker.io/nginx``
  is ``docker.io/library/nginx``, the image a pull of it fetches.  The reference
  library keeps them literally, which would make that image a different,
  unapproved one.  With a port (``registry-1.docker.io:443/x``) a host is kept
  as written, as :mod:`harbourmaster.domain.matching` does.
* A digest must use an algorithm the OCI image spec registers (sha256, sha512).
  The reference library (through ``go-digest``) also takes ``sha384``, which the
  spec does not register; see :mod:`harbourmaster.domain.digest` for why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harbourmaster.domain.digest import Digest, DigestError
from harbourmaster.errors import BadInput

__all__ = [
    "DEFAULT_DOMAIN",
    "DEFAULT_TAG",
    "NAME_MAX_LENGTH",
    "TAG_MAX_LENGTH",
    "TAG_PATTERN",
    "ImageReference",
    "ReferenceError",
    "normalize",
    "parse_reference",
    "validate_tag",
]

DEFAULT_DOMAIN = "docker.io"
DEFAULT_TAG = "latest"
NAME_MAX_LENGTH = 255
TAG_MAX_LENGTH = 128
#: The distribution spec's tag grammar (``re.ASCII``: ``\w`` is ``[A-Za-z0-9_]``, never a Unicode letter).
TAG_PATTERN = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)

#: Docker Hub's other names (the same set as ``matching.DOCKER_HUB_ALIASES``; a test pins that).
_DOCKER_HUB_ALIASES = frozenset({"index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"})
_OFFICIAL_PREFIX = "library/"
_LOCALHOST = "localhost"

# No valid reference is longer than this (a 255-character name written with the
# longest Docker Hub alias as its prefix, a 128-character tag and a sha512 digest).
# Checking it first keeps every later step linear in a small input.
_TEXT_MAX_LENGTH = 600

_PATH_COMPONENT_RE = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST_RE = re.compile(rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\]")
_IDENTIFIER_RE = re.compile(r"[a-f0-9]{64}")
_ALLOWED_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/:@[]+")


class ReferenceError(BadInput):
    """An image reference does not follow the reference grammar."""

    kind = "invalid-image-reference"


@dataclass(frozen=True, slots=True)
class ImageReference:
    """A parsed, normalised image reference.

    ``domain`` is the lower-case registry host with its port (``docker.io``,
    ``harbor.corp:8443``, ``[::1]:5000``); ``path`` is the repository inside it
    (``library/nginx``).  ``tag`` and ``digest`` are as written, or None.
    """

    domain: str
    path: str
    tag: str | None = None
    digest: Digest | None = None

    @property
    def repository(self) -> str:
        """The full repository name, ``docker.io/library/nginx``."""
        return f"{self.domain}/{self.path}"

    @property
    def path_segments(self) -> tuple[str, ...]:
        """The repository path split on ``/``: ``("library", "nginx")``."""
        return tuple(self.path.split("/"))

    @property
    def normalized(self) -> str:
        """The full reference; ``:latest`` is implied when there is neither tag nor digest."""
        return self.repository + self._suffix()

    @property
    def familiar(self) -> str:
        """The short Docker form: ``nginx:latest``, ``team/app:v1``, ``harbor.corp/x/y:v1``.

        Unlike Docker's own familiar form, ``docker.io`` is kept when dropping it
        would make the first path component read as a host
        (``docker.io/a.b/c``), so the familiar form always means the same image.
        """
        name = self.repository
        if self.domain == DEFAULT_DOMAIN:
            first = self.path.partition("/")[0]
            # "docker.io/a.b/c" cannot drop its domain: "a.b/c" names host a.b.
            if not ("." in first or ":" in first or first == _LOCALHOST):
                name = self.path
            rest = self.path.removeprefix(_OFFICIAL_PREFIX)
            if rest != self.path and "/" not in rest:
                name = rest
        return name + self._suffix()

    @property
    def host(self) -> str:
        """The registry host without the port (an IPv6 address keeps its brackets)."""
        if self.domain.startswith("["):
            return self.domain[: self.domain.index("]") + 1]
        return self.domain.partition(":")[0]

    @property
    def port(self) -> int | None:
        """The registry port when one is written, else None."""
        after_host = self.domain[len(self.host) :]
        return int(after_host[1:]) if after_host else None

    def _suffix(self) -> str:
        if self.tag is None and self.digest is None:
            return ":" + DEFAULT_TAG
        suffix = f":{self.tag}" if self.tag is not None else ""
        return suffix + (f"@{self.digest}" if self.digest is not None else "")

    def __str__(self) -> str:
        return self.normalized


def _fail(text: str, problem: str) -> ReferenceError:
    return ReferenceError(f"invalid image reference {text!r}: {problem}")


def _split_domain(text: str, name: str) -> tuple[str, str]:
    """Split ``name`` into (lower-case domain, remainder) per Docker's rules."""
    first, slash, rest = name.partition("/")
    if not slash:
        return DEFAULT_DOMAIN, name
    looks_like_host = first == _LOCALHOST or "." in first or ":" in first
    if not looks_like_host:
        if first.lower() != first:
            raise _fail(
                text,
                f"the first component {first!r} has upper-case letters: repository names must be "
                "lower-case, and a registry host must contain '.' or ':' (or be 'localhost')",
            )
        return DEFAULT_DOMAIN, name
    _check_domain(text, first)
    domain = first.lower()
    if domain in _DOCKER_HUB_ALIASES:
        domain = DEFAULT_DOMAIN
    return domain, rest


def _check_domain(text: str, domain: str) -> None:
    if domain.startswith("["):
        end = domain.find("]")
        host, port_part = (domain, "") if end < 0 else (domain[: end + 1], domain[end + 1 :])
        if port_part and not port_part.startswith(":"):
            raise _fail(text, f"registry host {domain!r}: unexpected {port_part!r} after the IPv6 address")
        port = port_part[1:] if port_part else None
    else:
        host, colon, port_text = domain.partition(":")
        port = port_text if colon else None
    if not _HOST_RE.fullmatch(host):
        raise _fail(
            text,
            f"registry host {host!r} is not a valid host name, IPv4 address or bracketed IPv6 address",
        )
    if port is not None and not (port.isascii() and port.isdigit()):
        raise _fail(text, f"registry host {domain!r}: port {port!r} is not a number")


def _check_path(text: str, path: str) -> None:
    if not path:
        raise _fail(text, "the repository path is empty")
    for component in path.split("/"):
        if _PATH_COMPONENT_RE.fullmatch(component):
            continue
        if not component:
            raise _fail(text, "the repository path has an empty component ('//', or a '/' at an end)")
        if _PATH_COMPONENT_RE.fullmatch(component.lower()):
            raise _fail(text, f"repository name component {component!r} must be lower-case")
        raise _fail(
            text,
            f"repository name component {component!r} must be lower-case letters and digits, "
            "separated by one '.', one or two '_', or dashes",
        )


def _tag_problem(tag: str) -> str | None:
    if not tag:
        return "the tag after ':' is empty"
    if len(tag) > TAG_MAX_LENGTH:
        return f"the tag is {len(tag)} characters; the limit is {TAG_MAX_LENGTH}"
    if not TAG_PATTERN.fullmatch(tag):
        return f"tag {tag!r} must start with a letter, digit or '_' and contain only those and '.' or '-'"
    return None


def validate_tag(tag: str) -> str:
    """Return ``tag`` when it follows the tag grammar, ``[\\w][\\w.-]{0,127}`` (ASCII).

    Raises:
        ReferenceError: the tag is empty, longer than 128 characters, or has another character.
    """
    if not isinstance(tag, str):
        raise ReferenceError(f"a tag must be a string, not {type(tag).__name__}")
    problem = _tag_problem(tag)
    if problem is not None:
        raise ReferenceError(f"invalid tag {tag!r}: {problem}")
    return tag


def _check_digest(text: str, digest: str) -> Digest:
    try:
        return Digest(digest)
    except DigestError as exc:
        raise _fail(text, exc.message) from None


def parse_reference(text: str) -> ImageReference:
    """Parse and normalise an image reference such as ``nginx`` or ``harbor.corp:8443/team/app:v1``.

    Raises:
        ReferenceError: the text is not a string, is empty, has surrounding
            whitespace or a character outside the grammar, names an invalid
            host, port, repository path, tag or digest, or is too long.  The
            message quotes the reference and says what is wrong.
    """
    if not isinstance(text, str):
        raise ReferenceError(f"an image reference must be a string, not {type(text).__name__}")
    if not text:
        raise ReferenceError("invalid image reference '': it is empty")
    if text.strip() != text:
        raise _fail(text, "it has leading or trailing whitespace")
    if len(text) > _TEXT_MAX_LENGTH:
        raise ReferenceError(
            f"invalid image reference {text[:40]!r}... : it is {len(text)} characters, "
            f"longer than any valid reference"
        )
    for position, char in enumerate(text):
        if char not in _ALLOWED_CHARS:
            raise _fail(text, f"invalid character {char!r} at position {position}")
    if _IDENTIFIER_RE.fullmatch(text):
        raise _fail(text, "a 64-character hexadecimal string is an image ID, not a repository name")

    name_and_tag, at, digest = text.partition("@")
    domain, remainder = _split_domain(text, name_and_tag)
    path, colon, tag = remainder.partition(":")
    _check_path(text, path)
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = _OFFICIAL_PREFIX + path
    name_length = len(domain) + 1 + len(path)
    if name_length > NAME_MAX_LENGTH:
        raise _fail(text, f"the name is {name_length} characters; the limit is {NAME_MAX_LENGTH}")
    if colon:
        problem = _tag_problem(tag)
        if problem is not None:
            raise _fail(text, problem)
    return ImageReference(
        domain=domain,
        path=path,
        tag=tag if colon else None,
        digest=_check_digest(text, digest) if at else None,
    )


def normalize(text: str) -> str:
    """Return the normalised form of ``text``: ``nginx`` → ``docker.io/library/nginx:latest``.

    Raises:
        ReferenceError: as :func:`parse_reference`.
    """
    return parse_reference(text).normalized
