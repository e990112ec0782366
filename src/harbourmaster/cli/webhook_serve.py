"""``webhook serve``: the validating and mutating admission webhooks over HTTPS."""

from __future__ import annotations

import gc
from pathlib import Path

import typer

from harbourmaster.cli._common import open_core
from harbourmaster.errors import BadInput


def serve(
    cert: Path = typer.Option(..., "--cert", help="The server certificate (PEM), with its chain."),
    key: Path = typer.Option(..., "--key", help="The certificate's private key (PEM)."),
    host: str = typer.Option("0.0.0.0", help="Address to listen on."),  # noqa: S104 - a cluster Service reaches it
    port: int = typer.Option(8443, help="Port to listen on."),
    log_level: str = typer.Option("warning", help="uvicorn log level."),
    workers: int = typer.Option(
        1, "--workers", min=1, max=64, help="Processes serving the webhook (each with its own snapshot)."
    ),
    client_ca: Path | None = typer.Option(
        None,
        "--client-ca",
        help="Answer only clients presenting a certificate signed by this CA (PEM): the API server, "
        "configured with that client certificate (AdmissionConfiguration kubeConfigFile).",
    ),
) -> None:
    """Serve the admission webhooks over HTTPS: POST /validate/ENV and /mutate/ENV (AdmissionReview
    admission.k8s.io/v1), GET /healthz and GET /policy/ENV (the policy fingerprint).

    Decisions wait for registries HARBOURMASTER_ADMISSION_BUDGET_SECONDS at most (default 1); every
    review is audited in batches as webhook:ENV.
    """
    import ssl

    import uvicorn

    from harbourmaster.webhook import create_webhook_app

    hm = open_core()
    for label, path in (("--cert", cert), ("--key", key), ("--client-ca", client_ca)):
        if path is not None and not path.is_file():
            raise BadInput(f"{label} {path}: no such file")
    try:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(cert), str(key))
    except (ssl.SSLError, OSError) as exc:
        raise BadInput(f"--cert {cert} / --key {key}: not a certificate and its key ({exc})") from exc
    common: dict[str, object] = {
        "host": host,
        "port": port,
        "ssl_certfile": str(cert),
        "ssl_keyfile": str(key),
        "log_level": log_level,
        "log_config": None,
        "access_log": False,
        "timeout_graceful_shutdown": 10,
    }
    if client_ca is not None:
        try:
            context.load_verify_locations(cafile=str(client_ca))
        except (ssl.SSLError, OSError) as exc:
            raise BadInput(f"--client-ca {client_ca}: not PEM CA certificates ({exc})") from exc
        # Without a certificate from that CA the TLS handshake fails: nobody else can ask for verdicts
        # (or write admission records in another's name).
        common.update(ssl_ca_certs=str(client_ca), ssl_cert_reqs=ssl.CERT_REQUIRED)
    if workers > 1:
        # Each process builds its own core and snapshot from the environment (as replicas do).
        hm.db.dispose()
        uvicorn.run(
            "harbourmaster.webhook.app:webhook_app_from_environ",
            factory=True,
            workers=workers,
            **common,  # type: ignore[arg-type]
        )
        return
    app = create_webhook_app(hm, audit_process=True)
    gc.collect()
    gc.freeze()
    uvicorn.run(app, **common)  # type: ignore[arg-type]
