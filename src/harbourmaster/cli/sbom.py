"""``sbom generate|attach|fetch|list``: SBOMs of images on disk and in approved registries."""

from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
from pathlib import Path

import typer

from harbourmaster.cli._common import GuardedGroup, emit_json, local_principal, open_core, print_table, stderr
from harbourmaster.cli._progress import layer_progress
from harbourmaster.domain.reference import ReferenceError, parse_reference
from harbourmaster.errors import BadInput
from harbourmaster.services.local_sboms import (
    LOCAL_PREFIXES,
    LocalSbom,
    generate_local_sbom,
    keep_local_sbom,
    sbom_store_unavailable,
)
from harbourmaster.services.results import json_of
from harbourmaster.services.sbom_ops import (
    attach_image_sbom,
    fetch_image_sbom,
    generate_image_sbom,
    stored_sboms,
)
from harbourmaster.services.supply_results import SbomOutcomePublic
from harbourmaster.settings import Settings
from harbourmaster.supply.sbom import (
    SbomFormat,
    ScanLimits,
    SourceError,
    parse_platform,
)

__all__ = ["app"]

app = typer.Typer(cls=GuardedGroup,
                  help="Software bills of materials: generate an image's SBOM (from a registry, an OCI "
                       "layout or a docker-archive tarball), attach it to the image, fetch it back, "
                       "list the SBOM store.")

MiB = 1024 * 1024


@app.callback()
def sbom() -> None:
    """Software bills of materials for images."""


def _write_atomically(path: Path, text: str, *, newline: bool = True) -> None:
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
            if newline:
                fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _note(text: str) -> None:
    stderr.print(text, markup=False, highlight=False)


def _emit_document(document: str, output: Path | None, *, exact: bool = False) -> None:
    """Write the document to ``output`` (temp file + rename) or standard output; ``exact`` writes a
    file byte for byte (a fetched SBOM), without the trailing newline a generated one gets."""
    if output is not None:
        _write_atomically(output, document, newline=not exact)
    else:
        sys.stdout.write(document if document.endswith("\n") else document + "\n")


def _outcome_json(outcome: SbomOutcomePublic, output: Path | None) -> dict[str, object]:
    # The API's answer without the document (it is written to ``output`` instead), and where it went.
    summary = json_of(outcome.model_copy(update={"document": None}))
    return {**summary, "output": str(output) if output else None}


def _check_image_reference(source: str) -> None:
    try:
        parse_reference(source)
    except ReferenceError as exc:
        raise SourceError(f"{source!r} is not an image source; use IMAGE (an image in an approved registry), "
                          "oci-layout:DIR[:TAG] or docker-archive:FILE", details=[exc.message]) from None


FormatOption = typer.Option(SbomFormat.CYCLONEDX_JSON, "--format", help="Document format.")
PlatformOption = typer.Option("linux/amd64", "--platform",
                              help="OS/ARCH\\[/VARIANT] to pick from a multi-platform index.")


@app.command()
def generate(
    source: str = typer.Argument(..., metavar="SOURCE",
                                 help="IMAGE (in an approved registry), oci-layout:DIR\\[:TAG] or "
                                      "docker-archive:FILE\\[:REF]."),
    fmt: SbomFormat = FormatOption,
    output: Path | None = typer.Option(None, "-o", "--output",
                                       help="Write the SBOM here (atomically) instead of standard output."),
    platform: str = PlatformOption,
    max_ratio: float = typer.Option(ScanLimits.max_ratio, "--max-ratio", min=1.0,
                                    help="Stop reading a layer whose compression ratio exceeds this."),
    max_layer_mib: int = typer.Option(ScanLimits.max_layer_bytes // MiB, "--max-layer-mib", min=1,
                                      help="Stop reading a layer that decompresses to more than this."),
    json_output: bool = typer.Option(False, "--json", help="No progress bar; with -o, print a JSON summary "
                                                          "(image, distro, package count, warnings)."),
    store: bool = typer.Option(True, "--store/--no-store",
                               help="Keep a local source's SBOM in the SBOM store when HARBOURMASTER_HOME "
                                    "is initialised (registry images are always stored)."),
    no_wait: bool = typer.Option(False, "--no-wait",
                                 help="For an IMAGE: queue the generation as a background job and print "
                                      "its id."),
) -> None:
    """Generate the SBOM of SOURCE, with a progress bar per layer on a terminal.

    An IMAGE is read from its approved registry with that registry's credential.  The SBOM is
    also kept in the SBOM store, indexed by image digest and component purl.
    """
    limits = ScanLimits(max_ratio=max_ratio, max_layer_bytes=max_layer_mib * MiB)
    want = parse_platform(platform)
    if not source.startswith(LOCAL_PREFIXES):
        _check_image_reference(source)
        hm = open_core()
        if no_wait:
            if output is not None:
                raise BadInput("--no-wait keeps the SBOM in the store only: drop -o")
            from harbourmaster.cli.jobs import print_queued
            from harbourmaster.services.job_requests import submit_sbom_generate

            print_queued(submit_sbom_generate(hm, local_principal(hm), source), json_output)
            return
        with layer_progress(json_output) as bars:
            outcome = generate_image_sbom(hm, local_principal(hm), source, fmt=fmt, platform=want,
                                          limits=limits, progress=bars)
        assert outcome.document is not None  # generate answers with the document
        _emit_document(outcome.document, output)
        if json_output:
            if output is not None:
                emit_json(_outcome_json(outcome, output))
            return
        for text in outcome.warnings:
            _note(f"warning: {text}")
        where = f" to {output}" if output else ""
        _note(f"{outcome.packages} packages in {outcome.image} ({outcome.digest}){where}; stored")
        return
    with layer_progress(json_output) as bars:
        local = generate_local_sbom(source, fmt=fmt, platform=want, limits=limits, progress=bars)
    _emit_document(local.document, output)
    if json_output and output is not None:
        emit_json(json_of(local.public(output=str(output))))
    stored = _store_local(local) if store else "not stored (--no-store)"
    if json_output:
        return
    sbom = local.sbom
    for warning in sbom.warnings:
        _note(f"warning: {warning}")
    where = f" to {output}" if output else ""
    _note(f"{len(sbom.packages)} packages in {sbom.image.name} ({sbom.image.digest}){where}; {stored}")


