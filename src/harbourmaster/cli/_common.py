"""What every CLI command shares: opening the core, error rendering, output."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from harbourmaster.domain.authz import Principal
from harbourmaster.domain.model import Role
from harbourmaster.errors import BadInput, Error, NotFound
from harbourmaster.services.core import Harbourmaster

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_ERROR",
    "JsonOption",
    "emit_json",
    "fail",
    "guard",
    "local_principal",
    "open_core",
    "print_table",
    "stderr",
    "stdout",
]

P = ParamSpec("P")
R = TypeVar("R")

EXIT_ERROR = 1
EXIT_BAD_INPUT = 2

stdout = Console(soft_wrap=True)
stderr = Console(stderr=True, soft_wrap=True)

JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON instead of a table.")


def open_core(*, migrate: bool = False) -> Harbourmaster:
    """The core for this process's HARBOURMASTER_HOME; the schema must be current unless ``migrate``."""
    hm = Harbourmaster.from_environ()
    if not migrate:
        hm.db.ensure_current()
    return hm


def local_principal(hm: Harbourmaster) -> Principal:
    """Whoever can read the data directory and the master key is its administrator."""
    return Principal(hm.local_actor(), Role.ADMINISTRATOR)


def fail(error: Error, *, code: int | None = None) -> NoReturn:
    """Print ``error`` on stderr and exit: 2 for bad input, 1 otherwise, unless ``code`` says."""
    stderr.print("[bold red]error:[/]", end=" ")
    stderr.print(error.diagnostics(), markup=False, highlight=False)
    if code is None:
        code = EXIT_BAD_INPUT if isinstance(error, BadInput | NotFound) else EXIT_ERROR
    raise typer.Exit(code)


def guard(fn: Callable[P, R]) -> Callable[P, R]:
    """Render harbourmaster errors once: a message on stderr and a non-zero exit."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except Error as exc:
            fail(exc)

    return wrapper


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def print_table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    table = Table(title=title, show_lines=False)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    stdout.print(table)
