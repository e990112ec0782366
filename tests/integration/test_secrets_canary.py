"""Canary secrets: planted through apply and the API, found nowhere, yet usable.

Unique canary values are stored as registry credentials and TLS client keys,
through a governance document (``env:`` references) and through the API
(create, then patch).  Then every surface is swept for them, in their raw,
hex and base64 forms: every GET route of the API (path parameters filled
from the model), the CLI's listings and exports, ``apply --dry-run`` of a
changed secret, error responses to bad requests that carry a canary, the log
(DEBUG, SQLAlchemy echo included), the audit export, and the raw database
(SQLite file and WAL; on PostgreSQL every row of every table as text, and
the data and WAL files).  Finally the stored secrets are opened through the
vault to show they are really there, and that use is audited.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select, text
from typer.testing import CliRunner

from harbourmaster.api.app import create_app
from harbourmaster.cli import _common as cli_common
from harbourmaster.cli._common import local_principal
from harbourmaster.cli.main import app as cli_app
from harbourmaster.domain.audit import to_json_line
from harbourmaster.domain.secret import Secret
from harbourmaster.services.apply import apply_document
from harbourmaster.services.audit import verify_audit
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.credentials import open_registry_secret, use_credential
from harbourmaster.services.deployments import list_deployments
from harbourmaster.services.job_requests import list_jobs, submit_sbom_generate
from harbourmaster.services.jobs import run_one
from harbourmaster.services.signing_keys import import_signing_key, list_signing_keys
from harbourmaster.services.tokens import create_token
from harbourmaster.signing.keys import encrypt_private_key, generate_private_key
from harbourmaster.store.database import Database
from harbourmaster.store.models import AuditRow
from harbourmaster.store.sql import SqlStore
from tests.integration.postgres import PostgresCluster, core_on
from tests.store.support import apply_example

pytestmark = pytest.mark.integration

P = "/api/v1"
CERT = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUcanary\n-----END CERTIFICATE-----\n"


def canary(label: str) -> str:
    return f"CANARY-{label}-{uuid.uuid4()}"


def encoded_forms(secret: str) -> dict[str, bytes]:
    """``secret`` as it could appear if something stored or printed it: raw, hex, base64 at each alignment."""
    raw = secret.encode("utf-8")
    forms = {
        "raw": raw,
        "hex": raw.hex().encode(),
        "HEX": raw.hex().upper().encode(),
        "utf-16": secret.encode("utf-16-le"),
    }
    for pad in range(3):
        for name, encode in (("b64", base64.b64encode), ("b64url", base64.urlsafe_b64encode)):
            enc = encode(b"\0" * pad + raw).rstrip(b"=")
            skip = -(-pad * 8 // 6)  # characters that also encode the padding
            forms[f"{name}+{pad}"] = enc[skip : len(enc) - 3]
    return forms


@dataclass
class Sweep:
    """What has been looked at, by where it came from."""

    canaries: dict[str, str]
    seen: dict[str, bytes] = field(default_factory=dict)

    def add(self, where: str, content: str | bytes) -> None:
        data = content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content
        self.seen[where] = self.seen.get(where, b"") + data + b"\n"

    def leaks(self, *, binary: Iterable[tuple[str, bytes]] = ()) -> list[str]:
        found = []
        sources = [*self.seen.items(), *binary]
        for label, secret in self.canaries.items():
            for form, pattern in encoded_forms(secret).items():
                found += [f"{label} ({form}) in {where}" for where, data in sources if pattern in data]
        return found


@dataclass
class Planted:
    hm: Harbourmaster
    client: TestClient
    admin: dict[str, str]
    canaries: dict[str, str]
    document: str
    env: dict[str, str]


CANARY_DOCUMENT = """\
apiVersion: harbourmaster.io/v1
kind: Governance
registries:
  - name: canary-reg
    provider: harbor
    url: https://harbor.canary.example
    scope: apps
    credential:
      kind: robot
      username: robot$apps+deployer
      secret: env:HM_CANARY_CREDENTIAL
      expires: 2030-01-31
    tls:
      client_certificate: |
{cert}
      client_key: env:HM_CANARY_CLIENT_KEY
