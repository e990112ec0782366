"""``gate serve``: the registry pull gate in front of one registry, for one environment."""

from __future__ import annotations

import gc
from pathlib import Path

import typer

from harbourmaster.cli._common import GuardedGroup
from harbourmaster.errors import BadInput

gate_app = typer.Typer(cls=GuardedGroup, help="The registry pull gate: an OCI proxy enforcing the verdict.",
                       no_args_is_help=True)


@gate_app.command()
def serve(
    registry: str = typer.Option(..., "--registry", help="The approved registry the gate stands before."),
    env: str = typer.Option(..., "--env", help="The environment whose tier pulls are judged by."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(5080, "--port", min=1, max=65535, help="Port to listen on."),
    tls_cert: Path | None = typer.Option(None, "--tls-cert", help="Serve HTTPS with this certificate (PEM)."),
    tls_key: Path | None = typer.Option(None, "--tls-key", help="The certificate's private key (PEM)."),
    verdict_ttl: float = typer.Option(
        10.0, "--verdict-ttl", min=0.0, help="Seconds a digest's verdict is reused (within a model revision)."
    ),
    log_level: str = typer.Option("info", help="uvicorn log level."),
) -> None:
    """Serve the pull gate: manifests whose verdict denies are refused with 412, the rest stream through.

    Clients authenticate to the upstream registry through the gate with their own credentials.
    The gate acts as gate:REGISTRY; every pull is audited as registry.pull (via: gate).
    """
    if (tls_cert is None) != (tls_key is None):
        raise BadInput("--tls-cert and --tls-key go together")
    for option, path in (("--tls-cert", tls_cert), ("--tls-key", tls_key)):
        if path is not None and not path.is_file():
            raise BadInput(f"{option}: {path} is not a file")
    import uvicorn

    from harbourmaster.cli._common import open_core
    from harbourmaster.gate import create_gate_app
    from harbourmaster.logs import configure_logging
    from harbourmaster.services.pull_gate import gate_principal, open_pull_gate

    hm = open_core()
    configure_logging(level=hm.settings.log_level or "info", fmt=hm.settings.log_format)
    gate = open_pull_gate(hm, gate_principal(registry), registry=registry, environment=env,
                          verdict_ttl=verdict_ttl)
    app = create_gate_app(gate)
    gc.collect()
    gc.freeze()
    uvicorn.run(app, host=host, port=port, log_level=log_level, log_config=None, access_log=False,
                ssl_certfile=str(tls_cert) if tls_cert else None,
                ssl_keyfile=str(tls_key) if tls_key else None)
