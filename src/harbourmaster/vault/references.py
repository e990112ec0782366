"""Resolving secret references (``env:VAR``, ``file:/path``) to :class:`Secret` values.

The syntax is checked in :mod:`harbourmaster.domain.secret`; this module does
the reading.  Errors name the configuration field and the variable or file,
never what was read.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from harbourmaster.domain.secret import Secret, SecretReference, parse_secret_reference
from harbourmaster.vault.interface import UnresolvedSecretError

__all__ = ["MAX_SECRET_FILE_BYTES", "HostFiles", "read_host_file", "resolve_secret_reference"]

#: A secret file larger than this is refused rather than read (a service
#: account JSON document is a few kB).
MAX_SECRET_FILE_BYTES = 1024 * 1024


def resolve_secret_reference(
    ref: SecretReference | str,
    *,
    field: str,
    environ: Mapping[str, str] | None = None,
    guard: HostFiles | None = None,
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
        if guard is not None:
            guard.check_variable(ref.target, field=field)
        value = env.get(ref.target)
        if value is None:
            raise UnresolvedSecretError(f"{field}: environment variable {ref.target} is not set")
        if value == "":
            raise UnresolvedSecretError(f"{field}: environment variable {ref.target} is empty")
        return Secret(value)
    return Secret(_read_secret_file(ref.target, field=field, guard=guard))


#: Environment variables a reference may never name: harbourmaster's own
#: settings carry the master key and the database URL (with its password).
PROTECTED_VARIABLE_PREFIX = "HARBOURMASTER_"
#: The files SQLite keeps beside a database.
_JOURNALS = ("-wal", "-shm", "-journal")


@dataclass(frozen=True, slots=True)
class HostFiles:
    """What a reference resolved on this host may not read: harbourmaster's own secrets.

    ``directories`` (the data directory) are refused as a whole, with every
    symlink resolved; ``files`` (the database and its journals wherever they
    live) are refused by path and by inode, so neither a symlink nor a hard
    link leads into them.  Variables named ``HARBOURMASTER_*`` are refused.
    """

    directories: tuple[Path, ...] = ()
    files: tuple[Path, ...] = ()

    @classmethod
    def protecting(cls, *, directories: Iterable[Path], files: Iterable[Path]) -> HostFiles:
        return cls(tuple(directories), tuple(files))

    def check_variable(self, name: str, *, field: str) -> None:
        if name.upper().startswith(PROTECTED_VARIABLE_PREFIX):
            raise UnresolvedSecretError(
                f"{field}: environment variable {name} is one of harbourmaster's own settings "
                "and may not be used as a secret"
            )

    def _protected_inodes(self) -> set[tuple[int, int]]:
        found: set[tuple[int, int]] = set()
        paths: list[Path] = list(self.files)
        for directory in self.directories:
            try:
                paths.extend(p for p in directory.rglob("*"))
            except OSError:
                continue
        for path in paths:
            for candidate in (path, *(path.with_name(path.name + x) for x in _JOURNALS)):
                try:
                    st = candidate.stat()
                except OSError:
                    continue
                found.add((st.st_dev, st.st_ino))
        return found

    def check_path(self, path: str, *, field: str) -> None:
        """Refuse ``path`` when it (or what a symlink in it leads to) is protected.

        Raises:
            UnresolvedSecretError: the path leads into harbourmaster's data directory or database.
        """
        real = Path(os.path.realpath(path))
        for directory in self.directories:
            if real.is_relative_to(Path(os.path.realpath(directory))):
                raise self._refused(path, field)
        for file in self.files:
            protected = Path(os.path.realpath(file))
            siblings = {protected, *(protected.with_name(protected.name + x) for x in _JOURNALS)}
            if real in siblings:
                raise self._refused(path, field)

    def check_opened(self, fd: int, path: str, *, field: str) -> None:
        """Refuse an opened file that is one of the protected files (a hard link or a swapped symlink)."""
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) in self._protected_inodes():
            raise self._refused(path, field)

    @staticmethod
    def _refused(path: str, field: str) -> UnresolvedSecretError:
        return UnresolvedSecretError(
            f"{field}: {path} is harbourmaster's own data (master key, database or data directory) "
            "and may not be used as a secret"
        )


def read_host_file(
    path: str,
    *,
    field: str,
    guard: HostFiles | None,
    limit: int = MAX_SECRET_FILE_BYTES,
    what: str = "file",
) -> bytes:
    """Read a regular file of at most ``limit`` bytes from this host, through ``guard``.

    Raises:
        UnresolvedSecretError: missing, unreadable, not a regular file, too large, or protected.
    """
    if guard is not None:
        guard.check_path(path, field=field)
    try:
        # O_NONBLOCK: opening a FIFO must not hang; it is refused below.
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise UnresolvedSecretError(f"{field}: {what} {path} does not exist") from None
    except OSError as exc:
        raise UnresolvedSecretError(f"{field}: {what} {path} cannot be opened: {exc.strerror}") from None
    try:
        if guard is not None:
            guard.check_opened(fd, path, field=field)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnresolvedSecretError(f"{field}: {what} {path} is not a regular file")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise UnresolvedSecretError(f"{field}: {what} {path} cannot be read: {exc.strerror}") from None
    finally:
        os.close(fd)
    if size > limit:
        raise UnresolvedSecretError(f"{field}: {what} {path} is larger than {limit} bytes")
    return b"".join(chunks)


def _read_secret_file(path: str, *, field: str, guard: HostFiles | None = None) -> str:
    data = read_host_file(path, field=field, guard=guard, what="secret file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UnresolvedSecretError(f"{field}: secret file {path} is not UTF-8 text") from None
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith("\n"):
        text = text[:-1]
    if text == "":
        raise UnresolvedSecretError(f"{field}: secret file {path} is empty")
    return text
