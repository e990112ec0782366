"""Where harbourmaster keeps its data, read from the environment.

``HARBOURMASTER_HOME`` (default ``~/.local/share/harbourmaster``) holds the
SQLite database and the master key file; ``HARBOURMASTER_DATABASE_URL``
selects another database (PostgreSQL in production);
``HARBOURMASTER_MASTER_KEY`` supplies the master key instead of the file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DATABASE_FILE", "Settings"]

#: The embedded SQLite database's file name inside HARBOURMASTER_HOME.
DATABASE_FILE = "harbourmaster.db"


@dataclass(frozen=True, slots=True)
class Settings:
    home: Path
    database_url: str
    environ: Mapping[str, str]

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        home = Path(env.get("HARBOURMASTER_HOME") or Path.home() / ".local/share/harbourmaster")
        url = env.get("HARBOURMASTER_DATABASE_URL") or f"sqlite:///{home / DATABASE_FILE}"
        return cls(home=home, database_url=url, environ=env)
