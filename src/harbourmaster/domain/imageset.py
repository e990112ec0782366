"""The ``ImageSet`` document that ``mirror`` and ``airgap export`` read: pure, no I/O.

.. code-block:: yaml

    apiVersion: harbourmaster.io/v1
    kind: ImageSet
    signer: ci-release                    # a signing key by name
    images:
      - docker.io/library/debian:12       # a tag, pinned to its digest when read
      - ghcr.io/corp/tool@sha256:...      # a digest
      - {name: quay.io/corp/app, tags: ['^v1\\.4\\.[0-9]+$']}   # tag regexes (full match)
      - {name: quay.io/corp/lib, semver: '>=2.1 <3'}            # a semver range over the tags
      - {name: harbor.corp/charts/web, tags: ['1.2.0']}         # an OCI artifact is carried like an image

:func:`parse_image_set` checks the whole document and reports every bad entry together, each with its
document path (``images[3].semver: ...``), as ``apply`` does; :meth:`ImageSetEntry.select` picks the
tags of a repository an entry names. A ``tags`` item that is a plain tag (no regex metacharacter) matches
that tag only; anything else is a regular expression that must match the whole tag.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from harbourmaster.domain.reference import ReferenceError, parse_reference
from harbourmaster.domain.versions._semver import SemverSyntaxError, semver_key
from harbourmaster.errors import BadInput

__all__ = [
    "API_VERSION",
    "KIND",
    "ImageSet",
    "ImageSetEntry",
    "ImageSetInvalid",
    "SemverRange",
    "parse_image_set",
]

API_VERSION: Final = "harbourmaster.io/v1"
KIND: Final = "ImageSet"
_TOP_LEVEL: Final = frozenset({"apiVersion", "kind", "signer", "images"})
_ENTRY_FIELDS: Final = frozenset({"name", "tags", "semver"})
_SIGNER: Final = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_PLAIN_TAG: Final = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_COMPARATOR: Final = re.compile(r"^(>=|<=|>|<|=|==)?v?([0-9][0-9A-Za-z.+-]*)$")
_MAX_IMAGES: Final = 10_000
_MAX_PATTERN: Final = 256


class ImageSetInvalid(BadInput):
    """The image set has problems; ``details`` names each by its document path."""

    kind = "image-set-invalid"


@dataclass(frozen=True, slots=True)
class SemverRange:
    """A set of comparators that must all hold (``>=2.1 <3``); a tag that is not a version is outside."""

    text: str
    comparators: tuple[tuple[str, tuple[Any, ...]], ...]

    @classmethod
    def parse(cls, text: str) -> SemverRange:
        """Raises: ValueError: a comparator is not ``OP VERSION`` (``>=``, ``>``, ``<=``, ``<``, ``=``)."""
        parts = text.split()
        if not parts:
            raise ValueError("an empty range")
        comparators = []
        for part in parts:
            match = _COMPARATOR.match(part)
            if match is None:
                raise ValueError(f"{part!r} is not a comparator such as >=2.1 or <3")
            op = match.group(1) or "="
            try:
                key = semver_key(match.group(2), allow_short=True)
            except SemverSyntaxError as exc:
                raise ValueError(f"{part!r}: {exc}") from None
            comparators.append(("=" if op == "==" else op, key))
        return cls(text, tuple(comparators))

    def contains(self, tag: str) -> bool:
        try:
            key = semver_key(tag.removeprefix("v"), allow_short=True)
        except SemverSyntaxError:
            return False
        for op, bound in self.comparators:
            holds = {
                ">=": key >= bound,
                ">": key > bound,
                "<=": key <= bound,
                "<": key < bound,
                "=": key == bound,
            }[op]
            if not holds:
                return False
        return True


@dataclass(frozen=True, slots=True)
class ImageSetEntry:
    """One entry: a repository and a tag or digest, or a repository with tag patterns or a semver range.

    ``repository`` is normalised (``docker.io/library/debian``); ``path`` is the entry's document path.
    """

    path: str
    repository: str
    tag: str | None = None
    digest: str | None = None
    patterns: tuple[str, ...] = ()
    semver: SemverRange | None = None
    _compiled: tuple[re.Pattern[str], ...] = field(default=(), repr=False, compare=False)

    @property
    def selects(self) -> bool:
        """Whether the entry picks tags from the repository's list (patterns or a semver range)."""
        return bool(self.patterns) or self.semver is not None

    @property
    def reference(self) -> str:
        """The reference of a single-image entry (``repo:tag``, ``repo@digest`` or ``repo:tag@digest``)."""
        text = self.repository
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text

    def select(self, tags: Iterable[str]) -> list[str]:
        """The tags of ``tags`` the entry picks, sorted (semver order for a range, else by name)."""
        if self.semver is not None:
            chosen = [t for t in tags if self.semver.contains(t)]
            return sorted(chosen, key=lambda t: semver_key(t.removeprefix("v"), allow_short=True))
        return sorted(t for t in tags if any(p.fullmatch(t) for p in self._compiled))


