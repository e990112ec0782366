"""What every CLI command shares: opening the core, error rendering, output.

Importing this module is cheap (typer and rich only): the core, the database and
the registry client are imported by the commands that use them, so ``--help``
and the fast commands do not pay for them.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console
from typer.core import TyperGroup

from harbourmaster.cli._exit import ExitCode, exit_code_for
from harbourmaster.errors import BadInput, Error

if TYPE_CHECKING:
    from harbourmaster.domain.authz import Principal
    from harbourmaster.services.core import Harbourmaster

__all__ = [
    "DEBUG_ENV",
    "ExitCode",
    "GuardedGroup",
    "JsonOption",
    "emit_json",
    "fail",
    "guard",
    "local_principal",
    "open_core",
    "print_table",
    "read_input",
    "stderr",
    "stdout",
]

#: Set to 1 (or pass ``--debug``) to see the traceback of an unexpected error (a setting: settings.py).
DEBUG_ENV = "HARBOURMASTER_DEBUG"

stdout = Console(soft_wrap=True)
stderr = Console(stderr=True, soft_wrap=True)

JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON instead of a table.")


def open_core(*, migrate: bool = False) -> Harbourmaster:
    """The core for this process's HARBOURMASTER_HOME; the schema must be current unless ``migrate``."""
    from harbourmaster.logs import configure_logging
    from harbourmaster.services.core import Harbourmaster

    hm = Harbourmaster.from_environ()
    # One logging configuration for every surface; a command's own output is for people, so only
    # warnings and errors unless HARBOURMASTER_LOG_LEVEL asks for more.
    configure_logging(level=hm.settings.log_level or "warning", fmt=hm.settings.log_format)
    if not migrate:
        hm.db.ensure_current()
    return hm


def local_principal(hm: Harbourmaster) -> Principal:
    """Whoever can read the data directory and the master key is its administrator."""
    from harbourmaster.domain.authz import Principal
    from harbourmaster.domain.model import Role

    return Principal(hm.local_actor(), Role.ADMINISTRATOR)


def fail(error: Error) -> NoReturn:
    """Print ``error`` on stderr and exit with its code from the exit-code table."""
    stderr.print("[bold red]error:[/]", end=" ")
    stderr.print(error.diagnostics(), markup=False, highlight=False)
    raise typer.Exit(int(exit_code_for(error)))


@contextmanager
def guard(*, debug: bool) -> Iterator[None]:
    """The CLI's one error handler, around every command (see :mod:`harbourmaster.cli.main`).

    A harbourmaster error is printed (its message and details) and exits with its
    code from :mod:`harbourmaster.cli._exit`.  Anything else is a defect: one line
    naming the exception's type (never its message, which might quote input) and
    exit 3; with ``debug`` the traceback is printed instead.  Typer's own exits and
    usage errors pass through (usage errors exit 2).
    """
    try:
        yield
    except Error as exc:
        fail(exc)
    except KeyboardInterrupt:
        stderr.print("interrupted", markup=False, highlight=False)
        raise typer.Exit(130) from None
    except Exception as exc:
        if _is_click_exception(exc):
            raise
        if debug or _debug_setting():
            traceback.print_exception(exc, file=sys.stderr)
        else:
            stderr.print(
                f"error: unexpected {type(exc).__name__} (a harbourmaster defect); run again with --debug "
                f"(or {DEBUG_ENV}=1) to see the traceback",
                markup=False,
                highlight=False,
            )
        raise typer.Exit(int(ExitCode.UNDECIDED)) from None


class GuardedGroup(TyperGroup):
    """A command group whose commands run inside :func:`guard` (the root and every sub-app use it,
    so a sub-app invoked on its own renders errors the same way)."""

    def invoke(self, ctx: Any) -> Any:
        with guard(debug=bool(ctx.find_root().params.get("debug"))):
            return super().invoke(ctx)


def _debug_setting() -> bool:
    """HARBOURMASTER_DEBUG, read only when an unexpected error is being rendered (settings cost an import)."""
    from harbourmaster.settings import Settings

    try:
        return Settings.from_environ().debug
    except Error:
        return False


