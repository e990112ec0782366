"""Engine, sessions and migrations.

SQLite (the embedded default) and PostgreSQL are both first-class.  Every
write goes through :meth:`Database.transaction`: one transaction per
operation, so a failed apply or request leaves nothing half-written.  On
SQLite transactions start with ``BEGIN IMMEDIATE`` so that concurrent writers
serialise instead of failing at commit, which the audit hash chain relies on.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from harbourmaster.store.interface import StoreError

if TYPE_CHECKING:
    # Alembic is imported only to migrate: checking that the schema is current does not need it.
    from alembic.config import Config

__all__ = ["Database", "StoreError"]

_MIGRATIONS = Path(__file__).with_name("migrations")
#: What SQLite keeps beside the database file; it creates them with the database file's mode.
_SQLITE_SIBLINGS = ("-wal", "-shm", "-journal")
#: The database holds sealed secrets and the audit log: its owner's alone.
_PRIVATE = 0o600


#: Alembic's table of applied revisions.
_VERSION_TABLE = "alembic_version"


def _chain_head(versions: Path) -> str | None:
    """The last revision of a linear migration history: each script's ``revision`` and
    ``down_revision`` string constants, read without running the scripts.  None when the
    history is anything but one chain (a merge, a branch, a computed value): ask alembic."""
    parents: dict[str, str | None] = {}
    for script in versions.glob("*.py"):
        assigned: dict[str, object] = {}
        for node in ast.parse(script.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Constant):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name):
                        assigned[target.id] = node.value.value
        revision, down = assigned.get("revision"), assigned.get("down_revision", ...)
        if not isinstance(revision, str) or not (down is None or isinstance(down, str)):
            return None
        parents[revision] = down
    heads = set(parents) - set(parents.values())
    roots = [r for r, down in parents.items() if down is None]
    dangling = any(d is not None and d not in parents for d in parents.values())
    if len(heads) != 1 or len(roots) != 1 or dangling:
        return None
    return heads.pop()


def _redact_url(url: str) -> str:
    """The database URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable database URL>"


