"""Where master keys are kept: an environment variable, or files in HARBOURMASTER_HOME.

Sources, in order of precedence:

1. ``HARBOURMASTER_MASTER_KEY`` (base64 of 32 bytes) is the primary key, and
   ``HARBOURMASTER_MASTER_KEY_PREVIOUS`` (optional, comma-separated base64
   keys) are accepted for opening.  The files below are then ignored.
2. ``$HARBOURMASTER_HOME/master.key`` (base64 text, mode 0600) is the primary
   key; ``master.key.next``, present while a rotation is under way, is
   accepted for opening.

Rotation with key files (the caller re-wraps the database in between):

* :func:`begin_rotation` writes a new key to ``master.key.next`` (or returns
  the one already there, so a crashed rotation resumes with the same key).
* The caller opens the keyring with :func:`load_keyring`, makes the new key
  primary with ``keyring.with_primary(new_key)``, and re-wraps every sealed
  secret in one transaction.
* :func:`commit_rotation` links the old key to ``master.key.<key_id>.retiring``
  (a hard link, so the step is repeatable), atomically renames
  ``master.key.next`` over ``master.key``, and then erases the old key:
  the ``.retiring`` file is overwritten, synced and removed.  With
  ``keep_retired`` the old key is kept instead, as
  ``master.key.<key_id>.retired`` (mode 0600), to open restored backups.

A crash at any point leaves a state that :func:`load_keyring` can open: until
the rename ``master.key`` is the old key and ``master.key.next`` the new one
(both accepted), and after it every secret is already wrapped under the new
``master.key``.  A ``.retiring`` file left by a crash after the rename is
erased by the next :func:`begin_rotation` or :func:`commit_rotation`.
Overwriting before removal is best effort: journalling or copy-on-write file
systems, snapshots and backups may still hold the old bytes.

With the environment source, the operator rotates: move the old value to
``HARBOURMASTER_MASTER_KEY_PREVIOUS``, set a new ``HARBOURMASTER_MASTER_KEY``,
re-wrap, then drop the previous value.  :func:`begin_rotation` refuses.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

from harbourmaster.vault.interface import MasterKeyError, RotationError
from harbourmaster.vault.keys import Keyring, MasterKey

__all__ = [
    "MASTER_KEY_ENV",
    "MASTER_KEY_FILE",
    "NEXT_KEY_FILE",
    "PREVIOUS_KEYS_ENV",
    "begin_rotation",
    "commit_rotation",
    "create_master_key_file",
    "key_files_stamp",
    "load_keyring",
    "pending_rotation",
    "read_master_key_file",
    "retired_key_path",
]

MASTER_KEY_ENV = "HARBOURMASTER_MASTER_KEY"
PREVIOUS_KEYS_ENV = "HARBOURMASTER_MASTER_KEY_PREVIOUS"
MASTER_KEY_FILE = "master.key"
NEXT_KEY_FILE = "master.key.next"
_RETIRING_SUFFIX = ".retiring"

_MAX_KEY_FILE = 4096


def retired_key_path(home: Path, key_id: str) -> Path:
    """Where :func:`commit_rotation` keeps the key with fingerprint ``key_id``."""
    return home / f"{MASTER_KEY_FILE}.{key_id}.retired"


def _retiring_key_path(home: Path, key_id: str) -> Path:
    """Where :func:`commit_rotation` holds the old key until it is erased."""
    return home / f"{MASTER_KEY_FILE}.{key_id}{_RETIRING_SUFFIX}"


def read_master_key_file(path: Path) -> MasterKey:
    """Read a key file written by :func:`create_master_key_file`.

    Raises:
        MasterKeyError: the file is missing, unreadable, not a regular file,
            accessible by group or others, or does not hold base64 of 32 bytes.
            The message names the path (and mode); never the content.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise MasterKeyError(f"master key file {path} does not exist") from None
    except OSError as exc:
        raise MasterKeyError(f"master key file {path} cannot be opened: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise MasterKeyError(f"master key file {path} is not a regular file")
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise MasterKeyError(
                f"master key file {path} is accessible by group or others (mode {mode:04o})",
                details=[f"restrict it with `chmod 600 {path}`; a master key must be private to its owner"],
            )
        raw = os.read(fd, _MAX_KEY_FILE + 1)
    except OSError as exc:
        raise MasterKeyError(f"master key file {path} cannot be read: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(raw) > _MAX_KEY_FILE:
        raise MasterKeyError(f"master key file {path} is too large to be a master key")
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise MasterKeyError(f"master key file {path}: the master key is not valid base64") from None
    return MasterKey.from_base64(text, source=f"master key file {path}")


def create_master_key_file(path: Path, key: MasterKey | None = None) -> MasterKey:
    """Write ``key`` (a new random one if omitted) to ``path`` with mode 0600.

    The key is written to a temporary file created with ``O_EXCL`` and mode
    0600, synced, and then hard-linked to ``path``, so ``path`` appears
    complete or not at all, is never readable by others, and an existing
    file is never overwritten.  A missing parent directory is created (0700).

    Raises:
        MasterKeyError: ``path`` already exists, or cannot be written.
    """
    key = key if key is not None else MasterKey.generate()
    path = Path(path)
    if os.path.lexists(path):
        raise MasterKeyError(f"{path} already exists; refusing to overwrite a master key")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise MasterKeyError(f"cannot create the directory {path.parent}: {exc.strerror}") from None
    temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    data = (key.export_base64().reveal() + "\n").encode("ascii")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            os.fchmod(fd, 0o600)  # the umask may have removed the owner's bits
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.link(temp, path)
    except FileExistsError:
        raise MasterKeyError(f"{path} already exists; refusing to overwrite a master key") from None
    except OSError as exc:
        raise MasterKeyError(f"cannot write the master key file {path}: {exc.strerror}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
    _sync_directory(path.parent)
    return key


def load_keyring(home: Path, environ: Mapping[str, str], *, include_retired: bool = False) -> Keyring:
    """The keyring from the environment or, failing that, the key files in ``home``.

    ``include_retired`` also accepts keys retired by earlier rotations for
    opening (to read a restored backup, for example).

    Raises:
        MasterKeyError: no key is configured, or a configured key is
            malformed or stored unsafely (the message names the variable or
            file, never the key).
    """
    if MASTER_KEY_ENV in environ:
        return _keyring_from_environ(environ)
    home = Path(home)
    main = home / MASTER_KEY_FILE
    if not os.path.lexists(main):
        raise MasterKeyError(
            f"no master key: {MASTER_KEY_ENV} is not set and {main} does not exist",
            details=[f"set {MASTER_KEY_ENV} to base64 of 32 random bytes, or create {main}"],
        )
    primary = read_master_key_file(main)
    others: list[MasterKey] = []
    if os.path.lexists(home / NEXT_KEY_FILE):
        others.append(read_master_key_file(home / NEXT_KEY_FILE))
    if include_retired:
        others.extend(read_master_key_file(p) for p in sorted(home.glob(f"{MASTER_KEY_FILE}.*.retired")))
    return Keyring(primary, others, source=str(main))


def key_files_stamp(home: Path, environ: Mapping[str, str]) -> tuple[object, ...] | None:
    """What changes when a rotation replaces the key files (None: the key comes from the environment).

    A long-running process compares it to reload its keyring after another
    process rotated the key, instead of sealing under a key that was erased.
    """
    if MASTER_KEY_ENV in environ:
        return None
    stamp: list[object] = []
    for name in (MASTER_KEY_FILE, NEXT_KEY_FILE):
        try:
            info = os.stat(Path(home) / name)
        except OSError:
            stamp.append(None)
            continue
        stamp.append((info.st_dev, info.st_ino, info.st_mtime_ns, info.st_size))
    return tuple(stamp)


def pending_rotation(home: Path) -> MasterKey | None:
    """The key in ``master.key.next`` if a rotation is under way, else ``None``.

    Raises:
        MasterKeyError: the next-key file exists but is unusable.
    """
    path = Path(home) / NEXT_KEY_FILE
    return read_master_key_file(path) if os.path.lexists(path) else None


def begin_rotation(home: Path, *, environ: Mapping[str, str] | None = None) -> MasterKey:
    """Start (or resume) a rotation: the key that will become primary.

    Writes a new key to ``master.key.next``; if that file already exists
    (an earlier rotation stopped before :func:`commit_rotation`), returns
    its key instead, since secrets may already be wrapped under it.

    Raises:
        RotationError: the master key comes from the environment.
        MasterKeyError: ``master.key`` is missing or unusable, or the new
            file cannot be written.
    """
    _refuse_environment(environ)
    home = Path(home)
    current = read_master_key_file(home / MASTER_KEY_FILE)
    pending = pending_rotation(home)
    _erase_leftover_keys(home, keep=[k for k in (current, pending) if k is not None])
    if pending is not None:
        return pending
    new = MasterKey.generate()
    if new.same_key(current):  # pragma: no cover - 2**-256
        raise RotationError("the new master key equals the current one")
    try:
        return create_master_key_file(home / NEXT_KEY_FILE, new)
    except MasterKeyError:
        # Another process began a rotation at the same moment: use its key.
        pending = pending_rotation(home)
        if pending is None:
            raise
        return pending


def commit_rotation(
    home: Path, *, environ: Mapping[str, str] | None = None, keep_retired: bool = False
) -> MasterKey:
    """Make ``master.key.next`` the master key, then erase the old key (or, with
    ``keep_retired``, keep it as ``master.key.<key_id>.retired``).

    Call it only after every sealed secret has been re-wrapped under the
    next key.  Returns the new primary key.

    Raises:
        RotationError: the key comes from the environment, no rotation is
            under way, or a retired-key file for the old key holds another key.
        MasterKeyError: a key file is unusable, or a file operation fails.
    """
    _refuse_environment(environ)
    home = Path(home)
    main, nxt = home / MASTER_KEY_FILE, home / NEXT_KEY_FILE
    if not os.path.lexists(nxt):
        raise RotationError(f"no master-key rotation is under way ({nxt} does not exist)")
    new = read_master_key_file(nxt)
    old = read_master_key_file(main)
    # A second name for the old key, so that it can be overwritten after the rename
    # (or kept); linked before the rename, so a crash in between loses nothing.
    held = retired_key_path(home, old.key_id) if keep_retired else _retiring_key_path(home, old.key_id)
    try:
        if os.path.lexists(held):
            if not read_master_key_file(held).same_key(old):
                raise RotationError(f"{held} exists and holds a different key; move it aside first")
        else:
            os.link(main, held)
        os.replace(nxt, main)
    except OSError as exc:
        raise MasterKeyError(f"cannot commit the master-key rotation in {home}: {exc.strerror}") from None
    _sync_directory(home)
    if not keep_retired:
        _erase_leftover_keys(home, keep=[new])
    return new


def _erase_leftover_keys(home: Path, *, keep: list[MasterKey]) -> None:
    """Erase every ``.retiring`` file that holds none of the keys in ``keep``.

    Raises:
        MasterKeyError: a file cannot be overwritten or removed.
    """
    for path in sorted(home.glob(f"{MASTER_KEY_FILE}.*{_RETIRING_SUFFIX}")):
        try:
            held = read_master_key_file(path)
        except MasterKeyError:
            held = None  # unreadable or unsafe: still ours to erase
        if held is not None and any(held.same_key(k) for k in keep):
            continue
        _erase_file(path)
    _sync_directory(home)


def _erase_file(path: Path) -> None:
    """Overwrite ``path`` with zeros, sync and remove it (when it is the file's only name)."""
    try:
        info = os.lstat(path)
        # With another name the bytes are still in use: only this name goes.
        if stat.S_ISREG(info.st_mode) and info.st_nlink == 1:
            fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                zeros = memoryview(bytes(os.fstat(fd).st_size))
                while zeros:
                    zeros = zeros[os.write(fd, zeros) :]
                os.fsync(fd)
            finally:
                os.close(fd)
        if not stat.S_ISDIR(info.st_mode):
            os.unlink(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise MasterKeyError(f"cannot erase the retired master key {path}: {exc.strerror}") from None


def _refuse_environment(environ: Mapping[str, str] | None) -> None:
    env = os.environ if environ is None else environ
    if MASTER_KEY_ENV in env:
        raise RotationError(
            f"the master key comes from {MASTER_KEY_ENV}; key files are not rotated",
            details=[
                f"to rotate, move the old value to {PREVIOUS_KEYS_ENV}, set a new {MASTER_KEY_ENV}, "
                f"re-wrap the stored secrets, then remove {PREVIOUS_KEYS_ENV}"
            ],
        )


def _keyring_from_environ(environ: Mapping[str, str]) -> Keyring:
    value = environ[MASTER_KEY_ENV]
    if not value.strip():
        raise MasterKeyError(f"{MASTER_KEY_ENV} is set but empty")
    primary = MasterKey.from_base64(value, source=MASTER_KEY_ENV)
    others = []
    for index, item in enumerate(environ.get(PREVIOUS_KEYS_ENV, "").split(",")):
        if item.strip():
            others.append(MasterKey.from_base64(item, source=f"{PREVIOUS_KEYS_ENV} (entry {index + 1})"))
    return Keyring(primary, others, source=MASTER_KEY_ENV)


def _sync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a directory; the rename itself is still atomic
    finally:
        os.close(fd)
