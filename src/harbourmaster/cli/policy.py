"""``policy show``, ``policy export``, ``policy diff`` and ``tier show``: the rules images are judged by,
their fingerprint, their form for other admission engines, and the check that every layer enforces them."""

from __future__ import annotations

from pathlib import Path

import typer

from harbourmaster.cli._common import GuardedGroup, JsonOption, emit_json, local_principal, open_core, stdout
from harbourmaster.domain.exports import ExportFormat
from harbourmaster.domain.model import Tier

policy_app = typer.Typer(
    cls=GuardedGroup, help="The effective verdict rules of an environment.", no_args_is_help=True
)
tier_app = typer.Typer(cls=GuardedGroup, help="Tier policies: thresholds and signers.", no_args_is_help=True)


_UNSCANNED = {
    "block": "denied (unscanned: block)",
    "allow": "allowed, reported as unscanned (unscanned: allow)",
    "scan": "scanned at once within the time budget, denied if that fails (unscanned: scan)",
}


def _print(result: object, json_output: bool) -> None:
    from harbourmaster.services.policy import PolicyPublic
    from harbourmaster.services.results import json_of

    assert isinstance(result, PolicyPublic)
    if json_output:
        emit_json(json_of(result))
        return
    where = (
        f"environment {result.environment} ({result.tier} tier)"
        if result.environment
        else f"tier {result.tier}"
    )
    unfixed = ", unfixed findings ignored" if result.ignore_unfixed else ""
    lines = [
        f"{where}",
        f"  fingerprint: {result.fingerprint}",
        "  content: "
        + (
            "approved content only (an image's digest must have been imported into its registry by "
            "airgap import)"
            if result.require_approved_content
            else "any content of the approved registries"
        ),
        f"  vulnerabilities: block at {result.block_severity}, advisory at "
        f"{result.advisory_severity or 'none'}{unfixed}",
        f"  unscanned images: {_UNSCANNED.get(result.unscanned, result.unscanned)}",
        f"  allowlist in force: {len(result.allowlist)} entr{'y' if len(result.allowlist) == 1 else 'ies'}",
        "  signatures: "
        + (
            (
                f"required, {result.signers_required} of {', '.join(result.signers)}"
                if result.signers
                else "required, but no signer is configured (nothing can satisfy it)"
            )
            if result.require_signature
            else "not required"
        ),
    ]
    for line in lines:
        stdout.print(line, markup=False)


@policy_app.command("show")
def show(
    env: str | None = typer.Option(None, "--env", help="The environment."),
    tier: Tier | None = typer.Option(None, "--tier", help="A tier, for CI jobs with no environment."),
    json_output: bool = JsonOption,
) -> None:
    """Print the rules images are judged by on ENV (or a tier) and their fingerprint."""
    from harbourmaster.services.policy import show_policy

    hm = open_core()
    _print(show_policy(hm, local_principal(hm), environment=env, tier=tier), json_output)


@tier_app.command("show")
def show_tier(
    tier: Tier = typer.Argument(..., help="development, staging or production."),
    json_output: bool = JsonOption,
) -> None:
    """Print a tier's thresholds and signers, as CI jobs should use them (never a copy of their own)."""
    from harbourmaster.services.policy import show_policy

    hm = open_core()
    _print(show_policy(hm, local_principal(hm), tier=tier), json_output)


@policy_app.command("export")
def export(
    env: str = typer.Option(..., "--env", help="The Kubernetes environment."),
    format: ExportFormat = typer.Option(..., "--format", help="kyverno, gatekeeper or cilium-egress."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Write the YAML here, not to stdout."),
    json_output: bool = JsonOption,
) -> None:
    """Write ENV's rules for Kyverno, Gatekeeper or Cilium egress (YAML documents, checked by policy diff)."""
    from harbourmaster.cli._documents import emit_documents
    from harbourmaster.services.policy_export import export_policy
    from harbourmaster.services.results import json_of

    hm = open_core()
    result = export_policy(hm, local_principal(hm), environment=env, format=format)
    if json_output:
        emit_json(json_of(result))
        return
    emit_documents(result.documents, output)


@policy_app.command("diff")
def diff(
    env: str = typer.Option(..., "--env", help="The environment."),
    kyverno: Path | None = typer.Option(None, "--kyverno", help="A Kyverno policy file to compare."),
    gatekeeper: Path | None = typer.Option(None, "--gatekeeper", help="A Gatekeeper template + constraint."),
    webhook: str | None = typer.Option(None, "--webhook", help="The admission webhook's base URL."),
    gate: str | None = typer.Option(None, "--gate", help="The pull gate's base URL."),
    ca_bundle: Path | None = typer.Option(None, "--ca-bundle", help="CA certificates of the webhook/gate."),
    harbor: bool = typer.Option(
        False, "--harbor", help="Read the security settings of the managed Harbor projects granted to it."
    ),
    json_output: bool = JsonOption,
) -> None:
    """Compare what each layer enforces with the governance model; exit 1 on any mismatch."""
    from harbourmaster.cli._documents import read_text
    from harbourmaster.cli._exit import ExitCode
    from harbourmaster.cli._layer_probe import ask_layer
    from harbourmaster.services.policy_export import diff_policy
    from harbourmaster.services.results import json_of

    hm = open_core()
    answers = [
        ask_layer(layer, url, env, ca_bundle)
        for layer, url in (("webhook", webhook), ("gate", gate))
        if url is not None
    ]
    result = diff_policy(
        hm,
        local_principal(hm),
        environment=env,
        kyverno=(str(kyverno), read_text(kyverno, "--kyverno")) if kyverno is not None else None,
        gatekeeper=(
            (str(gatekeeper), read_text(gatekeeper, "--gatekeeper")) if gatekeeper is not None else None
        ),
        answers=answers,
        harbor=harbor,
    )
    if json_output:
        emit_json(json_of(result))
    else:
        for m in result.mismatches:
            stdout.print(f"{m.layer}: {m.subject}: {m.detail}", markup=False, highlight=False)
        count = len(result.mismatches)
        verdict = f"{count} mismatch{'es' if count != 1 else ''} with" if count else "all match"
        stdout.print(
            f"{', '.join(result.layers)}: {verdict} environment {result.environment} ({result.fingerprint})",
            markup=False, highlight=False,
        )
    if result.mismatches:
        raise typer.Exit(int(ExitCode.REFUSED))