def _store_local(local: LocalSbom) -> str:
    """Keep the SBOM when a data directory is initialised; air-gapped use without one still works."""
    unavailable = sbom_store_unavailable(Settings.from_environ())
    if unavailable is not None:
        return f"not stored ({unavailable})"
    hm = open_core()
    keep_local_sbom(hm, local_principal(hm), local)
    return "stored"


@app.command()
def attach(
    image: str = typer.Argument(..., metavar="IMAGE", help="An image in an approved registry."),
    fmt: SbomFormat = FormatOption,
    environments: list[str] = typer.Option([], "--env", metavar="ENV",
                                           help="Also require IMAGE to resolve through a registry granted "
                                                "on ENV (repeatable)."),
    platform: str = PlatformOption,
    regenerate: bool = typer.Option(False, "--regenerate",
                                    help="Generate a fresh SBOM even if the store has one for the digest."),
    json_output: bool = typer.Option(False, "--json", help="Print what was attached as JSON; no progress."),
    no_wait: bool = typer.Option(False, "--no-wait",
                                 help="Queue the attachment as a background job and print its id."),
) -> None:
    """Attach IMAGE's SBOM to it in its registry (an OCI artifact whose subject is the image).

    The stored SBOM for the image's digest is attached; without one it is generated (and stored)
    first.  Registries without the referrers API get the sha256-<hex> referrers tag.
    """
    hm = open_core()
    if no_wait:
        if environments or regenerate or fmt is not SbomFormat.CYCLONEDX_JSON or platform != "linux/amd64":
            raise BadInput("--no-wait attaches the image's CycloneDX SBOM for linux/amd64: drop --env, "
                           "--regenerate, --format and --platform")
        from harbourmaster.cli.jobs import print_queued
        from harbourmaster.services.job_requests import submit_image_job

        print_queued(submit_image_job(hm, local_principal(hm), "sbom.attach", image), json_output)
        return
    with layer_progress(json_output) as bars:
        outcome = attach_image_sbom(hm, local_principal(hm), image, fmt=fmt,
                                    platform=parse_platform(platform), environments=environments,
                                    regenerate=regenerate, progress=bars, with_document=False)
    if json_output:
        emit_json(json_of(outcome))
        return
    attached = outcome.artifact
    assert attached is not None
    how = "generated and attached" if outcome.generated else "attached the stored SBOM"
    if outcome.relabelled_from is not None:
        how += f" (named {outcome.relabelled_from}, re-labelled for this image)"
    via = "referrers API" if attached.via == "api" else f"referrers tag {attached.referrers_tag}"
    _note(f"{how}: {fmt.value} for {outcome.image} ({outcome.digest})")
    _note(f"artifact {attached.digest} in {attached.repository}, found via the {via}")


@app.command()
def fetch(
    image: str = typer.Argument(..., metavar="IMAGE", help="An image in an approved registry."),
    fmt: SbomFormat = FormatOption,
    output: Path | None = typer.Option(None, "-o", "--output",
                                       help="Write the SBOM here (atomically) instead of standard output."),
    platform: str = PlatformOption,
    json_output: bool = typer.Option(False, "--json", help="With -o, print a JSON summary."),
) -> None:
    """Fetch the SBOM attached to IMAGE (subject, digest and schema checked) and keep it in the store."""
    hm = open_core()
    outcome = fetch_image_sbom(hm, local_principal(hm), image, fmt=fmt, platform=parse_platform(platform))
    assert outcome.document is not None  # fetch answers with the document
    _emit_document(outcome.document, output, exact=True)
    if json_output:
        if output is not None:
            emit_json(_outcome_json(outcome, output))
        return
    assert outcome.artifact is not None
    where = f" to {output}" if output else ""
    _note(f"fetched {fmt.value} SBOM {outcome.artifact.document_digest} attached to {outcome.image} "
          f"({outcome.digest}){where}; stored")


@app.command("list")
def list_stored(
    digest: str | None = typer.Option(None, "--digest", metavar="D", help="Only SBOMs of this image digest."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List the SBOM store: every generated, attached or fetched SBOM, newest first."""
    hm = open_core()
    rows = stored_sboms(hm, local_principal(hm), image_digest=digest)
    if json_output:
        emit_json(json_of(rows))
        return
    columns = ["image", "digest", "format", "origin", "components", "created"]
    print_table("SBOMs", columns,
                [(r.image_name, r.image_digest, r.format, r.origin, r.component_count,
                  dt.datetime.fromisoformat(r.created_at).strftime("%Y-%m-%d %H:%M")) for r in rows],
                whole={"image", "digest"})
