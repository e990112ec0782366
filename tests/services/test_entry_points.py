"""Every rule and permission check sits behind a service that takes a ``Principal``.

The entry points are found, not listed: every function of ``harbourmaster.services`` that a
surface (``api``, ``cli``, ``web``) calls.  Each must take a ``Principal`` and call ``require`` (itself,
or through a services function that does), unless it is named below with the reason it
touches no governance data.
"""

from __future__ import annotations

import ast
from pathlib import Path

import harbourmaster

PACKAGE = Path(harbourmaster.__file__).parent

#: Entry points that read or write no governance data, and why.
EXEMPT = {
    # Parsing command-line and query values: no data read.
    ("credentials", "parse_duration"),
    ("tokens", "parse_token_lifetime"),
    ("vulns", "parse_since"),
    ("signing_trust", "parse_annotations"),
    # The JSON Schema and field reference of the governance document: generated from code.
    ("document_schema", "governance_markdown"),
    ("document_schema", "render_json_schema"),
    # Establishes who the principal is (from a bearer token); every other call needs one.
    ("tokens", "authenticate"),
    # Establishes that a registry reports its events (from its notification secret).
    ("registry_notifications", "authenticate_registry_events"),
    # The system principal a pull gate acts as (made by `gate serve`, never from a token).
    ("pull_gate", "gate_principal"),
    # Turns a result model into JSON data.
    ("results", "json_of"),
    # Reads an image on disk; keeping its SBOM is keep_local_sbom (checked).
    ("local_sboms", "generate_local_sbom"),
    ("local_sboms", "sbom_store_unavailable"),
    # Checks a detached signature with public keys given on the command line; reads no store
    # (cosign verify-blob needs no data directory either).
    ("signing_blobs", "verify_blob"),
    # Compares two bundle manifests given on the command line; reads no store.
    ("airgap_diff", "diff_bundles"),
    # Parses an ImageSet file given on the command line; resolving it (resolve_image_set) is checked.
    ("imagesets", "read_image_set"),
    # serve's scheduler (no caller): queues the model's due mirrors as scheduler:<name>, whose rights
    # job_principal checks when each job runs, only while the schedule is defined as it was.
    ("mirror_schedule", "enqueue_due"),
    # serve's rotation loop (no caller): rotates the managed robots that are due as harbourmaster, audited.
    ("robot_rotation", "rotation_tick"),
    # The harbourmaster_credential_expiry_seconds metric: registry and credential names and times only.
    ("robot_rotation", "credential_expiries"),
    # Establish who is signed in to the web UI (from an API token, then from the server-side session),
    # open the session of the one who just signed in, and end the caller's own session (sign-out).
    ("web_sessions", "sign_in"),
    ("web_sessions", "session_principal"),
    ("web_sessions", "open_session"),
    ("web_sessions", "end_session"),
    # The key that signs web session cookies (never shown; no data of anyone's).
    ("web_sessions", "session_key"),
    # OpenID sign-in: establishes who signs in (from the provider's ID token), then who the session is.
    ("web_oidc", "oidc_client"),
    ("web_oidc", "start_sign_in"),
    ("web_oidc", "finish_sign_in"),
}


def _surface_calls() -> set[tuple[str, str]]:
    """(services module, function) for every services name a surface imports or uses as ``module.name``."""
    used: set[tuple[str, str]] = set()
    for path in [*PACKAGE.glob("api/**/*.py"), *PACKAGE.glob("cli/**/*.py"), *PACKAGE.glob("web/**/*.py")]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("harbourmaster.services"):
                for name in node.names:
                    if node.module == "harbourmaster.services":
                        aliases[name.asname or name.name] = name.name
                    else:
                        used.add((node.module.rsplit(".", 1)[1], name.name))
        for node in ast.walk(tree):
            named = isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            if named and node.value.id in aliases:  # type: ignore[attr-defined]
                used.add((aliases[node.value.id], node.attr))  # type: ignore[attr-defined]
    return used


def _functions() -> dict[tuple[str, str], ast.FunctionDef]:
    out = {}
    for path in (PACKAGE / "services").glob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef):
                out[(path.stem, node.name)] = node
    return out


def _calls(fn: ast.FunctionDef) -> tuple[set[str], set[str]]:
    """The names ``fn`` calls as ``name(...)``, and as ``something.name(...)``."""
    bare, attributes = set(), set()
    for node in ast.walk(fn):
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name):
                bare.add(node.func.id)
            elif isinstance(node.func, ast.Attribute):
                attributes.add(node.func.attr)
    return bare, attributes


def _requiring(functions: dict[tuple[str, str], ast.FunctionDef]) -> set[tuple[str, str]]:
    """Services functions that call ``require``, directly or through one that does.

    A bare name is the module's own function when it has one (``_write`` is private to each
    module that defines one), else an imported one; ``module.name`` is any module's ``name``.
    """
    callees: dict[tuple[str, str], set[tuple[str, str]]] = {}
    calls_require = set()
    for (module, name), fn in functions.items():
        bare, attributes = _calls(fn)
        if "require" in bare:
            calls_require.add((module, name))
        own = {(module, b) for b in bare if (module, b) in functions}
        imported = {k for k in functions if k[1] in bare and (module, k[1]) not in own}
        targets = own | imported | {k for k in functions if k[1] in attributes}
        callees[(module, name)] = targets
    found = set(calls_require)
    while True:
        more = {key for key, targets in callees.items() if key not in found and targets & found}
        if not more:
            return found
        found |= more


def _takes_principal(fn: ast.FunctionDef) -> bool:
    args = [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs]
    return any(a.annotation is not None and ast.unparse(a.annotation) == "Principal" for a in args)


def _violations() -> list[str]:
    functions = _functions()
    requiring = _requiring(functions)
    problems = []
    for key in sorted(_surface_calls()):
        fn = functions.get(key)
        if fn is None or key in EXEMPT:
            continue  # a class or a model (results), or exempt
        if not _takes_principal(fn):
            problems.append(f"{key[0]}.{key[1]}: takes no Principal")
        elif key not in requiring:
            problems.append(f"{key[0]}.{key[1]}: never calls require()")
    return problems


def test_every_entry_point_takes_a_principal_and_requires_a_permission() -> None:
    assert len([k for k in _surface_calls() if k in _functions()]) > 40  # the walk finds the entry points
    assert _violations() == []


def test_the_walk_sees_a_missing_require() -> None:
    tree = ast.parse(
        "def listed(hm: Harbourmaster, principal: Principal) -> list[str]:\n    return []\n"
        "def checked(hm: Harbourmaster, principal: Principal) -> None:\n    _check(principal)\n"
        "def _check(principal: Principal) -> None:\n    require(principal, Permission.GOVERNANCE_READ)\n"
    )
    functions = {("m", n.name): n for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert _requiring(functions) == {("m", "checked"), ("m", "_check")}
    assert all(_takes_principal(f) for f in functions.values())


def test_every_exemption_is_still_an_entry_point() -> None:
    assert _surface_calls() >= EXEMPT