def _is_click_exception(exc: BaseException) -> bool:
    """Typer's usage errors and exits, which typer itself renders (usage errors exit 2)."""
    module = type(exc).__module__
    return module.startswith(("click.", "typer."))


def read_input(path: str) -> tuple[str, str]:
    """The text of the file ``path`` (``-``: standard input) and the name to give it in messages.

    Raises:
        BadInput: the file cannot be read or is not UTF-8 (naming it).
    """
    if path == "-":
        return sys.stdin.read(), "<stdin>"
    try:
        return Path(path).read_text(encoding="utf-8"), path
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def print_table(
    title: str | None,
    columns: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    whole: Collection[str] = (),
) -> None:
    """A table as wide as the terminal (as wide as its content when not on a terminal).

    Columns named in ``whole`` (image names, digests, registry names) are never cut
    or wrapped when the terminal has room for them and one word of every other
    column; other columns wrap.  Nothing is ever cut off with an ellipsis: a value
    too long for the room left is folded onto the next line.
    """
    from rich.table import Table

    cells = [["" if v is None else str(v) for v in row] for row in rows]
    natural = [max([len(col), *(_longest_line(r[i]) for r in cells)]) for i, col in enumerate(columns)]
    # Rich's heavy-head box: a border and one space of padding each side of every cell.
    chrome = 3 * len(columns) + 1
    widths = _plan_widths(
        natural=natural,
        header=[len(col) for col in columns],
        minimum=[max([len(col), *(_longest_word(r[i]) for r in cells)]) for i, col in enumerate(columns)],
        keep=[col in whole for col in columns],
        room=stdout.width - chrome if stdout.is_terminal else None,
    )
    table = Table(title=title, show_lines=False)
    for col, width in zip(columns, widths, strict=True):
        table.add_column(col, overflow="fold", width=width)
    for row in cells:
        table.add_row(*row)
    if stdout.is_terminal:
        stdout.print(table)
        return
    # Not a terminal (a pipe, a file): no width to fit, so no line is wrapped.
    saved = stdout.width
    stdout.width = max(saved, sum(natural) + chrome, len(title or ""))
    try:
        stdout.print(table)
    finally:
        stdout.width = saved


#: A column that wraps keeps at least this many characters (or its longest word, if shorter).
_NARROWEST = 12


def _plan_widths(
    *, natural: list[int], header: list[int], minimum: list[int], keep: list[bool], room: int | None
) -> list[int | None]:
    """Column widths: natural when they fit; else whole columns natural and the others share the rest.

    The others get at least their longest word when there is room for it, else at least
    :data:`_NARROWEST` characters (a longer word is folded).  When not every whole column fits,
    the rightmost ones wrap too.  None leaves the widths to rich (it folds every column).
    """
    if room is None or sum(natural) <= room:
        return list(natural)
    whole = [i for i, k in enumerate(keep) if k]
    while True:
        flexible = [i for i in range(len(natural)) if i not in whole]
        fixed = sum(natural[i] for i in whole)
        for floor in (
            {i: minimum[i] for i in flexible},
            {i: min(minimum[i], max(header[i], _NARROWEST)) for i in flexible},
        ):
            if fixed + sum(floor.values()) <= room:
                return _share(natural, whole, floor, room - fixed - sum(floor.values()))
        if not whole:
            return [None] * len(natural)
        whole.pop()


def _share(natural: list[int], whole: list[int], floor: dict[int, int], spare: int) -> list[int | None]:
    """Whole columns at their natural width; the others at their floor plus a share of ``spare``."""
    widths: list[int | None] = [natural[i] if i in whole else None for i in range(len(natural))]
    want = {i: natural[i] - floor[i] for i in floor}
    total = sum(want.values()) or 1
    for i in floor:
        widths[i] = floor[i] + (spare * want[i]) // total
    return widths


def _longest_line(text: str) -> int:
    return max((len(line) for line in text.splitlines()), default=0)


def _longest_word(text: str) -> int:
    return max((len(word) for word in text.split()), default=0)