@dataclass(frozen=True, slots=True)
class ImageSet:
    """A parsed image set: its signer (a signing key's name) and its entries in document order."""

    entries: tuple[ImageSetEntry, ...]
    signer: str | None = None


def _pattern(text: str) -> re.Pattern[str]:
    if _PLAIN_TAG.match(text):
        return re.compile(re.escape(text))
    return re.compile(text)


def _entry(index: int, raw: object, problems: list[str]) -> ImageSetEntry | None:
    path = f"images[{index}]"
    if isinstance(raw, str):
        try:
            ref = parse_reference(raw)
        except ReferenceError as exc:
            problems.append(f"{path}: {exc.message}")
            return None
        # A reference without tag or digest means :latest, as everywhere else.
        tag = ref.tag if ref.tag is not None or ref.digest is not None else "latest"
        return ImageSetEntry(
            path, ref.repository, tag=tag, digest=None if ref.digest is None else str(ref.digest)
        )
    if not isinstance(raw, Mapping):
        problems.append(f"{path}: must be an image reference or a mapping with name and tags or semver")
        return None
    unknown = sorted(str(k) for k in raw if k not in _ENTRY_FIELDS)
    for key in unknown:
        problems.append(f"{path}.{key}: unknown field (name, tags, semver)")
    name = raw.get("name")
    repository = None
    if not isinstance(name, str) or not name:
        problems.append(f"{path}.name: a repository name is required")
    else:
        try:
            ref = parse_reference(name)
        except ReferenceError as exc:
            problems.append(f"{path}.name: {exc.message}")
        else:
            if ref.tag is not None or ref.digest is not None:
                problems.append(f"{path}.name: name the repository only; put tags in tags")
            else:
                repository = ref.repository
    tags, semver = raw.get("tags"), raw.get("semver")
    if (tags is None) == (semver is None):
        problems.append(f"{path}: give tags or semver (one of them)")
        return None
    patterns: list[str] = []
    compiled: list[re.Pattern[str]] = []
    if tags is not None:
        if not isinstance(tags, list) or not tags:
            problems.append(f"{path}.tags: must be a non-empty list of tags or regular expressions")
        else:
            for j, item in enumerate(tags):
                where = f"{path}.tags[{j}]"
                if not isinstance(item, str) or not item or len(item) > _MAX_PATTERN:
                    problems.append(
                        f"{where}: must be a tag or a regular expression of 1 to {_MAX_PATTERN} characters"
                    )
                    continue
                try:
                    compiled.append(_pattern(item))
                except re.error as exc:
                    problems.append(f"{where}: not a regular expression ({exc})")
                    continue
                patterns.append(item)
    parsed_range = None
    if semver is not None:
        if not isinstance(semver, str):
            problems.append(f"{path}.semver: must be a range such as '>=2.1 <3'")
        else:
            try:
                parsed_range = SemverRange.parse(semver)
            except ValueError as exc:
                problems.append(f"{path}.semver: {exc}")
    if repository is None:
        return None
    return ImageSetEntry(
        path, repository, patterns=tuple(patterns), semver=parsed_range, _compiled=tuple(compiled)
    )


def parse_image_set(document: object, *, source: str) -> ImageSet:
    """The image set ``document`` (a parsed YAML mapping) describes.

    Raises:
        ImageSetInvalid: naming ``source``, with every problem by its document path.
    """
    problems: list[str] = []
    if not isinstance(document, Mapping):
        raise ImageSetInvalid(f"{source}: an ImageSet document must be a mapping")
    if document.get("apiVersion") != API_VERSION:
        problems.append(f"apiVersion: must be {API_VERSION}")
    if document.get("kind") != KIND:
        problems.append(f"kind: must be {KIND}")
    for key in sorted(str(k) for k in document if k not in _TOP_LEVEL):
        problems.append(f"{key}: unknown field (apiVersion, kind, signer, images)")
    signer = document.get("signer")
    if signer is not None and (not isinstance(signer, str) or not _SIGNER.match(signer)):
        problems.append("signer: must be the name of a signing key (harbourmaster signing-key list)")
    images = document.get("images")
    entries: list[ImageSetEntry] = []
    if not isinstance(images, list) or not images:
        problems.append("images: must be a non-empty list")
    elif len(images) > _MAX_IMAGES:
        problems.append(f"images: at most {_MAX_IMAGES} entries, not {len(images)}")
    else:
        for index, raw in enumerate(images):
            entry = _entry(index, raw, problems)
            if entry is not None:
                entries.append(entry)
    if problems:
        raise ImageSetInvalid(f"{source}: {len(problems)} problem(s) in the image set", details=problems)
    return ImageSet(tuple(entries), signer if isinstance(signer, str) else None)