class Database:
    """One database: an engine, a session factory and its migrations."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.display_url = _redact_url(url)
        try:
            kwargs: dict[str, Any] = {"echo": echo, "future": True}
            if url.startswith("sqlite"):
                kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            else:
                kwargs["pool_pre_ping"] = True
            self.engine: Engine = create_engine(url, **kwargs)
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise StoreError(f"cannot open database {self.display_url}: {type(exc).__name__}") from exc
        self.sqlite_path = _sqlite_file(self.engine)
        if self.engine.dialect.name == "sqlite":
            _sqlite_pragmas(self.engine, self.sqlite_path)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # Reads never take SQLite's write lock (see _sqlite_pragmas): with WAL they
        # see a consistent snapshot and run beside a writer.
        self._read_sessions = sessionmaker(
            self.engine.execution_options(harbourmaster_read_only=True), expire_on_commit=False
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def database_file(self) -> Path | None:
        """The SQLite database's file as the URL names it (None: another database)."""
        database = self.engine.url.database if self.dialect == "sqlite" else None
        return Path(database) if database else None

    def _alembic_config(self) -> Config:
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(_MIGRATIONS))
        cfg.attributes["engine"] = self.engine
        return cfg

    def upgrade(self) -> None:
        """Bring the schema to the newest migration."""
        from alembic import command

        try:
            command.upgrade(self._alembic_config(), "head")
        except SQLAlchemyError as exc:
            raise StoreError(
                f"migrating {self.display_url} failed: {exc.__class__.__name__}: "
                f"{str(exc.orig) if hasattr(exc, 'orig') else exc}"
            ) from exc

    def current_revision(self) -> str | None:
        """The schema revision the database is at (None: not migrated).

        Raises:
            StoreError: the database cannot be reached or read.
        """
        try:
            with self.engine.connect() as conn:
                if not inspect(conn).has_table(_VERSION_TABLE):
                    return None
                versions = list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
        except SQLAlchemyError as exc:
            raise StoreError(
                f"cannot read the schema revision of {self.display_url}: {exc.__class__.__name__}"
            ) from exc
        if len(versions) > 1:
            from alembic.runtime.migration import MigrationContext

            with self.engine.connect() as conn:
                return MigrationContext.configure(conn).get_current_revision()  # raises: several heads
        return str(versions[0]) if versions else None

    def head_revision(self) -> str | None:
        """The newest migration's revision, read from the scripts without importing alembic when the
        history is a simple chain (alembic decides anything else)."""
        head = _chain_head(_MIGRATIONS / "versions")
        if head is not None:
            return head
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(self._alembic_config()).get_current_head()

    def ensure_current(self) -> None:
        """Raise unless the schema is at the newest migration (run ``harbourmaster init``)."""
        current = self.current_revision()
        if current != self.head_revision():
            raise StoreError(
                f"database {self.display_url} is at schema revision {current or 'none'}, "
                f"expected {self.head_revision()}: run 'harbourmaster init' to migrate it"
            )

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session inside one transaction: committed on success, rolled back on any error."""
        session = self._sessions()
        try:
            with session.begin():
                yield session
        except SQLAlchemyError as exc:
            raise StoreError(f"database error on {self.display_url}: {_cause(exc)}") from exc
        finally:
            session.close()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session (on SQLite it takes no write lock, so reads run beside writers)."""
        session = self._read_sessions()
        try:
            yield session
        except SQLAlchemyError as exc:
            raise StoreError(f"database error on {self.display_url}: {_cause(exc)}") from exc
        finally:
            session.rollback()
            session.close()

    def restrict_file_modes(self) -> list[Path]:
        """Make an SQLite database file and its -wal/-shm/-journal files private (0600).

        Returns the files whose mode changed (none for other databases).

        Raises:
            StoreError: a file exists but its mode cannot be changed.
        """
        if self.sqlite_path is None:
            return []
        changed = []
        for path in (self.sqlite_path, *(Path(f"{self.sqlite_path}{s}") for s in _SQLITE_SIBLINGS)):
            try:
                mode = os.stat(path).st_mode & 0o7777
                if mode != _PRIVATE:
                    os.chmod(path, _PRIVATE)
                    changed.append(path)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise StoreError(f"cannot make the database file {path} private: {exc.strerror}") from None
        return changed

    def dispose(self) -> None:
        self.engine.dispose()


def _cause(exc: SQLAlchemyError) -> str:
    """The driver's own first line (never SQLAlchemy's text, which can include bound parameters)."""
    orig = getattr(exc, "orig", None)
    first = str(orig).strip().splitlines()[0] if orig is not None and str(orig).strip() else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _sqlite_file(engine: Engine) -> Path | None:
    """The file of an SQLite database (None: another database, in memory, or a URI filename)."""
    url = engine.url
    if engine.dialect.name != "sqlite" or url.database in (None, "", ":memory:") or url.query.get("uri"):
        return None
    return Path(url.database)


def _create_private(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (an empty file is an empty SQLite database).

    SQLite would otherwise create it with the umask's mode (often 0644), and
    the -wal/-shm/-journal files it makes later copy the database file's mode.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, _PRIVATE)
    except OSError:
        return  # it exists, or it cannot be made: SQLite reports the latter when it connects
    try:
        os.fchmod(fd, _PRIVATE)  # the umask may have removed the owner's bits
    finally:
        os.close(fd)


def _sqlite_pragmas(engine: Engine, path: Path | None) -> None:
    if path is not None:

        @event.listens_for(engine, "do_connect")
        def _before_connect(*_args: Any) -> None:
            _create_private(path)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy drive transactions; we issue BEGIN ourselves below.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the lock up front so concurrent writers queue instead of failing
        # at commit (the audit chain relies on it); readers use a plain deferred BEGIN.
        read_only = conn.get_execution_options().get("harbourmaster_read_only", False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
