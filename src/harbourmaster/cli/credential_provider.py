"""``credential-provider config``: the kubelet's ``CredentialProviderConfig`` for an environment.

``harbourmaster credential-provider`` without a subcommand is the plugin itself, answered by
:mod:`harbourmaster.cli._kubelet_plugin` before this module (or Typer) is imported."""

from __future__ import annotations

from pathlib import Path

import typer

from harbourmaster.cli._common import GuardedGroup, local_principal, open_core
from harbourmaster.domain.durations import parse_duration

app = typer.Typer(
    cls=GuardedGroup,
    help="The kubelet image credential provider: pull credentials for a Kubernetes environment's nodes.",
    no_args_is_help=True,
)

_MAX_CACHE = 24 * 3600


@app.command()
def config(
    env: str = typer.Option(..., "--env", help="The Kubernetes environment."),
    server: str = typer.Option(..., "--server", help="harbourmaster's https:// URL, as the nodes reach it."),
    ca_file: str = typer.Option(..., "--ca-file", help="The CA of the server's certificate, on the node."),
    token_file: str = typer.Option(..., "--token-file", help="The node token's file, on the node."),
    cache_duration: str = typer.Option(
        "5m", "--cache-duration", help="defaultCacheDuration, e.g. 5m, 1h (0m: no cache)."
    ),
    output: Path | None = typer.Option(None, "-o", "--output", help="Write the YAML here, not to stdout."),
) -> None:
    """Print ENV's CredentialProviderConfig (kubelet --image-credential-provider-config) as YAML."""
    import datetime as dt

    from harbourmaster.cli._documents import emit_documents
    from harbourmaster.domain.exports.credential_provider_config import CredentialProviderSettings
    from harbourmaster.services.pull_credentials import kubelet_config

    cache = parse_duration(
        cache_duration, field="--cache-duration", maximum=dt.timedelta(seconds=_MAX_CACHE), units="mhd"
    )
    hm = open_core()
    document = kubelet_config(
        hm,
        local_principal(hm),
        environment=env,
        settings=CredentialProviderSettings(server_url=server, ca_file=ca_file, node_token_file=token_file),
        default_cache_seconds=int(cache.total_seconds()),
    )
    emit_documents([document], output)
