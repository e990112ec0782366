"""Image platforms, defined once: the OCI ``platform`` object, parsed and matched as containerd does.

A platform is what an image index entry (or an image config) says the image
runs on: ``os``, ``architecture``, and optionally ``variant`` (the CPU variant,
``v7`` for 32-bit ARM), ``os.version`` and ``os.features`` (image-index.md,
"platform").  Users write one as a containerd specifier,
``OS[(OS.VERSION)]/ARCH[/VARIANT]``: ``linux/amd64``, ``linux/arm64/v8``,
``windows(10.0.17763)/amd64``.

:func:`parse_platform` and :meth:`Platform.from_oci` keep the values as
written; :meth:`Platform.normalized` applies containerd's normalisation
(``platforms.Normalize``): lower case; ``macos`` is ``darwin``; ``x86_64`` and
``x86-64`` are ``amd64``, whose default variant ``v1`` is written as no variant;
``aarch64`` is ``arm64``, whose default variant ``v8`` (``8``, ``v8.0``) is
written as no variant (``9``, ``9.0``, ``v9.0`` are ``v9``); ``i386`` is ``386``;
``armhf`` is ``arm/v7``, ``armel`` is ``arm/v6``, and ``arm`` without a variant
is ``arm/v7``.  So ``linux/arm64/v8`` and ``linux/arm64`` are the same platform,
as are ``linux/amd64`` and ``linux/x86_64``.

:meth:`Platform.matches` is containerd's matcher (``platforms.NewMatcher``):
os, architecture and variant equal after normalisation; in addition, an
``os.version`` the wanted platform names must be the candidate's (or a prefix
of it at a ``.``, as containerd's Windows matcher compares build numbers), and
every ``os.features`` entry it names must be among the candidate's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from harbourmaster.errors import BadInput

__all__ = ["DEFAULT_PLATFORM", "Platform", "PlatformError", "parse_platform"]

# containerd's specifier grammar: components are [A-Za-z0-9_.-]+, the OS may carry "(os.version)".
_COMPONENT = re.compile(r"[A-Za-z0-9_.-]+")
_OS = re.compile(r"[A-Za-z0-9_-]+")
_OS_AND_VERSION = re.compile(r"([A-Za-z0-9_-]+)(?:\(([A-Za-z0-9_.-]+)\))?")
_OS_VERSION = re.compile(r"[A-Za-z0-9_.-]*")
_FEATURE = re.compile(r"[A-Za-z0-9_.+-]+")
_TEXT_MAX_LENGTH = 256

_OS_ALIASES: Final = {"macos": "darwin"}


class PlatformError(BadInput, ValueError):
    """A platform specifier or ``platform`` object is malformed."""

    kind = "invalid-platform"


def _normal_arch(architecture: str, variant: str) -> tuple[str, str]:
    """containerd's ``normalizeArch``."""
    arch, var = architecture.lower(), variant.lower()
    if arch == "i386":
        return "386", ""
    if arch in ("x86_64", "x86-64", "amd64"):
        return "amd64", "" if var == "v1" else var
    if arch in ("aarch64", "arm64"):
        if var in ("8", "v8", "v8.0"):
            var = ""
        elif var in ("9", "9.0", "v9.0"):
            var = "v9"
        return "arm64", var
    if arch == "armhf":
        return "arm", "v7"
    if arch == "armel":
        return "arm", "v6"
    if arch == "arm":
        if var in ("", "7"):
            var = "v7"
        elif var in ("5", "6", "8"):
            var = "v" + var
        return "arm", var
    return arch, var


