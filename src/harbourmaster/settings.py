"""Where harbourmaster keeps its data, read from the environment.

``HARBOURMASTER_HOME`` (default ``~/.local/share/harbourmaster``) holds the
SQLite database and the master key file; ``HARBOURMASTER_DATABASE_URL``
selects another database (PostgreSQL in production);
``HARBOURMASTER_MASTER_KEY`` supplies the master key instead of the file.

Audit checkpoints (signed heads of the audit chain, kept outside the database)
are appended to ``HARBOURMASTER_AUDIT_CHECKPOINT_FILE`` (default
``$HARBOURMASTER_HOME/audit-checkpoints.jsonl``) and sent to the syslog socket
``HARBOURMASTER_AUDIT_CHECKPOINT_SYSLOG`` (default ``/dev/log``; empty: none);
``serve`` writes one every ``HARBOURMASTER_AUDIT_CHECKPOINT_INTERVAL`` seconds
(default 300; 0 disables) when the chain grew.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from harbourmaster.errors import BadInput

__all__ = ["AUDIT_CHECKPOINT_FILE", "DATABASE_FILE", "Settings"]

#: The embedded SQLite database's file name inside HARBOURMASTER_HOME.
DATABASE_FILE = "harbourmaster.db"
#: The audit checkpoint file's default name inside HARBOURMASTER_HOME.
AUDIT_CHECKPOINT_FILE = "audit-checkpoints.jsonl"
_CHECKPOINT_INTERVAL_ENV = "HARBOURMASTER_AUDIT_CHECKPOINT_INTERVAL"


def _seconds(text: str, *, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise BadInput(f"{name}: {text!r} is not a number of seconds") from None
    if not 0 <= value < float("inf"):
        raise BadInput(f"{name}: must be a number of seconds, 0 or more (0 disables)")
    return value


def _count(env: Mapping[str, str], name: str, default: int, *, high: int) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or not 1 <= int(text) <= high:
        raise BadInput(f"{name}: {text!r} is not a whole number from 1 to {high}")
    return int(text)


@dataclass(frozen=True, slots=True)
class Settings:
    home: Path
    database_url: str
    environ: Mapping[str, str]
    #: HARBOURMASTER_AUDIT_CHECKPOINT_FILE; left empty, AUDIT_CHECKPOINT_FILE inside ``home``.
    audit_checkpoint_file: Path = Path()
    #: Seconds between ``serve``'s checkpoints (0: none), HARBOURMASTER_AUDIT_CHECKPOINT_INTERVAL.
    audit_checkpoint_interval: float = 300.0
    #: The syslog socket checkpoints are sent to ("": none), HARBOURMASTER_AUDIT_CHECKPOINT_SYSLOG.
    audit_checkpoint_syslog: str = "/dev/log"
    #: Images in one decision (a request or a deployment), HARBOURMASTER_MAX_DECISION_IMAGES.
    max_decision_images: int = 1000
    #: Size of an SBOM or scanner report submitted for a scan, HARBOURMASTER_MAX_SBOM_BYTES.
    max_sbom_bytes: int = 16 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.audit_checkpoint_file == Path():
            object.__setattr__(self, "audit_checkpoint_file", self.home / AUDIT_CHECKPOINT_FILE)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        home = Path(env.get("HARBOURMASTER_HOME") or Path.home() / ".local/share/harbourmaster")
        url = env.get("HARBOURMASTER_DATABASE_URL") or f"sqlite:///{home / DATABASE_FILE}"
        checkpoints = Path(env.get("HARBOURMASTER_AUDIT_CHECKPOINT_FILE") or home / AUDIT_CHECKPOINT_FILE)
        interval_text = env.get(_CHECKPOINT_INTERVAL_ENV, "").strip()
        interval = _seconds(interval_text, name=_CHECKPOINT_INTERVAL_ENV) if interval_text else 300.0
        return cls(
            home=home,
            database_url=url,
            environ=env,
            audit_checkpoint_file=checkpoints,
            audit_checkpoint_interval=interval,
            audit_checkpoint_syslog=env.get("HARBOURMASTER_AUDIT_CHECKPOINT_SYSLOG", "/dev/log"),
            max_decision_images=_count(env, "HARBOURMASTER_MAX_DECISION_IMAGES", 1000, high=1_000_000),
            max_sbom_bytes=_count(env, "HARBOURMASTER_MAX_SBOM_BYTES", 16 * 1024 * 1024, high=1 << 30),
        )
