"""``policy show`` and ``tier show``: the rules images are judged by, and their fingerprint."""

from __future__ import annotations

import typer

from harbourmaster.cli._common import GuardedGroup, JsonOption, emit_json, local_principal, open_core, stdout
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
