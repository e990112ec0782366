"""A private PostgreSQL 15 cluster for the tests, and databases on it.

Register once (the root ``tests/conftest.py`` does)::

    pytest_plugins = ["tests.integration.postgres"]

Fixtures:

``postgres_cluster``   session-scoped :class:`PostgresCluster`: ``initdb`` in a
                       temporary directory, ``pg_ctl start`` on 127.0.0.1 and a
                       free port (trust authentication, no fsync: test data
                       only), ``pg_ctl stop -m fast`` at the end of the session.
``postgres_url``       a fresh, empty database per test; yields its SQLAlchemy
                       URL (``postgresql+psycopg://postgres@127.0.0.1:PORT/DB``)
                       and drops the database afterwards.
``database_url``       parametrised over ``sqlite`` and ``postgresql``: an empty
                       database of each kind, so a test runs against both.

initdb refuses to run as root, so as root the server runs as the ``postgres``
OS user (``runuser -u postgres --``) with its directories owned by that user.
Under ``CI=true`` a missing server or driver fails the test
(:func:`tests.components.unavailable`); elsewhere it skips.

:func:`core_on` builds a :class:`~harbourmaster.services.core.Harbourmaster`
on a given database URL and data directory, initialised.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import Engine, inspect, text

from harbourmaster.bootstrap import build
from harbourmaster.services.core import Harbourmaster
from harbourmaster.settings import Settings
from tests.components import ensure_binary, free_port, unavailable, wait_until

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "DATABASES",
    "PostgresCluster",
    "core_on",
    "database_url",
    "postgres_cluster",
    "postgres_url",
    "table_rows",
]

#: The parameter ids of :func:`database_url`.
DATABASES = ("sqlite", "postgresql")

_PG_VERSION = "15"


@dataclass(frozen=True, slots=True)
class PostgresCluster:
    """A running private cluster: where it listens and where its files are."""

    bindir: Path
    datadir: Path
    socket_dir: Path
    host: str
    port: int
    run_as: tuple[str, ...]

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@{self.host}:{self.port}/{database}"

    def admin_connection(self) -> psycopg.Connection[Any]:
        """An autocommit psycopg connection to the ``postgres`` database, as the superuser."""
        import psycopg

        return psycopg.connect(
            host=self.host, port=self.port, user="postgres", dbname="postgres", autocommit=True
        )

    def create_database(self) -> str:
        """A new empty database; returns its name."""
        name = f"hm_{uuid.uuid4().hex[:16]}"
        with self.admin_connection() as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return name

    def drop_database(self, name: str) -> None:
        with self.admin_connection() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def database_oid(self, name: str) -> int:
        with self.admin_connection() as conn:
            row = conn.execute("SELECT oid FROM pg_database WHERE datname = %s", (name,)).fetchone()
        assert row is not None, f"no database {name}"
        return int(row[0])

    def checkpoint(self) -> None:
        """Flush shared buffers to the data files (so a byte scan of them sees every row)."""
        with self.admin_connection() as conn:
            conn.execute("CHECKPOINT")


def _bindir() -> Path:
    def found() -> list[str]:
        return sorted(glob.glob(f"/usr/lib/postgresql/{_PG_VERSION}/bin/initdb")) or sorted(
            glob.glob("/usr/lib/postgresql/*/bin/initdb")
        )

    if not found():
        # Installs the Debian package (as root) or skips/fails via unavailable().
        ensure_binary("pg_ctlcluster", "postgresql")
    hits = found()
    if not hits:
        unavailable("PostgreSQL server binaries (Debian package postgresql) are not installed")
    return Path(hits[-1]).parent


def _run(cmd: list[str], *, what: str, timeout: float = 60) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        pytest.fail(f"{what} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        unavailable("the psycopg driver is not installed (pip install 'psycopg[binary]')")
    bindir = _bindir()
    root = Path(tempfile.mkdtemp(prefix="hm-pg-"))
    datadir, socket_dir = root / "data", root / "sock"
    datadir.mkdir()
    socket_dir.mkdir()
    run_as: tuple[str, ...] = ()
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        if runuser is None:
            unavailable("runuser is missing: cannot run PostgreSQL as the postgres user")
        assert runuser is not None
        run_as = (runuser, "-u", "postgres", "--")
        for path in (root, datadir, socket_dir):
            shutil.chown(path, user="postgres", group="postgres")
        root.chmod(0o755)
    port = free_port()
    cluster = PostgresCluster(bindir, datadir, socket_dir, "127.0.0.1", port, run_as)
    _run(
        [
            *run_as,
            str(bindir / "initdb"),
            "-D",
            str(datadir),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
            "--no-instructions",
        ],
        what="initdb",
    )
    options = (
        f"-p {port} -k {socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
    )
    log = root / "server.log"
    _run(
        [
            *run_as,
            str(bindir / "pg_ctl"),
            "-D",
            str(datadir),
            "-l",
            str(root / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "30",
            "start",
        ],
        what="pg_ctl start",
    )
    try:

        def ready() -> bool:
            with cluster.admin_connection() as conn:
                return conn.execute("SELECT 1").fetchone() == (1,)

        wait_until(ready, timeout=30, what=f"PostgreSQL on 127.0.0.1:{port} (log {log})")
        yield cluster
    finally:
        subprocess.run(
            [*run_as, str(bindir / "pg_ctl"), "-D", str(datadir), "-m", "fast", "-w", "stop"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    name = postgres_cluster.create_database()
    try:
        yield postgres_cluster.url(name)
    finally:
        postgres_cluster.drop_database(name)


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'harbourmaster.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def core_on(
    url: str, home: Path, *, environ: Mapping[str, str] | None = None, init: bool = True
) -> Harbourmaster:
    """A core on database ``url`` with data directory ``home`` (initialised unless ``init=False``)."""
    env = dict(os.environ if environ is None else environ)
    env["HARBOURMASTER_HOME"] = str(home)
    env["HARBOURMASTER_DATABASE_URL"] = url
    env.pop("HARBOURMASTER_MASTER_KEY", None)
    hm = build(Settings.from_environ(env))
    if init:
        hm.init()
    return hm


def table_rows(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, sorted: a snapshot to compare before and after an operation."""
    out: dict[str, list[tuple[object, ...]]] = {}
    with engine.connect() as conn:
        for table in sorted(inspect(conn).get_table_names()):
            rows = conn.execute(text(f'SELECT * FROM "{table}"')).all()
            out[table] = sorted((tuple(r) for r in rows), key=repr)
    return out


def state_rows(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    """:func:`table_rows` without the bookkeeping of API token use, for comparing around requests.

    Every authenticated request records a ``token.use`` audit record (moving the
    audit chain's head) and the token's ``last_used_at``; anything else a
    request writes still shows.
    """
    out: dict[str, list[tuple[object, ...]]] = {}
    with engine.connect() as conn:
        for table in sorted(inspect(conn).get_table_names()):
            result = conn.execute(text(f'SELECT * FROM "{table}"'))
            columns = list(result.keys())
            rows = [dict(zip(columns, r, strict=True)) for r in result.all()]
            if table == "audit_log":
                rows = [r for r in rows if r["action"] != "token.use"]
            elif table == "meta":
                rows = [r for r in rows if r["key"] != "audit_head"]
            elif table == "api_tokens":
                rows = [{k: v for k, v in r.items() if k != "last_used_at"} for r in rows]
            out[table] = sorted((tuple(r.values()) for r in rows), key=repr)
    return out
