"""``sbom generate``: catalog an image on disk and write CycloneDX or SPDX JSON."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TransferSpeedColumn

from harbourmaster.cli._common import emit_json, guard, stderr
from harbourmaster.errors import BadInput
from harbourmaster.supply.sbom import (
    LayerDescriptor,
    Sbom,
    SbomFormat,
    ScanLimits,
    default_catalogers,
    open_source,
    parse_platform,
    render_sbom,
    scan_image,
)

__all__ = ["app"]

app = typer.Typer(help="Software bills of materials: generate an image's SBOM from an OCI layout or "
                       "a docker-archive tarball.")

MiB = 1024 * 1024


@app.callback()
def sbom() -> None:
    """Software bills of materials for images."""


class _LayerBars:
    """One rich progress bar per layer, on standard error."""

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


def _write_atomically(path: Path, text: str) -> None:
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise BadInput(f"cannot write {path}: {exc.strerror}") from exc
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp's 0600 is for secrets; an SBOM is an ordinary file
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _summary(sbom: Sbom, fmt: SbomFormat, output: Path | None) -> dict[str, object]:
    image = sbom.image
    return {
        "image": {"name": image.name, "digest": image.digest, "platform": str(image.platform),
                  "layers": list(image.layer_digests)},
        "format": fmt.value,
        "output": str(output) if output else None,
        "distro": None if sbom.distro is None else {
            "id": sbom.distro.id, "version_id": sbom.distro.version_id,
            "version_codename": sbom.distro.version_codename},
        "packages": len(sbom.packages),
        "warnings": [str(w) for w in sbom.warnings],
    }


@app.command()
@guard
def generate(
    source: str = typer.Argument(..., metavar="SOURCE",
                                 help="oci-layout:DIR\\[:TAG] or docker-archive:FILE\\[:REF]."),
    fmt: SbomFormat = typer.Option(SbomFormat.CYCLONEDX_JSON, "--format", help="Document format."),
    output: Path | None = typer.Option(None, "-o", "--output",
                                       help="Write the SBOM here (atomically) instead of standard output."),
    platform: str = typer.Option("linux/amd64", "--platform",
                                 help="OS/ARCH\\[/VARIANT] to pick from a multi-platform index."),
    max_ratio: float = typer.Option(ScanLimits.max_ratio, "--max-ratio", min=1.0,
                                    help="Stop reading a layer whose compression ratio exceeds this."),
    max_layer_mib: int = typer.Option(ScanLimits.max_layer_bytes // MiB, "--max-layer-mib", min=1,
                                      help="Stop reading a layer that decompresses to more than this."),
    json_output: bool = typer.Option(False, "--json", help="No progress bar; with -o, print a JSON summary "
                                                          "(image, distro, package count, warnings)."),
) -> None:
    """Generate the SBOM of SOURCE, with a progress bar per layer on a terminal."""
    limits = ScanLimits(max_ratio=max_ratio, max_layer_bytes=max_layer_mib * MiB)
    with open_source(source, platform=parse_platform(platform)) as image_source:
        if stderr.is_terminal and not json_output:
            columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
            with Progress(*columns, console=stderr, transient=False) as progress:
                sbom = scan_image(image_source, catalogers=default_catalogers(), limits=limits,
                                  progress=_LayerBars(progress))
        else:
            sbom = scan_image(image_source, catalogers=default_catalogers(), limits=limits)
    document = render_sbom(sbom, fmt)
    if output is not None:
        _write_atomically(output, document)
    else:
        sys.stdout.write(document + "\n")
    if json_output:
        if output is not None:
            emit_json(_summary(sbom, fmt, output))
        return
    for warning in sbom.warnings:
        stderr.print(f"warning: {warning}", markup=False, highlight=False)
    where = f" to {output}" if output else ""
    stderr.print(f"{len(sbom.packages)} packages in {sbom.image.name} ({sbom.image.digest}){where}",
                 markup=False, highlight=False)
