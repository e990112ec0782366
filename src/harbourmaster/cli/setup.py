"""``init`` and ``serve``."""

from __future__ import annotations

import gc

import typer

from harbourmaster.cli._common import GuardedGroup, JsonOption, emit_json, open_core, stdout

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
) -> None:
    """Run the HTTP API (OpenAPI at /api/v1/openapi.json).

    While it serves, a signed audit checkpoint is written every
    HARBOURMASTER_AUDIT_CHECKPOINT_INTERVAL seconds (default 300; 0: never) when the log grew.
    On SQLite one background job worker runs in the server too (on PostgreSQL run 'harbourmaster
    worker' processes).
    """
    import uvicorn

    from harbourmaster.api.app import create_app
    from harbourmaster.logs import configure_logging

    hm = open_core()
    configure_logging(level=hm.settings.log_level or "info", fmt=hm.settings.log_format)
    app = create_app(hm, embedded_worker=hm.db.dialect == "sqlite")
    # Move what start-up allocated out of the collector's reach: full collections then
    # scan only request-time objects, which keeps latency tails short.
    gc.collect()
    gc.freeze()
    # log_config=None: uvicorn keeps the one logging configuration set up above.
    uvicorn.run(app, host=host, port=port, log_level=log_level, log_config=None)