environments:
  - name: canary-env
    kind: kubernetes
    tier: production
    namespaces: [apps]
grants:
  - registry: canary-reg
    environment: canary-env
    namespaces: [apps]
"""


@pytest.fixture
def planted(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> Iterator[Planted]:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")
    canaries = {
        "apply-credential": canary("apply-credential"),
        "apply-client-key": canary("apply-client-key"),
        "api-credential": canary("api-credential"),
        "api-client-key": canary("api-client-key"),
        "api-patched": canary("api-patched"),
        "dry-run": canary("dry-run"),
        "bad-request": canary("bad-request"),
        "signing-key-password": canary("signing-key-password"),
    }
    hm = core_on(database_url, tmp_path / "home", init=False)
    hm.db.dispose()
    # The store on a database that logs every statement with its parameters.
    hm.store = SqlStore(Database(database_url, echo=True), clock=hm.clock)
    hm.init()
    apply_example(hm, monkeypatch)
    monkeypatch.setenv("HM_CANARY_CREDENTIAL", canaries["apply-credential"])
    monkeypatch.setenv("HM_CANARY_CLIENT_KEY", canaries["apply-client-key"])
    cert = "\n".join("        " + line for line in CERT.splitlines())
    document = CANARY_DOCUMENT.format(cert=cert)
    result = apply_document(hm, local_principal(hm), document, source="canary.yaml", host=hm.host_files())
    assert result.applied and "+ registry canary-reg" in "\n".join(result.changes)
    # A signing key in the vault, imported from a cosign key file whose password is a canary.
    key_file = tmp_path / "cosign.key"
    password = canaries["signing-key-password"]
    key_file.write_bytes(encrypt_private_key(generate_private_key(), password.encode()))
    imported = import_signing_key(
        hm,
        local_principal(hm),
        "canary-signing",
        key_file=str(key_file),
        password=Secret(canaries["signing-key-password"]),
    )
    assert imported.public_key.startswith("-----BEGIN PUBLIC KEY-----")

    token = create_token(hm, user="admin", name="canary", actor="tester").token.reveal()
    admin = {"Authorization": f"Bearer {token}"}
    env = {
        "HARBOURMASTER_HOME": str(hm.settings.home),
        "HARBOURMASTER_DATABASE_URL": database_url,
    }
    with TestClient(create_app(hm)) as client:
        created = client.post(
            f"{P}/registries",
            headers=admin,
            json={
                "name": "api-canary",
                "provider": "custom",
                "url": "https://api.canary.example",
                "credential": {"username": "api-bot", "secret": canaries["api-credential"]},
                "tls": {"client_certificate": CERT, "client_key": canaries["api-client-key"]},
            },
        )
        assert created.status_code == 201, created.text
        assert created.json()["credential"]["secret_set"] is True
        assert created.json()["tls"]["client_key_set"] is True
        patched = client.patch(
            f"{P}/registries/api-canary",
            headers=admin,
            json={"credential": {"secret": canaries["api-patched"]}},
        )
        assert patched.status_code == 200, patched.text
        yield Planted(hm, client, admin, canaries, document, env)
    hm.db.dispose()


#: Values for query parameters; a required parameter not named here fails the sweep.
QUERY_VALUES = {
    "within": "36500d",
    "since": "0",
    "repository": "apps/app",
    "reference": "latest",
    "image": "harbor.canary.example/apps/app@sha256:" + "a" * 64,
    "environment": "canary-env",
    "namespace": "apps",
    "digest": "sha256:" + "b" * 64,
    "format": "kyverno",
}
#: GET routes that only read the model: each must answer 200.  Others may reach out to a
#: registry (none is reachable here) and may answer 502/503/504, never 500.
LOCAL_GETS = {
    "/registries",
    "/registries/{name}",
    "/environments",
    "/environments/{name}",
    "/me",
    "/users",
    "/teams",
    "/grants",
    "/access",
    "/tiers",
    "/export",
    "/audit/verify",
    "/audit/export",
    "/credentials/expiring",
    "/signing-keys",
    "/signing-keys/{name}",
    "/jobs",
    "/jobs/{job_id}",
}


def _fill(path: str, state_names: dict[str, list[str]]) -> list[str]:
    """Every concrete path for a templated one, from the current model."""
    if "{" not in path:
        return [path]
    match = re.fullmatch(rf"{P}/([\w-]+)/\{{(\w+)\}}(/[\w/-]*)?", path)
    if match is None or match[1] not in state_names:
        pytest.fail(f"no rule to fill the path parameters of GET {path}: add one to this test")
    names = state_names[match[1]]
    assert names, f"no {match[1]} to fill {path} with"
    return [f"{P}/{match[1]}/{name}{match[3] or ''}" for name in names]


def sweep_api(p: Planted, sweep: Sweep) -> int:
    # A job that used the planted credential (and failed: nothing answers), so its error is swept too.
    submit_sbom_generate(p.hm, local_principal(p.hm), QUERY_VALUES["image"])
    run_one(p.hm, owner="canary-worker")
    state = p.hm.state()
    names = {
        "registries": [r.name for r in state.registries],
        "environments": [e.name for e in state.environments],
        "users": [u.name for u in state.users],
        "teams": [t.name for t in state.teams],
        "tiers": [t.value for t in state.tiers],
        "signing-keys": [k.name for k in list_signing_keys(p.hm, local_principal(p.hm))],
        "jobs": [str(j.id) for j in list_jobs(p.hm, local_principal(p.hm))],
        # None is deployed here (canary-env has no API server): an id that does not exist is swept (404).
        "deployments": [d.id for d in list_deployments(p.hm, local_principal(p.hm))] or ["dep-000000000000"],
    }
    # A deployment of an image of the canary registry is refused (no API server): its answer is swept too.
    refused = p.client.post(
        f"{P}/environments/canary-env/deployments",
        headers=p.admin,
        json={"namespace": "apps", "content": yaml.safe_dump(
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "app"},
             "spec": {"containers": [{"name": "app", "image": QUERY_VALUES["image"]}]}}
        )},
    )  # fmt: skip
    assert refused.status_code == 422, refused.text
    sweep.add("POST deployments", refused.content)
    # The assessment names every registry and credential (the sweep below sends it format=kyverno: 422).
    for report in (f"{P}/assessment", f"{P}/assessment?format=html"):
        answer = p.client.get(report, headers=p.admin)
        assert answer.status_code == 200, answer.text
        sweep.add(f"GET {report}", answer.content)
    spec = p.client.get(f"{P}/openapi.json").json()
    sweep.add("openapi.json", json.dumps(spec))
    count = 0
    for path, ops in spec["paths"].items():
        if "get" not in ops:
            continue
        params = {}
        for q in ops["get"].get("parameters", []):
            if q["in"] != "query":
                continue
            if q["name"] in QUERY_VALUES:
                params[q["name"]] = QUERY_VALUES[q["name"]]
            elif q.get("required"):
                pytest.fail(f"no value for the required query parameter {q['name']} of GET {path}")
        for concrete in _fill(path, names):
            response = p.client.get(concrete, headers=p.admin, params=params)
            where = f"GET {concrete}: {response.status_code} {response.text[:300]}"
            if path.removeprefix(P) in LOCAL_GETS:
                assert response.status_code == 200, where
            else:
                assert response.status_code < 500 or response.status_code in (502, 503, 504), where
                assert response.status_code not in (401, 403), where
            sweep.add(f"GET {concrete}", response.content)
            sweep.add(f"GET {concrete} headers", str(response.headers))
            count += 1
    for extra in ("/healthz", "/metrics"):
        sweep.add(f"GET {extra}", p.client.get(extra).content)
    return count


def sweep_bad_requests(p: Planted, sweep: Sweep) -> None:
    bad = p.canaries["bad-request"]
    client, admin = p.client, p.admin
    reg = {"name": "bad-reg", "provider": "custom", "url": "https://bad.example"}
    attempts: list[tuple[str, str, dict[str, object] | None, str | None, int]] = [
        # (method, path, json body, raw body, expected status)
        (
            "POST",
            "/registries",
            {**reg, "provider": "nope", "credential": {"username": "u", "secret": bad}},
            None,
            422,
        ),
        ("POST", "/registries", {**reg, "credential": {"username": "u", "secret": [bad]}}, None, 422),
        (
            "POST",
            "/registries",
            {**reg, "credential": {"username": "u", "secret": bad, "password": bad}},
            None,
            422,
        ),
        (
            "POST",
            "/registries",
            {**reg, "credential": {"username": "u", "secret": bad, "expires": bad}},
            None,
            422,
        ),
        (
            "POST",
            "/registries",
            {**reg, "url": "http://plain.example", "credential": {"username": "u", "secret": bad}},
            None,
            422,
        ),
        (
            "POST",
            "/registries",
            {**reg, "name": "canary-reg", "credential": {"username": "u", "secret": bad}},
            None,
            409,
        ),
        (
            "POST",
            "/registries",
            {**reg, "credential": {"username": "u", "secret": bad, "expires": "2001-01-01"}},
            None,
            422,
        ),
        ("POST", "/registries", {**reg, "tls": {"client_key": {"pem": bad}}}, None, 422),
        ("PATCH", "/registries/no-such-registry", {"credential": {"secret": bad}}, None, 404),
        ("PATCH", "/registries/canary-reg", {"credential": {"secret": bad, "kind": "nope"}}, None, 422),
        (
            "PATCH",
            "/registries/dockerhub-anonymous",
            {"credential": {"username": "u", "secret": bad}},
            None,
            422,
        ),
        ("POST", "/registries", None, '{"name": "x", "credential": {"secret": "' + bad, 422),
        ("POST", "/apply", {"document": p.document.replace("env:HM_CANARY_CREDENTIAL", bad)}, None, 422),
        ("POST", "/apply", {"document": p.document.replace("env:HM_CANARY_CLIENT_KEY", bad)}, None, 422),
        (
            "POST",
            "/apply",
            {
                "document": p.document.replace(
                    "      expires: 2030-01-31\n", f"      expires: 2030-01-31\n      password: {bad}\n"
                )
            },
            None,
            422,
        ),
        ("POST", "/apply", {"document": f"registries: [{{name: x, credential: {{secret: '{bad}'"}, None, 422),
        ("POST", "/apply", {"document": bad}, None, 422),
    ]
    before = _recorded_changes(p)
    for method, path, body, raw, status in attempts:
        headers = {**admin, **({"content-type": "application/json"} if raw is not None else {})}
        response = client.request(method, f"{P}{path}", json=body, content=raw, headers=headers)
        where = f"{method} {path} {json.dumps(body)[:60] if body else raw}"
        assert response.status_code == status, f"{where}: {response.status_code} {response.text}"
        assert response.headers["content-type"].startswith("application/problem+json"), where
        sweep.add(f"error response to {where}", response.content)
    assert _recorded_changes(p) == before, "a refused request was recorded as a change"


def _recorded_changes(p: Planted) -> int:
    """Audit records other than token uses (every authenticated request makes one)."""
    with p.hm.db.read() as session:
        return len(list(session.scalars(select(AuditRow.seq).where(AuditRow.action != "token.use"))))


def sweep_cli(p: Planted, sweep: Sweep, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var, value in p.env.items():
        monkeypatch.setenv(var, value)
    for console in (cli_common.stdout, cli_common.stderr):
        # wide enough that no table cell wraps (a wrapped canary would hide from the search)
        monkeypatch.setattr(console, "width", 400)
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(cli_app, list(args), catch_exceptions=False)
        output = result.output + (result.stderr if result.stderr_bytes is not None else "")
        assert result.exit_code == code, f"harbourmaster {' '.join(args)}: {result.exit_code} {output}"
        sweep.add(f"cli {' '.join(args)}", output)
        return output

    registries = [r.name for r in p.hm.state().registries]
    assert "api-canary" in run("registry", "list")
    listed = json.loads(run("registry", "list", "--json"))
    assert {r["name"] for r in listed} == set(registries)
    for name in registries:
        run("registry", "show", name)
        shown = json.loads(run("registry", "show", name, "--json"))
        assert shown["name"] == name
    exported = run("export")
    assert "canary-reg" in exported and "client_certificate" in exported
    exported_file = tmp_path / "exported.yaml"
    run("export", "-o", str(exported_file))
    sweep.add("export file", exported_file.read_bytes())
    audit_lines = run("audit", "export").splitlines()
    assert any('"credential.use"' in line for line in audit_lines)
    run("audit", "verify")
    run("audit", "verify", "--json")
    expiring = run("credentials", "expiring", "--within", "36500d")
    assert "canary-reg" in expiring
    run("credentials", "expiring", "--within", "36500d", "--json")

    doc = tmp_path / "canary.yaml"
    doc.write_text(p.document, encoding="utf-8")
    monkeypatch.setenv("HM_CANARY_CREDENTIAL", p.canaries["dry-run"])
    dry = run("apply", "-f", str(doc), "--dry-run")
    assert "~ registry canary-reg: secret replaced" in dry and "not applied" in dry
    dry_json = json.loads(run("apply", "-f", str(doc), "--dry-run", "--json"))
    assert dry_json["applied"] is False and "~ registry canary-reg: secret replaced" in dry_json["changes"]

    inline = tmp_path / "inline.yaml"
    inline.write_text(p.document.replace("env:HM_CANARY_CREDENTIAL", p.canaries["bad-request"]))
    refused = run("apply", "-f", str(inline), code=2)
    assert "never inline" in refused
    monkeypatch.setenv("HM_CANARY_CREDENTIAL", p.canaries["apply-credential"])


def raw_database(p: Planted, cluster: PostgresCluster | None) -> list[tuple[str, bytes]]:
    """The database as bytes: files for SQLite; rows as text, data files and WAL for PostgreSQL."""
    out: list[tuple[str, bytes]] = []
    engine = p.hm.db.engine
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            for table in inspect(conn).get_table_names():
                rows = conn.execute(text(f'SELECT * FROM "{table}"')).all()
                out.append((f"table {table}", repr(rows).encode()))
        db_file = Path(str(engine.url.database))
        files = sorted(db_file.parent.glob(db_file.name + "*"))
        assert db_file in files
        out += [(f"file {f.name}", f.read_bytes()) for f in files]
        return out
    assert cluster is not None
    with engine.connect() as conn:
        tables = inspect(conn).get_table_names()
        assert "registries" in tables and "audit_log" in tables
        for table in tables:
            rows = conn.execute(text(f'SELECT t::text FROM "{table}" t')).scalars().all()
            out.append((f"table {table}", "\n".join(rows).encode()))
        dbname = conn.execute(text("SELECT current_database()")).scalar_one()
    cluster.checkpoint()
    base = cluster.datadir / "base" / str(cluster.database_oid(dbname))
    data = b"".join(f.read_bytes() for f in sorted(base.iterdir()) if f.is_file())
    out.append((f"data files of {dbname}", data))
    wal = b"".join(f.read_bytes() for f in sorted((cluster.datadir / "pg_wal").iterdir()) if f.is_file())
    out.append(("pg_wal", wal))
    return out


def test_canaries_appear_nowhere_and_stay_usable(
    planted: Planted,
    database_url: str,
    request: pytest.FixtureRequest,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    p = planted
    hm = p.hm
    sweep = Sweep(p.canaries)

    # The secrets are there and usable, and each use is audited.
    use = use_credential(hm, registry="canary-reg", actor="deployer", purpose="pull")
    assert use is not None and use.username == "robot$apps+deployer"
    assert use.secret.reveal() == p.canaries["apply-credential"]
    api_use = use_credential(hm, registry="api-canary", actor="deployer", purpose="pull")
    assert api_use is not None and api_use.secret.reveal() == p.canaries["api-patched"]
    for name, label in (("canary-reg", "apply-client-key"), ("api-canary", "api-client-key")):
        with hm.store.read() as tx:
            key_blob = tx.governance.sealed_blobs(name).client_key
        assert key_blob is not None
        reg = hm.state().registry(name)
        assert reg is not None
        key = open_registry_secret(hm, reg, key_blob, field="client_key")
        assert key.reveal() == p.canaries[label]
    with hm.db.read() as session:
        uses = [
            (r.actor, r.target, r.result, dict(r.details))
            for r in session.scalars(select(AuditRow).where(AuditRow.action == "credential.use"))
        ]
    assert uses == [
        ("deployer", "canary-reg", "ok", {"purpose": "pull", "username": "robot$apps+deployer"}),
        ("deployer", "api-canary", "ok", {"purpose": "pull", "username": "api-bot"}),
    ]
    sweep.add("repr of the opened secret", repr(use) + str(use.secret) + f"{use.secret}")

    # Every surface.
    assert sweep_api(p, sweep) >= 2 + len(hm.state().registries) + len(hm.state().environments)
    sweep_bad_requests(p, sweep)
    sweep_cli(p, sweep, monkeypatch, tmp_path)
    with hm.store.read() as tx:
        assert verify_audit(tx.audit).ok
        sweep.add("audit log", "\n".join(to_json_line(e) for e in tx.audit.entries()))

    # The log: DEBUG for everything, and the SQL with its parameters.
    records = [*caplog.get_records("setup"), *caplog.get_records("call")]
    log = "\n".join(f"{r.name} {r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in records)
    assert "INSERT INTO registries" in log and "credential_sealed" in log, "the SQL log was not captured"
    sweep.add("log", log)
    captured = capsys.readouterr()
    sweep.add("stdout/stderr", captured.out + captured.err)

    # Nothing anywhere, raw database included; the dry run stored nothing either.
    cluster = request.getfixturevalue("postgres_cluster") if database_url.startswith("postgresql") else None
    raw = raw_database(p, cluster)
    # The raw view really holds the stored data (a non-secret field of the same row).
    username = b"robot$apps+deployer"
    if cluster is None:
        assert username in b"".join(data for where, data in raw if where.startswith("file "))
    else:
        holding = {where for where, data in raw if username in data}
        assert {"table registries", "pg_wal"} <= holding
        assert any(w.startswith("data files") for w in holding)
    leaks = sweep.leaks(binary=raw)
    assert leaks == [], "\n".join(leaks)
    # The sweep can find a canary when it is there.
    assert Sweep(p.canaries, {"probe": base64.b64encode(b"x" + p.canaries["api-patched"].encode())}).leaks()
    use = use_credential(hm, registry="canary-reg", actor="deployer", purpose="after dry run")
    assert use is not None and use.secret.reveal() == p.canaries["apply-credential"]


def test_a_canary_used_as_a_field_name_is_not_echoed(planted: Planted) -> None:
    """A secret pasted where a key belongs (``{"<secret>": ...}``) is still a secret."""
    bad = planted.canaries["bad-request"]
    response = planted.client.post(
        f"{P}/registries",
        headers=planted.admin,
        json={"name": "x", "provider": "custom", "url": "https://x.example", bad: "value"},
    )
    assert response.status_code == 422
    assert bad not in response.text
