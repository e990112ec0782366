"""``webhook serve`` and ``webhook manifests``: the Kubernetes admission webhooks and their configuration.

The commands live in their own modules (the server in :mod:`harbourmaster.cli.webhook_serve`, the
configuration printer in :mod:`harbourmaster.cli.webhook_manifests`); this module groups them.
"""

from __future__ import annotations

import typer

from harbourmaster.cli import webhook_manifests, webhook_serve
from harbourmaster.cli._common import GuardedGroup

webhook_app = typer.Typer(
    cls=GuardedGroup,
    help="Kubernetes admission webhooks: serve them, print their configuration.",
    no_args_is_help=True,
)
webhook_app.command("serve")(webhook_serve.serve)
webhook_app.command("manifests")(webhook_manifests.manifests)
