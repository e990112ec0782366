"""The governance document's ``signing`` section, read into :class:`SigningTrust` and checked.

Every piece of trust material is parsed here, with the signing adapter, before
anything is stored: a public key that is not a PEM key of an accepted type, a
regular expression that does not compile, a trusted root sigstore does not
accept, a Notation trust policy that breaks its specification or names a
store that is not defined: each is an error with its document path, reported
with all the others in one pass.  Files (``file:/path``) are read only by the
CLI on its own host, through the :class:`HostFiles` guard; through the API the
material is given as text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from harbourmaster.domain.signing_trust import (
    NotationTrust,
    NotationTrustStoreConfig,
    SigningTrust,
    TrustedIdentity,
    TrustedKey,
)
from harbourmaster.domain.state import Violation
from harbourmaster.services.document import SigningSpec
from harbourmaster.signing.interface import KeyFormatError
from harbourmaster.signing.keyless import load_trusted_root
from harbourmaster.signing.keys import load_public_key
from harbourmaster.signing.notation_policy import load_trust_store, parse_trust_policy
from harbourmaster.vault.interface import UnresolvedSecretError
from harbourmaster.vault.references import HostFiles, read_host_file

__all__ = ["signing_from_spec"]

T = TypeVar("T")
_MAX_MATERIAL_BYTES = 4 * 1024 * 1024
_FILES_CLI_ONLY = "give the text itself; files are read only by the harbourmaster CLI on its own host"


def _material(
    value: str, *, path: str, looks_inline: bool, problems: list[Violation], host: HostFiles | None
) -> str | None:
    """``value`` itself when it is the material, else the content of the file it names."""
    if looks_inline:
        return value
    target = value.removeprefix("file:")
    if host is None:
        problems.append(Violation(path, _FILES_CLI_ONLY))
        return None
    try:
        return read_host_file(target, field=path, guard=host, limit=_MAX_MATERIAL_BYTES).decode("utf-8")
    except UnresolvedSecretError as exc:
        problems.append(Violation(path, exc.message.removeprefix(f"{path}: ")))
    except UnicodeDecodeError:
        problems.append(Violation(path, f"{target} is not UTF-8 text"))
    return None


def _checked(
    path: str, problems: list[Violation], check: Callable[..., object], *args: Any, **kwargs: Any
) -> bool:
    """Run ``check(*args, **kwargs)``; a KeyFormatError becomes a problem at ``path``."""
    try:
        check(*args, **kwargs)
    except KeyFormatError as exc:
        problems.append(Violation(path, exc.message.removeprefix(f"{path}: ")))
        return False
    return True


def _here(entity: T, path: str) -> T:
    del path
    return entity


def signing_from_spec(
    spec: SigningSpec,
    *,
    problems: list[Violation],
    host: HostFiles | None,
    unusable: set[str],
    at: Callable[[Any, str], Any] = _here,
) -> SigningTrust:
    """The trust ``spec`` describes; each problem is appended with its document path, and the name
    of each signer whose own entry failed is added to ``unusable`` (so references to it are not
    reported again); ``at(entity, path)`` records where each signer was defined."""
    keys: list[TrustedKey] = []
    for i, key in enumerate(spec.keys):
        path = f"signing.keys[{i}].public_key"
        pem = _material(
            key.public_key,
            path=path,
            looks_inline="-----BEGIN" in key.public_key,
            problems=problems,
            host=host,
        )
        if pem is not None and _checked(path, problems, load_public_key, pem, source=path):
            keys.append(at(TrustedKey(key.name, pem), f"signing.keys[{i}]"))
        else:
            unusable.add(key.name)
    identities: list[TrustedIdentity] = []
    for i, identity in enumerate(spec.identities):
        path = f"signing.identities[{i}]"
        try:
            re.compile(identity.subject_regex)
        except re.error as exc:
            problems.append(Violation(f"{path}.subject_regex", f"not a regular expression: {exc}"))
            unusable.add(identity.name)
            continue
        if not identity.issuer.startswith("https://"):
            problems.append(Violation(f"{path}.issuer", "an OIDC issuer is an https:// URL"))
            unusable.add(identity.name)
            continue
        identities.append(at(TrustedIdentity(identity.name, identity.issuer, identity.subject_regex), path))
    root = None
    if spec.trusted_root is not None:
        inline = spec.trusted_root.lstrip().startswith("{")
        root = _material(
            spec.trusted_root, path="signing.trusted_root", looks_inline=inline, problems=problems, host=host
        )
        if root is not None and not _checked(
            "signing.trusted_root", problems, load_trusted_root, root.encode(), source="trusted root"
        ):
            root = None
    elif spec.identities:
        problems.append(
            Violation(
                "signing.trusted_root",
                "keyless identities are verified offline against a sigstore trusted root; give trusted_root",
            )
        )
    return SigningTrust(
        keys=tuple(keys),
        identities=tuple(identities),
        trusted_root_json=root,
        notation=_notation(spec, problems=problems, host=host, unusable=unusable),
    )


def _notation(
    spec: SigningSpec, *, problems: list[Violation], host: HostFiles | None, unusable: set[str]
) -> NotationTrust:
    stores: list[NotationTrustStoreConfig] = []
    references: set[str] = set()
    for i, store in enumerate(spec.notation.trust_stores):
        path = f"signing.notation.trust_stores[{i}].certificates"
        pem = _material(
            store.certificates,
            path=path,
            looks_inline="-----BEGIN" in store.certificates,
            problems=problems,
            host=host,
        )
        if pem is not None and _checked(
            path, problems, load_trust_store, pem.encode(), type=store.type, name=store.name, source=path
        ):
            stores.append(NotationTrustStoreConfig(store.name, store.type, pem))
            references.add(f"{store.type}:{store.name}")
    text = spec.notation.trust_policy
    if text is None:
        return NotationTrust(trust_stores=tuple(stores))
    path = "signing.notation.trust_policy"
    document = _material(
        text, path=path, looks_inline=text.lstrip().startswith("{"), problems=problems, host=host
    )
    if document is None:
        return NotationTrust(trust_stores=tuple(stores))
    try:
        policies = parse_trust_policy(document.encode(), source=path)
    except KeyFormatError as exc:
        problems.append(Violation(path, exc.message))
        return NotationTrust(trust_stores=tuple(stores))
    for policy in policies:
        for reference in policy.trust_stores:
            if reference not in references:
                problems.append(
                    Violation(
                        path,
                        f"trust policy {policy.name} names trust store {reference}, "
                        "which is not under signing.notation.trust_stores",
                    )
                )
                unusable.add(policy.name)
    return NotationTrust(
        trust_stores=tuple(stores), trust_policy_json=document, policy_names=tuple(p.name for p in policies)
    )