@dataclass(frozen=True, slots=True, kw_only=True)
class Platform:
    """An OCI ``platform``: ``os``, ``architecture``, ``variant``, ``os.version`` and ``os.features``.

    Values are kept as written; compare platforms with :meth:`matches` (or
    compare :meth:`normalized` forms), not with ``==``.  An image config may
    lack ``os`` or ``architecture``; then they are empty strings.

    Raises (on construction):
        PlatformError: a value contains characters outside containerd's specifier
            grammar (``[A-Za-z0-9_.-]``), so it could not be written and read back.
    """

    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        for name in ("os", "architecture", "variant"):
            value = getattr(self, name)
            if not isinstance(value, str) or (value and not _COMPONENT.fullmatch(value)):
                raise PlatformError(f"platform {name} {value!r} may only contain letters, digits, '_', '.' "
                                    "and '-'")
        if self.os and not _OS.fullmatch(self.os):
            raise PlatformError(f"platform os {self.os!r} may only contain letters, digits, '_' and '-'")
        if not isinstance(self.os_version, str) or not _OS_VERSION.fullmatch(self.os_version):
            raise PlatformError(f"platform os.version {self.os_version!r} may only contain letters, digits, "
                                "'_', '.' and '-'")
        if not isinstance(self.os_features, tuple) or not all(
                isinstance(f, str) and _FEATURE.fullmatch(f) for f in self.os_features):
            raise PlatformError(f"platform os.features {self.os_features!r} must be a tuple of names")
        if self.variant and not self.architecture:
            raise PlatformError(f"platform variant {self.variant!r} needs an architecture")
        if self.os_version and not self.os:
            raise PlatformError(f"platform os.version {self.os_version!r} needs an os")

    def normalized(self) -> Platform:
        """containerd's normalisation (see the module docstring); ``os.features`` sorted, without repeats."""
        os_name = self.os.lower()
        os_name = _OS_ALIASES.get(os_name, os_name)
        arch, variant = _normal_arch(self.architecture, self.variant) if self.architecture else ("", "")
        return Platform(os=os_name, architecture=arch, variant=variant, os_version=self.os_version,
                        os_features=tuple(sorted(set(self.os_features))))

    def matches(self, candidate: Platform) -> bool:
        """Whether ``candidate`` (an index entry's platform) is this wanted platform.

        os, architecture and variant must be equal after normalisation, so
        ``linux/arm64`` matches an entry ``linux/arm64/v8`` and ``linux/amd64``
        does not match ``linux/amd64/v3``; an ``os.version`` named here must be
        the candidate's or a ``.``-prefix of it; ``os.features`` named here must
        all be the candidate's.
        """
        want, have = self.normalized(), candidate.normalized()
        if (want.os, want.architecture, want.variant) != (have.os, have.architecture, have.variant):
            return False
        if want.os_version and not (have.os_version == want.os_version
                                    or have.os_version.startswith(want.os_version + ".")):
            return False
        return set(want.os_features) <= set(have.os_features)

    @classmethod
    def from_oci(cls, obj: Mapping[str, object], *, where: str = "platform") -> Platform:
        """A platform from an OCI ``platform`` object or an image config (``os``, ``architecture``,
        ``variant``, ``os.version``, ``os.features``).

        Raises:
            PlatformError: ``os`` or ``architecture`` is missing or not a non-empty string, or a
                field has the wrong type or characters; the message names ``where`` and the field.
        """
        values: dict[str, str] = {}
        for key in ("os", "architecture", "variant", "os.version"):
            value = obj.get(key)
            if value is None and key in ("variant", "os.version"):
                continue
            if not isinstance(value, str) or (not value and key in ("os", "architecture")):
                raise PlatformError(f"{where}.{key} must be a non-empty string")
            values[key] = value
        features = obj.get("os.features")
        if features is not None and not (isinstance(features, list)
                                         and all(isinstance(f, str) for f in features)):
            raise PlatformError(f"{where}.os.features must be a list of strings")
        try:
            return cls(os=values["os"], architecture=values["architecture"],
                       variant=values.get("variant", ""), os_version=values.get("os.version", ""),
                       os_features=tuple(features or ()))
        except PlatformError as exc:
            raise PlatformError(f"{where}: {exc.message}") from None

    def to_oci(self) -> dict[str, object]:
        """The OCI ``platform`` object (only the fields that are set), as :meth:`from_oci` reads it."""
        out: dict[str, object] = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            out["os.version"] = self.os_version
        if self.os_features:
            out["os.features"] = list(self.os_features)
        if self.variant:
            out["variant"] = self.variant
        return out

    def __str__(self) -> str:
        """The containerd specifier ``OS[(OS.VERSION)]/ARCH[/VARIANT]`` (without ``os.features``)."""
        os_part = f"{self.os}({self.os_version})" if self.os_version else self.os
        return "/".join(x for x in (os_part, self.architecture, self.variant) if x)


#: What harbourmaster picks from a multi-platform index when no platform is named.
DEFAULT_PLATFORM: Final = Platform(os="linux", architecture="amd64")


def parse_platform(text: str) -> Platform:
    """Parse ``OS[(OS.VERSION)]/ARCH[/VARIANT]`` (``linux/amd64``, ``linux/arm64/v8``,
    ``windows(10.0.17763)/amd64``), keeping the values as written.

    Unlike containerd, a lone ``OS`` or ``ARCH`` is refused: harbourmaster runs on
    a server, so the host's own platform is no sensible default for the other half.

    Raises:
        PlatformError: not of that form, or a component outside ``[A-Za-z0-9_.-]``.
    """
    if not isinstance(text, str):
        raise PlatformError(f"a platform must be a string, not {type(text).__name__}")
    shown = text if len(text) <= _TEXT_MAX_LENGTH else text[:40] + "..."
    parts = text.split("/") if len(text) <= _TEXT_MAX_LENGTH else []
    if len(parts) not in (2, 3) or not all(parts):
        raise PlatformError(f"platform {shown!r} is not of the form OS/ARCH[/VARIANT], e.g. linux/amd64 or "
                            "linux/arm64/v8")
    os_match = _OS_AND_VERSION.fullmatch(parts[0])
    if os_match is None:
        raise PlatformError(f"platform {shown!r}: OS {parts[0]!r} must be letters, digits, '_' or '-', "
                            "optionally with '(OS.VERSION)'")
    for part in parts[1:]:
        if not _COMPONENT.fullmatch(part):
            raise PlatformError(f"platform {shown!r}: {part!r} may only contain letters, digits, '_', '.' "
                                "and '-'")
    return Platform(os=os_match.group(1), architecture=parts[1], variant=parts[2] if len(parts) == 3 else "",
                    os_version=os_match.group(2) or "")
