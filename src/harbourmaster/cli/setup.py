"""``init`` and ``serve``."""

from __future__ import annotations

from pathlib import Path

import typer

from harbourmaster.cli._common import GuardedGroup, JsonOption, emit_json, open_core, stdout
from harbourmaster.errors import BadInput

app = typer.Typer(cls=GuardedGroup)


@app.command()
def init(json_output: bool = JsonOption) -> None:
    """Create the data directory, the master key (mode 0600) and the database schema. Idempotent."""
    report = open_core(migrate=True).init()
    if json_output:
        emit_json(
            {
                "home": report.home,
                "database": report.database,
                "master_key": report.master_key,
                "created_key": report.created_key,
                "schema_revision": report.schema_revision,
            }
        )
        return
    stdout.print(f"home:        {report.home}")
    stdout.print(f"database:    {report.database} (schema {report.schema_revision})")
    stdout.print(f"master key:  {report.master_key}{' (created)' if report.created_key else ''}")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8400, help="Port to listen on."),
    log_level: str = typer.Option("info", help="uvicorn log level."),
    tls_cert: Path | None = typer.Option(
        None, "--tls-cert", help="Serve HTTPS with this certificate (PEM; with --tls-key)."
    ),
    tls_key: Path | None = typer.Option(None, "--tls-key", help="The private key of --tls-cert (PEM)."),
) -> None:
    """Run the HTTP API (OpenAPI at /api/v1/openapi.json).

    With --tls-cert and --tls-key it serves HTTPS (the kubelet credential provider reaches it only
    over HTTPS).

    While it serves, a signed audit checkpoint is written every
    HARBOURMASTER_AUDIT_CHECKPOINT_INTERVAL seconds (default 300; 0: never) when the log grew.
    On SQLite one background job worker runs in the server too (on PostgreSQL run 'harbourmaster
    worker' processes).
    """
    import uvicorn

    from harbourmaster.api.app import create_app
    from harbourmaster.logs import configure_logging

    if (tls_cert is None) != (tls_key is None):
        raise BadInput("give --tls-cert and --tls-key together")
    for flag, path in (("--tls-cert", tls_cert), ("--tls-key", tls_key)):
        if path is not None and not path.is_file():
            raise BadInput(f"{flag} {path}: no such file")
    hm = open_core()
    configure_logging(level=hm.settings.log_level or "info", fmt=hm.settings.log_format)
    app = create_app(hm, embedded_worker=hm.db.dialect == "sqlite", freeze_heap=True)
    # freeze_heap: start-up's objects, the model and the read models built from it are kept out of the
    # collector's full passes (api.lifespan.HeapFreezer), which keeps latency tails short.
    # log_config=None: uvicorn keeps the one logging configuration set up above.
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        log_config=None,
        ssl_certfile=str(tls_cert) if tls_cert is not None else None,
        ssl_keyfile=str(tls_key) if tls_key is not None else None,
    )
