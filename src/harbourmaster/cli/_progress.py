"""Progress bars for long operations: on a terminal only, never with --json or when piped."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TransferSpeedColumn,
)

from harbourmaster.cli._common import stderr
from harbourmaster.supply.sbom import LayerDescriptor, ScanProgress

__all__ = ["LayerBars", "RecordCounter", "layer_progress", "record_progress"]


class LayerBars:
    """One rich progress bar per image layer, on standard error (a :class:`ScanProgress`)."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._tasks: dict[int, TaskID] = {}

    def start_layer(self, index: int, layer: LayerDescriptor) -> None:
        label = f"layer {index + 1} {layer.digest.partition(':')[2][:12] or layer.digest}"
        self._tasks[index] = self._progress.add_task(label, total=layer.size if layer.size > 0 else None)

    def advance(self, index: int, compressed_bytes: int) -> None:
        self._progress.advance(self._tasks[index], compressed_bytes)

    def finish_layer(self, index: int) -> None:
        task = self._tasks[index]
        self._progress.update(task, total=self._progress.tasks[task].completed)


@contextmanager
def layer_progress(quiet: bool) -> Iterator[ScanProgress | None]:
    """Per-layer bars on a terminal; nothing when ``quiet`` or standard error is not a terminal."""
    if quiet or not stderr.is_terminal:
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=stderr, transient=False) as progress:
        yield LayerBars(progress)


class RecordCounter:
    """Counts records as they stream by (the total of an export is not known in advance)."""

    def __init__(self, progress: Progress | None, label: str) -> None:
        self._progress = progress
        self._task = progress.add_task(label, total=None) if progress is not None else None

    def __call__(self, count: int = 1) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, count)


@contextmanager
def record_progress(quiet: bool, label: str) -> Iterator[RecordCounter]:
    """A spinner with a running count on a terminal; a no-op counter otherwise."""
    if quiet or not stderr.is_terminal:
        yield RecordCounter(None, label)
        return
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed:,.0f} records"))
    with Progress(*columns, console=stderr, transient=False) as progress:
        yield RecordCounter(progress, label)
