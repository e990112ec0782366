"""Which signers a verification trusts, and by what policy: keys given for one command, vault keys
by name, or an environment's tier (its signers from the governance ``signing`` section).

The result, :class:`Trust`, holds parsed trust material for the signing adapter
and a fingerprint of everything a verdict depends on (material, policy,
annotation constraints), which keys the verification cache.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from harbourmaster.domain.reference import ImageReference
from harbourmaster.domain.signers import SignerPolicy, SignersRequired
from harbourmaster.errors import BadInput
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.environment_access import named_environment
from harbourmaster.signing.keyless import KeylessIdentity, TrustRoot, load_trusted_root
from harbourmaster.signing.keys import MAX_KEY_FILE_BYTES, load_public_key
from harbourmaster.signing.notation_policy import (
    NotationTrustPolicy,
    NotationTrustStore,
    load_trust_store,
    parse_trust_policy,
)
from harbourmaster.signing.verify import TrustedKey
from harbourmaster.vault.references import HostFiles, read_host_file

__all__ = [
    "PublicKeyFile",
    "Trust",
    "environment_trust",
    "key_trust",
    "negative_ttl",
    "parse_annotations",
    "public_key_files",
    "read_key_file",
    "verification_cache_key",
]


@dataclass(frozen=True)
class PublicKeyFile:
    """A PEM public key (or certificate) file on this host, trusted for one command."""

    path: str


@dataclass(frozen=True, kw_only=True)
class Trust:
    """Parsed trust material and the signer policy of one verification."""

    policy: SignerPolicy
    keys: tuple[TrustedKey, ...] = ()
    identities: tuple[KeylessIdentity, ...] = ()
    root: TrustRoot | None = None
    notation_policies: tuple[NotationTrustPolicy, ...] = ()
    notation_stores: tuple[NotationTrustStore, ...] = ()
    annotations: Mapping[str, str] = field(default_factory=dict)
    #: SHA-256 of the material, policy and annotation constraints: the cache key.
    fingerprint: str = ""
    #: What the trust came from, for messages: "environment prod-eu (production)", "--key FILE", ...
    source: str = ""


def _fingerprint(material: object) -> str:
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()


def key_trust(
    hm: Harbourmaster,
    *,
    files: Sequence[PublicKeyFile] = (),
    vault_keys: Sequence[str] = (),
    required: SignersRequired = SignersRequired.ANY,
    annotations: Mapping[str, str] | None = None,
) -> Trust:
    """Trust in the public keys of ``files`` (read on this host) and of vault keys ``vault_keys``.

    Raises:
        BadInput: no key given.
        NotFound: a vault key does not exist.
        KeyFormatError: a file is not a public key.
        UnresolvedSecretError: a file cannot be read (or is one of harbourmaster's own).
    """
    if not files and not vault_keys:
        raise BadInput("give at least one key to verify with (--key FILE, --signing-key NAME or --env ENV)")
    keys = public_key_files(files, guard=hm.host_files())
    if vault_keys:
        from harbourmaster.services.signing_keys import signing_key_public_pem

        keys += [
            TrustedKey(name, load_public_key(signing_key_public_pem(hm, name), source=f"signing key {name}"))
            for name in vault_keys
        ]
    names = tuple(k.name for k in keys)
    constraints = dict(annotations or {})
    return Trust(
        policy=SignerPolicy(names, required),
        keys=tuple(keys),
        annotations=constraints,
        fingerprint=_fingerprint(
            {
                "keys": sorted(k.fingerprint for k in keys),
                "names": names,
                "required": required.value,
                "annotations": constraints,
            }
        ),
        source=", ".join(names),
    )


def read_key_file(path: str, *, guard: HostFiles, what: str = "key file") -> bytes:
    """A key file given for one command (``--key``), read on this host through ``guard``.

    Raises:
        UnresolvedSecretError: missing, unreadable, too large, or one of harbourmaster's own files.
    """
    return read_host_file(path, field="--key", guard=guard, limit=MAX_KEY_FILE_BYTES, what=what)


def public_key_files(files: Sequence[PublicKeyFile], *, guard: HostFiles) -> list[TrustedKey]:
    """The keys of PEM public key (or certificate) files, each trusted under its path.

    Raises:
        KeyFormatError: a file is not a public key.
        UnresolvedSecretError: a file cannot be read (or is one of harbourmaster's own).
    """
    return [
        TrustedKey(
            f.path,
            load_public_key(
                read_key_file(f.path, guard=guard, what="public key file"), source=f"--key {f.path}"
            ),
        )
        for f in files
    ]


#: Parsed trust per core, model revision, environment and annotations: parsing a trusted root or a
#: Notation policy costs milliseconds, and an enforcement point asks for the same trust again and again.
_TRUSTS: weakref.WeakKeyDictionary[Harbourmaster, dict[tuple[object, ...], Trust]] = (
    weakref.WeakKeyDictionary()
)
_TRUSTS_LOCK = threading.Lock()


def environment_trust(
    hm: Harbourmaster,
    environment: str,
    *,
    annotations: Mapping[str, str] | None = None,
    revision: int | None = None,
) -> Trust:
    """The trust of ``environment``'s tier: its signers (keys, identities, Notation policies) and any/all.
    ``revision`` is the model revision the caller has just read (saves reading it again).

    Raises:
        NotFound: no such environment.
    """
    if revision is None:
        revision = hm.snapshot().revision
    key = (revision, environment, tuple(sorted((annotations or {}).items())))
    with _TRUSTS_LOCK:
        known = _TRUSTS.setdefault(hm, {}).get(key)
    if known is not None:
        return known
    trust = _environment_trust(hm, environment, annotations=annotations)
    with _TRUSTS_LOCK:
        trusts = _TRUSTS.setdefault(hm, {})
        if len(trusts) > 256:
            trusts.clear()
        trusts[key] = trust
    return trust


def _environment_trust(
    hm: Harbourmaster, environment: str, *, annotations: Mapping[str, str] | None
) -> Trust:
    snapshot, state = hm.current()
    env = named_environment(snapshot, environment)
    tier = state.tiers[env.tier]
    policy = tier.signer_policy()
    wanted = set(policy.signers)
    signing = state.signing
    keys = tuple(
        TrustedKey(k.name, load_public_key(k.public_key_pem, source=f"signing key {k.name}"))
        for k in signing.keys
        if k.name in wanted
    )
    identities = tuple(
        KeylessIdentity(i.name, i.issuer, i.subject_regex) for i in signing.identities if i.name in wanted
    )
    root = (
        load_trusted_root(signing.trusted_root_json.encode(), source="signing.trusted_root")
        if identities and signing.trusted_root_json
        else None
    )
    notation_policies: tuple[NotationTrustPolicy, ...] = ()
    stores: tuple[NotationTrustStore, ...] = ()
    if set(signing.notation.policy_names) & wanted and signing.notation.trust_policy_json:
        notation_policies = tuple(
            p
            for p in parse_trust_policy(
                signing.notation.trust_policy_json.encode(), source="signing.notation.trust_policy"
            )
            if p.name in wanted
        )
        stores = tuple(
            load_trust_store(
                s.certificates_pem.encode(),
                type=s.type,
                name=s.name,
                source=f"signing.notation.trust_stores {s.name}",
            )
            for s in signing.notation.trust_stores
        )
    constraints = dict(annotations or {})
    material = {
        "trust": signing.fingerprint(policy.signers),
        "signers": policy.signers,
        "required": policy.required.value,
        "require_signature": policy.require_signature,
        "annotations": constraints,
    }
    return Trust(
        policy=policy,
        keys=keys,
        identities=identities,
        root=root,
        notation_policies=notation_policies,
        notation_stores=stores,
        annotations=constraints,
        fingerprint=_fingerprint(material),
        source=f"environment {env.name} ({env.tier.value} tier)",
    )


def negative_ttl() -> dt.timedelta:
    """How long a verdict that is not satisfied is reused (a signature may be added any moment)."""
    return dt.timedelta(seconds=60)


def parse_annotations(pairs: Sequence[str]) -> dict[str, str]:
    """``KEY=VALUE`` pairs (``--annotation``) as a mapping.

    Raises:
        BadInput: a pair without ``=``, an empty key, or a key given twice.
    """
    annotations: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise BadInput(f"--annotation {pair!r}: expected KEY=VALUE")
        if key in annotations:
            raise BadInput(f"--annotation {key!r} is given twice")
        annotations[key] = value
    return annotations


def verification_cache_key(trust: Trust, ref: ImageReference) -> str:
    """The key a verification of an image of ``ref``'s repository under ``trust`` is cached by.

    Signatures are looked for beside the image: the same digest in another repository (or registry)
    may have none, and Notation's registryScopes depend on the repository too.
    """
    return hashlib.sha256(f"{trust.fingerprint}\n{ref.repository}".encode()).hexdigest()
