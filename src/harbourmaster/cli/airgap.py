"""``airgap export``, ``airgap import`` and ``airgap diff``: signed bundles across an air gap."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import typer

from harbourmaster.cli._common import (
    GuardedGroup,
    JsonOption,
    emit_json,
    local_principal,
    open_core,
    stderr,
    stdout,
)

__all__ = ["app"]

app = typer.Typer(
    cls=GuardedGroup,
    help="Air-gapped transfer: export an ImageSet as a signed bundle, import it, compare bundles.",
    no_args_is_help=True,
)


@contextmanager
def _bars(quiet: bool) -> Iterator[Any]:
    """A byte progress bar per phase on a terminal; None when ``quiet`` or not a terminal."""
    if quiet or not stderr.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=stderr, transient=False) as progress:
        tasks: dict[str, Any] = {}

        def report(phase: str, total: int | None, done: int) -> None:
            if phase not in tasks:
                tasks[phase] = progress.add_task(phase, total=total)
            elif total is not None:
                progress.update(tasks[phase], total=total)
            if done:
                progress.advance(tasks[phase], done)

        yield report


@app.command("export")
def export_command(
    file: Path = typer.Option(..., "-f", "--file", help="The ImageSet YAML file."),
    output: Path = typer.Option(..., "-o", "--output", help="The bundle directory (new or empty)."),
    since: Path | None = typer.Option(
        None, "--since", help="The previous bundle's manifest.json: leave out the blobs it carried (a delta)."
    ),
    split_size: str | None = typer.Option(
        None, "--split-size", help="Group files into part-NNN/ directories of at most this size (4GiB)."
    ),
    signer: str | None = typer.Option(
        None, "--signer", help="The vault signing key for the manifest (default: the ImageSet's signer)."
    ),
    advisories: bool = typer.Option(
        False,
        "--advisories",
        help="Carry the advisory database as OSV records, so the disconnected zone can keep scanning.",
    ),
    json_output: bool = JsonOption,
) -> None:
    """Write an ImageSet's images, platform manifests and referrers as a signed air-gap bundle."""
    from harbourmaster.airgap import parse_size
    from harbourmaster.cli._documents import read_text
    from harbourmaster.services.airgap_export import export_bundle
    from harbourmaster.services.imagesets import read_image_set

    size = parse_size(split_size) if split_size is not None else None
    text = read_text(file, "ImageSet")
    hm = open_core()
    image_set = read_image_set(text, source=str(file))
    with _bars(json_output) as bars:
        result = export_bundle(
            hm,
            local_principal(hm),
            image_set,
            output=output,
            since=since,
            split_size=size,
            signer=signer,
            advisories=advisories,
            progress=(lambda total, done: bars("fetch", total, done)) if bars else None,
        )
    if json_output:
        emit_json(asdict(result))
        return
    stdout.print(
        f"Wrote {result.bundle}: {result.images} image(s), {result.blobs} blob(s) "
        f"({result.bytes_written:,} bytes in {result.parts} part(s)), {result.omitted} left out as in "
        f"--since; manifest sha256:{result.manifest_sha256} signed by {result.signer}.",
        markup=False,
    )
    if result.advisories is not None:
        stdout.print(
            f"Carried {result.advisories} advisories as OSV records (database generation "
            f"{result.advisory_snapshot})"
            + (
                f"; {result.advisories_approximated} kept their severity but not their CVSS score"
                if result.advisories_approximated
                else ""
            )
            + ".",
            markup=False,
        )


@app.command("import")
def import_command(
    bundle: Path = typer.Argument(..., help="The bundle directory."),
    to: str = typer.Option(..., "--to", help="The registry to import into (its name)."),
    key: Path | None = typer.Option(None, "--key", help="The PEM public key the manifest is signed with."),
    signer: str | None = typer.Option(None, "--signer", help="A vault signing key (its public half)."),
    emergency: bool = typer.Option(False, "--emergency", help="An emergency import (needs --reason)."),
    reason: str | None = typer.Option(None, "--reason", help="Why this is an emergency (audited)."),
    no_advisories: bool = typer.Option(
        False, "--no-advisories", help="Do not import the advisory database the bundle carries."
    ),
    json_output: bool = JsonOption,
) -> None:
    """Verify a signed air-gap bundle completely, then push it into a registry and approve its content."""
    from harbourmaster.services.airgap_import import import_bundle
    from harbourmaster.services.signing_trust import PublicKeyFile

    hm = open_core()
    with _bars(json_output) as bars:
        result = import_bundle(
            hm,
            local_principal(hm),
            bundle,
            registry=to,
            key=PublicKeyFile(str(key)) if key else None,
            signer=signer,
            emergency=emergency,
            reason=reason,
            advisories=not no_advisories,
            progress=bars,
        )
    if json_output:
        emit_json(asdict(result))
        return
    stdout.print(
        f"Imported {len(result.images)} image(s) into {result.registry}: {result.blobs_pushed} blob(s) "
        f"pushed ({result.bytes_pushed:,} bytes), {result.blobs_present} already there, "
        f"{result.manifests_pushed} manifest(s), {result.tags_set} tag(s) set"
        + (" [emergency]" if result.emergency else "")
        + ".",
        markup=False,
    )
    for image in result.images:
        stdout.print(f"  {image}", markup=False)
    if result.advisories is not None:
        a = result.advisories
        stdout.print(
            f"Imported the bundle's advisories: {a['records']} records, {a['inserted']} new, "
            f"{a['updated']} updated, {a['unchanged']} unchanged, {a['skipped']} skipped.",
            markup=False,
        )


@app.command("diff")
def diff_command(
    old: Path = typer.Argument(..., help="The older bundle's manifest.json."),
    new: Path = typer.Argument(..., help="The newer bundle's manifest.json."),
    json_output: bool = JsonOption,
) -> None:
    """Show what a bundle adds and removes relative to another (images, tags, digests)."""
    from harbourmaster.services.airgap_diff import diff_bundles

    result = diff_bundles(old, new)
    if json_output:
        emit_json(asdict(result))
        return
    lines = [f"+ {i}" for i in result.images_added] + [f"- {i}" for i in result.images_removed]
    lines += [f"+ tag {t}" for t in result.tags_added] + [f"- tag {t}" for t in result.tags_removed]
    lines += [f"~ tag {m.tag}: {m.old} -> {m.new}" for m in result.tags_moved]
    lines.append(
        f"{result.blobs_added} blob(s) added ({result.bytes_added:,} bytes), {result.blobs_removed} removed"
    )
    for line in lines:
        stdout.print(line, markup=False)
