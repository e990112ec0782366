"""Secret values, and references to where a secret lives.

A :class:`Secret` wraps a registry password, token, API key or service-account
document so that it cannot leak by accident: every way Python has of turning
an object into text (``repr``, ``str``, ``format``, f-strings, logging,
tracebacks with locals) gives the same fixed redaction, it cannot be pickled,
and it is not a ``str`` so ``json.dumps`` refuses it.  :meth:`Secret.reveal`
is the one deliberate way to read the value.

Configuration never holds a secret inline; it holds a reference such as
``env:REGISTRY_TOKEN`` or ``file:/run/secrets/registry``.
:func:`parse_secret_reference` checks that syntax here, without I/O;
``harbourmaster.vault.references`` resolves a reference to a :class:`Secret`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any, Literal, NoReturn, final

from harbourmaster.errors import BadInput

__all__ = [
    "REDACTED",
    "Secret",
    "SecretReference",
    "SecretReferenceError",
    "parse_secret_reference",
]

#: What every textual form of a :class:`Secret` shows.  Fixed, so it says
#: nothing about the value, not even its length.
REDACTED = "Secret('**********')"

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@final
class Secret:
    """A secret value that only :meth:`reveal` gives back.

    Two secrets compare equal when their values are equal; the comparison
    takes the same time whatever the values (see :meth:`equals`).  A secret
    never equals a ``str``, so ``secret == "guess"`` is always false.
    Secrets are immutable and unhashable.
    """

    __slots__ = ("__value",)
    __value: str

    def __init__(self, value: str) -> None:
        """Wrap ``value``.

        Raises:
            TypeError: ``value`` is not a ``str`` (the message names only its type).
        """
        if not isinstance(value, str):
            raise TypeError(f"Secret takes a str, not {type(value).__name__}")
        object.__setattr__(self, "_Secret__value", value)

    def reveal(self) -> str:
        """The secret value.  Call this only where the value is handed to its consumer."""
        return self.__value

    def equals(self, other: Secret) -> bool:
        """Whether ``other`` holds the same value, compared in constant time.

        Both values are hashed first so that not even their lengths influence
        the time taken.
        """
        if not isinstance(other, Secret):
            return False
        mine = hashlib.sha256(self.__value.encode("utf-8", "surrogatepass")).digest()
        theirs = hashlib.sha256(other.reveal().encode("utf-8", "surrogatepass")).digest()
        return hmac.compare_digest(mine, theirs)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return self.equals(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # a hash of the value would be a probe

    def __bool__(self) -> bool:
        return self.__value != ""

    def __repr__(self) -> str:
        return REDACTED

    def __str__(self) -> str:
        return REDACTED

    def __format__(self, format_spec: str) -> str:
        return REDACTED

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("Secret is immutable")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError("Secret is immutable")

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled; store it sealed by the vault instead")

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError("a Secret cannot be pickled; store it sealed by the vault instead")

    def __copy__(self) -> Secret:
        return self  # immutable, so a copy is the object itself

    def __deepcopy__(self, memo: dict[int, object]) -> Secret:
        return self


class SecretReferenceError(BadInput):
    """A secret reference is malformed, or cannot be resolved.

    The message names the configuration field, and for a resolvable reference
    the variable or file, but never any text that might be the secret.
    """

    kind = "secret-reference"


@dataclass(frozen=True, slots=True)
class SecretReference:
    """Where a secret lives: ``env:VAR`` or ``file:/absolute/path``."""

    scheme: Literal["env", "file"]
    target: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.target}"


_INLINE_HINT = "secrets must be referenced as env:VAR or file:/path, never inline"


def parse_secret_reference(text: str, *, field: str) -> SecretReference:
    """Parse ``env:VAR`` or ``file:/absolute/path`` given for configuration ``field``.

    Nothing of ``text`` is ever repeated in an error: if it is not a
    reference, it may well be the secret itself, pasted inline.

    Raises:
        SecretReferenceError: ``text`` is not a well-formed reference.  The
            message names ``field`` and what is wrong.
    """
    if not isinstance(text, str):
        raise SecretReferenceError(f"{field}: {_INLINE_HINT}")
    scheme, sep, target = text.partition(":")
    if not sep or scheme not in ("env", "file"):
        raise SecretReferenceError(f"{field}: {_INLINE_HINT}")
    if scheme == "env":
        if not _ENV_NAME.fullmatch(target):
            raise SecretReferenceError(
                f"{field}: an env: reference must name an environment variable "
                "(letters, digits and '_', not starting with a digit)"
            )
        return SecretReference(scheme="env", target=target)
    if not target.startswith("/"):
        raise SecretReferenceError(f"{field}: a file: reference must give an absolute path (file:/path)")
    if "\x00" in target or any(ch in target for ch in "\r\n"):
        raise SecretReferenceError(f"{field}: a file: reference must not contain NUL or line breaks")
    return SecretReference(scheme="file", target=target)
