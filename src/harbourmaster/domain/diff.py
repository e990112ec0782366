"""What changes between two governance models, as lines a person can review.

Used by ``apply --dry-run`` and recorded in the audit log with every change.
Secrets never appear: a replaced secret is reported as replaced, nothing more.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import fields
from typing import TypeVar

from harbourmaster.domain.model import AccessEntry, RegistryGrant
from harbourmaster.domain.signing_trust import SigningTrust
from harbourmaster.domain.state import GovernanceState

__all__ = ["describe_changes"]

T = TypeVar("T")


def _value(v: object) -> str:
    if isinstance(v, tuple):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if hasattr(v, "value") and isinstance(getattr(v, "value"), str):  # noqa: B009 - enums
        return str(getattr(v, "value"))  # noqa: B009
    if hasattr(v, "isoformat"):
        return str(v.isoformat())
    return repr(v) if isinstance(v, str) else str(v)


def _field_changes(old: object, new: object, prefix: str = "") -> list[str]:
    out: list[str] = []
    for f in fields(old):  # type: ignore[arg-type]
        a, b = getattr(old, f.name), getattr(new, f.name)
        if a == b or f.name == "location":
            continue
        name = f"{prefix}{f.name}"
        if f.name in ("ca_bundle", "client_certificate", "image_set"):
            out.append(f"{name} changed")
        elif f.name == "secret_set" or f.name == "client_key_set":
            out.append(f"{name}: {a} -> {b}")
        elif a is not None and b is not None and hasattr(a, "__dataclass_fields__"):
            out.extend(_field_changes(a, b, f"{name}."))
        else:
            out.append(f"{name}: {_value(a)} -> {_value(b)}")
    return out


def _named(kind: str, old: Iterable[T], new: Iterable[T], key: Callable[[T], str]) -> list[str]:
    a = {key(x): x for x in old}
    b = {key(x): x for x in new}
    out = [f"- {kind} {k}" for k in sorted(a.keys() - b.keys())]
    out += [f"+ {kind} {k}" for k in sorted(b.keys() - a.keys())]
    for k in sorted(a.keys() & b.keys()):
        if a[k] != b[k]:
            out += [f"~ {kind} {k}: {c}" for c in _field_changes(a[k], b[k])]
    return out


def _grant(g: RegistryGrant) -> str:
    return f"{g.registry} -> {g.environment} {g.grantee}"


def _access(a: AccessEntry) -> str:
    who = f"user {a.user}" if a.user is not None else f"team {a.team}"
    return f"{a.environment}: {who} as {a.role.value}"


def describe_changes(
    old: GovernanceState, new: GovernanceState, *, replaced_secrets: Iterable[str] = ()
) -> list[str]:
    """One line per change from ``old`` to ``new`` (``+`` added, ``-`` removed, ``~`` changed)."""
    out = _named("registry", old.registries, new.registries, lambda r: r.name)
    out += [f"~ registry {name}: secret replaced" for name in sorted(set(replaced_secrets))]
    out += _named("environment", old.environments, new.environments, lambda e: e.name)
    out += _named("user", old.users, new.users, lambda u: u.name)
    out += _named("team", old.teams, new.teams, lambda t: t.name)
    old_access, new_access = {_access(a) for a in old.access}, {_access(a) for a in new.access}
    out += [f"- access {a}" for a in sorted(old_access - new_access)]
    out += [f"+ access {a}" for a in sorted(new_access - old_access)]
    old_grants, new_grants = {_grant(g) for g in old.grants}, {_grant(g) for g in new.grants}
    out += [f"- grant {g}" for g in sorted(old_grants - new_grants)]
    out += [f"+ grant {g}" for g in sorted(new_grants - old_grants)]
    for tier in sorted(set(old.tiers) | set(new.tiers)):
        a, b = old.tiers.get(tier), new.tiers.get(tier)
        if a != b and a is not None and b is not None:
            out += [f"~ tier {tier.value}: {c}" for c in _field_changes(a, b)]
    out += _named(
        "allowlist",
        old.allowlist,
        new.allowlist,
        lambda a: a.advisory + (f" for registry {a.registry}" if a.registry else ""),
    )
    if old.hide_dockerhub_anonymous != new.hide_dockerhub_anonymous:
        out.append(
            f"~ settings: hide_dockerhub_anonymous: {old.hide_dockerhub_anonymous} -> "
            f"{new.hide_dockerhub_anonymous}"
        )
    old_kinds = {k.describe() for k in old.content_ignore_kinds}
    new_kinds = {k.describe() for k in new.content_ignore_kinds}
    out += [f"- content.ignore_kinds {k}" for k in sorted(old_kinds - new_kinds)]
    out += [f"+ content.ignore_kinds {k}" for k in sorted(new_kinds - old_kinds)]
    out += _signing_changes(old.signing, new.signing)
    return out + _named("mirror", old.mirrors, new.mirrors, lambda m: m.name)


def _signing_changes(old: SigningTrust, new: SigningTrust) -> list[str]:
    keys_old, keys_new = {k.name: k for k in old.keys}, {k.name: k for k in new.keys}
    out = [f"- signing key {n}" for n in sorted(keys_old.keys() - keys_new.keys())]
    out += [f"+ signing key {n}" for n in sorted(keys_new.keys() - keys_old.keys())]
    out += [f"~ signing key {n}: public key changed" for n in sorted(keys_old.keys() & keys_new.keys())
            if keys_old[n] != keys_new[n]]
    out += _named("signing identity", old.identities, new.identities, lambda i: i.name)
    if old.trusted_root_json != new.trusted_root_json:
        out.append("~ signing: trusted_root " + ("removed" if new.trusted_root_json is None else
                                                  "set" if old.trusted_root_json is None else "changed"))
    stores_old = {(s.type, s.name): s for s in old.notation.trust_stores}
    stores_new = {(s.type, s.name): s for s in new.notation.trust_stores}
    out += [f"- notation trust store {t}:{n}" for t, n in sorted(stores_old.keys() - stores_new.keys())]
    out += [f"+ notation trust store {t}:{n}" for t, n in sorted(stores_new.keys() - stores_old.keys())]
    out += [f"~ notation trust store {t}:{n}: certificates changed"
            for t, n in sorted(stores_old.keys() & stores_new.keys())
            if stores_old[(t, n)] != stores_new[(t, n)]]
    if old.notation.trust_policy_json != new.notation.trust_policy_json:
        out.append("~ notation trust policy: " + ", ".join(new.notation.policy_names or ("(none)",)))
    return out
