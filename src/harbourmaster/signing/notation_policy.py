"""Notation (Notary Project) trust stores and trust policies: the configuration a Notation
signature is verified against.

A trust store is a named set of X.509 certificates of one type: ``ca`` (roots or
intermediates of signing certificates, signing scheme ``notary.x509``),
``signingAuthority`` (scheme ``notary.x509.signingAuthority``) or ``tsa``
(timestamping authorities).  A trust policy document (version ``1.0``) lists
``trustPolicies``; each names the repositories it covers (``registryScopes``: full
repository URIs, or ``*`` alone), a verification level, the trust stores
(``type:name``) and the trusted identities (``*`` alone, or
``x509.subject: <RFC 4514 DN>``) of its signers.

Levels, per validation (integrity, authenticity, authenticTimestamp, expiry,
revocation): ``strict`` enforces all; ``permissive`` only logs authenticTimestamp,
expiry and revocation; ``audit`` enforces integrity only; ``skip`` verifies
nothing (harbourmaster never counts it as a pass).  ``signatureVerification.override``
changes one validation's action (``enforce``/``log``/``skip``), except integrity,
and authenticity cannot be skipped.

Every problem in this configuration raises :class:`KeyFormatError` naming the
source, the policy and the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, cast

from cryptography import x509

from harbourmaster.signing.interface import KeyFormatError

__all__ = [
    "LEVELS",
    "NotationTrustPolicy",
    "NotationTrustStore",
    "load_trust_store",
    "parse_trust_policy",
    "parse_trusted_dn",
    "select_policy",
    "subject_attributes",
]

StoreType = Literal["ca", "signingAuthority", "tsa"]
Level = Literal["strict", "permissive", "audit", "skip"]
Action = Literal["enforce", "log", "skip"]
VALIDATIONS = ("integrity", "authenticity", "authenticTimestamp", "expiry", "revocation")
#: The action of each validation at each level (Notary Project trust policy specification).
LEVELS: dict[str, dict[str, Action]] = {
    "strict": dict.fromkeys(VALIDATIONS, "enforce"),
    "permissive": {
        "integrity": "enforce",
        "authenticity": "enforce",
        "authenticTimestamp": "log",
        "expiry": "log",
        "revocation": "log",
    },
    "audit": {
        "integrity": "enforce",
        "authenticity": "log",
        "authenticTimestamp": "log",
        "expiry": "log",
        "revocation": "log",
    },
    "skip": dict.fromkeys(VALIDATIONS, "skip"),
}
_STORE_TYPES = ("ca", "signingAuthority", "tsa")
_STORE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
# A repository URI: host[:port]/path, lower-case path components (OCI distribution names).
_REPOSITORY = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)+$")
_MANDATORY_DN = {"C", "ST", "O"}
MAX_POLICY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class NotationTrustStore:
    """Certificates trusted under ``type:name`` (a policy's ``trustStores`` entry)."""

    type: StoreType
    name: str
    certificates: tuple[x509.Certificate, ...] = field(repr=False)

    @property
    def reference(self) -> str:
        return f"{self.type}:{self.name}"


@dataclass(frozen=True, kw_only=True)
class NotationTrustPolicy:
    """One ``trustPolicies`` entry, validated."""

    name: str
    registry_scopes: tuple[str, ...]
    level: Level
    trust_stores: tuple[str, ...] = ()
    trusted_identities: tuple[str, ...] = ()
    overrides: Mapping[str, Action] = field(default_factory=dict)

    def action(self, validation: str) -> Action:
        """What this policy does when ``validation`` fails: enforce it, log it, or skip it."""
        return self.overrides.get(validation, LEVELS[self.level][validation])


def load_trust_store(pem: bytes, *, type: str, name: str, source: str) -> NotationTrustStore:
    """A trust store of the certificates in ``pem`` (one or more ``CERTIFICATE`` blocks).

    Raises:
        KeyFormatError: an unknown store type, a bad name, or PEM that holds no readable certificate.
    """
    if type not in _STORE_TYPES:
        raise KeyFormatError(f"{source}: trust store type {type!r} is not one of {', '.join(_STORE_TYPES)}")
    if not _STORE_NAME.match(name):
        raise KeyFormatError(
            f"{source}: trust store name {name!r} may hold only letters, digits, '.', '_', '-'"
        )
    try:
        certificates = tuple(x509.load_pem_x509_certificates(pem))
    except ValueError as exc:
        raise KeyFormatError(f"{source}: not PEM X.509 certificates ({exc})") from None
    return NotationTrustStore(cast(StoreType, type), name, certificates)


def _split_unescaped(text: str, separators: str) -> list[str]:
    parts, current, escaped = [], "", False
    for char in text:
        if escaped:
            current, escaped = current + "\\" + char, False
        elif char == "\\":
            escaped = True
        elif char in separators:
            parts.append(current)
            current = ""
        else:
            current += char
    if escaped:
        raise ValueError("a trailing backslash")
    return [*parts, current]


def _unescape(value: str) -> str:
    """An RFC 4514 attribute value without its escapes (``\\,`` and ``\\2C`` are both ``,``)."""
    out, i = bytearray(), 0
    while i < len(value):
        if value[i] == "\\":
            pair = value[i + 1 : i + 3]
            if len(pair) == 2 and all(c in "0123456789abcdefABCDEF" for c in pair):
                out.append(int(pair, 16))
                i += 3
                continue
            out += value[i + 1].encode()
            i += 2
            continue
        out += value[i].encode()
        i += 1
    return out.decode("utf-8")


def parse_trusted_dn(text: str, *, where: str) -> frozenset[tuple[str, str]]:
    """The (attribute name, value) pairs of an RFC 4514 distinguished name (``CN=e2e,O=Notary,...``),
    names upper-case (``CN``, ``O``, ``ST``, ...), values unescaped.

    The values are not checked against X.509 rules (a three-letter ``C`` parses): a policy naming a
    subject no certificate has simply matches none.

    Raises:
        KeyFormatError: not a DN, a repeated attribute, or one of C, ST, O missing.
    """
    pairs = []
    try:
        for rdn in _split_unescaped(text.strip(), ","):
            for attribute in _split_unescaped(rdn, "+"):
                name, sep, value = attribute.partition("=")
                if not sep or not name.strip() or not value.strip():
                    raise ValueError(f"{attribute!r} is not type=value")
                pairs.append((name.strip().upper(), _unescape(value.strip())))
    except (ValueError, UnicodeDecodeError) as exc:
        raise KeyFormatError(f"{where}: {text!r} is not an RFC 4514 distinguished name ({exc})") from None
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        raise KeyFormatError(f"{where}: {text!r} repeats an attribute")
    missing = _MANDATORY_DN - set(names)
    if missing:
        raise KeyFormatError(f"{where}: {text!r} lacks the mandatory attributes {', '.join(sorted(missing))}")
    return frozenset(pairs)


def subject_attributes(name: x509.Name) -> frozenset[tuple[str, str]]:
    """A certificate name's (attribute name, value) pairs, named as :func:`parse_trusted_dn` names them."""
    return frozenset((a.rfc4514_attribute_name.upper(), str(a.value)) for a in name)


def _strings(value: object, *, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise KeyFormatError(f"{where} must be a list of strings")
    return tuple(value)


def _overrides(value: object, *, level: str, where: str) -> dict[str, Action]:
    if not isinstance(value, dict):
        raise KeyFormatError(f"{where} must be an object of validation: action")
    if level == "skip" and value:
        raise KeyFormatError(f"{where}: a skip-level policy cannot override validations")
    result: dict[str, Action] = {}
    for validation, action in value.items():
        if validation not in VALIDATIONS:
            raise KeyFormatError(f"{where}: {validation!r} is not one of {', '.join(VALIDATIONS)}")
        if action not in ("enforce", "log", "skip"):
            raise KeyFormatError(f"{where}.{validation}: {action!r} is not enforce, log or skip")
        if validation == "integrity":
            raise KeyFormatError(f"{where}: integrity validation cannot be overridden")
        if validation == "authenticity" and action == "skip":
            raise KeyFormatError(f"{where}: authenticity validation cannot be skipped")
        result[validation] = cast(Action, action)
    return result


def _policy(entry: object, *, index: int, source: str) -> NotationTrustPolicy:
    if not isinstance(entry, dict):
        raise KeyFormatError(f"{source}: trustPolicies[{index}] is not an object")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise KeyFormatError(f"{source}: trustPolicies[{index}].name must be a non-empty string")
    where = f"{source}: trust policy {name!r}"
    scopes = _strings(entry.get("registryScopes"), where=f"{where}: registryScopes")
    if not scopes:
        raise KeyFormatError(f"{where}: registryScopes is empty")
    if "*" in scopes and len(scopes) > 1:
        raise KeyFormatError(f"{where}: registryScopes '*' must be the only scope")
    for scope in scopes:
        if scope != "*" and not _REPOSITORY.match(scope):
            raise KeyFormatError(
                f"{where}: registryScopes {scope!r} is not a repository URI "
                "(registry.example/team/app) or '*'"
            )
    verification = entry.get("signatureVerification")
    if not isinstance(verification, dict):
        raise KeyFormatError(f"{where}: signatureVerification must be an object")
    level = verification.get("level")
    if level not in LEVELS:
        raise KeyFormatError(
            f"{where}: signatureVerification.level {level!r} is not one of {', '.join(LEVELS)}"
        )
    unknown = set(verification) - {"level", "override"}
    if unknown:
        raise KeyFormatError(f"{where}: signatureVerification has unsupported fields {sorted(unknown)}")
    overrides = _overrides(
        verification.get("override", {}), level=level, where=f"{where}: signatureVerification.override"
    )
    stores = _strings(entry.get("trustStores", []), where=f"{where}: trustStores")
    identities = _strings(entry.get("trustedIdentities", []), where=f"{where}: trustedIdentities")
    if level == "skip":
        if stores or identities:
            raise KeyFormatError(
                f"{where}: a skip-level policy must not name trustStores or trustedIdentities"
            )
    else:
        if not stores:
            raise KeyFormatError(f"{where}: trustStores is empty")
        if not identities:
            raise KeyFormatError(f"{where}: trustedIdentities is empty")
    for store in stores:
        kind, _, store_name = store.partition(":")
        if kind not in _STORE_TYPES or not _STORE_NAME.match(store_name):
            raise KeyFormatError(
                f"{where}: trustStores {store!r} is not 'type:name' with type one of "
                f"{', '.join(_STORE_TYPES)}"
            )
    if "*" in identities and len(identities) > 1:
        raise KeyFormatError(f"{where}: trustedIdentities '*' must be the only identity")
    for identity in identities:
        if identity == "*":
            continue
        kind, sep, value = identity.partition(":")
        if not sep or kind.strip() != "x509.subject":
            raise KeyFormatError(
                f"{where}: trustedIdentities {identity!r} is not '*' or 'x509.subject: <DN>'"
            )
        parse_trusted_dn(value, where=f"{where}: trustedIdentities")
    return NotationTrustPolicy(
        name=name,
        registry_scopes=scopes,
        level=cast(Level, level),
        trust_stores=stores,
        trusted_identities=identities,
        overrides=overrides,
    )


def parse_trust_policy(data: bytes, *, source: str) -> list[NotationTrustPolicy]:
    """The policies of a Notary trust policy document (``trustpolicy.json``, version ``1.0``).

    Raises:
        KeyFormatError: not JSON, a wrong version, a repeated name or a repeated scope across
            policies, more than one ``*`` scope, or a malformed policy (the message names its field).
    """
    if len(data) > MAX_POLICY_BYTES:
        raise KeyFormatError(f"{source}: a trust policy over {MAX_POLICY_BYTES} bytes is refused")
    try:
        document = json.loads(data)
    except ValueError as exc:
        raise KeyFormatError(f"{source}: not JSON ({exc})") from None
    if not isinstance(document, dict):
        raise KeyFormatError(f"{source}: a trust policy document is a JSON object")
    if document.get("version") != "1.0":
        raise KeyFormatError(
            f"{source}: version {document.get('version')!r} is not supported; expected '1.0'"
        )
    entries = document.get("trustPolicies")
    if not isinstance(entries, list) or not entries:
        raise KeyFormatError(f"{source}: trustPolicies must be a non-empty list")
    policies = [_policy(entry, index=i, source=source) for i, entry in enumerate(entries)]
    names: set[str] = set()
    scopes: dict[str, str] = {}
    for policy in policies:
        if policy.name in names:
            raise KeyFormatError(f"{source}: trust policy name {policy.name!r} is used twice")
        names.add(policy.name)
        for scope in policy.registry_scopes:
            if scope in scopes:
                raise KeyFormatError(
                    f"{source}: trust policy {policy.name!r}: registryScopes {scope!r} is "
                    f"already covered by trust policy {scopes[scope]!r}"
                )
            scopes[scope] = policy.name
    return policies


def select_policy(policies: Iterable[NotationTrustPolicy], repository: str) -> NotationTrustPolicy | None:
    """The policy whose scopes name ``repository`` exactly, else the ``*`` policy, else ``None``."""
    wildcard = None
    for policy in policies:
        if repository in policy.registry_scopes:
            return policy
        if "*" in policy.registry_scopes:
            wildcard = policy
    return wildcard
