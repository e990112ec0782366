"""Content digests, defined once: the OCI image spec's digest grammar and its registered algorithms.

The grammar (image-spec ``descriptor.md``, "Digests")::

    digest              := algorithm ":" encoded
    algorithm           := algorithm-component (algorithm-separator algorithm-component)*
    algorithm-component := [a-z0-9]+
    algorithm-separator := [+._-]
    encoded             := [a-zA-Z0-9=_-]+

and the algorithms the spec registers, each with its encoding:

    sha256  64 lower-case hex digits   (implementations MUST support it)
    sha512  128 lower-case hex digits  (implementations MAY support it)

A :class:`Digest` is one of those: a registered algorithm and exactly its hex.
Every part of harbourmaster that reads a digest (image references, manifests
and descriptors, registry headers, OCI layouts on disk, the SBOM store) takes
it through :func:`parse_digest`, so they all accept and refuse the same strings.

Deliberate choice: the spec says implementations SHOULD let a grammatical digest
of an unregistered algorithm "pass validation" (as valid but unsupported).
harbourmaster refuses it instead, because a digest here is a pin: an approval,
an SBOM or a decision is bound to it, and a digest whose content harbourmaster
cannot verify pins nothing.  ``sha384`` is such an algorithm: the Go
``go-digest`` library and the distribution reference grammar know it, the OCI
image spec does not register it, so it is refused with a message saying so
(earlier versions of ``domain/reference.py`` accepted it; ``registry/media.py``
did not).  The refusal tells a grammatical-but-unregistered digest apart from a
string that is not a digest at all.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

from harbourmaster.errors import BadInput

__all__ = [
    "DIGEST_MAX_LENGTH",
    "REGISTERED_ALGORITHMS",
    "Digest",
    "DigestError",
    "parse_digest",
]

#: The algorithms the OCI image spec registers, and the hex length of each.
REGISTERED_ALGORITHMS: Final = {"sha256": 64, "sha512": 128}
#: The longest valid digest (``sha512:`` and 128 hex digits).
DIGEST_MAX_LENGTH: Final = len("sha512:") + 128

_GRAMMAR = re.compile(r"([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)")
_LOWER_HEX = re.compile(r"[a-f0-9]+")
# Longer input is refused before any regular expression sees it (a bound, not a rule of the spec:
# nothing registered comes near it).
_TEXT_MAX_LENGTH = 1024


class DigestError(BadInput, ValueError):
    """A string is not a digest of a registered algorithm.

    It is a :class:`ValueError` too, so parsers that report malformed fields as
    ``ValueError`` (manifests, descriptors) keep doing so.
    """

    kind = "invalid-digest"


def _problem(text: str) -> str | None:
    """Why ``text`` is not a :class:`Digest`, or None when it is one."""
    if len(text) > _TEXT_MAX_LENGTH:
        return f"digest {text[:40]!r}... is {len(text)} characters, longer than any digest"
    match = _GRAMMAR.fullmatch(text)
    if match is None:
        return (f"digest {text!r} is not 'algorithm:encoded' (algorithm: lower-case letters and digits, "
                "e.g. sha256; encoded: hex digits)")
    algorithm, encoded = match.group(1), match.group(2)
    expected = REGISTERED_ALGORITHMS.get(algorithm)
    if expected is None:
        return (f"digest {text!r}: algorithm {algorithm!r} is not supported (the OCI image spec registers "
                "sha256 and sha512)")
    if not _LOWER_HEX.fullmatch(encoded):
        return f"digest {text!r}: a {algorithm} digest must be lower-case hex digits (0-9, a-f)"
    if len(encoded) != expected:
        return f"digest {text!r}: a {algorithm} digest has {expected} hex digits, not {len(encoded)}"
    return None


class Digest(str):
    """A content digest: a registered algorithm and its lower-case hex, ``sha256:<64 hex>``.

    A ``str`` subclass, so a digest goes into URLs, JSON, database columns and
    comparisons with plain strings unchanged; constructing one validates it.
    """

    __slots__ = ()

    def __new__(cls, text: str) -> Digest:
        """Raises :class:`DigestError` when ``text`` is not a digest (see :func:`parse_digest`)."""
        if type(text) is cls:  # already checked
            return text
        if not isinstance(text, str):
            raise DigestError(f"a digest must be a string, not {type(text).__name__}")
        problem = _problem(text)
        if problem is not None:
            raise DigestError(problem)
        return super().__new__(cls, text)

    @classmethod
    def of(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        """The digest of ``data`` with a registered ``algorithm``.

        Raises:
            DigestError: ``algorithm`` is not registered.
        """
        if algorithm not in REGISTERED_ALGORITHMS:
            raise DigestError(f"digest algorithm {algorithm!r} is not supported (sha256, sha512)")
        return cls(f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}")

    @property
    def algorithm(self) -> str:
        """``sha256`` or ``sha512``."""
        return self.partition(":")[0]

    @property
    def hex(self) -> str:
        """The encoded part: the lower-case hex digits."""
        return self.partition(":")[2]

    def matches(self, data: bytes) -> bool:
        """Whether ``data`` is the content this digest names."""
        return hashlib.new(self.algorithm, data).hexdigest() == self.hex


def parse_digest(text: str) -> Digest:
    """``text`` as a :class:`Digest`.

    Raises:
        DigestError: ``text`` does not follow the digest grammar, names an algorithm the OCI
            image spec does not register (``sha384``, ``md5``...), or has the wrong number of
            hex digits or upper-case hex.  The message quotes the digest and says which.
    """
    return Digest(text)
