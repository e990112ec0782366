"""``webhook manifests`` and ``install-manifests``: Kubernetes YAML for the admission webhook's
configuration and for harbourmaster itself (the documents come from
:mod:`harbourmaster.services.manifests`; this module reads files and prints)."""

from __future__ import annotations

from pathlib import Path

import typer

from harbourmaster.cli._common import GuardedGroup, local_principal, open_core

__all__ = ["install", "install_app", "manifests"]

install_app = typer.Typer(cls=GuardedGroup)


def _ca_bundle(path: Path | None) -> str | None:
    from harbourmaster.cli._documents import read_text

    return read_text(path, "--ca-bundle") if path is not None else None


def manifests(
    env: str = typer.Option(..., "--env", help="The Kubernetes environment."),
    url: str | None = typer.Option(None, "--url", help="The webhook's HTTPS base URL."),
    service: str | None = typer.Option(None, "--service", help="The webhook's Service, NAMESPACE/NAME."),
    ca_bundle: Path | None = typer.Option(None, "--ca-bundle", help="PEM CA that signed the webhook's cert."),
    timeout: int = typer.Option(5, "--timeout", help="timeoutSeconds (1-30)."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Write the YAML here, not to stdout."),
) -> None:
    """Print the ValidatingWebhookConfiguration and MutatingWebhookConfiguration of an environment."""
    from harbourmaster.cli._documents import emit_documents
    from harbourmaster.services.manifests import webhook_manifests

    hm = open_core()
    documents = webhook_manifests(
        hm,
        local_principal(hm),
        environment=env,
        url=url,
        service=service,
        ca_bundle_pem=_ca_bundle(ca_bundle),
        timeout_seconds=timeout,
    )
    emit_documents(documents, output)


@install_app.command("install-manifests")
def install(
    namespace: str = typer.Option("harbourmaster", "--namespace", help="Namespace to install into."),
    image: str = typer.Option(
        "ghcr.io/harbourmaster/harbourmaster:0.1.0", "--image", help="harbourmaster's container image."
    ),
    database_secret: str = typer.Option(
        "harbourmaster-database", "--database-secret", help="Secret with the PostgreSQL URL (key 'url')."
    ),
    master_key_secret: str = typer.Option(
        "harbourmaster-master-key", "--master-key-secret", help="Secret with the master key (key 'key')."
    ),
    webhook_replicas: int = typer.Option(
        2, "--webhook-replicas", min=2, help="Webhook replicas (2 or more)."
    ),
    ca_bundle: Path | None = typer.Option(None, "--ca-bundle", help="PEM CA of the webhook's certificate."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Write the YAML here, not to stdout."),
) -> None:
    """Print a complete deployment of harbourmaster on Kubernetes (API, webhook, workers, their webhooks)."""
    from harbourmaster.cli._documents import emit_documents
    from harbourmaster.services.manifests import InstallOptions, install_manifests

    hm = open_core()
    options = InstallOptions(
        namespace=namespace,
        image=image,
        database_secret=database_secret,
        master_key_secret=master_key_secret,
        webhook_replicas=webhook_replicas,
    )
    emit_documents(
        install_manifests(hm, local_principal(hm), options, ca_bundle_pem=_ca_bundle(ca_bundle)), output
    )
