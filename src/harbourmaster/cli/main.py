"""The ``harbourmaster`` command: one module per command group, loaded when it is used.

``harbourmaster --help`` lists :data:`COMMANDS` without importing a command's
module (a test checks that each summary matches the command's own help), and
running a command imports only its module: the CLI starts in a fraction of the
time the core, the database and the registry client take to import.  Every command
runs inside the one error handler, :func:`harbourmaster.cli._common.guard`, and
exits with a code from :mod:`harbourmaster.cli._exit`.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from typing import Any

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup

from harbourmaster.cli._common import DEBUG_ENV, GuardedGroup

__all__ = ["COMMANDS", "app", "main"]


@dataclass(frozen=True, slots=True)
class LazyCommand:
    """Where a command lives: ``module:attribute`` of a Typer app, the command in it (None: the app is
    the group), and its one-line summary for ``harbourmaster --help``."""

    target: str
    command: str | None
    summary: str

    def load(self) -> Any:
        module, _, attribute = self.target.partition(":")
        typer_app = getattr(importlib.import_module(module), attribute)
        if self.command is None:
            return typer.main.get_group(typer_app)
        sub = typer.main.get_command(typer_app)
        return sub.commands[self.command] if isinstance(sub, TyperGroup) else sub


#: Every command and group, in the order ``--help`` lists them.
COMMANDS: dict[str, LazyCommand] = {
    "init": LazyCommand(
        "harbourmaster.cli.setup:app",
        "init",
        "Create the data directory, the master key (mode 0600) and the database schema. Idempotent.",
    ),
    "serve": LazyCommand(
        "harbourmaster.cli.setup:app", "serve", "Run the HTTP API (OpenAPI at /api/v1/openapi.json)."
    ),
    "apply": LazyCommand(
        "harbourmaster.cli.governance:app",
        "apply",
        "Make the governance model match FILE, idempotently, in one transaction.",
    ),
    "export": LazyCommand(
        "harbourmaster.cli.governance:app",
        "export",
        "Write the current model as governance YAML (without secrets).",
    ),
    "check": LazyCommand(
        "harbourmaster.cli.governance:app",
        "check",
        "May these images be deployed? Exit 0: all allowed; 1: any denied; 2: bad input; 3: could not "
        "decide.",
    ),
    "resolve": LazyCommand(
        "harbourmaster.cli.resolve:app", "resolve", "Print the digest IMAGE points to now."
    ),
    "scan": LazyCommand(
        "harbourmaster.cli.vulns:scan_app",
        "scan",
        "Scan an image or an SBOM against the advisory database.",
    ),
    "sign": LazyCommand(
        "harbourmaster.cli.signing:app",
        "sign",
        "Sign IMAGE by digest and store the signature beside it (cosign's tag or bundle format).",
    ),
    "verify": LazyCommand(
        "harbourmaster.cli.signing:app",
        "verify",
        "Check IMAGE's signatures. Exit 0: the signer policy is met; 1: not; 2: bad input; 3: could not "
        "decide.",
    ),
    "sign-blob": LazyCommand(
        "harbourmaster.cli.signing:app",
        "sign-blob",
        "Sign FILE's bytes (cosign sign-blob); print the base64 signature.",
    ),
    "verify-blob": LazyCommand(
        "harbourmaster.cli.signing:app",
        "verify-blob",
        "Verify a detached signature over FILE (cosign verify-blob). Exit 0 verified, 1 not, 2 bad input.",
    ),
    "mirror": LazyCommand(
        "harbourmaster.cli.mirror:app",
        "mirror",
        "Mirror an ImageSet into a registry: scan, copy with referrers, sign, tag last.",
    ),
    "airgap": LazyCommand(
        "harbourmaster.cli.airgap:app",
        None,
        "Air-gapped transfer: export an ImageSet as a signed bundle, import it, compare bundles.",
    ),
    "webhook": LazyCommand(
        "harbourmaster.cli.webhook:webhook_app",
        None,
        "Kubernetes admission webhooks: serve them, print their configuration.",
    ),
    "policy": LazyCommand(
        "harbourmaster.cli.policy:policy_app", None, "The effective verdict rules of an environment."
    ),
    "tier": LazyCommand("harbourmaster.cli.policy:tier_app", None, "Tier policies: thresholds and signers."),
    "signing-key": LazyCommand(
        "harbourmaster.cli.signing_keys:app",
        None,
        "Signing keys kept in the vault (the private half is never shown).",
    ),
    "worker": LazyCommand(
        "harbourmaster.cli.jobs:worker_app",
        "worker",
        "Run background jobs until stopped (SIGTERM or SIGINT let the jobs in hand finish).",
    ),
    "job": LazyCommand(
        "harbourmaster.cli.jobs:job_app", None, "Background jobs: their state, progress and outcome."
    ),
    "install-manifests": LazyCommand(
        "harbourmaster.cli.webhook_manifests:install_app",
        "install-manifests",
        "Print a complete deployment of harbourmaster on Kubernetes (API, webhook, workers, their webhooks).",
    ),
    "schema": LazyCommand(
        "harbourmaster.cli.schema:app",
        "schema",
        "Print the JSON Schema of the governance document (or its field reference with --markdown).",
    ),
    "gate": LazyCommand(
        "harbourmaster.cli.gate:gate_app", None, "The registry pull gate: an OCI proxy enforcing the verdict."
    ),
    "registry": LazyCommand("harbourmaster.cli.registry:app", None, "Approved registries."),
    "audit": LazyCommand("harbourmaster.cli.audit:app", None, "The tamper-evident audit log."),
    "assess": LazyCommand(
        "harbourmaster.cli.assess:app",
        "assess",
        "Assess the configuration against the key decisions Ch5-D-01..D-09 and maturity levels 1-4.",
    ),
    "keys": LazyCommand("harbourmaster.cli.keys:app", None, "The master key."),
    "deploy": LazyCommand(
        "harbourmaster.cli.deploy:deploy_app",
        "deploy",
        "Deploy a compose file or Kubernetes objects, pulled with just-in-time registry credentials.",
    ),
    "deployments": LazyCommand(
        "harbourmaster.cli.deploy:deployments_app", None, "What harbourmaster deployed: list, show, remove."
    ),
    "jit": LazyCommand("harbourmaster.cli.jit:app", None, "Just-in-time pull Secrets on Kubernetes."),
    "token": LazyCommand("harbourmaster.cli.token:app", None, "API bearer tokens."),
    "credential-provider": LazyCommand(
        "harbourmaster.cli.credential_provider:app",
        None,
        "The kubelet image credential provider: pull credentials for a Kubernetes environment's nodes.",
    ),
    "credentials": LazyCommand(
        "harbourmaster.cli.credentials:app", None, "Registry credentials (write-only: never shown)."
    ),
    "harbor": LazyCommand(
        "harbourmaster.cli.harbor:app",
        None,
        "Managed Harbor registries (manage: true): projects, security settings, robot accounts.",
    ),
    "sbom": LazyCommand(
        "harbourmaster.cli.sbom:app",
        None,
        "Software bills of materials: generate an image's SBOM (from a registry, an OCI layout or a "
        "docker-archive tarball), attach it to the image, fetch it back, list the SBOM store.",
    ),
    "vulndb": LazyCommand(
        "harbourmaster.cli.vulns:vulndb_app",
        None,
        "The advisory database: import OSV exports, show what is loaded.",
    ),
    "vulns": LazyCommand(
        "harbourmaster.cli.vulns:vulns_app",
        None,
        "Continuous correlation: images that new advisories affect.",
    ),
}


class _Harbourmaster(GuardedGroup):
    """The root group: loads a command's module when the command is used, and guards every command."""

    _listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        loaded = self.commands.get(cmd_name)
        if loaded is not None:
            return loaded
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        if self._listing:
            # The summary is enough for a list: no import.
            return TyperCommand(name=cmd_name, help=entry.summary)
        command = entry.load()
        self.commands[cmd_name] = command
        return command

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name = args[0]
        if not name.startswith("-") and name not in COMMANDS:
            close = difflib.get_close_matches(name, list(COMMANDS), n=1)
            ctx.fail(f"No such command {name!r}." + (f" Did you mean {close[0]!r}?" if close else ""))
        return super().resolve_command(ctx, args)


app = typer.Typer(
    name="harbourmaster",
    cls=_Harbourmaster,
    help="Registry-governance control plane: approved registries, write-only credentials, decisions.\n\n"
    "Exit codes: 0 done or allowed; 1 the policy says no (denied, blocked, verification failed); "
    "2 bad input or usage; 3 could not decide (a registry, the database or harbourmaster failed).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _options(
    debug: bool = typer.Option(
        False, "--debug", help=f"Show the traceback of an unexpected error (or set {DEBUG_ENV}=1)."
    ),
) -> None:
    del debug  # read by the root group's error handler


def main() -> None:
    app()


if __name__ == "__main__":
    main()
