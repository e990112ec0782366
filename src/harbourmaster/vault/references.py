"""Resolving secret references (``env:VAR``, ``file:/path``) to :class:`Secret` values.

The syntax is checked in :mod:`harbourmaster.domain.secret`; this module does
the reading.  Errors name the configuration field and the variable or file,
never what was read.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping

from harbourmaster.domain.secret import Secret, SecretReference, parse_secret_reference
from harbourmaster.vault.interface import UnresolvedSecretError

__all__ = ["MAX_SECRET_FILE_BYTES", "resolve_secret_reference"]

#: A secret file larger than this is refused rather than read (a service
#: account JSON document is a few kB).
MAX_SECRET_FILE_BYTES = 1024 * 1024


def resolve_secret_reference(
    ref: SecretReference | str,
    *,
    field: str,
    environ: Mapping[str, str] | None = None,
) -> Secret:
    """Read the secret that ``ref`` points to, for configuration ``field``.

    ``env:VAR`` reads ``environ`` (default: the process environment).
    ``file:/path`` reads a regular file as UTF-8 and strips one trailing
    newline (``\\n`` or ``\\r\\n``).

    Raises:
        SecretReferenceError: ``ref`` is a string that is not a reference.
        UnresolvedSecretError: the variable is not set, the file is missing,
            unreadable, not a regular file, too large or not UTF-8, or the
            value is empty.  The message names ``field`` and the variable
            or file.
    """
    if isinstance(ref, str):
        ref = parse_secret_reference(ref, field=field)
    if ref.scheme == "env":
        env = os.environ if environ is None else environ
        value = env.get(ref.target)
        if value is None:
            raise UnresolvedSecretError(f"{field}: environment variable {ref.target} is not set")
        if value == "":
            raise UnresolvedSecretError(f"{field}: environment variable {ref.target} is empty")
        return Secret(value)
    return Secret(_read_secret_file(ref.target, field=field))


def _read_secret_file(path: str, *, field: str) -> str:
    try:
        # O_NONBLOCK: opening a FIFO must not hang; it is refused below.
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise UnresolvedSecretError(f"{field}: secret file {path} does not exist") from None
    except OSError as exc:
        raise UnresolvedSecretError(f"{field}: secret file {path} cannot be opened: {exc.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnresolvedSecretError(f"{field}: secret file {path} is not a regular file")
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_SECRET_FILE_BYTES:
            chunk = os.read(fd, MAX_SECRET_FILE_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise UnresolvedSecretError(f"{field}: secret file {path} cannot be read: {exc.strerror}") from None
    finally:
        os.close(fd)
    if size > MAX_SECRET_FILE_BYTES:
        raise UnresolvedSecretError(
            f"{field}: secret file {path} is larger than {MAX_SECRET_FILE_BYTES} bytes"
        )
    try:
        text = b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError:
        raise UnresolvedSecretError(f"{field}: secret file {path} is not UTF-8 text") from None
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith("\n"):
        text = text[:-1]
    if text == "":
        raise UnresolvedSecretError(f"{field}: secret file {path} is empty")
    return text
