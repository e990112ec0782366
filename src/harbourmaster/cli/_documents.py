"""Printing Kubernetes documents: one YAML stream, to stdout or a file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer
import yaml

from harbourmaster.errors import BadInput

__all__ = ["emit_documents", "read_text"]


class _PlainDumper(yaml.SafeDumper):
    """No ``&id001`` anchors: documents that share a Python object are written out in full."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def emit_documents(documents: Sequence[Any], output: Path | None) -> None:
    """Write ``documents`` as a YAML stream (``---`` between them) to ``output`` or stdout."""
    text = yaml.dump_all(documents, Dumper=_PlainDumper, sort_keys=False, explicit_start=True, width=1000)
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"{output}: cannot write: {exc.strerror}") from None


def read_text(path: Path, what: str) -> str:
    """The text of ``path``.

    Raises:
        BadInput: it cannot be read or is not UTF-8.
    """
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{what} {path}: cannot read it: {exc}") from None
