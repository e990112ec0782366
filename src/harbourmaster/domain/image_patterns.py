r"""Anchored regular expressions that accept exactly the image strings a registry location covers.

Engines such as Kyverno match images as raw strings.  Their ``*`` wildcard crosses ``/``, is
case-sensitive, and cannot say "a Docker Hub short name", so ``harbor.corp/payments*`` admits
``harbor.corp/payments-evil/x`` and no wildcard admits ``nginx`` without admitting everything.
:func:`location_regex` instead writes, for one :class:`~harbourmaster.domain.matching.RegistryLocation`,
a regex over the *written* reference that holds the reference grammar of
:mod:`harbourmaster.domain.reference` and the segment-boundary rule of
:mod:`harbourmaster.domain.matching`:

* the host compares case-insensitively, ports literally (``harbor.corp:443`` is another name), and a
  ``/`` must follow it (``harbor.corp.evil.io`` and ``harbor.corp@x`` never match);
* the scope ends at a ``/`` or at the tag or digest (``payments`` never covers ``payments-evil`` or
  ``payments.evil``), and every path component follows the grammar (no ``..``, ``//`` or capitals);
* on Docker Hub the aliases (``index.docker.io`` ...) and the short forms (``nginx`` is
  ``docker.io/library/nginx``; ``team/app`` is ``docker.io/team/app`` unless ``team`` reads as a host)
  are written out;
* the tag and the digest (sha256 or sha512, lower-case hex) follow their grammars.

The expressions use only the syntax Go's ``regexp`` (Kyverno), Rust's ``regex`` (regorus) and
Python's ``re`` share: no look-around, no back-references.  Two rules of the reference grammar are
not expressible that way and are left to the caller: a bare 64-hex string is an image ID, not a name
(:data:`IMAGE_ID_REGEX`), and a name is at most 255 characters.
"""

from __future__ import annotations

import re

from harbourmaster.domain.matching import (
    DOCKER_HUB_ALIASES,
    LocationError,
    RegistryLocation,
    parse_registry_location,
)
from harbourmaster.domain.reference import DEFAULT_DOMAIN

__all__ = ["IMAGE_ID_REGEX", "location_of_regex", "location_regex"]

#: A bare 64-hex string: an image ID on the node, which the reference grammar refuses as a name.
IMAGE_ID_REGEX = "^[a-f0-9]{64}$"

_COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_TAG = "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = "(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})"
_SUFFIX = f"(?::{_TAG})?(?:@{_DIGEST})?"
_DOCKER_HOSTS = (DEFAULT_DOMAIN, *sorted(DOCKER_HUB_ALIASES))
_LOCALHOST = "localhost"


def _escape(text: str) -> str:
    """Escape the characters of hosts and scopes that are special in a regex (``.``, ``[``, ``]``).

    ``re.escape`` would also escape ``-`` and ``:``, which older Rust ``regex`` versions refuse."""
    return "".join("\\" + c if c in ".[]" else c for c in text)


def _host(host: str) -> str:
    # "localhost" is a host only when written in lower case ("LOCALHOST/x" is an invalid name).
    return _escape(host) if host == _LOCALHOST else f"(?i:{_escape(host)})"


def _alnum_except(word: str) -> str:
    """``[a-z0-9]+`` strings other than ``word`` (a regex without look-ahead)."""
    n = len(word)
    options = [f"[a-z0-9]{{{n + 1},}}"]
    if n > 1:
        options.append(f"[a-z0-9]{{1,{n - 1}}}")
    for i, char in enumerate(word):
        rest = f"[a-z0-9]{{{n - i - 1}}}" if n - i - 1 else ""
        options.append(f"{_escape(word[:i])}{_not_char_class(char)}{rest}")
    return "(?:" + "|".join(options) + ")"


def _not_char_class(char: str) -> str:
    """``[a-z0-9]`` without ``char``, written as ranges (no class subtraction in RE2)."""
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
    return "[" + "".join(c for c in alphabet if c != char) + "]"


def _first_component_not_host() -> str:
    """A first path component that does not read as a host: no ``.`` and not ``localhost``."""
    with_separator = "[a-z0-9]+(?:(?:_|__|-+)[a-z0-9]+)+"
    plain = _alnum_except(_LOCALHOST)
    return f"(?:{with_separator}|{plain})"


def _docker_hub(scope: tuple[str, ...]) -> list[str]:
    hosts = "(?i:" + "|".join(_escape(h) for h in _DOCKER_HOSTS) + ")"
    forms: list[str] = []
    if not scope:
        forms.append(f"{hosts}/{_COMPONENT}(?:/{_COMPONENT})+")
        forms.append(f"{_first_component_not_host()}(?:/{_COMPONENT})+")
        forms.append(f"(?:{hosts}/)?{_COMPONENT}")
        return forms
    literal = "/".join(_escape(s) for s in scope)
    more = f"(?:/{_COMPONENT})+" if len(scope) == 1 else f"(?:/{_COMPONENT})*"
    forms.append(f"{hosts}/{literal}{more}")
    first = scope[0]
    if "." not in first and first != _LOCALHOST:
        forms.append(f"{literal}{more}")
    # A one-component name means library/<name>.
    if scope == ("library",):
        forms.append(f"(?:{hosts}/)?{_COMPONENT}")
    elif len(scope) == 2 and scope[0] == "library":
        forms.append(f"(?:{hosts}/)?{_escape(scope[1])}")
    return forms


def location_regex(location: RegistryLocation) -> str:
    """An anchored regex accepting the written references that ``location`` covers (see the module)."""
    if location.host == DEFAULT_DOMAIN:
        forms = _docker_hub(location.scope)
    elif location.scope:
        literal = "/".join(_escape(s) for s in location.scope)
        forms = [f"{_host(location.host)}/{literal}(?:/{_COMPONENT})*"]
    else:
        forms = [f"{_host(location.host)}/{_COMPONENT}(?:/{_COMPONENT})*"]
    return "^(?:" + "|".join(forms) + ")" + _SUFFIX + "$"


_HEAD = re.compile(
    r"\^\(\?:\(\?i:(?P<host>(?:[^()|\\]|\\.)+)(?:\|[^()]*)?\)/(?P<scope>(?:[a-z0-9_/-]|\\\.)*)"
)
_LOCAL_HEAD = re.compile(r"\^\(\?:(?P<host>localhost)/(?P<scope>(?:[a-z0-9_/-]|\\\.)*)")


def location_of_regex(regex: str) -> RegistryLocation | None:
    """The location whose :func:`location_regex` is exactly ``regex``, or None (a hand-written or
    edited expression: what it admits cannot be named as a registry prefix)."""
    found = _HEAD.match(regex) or _LOCAL_HEAD.match(regex)
    if found is None:
        return None
    host = found["host"].replace("\\", "")
    scope = found["scope"].replace("\\", "").rstrip("/")
    try:
        location = parse_registry_location(f"https://{host}", scope or None)
    except LocationError:
        return None
    return location if location_regex(location) == regex else None
